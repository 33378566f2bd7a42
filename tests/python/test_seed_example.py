"""The seed's example code runs unchanged with semcl: only the import line differs.

The same user program (model, optimizer, a few training steps with both losses, int labels as
the seed's users pass them) is executed twice from one source text: once importing the seed's
functions (seed_losses.py, the verbatim oracle), once importing semcl.torch's."""
import inspect

import torch

import seed_losses
import semcl.torch as st

PROGRAM = '''
import torch
import torch.nn as nn
{IMPORT}

torch.manual_seed(0)
B, K, D = 32, 6, 8

class TwoTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.user = nn.Embedding(50, D)
        self.item = nn.Embedding(80, D)
        self.proj = nn.Linear(D, D)

    def forward(self, u, item):
        # u: (N, 1) user ids, item: (N, 1) item ids (reshape(B*K, -1) keeps them (N, 1))
        uu = self.proj(self.user(u.reshape(-1)))
        return (uu * self.item(item.reshape(-1))).sum(-1) * 0.5

model = TwoTower()
opt = torch.optim.SGD(model.parameters(), lr=0.5)
u = torch.randint(0, 50, (B, 1))
item_raw = torch.randint(0, 80, (B, 1))
item_pos = torch.randint(0, 80, (B, 1))
item_neg = torch.randint(0, 80, (B, K, 1))
y_raw = torch.randint(0, 2, (B,))

history = []
for step in range(4):
    opt.zero_grad()
    loss, loss_ctr, loss_pos = loss_positive_only(model, u, item_raw, item_pos, y_raw,
                                                  lambda_sem=0.5)
    loss.backward()
    opt.step()
    opt.zero_grad()
    loss2, loss_ctr2, loss_pair = loss_pos_neg(model, u, item_raw, item_pos, item_neg, y_raw,
                                               lambda_rank=2.0)
    (loss2 + 0.1 * loss_pair).backward()
    opt.step()
    history.append([float(x) for x in (loss, loss_ctr, loss_pos, loss2, loss_ctr2, loss_pair)])
params = [p.detach().clone() for p in model.parameters()]
'''


def _exec(import_line):
    ns = {}
    exec(compile(PROGRAM.replace("{IMPORT}", import_line), "<seed example>", "exec"), ns)
    return ns["history"], ns["params"]


def test_seed_example_program_with_swapped_import():
    h_seed, p_seed = _exec("from seed_losses import loss_positive_only, loss_pos_neg")
    h_ours, p_ours = _exec("from semcl.torch import loss_positive_only, loss_pos_neg")
    torch.testing.assert_close(torch.tensor(h_ours, dtype=torch.float64),
                               torch.tensor(h_seed, dtype=torch.float64), rtol=1e-5, atol=1e-6)
    for a, b in zip(p_ours, p_seed):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_same_signatures_as_the_seed():
    for name in ("loss_positive_only", "loss_pos_neg"):
        assert inspect.signature(getattr(st, name)) == inspect.signature(getattr(seed_losses, name))
