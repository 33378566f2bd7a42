#!/usr/bin/python3
"""Times the seed's own PyTorch losses (bench/seed_losses.py, verbatim) on semcl-bench's shapes.

Run with /usr/bin/python3 (Debian's python3-torch). Scores are the item tensors of
score_model (an (N,1) column per item), created with requires_grad=True, so

  fwd      = the seed function as called in training (autograd graph built, no backward)
  fwd_bwd  = the same plus loss.backward() (gradients of score_raw, score_pos, score_neg)

u is a (B,1) zero tensor: score_model ignores it, but loss_pos_neg's u.repeat(1, K, 1) still
runs, exactly as the seed's code does. Inputs: scores ~ N(0, 3^2), hard labels, lambda 1,
rotated over copies so the working set is >= 4x the last-level cache (as semcl-bench).

Writes the semcl-bench CSV columns (backend torch-cpu, and torch-cpu-compile where
torch.compile exists; PyTorch 1.13 has none, which is recorded in --info-out and on stderr).

  --from-csv FILE  time exactly the (loss, B, K, threads, pass) cases of a semcl-bench CSV
  otherwise        the same flags and default sweep as semcl-bench (see its --help)

Run one thread count per process (--threads N), as run_all.sh does: after
torch.set_num_threads switches from 1 to 2 within one process, PyTorch 1.13 was seen to take
~24 ms per call on small shapes (0.3 ms in a fresh process).
"""
import argparse
import csv
import json
import math
import os
import platform
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed_losses import loss_pos_neg, loss_positive_only, score_model  # noqa: E402

HEADER = ("backend,loss,dtype,B,K,threads,pass,median_ms,p20_ms,p80_ms,gelem_per_s,gb_per_s,"
          "peak_rss_mb,input_sets,working_set_mb")
KS = [1, 4, 16, 64, 256, 1024, 4096, 16384]
BS_FOR_K = [256, 1024, 4096, 16384, 65536]
BS_POSITIVE_ONLY = [4096, 65536, 1048576]


def llc_bytes():
    best = 0.0
    for i in range(10):
        base = f"/sys/devices/system/cpu/cpu0/cache/index{i}/"
        try:
            with open(base + "type") as f:
                if f.read().startswith("Instruction"):
                    continue
            with open(base + "size") as f:
                s = f.read().strip()
        except OSError:
            continue
        mult = {"K": 1024, "M": 1024 * 1024}.get(s[-1:], 1)
        v = float(s.rstrip("KM")) * mult
        best = max(best, v)
    return best if best > 0 else 32.0 * 1024 * 1024


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def quantile(v, q):
    if len(v) == 1:
        return v[0]
    pos = q * (len(v) - 1)
    lo = int(pos)
    if lo >= len(v) - 1:
        return v[-1]
    f = pos - lo
    return v[lo] * (1 - f) + v[lo + 1] * f


def default_cases(args, cores):
    threads = [args.threads] if args.threads is not None else ([1, cores] if cores > 1 else [1])
    passes = [args.pass_] if args.pass_ else ["fwd", "fwd_bwd"]
    losses = [args.loss] if args.loss else ["pos_neg", "positive_only"]
    cases = []
    for loss in losses:
        if loss == "positive_only":
            shapes = [(args.B, 1)] if args.B else [(b, 1) for b in BS_POSITIVE_ONLY]
        elif args.B and args.K:
            shapes = [(args.B, args.K)]
        elif args.K:
            shapes = [(b, args.K) for b in BS_FOR_K]
        elif args.B:
            shapes = [(args.B, k) for k in KS]
        else:
            shapes = [(max(1, min(4096, (1 << 24) // k)), k) for k in KS]
        for B, K in shapes:
            for p in passes:
                for t in threads:
                    cases.append((loss, B, K, t, p))
    return cases


def cases_from_csv(path, args):
    cases, seen = [], set()
    with open(path) as f:
        for row in csv.DictReader(f):
            c = (row["loss"], int(row["B"]), int(row["K"]), int(row["threads"]), row["pass"])
            if args.loss and c[0] != args.loss:
                continue
            if args.threads is not None and c[3] != args.threads:
                continue
            if args.pass_ and c[4] != args.pass_:
                continue
            if c not in seen:
                seen.add(c)
                cases.append(c)
    return cases


class InputSets:
    """n copies of the inputs of one shape (leaf tensors that require grad)."""

    def __init__(self, loss, B, K, n, gen):
        self.sets = []
        for _ in range(n):
            raw = (torch.randn(B, 1, generator=gen) * 3).requires_grad_()
            pos = (torch.randn(B, 1, generator=gen) * 3).requires_grad_()
            y = torch.randint(0, 2, (B,), generator=gen).float()
            u = torch.zeros(B, 1)
            neg = None
            if loss == "pos_neg":
                neg = (torch.randn(B, K, 1, generator=gen) * 3).requires_grad_()
            self.sets.append((u, raw, pos, neg, y))


def set_bytes(loss, B, K, with_grads):
    n_in = 5 * B + (B * K if loss == "pos_neg" else 0)   # u, raw, pos, y (+ neg)
    n_grad = 2 * B + (B * K if loss == "pos_neg" else 0)
    return 4.0 * (n_in + (n_grad if with_grads else 0))


def bytes_moved(loss, B, K, pass_):
    b = 12.0 * B + (8.0 * B if pass_ == "fwd_bwd" else 0.0)
    if loss == "pos_neg":
        b += (8.0 if pass_ == "fwd_bwd" else 4.0) * B * K
    return b


def make_call(loss, fn_pn, fn_po, pass_):
    def call(s):
        u, raw, pos, neg, y = s
        if loss == "pos_neg":
            out = fn_pn(score_model, u, raw, pos, neg, y, 1.0)
        else:
            out = fn_po(score_model, u, raw, pos, y, 1.0)
        if pass_ == "fwd_bwd":
            out[0].backward()
            raw.grad = None
            pos.grad = None
            if neg is not None:
                neg.grad = None
        return out
    return call


def measure(call, sets, min_samples, min_time):
    n_sets = len(sets)
    nxt = 0
    calls, t0 = 0, time.perf_counter()
    while True:
        call(sets[nxt])
        nxt = (nxt + 1) % n_sets
        calls += 1
        el = time.perf_counter() - t0
        if calls >= 3 and el >= 0.05:
            break
    per_call = el / calls
    batch = max(1, min(1000000, math.ceil(0.002 / max(per_call, 1e-9))))
    samples, total = [], 0.0
    while (len(samples) < min_samples or total < min_time) and len(samples) < 2000:
        s0 = time.perf_counter()
        for _ in range(batch):
            call(sets[nxt])
            nxt = (nxt + 1) % n_sets
        dt = time.perf_counter() - s0
        total += dt
        samples.append(dt / batch)
    samples.sort()
    return quantile(samples, 0.5), quantile(samples, 0.2), quantile(samples, 0.8)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loss", choices=["pos_neg", "positive_only"])
    ap.add_argument("--B", type=int)
    ap.add_argument("--K", type=int)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--pass", dest="pass_", choices=["fwd", "fwd_bwd"])
    ap.add_argument("--from-csv", help="time the cases of this semcl-bench CSV")
    ap.add_argument("--reps", type=int, default=9, help="timed samples per case, at least")
    ap.add_argument("--min-time", type=float, default=0.2, help="timed seconds per case, at least")
    ap.add_argument("--max-mem-mb", type=float, default=1024.0)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--info-out", help="write the environment and what was skipped (JSON)")
    ap.add_argument("--out", help="CSV file (default stdout)")
    args = ap.parse_args()
    for name in ("B", "K", "threads", "reps"):
        v = getattr(args, name)
        if v is not None and (v < 1 and not (name == "threads" and v == 0)):
            ap.error(f"--{name} must be positive")

    cores = os.cpu_count() or 1
    if args.threads == 0:
        args.threads = cores
    cases = cases_from_csv(args.from_csv, args) if args.from_csv else default_cases(args, cores)
    if len({c[3] for c in cases}) > 1:
        print("seed_baseline: note: several thread counts in one process; PyTorch may stall "
              "after set_num_threads changes (use --threads N per process)", file=sys.stderr)

    impls = [("torch-cpu", loss_pos_neg, loss_positive_only)]
    info = {"torch_version": torch.__version__, "python": platform.python_version(),
            "torch_compile": None}
    if args.no_compile:
        info["torch_compile"] = "skipped: --no-compile"
    elif hasattr(torch, "compile"):
        impls.append(("torch-cpu-compile", torch.compile(loss_pos_neg),
                      torch.compile(loss_positive_only)))
        info["torch_compile"] = "timed"
    else:
        info["torch_compile"] = f"skipped: torch {torch.__version__} has no torch.compile"
    print(f"seed_baseline: torch {torch.__version__}; torch.compile: {info['torch_compile']}",
          file=sys.stderr)
    if args.info_out:
        with open(args.info_out, "w") as f:
            json.dump(info, f, indent=1)

    out = open(args.out, "w") if args.out else sys.stdout
    print(HEADER, file=out, flush=True)
    target = max(4.0 * llc_bytes(), 256.0 * 1024 * 1024)
    cap = args.max_mem_mb * 1024 * 1024
    gen = torch.Generator().manual_seed(args.seed)
    t_start = time.perf_counter()
    # group cases by shape so the inputs are built once per shape
    order = []
    for c in cases:
        key = (c[0], c[1], c[2])
        if key not in order:
            order.append(key)
    done = 0
    for loss, B, K in order:
        these = [c for c in cases if (c[0], c[1], c[2]) == (loss, B, K)]
        with_grads = any(c[4] == "fwd_bwd" for c in these)
        sb = set_bytes(loss, B, K, with_grads)
        if sb > cap:
            print(f"seed_baseline: skipping {loss} B={B} K={K}: one set is {sb / 2**20:.0f} MiB",
                  file=sys.stderr)
            done += len(these) * len(impls)
            continue
        n_sets = int(min(4096, max(1, math.ceil(target / sb))))
        n_sets = max(1, min(n_sets, int(cap // sb)))
        sets = InputSets(loss, B, K, n_sets, gen).sets
        for (_, _, _, threads, pass_) in these:
            torch.set_num_threads(threads)
            for name, fn_pn, fn_po in impls:
                done += 1
                print(f"[{done}/{len(cases) * len(impls)}] {name} {loss} B={B} K={K} "
                      f"threads={threads} {pass_} ({n_sets} sets)", file=sys.stderr, flush=True)
                med, p20, p80 = measure(make_call(loss, fn_pn, fn_po, pass_), sets, args.reps,
                                        args.min_time)
                elems = B * (K if loss == "pos_neg" else 1)
                print(f"{name},{loss},fp32,{B},{K if loss == 'pos_neg' else 1},{threads},{pass_},"
                      f"{med * 1e3:.6g},{p20 * 1e3:.6g},{p80 * 1e3:.6g},{elems / med * 1e-9:.6g},"
                      f"{bytes_moved(loss, B, K, pass_) / med * 1e-9:.6g},{peak_rss_mb():.1f},"
                      f"{n_sets},{sb * n_sets / 2**20:.1f}", file=out, flush=True)
        del sets
    print(f"seed_baseline: {done} cases in {time.perf_counter() - t_start:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
