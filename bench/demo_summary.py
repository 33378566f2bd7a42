#!/usr/bin/env python3
"""The few lines scripts/demo ends with, from the CSVs it measured (standard library only).

  demo_summary.py --semcl semcl.csv [--baseline baseline.csv] --table table.txt
                  [--others-cpu X] [--cores N] [--plot results.png] [--build-note TEXT]
                  [--bench-cmd CMD]

Prints: the headline case (pairwise loss, forward+backward, B=4096, K=1024, one thread) for
semcl and, when the baseline CSV has it, PyTorch and the speed-up; the range of speed-ups over
K; whether other processes competed for the cores while semcl-bench ran (then the
multi-thread rows, or all rows, are marked unreliable instead of read as results); where the
full table (written to --table, semcl and PyTorch side by side) and the plot are; the next
command to try.
"""
import argparse
import csv
import os
import sys

HEADLINE = {"loss": "pos_neg", "pass": "fwd_bwd", "B": 4096, "K": 1024, "threads": 1}
# Other processes' mean CPU use (in cores) above which timings are read as disturbed: a
# multi-thread call waits for its slowest thread, so any busy core delays it; a one-thread
# call is disturbed only once the others leave it no idle core.
BUSY_CORES = 0.25


def read_rows(path):
    if not path or not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def key(r):
    return (r["loss"], int(r["B"]), int(r["K"]), int(r["threads"]), r["pass"])


def contention(others, cores):
    """-> (multi_thread_unreliable, one_thread_unreliable)."""
    if others is None:
        return False, False
    return others > BUSY_CORES, others > max(cores - 1, 0) + BUSY_CORES


def speedups(semcl_rows, torch_rows):
    """{key: (semcl row, torch row, speed-up)} for the keys both measured."""
    torch_by = {key(r): r for r in torch_rows}
    out = {}
    for r in semcl_rows:
        t = torch_by.get(key(r))
        if t is not None and float(r["median_ms"]) > 0:
            out[key(r)] = (r, t, float(t["median_ms"]) / float(r["median_ms"]))
    return out


def write_table(path, semcl_rows, pairs, multi_bad, one_bad):
    cols = ("backend", "loss", "B", "K", "threads", "pass", "semcl ms", "semcl Gelem/s",
            "PyTorch ms", "speed-up", "note")
    lines = []
    for r in semcl_rows:
        k = key(r)
        pair = pairs.get(k)
        note = ""
        if (k[3] > 1 and multi_bad) or one_bad:
            note = "unreliable: cores busy"
        lines.append((r["backend"], k[0], str(k[1]), str(k[2]), str(k[3]), k[4],
                      f"{float(r['median_ms']):.4g}", f"{float(r['gelem_per_s']):.3f}",
                      f"{float(pair[1]['median_ms']):.4g}" if pair else "-",
                      f"{pair[2]:.1f}x" if pair else "-", note))
    widths = [max(len(c), *(len(l[i]) for l in lines)) if lines else len(c)
              for i, c in enumerate(cols)]
    with open(path, "w") as f:
        f.write("  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip() + "\n")
        for l in lines:
            f.write("  ".join(v.ljust(w) for v, w in zip(l, widths)).rstrip() + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--semcl", required=True)
    ap.add_argument("--baseline")
    ap.add_argument("--table", required=True)
    ap.add_argument("--others-cpu", type=float)
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--plot")
    ap.add_argument("--build-note", default="")
    ap.add_argument("--bench-cmd", default="semcl-bench")
    a = ap.parse_args(argv)

    semcl = read_rows(a.semcl)
    if not semcl:
        print(f"demo: no results in {a.semcl}", file=sys.stderr)
        return 1
    torch_rows = [r for r in read_rows(a.baseline) if r["backend"] == "torch-cpu"]
    cpu_rows = [r for r in semcl if r["backend"] == "cpu"]
    pairs = speedups(cpu_rows, torch_rows)
    multi_bad, one_bad = contention(a.others_cpu, a.cores)
    write_table(a.table, semcl, pairs, multi_bad, one_bad)

    p = print
    p("")
    p("== Summary")
    backends = sorted({r["backend"] for r in semcl})
    p(f"semcl-bench measured {len(semcl)} cases ({', '.join(backends)} backend"
      f"{'s' if len(backends) > 1 else ''}) on {a.cores} cores. {a.build_note}".rstrip())
    if a.others_cpu is not None:
        if one_bad:
            p(f"WARNING: other processes used {a.others_cpu:.1f} of {a.cores} cores while "
              "semcl-bench ran: every timing is unreliable (not a result); rerun on a quiet machine.")
        elif multi_bad:
            p(f"WARNING: other processes used {a.others_cpu:.1f} of {a.cores} cores while "
              "semcl-bench ran: the multi-thread rows are unreliable (a call waits for its "
              "slowest thread), not slowdowns of semcl; read the 1-thread rows.")
        else:
            p(f"The machine was quiet while semcl-bench ran (others used {a.others_cpu:.2f} "
              f"of {a.cores} cores).")
    hk = (HEADLINE["loss"], HEADLINE["B"], HEADLINE["K"], HEADLINE["threads"], HEADLINE["pass"])
    for r in semcl:
        if key(r) == hk or (r["backend"] == "cuda" and key(r)[:3] == hk[:3] and r["pass"] == hk[4]):
            p(f"Pairwise loss, forward+backward, B=4096, K=1024, {r['threads']} thread"
              f"{'s' if r['threads'] != '1' else ''} ({r['backend']}): semcl "
              f"{float(r['median_ms']):.3g} ms per call, {float(r['gelem_per_s']):.3g} Gelem/s.")
    if hk in pairs:
        r, t, s = pairs[hk]
        p(f"  PyTorch eager, the same case: {float(t['median_ms']):.3g} ms -> semcl is "
          f"{s:.1f}x faster on this machine{' (disturbed run, see above)' if one_bad else ''}.")
        one_k = sorted((k[2], v[2]) for k, v in pairs.items()
                       if k[0] == "pos_neg" and k[3] == 1 and k[4] == "fwd_bwd")
        if len(one_k) > 1:
            p(f"  Over K = {one_k[0][0]} ... {one_k[-1][0]} (1 thread, forward+backward): "
              f"{min(s for _, s in one_k):.1f}x to {max(s for _, s in one_k):.1f}x "
              f"(small K: per-call overheads dominate both).")
    elif not cpu_rows:
        p("  The PyTorch comparison runs on the CPU: scripts/demo --backend all adds semcl's CPU "
          "rows to compare with.")
    elif not torch_rows:
        p("  No PyTorch comparison (no interpreter with torch found; PYTHON=/path/to/python "
          "scripts/demo uses another).")
    p(f"Full table: {a.table}" + (f"; plot: {a.plot}" if a.plot else "") +
      "; the published measurement: bench/RESULTS.md.")
    p(f"Next: {a.bench_cmd} --loss pos_neg --B 4096 --K 1024 --pass fwd_bwd --threads 1 "
      "(one case), or ./scripts/test (all tests).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
