# test_roundtrip.py: compress/decompress through the binding on the real example caches.
import subprocess

import numpy as np
import pytest

import kvc

LOSSLESS = dict(key_bits=16, value_bits=16)
UINT_OF = {np.dtype(np.float32): np.uint32, np.dtype(np.float16): np.uint16,
           np.dtype(np.uint16): np.uint16}


def bits(a):
    """The array's raw bits, so NaN payloads and -0 compare exactly."""
    return np.ascontiguousarray(a).view(UINT_OF[a.dtype])


def as_dtype(a, name):
    """A cache array converted to float32, float16 or bf16 (uint16 holding the top bits)."""
    f32 = a.astype(np.float32)
    if name == "bfloat16":
        return (f32.view(np.uint32) >> 16).astype(np.uint16)
    return f32.astype(name)


def special_values(name, shape=(2, 3, 40, 16), seed=7):
    """Random data with NaN (payloads too), infinities, -0 and subnormals mixed in."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape).astype(np.float32)
    a = as_dtype(a, name)
    flat = a.reshape(-1)
    if name == "bfloat16":
        specials = [0x7FC0, 0x7FC1, 0xFFC0, 0x7F80, 0xFF80, 0x8000, 0x0001, 0x8001]
    else:
        ut = UINT_OF[a.dtype]
        nan_payload = np.array([0x7FC00001 if ut == np.uint32 else 0x7E01], dtype=ut).view(a.dtype)
        sub = np.finfo(a.dtype).smallest_subnormal
        specials = [np.nan, nan_payload[0], np.inf, -np.inf, -0.0, sub, -sub]
    for i, s in enumerate(specials):
        flat[i * 97 % flat.size] = s
    return a


@pytest.mark.parametrize("name", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("cache", ["stories", "smol"])
def test_lossless_round_trip_is_bit_exact_on_real_caches(request, cache, name):
    keys, values, _ = request.getfixturevalue(cache)
    keys, values = as_dtype(keys, name), as_dtype(values, name)
    dtype = "bfloat16" if name == "bfloat16" else None
    blob = kvc.compress(keys, values, kvc.CompressParams(**LOSSLESS), dtype=dtype)
    rk, rv = kvc.decompress(blob)
    assert rk.dtype == keys.dtype and rk.shape == keys.shape
    assert np.array_equal(bits(rk), bits(keys)) and np.array_equal(bits(rv), bits(values))
    assert kvc.inspect(blob).dtype_name == name


@pytest.mark.parametrize("name", ["float32", "float16", "bfloat16"])
def test_lossless_round_trip_keeps_nan_inf_and_negative_zero(name):
    keys, values = special_values(name), special_values(name, seed=8)
    dtype = "bfloat16" if name == "bfloat16" else None
    rk, rv = kvc.decompress(kvc.compress(keys, values, kvc.CompressParams(**LOSSLESS), dtype=dtype))
    assert np.array_equal(bits(rk), bits(keys)) and np.array_equal(bits(rv), bits(values))


def test_four_bit_group_128_smollm2_keeps_cosine_above_0_99(smol):
    keys, values, name = smol
    params = kvc.CompressParams(key_bits=4, value_bits=4, group_size=128)
    blob, metrics = kvc.compress_with_metrics(keys, values, params)
    rk, rv = kvc.decompress(blob)
    q = kvc.quality(keys, values, rk, rv, min_cosine=0.99)
    assert q.key_cosine >= 0.99 and q.value_cosine >= 0.99, q
    assert q.passed and q.violations == () and q.level_name in ("GOOD", "EXCELLENT")
    assert metrics.compressed_bytes == len(blob) and metrics.original_bytes == keys.nbytes * 2
    assert metrics.compression_ratio > 3


def test_same_bytes_as_the_cli_for_the_same_params(smol_path, smol, cli, tmp_path):
    out = tmp_path / "cli.kvc"
    subprocess.run([cli, "compress", str(smol_path), "-o", str(out), "--bits", "4",
                    "--group-size", "128", "--recent-tokens", "16", "--no-verify"],
                   check=True, capture_output=True)
    keys, values, name = smol
    params = kvc.CompressParams(key_bits=4, value_bits=4, group_size=128,
                                recent_full_precision_tokens=16,
                                model_name=name)
    assert kvc.compress(keys, values, params) == out.read_bytes()


def test_strided_views_give_the_blob_of_contiguous_input(stories):
    keys, values, _ = stories
    layers, heads, tokens, dim = keys.shape
    params = kvc.CompressParams(key_bits=4, value_bits=8, group_size=32)
    expected = kvc.compress(keys, values, params)
    # A slice of a larger buffer (padding on tokens and head_dim), and a [L, T, H, D] buffer
    # seen as [L, H, T, D].
    padded_k = np.zeros((layers, heads, tokens + 3, dim + 8), keys.dtype)
    padded_v = np.zeros_like(padded_k)
    padded_k[:, :, :tokens, :dim], padded_v[:, :, :tokens, :dim] = keys, values
    view_k, view_v = padded_k[:, :, :tokens, :dim], padded_v[:, :, :tokens, :dim]
    assert not view_k.flags.c_contiguous
    assert kvc.compress(view_k, view_v, params) == expected
    thd_k = np.ascontiguousarray(keys.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)
    thd_v = np.ascontiguousarray(values.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)
    assert kvc.compress(thd_k, thd_v, params) == expected
    # Layers taken every other one from a larger stack.
    stack_k = np.repeat(keys, 2, axis=0)[::2]
    stack_v = np.repeat(values, 2, axis=0)[::2]
    assert kvc.compress(stack_k, stack_v, params) == expected


def test_a_non_contiguous_head_dim_is_refused_not_copied(stories):
    keys, values, _ = stories
    with pytest.raises(ValueError, match="last axis"):
        kvc.compress(keys[..., ::2], values[..., ::2])
    with pytest.raises(ValueError, match="share strides"):
        kvc.compress(keys.transpose(0, 2, 1, 3).copy().transpose(0, 2, 1, 3), values)


def test_per_layer_lists_give_the_blob_of_packed_input(stories):
    keys, values, _ = stories
    params = kvc.CompressParams(key_bits=2, value_bits=4, group_size=64)
    expected = kvc.compress(keys, values, params)
    assert kvc.compress(list(keys), list(values), params) == expected
    # Layers as separate allocations, each a strided view.
    ks = [np.pad(layer, ((0, 0), (0, 1), (0, 0)))[:, :-1] for layer in keys]
    vs = [np.pad(layer, ((0, 0), (0, 1), (0, 0)))[:, :-1] for layer in values]
    assert kvc.compress(ks, vs, params) == expected


def test_decompress_reads_a_layer_range_in_a_requested_dtype(stories):
    keys, values, _ = stories
    blob = kvc.compress(keys, values, kvc.CompressParams(**LOSSLESS))
    rk, rv = kvc.decompress(blob, dtype="float32", first_layer=1, num_layers=2)
    assert rk.dtype == np.float32 and rk.shape == (2,) + keys.shape[1:]
    assert np.array_equal(rk, keys[1:3].astype(np.float32))
    assert np.array_equal(rv, values[1:3].astype(np.float32))
    bk, _ = kvc.decompress(blob, dtype="bfloat16", first_layer=4)
    assert bk.dtype == np.uint16 and bk.shape[0] == 1


def test_inspect_and_verify_describe_a_blob(stories):
    keys, values, name = stories
    blob = kvc.compress(keys, values, kvc.CompressParams(model_name=name,
                                                         recent_full_precision_tokens=8))
    info = kvc.inspect(blob)
    assert (info.num_layers, info.num_kv_heads, info.num_tokens, info.head_dim) == keys.shape
    assert info.model_name == name and info.recent_full_precision_tokens == 8 and info.blob_bytes == len(blob)
    assert info.producer.startswith("kvc ")
    kvc.verify(blob)
    kvc.verify(bytearray(blob))
    kvc.verify(memoryview(blob))


def test_save_and_load_cache_keep_tensors_and_model_name(stories, tmp_path):
    keys, values, name = stories
    path = tmp_path / "copy.safetensors"
    kvc.save_cache(path, keys, values, model_name=name)
    k2, v2, name2 = kvc.load_cache(path)
    assert name2 == name and np.array_equal(k2, keys) and np.array_equal(v2, values)
    bf_k, bf_v = as_dtype(keys, "bfloat16"), as_dtype(values, "bfloat16")
    kvc.save_cache(str(tmp_path / "bf16.safetensors"), bf_k, bf_v, dtype="bfloat16")
    k3, v3, name3 = kvc.load_cache(tmp_path / "bf16.safetensors")
    assert k3.dtype == np.uint16 and np.array_equal(k3, bf_k) and name3 == ""


def test_quality_flags_violations_by_name(smol):
    keys, values, _ = smol
    blob = kvc.compress(keys, values, kvc.CompressParams(key_bits=2, value_bits=2))
    rk, rv = kvc.decompress(blob)
    q = kvc.quality(keys, values, rk, rv, min_cosine=0.9999, min_snr_db=60)
    assert not q.passed
    assert set(q.violations) >= {"key_cosine", "value_cosine", "key_snr", "value_snr"}
    assert q.violation_flags & kvc._ffi.KVC_VIOLATION_KEY_SNR
    assert q.level_name in ("POOR", "ACCEPTABLE", "GOOD", "EXCELLENT")
    # Reconstruction and original may differ in dtype.
    q32 = kvc.quality(keys, values, rk.astype(np.float32), rv.astype(np.float32))
    assert q32.cosine == pytest.approx(kvc.quality(keys, values, rk, rv).cosine)
