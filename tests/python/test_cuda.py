"""CUDA tensors -> the CUDA backend on the current device and stream: CPU vs CUDA comparisons.
Skipped (with the reason) where torch has no GPU or the loaded library has no CUDA backend."""
import threading

import pytest
import torch

import semcl
import semcl.torch as st
from conftest import assert_close, count_mask, rand_case, ref_losses

pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason="torch.cuda.is_available() is False (no GPU here)"),
]


@pytest.fixture(autouse=True)
def _needs_cuda_build():
    if not semcl.has_cuda_build():
        pytest.skip("the loaded libsemcl (%s) was built without the CUDA backend"
                    % semcl.library_path())


REDUCTIONS = ["mean", "sum", "none"]
UPSTREAMS = ["L", "all", "aux"]


def _call(which, raw, pos, neg, y, lam, red):
    if which == "positive_only":
        return st.positive_only_loss(raw, pos, y, lam, red)
    return st.pos_neg_loss(raw, pos, neg, y, lam, red)


def _both(which, B, K, lam, red, upstream, seed=0, scale=3.0, device="cuda"):
    gen = torch.Generator().manual_seed(seed)
    raw, pos, neg, y = rand_case(gen, B, K, scale=scale)
    n = 2 if which == "positive_only" else 3
    shape = (B,) if red == "none" else ()
    gos = [torch.randn(shape, generator=gen) for _ in range(3)]
    if upstream == "L":
        gos[1] = gos[2] = None
    elif upstream == "aux":
        gos[0] = gos[1] = None
    results = []
    for dev in ("cpu", device):
        leaves = [t.to(dev).requires_grad_() for t in (raw, pos, neg)[:n]]
        args = leaves + [None] * (3 - n)
        out = _call(which, *args, y.to(dev), lam, red)
        sel = [i for i in range(3) if gos[i] is not None]
        grads = torch.autograd.grad([out[i] for i in sel], leaves,
                                    [gos[i].to(dev) for i in sel], allow_unused=True)
        results.append((out, grads))
    (oc, gc), (og, gg) = results
    for a, b in zip(og, oc):
        assert a.device.type == "cuda" and a.shape == b.shape
        assert_close(a, b.double(), rtol=5e-6, atol=1e-6)
    for a, b in zip(gg, gc):
        if a is None or b is None:
            assert a is None and b is None
            continue
        assert a.device.type == "cuda"
        assert_close(a, b.double(), rtol=5e-6, atol=1e-6)
    # and against the float64 oracle
    ref = ref_losses(raw.double(), pos.double(), neg.double() if n == 3 else None, y.double(),
                     lam, red)
    for a, b in zip(og, ref):
        assert_close(a, b)


@pytest.mark.parametrize("upstream", UPSTREAMS)
@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("which", ["positive_only", "pos_neg"])
@pytest.mark.parametrize("B,K", [(1, 1), (7, 1), (33, 5), (1000, 3), (257, 300), (4096, 64)])
def test_cpu_vs_cuda(which, red, upstream, B, K):
    for lam in (1.0, 0.0, 0.37):
        _both(which, B, K, lam, red, upstream, seed=B * 7 + K)


def test_wide_scores_cpu_vs_cuda():
    for which in ("positive_only", "pos_neg"):
        _both(which, 513, 17, 1.0, "mean", "all", seed=5, scale=40.0)


def test_non_default_stream_and_context_per_stream():
    gen = torch.Generator().manual_seed(3)
    raw, pos, neg, y = [t.cuda() for t in rand_case(gen, 2048, 33)]
    expect = st.pos_neg_loss(raw, pos, neg, y, 0.5, "none")
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        r = raw.clone().requires_grad_()
        got = st.pos_neg_loss(r, pos, neg, y, 0.5, "none")
        g = torch.autograd.grad(got[0], r, torch.ones_like(got[0]))[0]
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    for a, b in zip(got, expect):
        assert torch.equal(a, b)
    r2 = raw.clone().requires_grad_()
    g2 = torch.autograd.grad(st.pos_neg_loss(r2, pos, neg, y, 0.5, "none")[0], r2,
                             torch.ones(2048, device="cuda"))[0]
    assert torch.equal(g, g2)


def test_backward_has_no_host_sync():
    gen = torch.Generator().manual_seed(4)
    raw, pos, neg, y = [t.cuda() for t in rand_case(gen, 256, 16)]
    leaves = [t.clone().requires_grad_() for t in (raw, pos, neg)]
    for lam, red in ((0.5, "mean"), (0.0, "none"), (1.0, "sum")):
        out = st.pos_neg_loss(*leaves, y, lam, red)
        out2 = st.positive_only_loss(leaves[0], leaves[1], y, lam, red)
        gos = [torch.rand_like(o) for o in out]
        torch.autograd.grad(out, leaves, gos, retain_graph=True)  # warm-up (contexts)
        torch.autograd.grad(out2, leaves[:2], gos, retain_graph=True)
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            torch.autograd.grad(out, leaves, gos)
            torch.autograd.grad(out2[0], leaves[:2], gos[0])
        finally:
            torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_options_and_16_bit_forward_and_backward_make_no_host_sync(dtype):
    """The keyword preparation (a number as pos_weight, int64 counts clamped and converted),
    the call and backward (with the float16 'mean' rescale) all stay on the device."""
    gen = torch.Generator().manual_seed(53)
    B, K = 256, 16
    raw, pos, neg, y = [t.cuda() for t in rand_case(gen, B, K)]
    w = torch.rand(B, generator=gen).cuda()
    mask = (torch.rand(B, K, generator=gen) < 0.7).cuda()
    count = torch.randint(0, K + 1, (B,), generator=gen).cuda()  # int64
    leaves = [t.to(dtype).requires_grad_() for t in (raw, pos, neg)]

    def step(red):
        out = st.pos_neg_loss(*leaves, y, 0.5, red, weight=w, pos_weight=2.0, neg_mask=mask,
                              neg_count=count)
        out2 = st.positive_only_loss(leaves[0], leaves[1], y, 0.0, red, weight=w,
                                     pos_weight=w)
        gos = [torch.ones_like(o) for o in out]
        torch.autograd.grad(list(out) + [out2.loss_pos], leaves, gos + [gos[0]])
    for red in ("mean", "none"):
        step(red)  # warm-up (contexts, workspaces)
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            step(red)
        finally:
            torch.cuda.set_sync_debug_mode("default")


def test_mixed_devices_are_errors():
    raw, pos, neg, y = torch.randn(4), torch.randn(4), torch.randn(4, 2), torch.ones(4)
    with pytest.raises(ValueError, match="score_pos is on cpu but score_raw is on cuda"):
        st.pos_neg_loss(raw.cuda(), pos, neg.cuda(), y.cuda())
    with pytest.raises(ValueError, match="score_neg is on cpu but score_raw is on cuda"):
        st.pos_neg_loss(raw.cuda(), pos.cuda(), neg, y.cuda())
    with pytest.raises(ValueError, match="y is on cpu but the scores are on cuda"):
        st.positive_only_loss(raw.cuda(), pos.cuda(), y)
    with pytest.raises(ValueError, match="score_raw is on cpu"):
        st.positive_only_loss(raw, pos.cuda(), y.cuda())
    c = [t.cuda() for t in (raw, pos, neg, y)]
    with pytest.raises(ValueError, match="weight is on cpu but the scores are on cuda"):
        st.pos_neg_loss(*c, weight=torch.ones(4))
    with pytest.raises(ValueError, match="pos_weight is on cpu but the scores are on cuda"):
        st.positive_only_loss(c[0], c[1], c[3], pos_weight=torch.ones(4))
    with pytest.raises(ValueError, match="neg_mask is on cpu but the scores are on cuda"):
        st.pos_neg_loss(*c, neg_mask=torch.ones(4, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="neg_count is on cpu but the scores are on cuda"):
        st.pos_neg_loss(*c, neg_count=torch.ones(4, dtype=torch.int32))


def test_model_level_on_cuda_matches_cpu():
    from seed_losses import dot_model
    gen = torch.Generator().manual_seed(6)
    B, K, D = 64, 9, 16
    u = torch.randn(B, D, generator=gen) * 0.5
    ir, ip = torch.randn(B, D, generator=gen) * 0.5, torch.randn(B, D, generator=gen) * 0.5
    ineg = torch.randn(B, K, D, generator=gen) * 0.5
    y = torch.randint(0, 2, (B,), generator=gen)
    res = []
    for dev in ("cpu", "cuda"):
        leaves = [torch.nn.Parameter(t.to(dev)) for t in (u, ir, ip, ineg)]
        out = st.loss_pos_neg(dot_model, *leaves, y.to(dev), 0.8)
        out[0].backward()
        res.append((out, [p.grad for p in leaves]))
    for a, b in zip(res[1][0] + tuple(res[1][1]), res[0][0] + tuple(res[0][1])):
        assert_close(a, b.double(), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_second_device():
    _both("pos_neg", 100, 7, 0.5, "none", "all", device="cuda:1")


def test_threads_on_cuda():
    gen = torch.Generator().manual_seed(8)
    raw, pos, neg, y = [t.cuda() for t in rand_case(gen, 300, 40)]
    expect = st.pos_neg_loss(raw, pos, neg, y)
    errors = []

    def work():
        try:
            for _ in range(10):
                got = st.pos_neg_loss(raw, pos, neg, y)
                for a, b in zip(got, expect):
                    assert torch.equal(a, b)
        except Exception as e:  # pragma: no cover
            errors.append(e)
    ts = [threading.Thread(target=work) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors


@pytest.mark.skipif(st.IMPLEMENTATION != "torch.library custom op",
                    reason="needs semcl.torch's custom ops (PyTorch >= 2.4)")
def test_compiled_step_on_cuda_matches_eager_without_host_sync():
    """torch.compile(fullgraph=True) on CUDA tensors: the op runs on the current stream; the
    compiled forward and backward match eager and make no host synchronisation."""
    def step(raw, pos, neg, y):
        a = st.pos_neg_loss(raw, pos, neg, y, 0.5, "none")
        b = st.positive_only_loss(raw, pos, y, 0.0, "mean")
        return a.loss.sum() + 0.3 * a.loss_pair.sum() + b.loss
    gen = torch.Generator().manual_seed(11)
    raw, pos, neg, y = [t.cuda() for t in rand_case(gen, 512, 24)]
    eager_leaves = [t.clone().requires_grad_() for t in (raw, pos, neg)]
    exp = step(*eager_leaves, y)
    exp_g = torch.autograd.grad(exp, eager_leaves)
    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    leaves = [t.clone().requires_grad_() for t in (raw, pos, neg)]
    torch.autograd.grad(compiled(*leaves, y), leaves)  # compile (and create contexts) first
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        got = compiled(*leaves, y)
        got_g = torch.autograd.grad(got, leaves)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert_close(got, exp.double(), rtol=1e-6, atol=1e-7)
    for a, b in zip(got_g, exp_g):
        assert_close(a, b.double(), rtol=1e-6, atol=1e-7)


# ---- options and 16-bit scores on CUDA ------------------------------------------------------------
HALF_ULP = {torch.float32: 2.0 ** -24, torch.bfloat16: 2.0 ** -8, torch.float16: 2.0 ** -11}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("which", ["positive_only", "pos_neg"])
def test_options_and_dtypes_cpu_vs_cuda(which, red, dtype):
    """Every option, each score dtype: CUDA against the CPU backend (both float32 arithmetic,
    different summation order), and the losses against the float64 reference."""
    gen = torch.Generator().manual_seed(51)
    B, K = 300, 17
    raw, pos, neg, y = rand_case(gen, B, K, soft=True)
    w, pw = torch.rand(B, generator=gen) * 2, torch.rand(B, generator=gen) * 3
    mask = torch.rand(B, K, generator=gen) < 0.7
    count = torch.randint(0, K + 1, (B,), generator=gen)
    n = 2 if which == "positive_only" else 3
    up = torch.randn((B,) if red == "none" else (), generator=gen)
    res = []
    for dev in ("cpu", "cuda"):
        leaves = [t.to(dtype).to(dev).requires_grad_() for t in (raw, pos, neg)[:n]]
        kw = {"weight": w.to(dev), "pos_weight": pw.to(dev)}
        if n == 3:
            out = st.pos_neg_loss(*leaves, y.to(dev), 0.6, red, neg_mask=mask.to(dev),
                                  neg_count=count.to(dev), **kw)
        else:
            out = st.positive_only_loss(*leaves, y.to(dev), 0.6, red, **kw)
        res.append((out, torch.autograd.grad(out.loss, leaves, up.to(dev))))
    (oc, gc), (og, gg) = res
    for a, b in zip(og, oc):
        assert a.device.type == "cuda" and a.dtype == torch.float32
        assert_close(a, b.double(), rtol=5e-6, atol=1e-6)
    for a, b in zip(gg, gc):
        assert a.device.type == "cuda" and a.dtype == dtype
        # the two backends' float32 values may round to neighbouring 16-bit values
        assert_close(a, b.double(), rtol=2.5 * HALF_ULP[dtype], atol=1e-6)
    wide = [t.to(dtype).double() for t in (raw, pos, neg)[:n]] + [None] * (3 - n)
    ref = ref_losses(*wide, y.double(), 0.6, red, weight=w.double(), pos_weight=pw.double(),
                     mask=(mask & count_mask(count, K)) if n == 3 else None)
    for a, b in zip(og, ref):
        assert_close(a, b)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_cuda_trains_without_float(dtype):
    """torch.autocast("cuda", dtype) logits go to the loss as they are; float16 with a
    GradScaler (the usual recipe); parameter gradients match the plain-PyTorch reference loss
    backpropagated through the same autocast graph."""
    torch.manual_seed(0)
    B, K, d = 256, 16, 32
    user = torch.nn.Linear(d, d).cuda()
    item = torch.nn.Linear(d, d).cuda()
    gen = torch.Generator().manual_seed(52)
    u = torch.randn(B, d, generator=gen).cuda()
    items = torch.randn(B, K + 2, d, generator=gen).cuda()
    y = (torch.rand(B, 1, generator=gen) < 0.3).float().cuda()
    mask = (torch.rand(B, K, generator=gen) < 0.8).cuda()
    params = list(user.parameters()) + list(item.parameters())

    def step(loss_fn):
        for p in params:
            p.grad = None
        with torch.autocast("cuda", dtype=dtype):
            s = torch.bmm(item(items), user(u).unsqueeze(-1)).squeeze(-1)
            assert s.dtype == dtype
            loss = loss_fn(s[:, :1], s[:, 1:2], s[:, 2:])
        (loss * 1024.0).backward()  # a GradScaler's scale (a power of two)
        return loss.detach(), [p.grad / 1024.0 for p in params]

    got, g_got = step(lambda r, p, n: st.pos_neg_loss(r, p, n, y, 0.5, pos_weight=3.0,
                                                      neg_mask=mask).loss)
    exp, g_exp = step(lambda r, p, n: ref_losses(
        r.double().reshape(-1), p.double().reshape(-1), n.double(), y.double().reshape(-1),
        0.5, "mean", pos_weight=torch.tensor([3.0], dtype=torch.float64, device="cuda"),
        mask=mask)[0])
    assert got.dtype == torch.float32
    assert_close(got, exp, rtol=1e-6, atol=1e-7)
    for a, b in zip(g_got, g_exp):
        assert_close(a, b.double(), rtol=3e-2, atol=3e-2)
