"""Backward of the fused losses, shared by the autograd.Function (PyTorch 1.x) and the custom op
(PyTorch 2) implementations.

The forward library call already computed dL/dx for every score x that requires grad (upstream
gradient 1). Backward only scales those saved gradients by the incoming gradient, on the
device, with no host synchronisation. When loss_ctr or loss_aux also receive gradients, the
component gradients are needed:
  d/dx = (g_L + g_ctr) dL_ctr/dx + (lambda g_L + g_aux) dL_aux/dx,
and the missing pieces come from further library calls made through `compute`, which has the
signature of _launch.run (the custom op passes a function that calls the op, so a compiled
backward stays traceable). The options (masks, weight, pos_weight) enter every such call, so
these identities hold for them as they do without: each sample's weight multiplies both of its
terms, pos_weight is in the BCE term only, and the masks in the pairwise term only.

Gradients come back in the score dtype. With 16-bit scores the algebra is done in float32 and
rounded once at the end (PyTorch 1.13 would otherwise round a float32 upstream to bfloat16
before multiplying, and a difference of two rounded terms would round twice). The stored
gradients (from the forward call and from `compute`) are scaled by `scale`
(_dtypes.saved_grad_scale: B for float16 'mean', None = 1 otherwise): the upstream gradients
are divided by it first."""
import functools

import torch
from torch.autograd.function import once_differentiable as _torch_once_differentiable

# For the pairwise loss, gradients of loss_aux alone are recovered from the saved gradient of
# L as G/lambda when lambda is in this range (a few ulp); outside it (lambda = 0 in particular)
# the inputs are saved and the gradient of loss_aux is recomputed by a second library call.
LAMBDA_DIVIDE_MIN, LAMBDA_DIVIDE_MAX = 1e-6, 1e18

_DOUBLE_BACKWARD_MESSAGE = (
    b"semcl.torch: double backward is not supported: the fused losses are once-differentiable "
    b"(their gradients are computed by the C library, not by autograd)")


def pos_neg_divides(lam):
    """Whether the pairwise backward recovers dL_pair/dx as G / lambda (no saved inputs)."""
    return LAMBDA_DIVIDE_MIN <= abs(lam) <= LAMBDA_DIVIDE_MAX


def once_differentiable(backward):
    """Like torch.autograd.function.once_differentiable, but when backward runs with
    create_graph=True every returned gradient gets a node that raises a clear error if it is
    differentiated again, even when the incoming gradients do not require grad (the stock
    decorator returns plain tensors then, and a later differentiation fails with an obscure
    "does not require grad")."""
    delayed_error = getattr(getattr(torch._C, "_functions", None), "DelayedError", None)
    if delayed_error is None:  # pragma: no cover - other torch versions
        return _torch_once_differentiable(backward)

    @functools.wraps(backward)
    def wrapper(ctx, *args):
        with torch.no_grad():
            outputs = backward(ctx, *args)
        if not torch.is_grad_enabled():
            return outputs
        outs = outputs if isinstance(outputs, tuple) else (outputs,)
        err_fn = delayed_error(_DOUBLE_BACKWARD_MESSAGE, len(outs))

        def fake_requires_grad(v):
            if v is not None:
                v = v.detach()
                v.requires_grad = True
            return v
        res = err_fn(*[fake_requires_grad(v) for v in outs])
        res = res if isinstance(res, tuple) else (res,)
        return res if isinstance(outputs, tuple) else res[0]
    return wrapper


# ---- upstream gradient algebra (None = no gradient) ---------------------------------------------
def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _sub(a, b):
    if b is None:
        return a
    if a is None:
        return -b
    return a - b


def _as(t, dtype):
    return None if t is None else t.to(dtype)


def _unscaled(scale, *gs):
    return gs if scale is None else tuple(None if g is None else g / scale for g in gs)


def _scaled(coef, g, rows):
    """coef * g in float32 (g may be 16-bit), coef being a scalar tensor (mean/sum) or per-row
    (B,) (none)."""
    if coef is None or g is None:
        return None
    if rows and g.dim() == 2:
        coef = coef.unsqueeze(1)
    return coef * g.float()


def _ctr_grad_raw(compute, raw, y, opts, reduction):
    """d loss_ctr / d score_raw (upstream 1) from the library: the pairwise loss's score_raw
    gradient is exactly the BCE term's, so a K = 1 call with score_pos = score_neg = score_raw
    (inputs may alias) gives it in O(B). The masks are (B, K) of the caller's K: left out (they
    only touch the pairwise term); weight and pos_weight are kept."""
    return compute(raw, raw, raw.reshape(-1, 1), y, opts.without_masks(), 0.0, reduction,
                   True, False, False)[3]


def positive_only(compute, lam, reduction, need, saved, opts, dtype, scale, g_loss, g_ctr,
                  g_aux):
    """Gradients (score_raw, score_pos) of the positive-only loss, in `dtype`.

    need: (need_raw, need_pos); saved: (raw, pos, y, G_raw, G_pos), G being scale * dL/dx from
    the forward call (None where not computed); opts: the call's _launch.Options."""
    g_loss, g_ctr, g_aux = _unscaled(scale, g_loss, g_ctr, g_aux)
    raw, pos, y, G_raw, G_pos = saved
    need_raw, need_pos = need
    rows = reduction == "none"
    if g_ctr is None and g_aux is None:
        if g_loss is None:
            return None, None
        return (_as(_scaled(g_loss, G_raw, rows), dtype) if need_raw else None,
                _as(_scaled(g_loss, G_pos, rows), dtype) if need_pos else None)
    coef_ctr = _add(g_loss, g_ctr)
    coef_aux = _add(None if g_loss is None else g_loss * lam, g_aux)
    # dL_aux/dpos from a lambda = 1 call (score_pos is not in L_ctr: exact), and
    # dL_aux/draw = -dL_aux/dpos exactly (L_pos depends on score_pos - score_raw).
    D_aux_pos = None
    if coef_aux is not None:
        D_aux_pos = compute(raw, pos, None, y, opts, 1.0, reduction, False, True, False)[4]
    d_raw = d_pos = None
    if need_raw:
        D_ctr_raw = (_ctr_grad_raw(compute, raw, y, opts, reduction)
                     if coef_ctr is not None else None)
        d_raw = _sub(_scaled(coef_ctr, D_ctr_raw, rows), _scaled(coef_aux, D_aux_pos, rows))
    if need_pos:
        d_pos = _scaled(coef_aux, D_aux_pos, rows)
    return _as(d_raw, dtype), _as(d_pos, dtype)


def pos_neg(compute, lam, reduction, need, saved, opts, dtype, scale, g_loss, g_ctr, g_aux):
    """Gradients (score_raw, score_pos, score_neg) of the pairwise loss, in `dtype`.

    need: (need_raw, need_pos, need_neg); saved: (G_raw, G_pos, G_neg, raw, pos, neg, y), the
    inputs being None unless the lambda is outside the G/lambda range and score_pos or
    score_neg needs a gradient (opts likewise: only read for that recompute). score_raw is only
    in L_ctr, so its gradient is (g_L + g_ctr) * G_raw exactly; score_pos / score_neg are only
    in L_pair, so theirs is (lambda g_L + g_aux) * dL_pair/dx, with dL_pair/dx = G/lambda for
    moderate lambda, else recomputed by a lambda = 1 library call on the saved inputs. The G
    are scaled by `scale` as in positive_only."""
    g_loss, g_ctr, g_aux = _unscaled(scale, g_loss, g_ctr, g_aux)
    G_raw, G_pos, G_neg, raw, pos, neg, y = saved
    need_raw, need_pos, need_neg = need
    rows = reduction == "none"
    if g_ctr is None and g_aux is None:
        if g_loss is None:
            return None, None, None
        return (_as(_scaled(g_loss, G_raw, rows), dtype) if need_raw else None,
                _as(_scaled(g_loss, G_pos, rows), dtype) if need_pos else None,
                _as(_scaled(g_loss, G_neg, rows), dtype) if need_neg else None)
    d_raw = _scaled(_add(g_loss, g_ctr), G_raw, rows) if need_raw else None
    d_pos = d_neg = None
    if need_pos or need_neg:
        if pos_neg_divides(lam):
            # (lam*g_L + g_aux) * G/lam = (g_L + g_aux/lam) * G
            coef = _add(g_loss, None if g_aux is None else g_aux / lam)
            d_pos = _scaled(coef, G_pos, rows) if need_pos else None
            d_neg = _scaled(coef, G_neg, rows) if need_neg else None
        else:
            coef = _add(None if g_loss is None else g_loss * lam, g_aux)
            if coef is not None:
                D = compute(raw, pos, neg, y, opts, 1.0, reduction, False, need_pos, need_neg)
                d_pos = _scaled(coef, D[4], rows) if need_pos else None
                d_neg = _scaled(coef, D[5], rows) if need_neg else None
    return _as(d_raw, dtype), _as(d_pos, dtype), _as(d_neg, dtype)
