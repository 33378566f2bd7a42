#!/usr/bin/env python3
"""Trains a small two-tower recommender with semcl's embedding losses, on random data, with both
shapes of negatives:

  rows    each sample has its own K sampled negatives: item_neg (B, K, D)
  shared  in-batch negatives: the batch's positive items are every row's negatives, a pool
          (B, D), with pos_index masking each row's own positive (an accidental hit)

The towers are embedding tables followed by a linear layer; the score is the dot product of the
two towers' outputs, which semcl.torch.pos_neg_loss_from_embeddings takes directly (no (B, K)
score matrix and no (B, K, D) copy of the users). The data has structure to learn: a click is
likely when the user's and the item's hidden groups agree, and a row's semantically similar item
(item_pos) comes from the clicked item's group. Prints the loss every few steps; it decreases.

  PYTHONPATH=python SEMCL_LIBRARY=build/libsemcl.so python3 python/examples/two_tower.py
  ... --shape rows --steps 50 --device cuda
"""
import argparse

import torch

import semcl.torch as st


class Tower(torch.nn.Module):
    def __init__(self, n, dim):
        super().__init__()
        self.table = torch.nn.Embedding(n, dim)
        self.proj = torch.nn.Linear(dim, dim)

    def forward(self, ids):
        return self.proj(self.table(ids))


def batch(gen, n_users, n_items, groups, B, K, device):
    """Random ids with a learnable structure: user u and item i belong to groups u % groups and
    i % groups; clicks are likely within a group; item_pos is another item of item_raw's group;
    negatives are uniform."""
    users = torch.randint(0, n_users, (B,), generator=gen)
    items = torch.randint(0, n_items, (B,), generator=gen)
    same = (users % groups) == (items % groups)
    y = (torch.rand(B, generator=gen) < torch.where(same, 0.9, 0.1)).float()
    pos = items % groups + groups * torch.randint(0, n_items // groups, (B,), generator=gen)
    neg = torch.randint(0, n_items, (B, K), generator=gen)
    return [t.to(device) for t in (users, items, pos, neg, y)]


def train(shape, steps, device, B=256, K=32, dim=32, lr=0.05, seed=0, every=10, log=print):
    """Trains for `steps` steps; returns the losses. shape: 'rows' or 'shared'."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    n_users, n_items, groups = 2000, 3000, 10
    user_tower = Tower(n_users, dim).to(device)
    item_tower = Tower(n_items, dim).to(device)
    params = list(user_tower.parameters()) + list(item_tower.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    losses = []
    for step in range(steps):
        users, items, pos, neg, y = batch(gen, n_users, n_items, groups, B, K, device)
        u = user_tower(users)
        item_raw, item_pos = item_tower(items), item_tower(pos)
        if shape == "rows":
            item_neg = item_tower(neg)                                  # (B, K, D)
            out = st.pos_neg_loss_from_embeddings(u, item_raw, item_pos, item_neg, y,
                                                  lambda_rank=0.5)
        else:
            # in-batch negatives: the pool is the batch's item_pos; row b's own is entry b
            own = torch.arange(B, device=device)
            out = st.pos_neg_loss_from_embeddings(u, item_raw, item_pos, item_pos, y,
                                                  lambda_rank=0.5, pos_index=own)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
        if every and (step % every == 0 or step == steps - 1):
            log("%-6s step %3d  loss %.4f  (bce %.4f, pairwise %.4f)"
                % (shape, step, out.loss.item(), out.loss_ctr.item(), out.loss_pair.item()))
    return losses


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=["rows", "shared", "both"], default="both")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    for shape in (["rows", "shared"] if a.shape == "both" else [a.shape]):
        losses = train(shape, a.steps, torch.device(a.device))
        head, tail = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
        print("%-6s mean loss of the first 5 steps %.4f, of the last 5 %.4f" % (shape, head, tail))


if __name__ == "__main__":
    main()
