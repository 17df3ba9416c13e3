# report.py: the evaluation's outputs: a markdown table, a JSON document and a PNG plot.
"""Turns the results of ``kvc.eval`` into ``<stem>.md``, ``<stem>.json`` and ``<stem>.png``."""
import json


def _needle_of(results):
    needle = results.get("needle")
    return {row["label"]: row for row in needle["rows"]} if needle else {}


def kept_share(row):
    """Share of the context's tokens a row kept (rows of runs before token selection have no
    ``tokens_kept``: they kept every token)."""
    if "tokens_kept" not in row and row.get("attention"):
        raise ValueError(f"row {row['label']} selected tokens but has no tokens_kept")
    return row.get("tokens_kept", 1.0)


def markdown(results):
    """The table: one row per setting, the uncompressed cache first."""
    ppl = results["perplexity"]
    needle = _needle_of(results)
    lengths = results["needle"]["lengths"] if needle else []
    head = ["setting", "bits/element", "tokens kept", "perplexity", "Δ ppl", "Δ %", "pass", "KL",
            "top-1"]
    head += [f"needle {n}" for n in lengths]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def needle_cells(label):
        row = needle.get(label)
        return [f"{row['by_length'][str(n)]:.2f}" if row else "–" for n in lengths]

    base = ppl["baseline"]
    lines.append("| " + " | ".join(["uncompressed (fp32)", "32", "1", f"{base['ppl']:.3f}", "0",
                                    "0", "–", "0", "1"] + needle_cells("uncompressed")) + " |")
    for row in ppl["rows"]:
        cells = [row["label"], f"{row['bits_per_element']:.2f}", f"{kept_share(row):.3f}",
                 f"{row['ppl']:.3f}",
                 f"{row['ppl_delta']:+.3f}", f"{row['ppl_delta_pct']:+.2f}",
                 "yes" if row["passed"] else "no", f"{row['kl']:.5f}", f"{row['top1']:.3f}"]
        lines.append("| " + " | ".join(cells + needle_cells(row["label"])) + " |")
    return "\n".join(lines) + "\n"


def plot(results, path):
    """Perplexity change (%) and top-1 agreement against bits per element, one point per
    setting (token selection rows in another colour, labelled with their share of tokens kept);
    written to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["perplexity"]["rows"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for row in rows:
        bits = row["bits_per_element"]
        selected = bool(row.get("attention"))
        label = row["label"] + (f" ({kept_share(row):.0%} kept)" if selected else "")
        left.scatter(bits, max(row["ppl_delta_pct"], 1e-3), color="C2" if selected else "C0")
        left.annotate(label, (bits, max(row["ppl_delta_pct"], 1e-3)), fontsize=7,
                      xytext=(3, 3), textcoords="offset points")
        right.scatter(bits, row["top1"], color="C3" if selected else "C1")
        right.annotate(label, (bits, row["top1"]), fontsize=7, xytext=(3, 3),
                       textcoords="offset points")
    threshold = results["threshold_pct"]
    left.axhline(threshold, color="gray", linestyle="--", linewidth=1,
                 label=f"threshold {threshold:g}%")
    left.set_yscale("log")
    left.set_xlabel("bits per element (all-in, kvc blob)")
    left.set_ylabel("perplexity increase over uncompressed (%)")
    left.legend(fontsize=8)
    right.set_xlabel("bits per element (all-in, kvc blob)")
    right.set_ylabel("top-1 agreement with uncompressed")
    ppl = results["perplexity"]
    fig.suptitle(f"{results['model']}: WikiText-2, {ppl['scored_tokens']} scored tokens "
                 f"({ppl['windows']} windows, context {ppl['context']}, stride {ppl['stride']})",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results, stem):
    """Writes ``stem``.md, .json and .png; returns their paths."""
    paths = [f"{stem}.md", f"{stem}.json", f"{stem}.png"]
    with open(paths[0], "w") as f:
        f.write(markdown(results))
    with open(paths[1], "w") as f:
        json.dump(results, f, indent=2)
    plot(results, paths[2])
    return paths
