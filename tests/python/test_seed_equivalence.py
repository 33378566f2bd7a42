"""semcl.torch against the seed's own PyTorch code (seed_losses.py, verbatim copy of the
reference): model-level drop-ins with the score model, a dot-product model with nn.Parameter
embeddings and a two-tower module; the repository's seed cases; fresh random cases."""
import copy
import json
import os
import zlib

import pytest
import torch
import torch.nn as nn

import seed_losses
import semcl.torch as st
from conftest import REPO, assert_close, keep_float64
from seed_losses import dot_model, score_model

SHAPES = [(1, 1, 1), (2, 1, 3), (8, 1, 4), (16, 5, 8), (33, 7, 3), (64, 20, 16)]


class TwoTower(nn.Module):
    def __init__(self, du, di, d):
        super().__init__()
        self.user = nn.Linear(du, d)
        self.item = nn.Linear(di, d, bias=False)

    def forward(self, u, item):
        return (self.user(u) * self.item(item)).sum(-1)


def _inputs(kind, B, K, D, gen, scale):
    """Leaf tensors (u, item_raw, item_pos, item_neg, y) for a model kind."""
    if kind == "score":
        u = torch.zeros(B, 1)
        t = [torch.randn(B, 1, generator=gen) * 3, torch.randn(B, 1, generator=gen) * 3,
             torch.randn(B, K, 1, generator=gen) * 3]
    else:
        Du = D if kind == "dot" else D + 1
        u = torch.randn(B, Du, generator=gen) * scale
        t = [torch.randn(B, D, generator=gen) * scale, torch.randn(B, D, generator=gen) * scale,
             torch.randn(B, K, D, generator=gen) * scale]
    y = (torch.rand(B, generator=gen) < 0.5).float()
    return [u] + t + [y]


def _model(kind, D, gen):
    if kind == "score":
        return score_model
    if kind == "dot":
        return dot_model
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
    m = TwoTower(D + 1, D, 4)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(0.7)
    return m


def _run(fn, model, u, items, y, lam, seed_f64=False):
    """Calls the model-level function with fresh leaves (nn.Parameter for the embeddings) and
    returns (loss, loss_ctr, loss_aux) and the gradients of loss w.r.t. every input tensor and
    every model parameter.

    seed_f64: run the (seed's) loss code in float64 on the float32 model's scores: the model
    is evaluated and differentiated in float32 exactly as for semcl, its scores are widened to
    float64 (exactly) for the loss, and the loss gradient comes back rounded to float32. So the
    comparison isolates the loss computation from the model's own float32 rounding."""
    leaves = [nn.Parameter(t.clone()) for t in [u] + items]
    if isinstance(model, nn.Module):
        model = copy.deepcopy(model)
    params = list(model.parameters()) if isinstance(model, nn.Module) else []
    call = model
    if seed_f64:
        def call(uu, item):
            return model(uu, item).double()
    if fn.__name__ == "loss_positive_only":
        args = (call, leaves[0], leaves[1], leaves[2], y.double() if seed_f64 else y, lam)
    else:
        args = (call, leaves[0], leaves[1], leaves[2], leaves[3],
                y.double() if seed_f64 else y, lam)
    if seed_f64:
        with keep_float64():
            out = fn(*args)
    else:
        out = fn(*args)
    wrt = leaves + params
    grads = torch.autograd.grad(out[0], wrt, allow_unused=True)
    grads = [torch.zeros_like(w) if g is None else g for g, w in zip(grads, wrt)]
    return out, grads


@pytest.mark.parametrize("scale", [0.6, 2.5])
@pytest.mark.parametrize("B,K,D", SHAPES)
@pytest.mark.parametrize("kind", ["score", "dot", "two_tower"])
@pytest.mark.parametrize("which", ["positive_only", "pos_neg"])
def test_model_level_vs_seed_float64(which, kind, B, K, D, scale):
    gen = torch.Generator().manual_seed(zlib.crc32(repr((which, kind, B, K, D, scale)).encode()))
    u, ir, ip, ineg, y = _inputs(kind, B, K, D, gen, scale=scale)
    model = _model(kind, D, gen)
    lam = 0.7
    items = [ir, ip] if which == "positive_only" else [ir, ip, ineg]
    seed_fn = getattr(seed_losses, "loss_" + which)
    ours_fn = getattr(st, "loss_" + which)
    exp, exp_g = _run(seed_fn, model, u, items, y, lam, seed_f64=True)
    got, got_g = _run(ours_fn, model, u, items, y, lam)
    for name, a, b in zip(("loss", "loss_ctr", "loss_aux"), got, exp):
        assert a.dtype == torch.float32 and a.shape == ()
        assert_close(a, b, msg=name)
    names = ["u"] + ["item_raw", "item_pos", "item_neg"][:len(items)]
    names += ["param%d" % i for i in range(len(got_g) - len(names))]
    for name, a, b in zip(names, got_g, exp_g):
        assert_close(a, b, rtol=2e-5, atol=2e-6, msg="grad " + name)


@pytest.mark.parametrize("B,K,D", SHAPES)
@pytest.mark.parametrize("kind", ["score", "dot", "two_tower"])
@pytest.mark.parametrize("which", ["positive_only", "pos_neg"])
def test_model_level_vs_seed_float32(which, kind, B, K, D):
    """The seed as written (float32 all along) with moderate scores."""
    gen = torch.Generator().manual_seed(1 + zlib.crc32(repr((which, kind, B, K, D)).encode()))
    u, ir, ip, ineg, y = _inputs(kind, B, K, D, gen, scale=0.5)
    model = _model(kind, D, gen)
    items = [ir, ip] if which == "positive_only" else [ir, ip, ineg]
    exp, exp_g = _run(getattr(seed_losses, "loss_" + which), model, u, items, y, 1.0)
    got, got_g = _run(getattr(st, "loss_" + which), model, u, items, y, 1.0)
    for a, b in zip(got, exp):
        assert_close(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(got_g, exp_g):
        assert_close(a, b, rtol=1e-5, atol=2e-6)


def test_model_called_exactly_like_the_seed():
    """Same calls to model (argument shapes and values, in order) as the seed's code."""
    gen = torch.Generator().manual_seed(3)
    B, K, D = 5, 3, 4
    u, ir, ip, ineg, y = _inputs("dot", B, K, D, gen, 1.0)

    def spy(log):
        def model(uu, item):
            log.append((uu.detach().clone(), item.detach().clone()))
            return dot_model(uu, item)
        return model

    for which, items in (("positive_only", [ir, ip]), ("pos_neg", [ir, ip, ineg])):
        a, b = [], []
        getattr(seed_losses, "loss_" + which)(spy(a), u, *items, y, 1.0)
        getattr(st, "loss_" + which)(spy(b), u, *items, y, 1.0)
        assert len(a) == len(b)
        for (ua, ia), (ub, ib) in zip(a, b):
            assert ua.shape == ub.shape and ia.shape == ib.shape
            assert torch.equal(ua, ub) and torch.equal(ia, ib)


def _load_cases():
    with open(os.path.join(REPO, "tests", "data", "seed_cases.json")) as f:
        return json.load(f)["cases"]


@pytest.mark.parametrize("case", _load_cases(), ids=lambda c: c["name"])
def test_repository_seed_cases(case):
    """The float64 seed expectations stored in tests/data/seed_cases.json."""
    B = case["B"]
    raw = torch.tensor(case["score_raw"], dtype=torch.float32, requires_grad=True)
    pos = torch.tensor(case["score_pos"], dtype=torch.float32, requires_grad=True)
    y = torch.tensor(case["y"], dtype=torch.float32)
    e = case["expected"]
    wide = max(abs(v) for v in case["score_raw"] + case["score_pos"] + case.get("score_neg", []))
    # docs/losses.md (accuracy): looser only where the inputs are huge
    rtol = 1e-5 if wide < 1e3 else 1e-4
    if case["loss"] == "positive_only":
        out = st.positive_only_loss(raw, pos, y, case["lambda"])
        leaves = [raw, pos]
        keys = ["grad_raw", "grad_pos"]
    else:
        neg = torch.tensor(case["score_neg"], dtype=torch.float32).reshape(B, -1)
        neg.requires_grad_()
        out = st.pos_neg_loss(raw, pos, neg, y, case["lambda"])
        leaves = [raw, pos, neg]
        keys = ["grad_raw", "grad_pos", "grad_neg"]
    for v, k in zip(out, ("loss", "loss_ctr", "loss_aux")):
        assert_close(v, torch.tensor(e[k], dtype=torch.float64), rtol=rtol, msg=k)
    grads = torch.autograd.grad(out[0], leaves)
    for g, k in zip(grads, keys):
        assert_close(g.reshape(-1), torch.tensor(e[k], dtype=torch.float64), rtol=rtol, msg=k)


def _seed_score_level_f64(which, raw, pos, neg, y, lam):
    """The seed's code run with score_model in float64 (make_cases.py's oracle)."""
    B = raw.shape[0]
    r = raw.double().reshape(-1, 1).requires_grad_()
    p = pos.double().reshape(-1, 1).requires_grad_()
    u = torch.zeros(B, 1, dtype=torch.float64)
    with keep_float64():
        if which == "positive_only":
            out = seed_losses.loss_positive_only(score_model, u, r, p, y.double(), lam)
            leaves = [r, p]
        else:
            n = neg.double().reshape(B, -1, 1).requires_grad_()
            out = seed_losses.loss_pos_neg(score_model, u, r, p, n, y.double(), lam)
            leaves = [r, p, n]
    grads = torch.autograd.grad(out[0], leaves)
    return out, [g.reshape(t.shape) for g, t in zip(grads, [raw, pos, neg][:len(leaves)])]


@pytest.mark.parametrize("seed", range(12))
def test_fresh_random_cases(seed):
    """Cases that are not in the repository: generated here, with the seed code as oracle."""
    gen = torch.Generator().manual_seed(1000 + seed)
    B = int(torch.randint(1, 300, (1,), generator=gen))
    K = int(torch.randint(1, 70, (1,), generator=gen))
    scale = [0.1, 1.0, 4.0, 12.0][seed % 4]
    lam = float(torch.rand(1, generator=gen) * 3)
    raw = (torch.randn(B, generator=gen) * scale)
    pos = (torch.randn(B, generator=gen) * scale)
    neg = (torch.randn(B, K, generator=gen) * scale)
    if seed % 3 == 0:
        y = torch.rand(B, generator=gen)  # soft labels
    else:
        y = (torch.rand(B, generator=gen) < 0.3 + 0.05 * seed).float()
    for which in ("positive_only", "pos_neg"):
        exp, exp_g = _seed_score_level_f64(which, raw, pos, neg, y, lam)
        leaves = [t.clone().requires_grad_() for t in (raw, pos, neg)]
        if which == "positive_only":
            leaves = leaves[:2]
            got = st.positive_only_loss(*leaves, y, lam)
        else:
            got = st.pos_neg_loss(*leaves, y, lam)
        got_g = torch.autograd.grad(got[0], leaves)
        for a, b in zip(got, exp):
            assert_close(a, b)
        for a, b in zip(got_g, exp_g):
            assert_close(a, b, rtol=2e-5)


@pytest.mark.parametrize("lam", [1.0, 0.0, 0.25])
@pytest.mark.parametrize("which", ["positive_only", "pos_neg"])
def test_model_level_gradients_from_all_three_outputs(which, lam):
    """loss_ctr and loss_aux are differentiable outputs too (e.g. logged-and-weighted terms)."""
    gen = torch.Generator().manual_seed(77)
    B, K, D = 24, 5, 6
    u, ir, ip, ineg, y = _inputs("two_tower", B, K, D, gen, scale=0.8)
    model = _model("two_tower", D, gen)
    items = [ir, ip] if which == "positive_only" else [ir, ip, ineg]
    res = []
    for fn, f64 in ((getattr(seed_losses, "loss_" + which), True),
                    (getattr(st, "loss_" + which), False)):
        leaves = [nn.Parameter(t.clone()) for t in [u] + items]
        m = copy.deepcopy(model)

        def call(uu, item, m=m, f64=f64):
            s = m(uu, item)
            return s.double() if f64 else s
        yy = y.double() if f64 else y
        if f64:
            with keep_float64():
                out = fn(call, *leaves, yy, lam)
        else:
            out = fn(call, *leaves, yy, lam)
        total = 0.7 * out[0] - 1.3 * out[1] + 2.0 * out[2]
        wrt = leaves + list(m.parameters())
        res.append(torch.autograd.grad(total, wrt))
    for a, b in zip(res[1], res[0]):
        assert_close(a, b, rtol=2e-5, atol=2e-6)
