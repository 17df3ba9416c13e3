# compress_cache.py: loads a safetensors KV cache, compresses it at 4 bits and prints its metrics.
"""usage: KVC_LIBRARY=build/libkvc.so PYTHONPATH=bindings/python \\
       python examples/python/compress_cache.py build/data/smollm2-135m.safetensors"""
import sys

import kvc


def main(path):
    keys, values, model_name = kvc.load_cache(path)
    print(f"{path}: {model_name or '(no model name)'}, {keys.shape[0]} layers x {keys.shape[1]} "
          f"kv heads x {keys.shape[2]} tokens x {keys.shape[3]}, {keys.dtype}")
    params = kvc.CompressParams(key_bits=4, value_bits=4, group_size=128, model_name=model_name)
    with kvc.Context() as ctx:
        blob, m = ctx.compress_with_metrics(keys, values, params)
        rec_keys, rec_values = ctx.decompress(blob)
        q = ctx.quality(keys, values, rec_keys, rec_values)
    print(f"{m.original_bytes} -> {m.compressed_bytes} bytes: ratio {m.compression_ratio:.2f}, "
          f"{m.bits_per_element:.3f} bits/element, {m.bandwidth_savings_percent:.1f}% saved, "
          f"{m.compress_ms:.1f} ms")
    print(f"key cosine {q.key_cosine:.5f}, value cosine {q.value_cosine:.5f}, "
          f"SNR {q.snr_db:.2f} dB: {q.level_name}, {'passed' if q.passed else 'failed'}"
          + (f" ({', '.join(q.violations)})" if q.violations else ""))
    return 0 if q.passed else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    try:
        sys.exit(main(sys.argv[1]))
    except kvc.KvcError as e:
        sys.exit(f"compress_cache: {e}")
