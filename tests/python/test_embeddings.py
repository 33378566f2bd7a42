"""semcl.torch's embedding losses (pos_neg_loss_from_embeddings, positive_only_loss_from_
embeddings) against a plain-PyTorch float64 formulation: the dot-product scores computed in
float64 from the same embeddings, the losses of conftest.ref_losses (or the seed's code with a
dot-product model), and every gradient by float64 autograd, for any upstream gradient of the
three outputs. Runs under PyTorch 1.13 (autograd.Function) and 2 (custom op)."""
import zlib

import pytest
import torch

import semcl.torch as st
import semcl
from conftest import assert_close, count_mask, ref_losses, requires_cuda
import seed_losses

B, K, N, D = 6, 9, 11, 13
LAM = 0.8


def _case(kind, seed, nan_masked=False):
    """Embeddings (float32, requiring grad), labels and options for one call kind."""
    gen = torch.Generator().manual_seed(seed)
    emb = lambda *s: (torch.randn(*s, generator=gen) * 0.6)  # noqa: E731
    c = {"user": emb(B, D), "item_raw": emb(B, D), "item_pos": emb(B, D)}
    if kind == "rows":
        c["item_neg"] = emb(B, K, D)
    elif kind == "shared":
        c["item_neg"] = emb(N, D)
    c["y"] = (torch.rand(B, generator=gen) < 0.5).float()
    return c


def _options(kind, gen):
    """All options of the kind: weight, pos_weight, score_scale; masks, counts, pos_index."""
    o = {"weight": torch.rand(B, generator=gen) + 0.5,
         "pos_weight": torch.rand(B, generator=gen) + 0.5, "score_scale": 0.7}
    if kind != "positive":
        P = K if kind == "rows" else N
        o["neg_mask"] = torch.rand(B, P, generator=gen) < 0.8
        o["neg_count"] = torch.randint(0, P + 2, (B,), generator=gen, dtype=torch.int32)
        o["neg_count"][0] = P  # at least one row with most negatives real
        o["neg_mask"][0, :] = True
    if kind == "shared":
        o["pos_index"] = torch.randint(-1, N, (B,), generator=gen)
    return o


def _ours(kind, c, lam, reduction, opts):
    if kind == "positive":
        return st.positive_only_loss_from_embeddings(c["user"], c["item_raw"], c["item_pos"],
                                                     c["y"], lam, reduction, **opts)
    return st.pos_neg_loss_from_embeddings(c["user"], c["item_raw"], c["item_pos"],
                                           c["item_neg"], c["y"], lam, reduction, **opts)


def _reference(kind, c, lam, reduction, opts):
    """float64 scores from the embeddings, then the score-level reference losses."""
    s = opts.get("score_scale", 1.0)
    u = c["user"]
    raw, pos = s * (u * c["item_raw"]).sum(1), s * (u * c["item_pos"]).sum(1)
    neg = mask = None
    if kind == "rows":
        neg = s * torch.einsum("bd,bkd->bk", u, c["item_neg"])
    elif kind == "shared":
        neg = s * (u @ c["item_neg"].T)
    if neg is not None:
        mask = torch.ones(neg.shape, dtype=torch.bool)
        if "neg_mask" in opts:
            mask &= opts["neg_mask"]
        if "neg_count" in opts:
            mask &= count_mask(opts["neg_count"], neg.shape[1])
        if "pos_index" in opts:
            own = torch.zeros_like(mask)
            rows = (opts["pos_index"] >= 0).nonzero().reshape(-1)
            own[rows, opts["pos_index"][rows]] = True
            mask &= ~own
    w = opts.get("weight")
    pw = opts.get("pos_weight")
    return ref_losses(raw, pos, neg, c["y"].double(), lam, reduction,
                      None if w is None else w.double(), None if pw is None else pw.double(),
                      mask)


def _upstreams(reduction, mode, gen):
    shape = (B,) if reduction == "none" else ()
    if mode == "loss":
        return [torch.randn(shape, generator=gen, dtype=torch.float64), None, None]
    return [torch.randn(shape, generator=gen, dtype=torch.float64) for _ in range(3)]


def _grads(outputs, inputs, ups):
    pairs = [(o, u) for o, u in zip(outputs, ups) if u is not None]
    return torch.autograd.grad([o for o, _ in pairs], inputs, [u.to(o.dtype) for o, u in pairs],
                               allow_unused=True)


@pytest.mark.parametrize("kind", ["rows", "shared", "positive"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("with_options", [False, True])
@pytest.mark.parametrize("upstream", ["loss", "all three"])
def test_matches_float64_reference(kind, reduction, with_options, upstream):
    seed = zlib.crc32(repr((kind, reduction, with_options, upstream)).encode()) % 1000
    gen = torch.Generator().manual_seed(seed)
    c = _case(kind, seed)
    opts = _options(kind, gen) if with_options else {}
    names = [k for k in ("user", "item_raw", "item_pos", "item_neg") if k in c]
    c32 = {k: (v.clone().requires_grad_() if k in names else v) for k, v in c.items()}
    c64 = {k: (v.double().requires_grad_() if k in names else v) for k, v in c.items()}
    ours = _ours(kind, c32, LAM, reduction, opts)
    ref = _reference(kind, c64, LAM, reduction, opts)
    for got, exp, what in zip(ours, ref, ("loss", "loss_ctr", "loss_aux")):
        assert got.dtype == torch.float32
        assert_close(got, exp, msg=what)
    ups = _upstreams(reduction, upstream, gen)
    g32 = _grads(ours, [c32[k] for k in names], ups)
    g64 = _grads(ref, [c64[k] for k in names], ups)
    for got, exp, name in zip(g32, g64, names):
        assert got is not None and got.shape == c[name].shape, name
        assert_close(got, exp, rtol=2e-5, atol=2e-6, msg="grad " + name)


def test_seed_code_with_a_dot_product_model():
    """The seed's loss_pos_neg and loss_positive_only with score = <u, item>, in float64."""
    c = _case("rows", 5)
    c32 = {k: v.clone().requires_grad_() for k, v in c.items() if k != "y"}
    c64 = {k: v.double().requires_grad_() for k, v in c.items() if k != "y"}
    y = c["y"]
    ours = st.pos_neg_loss_from_embeddings(c32["user"], c32["item_raw"], c32["item_pos"],
                                           c32["item_neg"], y, LAM)
    seed = seed_losses.loss_pos_neg(seed_losses.dot_model, c64["user"], c64["item_raw"],
                                    c64["item_pos"], c64["item_neg"], y.double(), LAM)
    for got, exp in zip(ours, seed):
        assert_close(got, exp)
    ours.loss.backward()
    seed[0].backward()
    for k in c32:
        assert_close(c32[k].grad, c64[k].grad, msg=k)
    ours = st.positive_only_loss_from_embeddings(c32["user"], c32["item_raw"], c32["item_pos"],
                                                 y, LAM)
    seed = seed_losses.loss_positive_only(seed_losses.dot_model, c64["user"], c64["item_raw"],
                                          c64["item_pos"], y.double(), LAM)
    for got, exp in zip(ours, seed):
        assert_close(got, exp)


def test_shared_pool_equals_per_row_negatives_repeating_the_pool():
    c = _case("shared", 7)
    rep = c["item_neg"].unsqueeze(0).repeat(B, 1, 1)
    a = st.pos_neg_loss_from_embeddings(c["user"], c["item_raw"], c["item_pos"], c["item_neg"],
                                        c["y"], LAM)
    b = st.pos_neg_loss_from_embeddings(c["user"], c["item_raw"], c["item_pos"], rep, c["y"],
                                        LAM)
    for x, z in zip(a, b):
        torch.testing.assert_close(x, z, rtol=1e-6, atol=0)


def test_only_inputs_that_require_grad_get_one():
    c = _case("rows", 8)
    neg = c["item_neg"].clone().requires_grad_()
    out = st.pos_neg_loss_from_embeddings(c["user"], c["item_raw"], c["item_pos"], neg, c["y"])
    out.loss.backward()
    assert neg.grad is not None and c["user"].grad is None
    with torch.no_grad():
        out = st.pos_neg_loss_from_embeddings(c["user"], c["item_raw"], c["item_pos"], neg,
                                              c["y"])
    assert out.loss.grad_fn is None


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_backward_twice_with_retain_graph_gives_the_same_gradients(reduction):
    """The first backward may reuse the forward call's gradient buffers; a second one
    (retain_graph) must still give the same gradients (from a library call with the upstream
    gradient, so equal up to the rounding of the product g * G)."""
    c = _case("rows", 14)
    ts = [c[k].clone().requires_grad_() for k in ("user", "item_raw", "item_pos", "item_neg")]
    out = st.pos_neg_loss_from_embeddings(*ts, c["y"], LAM, reduction)
    g = torch.full(out.loss.shape, 0.75)
    first = torch.autograd.grad(out.loss, ts, g, retain_graph=True)
    second = torch.autograd.grad(out.loss, ts, g)
    for a, b in zip(first, second):
        assert_close(a, b.double(), rtol=1e-5, atol=1e-6)


def test_masked_negatives_are_invisible():
    """NaN in masked negatives changes nothing and their gradient is exactly 0."""
    c = _case("rows", 9)
    mask = torch.ones(B, K, dtype=torch.bool)
    mask[:, -3:] = False
    poisoned = c["item_neg"].clone()
    poisoned[:, -3:] = float("nan")
    poisoned.requires_grad_()
    out = st.pos_neg_loss_from_embeddings(c["user"], c["item_raw"], c["item_pos"], poisoned,
                                          c["y"], neg_mask=mask)
    cut = st.pos_neg_loss_from_embeddings(c["user"], c["item_raw"], c["item_pos"],
                                          c["item_neg"][:, :-3], c["y"])
    torch.testing.assert_close(out.loss, cut.loss, rtol=1e-6, atol=0)
    out.loss.backward()
    assert torch.equal(poisoned.grad[:, -3:], torch.zeros(B, 3, D))
    assert torch.isfinite(poisoned.grad).all()


def test_bad_arguments_name_the_argument():
    c = _case("rows", 10)
    u, r, p, n, y = c["user"], c["item_raw"], c["item_pos"], c["item_neg"], c["y"]
    with pytest.raises(ValueError, match="item_neg"):
        st.pos_neg_loss_from_embeddings(u, r, p, n[:, :, :-1], y)
    with pytest.raises(ValueError, match="item_raw"):
        st.pos_neg_loss_from_embeddings(u, r[:-1], p, n, y)
    with pytest.raises(TypeError, match="user"):
        st.pos_neg_loss_from_embeddings(u.double(), r, p, n, y)
    with pytest.raises(ValueError, match="pos_index"):
        st.pos_neg_loss_from_embeddings(u, r, p, n, y, pos_index=torch.zeros(B).long())
    with pytest.raises(ValueError, match="score_scale"):
        st.pos_neg_loss_from_embeddings(u, r, p, n, y, score_scale=float("inf"))
    with pytest.raises(ValueError, match="neg_mask"):
        st.pos_neg_loss_from_embeddings(u, r, p, n[0], y, neg_mask=torch.ones(B, K + 1, dtype=bool))


def test_label_column_shape_and_modules_of_the_two_shapes_train():
    """(B, 1) labels work like (B,), and a few SGD steps on the embeddings lower the loss."""
    c = _case("shared", 11)
    a = st.pos_neg_loss_from_embeddings(c["user"], c["item_raw"], c["item_pos"], c["item_neg"],
                                        c["y"].reshape(B, 1))
    b = st.pos_neg_loss_from_embeddings(c["user"], c["item_raw"], c["item_pos"], c["item_neg"],
                                        c["y"])
    assert torch.equal(a.loss, b.loss)
    params = [c[k].clone().requires_grad_() for k in ("user", "item_raw", "item_pos", "item_neg")]
    opt = torch.optim.SGD(params, lr=0.5)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = st.pos_neg_loss_from_embeddings(*params, c["y"]).loss
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(x > y for x, y in zip(losses, losses[1:])), losses


def _emb_names(kind):
    return ["user", "item_raw", "item_pos"] + ([] if kind == "positive" else ["item_neg"])


@pytest.mark.parametrize("kind", ["rows", "shared", "positive"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_16bit_embeddings_are_the_float32_call_on_the_widened_embeddings(kind, dtype,
                                                                           reduction):
    """Losses bitwise those of the float32 call on the embeddings widened to float32, and the
    gradients (in the embeddings' dtype) those of the float32 call rounded once; float16 'mean'
    keeps its gradients B times larger until backward (the scores' rule), which rounds twice:
    within two float16 units there."""
    c = _case(kind, 14 + zlib.crc32(str((kind, dtype, reduction)).encode()) % 1000)
    opts = _options(kind, torch.Generator().manual_seed(15))
    names = _emb_names(kind)
    results = []
    for d in (dtype, torch.float32):
        cd = dict(c)
        for k in names:  # float32 copies of the 16-bit values: the same numbers, widened
            cd[k] = c[k].to(dtype).to(d).requires_grad_()
        out = _ours(kind, cd, LAM, reduction, opts)
        up = torch.ones(B) if reduction == "none" else torch.tensor(1.0)
        out.loss.backward(up)
        results.append((out, [cd[k].grad for k in names]))
    (o16, g16), (o32, g32) = results
    for a, b in zip(o16, o32):
        assert a.dtype == torch.float32 and torch.equal(a, b)
    for name, a, b in zip(names, g16, g32):
        assert a.dtype == dtype, name
        if dtype == torch.float16 and reduction == "mean":
            torch.testing.assert_close(a.float(), b, rtol=2 ** -10, atol=2 ** -24, msg=name)
        else:
            assert torch.equal(a, b.to(dtype)), name


def test_mixed_embedding_dtypes_promote_and_float16_mean_keeps_its_small_gradients():
    """bfloat16 users with float32 items compute in float32 (the promotion of the scores), each
    gradient in its embedding's dtype; float16 'mean' gradients of O(1/(B K)) survive a loss
    scale (GradScaler) as well as float32 ones rounded to float16 do."""
    c = _case("rows", 16)
    u = c["user"].to(torch.bfloat16).requires_grad_()
    rest = [c[k].clone().requires_grad_() for k in ("item_raw", "item_pos", "item_neg")]
    out = st.pos_neg_loss_from_embeddings(u, *rest, c["y"])
    ref = st.pos_neg_loss_from_embeddings(u.detach().float(), *[t.detach() for t in rest],
                                          c["y"])
    assert torch.equal(out.loss, ref.loss)
    out.loss.backward()
    assert u.grad.dtype == torch.bfloat16 and all(t.grad.dtype == torch.float32 for t in rest)

    gen = torch.Generator().manual_seed(17)
    b, k, d = 256, 256, 16
    emb = [torch.randn(*s, generator=gen) * 0.5 for s in ((b, d), (b, d), (b, d), (b, k, d))]
    y = (torch.rand(b, generator=gen) < 0.5).float()
    loss_scale = 1024.0
    grads = []
    for dt in (torch.float16, torch.float32):
        e = [t.to(torch.float16).to(dt).requires_grad_() for t in emb]
        (st.pos_neg_loss_from_embeddings(*e, y).loss * loss_scale).backward()
        grads.append(e[3].grad)
    # |grad_item_neg| ~ loss_scale * 0.5 / (b k) ~ 0.008 is kept as b * dL/dn ~ 2e-3 between
    # forward and backward; stored as dL/dn ~ 8e-6 it would be a float16 subnormal (steps of
    # 6e-8: errors near 1e-2 relative, far above this tolerance).
    torch.testing.assert_close(grads[0].float(), grads[1], rtol=2 ** -9, atol=2 ** -20)


needs_custom_op = pytest.mark.skipif(
    st.IMPLEMENTATION != "torch.library custom op",
    reason="PyTorch 2 custom ops only (semcl.torch uses %s here)" % st.IMPLEMENTATION)


@needs_custom_op
def test_custom_op_opcheck_and_compiled_training_step():
    from semcl import _embed_custom_ops as ops
    c = _case("rows", 12)
    args = (1, c["user"].requires_grad_(), c["item_raw"], c["item_pos"], c["item_neg"], c["y"],
            None, None, None, None, None, None, LAM, 1.0, "mean", True, False, False, False, 1.0)
    torch.library.opcheck(ops.embed_op, args)

    def forward(u, r, p, n, y):
        out = st.pos_neg_loss_from_embeddings(u, r, p, n, y, LAM)
        return out.loss + out.loss_ctr  # a component too: the backward's library calls

    grads = []
    for fn in (forward, torch.compile(forward, backend="aot_eager", fullgraph=True)):
        params = [c[k].detach().clone().requires_grad_()
                  for k in ("user", "item_raw", "item_pos", "item_neg")]
        fn(*params, c["y"]).backward()
        grads.append([t.grad for t in params])
    for a, b in zip(*grads):
        assert torch.equal(a, b)


@requires_cuda
@pytest.mark.parametrize("kind", ["rows", "shared", "positive"])
def test_cuda_matches_cpu(kind):
    """On the current CUDA stream: per-row and loss 1 bit for bit with the CPU (the same
    canonical orders), the shared pool within a GEMM-sized tolerance (cuBLAS vs the CPU BLAS)."""
    if not semcl.has_cuda_build():
        pytest.skip("the loaded libsemcl (%s) was built without the CUDA backend"
                    % semcl.library_path())
    c = _case(kind, 13)
    gen = torch.Generator().manual_seed(13)
    opts = _options(kind, gen)
    names = [k for k in ("user", "item_raw", "item_pos", "item_neg") if k in c]
    results = []
    for device in ("cpu", "cuda"):
        cd = {k: (v.to(device).requires_grad_() if k in names else v.to(device))
              for k, v in c.items()}
        od = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in opts.items()}
        out = _ours(kind, cd, LAM, "mean", od)
        (out.loss + 0.5 * out.loss_ctr).backward()
        results.append([t.detach().cpu() for t in out] + [cd[k].grad.cpu() for k in names])
    for a, b in zip(*results):
        if kind == "shared":
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)
        else:
            assert torch.equal(a, b)
