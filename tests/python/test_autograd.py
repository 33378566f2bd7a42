"""Reductions, upstream gradients on all three outputs, requires_grad combinations,
non-contiguous inputs, label dtypes, no host sync, double backward.

Oracle: conftest.ref_losses in float64, differentiated by autograd for the same upstream
gradients (for 'mean' it is the seed's formula; 'sum' and 'none' follow docs/losses.md)."""
import itertools
import threading

import pytest
import torch

import semcl.torch as st
from conftest import assert_close, rand_case, ref_losses

REDUCTIONS = ["mean", "sum", "none"]
WHICH = ["positive_only", "pos_neg"]
# 0.0 and 1e-8 exercise the recompute path of the pairwise backward (outside the G/lambda range)
LAMBDAS = [1.0, 0.3, 0.0, 1e-8, 2.5]
UPSTREAMS = ["L_ones", "L_rand", "ctr", "aux", "all", "ctr_aux"]


def _ours(which, raw, pos, neg, y, lam, reduction):
    if which == "positive_only":
        return st.positive_only_loss(raw, pos, y, lam, reduction)
    return st.pos_neg_loss(raw, pos, neg, y, lam, reduction)


def _grad_outputs(kind, shape, gen):
    def rnd():
        return (torch.randn(shape, generator=gen) * 2).to(torch.float32)
    if kind == "L_ones":
        return [torch.ones(shape), None, None]
    if kind == "L_rand":
        return [rnd(), None, None]
    if kind == "ctr":
        return [None, rnd(), None]
    if kind == "aux":
        return [None, None, rnd()]
    if kind == "all":
        return [rnd(), rnd(), rnd()]
    if kind == "ctr_aux":
        return [None, rnd(), rnd()]
    raise AssertionError(kind)


def _check(which, B, K, lam, reduction, upstream, requires=(True, True, True), gen_seed=0,
           transform=None, scale=3.0):
    gen = torch.Generator().manual_seed(gen_seed)
    raw, pos, neg, y = rand_case(gen, B, K, scale=scale)
    n_in = 2 if which == "positive_only" else 3
    base = [raw, pos, neg][:n_in]
    leaves = [t.clone().requires_grad_(r) for t, r in zip(base, requires)]
    inputs = [transform(t) if transform else t for t in leaves]
    out = _ours(which, *(inputs + [None] * (3 - n_in)), y, lam, reduction)
    ref_leaves = [t.double().requires_grad_(r) for t, r in zip(base, requires)]
    ref = ref_losses(*(ref_leaves + [None] * (3 - n_in)), y.double(), lam, reduction)
    for a, b, name in zip(out, ref, ("loss", "loss_ctr", "loss_aux")):
        assert a.shape == b.shape, name
        assert_close(a, b, msg=name)
    gos = _grad_outputs(upstream, ref[0].shape, gen)
    wrt = [t for t in leaves if t.requires_grad]
    ref_wrt = [t for t in ref_leaves if t.requires_grad]
    if not wrt:
        assert all(o.grad_fn is None for o in out)
        return
    sel = [i for i in range(3) if gos[i] is not None]
    got = torch.autograd.grad([out[i] for i in sel], wrt, [gos[i] for i in sel],
                              allow_unused=True)
    rsel = [i for i in sel if ref[i].requires_grad]  # e.g. loss_ctr does not depend on neg
    exp = torch.autograd.grad([ref[i] for i in rsel], ref_wrt,
                              [gos[i].double() for i in rsel], allow_unused=True) if rsel else \
        [None] * len(ref_wrt)
    for a, b, t in zip(got, exp, wrt):
        if a is None:  # None = zero gradient; the seed's graph gives None there too
            assert b is None or not b.any(), "missing gradient"
            continue
        b = torch.zeros_like(t, dtype=torch.float64) if b is None else b
        assert a.shape == t.shape and a.dtype == torch.float32
        assert_close(a, b, rtol=3e-5, atol=2e-6, msg="%s %s %s lam=%g" % (
            which, reduction, upstream, lam))


@pytest.mark.parametrize("upstream", UPSTREAMS)
@pytest.mark.parametrize("lam", LAMBDAS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("which", WHICH)
def test_reductions_and_upstreams(which, reduction, lam, upstream):
    _check(which, 37, 5, lam, reduction, upstream, gen_seed=LAMBDAS.index(lam))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("which", WHICH)
def test_none_random_upstream_large(which, reduction):
    """Per-sample upstream on 'none' (the bug other fused-loss libraries had), K = 1 and K > 1."""
    for B, K in ((1, 1), (300, 1), (129, 17)):
        _check(which, B, K, 0.8, reduction, "L_rand", gen_seed=B + K)
        _check(which, B, K, 0.8, reduction, "all", gen_seed=B + K + 1)


@pytest.mark.parametrize("upstream", ["L_rand", "all", "aux"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("requires", [r for r in itertools.product([False, True], repeat=3)])
def test_requires_grad_combinations_pos_neg(requires, reduction, upstream):
    for lam in (0.6, 0.0):
        _check("pos_neg", 11, 4, lam, reduction, upstream, requires=requires)


@pytest.mark.parametrize("upstream", ["L_rand", "all", "ctr"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("requires", [r for r in itertools.product([False, True], repeat=2)])
def test_requires_grad_combinations_positive_only(requires, reduction, upstream):
    _check("positive_only", 11, 0, 0.6, reduction, upstream, requires=requires + (False,))


def test_only_some_inputs_get_gradients():
    raw = torch.randn(6, requires_grad=True)
    pos = torch.randn(6)
    neg = torch.randn(6, 3, requires_grad=True)
    y = torch.randint(0, 2, (6,))
    st.pos_neg_loss(raw, pos, neg, y)[0].backward()
    assert raw.grad is not None and neg.grad is not None and pos.grad is None


@pytest.mark.parametrize("which", WHICH)
def test_non_contiguous_inputs(which):
    def strided(t):
        if t.dim() == 1:
            big = torch.stack([t, t * 0 + 7.0], 1)  # (B,2); column 0 has stride 2
            return big[:, 0]
        return t.t().contiguous().t()  # (B,K) column-major view
    for red in REDUCTIONS:
        _check(which, 13, 6, 0.9, red, "all", transform=strided)
        _check(which, 13, 6, 0.9, red, "L_rand", transform=lambda t: t[::1] if t.dim() == 1
               else t.t().contiguous().t())


def test_expanded_and_offset_inputs():
    gen = torch.Generator().manual_seed(5)
    base = torch.randn(20, generator=gen)
    raw = base[3:11].clone().requires_grad_()
    pos = torch.randn(8, generator=gen).requires_grad_()
    negrow = torch.randn(1, 5, generator=gen).requires_grad_()
    y = torch.tensor([1, 0, 1, 1, 0, 0, 1, 0])
    neg = negrow.expand(8, 5)  # stride 0 rows
    out = st.pos_neg_loss(raw[0:8], pos, neg, y)
    ref = ref_losses(raw.double(), pos.double(), neg.double(), y.double(), 1.0, "mean")
    for a, b in zip(out, ref):
        assert_close(a, b)
    g = torch.autograd.grad(out[0], [negrow])[0]
    rn = negrow.detach().double().requires_grad_()
    rl = ref_losses(raw.detach().double(), pos.detach().double(), rn.expand(8, 5),
                    y.double(), 1.0, "mean")[0]
    assert_close(g, torch.autograd.grad(rl, [rn])[0])


def test_offset_views_pass_their_own_pointer():
    """Contiguous views with a storage offset are used in place (data_ptr includes offset)."""
    buf = torch.randn(40)
    raw, pos = buf[1:11], buf[20:30]
    y = torch.ones(10)
    got = st.positive_only_loss(raw, pos, y)
    exp = ref_losses(raw.double(), pos.double(), None, y.double(), 1.0, "mean")
    for a, b in zip(got, exp):
        assert_close(a, b)


def test_no_copies_of_contiguous_scores(monkeypatch):
    from semcl import _capi
    seen = []
    orig = _capi.call

    def spy(function, handle, *args):
        seen.append((function, args))
        return orig(function, handle, *args)
    monkeypatch.setattr(_capi, "call", spy)
    raw = torch.randn(9, requires_grad=True)
    pos = torch.randn(9, requires_grad=True)
    neg = torch.randn(9, 4, requires_grad=True)
    y = torch.ones(9)
    st.pos_neg_loss(raw, pos, neg, y)
    fn, args = [s for s in seen if s[0].startswith("semcl_pos_neg")][-1]
    assert fn == "semcl_pos_neg_ex"
    assert args[2:6] == (raw.data_ptr(), pos.data_ptr(), neg.data_ptr(), y.data_ptr())
    assert all(p is not None for p in args[-3:])  # forward and backward in that call
    seen.clear()
    with torch.no_grad():
        st.pos_neg_loss(raw, pos, neg, y)
    # forward-only: the _ex entry points do no gradient work when every gradient pointer is NULL
    calls = [s for s in seen if s[0].startswith("semcl_pos")]
    assert [c[0] for c in calls] == ["semcl_pos_neg_ex"] and calls[0][1][-3:] == (None,) * 3
    seen.clear()
    st.positive_only_loss(raw.detach(), pos.detach(), y)
    calls = [s for s in seen if s[0].startswith("semcl_pos")]
    assert [c[0] for c in calls] == ["semcl_positive_only_ex"]
    assert calls[0][1][-2:] == (None,) * 2


@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.int8, torch.int32, torch.int64,
                                   torch.float16, torch.float32, torch.float64])
@pytest.mark.parametrize("which", WHICH)
def test_label_dtypes(which, dtype):
    gen = torch.Generator().manual_seed(9)
    raw, pos, neg, y = rand_case(gen, 10, 3)
    yl = y.to(dtype)
    raw.requires_grad_()
    out = _ours(which, raw, pos, neg if which == "pos_neg" else None, yl, 1.0, "mean")
    ref = ref_losses(raw.double(), pos.double(), neg.double() if which == "pos_neg" else None,
                     y.double(), 1.0, "mean")
    for a, b in zip(out, ref):
        assert_close(a, b)


def test_soft_labels_keep_fractional_sign():
    gen = torch.Generator().manual_seed(4)
    raw, pos, neg, y = rand_case(gen, 50, 6, soft=True)
    for red in REDUCTIONS:
        out = st.pos_neg_loss(raw, pos, neg, y, 0.7, red)
        ref = ref_losses(raw.double(), pos.double(), neg.double(), y.double(), 0.7, red)
        for a, b in zip(out, ref):
            assert_close(a, b)


@pytest.mark.parametrize("which", WHICH)
def test_sum_and_none_consistent_with_mean(which):
    gen = torch.Generator().manual_seed(2)
    raw, pos, neg, y = rand_case(gen, 31, 4)
    n = neg if which == "pos_neg" else None
    m = _ours(which, raw, pos, n, y, 0.5, "mean")
    s = _ours(which, raw, pos, n, y, 0.5, "sum")
    r = _ours(which, raw, pos, n, y, 0.5, "none")
    for a, b, c in zip(m, s, r):
        assert a.shape == () and b.shape == () and c.shape == (31,)
        torch.testing.assert_close(b, a * 31, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(c.sum(), b, rtol=1e-5, atol=1e-5)


def test_lambda_as_tensor_and_int():
    gen = torch.Generator().manual_seed(8)
    raw, pos, neg, y = rand_case(gen, 7, 2)
    a = st.pos_neg_loss(raw, pos, neg, y, torch.tensor(0.5))
    b = st.pos_neg_loss(raw, pos, neg, y, 0.5)
    c = st.pos_neg_loss(raw, pos, neg, y, 2)
    d = st.pos_neg_loss(raw, pos, neg, y, 2.0)
    for x, z in zip(a + c, b + d):
        assert torch.equal(x, z)


def test_forward_only_paths_have_no_graph():
    gen = torch.Generator().manual_seed(1)
    raw, pos, neg, y = rand_case(gen, 5, 2)
    out = st.pos_neg_loss(raw, pos, neg, y)
    assert all(o.grad_fn is None and not o.requires_grad for o in out)
    raw.requires_grad_()
    with torch.no_grad():
        out2 = st.pos_neg_loss(raw, pos, neg, y)
    assert all(o.grad_fn is None for o in out2)
    out3 = st.pos_neg_loss(raw, pos, neg, y)
    assert all(o.requires_grad for o in out3)
    for a, b, c in zip(out, out2, out3):
        assert torch.equal(a, b) and torch.equal(a, c.detach())


def test_double_backward_is_a_clear_error():
    raw = torch.randn(4, requires_grad=True)
    pos = torch.randn(4, requires_grad=True)
    neg = torch.randn(4, 2, requires_grad=True)
    y = torch.tensor([1., 0., 1., 0.])
    for make in (lambda: st.positive_only_loss(raw, pos, y),
                 lambda: st.pos_neg_loss(raw, pos, neg, y),
                 lambda: st.pos_neg_loss(raw, pos, neg, y, 0.0, "none")):
        out = make()
        plain = torch.autograd.grad(out[0].sum(), raw, retain_graph=True)[0]
        # create_graph=True alone is fine (same values) ...
        g = torch.autograd.grad(out[0].sum(), raw, create_graph=True, retain_graph=True)[0]
        assert torch.equal(g.detach(), plain)
        # ... differentiating the gradient again is a clear error
        with pytest.raises(RuntimeError, match="double backward is not supported"):
            g.sum().backward()
        up = torch.ones(out[1].shape, requires_grad=True)
        g2 = torch.autograd.grad(out[1], raw, up, create_graph=True)[0]
        with pytest.raises(RuntimeError, match="double backward is not supported"):
            g2.sum().backward()


def test_backward_twice_with_retain_graph_is_stable():
    """The saved gradients are never scaled in place."""
    raw = torch.randn(6, requires_grad=True)
    pos = torch.randn(6, requires_grad=True)
    neg = torch.randn(6, 3, requires_grad=True)
    y = torch.tensor([1., 0., 1., 0., 1, 1])
    out = st.pos_neg_loss(raw, pos, neg, y, reduction="none")
    up = torch.randn(6)
    g1 = torch.autograd.grad(out[0], [raw, pos, neg], up, retain_graph=True)
    g2 = torch.autograd.grad(out[0], [raw, pos, neg], up * 3, retain_graph=True)
    g3 = torch.autograd.grad(out[0], [raw, pos, neg], up)
    for a, b, c in zip(g1, g2, g3):
        assert torch.equal(a, c)
        torch.testing.assert_close(b, a * 3)


def test_backward_makes_no_host_sync(monkeypatch):
    """backward never reads the upstream gradient on the host (.item(), bool(), float(),
    tolist()); on CUDA the sync-debug test in test_cuda.py checks the same on a device."""
    raw = torch.randn(6, requires_grad=True)
    pos = torch.randn(6, requires_grad=True)
    neg = torch.randn(6, 3, requires_grad=True)
    y = torch.tensor([1., 0., 1., 0., 1, 1])
    outs = [st.pos_neg_loss(raw, pos, neg, y, 0.0, "none"),
            st.pos_neg_loss(raw, pos, neg, y, 0.5),
            st.positive_only_loss(raw, pos, y, 0.5, "none")]

    def boom(*a, **k):
        raise AssertionError("host read of a tensor in backward")
    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, boom)
    for out in outs:
        gos = [torch.ones_like(out[0]), torch.ones_like(out[1]) * 2, torch.ones_like(out[2])]
        torch.autograd.grad(out, [raw, pos], gos, retain_graph=True)
        torch.autograd.grad(out[0], [raw, pos], gos[0])


def test_nan_propagates_and_inf_limits():
    raw = torch.tensor([0.5, float("nan"), 1.0])
    pos = torch.tensor([0.1, 0.2, 0.3])
    y = torch.tensor([1., 0., 1.])
    for red in REDUCTIONS:
        out = st.positive_only_loss(raw, pos, y, 1.0, red)
        if red == "none":
            assert torch.isnan(out[0][1]) and torch.isfinite(out[0][0])
        else:
            assert all(torch.isnan(o) for o in out)
    # BCE(+inf, y=1) = 0 and softplus(-inf) = 0: finite where PyTorch gives NaN.
    raw = torch.tensor([float("inf")])
    pos = torch.tensor([float("inf")])
    neg = torch.tensor([[float("-inf")]])
    out = st.pos_neg_loss(raw, pos, neg, torch.tensor([1.0]))
    assert [o.item() for o in out] == [0.0, 0.0, 0.0]


def test_threads_use_their_own_contexts():
    gen = torch.Generator().manual_seed(21)
    raw, pos, neg, y = rand_case(gen, 500, 33)
    expect = st.pos_neg_loss(raw, pos, neg, y, 0.5, "none")
    errors = []

    def work():
        try:
            for _ in range(20):
                got = st.pos_neg_loss(raw, pos, neg, y, 0.5, "none")
                for a, b in zip(got, expect):
                    assert torch.equal(a, b)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors


def test_results_independent_of_torch_threads():
    gen = torch.Generator().manual_seed(22)
    raw, pos, neg, y = rand_case(gen, 70000, 2)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a = st.pos_neg_loss(raw, pos, neg, y)
        torch.set_num_threads(max(2, old))
        b = st.pos_neg_loss(raw, pos, neg, y)
    finally:
        torch.set_num_threads(old)
    for x, z in zip(a, b):
        assert torch.equal(x, z)
