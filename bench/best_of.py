#!/usr/bin/python3
"""Merges repeated runs of the same cases: for each (backend, loss, dtype, B, K, threads, pass)
keeps the row with the lowest median time, and appends two columns: rounds (how many runs had
the case) and round_spread (slowest / fastest median - 1, a run-to-run noise measure).

  best_of.py OUT.csv RUN1.csv [RUN2.csv ...]

On a shared machine the slower rounds are the ones other tenants interfered with; every round
stays in its own file for inspection.
"""
import csv
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip())
    out, ins = sys.argv[1], sys.argv[2:]
    best, times, order, fields = {}, {}, [], None
    for path in ins:
        with open(path) as f:
            rd = csv.DictReader(f)
            fields = fields or rd.fieldnames
            for r in rd:
                k = tuple(r[c] for c in ("backend", "loss", "dtype", "B", "K", "threads", "pass"))
                m = float(r["median_ms"])
                if k not in best:
                    order.append(k)
                    best[k], times[k] = r, [m]
                else:
                    times[k].append(m)
                    if m < float(best[k]["median_ms"]):
                        best[k] = r
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(list(fields) + ["rounds", "round_spread"])
        for k in order:
            t = times[k]
            w.writerow([best[k][c] for c in fields] + [len(t), f"{max(t) / min(t) - 1:.4f}"])


if __name__ == "__main__":
    main()
