"""The optional keywords weight=, pos_weight= (both losses), neg_mask= and neg_count= (pairwise
loss): values and gradients.

Oracles, all independent of semcl: conftest.ref_losses in float64 (plain PyTorch formulas:
F.binary_cross_entropy_with_logits with weight and pos_weight, the masked softplus mean), the
same formulas written inline in a test, and central finite differences of the float64 reference
loss (no autograd involved) and of semcl's own float32 forward."""
import pytest
import torch
import torch.nn.functional as F

import semcl.torch as st
from conftest import assert_close, count_mask, rand_case, ref_losses

REDUCTIONS = ["mean", "sum", "none"]
# each option alone, and the combinations a training loop uses
OPTION_SETS = ["weight", "pos_weight_scalar", "pos_weight_per_sample", "neg_mask", "neg_count",
               "mask_and_count", "all"]


def _options(kind, B, K, gen, which):
    """(keywords for semcl, keywords for ref_losses in float64)."""
    kw, ref = {}, {}
    if kind in ("weight", "all"):
        w = torch.rand(B, generator=gen) * 2
        kw["weight"], ref["weight"] = w, w.double()
    if kind == "pos_weight_scalar":
        kw["pos_weight"], ref["pos_weight"] = 2.5, torch.tensor([2.5], dtype=torch.float64)
    if kind in ("pos_weight_per_sample", "all"):
        pw = torch.rand(B, generator=gen) * 4
        kw["pos_weight"], ref["pos_weight"] = pw, pw.double()
    if which == "pos_neg":
        mask = torch.ones(B, K, dtype=torch.bool)
        if kind in ("neg_mask", "mask_and_count", "all"):
            kw["neg_mask"] = torch.rand(B, K, generator=gen) < 0.6
            mask = mask & kw["neg_mask"]
        if kind in ("neg_count", "mask_and_count", "all"):
            kw["neg_count"] = torch.randint(0, K + 1, (B,), generator=gen)
            mask = mask & count_mask(kw["neg_count"], K)
        if "neg_mask" in kw or "neg_count" in kw:
            ref["mask"] = mask
    return kw, ref


def _call(which, raw, pos, neg, y, lam, red, **kw):
    if which == "positive_only":
        return st.positive_only_loss(raw, pos, y, lam, red, **kw)
    return st.pos_neg_loss(raw, pos, neg, y, lam, red, **kw)


def _check_against_reference(which, red, lam, kind, B=37, K=6, seed=0, upstream="all"):
    gen = torch.Generator().manual_seed(seed)
    raw, pos, neg, y = rand_case(gen, B, K, soft=seed % 2 == 1)
    kw, ref_kw = _options(kind, B, K, gen, which)
    n = 2 if which == "positive_only" else 3
    leaves = [t.clone().requires_grad_() for t in (raw, pos, neg)[:n]]
    out = _call(which, *(leaves + [None] * (3 - n)), y, lam, red, **kw)
    ref_leaves = [t.double().requires_grad_() for t in (raw, pos, neg)[:n]]
    ref = ref_losses(*(ref_leaves + [None] * (3 - n)), y.double(), lam, red, **ref_kw)
    for a, b in zip(out, ref):
        assert a.dtype == torch.float32
        assert_close(a, b, msg="%s %s %s" % (which, red, kind))
    # gradients for random upstreams on the outputs (all three, or only loss_aux: the
    # component path, which recomputes with the options when lambda = 0)
    gos = [torch.randn(ref[0].shape, generator=gen, dtype=torch.float64) for _ in range(3)]
    sel = [0, 1, 2] if upstream == "all" else [2]
    got = torch.autograd.grad([out[i] for i in sel], leaves, [gos[i].float() for i in sel],
                              allow_unused=True)
    exp = torch.autograd.grad([ref[i] for i in sel], ref_leaves, [gos[i] for i in sel],
                              allow_unused=True)
    for g, e, t in zip(got, exp, leaves):
        # score_raw is not in loss_aux: no gradient from either side
        assert (g is None) == (e is None)
        if g is None:
            continue
        assert_close(g, e, rtol=3e-5, atol=2e-6, msg="grad %s %s %s" % (which, red, kind))


# the positive-only loss has no negatives to mask
CASES = [(which, kind) for which in ("positive_only", "pos_neg") for kind in OPTION_SETS
         if which == "pos_neg" or kind not in ("neg_mask", "neg_count", "mask_and_count")]


@pytest.mark.parametrize("which,kind", CASES)
@pytest.mark.parametrize("lam", [0.7, 0.0])
@pytest.mark.parametrize("red", REDUCTIONS)
def test_options_against_the_reference(which, red, lam, kind):
    for seed, upstream in ((1, "all"), (2, "aux")):
        _check_against_reference(which, red, lam, kind, seed=seed, upstream=upstream)


def test_k_of_one_and_batch_of_one():
    for B, K in ((1, 1), (1, 5), (9, 1)):
        for red in REDUCTIONS:
            _check_against_reference("pos_neg", red, 0.4, "all", B=B, K=K, seed=B + K)
            _check_against_reference("positive_only", red, 0.4, "all", B=B, K=K, seed=B)


# ---- PyTorch's own BCE and the masked mean, written out ------------------------------------------
@pytest.mark.parametrize("red", REDUCTIONS)
def test_loss_ctr_is_bce_with_logits_with_weight_and_pos_weight(red):
    """loss_ctr equals nn.BCEWithLogitsLoss(weight, pos_weight) on the same float32 inputs
    (PyTorch computing in float64 from them), values and d/d score_raw."""
    gen = torch.Generator().manual_seed(5)
    B = 50
    raw, pos, neg, y = rand_case(gen, B, 4, soft=True)
    w, pw = torch.rand(B, generator=gen) * 3, torch.rand(B, generator=gen) * 5
    r = raw.clone().requires_grad_()
    bce = torch.nn.BCEWithLogitsLoss(weight=w.double(), pos_weight=pw.double(), reduction=red)
    rd = raw.double().requires_grad_()
    exp = bce(rd, y.double())
    for which in ("positive_only", "pos_neg"):
        got = _call(which, r, pos, neg, y, 0.3, red, weight=w, pos_weight=pw).loss_ctr
        assert_close(got, exp)
        up = torch.randn(exp.shape, generator=gen, dtype=torch.float64)
        g = torch.autograd.grad(got, r, up.float())[0]
        e = torch.autograd.grad(exp, rd, up, retain_graph=True)[0]
        assert_close(g, e, rtol=3e-5, atol=2e-6)


def test_loss_pair_is_the_masked_softplus_mean():
    """'mean': (softplus(-s*(pos-neg)) * mask).sum() / mask.sum() over all real pairs (not the
    mean of row means); 'none': each row's own masked mean; 'sum': the sum of those."""
    gen = torch.Generator().manual_seed(6)
    B, K = 40, 7
    raw, pos, neg, y = [t.double() for t in rand_case(gen, B, K)]
    mask = torch.rand(B, K, generator=gen) < 0.5
    mask[3] = False  # a row without real negatives
    s = (2 * y - 1).unsqueeze(1)
    sp = F.softplus(-s * (pos.unsqueeze(1) - neg)) * mask
    mean = sp.sum() / mask.sum()
    rows = sp.sum(1) / mask.sum(1).clamp(min=1)
    args = [t.float() for t in (raw, pos, neg, y)]
    assert_close(st.pos_neg_loss(*args, neg_mask=mask).loss_pair, mean)
    assert_close(st.pos_neg_loss(*args, reduction="none", neg_mask=mask).loss_pair, rows)
    assert_close(st.pos_neg_loss(*args, reduction="sum", neg_mask=mask).loss_pair, rows.sum())
    # and the mean of row means is a different number here (rows have different counts)
    assert abs(rows.mean().item() - mean.item()) > 1e-3


# ---- finite differences (no autograd in the oracle) --------------------------------------------
def _fd_case(which, red, gen, B=4, K=3):
    raw, pos, neg, y = rand_case(gen, B, K, scale=2.0, soft=True)
    kw = {"weight": torch.rand(B, generator=gen) * 2 - 0.5,  # one may be negative
          "pos_weight": torch.rand(B, generator=gen) * 3}
    if which == "pos_neg":
        kw["neg_mask"] = torch.rand(B, K, generator=gen) < 0.7
        kw["neg_count"] = torch.randint(0, K + 1, (B,), generator=gen)
    up = torch.randn((B,) if red == "none" else (), generator=gen, dtype=torch.float64)
    return [raw, pos, neg if which == "pos_neg" else None, y], kw, up


def _ref_kw(kw, K):
    ref = {"weight": kw["weight"].double(), "pos_weight": kw["pos_weight"].double()}
    if "neg_mask" in kw:
        ref["mask"] = kw["neg_mask"] & count_mask(kw["neg_count"], K)
    return ref


@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("which", ["positive_only", "pos_neg"])
def test_gradients_against_finite_differences_of_the_reference(which, red):
    """Every coordinate: semcl's float32 gradient of sum(up * (loss + loss_ctr - 2 loss_aux))
    against the central difference of the same function of the float64 reference, evaluated at
    the float32 inputs (h = 1e-6: truncation ~1e-12, rounding ~1e-10)."""
    gen = torch.Generator().manual_seed(7)
    (raw, pos, neg, y), kw, up = _fd_case(which, red, gen)
    n = 2 if neg is None else 3
    K = 3
    ref_kw = _ref_kw(kw, K)
    lam = 0.6

    def f64(xs):
        r = ref_losses(xs[0], xs[1], xs[2] if n == 3 else None, y.double(), lam, red, **ref_kw)
        return ((r[0] + r[1] - 2 * r[2]) * up).sum().item()

    leaves = [t.clone().requires_grad_() for t in (raw, pos, neg)[:n]]
    out = _call(which, *(leaves + [None] * (3 - n)), y, lam, red, **kw)
    obj = ((out[0] + out[1] - 2 * out[2]) * up.float()).sum()
    got = torch.autograd.grad(obj, leaves)
    base = [t.double() for t in (raw, pos, neg)[:n]]
    h = 1e-6
    for i in range(n):
        fd = torch.zeros_like(base[i])
        for j in range(base[i].numel()):
            xs_p = [t.clone() for t in base]
            xs_m = [t.clone() for t in base]
            xs_p[i].view(-1)[j] += h
            xs_m[i].view(-1)[j] -= h
            fd.view(-1)[j] = (f64(xs_p) - f64(xs_m)) / (2 * h)
        assert_close(got[i], fd, rtol=1e-4, atol=1e-5, msg="input %d" % i)
    if n == 3:  # masked negatives: no influence on the loss, gradient exactly 0 (the library
        # writes +0; a negative upstream scales it to -0)
        real = ref_kw["mask"]
        assert torch.equal(got[2][~real], torch.zeros(int((~real).sum())))


@pytest.mark.parametrize("which", ["positive_only", "pos_neg"])
def test_gradients_against_finite_differences_of_semcl_itself(which):
    """Forward and backward of the library agree: the directional derivative of semcl's own
    float32 loss (central difference in float64 arithmetic on its float32 results, h = 1e-2)
    matches the gradient it returns, along random directions."""
    gen = torch.Generator().manual_seed(8)
    B, K = 24, 5
    (raw, pos, neg, y), kw, _ = _fd_case(which, "mean", gen, B, K)
    n = 2 if neg is None else 3
    xs = [t.clone().requires_grad_() for t in (raw, pos, neg)[:n]]
    loss = _call(which, *(xs + [None] * (3 - n)), y, 0.8, "mean", **kw).loss
    grads = torch.autograd.grad(loss, xs)
    h = 1e-2
    for _ in range(4):
        dirs = [torch.randn(t.shape, generator=gen) for t in xs]
        with torch.no_grad():
            lp = _call(which, *([t + h * d for t, d in zip(xs, dirs)] + [None] * (3 - n)), y,
                       0.8, "mean", **kw).loss.double()
            lm = _call(which, *([t - h * d for t, d in zip(xs, dirs)] + [None] * (3 - n)), y,
                       0.8, "mean", **kw).loss.double()
        fd = ((lp - lm) / (2 * h)).item()
        analytic = sum((g.double() * d.double()).sum().item() for g, d in zip(grads, dirs))
        assert abs(fd - analytic) <= 2e-3 * max(1.0, abs(analytic)), (fd, analytic)


# ---- edge cases ----------------------------------------------------------------------------------
@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("how", ["mask", "count"])
def test_all_negatives_masked(red, how):
    """No real pair: loss_pair = 0 (every reduction), loss = loss_ctr, no gradient reaches the
    pairwise scores (exactly +0), score_raw's is the BCE term's alone."""
    gen = torch.Generator().manual_seed(9)
    B, K = 11, 4
    raw, pos, neg, y = rand_case(gen, B, K)
    kw = ({"neg_mask": torch.zeros(B, K, dtype=torch.bool)} if how == "mask"
          else {"neg_count": torch.zeros(B, dtype=torch.int64)})
    leaves = [t.clone().requires_grad_() for t in (raw, pos, neg)]
    out = st.pos_neg_loss(*leaves, y, 0.9, red, **kw)
    assert torch.equal(out.loss_pair, torch.zeros_like(out.loss_pair))
    assert torch.equal(out.loss, out.loss_ctr)
    assert_close(out.loss_ctr, F.binary_cross_entropy_with_logits(raw.double(), y.double(),
                                                                  reduction=red))
    g = torch.autograd.grad(out.loss.sum(), leaves)
    for t in g[1:]:
        assert torch.equal(t, torch.zeros_like(t)) and not torch.signbit(t).any()
    rd = raw.double().requires_grad_()
    e = torch.autograd.grad(F.binary_cross_entropy_with_logits(rd, y.double(), reduction=red)
                            .sum(), rd)[0]
    assert_close(g[0], e, rtol=3e-5, atol=2e-6)


def test_rows_without_real_negatives_are_left_out_of_the_mean():
    gen = torch.Generator().manual_seed(10)
    B, K = 8, 3
    raw, pos, neg, y = rand_case(gen, B, K)
    count = torch.tensor([3, 0, 1, 0, 2, 3, 0, 1])
    out = st.pos_neg_loss(raw, pos, neg, y, 1.0, "none", neg_count=count)
    assert torch.equal(out.loss_pair[count == 0], torch.zeros(3))
    mean = st.pos_neg_loss(raw, pos, neg, y, 1.0, "mean", neg_count=count).loss_pair
    # the pairs of the rows that have some, divided by their number (11)
    keep = count > 0
    sub = st.pos_neg_loss(raw[keep], pos[keep], neg[keep], y[keep], 1.0, "mean",
                          neg_count=count[keep]).loss_pair
    assert_close(mean, sub.double(), rtol=1e-6, atol=1e-7)
    assert_close(mean, ref_losses(raw.double(), pos.double(), neg.double(), y.double(), 1.0,
                                  "mean", mask=count_mask(count, K))[2])


@pytest.mark.parametrize("which", ["positive_only", "pos_neg"])
@pytest.mark.parametrize("red", REDUCTIONS)
def test_all_weights_zero(which, red):
    gen = torch.Generator().manual_seed(11)
    B, K = 9, 4
    raw, pos, neg, y = rand_case(gen, B, K)
    leaves = [t.clone().requires_grad_() for t in (raw, pos, neg)]
    n = 2 if which == "positive_only" else 3
    out = _call(which, *(leaves[:n] + [None] * (3 - n)), y, 0.5, red, weight=torch.zeros(B),
                pos_weight=3.0)
    for o in out:
        assert torch.equal(o, torch.zeros_like(o))
    for g in torch.autograd.grad(out.loss.sum(), leaves[:n]):
        assert torch.equal(g, torch.zeros_like(g))


def test_negative_weights_are_computed_as_given_like_pytorch():
    """Decision: any float weight is taken as is (as PyTorch's BCE takes it); a negative
    weight flips the sign of that sample's contribution."""
    gen = torch.Generator().manual_seed(12)
    B = 10
    raw, pos, neg, y = rand_case(gen, B, 3)
    w = torch.randn(B, generator=gen)
    assert (w < 0).any()
    out = st.pos_neg_loss(raw, pos, neg, y, 0.5, "none", weight=w)
    plain = st.pos_neg_loss(raw, pos, neg, y, 0.5, "none")
    for a, b in zip(out, plain):
        assert_close(a, (b.double() * w.double()), rtol=1e-6, atol=1e-7)
    assert_close(out.loss_ctr, F.binary_cross_entropy_with_logits(
        raw.double(), y.double(), weight=w.double(), reduction="none"))


def test_nan_weight_propagates_to_its_sample_only_like_pytorch():
    """A NaN weight is not refused (checking values would cost a host synchronisation): like
    F.binary_cross_entropy_with_logits, it makes its own sample's values and gradients NaN,
    and the mean NaN; the other samples' gradients stay finite."""
    gen = torch.Generator().manual_seed(13)
    B = 6
    raw, pos, neg, y = rand_case(gen, B, 3)
    w = torch.ones(B)
    w[2] = float("nan")
    r = raw.clone().requires_grad_()
    out = st.pos_neg_loss(r, pos, neg, y, 0.5, "none", weight=w)
    isnan = torch.isnan(out.loss)
    assert isnan[2] and not isnan[torch.arange(B) != 2].any()
    mean = st.pos_neg_loss(r, pos, neg, y, 0.5, "mean", weight=w)
    assert torch.isnan(mean.loss)
    g = torch.autograd.grad(mean.loss_ctr, r)[0]
    rd = raw.double().requires_grad_()
    e = torch.autograd.grad(F.binary_cross_entropy_with_logits(rd, y.double(),
                                                               weight=w.double()), rd)[0]
    assert torch.equal(torch.isnan(g), torch.isnan(e)) and torch.isnan(g[2])
    assert_close(g, e, rtol=3e-5, atol=2e-6)


@pytest.mark.parametrize("pad", [float("nan"), float("inf"), -float("inf"), 1e30])
def test_padding_values_under_the_mask_do_not_matter(pad):
    """Masked slots may hold anything: same bits as zero padding, gradient +0 there."""
    gen = torch.Generator().manual_seed(14)
    B, K = 12, 5
    raw, pos, neg, y = rand_case(gen, B, K)
    count = torch.randint(0, K + 1, (B,), generator=gen)
    real = count_mask(count, K)
    results = []
    for fill in (0.0, pad):
        n = torch.where(real, neg, torch.full_like(neg, fill)).requires_grad_()
        for kw in ({"neg_count": count}, {"neg_mask": real}):
            for red in REDUCTIONS:
                out = st.pos_neg_loss(raw, pos, n, y, 0.7, red, **kw)
                g = torch.autograd.grad(out.loss.sum(), n)[0]
                results.append((fill, tuple(out), g))
    half = len(results) // 2
    for (f0, o0, g0), (f1, o1, g1) in zip(results[:half], results[half:]):
        for a, b in zip(o0, o1):
            assert torch.equal(a, b)
        assert torch.equal(g0, g1)
        assert torch.equal(g1[~real], torch.zeros(int((~real).sum())))


def test_neg_count_is_clamped_and_combined_with_the_mask():
    """Counts outside [0, K] are clamped (as the library documents), also for int64 values
    beyond the int32 range; with a mask too, a negative is real when both say so."""
    gen = torch.Generator().manual_seed(15)
    B, K = 6, 4
    raw, pos, neg, y = rand_case(gen, B, K)
    count = torch.tensor([-3, 0, 2, 4, 9, 2 ** 40])
    clamped = torch.tensor([0, 0, 2, 4, 4, 4])
    for red in REDUCTIONS:
        got = st.pos_neg_loss(raw, pos, neg, y, 1.0, red, neg_count=count)
        exp = st.pos_neg_loss(raw, pos, neg, y, 1.0, red, neg_count=clamped.int())
        for a, b in zip(got, exp):
            assert torch.equal(a, b)
        ref = ref_losses(raw.double(), pos.double(), neg.double(), y.double(), 1.0, red,
                         mask=count_mask(clamped, K))
        for a, b in zip(got, ref):
            assert_close(a, b)
    mask = torch.rand(B, K, generator=gen) < 0.5
    both = st.pos_neg_loss(raw, pos, neg, y, 1.0, "none", neg_count=clamped, neg_mask=mask)
    anded = st.pos_neg_loss(raw, pos, neg, y, 1.0, "none",
                            neg_mask=mask & count_mask(clamped, K))
    for a, b in zip(both, anded):
        assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", [torch.int8, torch.int16, torch.int32, torch.int64,
                                   torch.uint8])
def test_neg_count_integer_dtypes(dtype):
    gen = torch.Generator().manual_seed(16)
    raw, pos, neg, y = rand_case(gen, 5, 3)
    count = torch.tensor([0, 1, 2, 3, 1])
    got = st.pos_neg_loss(raw, pos, neg, y, neg_count=count.to(dtype))
    exp = st.pos_neg_loss(raw, pos, neg, y, neg_mask=count_mask(count, 3))
    for a, b in zip(got, exp):
        assert torch.equal(a, b)


def test_pos_weight_forms_agree():
    """A number, a 0-d / (1,) / (1, 1) tensor and a per-sample tensor of one value: one
    result; with (B, 1) scores, a (B, 1) per-sample pos_weight."""
    gen = torch.Generator().manual_seed(17)
    B = 7
    raw, pos, neg, y = rand_case(gen, B, 2)
    forms = [3.0, torch.tensor(3.0), torch.tensor([3.0]), torch.tensor([[3.0]]),
             torch.full((B,), 3.0), torch.full((B,), 3, dtype=torch.int64),
             torch.tensor(3.0, dtype=torch.float64)]
    exp = st.pos_neg_loss(raw, pos, neg, y, 0.5, "none", pos_weight=forms[0])
    assert_close(exp.loss_ctr, F.binary_cross_entropy_with_logits(
        raw.double(), y.double(), pos_weight=torch.tensor([3.0], dtype=torch.float64),
        reduction="none"))
    for pw in forms[1:]:
        got = st.pos_neg_loss(raw, pos, neg, y, 0.5, "none", pos_weight=pw)
        for a, b in zip(got, exp):
            assert torch.equal(a, b), pw
    col = st.pos_neg_loss(raw[:, None], pos[:, None], neg, y[:, None], 0.5, "none",
                          pos_weight=torch.full((B, 1), 3.0), weight=torch.ones(B, 1),
                          neg_count=torch.full((B, 1), 2))
    for a, b in zip(col, exp):
        assert a.shape == (B, 1) and torch.equal(a.reshape(B), b)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16, torch.int64,
                                   torch.bool])
def test_weight_dtypes_are_converted_to_float32(dtype):
    """As binary_cross_entropy_with_logits takes them: float, integer or bool weights."""
    gen = torch.Generator().manual_seed(18)
    raw, pos, neg, y = rand_case(gen, 8, 3)
    w = (torch.rand(8, generator=gen) * 3).to(dtype)
    got = st.pos_neg_loss(raw, pos, neg, y, weight=w, reduction="none")
    exp = st.pos_neg_loss(raw, pos, neg, y, weight=w.float(), reduction="none")
    for a, b in zip(got, exp):
        assert torch.equal(a, b)


def test_non_contiguous_options():
    gen = torch.Generator().manual_seed(19)
    B, K = 9, 4
    raw, pos, neg, y = rand_case(gen, B, K)
    mask_t = (torch.rand(K, B, generator=gen) < 0.6).t()
    w_strided = (torch.rand(B, 2, generator=gen) + 0.5)[:, 0]
    assert not mask_t.is_contiguous() and not w_strided.is_contiguous()
    got = st.pos_neg_loss(raw, pos, neg, y, 0.5, "none", neg_mask=mask_t, weight=w_strided)
    exp = st.pos_neg_loss(raw, pos, neg, y, 0.5, "none", neg_mask=mask_t.contiguous(),
                          weight=w_strided.contiguous())
    for a, b in zip(got, exp):
        assert torch.equal(a, b)


def test_no_copy_of_a_contiguous_mask(monkeypatch):
    """neg_mask travels as its own bytes (a torch.bool element is one byte): the library gets
    the tensor's pointer, not a converted copy."""
    from semcl import _capi
    seen = []
    orig = _capi.call

    def spy(function, handle, *args):
        if function == "semcl_pos_neg_ex":
            opts = args[8]._obj  # the byref'd semcl_options
            seen.append((opts.neg_mask, opts.neg_count, opts.weight, opts.pos_weight,
                         opts.pos_weight_count, opts.dtype))
        return orig(function, handle, *args)
    monkeypatch.setattr(_capi, "call", spy)
    gen = torch.Generator().manual_seed(20)
    raw, pos, neg, y = rand_case(gen, 6, 3)
    mask = torch.rand(6, 3, generator=gen) < 0.5
    count = torch.full((6,), 2, dtype=torch.int32)
    w = torch.rand(6, generator=gen)
    pw = torch.rand(6, generator=gen)
    st.pos_neg_loss(raw, pos, neg, y, neg_mask=mask, neg_count=count, weight=w, pos_weight=pw)
    assert seen == [(mask.data_ptr(), count.data_ptr(), w.data_ptr(), pw.data_ptr(), 6, 0)]
    seen.clear()
    st.pos_neg_loss(raw, pos, neg, y, pos_weight=2.0)
    assert seen[0][:3] == (None,) * 3 and seen[0][3] is not None and seen[0][4] == 1


def test_options_give_no_gradient_and_may_require_grad_under_no_grad():
    """weight / pos_weight that require grad are refused while autograd records (as
    binary_cross_entropy_with_logits refuses them); under torch.no_grad() they are read."""
    gen = torch.Generator().manual_seed(21)
    raw, pos, neg, y = rand_case(gen, 5, 2)
    w = torch.rand(5, generator=gen, requires_grad=True)
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument "
                                           "'weight'"):
        F.binary_cross_entropy_with_logits(raw.requires_grad_(), y, weight=w)
    raw = raw.detach()
    with pytest.raises(ValueError, match=r"weight requires grad.*pass weight\.detach\(\)"):
        st.pos_neg_loss(raw, pos, neg, y, weight=w)
    with pytest.raises(ValueError, match=r"pos_weight requires grad"):
        st.positive_only_loss(raw, pos, y, pos_weight=w)
    with torch.no_grad():
        got = st.pos_neg_loss(raw, pos, neg, y, weight=w)
    exp = st.pos_neg_loss(raw, pos, neg, y, weight=w.detach())
    assert torch.equal(got.loss, exp.loss)


# ---- modules -------------------------------------------------------------------------------------
def test_modules_take_the_keywords():
    gen = torch.Generator().manual_seed(22)
    B, K = 10, 4
    raw, pos, neg, y = rand_case(gen, B, K)
    w = torch.rand(B, generator=gen)
    mask = torch.rand(B, K, generator=gen) < 0.6
    count = torch.randint(0, K + 1, (B,), generator=gen)
    crit = st.PosNegLoss(0.4, "sum")
    got = crit(raw, pos, neg, y, weight=w, pos_weight=2.0, neg_mask=mask, neg_count=count)
    exp = st.pos_neg_loss(raw, pos, neg, y, 0.4, "sum", weight=w, pos_weight=2.0,
                          neg_mask=mask, neg_count=count).loss
    assert torch.equal(got, exp)
    crit1 = st.PositiveOnlyLoss(0.4, "none", return_components=True)
    got = crit1(raw, pos, y, weight=w, pos_weight=2.0)
    exp = st.positive_only_loss(raw, pos, y, 0.4, "none", weight=w, pos_weight=2.0)
    for a, b in zip(got, exp):
        assert torch.equal(a, b)


def test_module_pos_weight_in_the_constructor_like_bce_with_logits_loss():
    gen = torch.Generator().manual_seed(23)
    B = 8
    raw, pos, neg, y = rand_case(gen, B, 3)
    pw = torch.tensor([2.0])
    crit = st.PosNegLoss(0.5, pos_weight=pw)
    assert "pos_weight" in crit.state_dict() and torch.equal(crit.state_dict()["pos_weight"], pw)
    assert repr(crit) == "PosNegLoss(lambda_rank=0.5, reduction='mean', pos_weight=<tensor of " \
                         "shape (1,)>)"
    exp = st.pos_neg_loss(raw, pos, neg, y, 0.5, pos_weight=pw).loss
    assert torch.equal(crit(raw, pos, neg, y), exp)
    num = st.PositiveOnlyLoss(pos_weight=2)
    assert repr(num) == "PositiveOnlyLoss(lambda_sem=1.0, reduction='mean', pos_weight=2.0)"
    assert num.state_dict() == {} and num.pos_weight == 2.0
    assert torch.equal(num(raw, pos, y), st.positive_only_loss(raw, pos, y, pos_weight=2.0).loss)
    # and the loss it gives is BCEWithLogitsLoss's for the BCE term
    bce = torch.nn.BCEWithLogitsLoss(pos_weight=pw.double())
    comp = st.PosNegLoss(0.5, pos_weight=pw, return_components=True)(raw, pos, neg, y)
    assert_close(comp.loss_ctr, bce(raw.double(), y.double()))
    with pytest.raises(ValueError, match="pos_weight was given to the constructor and to "
                                         "forward"):
        crit(raw, pos, neg, y, pos_weight=3.0)
    with pytest.raises(TypeError, match="pos_weight must be None, a real number or a "
                                        "torch.Tensor, got str"):
        st.PosNegLoss(pos_weight="2")
    with pytest.raises(ValueError, match="pos_weight requires grad"):
        st.PositiveOnlyLoss(pos_weight=torch.ones(1, requires_grad=True))
