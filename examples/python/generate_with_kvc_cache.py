# generate_with_kvc_cache.py: model.generate with a KvcCache; prints text and memory saved.
"""usage: KVC_LIBRARY=build/libkvc.so PYTHONPATH=bindings/python \\
       python examples/python/generate_with_kvc_cache.py [stories260K|smollm2|MODEL.gguf]
       [--bits 4] [--group 128] [--block 128] [--keep-recent 64] [--uncompressed-layers 0]
       [--prompt-tokens 0] [--new-tokens 64] [--attention-threshold 0]

--prompt-tokens N prepends N tokens of WikiText (../shared/data/wiki.test.raw) to the prompt so
that the cache is long enough to fill blocks. --attention-threshold T (0 < T <= 1) adds kvc's
token selection: each block keeps the tokens holding T of the attention of the model's 32 newest
queries (kvc.hf_selection.SelectionAttention), and attention skips the evicted ones."""
import argparse
import sys

import torch

import kvc
from kvc.hf_cache import KvcCache
from kvc.hf_selection import SelectionAttention
from kvc.models import default_model_paths, load_gguf_model


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?", default="stories260K")
    parser.add_argument("--bits", type=int, default=4)
    parser.add_argument("--group", type=int, default=128)
    parser.add_argument("--block", type=int, default=128)
    parser.add_argument("--keep-recent", type=int, default=64)
    parser.add_argument("--compress-after", type=int, default=0)
    parser.add_argument("--uncompressed-layers", type=int, default=0)
    parser.add_argument("--prompt-tokens", type=int, default=0)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--keep-decoded", type=int, default=1)
    parser.add_argument("--attention-threshold", type=float, default=0.0)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    paths = default_model_paths()
    model, tokenizer = load_gguf_model(paths.get(args.model, args.model))
    prompt = "Once upon a time" if "stories" in str(args.model) else "The capital of France is"
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    if args.prompt_tokens:
        text = (paths["stories260K"].parent / "wiki.test.raw").read_text(encoding="utf-8")
        context = tokenizer.encode(text[:args.prompt_tokens * 8], add_special_tokens=False)
        ids = torch.cat([torch.tensor([context[:args.prompt_tokens]]), ids], dim=1)
    params = kvc.CompressParams(key_bits=args.bits, value_bits=args.bits, group_size=args.group)
    hook = None
    if args.attention_threshold:
        params.selection, params.attention_threshold = "attention", args.attention_threshold
        hook = SelectionAttention(model)
        hook.observe(32)
    cache = KvcCache(model.config, params, block_tokens=args.block,
                     compress_after=args.compress_after, keep_recent=args.keep_recent,
                     uncompressed_layers=args.uncompressed_layers,
                     keep_decoded=bool(args.keep_decoded), selection=hook)
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=args.new_tokens, do_sample=False,
                             past_key_values=cache)
    if hook is not None:
        hook.close()
    print(repr(tokenizer.decode(out[0, ids.shape[1] - 5 if args.prompt_tokens else 0:])))
    s = cache.memory_stats()
    print(f"{cache.get_seq_length()} tokens, {s['compressed_tokens'] // len(cache.layers)} per "
          f"layer in kvc blobs: blobs {s['blob_bytes']} B + uncompressed tail {s['tail_bytes']} B "
          f"= {s['stored_bytes']} B stored vs {s['dynamic_bytes']} B in a DynamicCache "
          f"({s['stored_vs_dynamic']:.3f}x); decoded blocks kept {s['decoded_bytes']} B, "
          f"resident {s['resident_bytes']} B ({s['resident_vs_dynamic']:.3f}x)")
    masks = [m for m in (cache.kept_mask(i) for i in range(len(cache.layers))) if m is not None]
    if masks:
        kept = sum(m.sum().item() for m in masks)
        total = sum(m.numel() for m in masks)
        print(f"token selection: {kept} of {total} block tokens kept ({kept / total:.1%})")
    cache.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
