# CLI: extract real KV caches (and last-N queries) from GGUF Llama models over WikiText-2 and save them as safetensors.
"""Make example KV caches from real models.

    python3 scripts/kvcache/make_example_caches.py --out DIR [--model stories260K|smollm2|all]
        [--tokens N] [--dtype float16|float32|bfloat16] [--queries N] [--rope-layout hf|gguf]
    python3 scripts/kvcache/make_example_caches.py --check [--model ...]

Writes DIR/<name>.safetensors (tensors layer_{i}_key / layer_{i}_value, [1, num_kv_heads, T, head_dim]),
DIR/<name>.metadata.json and DIR/<name>.queries.safetensors (layer_{i}_query, [1, q_heads, N, head_dim],
F32, the last N post-RoPE queries).  Text: the start of WikiText-2 test (CRLF -> LF), tokenised with the
model's own tokenizer (BOS first where the model adds one).

Keys are post-RoPE.  --rope-layout hf (default) stores head_dim in the Hugging Face "rotate_half" order
(RoPE pairs are dims (i, i + head_dim/2)), i.e. what a transformers DynamicCache holds for the same
model; --rope-layout gguf keeps llama.cpp's order (pairs (2i, 2i+1)).  Attention scores are identical.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))

import gguf_llama  # noqa: E402
import safetensors_io  # noqa: E402
from tokenizer import load_tokenizer  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("KVC_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
MODEL_DIR = Path(os.environ.get("KVC_MODEL_DIR", Path.home() / ".cache" / "kvc" / "models"))
WIKI_PATH = DATA_DIR / "wiki.test.raw"

# name -> preset.  max_tokens: the length the model was trained at (stories260K's GGUF says
# context_length 2048, but llama2.c trained it with max_seq_len 512).
MODELS = {
    "stories260K": dict(path=DATA_DIR / "stories260K.gguf", out="stories260K", tokens=512, max_tokens=512,
                        ppl_tokens=512, prompt="Once upon a time", n_gen=40),
    "smollm2": dict(path=MODEL_DIR / "SmolLM2-135M-Instruct.Q4_1.gguf", out="smollm2-135m", tokens=1024,
                    max_tokens=8192, ppl_tokens=1024, prompt="The capital of France is", n_gen=16),
}

_loaded = {}


def load(name):
    """(model, tokenizer) for a preset name, cached per process."""
    if name not in _loaded:
        path = MODELS[name]["path"]
        if not Path(path).is_file():
            raise FileNotFoundError(str(path))
        model = gguf_llama.load_model(str(path))
        _loaded[name] = (model, load_tokenizer(model))
    return _loaded[name]


def wiki_text(path=WIKI_PATH) -> str:
    with open(path, encoding="utf-8", newline="") as f:
        return f.read().replace("\r\n", "\n")


def wiki_tokens(tok, n: int, text: str | None = None) -> list[int]:
    """First n tokens of WikiText-2 test (including BOS if the tokenizer adds one)."""
    text = wiki_text() if text is None else text
    chars = 8 * n + 64
    while True:
        # cut at a line end so the cut never splits a word; grow until we have enough tokens
        cut = text.find("\n", chars)
        chunk = text if cut < 0 else text[: cut + 1]
        ids = tok.encode(chunk)
        if len(ids) >= n + 8 or cut < 0:
            break
        chars *= 2
    if len(ids) < n:
        raise ValueError(f"text too short for {n} tokens")
    return ids[:n]


def continuation(name, prompt=None, n_gen=None) -> str:
    model, tok = load(name)
    p = MODELS[name]
    prompt = p["prompt"] if prompt is None else prompt
    ids = tok.encode(prompt)
    gen = gguf_llama.generate_greedy(model, ids, p["n_gen"] if n_gen is None else n_gen, stop_token=tok.eos_id)
    full = tok.decode(ids + gen)
    head = tok.decode(ids)
    return prompt + full[len(head):] if full.startswith(head) else full


def wiki_perplexity(name, n_tokens=None):
    model, tok = load(name)
    n = MODELS[name]["ppl_tokens"] if n_tokens is None else n_tokens
    return gguf_llama.perplexity(model, wiki_tokens(tok, n))


def extract(name, n_tokens=None, n_queries=32, rope_layout="hf"):
    """Run the forward pass over the wiki tokens; returns (keys, values, queries, tokens, model)."""
    model, tok = load(name)
    p = MODELS[name]
    n = p["tokens"] if n_tokens is None else n_tokens
    limit = min(model.cfg.n_ctx_train, p["max_tokens"])
    if n > model.cfg.n_ctx_train:
        raise ValueError(f"{name}: --tokens {n} exceeds context_length {model.cfg.n_ctx_train}")
    if n > limit:
        print(f"warning: {name}: {n} tokens is beyond the trained length {limit}", file=sys.stderr)
    ids = wiki_tokens(tok, n)
    res = gguf_llama.forward(model, ids, logits="none", n_queries=n_queries)
    keys, values, queries = res.keys, res.values, res.queries
    if rope_layout == "hf":
        keys = [gguf_llama.to_hf_rope_layout(k, model.cfg.n_rot) for k in keys]
        if queries is not None:
            queries = [gguf_llama.to_hf_rope_layout(q, model.cfg.n_rot) for q in queries]
    elif rope_layout != "gguf":
        raise ValueError(rope_layout)
    return keys, values, queries, ids, model


def write_model(name, out_dir, n_tokens=None, dtype="float16", n_queries=32, rope_layout="hf"):
    t0 = time.perf_counter()
    keys, values, queries, ids, model = extract(name, n_tokens, n_queries, rope_layout)
    p = MODELS[name]
    path = str(Path(out_dir) / (p["out"] + ".safetensors"))
    extra = {
        "num_q_heads": model.cfg.n_head,
        "rope_theta": model.cfg.rope_base,
        "rope_layout": "hf_rotate_half" if rope_layout == "hf" else "gguf_interleaved",
        "keys": "post-RoPE",
        "text": "wikitext-2-raw test split, first seq_len tokens",
        "bos_first": bool(load(name)[1].add_bos),
        "source_gguf": Path(p["path"]).name,
    }
    meta = safetensors_io.write_kv_cache(path, keys, values, dtype=dtype, model_name=p["out"], extra_metadata=extra)
    dt = time.perf_counter() - t0
    print(f"{path}: {meta['num_layers']} layers x K,V [1, {meta['num_kv_heads']}, {meta['seq_len']}, "
          f"{meta['head_dim']}] {dtype}, {dt:.2f} s", flush=True)
    if queries:
        qpath = safetensors_io.write_queries(path, queries, model_name=p["out"], extra_metadata={
            "rope_layout": extra["rope_layout"], "positions": f"{len(ids) - queries[0].shape[1]}..{len(ids) - 1}"})
        print(f"{qpath}: {len(queries)} layers x Q [1, {queries[0].shape[0]}, {queries[0].shape[1]}, "
              f"{queries[0].shape[2]}] float32, {time.perf_counter() - t0:.2f} s", flush=True)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="output directory (created if missing)")
    ap.add_argument("--model", choices=[*MODELS, "all"], default=None,
                    help="which model (default: stories260K; --check defaults to all)")
    ap.add_argument("--tokens", type=int, default=None,
                    help="sequence length (default: stories260K 512, smollm2 1024)")
    ap.add_argument("--dtype", choices=list(safetensors_io.DTYPES), default="float16")
    ap.add_argument("--queries", type=int, default=32, help="also save the last N queries (0: none)")
    ap.add_argument("--rope-layout", choices=["hf", "gguf"], default="hf",
                    help="head_dim order of saved K/Q: hf rotate_half (default) or llama.cpp interleaved")
    ap.add_argument("--check", action="store_true",
                    help="print greedy continuations and WikiText-2 perplexities instead of writing files")
    args = ap.parse_args(argv)
    if not args.check and not args.out:
        ap.error("--out is required (or use --check)")
    model_arg = args.model or ("all" if args.check else "stories260K")
    names = list(MODELS) if model_arg == "all" else [model_arg]
    rc = 0
    todo = []
    for name in names:
        if Path(MODELS[name]["path"]).is_file():
            todo.append(name)
        elif model_arg == "all":
            print(f"warning: skipping {name}: {MODELS[name]['path']} not found "
                  f"(set KVC_MODEL_DIR or see ../shared/data/README.md)", file=sys.stderr)
        else:
            print(f"error: {name}: model file {MODELS[name]['path']} not found", file=sys.stderr)
            return 2
    if args.check:
        for name in todo:
            t0 = time.perf_counter()
            text = continuation(name)
            print(f"{name} greedy: {text!r}  ({time.perf_counter() - t0:.1f} s incl. load)", flush=True)
            t0 = time.perf_counter()
            ppl, nll, n = wiki_perplexity(name)
            print(f"{name} wikitext-2 perplexity: {ppl:.3f} (mean NLL {nll:.4f} over {n} predicted tokens, "
                  f"one {n + 1}-token window; {time.perf_counter() - t0:.1f} s)", flush=True)
        return rc
    if args.tokens is not None and args.tokens < 2:
        ap.error("--tokens must be at least 2")
    os.makedirs(args.out, exist_ok=True)
    for name in todo:
        try:
            write_model(name, args.out, args.tokens, args.dtype, args.queries, args.rope_layout)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    return rc


if __name__ == "__main__":
    sys.exit(main())
