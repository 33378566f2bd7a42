#!/usr/bin/python3
"""Draws semcl against the original PyTorch code from semcl-bench and seed_baseline CSVs.

  plot.py OUT.png semcl.csv [baseline.csv ...] [--note TEXT]

--note: a line under the legend saying what was measured (machine, commit, PyTorch version).

Forward+backward (the training step) only; forward-only rows stay in the tables.
Top row: the pairwise loss against K (B = min(4096, 2^24/K)). Bottom row: the positive-only
loss against B. Left: throughput (elements per second, from the median time per call).
Right: speed-up, PyTorch's median time / semcl's, for each PyTorch variant in the data
(eager; torch.compile where the PyTorch used has it). Solid lines: 1 thread; dashed: more.
One legend for the whole figure. Headless (matplotlib Agg).
"""
import argparse
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter  # noqa: E402

# backend column -> (label, colour, is semcl)
IMPLS = {
    "cpu": ("semcl (C, {})", "tab:blue", True),
    "cuda": ("semcl (CUDA)", "tab:purple", True),
    "torch-cpu": ("PyTorch eager ({})", "tab:orange", False),
    "torch-cpu-compile": ("torch.compile ({})", "tab:green", False),
}
PASS = "fwd_bwd"


def read_rows(paths):
    rows = []
    for p in paths:
        with open(p) as f:
            rows.extend(r for r in csv.DictReader(f) if r["backend"] in IMPLS and r["pass"] == PASS)
    return rows


def elements(r):
    return int(r["B"]) * (int(r["K"]) if r["loss"] == "pos_neg" else 1)


def threads_label(t):
    return "1 thread" if t == 1 else f"{t} threads"


def series(rows, loss, xkey):
    """{(backend, threads): {x: median seconds}}"""
    out = defaultdict(dict)
    for r in rows:
        if r["loss"] == loss:
            out[(r["backend"], int(r["threads"]))][int(r[xkey])] = float(r["median_ms"]) * 1e-3
    return out


def short_count(v):
    if v >= 1 << 20 and v % (1 << 20) == 0:
        return f"{v >> 20}M"
    if v >= 1 << 10 and v % (1 << 10) == 0:
        return f"{v >> 10}K"
    return str(v)


def plain_number(v, _pos=None):
    if v >= 1:
        return f"{v:g}"
    return f"{v:.3f}".rstrip("0")


def style_axes(ax, xs, xlabel):
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(FixedLocator(xs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: short_count(int(round(v)))))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(plain_number))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel, fontsize=11)
    ax.tick_params(labelsize=10)
    ax.grid(True, which="major", alpha=0.35)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("csvs", nargs="+")
    ap.add_argument("--note", default="")
    a = ap.parse_args()
    out, paths = a.out, a.csvs
    rows = read_rows(paths)
    if not rows:
        sys.exit("plot.py: no forward+backward rows in " + ", ".join(paths))

    panels = [("pos_neg", "K", "K (negatives per row)",
               "Pairwise loss (B·K elements), forward+backward"),
              ("positive_only", "B", "B (rows)", "Positive-only loss (B elements), forward+backward")]
    panels = [p for p in panels if any(r["loss"] == p[0] for r in rows)]
    fig, axes = plt.subplots(len(panels), 2, figsize=(13, 4.6 * len(panels) + 1.2), squeeze=False)
    handles = {}
    for row_axes, (loss, xkey, xlabel, title) in zip(axes, panels):
        ax_t, ax_s = row_axes
        data = series(rows, loss, xkey)
        xs = sorted({x for d in data.values() for x in d})
        order = sorted(data, key=lambda k: (list(IMPLS).index(k[0]), k[1]))
        for be, th in order:
            label, colour, _ = IMPLS[be]
            pts = sorted(data[(be, th)].items())
            n_of = {int(r[xkey]): elements(r) for r in rows if r["loss"] == loss}
            line, = ax_t.plot([x for x, _ in pts], [n_of[x] / s * 1e-9 for x, s in pts],
                              "-" if th == 1 else "--", color=colour, marker="o" if th == 1 else "^",
                              markersize=5, linewidth=2 if th == 1 else 1.4,
                              label=label.format(threads_label(th)))
            handles.setdefault(line.get_label(), line)
        style_axes(ax_t, xs, xlabel)
        ax_t.set_ylabel("throughput, G elements/s (higher is better)", fontsize=11)
        ax_t.set_title(title, fontsize=12)

        # speed-up of semcl (C) over each PyTorch variant at the same thread count
        best = 0.0
        for (be, th) in order:
            if IMPLS[be][2]:
                continue
            mine = data.get(("cpu", th))
            if not mine:
                continue
            theirs = data[(be, th)]
            pts = sorted((x, theirs[x] / mine[x]) for x in theirs if x in mine)
            if not pts:
                continue
            label, colour, _ = IMPLS[be]
            ax_s.plot([x for x, _ in pts], [s for _, s in pts], "-" if th == 1 else "--",
                      color=colour, marker="o" if th == 1 else "^", markersize=5,
                      linewidth=2 if th == 1 else 1.4,
                      label="vs " + label.format(threads_label(th)))
            best = max(best, max(s for _, s in pts))
            if th == 1:  # the 1-thread figures, written on the points (eager above, compile below)
                dy = 7 if be == "torch-cpu" else -15
                for x, s in pts:
                    ax_s.annotate(f"{s:.1f}×", (x, s), textcoords="offset points", xytext=(0, dy),
                                  ha="center", fontsize=9, color=colour)
        if best == 0.0:  # nothing to compare with for this loss
            ax_s.axis("off")
            ax_s.text(0.5, 0.5, "no PyTorch rows for this loss in the data", ha="center",
                      va="center", fontsize=11, color="0.4", transform=ax_s.transAxes)
            continue
        ax_s.axhline(1.0, color="black", linewidth=1)
        ax_s.text(xs[-1], 1.0, "same speed ", ha="right", va="top", fontsize=9)
        if ax_s.lines[:-1]:
            ax_s.legend(loc="best", fontsize=10, framealpha=0.85)
        style_axes(ax_s, xs, xlabel)
        ax_s.set_ylim(top=max(best * 1.6, 2.0))
        ax_s.set_ylabel("semcl (C) speed-up: PyTorch time / semcl time", fontsize=11)
        ax_s.set_title("Speed-up of semcl over the PyTorch code, same threads", fontsize=12)

    fig.legend(handles.values(), handles.keys(), loc="upper center", ncol=3, fontsize=11,
               frameon=False)
    top = 0.9 + (0.3 if a.note else 0.0)
    if a.note:
        fig.text(0.5, 1 - (top - 0.05) / fig.get_figheight(), a.note, ha="center", va="bottom",
                 fontsize=10, color="0.3")
    fig.tight_layout(rect=(0, 0, 1, 1 - top / fig.get_figheight()))
    fig.savefig(out, dpi=100)
    print(f"plot.py: wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
