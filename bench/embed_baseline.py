#!/usr/bin/python3
"""Times one embedding-loss training step in PyTorch, for comparison with
`semcl-bench --embed` (issue 8). One case per process (a clean peak RSS):

  --impl seed   the seed's loss_pos_neg (bench/seed_losses.py, verbatim) with a dot-product
                model: u.repeat(1, K, 1) -> B*K scores -> loss -> backward (per-row negatives);
                for a shared pool the same loss on u @ pool.T scores (the natural PyTorch form)
  --impl semcl  semcl.torch.pos_neg_loss_from_embeddings (the binding; needs PYTHONPATH=python
                and SEMCL_LIBRARY=build/libsemcl.so)
  --compile     wrap the step in torch.compile (PyTorch 2 only)

fwd_bwd: the loss and the gradients of every embedding (user, item_raw, item_pos, item_neg),
fp32, lambda 1, mean. Prints one line: best and median seconds over --reps steps after two
warm-up steps, negatives per second, and peak RSS (MB) with the inputs' and gradients' MB.
"""
import argparse
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed_losses import loss_pos_neg  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def dot_model(u, item):
    return (u * item).sum(-1)


def seed_shared(u, item_raw, item_pos, pool, y, lam):
    """The seed's loss_pos_neg with the negatives' scores from one matrix product."""
    score_raw = dot_model(u, item_raw)
    score_pos = dot_model(u, item_pos)
    score_neg = u @ pool.T
    loss_ctr = F.binary_cross_entropy_with_logits(score_raw, y.float())
    sign = (y * 2 - 1).unsqueeze(1)
    loss_pair = F.softplus(-sign * (score_pos.unsqueeze(1) - score_neg)).mean()
    return loss_ctr + lam * loss_pair, loss_ctr, loss_pair


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["rows", "shared"], required=True)
    ap.add_argument("--impl", choices=["seed", "semcl"], default="seed")
    ap.add_argument("--B", type=int, default=4096)
    ap.add_argument("--K", type=int, default=1024, help="negatives per row (rows)")
    ap.add_argument("--N", type=int, default=4096, help="pool entries (shared)")
    ap.add_argument("--D", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--compile", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    gen = torch.Generator().manual_seed(1)
    sd = 1.0 / 3.0
    emb = lambda *s: (torch.randn(*s, generator=gen) * sd).requires_grad_()  # noqa: E731
    u, r, p = emb(a.B, a.D), emb(a.B, a.D), emb(a.B, a.D)
    neg = emb(a.B, a.K, a.D) if a.mode == "rows" else emb(a.N, a.D)
    y = torch.randint(0, 2, (a.B,), generator=gen).float()
    if a.impl == "semcl":
        import semcl.torch as st

        def step():
            return st.pos_neg_loss_from_embeddings(u, r, p, neg, y, 1.0)
    elif a.mode == "rows":
        def step():
            return loss_pos_neg(dot_model, u, r, p, neg, y, 1.0)
    else:
        def step():
            return seed_shared(u, r, p, neg, y, 1.0)
    fwd = torch.compile(step) if a.compile else step

    def train_step():
        out = fwd()
        out[0].backward()
        for t in (u, r, p, neg):
            t.grad = None
        return out[0].item()

    for _ in range(2):
        loss = train_step()
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        loss = train_step()
        times.append(time.perf_counter() - t0)
    times.sort()
    negs = a.B * (a.K if a.mode == "rows" else a.N)
    elems = 3 * a.B * a.D + neg.numel()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("torch %s %s%s %s B=%d %s=%d D=%d threads=%d: best %.1f ms, median %.1f ms; %.4f Gneg/s;"
          " peak RSS %.0f MB (inputs+gradients %.0f MB); loss %.6f"
          % (torch.__version__, a.impl, "+compile" if a.compile else "", a.mode, a.B,
             "K" if a.mode == "rows" else "N", a.K if a.mode == "rows" else a.N, a.D, a.threads,
             times[0] * 1e3, times[len(times) // 2] * 1e3, negs / times[0] * 1e-9, rss,
             8.0 * elems / 2**20, loss))


if __name__ == "__main__":
    main()
