# __main__.py: `python -m kvc.eval`: the quality grid of kvc on a GGUF model, or the quick test.
"""Usage:
    python -m kvc.eval --quick-test                       # synthetic data, no model
    python -m kvc.eval --model smollm2 --out docs/smollm2_quality
    python -m kvc.eval --model stories260K --windows 4 --no-needle
    python -m kvc.eval --model smollm2 --perplexity-from docs/smollm2_quality.json \
        --needle-from docs/smollm2_quality.json --out docs/smollm2_quality   # new rows only

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


def _floats(text):
    return [float(x) for x in text.split(",") if x]


def _setting_key(setting):
    return tuple(setting.get(k, 0) for k in ("bits", "group", "recent", "attention", "per_head"))


def grid(bits, groups, recents, thresholds=(), per_head_thresholds=()):
    """Settings: every bits x group with no recent window, then each bits < 8 at the largest
    group with each nonzero recent window; 16 (lossless) once. Then per attention threshold
    (token selection): 16-bit (selection's cost alone) and 4-bit at the largest group; then
    16-bit per-head selection per per-head threshold."""
    out = []
    for b in bits:
        if b == 16:
            out.append({"bits": 16, "group": max(groups), "recent": 0})
            continue
        out += [{"bits": b, "group": g, "recent": 0} for g in groups]
        if b < 8:
            out += [{"bits": b, "group": max(groups), "recent": r} for r in recents if r]
    for t in thresholds:
        out += [{"bits": b, "group": max(groups), "recent": 0, "attention": t} for b in (16, 4)]
    for t in per_head_thresholds:
        out.append({"bits": 16, "group": max(groups), "recent": 0, "attention": t,
                    "per_head": True})
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


def _check_same_baseline(stored, computed, path):
    if abs(stored - computed) > 1e-6 * stored:
        raise SystemExit(f"{path}: stored baseline perplexity {stored} but this run gives "
                         f"{computed}; its rows cannot be reused")


def _needle(model, tokenizer, text, chosen, args, previous, progress):
    """The needle results of ``chosen``; rows the previous run's JSON holds (same lengths) are
    reused, the rest run, and the uncompressed row must then come out the same."""
    from . import needle
    from .perplexity import setting_label

    lengths = _ints(args.needle_lengths)
    haystack = tokenizer.encode(text[len(text) // 2:][:40000], add_special_tokens=False)
    old = previous.get("needle")
    old_rows = {r["label"]: r for r in old["rows"]} if old and old["lengths"] == lengths else {}
    missing = [s for s in chosen if setting_label(s) not in old_rows]
    if not old_rows or missing:
        fresh = needle.evaluate(model, tokenizer, haystack, missing if old_rows else chosen,
                                lengths, progress=progress, observe_queries=args.observe_queries)
    if not old_rows:
        return fresh
    if missing:
        new_rows = {r["label"]: r for r in fresh["rows"]}
        if new_rows["uncompressed"] != old_rows["uncompressed"]:
            raise SystemExit(f"{args.needle_from}: the uncompressed needle row differs from "
                             "this run's; its needle rows cannot be reused")
        old_rows.update(new_rows)
    labels = ["uncompressed"] + [setting_label(s) for s in chosen]
    return {**old, "rows": [old_rows[label] for label in labels]}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kvc.eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick-test", action="store_true", help="synthetic data, no model")
    parser.add_argument("--model", default="smollm2", help="GGUF path, smollm2 or stories260K")
    parser.add_argument("--text", default=None, help="evaluation text (wiki.test.raw)")
    parser.add_argument("--bits", default="8,4,3,2", help="16 adds the lossless row")
    parser.add_argument("--groups", default="32,128")
    parser.add_argument("--recent", default="64", help="recent windows (tokens) to add")
    parser.add_argument("--attention-thresholds", default="0.99,0.95,0.9",
                        help="token selection rows (16-bit and 4-bit at the largest group): "
                             "attention mass the kept tokens cover; '' for none")
    parser.add_argument("--per-head-thresholds", default="",
                        help="16-bit rows with per-head selection (each KV head keeps its own "
                             "tokens) at these attention thresholds")
    parser.add_argument("--observe-queries", type=int, default=32,
                        help="queries of the context's last positions that score its tokens")
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
    parser.add_argument("--needle-thresholds", default=None,
                        help="attention thresholds of the 4-bit selection rows in the needle "
                             "test (default: the smallest of --attention-thresholds)")
    parser.add_argument("--perplexity-from", default=None, metavar="JSON",
                        help="reuse the perplexity rows of an earlier run's JSON (same model, "
                             "text and windows): only the settings it lacks are run, and this "
                             "run's baseline must equal the stored one")
    parser.add_argument("--needle-from", default=None, metavar="JSON",
                        help="reuse the needle rows of an earlier run's JSON (same lengths): "
                             "only the settings it lacks are run, and the uncompressed row must "
                             "come out the same")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None, help="output stem (default: no files)")
    args = parser.parse_args(argv)
    if args.quick_test:
        return _quick(args)

    import torch

    from ..models import default_model_paths, load_gguf_model
    from . import perplexity, report

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
    thresholds = _floats(args.attention_thresholds)
    settings = grid(_ints(args.bits), _ints(args.groups), _ints(args.recent), thresholds,
                    _floats(args.per_head_thresholds))

    def progress(what):
        return lambda done, total: print(f"  {what} {done}/{total} ({time.time() - started:.0f} s)",
                                         file=sys.stderr, flush=True)

    previous = {}
    if args.perplexity_from:
        with open(args.perplexity_from) as f:
            previous = json.load(f)
        old = previous["perplexity"]
        if previous["model"] != str(model_path).rsplit("/", 1)[-1] or \
                previous["text"].rsplit("/", 1)[-1] != text_path.rsplit("/", 1)[-1] or \
                (old["context"], old["stride"], old["windows"]) != \
                (args.context, args.stride, args.windows):
            parser.error(f"{args.perplexity_from} is of another model, text, context, stride or "
                         "window count")
    old_rows = {_setting_key(r): r for r in previous.get("perplexity", {}).get("rows", [])}
    missing = [s for s in settings if _setting_key(s) not in old_rows]
    if missing or not previous:
        ppl = perplexity.evaluate(model, ids, missing, args.context, args.stride, args.windows,
                                  progress=progress("perplexity window"),
                                  observe_queries=args.observe_queries)
        if previous:
            _check_same_baseline(previous["perplexity"]["baseline"]["ppl"],
                                 ppl["baseline"]["ppl"], args.perplexity_from)
            fresh = {_setting_key(r): r for r in ppl["rows"]}
            ppl["rows"] = [old_rows.get(_setting_key(s)) or fresh[_setting_key(s)]
                           for s in settings]
            ppl["reused_rows"] = len(settings) - len(missing)
    else:
        ppl = previous["perplexity"]
        ppl["rows"] = [old_rows[_setting_key(s)] for s in settings]
    if any(s.get("attention") for s in settings):
        ppl["observe_queries"] = args.observe_queries
    for row in ppl["rows"]:
        row["passed"] = row["ppl_delta_pct"] <= args.threshold
    results = {"model": str(model_path).rsplit("/", 1)[-1], "text": text_path,
               "threshold_pct": args.threshold, "perplexity": ppl}
    if not args.no_needle:
        needle_thresholds = _floats(args.needle_thresholds) if args.needle_thresholds is not None \
            else [min(thresholds)] if thresholds else []
        chosen = [s for s in settings if s["group"] == max(_ints(args.groups)) and not s["recent"]
                  and (s["bits"] in _ints(args.needle_bits) and not s.get("attention")
                       or s["bits"] == 4 and s.get("attention") in needle_thresholds
                       and not s.get("per_head"))]
        earlier = {}
        if args.needle_from:
            with open(args.needle_from) as f:
                earlier = json.load(f)
        results["needle"] = _needle(model, tokenizer, text, chosen, args, earlier,
                                    progress("needle trial"))
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
