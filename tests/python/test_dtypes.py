"""bfloat16 / float16 scores, mixed score dtypes, and torch.autocast.

Policy under test (README "dtypes and autocast"): 16-bit scores are read in their dtype and
computed in float32 arithmetic; losses are float32; gradients come back in the score dtype,
rounded once. Oracles: the float32 path on the widened inputs (the same numbers as float32),
conftest.ref_losses in float64, and PyTorch's own binary_cross_entropy_with_logits under
autocast."""
import pytest
import torch
import torch.nn.functional as F

import semcl.torch as st
from conftest import assert_close, count_mask, rand_case, ref_losses

REDUCTIONS = ["mean", "sum", "none"]
HALF = [torch.bfloat16, torch.float16]
# one unit in the last place, relative (bfloat16 keeps 8 significant bits, float16 11)
ULP = {torch.bfloat16: 2.0 ** -7, torch.float16: 2.0 ** -10}


def _call(which, raw, pos, neg, y, lam, red, **kw):
    if which == "positive_only":
        return st.positive_only_loss(raw, pos, y, lam, red, **kw)
    return st.pos_neg_loss(raw, pos, neg, y, lam, red, **kw)


def _assert_rounded(got, exact, dtype, ulps, msg="", abs_tol=0.0):
    """got (in dtype) is within `ulps` units in the last place of exact (float64), elementwise
    (plus the float32 arithmetic's own error), plus abs_tol. ulps = 0.5: exact rounded once.
    float16 also allows half its subnormal step (2^-25) for the final rounding."""
    assert got.dtype == dtype, msg
    g, e = got.double(), exact.double()
    tol = ulps * ULP[dtype] * e.abs() * (1 + 1e-3) + 1e-6 * e.abs().max() + 1e-30 + abs_tol
    if dtype == torch.float16:
        tol = tol + 2.0 ** -25
    bad = (g - e).abs() > tol
    assert not bad.any(), "%s: %d of %d beyond %g ulp, e.g. got %r exact %r" % (
        msg, int(bad.sum()), bad.numel(), ulps, g[bad][:3].tolist(), e[bad][:3].tolist())


@pytest.mark.parametrize("with_options", [False, True])
@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("which", ["positive_only", "pos_neg"])
@pytest.mark.parametrize("dtype", HALF)
def test_half_scores_match_the_float32_path_on_the_widened_inputs(dtype, which, red,
                                                                   with_options):
    gen = torch.Generator().manual_seed(31)
    B, K = 53, 9
    raw, pos, neg, y = rand_case(gen, B, K)
    kw, ref_kw = {}, {}
    if with_options:
        w, pw = torch.rand(B, generator=gen) * 2, torch.rand(B, generator=gen) * 3
        kw = {"weight": w, "pos_weight": pw}
        ref_kw = {"weight": w.double(), "pos_weight": pw.double()}
        if which == "pos_neg":
            kw["neg_mask"] = torch.rand(B, K, generator=gen) < 0.7
            kw["neg_count"] = torch.randint(0, K + 1, (B,), generator=gen)
            ref_kw["mask"] = kw["neg_mask"] & count_mask(kw["neg_count"], K)
    n = 2 if which == "positive_only" else 3
    half = [t.to(dtype) for t in (raw, pos, neg)[:n]]
    wide = [t.float() for t in half]  # the same numbers in float32
    hl = [t.clone().requires_grad_() for t in half]
    wl = [t.clone().requires_grad_() for t in wide]
    out_h = _call(which, *(hl + [None] * (3 - n)), y, 0.6, red, **kw)
    out_w = _call(which, *(wl + [None] * (3 - n)), y, 0.6, red, **kw)
    for a, b in zip(out_h, out_w):
        assert a.dtype == torch.float32  # losses stay float32
        assert_close(a, b.double(), rtol=1e-6, atol=1e-7)
    ref = ref_losses(*([t.double() for t in wide] + [None] * (3 - n)), y.double(), 0.6, red,
                     **ref_kw)
    for a, b in zip(out_h, ref):
        assert_close(a, b)
    # exact gradients: the float64 reference on the widened inputs
    rl = [t.double().requires_grad_() for t in wide]
    r = ref_losses(*(rl + [None] * (3 - n)), y.double(), 0.6, red, **ref_kw)
    # Upstream 1 (loss.backward()) or a power of two (a GradScaler's scale): the library's
    # gradients as they are, rounded once from float32; for bfloat16 exactly the float32
    # path's gradients rounded to bfloat16. Any other upstream scales them after that
    # rounding: a second rounding, within one ulp. float16: stored gradients below its normal
    # range keep an absolute error of half a subnormal step (2^-25), scaled by upstream / s in
    # backward, where s = B for 'mean' (stored scaled by B to stay in range) and 1 otherwise.
    s = B if dtype == torch.float16 and red == "mean" else 1
    for up, ulps in ((torch.ones(out_h[0].shape), 0.5),
                     (torch.full(out_h[0].shape, 2.0 ** 7), 0.5),
                     (torch.randn(out_h[0].shape, generator=gen), 1.0)):
        ulps = 1.0 if s != 1 else ulps
        g_h = torch.autograd.grad(out_h[0], hl, up, retain_graph=True)
        g_exact = torch.autograd.grad(r[0], rl, up.double(), retain_graph=True)
        sub = 2.0 ** -25 * up.abs().max().item() / s
        for i, (g, e) in enumerate(zip(g_h, g_exact)):
            _assert_rounded(g, e, dtype, ulps, "%s %s input %d" % (which, red, i), sub)
        if ulps == 0.5 and dtype == torch.bfloat16:
            g_w = torch.autograd.grad(out_w[0], wl, up, retain_graph=True)
            for g, gw in zip(g_h, g_w):
                assert torch.equal(g, gw.to(dtype))


def test_float16_mean_gradients_survive_a_grad_scaler():
    """Large B x K with 'mean': each negative's gradient is ~1/(B K) = 7.6e-6 here, below
    float16's normal range (6.1e-5). With a GradScaler-style upstream (2^16) the gradients
    that reach the scores must be accurate to an ulp, not flushed to the few bits (or zero)
    that a float16 store of the unscaled gradient would keep."""
    gen = torch.Generator().manual_seed(37)
    B, K = 2048, 64
    raw, pos, neg, y = rand_case(gen, B, K)
    hl = [t.half().requires_grad_() for t in (raw, pos, neg)]
    out = st.pos_neg_loss(*hl, y, 1.0, "mean")
    got = torch.autograd.grad(out.loss * 65536.0, hl)
    rl = [t.detach().double().requires_grad_() for t in hl]
    exp = torch.autograd.grad(ref_losses(*rl, y.double(), 1.0, "mean")[0] * 65536.0, rl)
    assert exp[2].abs().max() < 6.1e-5 * 65536  # the unscaled ones are float16 subnormals
    for i, (g, e) in enumerate(zip(got, exp)):
        _assert_rounded(g, e, torch.float16, 1.0, "input %d" % i, 2.0 ** -25 * 65536 / B)


@pytest.mark.parametrize("dtype", HALF)
def test_half_component_gradients(dtype):
    """Upstream on loss_ctr and loss_aux (the backward's component path, float32 algebra
    rounded once), lambda 0 included (the recompute path)."""
    gen = torch.Generator().manual_seed(32)
    B, K = 21, 4
    raw, pos, neg, y = rand_case(gen, B, K)
    for which in ("positive_only", "pos_neg"):
        n = 2 if which == "positive_only" else 3
        for lam in (0.5, 0.0):
            hl = [t.to(dtype).requires_grad_() for t in (raw, pos, neg)[:n]]
            out = _call(which, *(hl + [None] * (3 - n)), y, lam, "none")
            gos = [torch.randn(B, generator=gen) for _ in range(3)]
            got = torch.autograd.grad(out, hl, gos)
            rl = [t.detach().double().requires_grad_() for t in hl]
            r = ref_losses(*(rl + [None] * (3 - n)), y.double(), lam, "none")
            exp = torch.autograd.grad([x for x in r if x.requires_grad], rl,
                                      [g.double() for g, x in zip(gos, r) if x.requires_grad])
            for i, (g, e) in enumerate(zip(got, exp)):
                # float32 algebra on the once-rounded component gradients, rounded again; a
                # difference of two such terms (score_raw of the positive-only loss) keeps
                # their absolute error, up to an ulp of the larger gradients
                _assert_rounded(g, e, dtype, 1.0, "%s lam %g input %d" % (which, lam, i),
                                ULP[dtype] * e.abs().max().item())


def test_mixed_score_dtypes_are_promoted():
    """Scores of different dtypes meet in torch.promote_types of them (autocast's rule for its
    multi-input ops): the result is the promoted call's, and each score's gradient comes back
    in its own dtype (autograd's cast)."""
    gen = torch.Generator().manual_seed(33)
    B, K = 17, 3
    raw, pos, neg, y = rand_case(gen, B, K)
    for dts, common in (((torch.bfloat16, torch.float32, torch.bfloat16), torch.float32),
                        ((torch.bfloat16, torch.float16, torch.float16), torch.float32),
                        ((torch.float16, torch.float16, torch.float32), torch.float32)):
        mixed = [t.to(d).requires_grad_() for t, d in zip((raw, pos, neg), dts)]
        same = [t.detach().to(common).requires_grad_() for t in mixed]
        out_m = st.pos_neg_loss(*mixed, y, 0.5, "mean")
        out_s = st.pos_neg_loss(*same, y, 0.5, "mean")
        for a, b in zip(out_m, out_s):
            assert torch.equal(a, b)
        g_m = torch.autograd.grad(out_m.loss, mixed)
        g_s = torch.autograd.grad(out_s.loss, same)
        for gm, gs, d in zip(g_m, g_s, dts):
            assert gm.dtype == d and torch.equal(gm, gs.to(d))
    # the positive-only loss too
    out = st.positive_only_loss(raw.bfloat16(), pos, y)
    assert torch.equal(out.loss, st.positive_only_loss(raw.bfloat16().float(), pos, y).loss)


def test_all_half_scores_are_not_copied(monkeypatch):
    """16-bit scores go to the library as they are (dtype code 1 or 2), no float32 copy."""
    from semcl import _capi
    seen = []
    orig = _capi.call

    def spy(function, handle, *args):
        if function == "semcl_pos_neg_ex":
            seen.append((args[2:5], args[8]._obj.dtype))
        return orig(function, handle, *args)
    monkeypatch.setattr(_capi, "call", spy)
    gen = torch.Generator().manual_seed(34)
    raw, pos, neg, y = rand_case(gen, 8, 3)
    for dtype, code in ((torch.bfloat16, 1), (torch.float16, 2)):
        h = [t.to(dtype) for t in (raw, pos, neg)]
        st.pos_neg_loss(*h, y)
        assert seen[-1] == (tuple(t.data_ptr() for t in h), code)


# ---- torch.autocast (CPU bfloat16; CUDA in test_cuda.py) ------------------------------------------
class TwoTower(torch.nn.Module):
    def __init__(self, d=8):
        super().__init__()
        self.user = torch.nn.Linear(d, d)
        self.item = torch.nn.Linear(d, d)

    def forward(self, u, items):  # (B, d), (B, N, d) -> (B, N) logits via a batched matmul
        return torch.bmm(self.item(items), self.user(u).unsqueeze(-1)).squeeze(-1)


def _batch(gen, B=16, K=5, d=8):
    return (torch.randn(B, d, generator=gen), torch.randn(B, 1, d, generator=gen),
            torch.randn(B, 1, d, generator=gen), torch.randn(B, K, d, generator=gen),
            (torch.rand(B, 1, generator=gen) < 0.4).float())


def test_autocast_cpu_bf16_logits_train_without_float():
    """Under torch.autocast("cpu", bfloat16) the model's logits are bfloat16; the losses take
    them as they are and return float32 (as binary_cross_entropy_with_logits does under
    autocast); the parameter gradients equal those of the plain-PyTorch reference loss
    backpropagated through the same autocast graph."""
    torch.manual_seed(0)
    model = TwoTower()
    gen = torch.Generator().manual_seed(35)
    u, it_raw, it_pos, it_neg, y = _batch(gen)
    mask = torch.rand(16, 5, generator=gen) < 0.8
    w = torch.rand(16, 1, generator=gen) + 0.5

    def step(loss_fn):
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            raw, pos, neg = model(u, it_raw), model(u, it_pos), model(u, it_neg)
            assert raw.dtype == neg.dtype == torch.bfloat16
            out = loss_fn(raw, pos, neg)
            bce = F.binary_cross_entropy_with_logits(raw, y, weight=w, pos_weight=torch.tensor(
                [2.0]))
        out[0].backward()
        return out, bce, [p.grad.clone() for p in model.parameters()]

    got, bce, g_got = step(lambda r, p, n: st.pos_neg_loss(r, p, n, y, 0.5, weight=w,
                                                           pos_weight=2.0, neg_mask=mask))
    assert got.loss.dtype == torch.float32 and bce.dtype == torch.float32
    assert_close(got.loss_ctr, bce.double(), rtol=1e-5, atol=1e-6)
    exp, _, g_exp = step(lambda r, p, n: ref_losses(
        r.double().reshape(-1), p.double().reshape(-1), n.double(), y.double().reshape(-1), 0.5,
        "mean", weight=w.double().reshape(-1), pos_weight=torch.tensor([2.0], dtype=torch.float64),
        mask=mask))
    assert_close(got.loss, exp[0], rtol=1e-6, atol=1e-7)
    # both gradients reach the bfloat16 logits rounded once; the bfloat16 matmuls behind them
    # then round again: agreement to a few bfloat16 ulps
    for a, b in zip(g_got, g_exp):
        assert_close(a, b.double(), rtol=3e-2, atol=3e-2)


def test_autocast_training_reduces_the_loss():
    """A few SGD steps under CPU autocast with the module: the loss goes down."""
    torch.manual_seed(1)
    model = TwoTower()
    crit = st.PosNegLoss(lambda_rank=0.5, pos_weight=2.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    gen = torch.Generator().manual_seed(36)
    batch = _batch(gen, B=64)
    count = torch.randint(1, 6, (64, 1), generator=gen)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        u, it_raw, it_pos, it_neg, y = batch
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = crit(model(u, it_raw), model(u, it_pos), model(u, it_neg), y,
                        neg_count=count)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses
