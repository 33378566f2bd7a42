#!/usr/bin/python3
"""Merges semcl-bench and seed_baseline CSVs and draws throughput (Gelem/s) against K.

  plot.py OUT.png semcl.csv [baseline.csv ...]

Left: pos_neg (loss 2), Gelem/s = B*K per second against K (log-log). Right: positive_only
(loss 1), Gelem/s = B per second against B. One line per implementation/backend, pass and
thread count. Headless (matplotlib Agg).
"""
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_rows(paths):
    rows = []
    for p in paths:
        with open(p) as f:
            rows.extend(csv.DictReader(f))
    return rows


def main():
    if len(sys.argv) < 3 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help") else 2)
    out, paths = sys.argv[1], sys.argv[2:]
    rows = read_rows(paths)
    if not rows:
        sys.exit("plot.py: no rows in " + ", ".join(paths))

    backends = sorted({r["backend"] for r in rows}, key=lambda b: (b.startswith("torch"), b))
    colors = {}
    palette = ["tab:blue", "tab:green", "tab:purple", "tab:red", "tab:orange", "tab:brown"]
    for i, b in enumerate(backends):
        colors[b] = palette[i % len(palette)]
    style = {"fwd_bwd": "-", "fwd": "--"}
    marker = defaultdict(lambda: "s", {"1": "o", "2": "^"})

    fig, axes = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [3, 2]})
    for ax, loss, xkey in ((axes[0], "pos_neg", "K"), (axes[1], "positive_only", "B")):
        lines = defaultdict(list)
        for r in rows:
            if r["loss"] != loss:
                continue
            lines[(r["backend"], r["pass"], r["threads"])].append(
                (int(r[xkey]), float(r["gelem_per_s"]), int(r["B"])))
        for (be, ps, th), pts in sorted(lines.items(),
                                        key=lambda kv: (backends.index(kv[0][0]), kv[0][1],
                                                        int(kv[0][2]))):
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style.get(ps, ":"),
                    color=colors[be], marker=marker[th], markersize=4, linewidth=1.3,
                    label=f"{be} {ps} {th}t")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_xlabel(xkey)
        ax.set_ylabel("Gelem/s (B*K per s)" if loss == "pos_neg" else "Gelem/s (B per s)")
        if loss == "pos_neg":
            bs = sorted({int(r["B"]) for r in rows if r["loss"] == loss})
            ax.set_title("loss 2 pos_neg, fp32 (B = " + ", ".join(map(str, bs)) + ")")
        else:
            ax.set_title("loss 1 positive_only, fp32")
        ax.legend(fontsize=7, ncol=2 if loss == "pos_neg" else 1)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    print(f"plot.py: wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
