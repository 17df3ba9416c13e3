# __main__.py: `python -m kvc.eval`: the quality grid of kvc on a GGUF model, or the quick test.
"""Usage:
    python -m kvc.eval --quick-test                       # synthetic data, no model
    python -m kvc.eval --model smollm2 --out docs/smollm2_quality
    python -m kvc.eval --model stories260K --windows 4 --no-needle

Models load offline from local GGUF files (``--model`` is a path, or "smollm2" / "stories260K"
for the files of scripts/setup.sh and ../shared/data). Writes <out>.md, <out>.json, <out>.png
and prints the table.
"""
import argparse
import json
import sys
import time

from .. import CompressParams


def _ints(text):
    return [int(x) for x in text.split(",") if x]


def grid(bits, groups, recents):
    """Settings: every bits x group with no recent window, then each bits < 8 at the largest
    group with each nonzero recent window; 16 (lossless) once."""
    out = []
    for b in bits:
        if b == 16:
            out.append({"bits": 16, "group": max(groups), "recent": 0})
            continue
        out += [{"bits": b, "group": g, "recent": 0} for g in groups]
        if b < 8:
            out += [{"bits": b, "group": max(groups), "recent": r} for r in recents if r]
    return out


def _quick(args):
    from .synthetic import run_quick_test

    results = []
    for b in _ints(args.bits):
        params = CompressParams(key_bits=b, value_bits=b, group_size=max(_ints(args.groups)))
        r = run_quick_test(params, threshold=args.threshold)
        results.append({"bits": b, **r.to_dict()})
        print(f"{b:>2}-bit: {r.bits_per_element:.2f} bits/element, ppl {r.baseline_perplexity:.3f}"
              f" -> {r.compressed_perplexity:.3f} ({r.delta_percent:+.2f}%), cosine "
              f"{r.cosine_similarity:.5f}, {'PASS' if r.passed else 'FAIL'}")
    if args.out:
        with open(f"{args.out}.json", "w") as f:
            json.dump(results, f, indent=2)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kvc.eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick-test", action="store_true", help="synthetic data, no model")
    parser.add_argument("--model", default="smollm2", help="GGUF path, smollm2 or stories260K")
    parser.add_argument("--text", default=None, help="evaluation text (wiki.test.raw)")
    parser.add_argument("--bits", default="8,4,3,2", help="16 adds the lossless row")
    parser.add_argument("--groups", default="32,128")
    parser.add_argument("--recent", default="64", help="recent windows (tokens) to add")
    parser.add_argument("--context", type=int, default=384, help="context tokens per window")
    parser.add_argument("--stride", type=int, default=128, help="scored tokens per window")
    parser.add_argument("--windows", type=int, default=6,
                        help="windows; scored tokens = windows * stride")
    parser.add_argument("--threshold", type=float, default=1.0,
                        help="largest perplexity increase that passes, in percent")
    parser.add_argument("--no-needle", action="store_true")
    parser.add_argument("--needle-lengths", default="256,512,1024")
    parser.add_argument("--needle-bits", default="8,4,2",
                        help="bits of the settings (largest group, no recent) in the needle test")
    parser.add_argument("--perplexity-from", default=None, metavar="JSON",
                        help="reuse the perplexity results of an earlier run's JSON (same "
                             "model and settings) and run only the needle test")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None, help="output stem (default: no files)")
    args = parser.parse_args(argv)
    if args.quick_test:
        return _quick(args)

    import torch

    from ..models import default_model_paths, load_gguf_model
    from . import needle, perplexity, report

    torch.set_num_threads(args.threads)
    paths = default_model_paths()
    model_path = paths.get(args.model, args.model)
    text_path = args.text or str(paths["stories260K"].parent / "wiki.test.raw")
    started = time.time()
    model, tokenizer = load_gguf_model(model_path)
    with open(text_path, encoding="utf-8") as f:
        text = f.read()
    needed = args.context + args.stride * args.windows + 64
    ids = tokenizer.encode(text[: needed * 8], add_special_tokens=False)
    settings = grid(_ints(args.bits), _ints(args.groups), _ints(args.recent))

    def progress(what):
        return lambda done, total: print(f"  {what} {done}/{total} ({time.time() - started:.0f} s)",
                                         file=sys.stderr, flush=True)

    if args.perplexity_from:
        with open(args.perplexity_from) as f:
            ppl = json.load(f)["perplexity"]
        if [{k: r[k] for k in ("bits", "group", "recent")} for r in ppl["rows"]] != settings:
            parser.error(f"{args.perplexity_from} holds other settings than --bits/--groups/"
                         "--recent ask for")
    else:
        ppl = perplexity.evaluate(model, ids, settings, args.context, args.stride, args.windows,
                                  progress=progress("perplexity window"))
    for row in ppl["rows"]:
        row["passed"] = row["ppl_delta_pct"] <= args.threshold
    results = {"model": str(model_path).rsplit("/", 1)[-1], "text": text_path,
               "threshold_pct": args.threshold, "perplexity": ppl}
    if not args.no_needle:
        chosen = [s for s in settings if s["bits"] in _ints(args.needle_bits)
                  and s["group"] == max(_ints(args.groups)) and not s["recent"]]
        haystack = tokenizer.encode(text[len(text) // 2:][:40000], add_special_tokens=False)
        results["needle"] = needle.evaluate(model, tokenizer, haystack, chosen,
                                            _ints(args.needle_lengths),
                                            progress=progress("needle trial"))
    results["seconds"] = time.time() - started
    print(report.markdown(results))
    print(f"{ppl['scored_tokens']} scored tokens in {ppl['windows']} windows (context "
          f"{ppl['context']}, stride {ppl['stride']}); {results['seconds']:.0f} s")
    if args.out:
        for path in report.write(results, args.out):
            print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
