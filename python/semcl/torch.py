"""PyTorch bindings of semcl: the two fused semantic-consistency losses with autograd.

Drop-in replacements of the seed code (same signatures, same return values)::

    from semcl.torch import loss_positive_only, loss_pos_neg

Score-level functions and modules::

    loss, loss_ctr, loss_aux = semcl.torch.positive_only_loss(score_raw, score_pos, y)
    loss, loss_ctr, loss_aux = semcl.torch.pos_neg_loss(score_raw, score_pos, score_neg, y)
    semcl.torch.PositiveOnlyLoss(lambda_sem=1.0, reduction="mean")
    semcl.torch.PosNegLoss(lambda_rank=1.0, reduction="mean")

Scores must be float32 (CPU or CUDA, all on one device); labels may be float, int or bool
(they are converted to float32, as the seed's ``y_raw.float()`` does). The forward pass
computes the gradients in the same fused library call; backward only scales them (no host
synchronisation). See README.md ("Python / PyTorch") for the exact semantics.
"""
import functools
import math
import numbers

import torch
from torch.autograd.function import once_differentiable as _torch_once_differentiable

from . import _capi

__all__ = [
    "loss_positive_only", "loss_pos_neg", "positive_only_loss", "pos_neg_loss",
    "PositiveOnlyLoss", "PosNegLoss",
]

_FLT_MAX = 3.4028234663852886e38
# For the pairwise loss, gradients of loss_aux alone are recovered from the saved gradient of
# L as G/lambda when lambda is in this range (a few ulp); outside it (lambda = 0 in particular)
# the inputs are saved and the gradient of loss_aux is recomputed by a second library call.
_LAMBDA_DIVIDE_MIN, _LAMBDA_DIVIDE_MAX = 1e-6, 1e18
_LABEL_INT_DTYPES = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


_DOUBLE_BACKWARD_MESSAGE = (
    b"semcl.torch: double backward is not supported: the fused losses are once-differentiable "
    b"(their gradients are computed by the C library, not by autograd)")


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


# ---- argument checks ----------------------------------------------------------------------------
def _check_tensor(name, t):
    if not isinstance(t, torch.Tensor):
        raise TypeError("%s must be a torch.Tensor, got %s" % (name, type(t).__name__))
    if t.layout != torch.strided:
        raise TypeError("%s: layout %s is not supported (dense tensors only)" % (name, t.layout))
    if t.device.type not in ("cpu", "cuda"):
        raise ValueError("%s is on device %s; semcl supports CPU and CUDA tensors"
                         % (name, t.device))


def _check_score(name, t, ndim, what):
    _check_tensor(name, t)
    if t.dtype != torch.float32:
        raise TypeError(
            "%s has dtype %s; semcl computes in float32 only and never downcasts silently "
            "(pass %s.float() if float32 is what you want)" % (name, t.dtype, name))
    if t.dim() != ndim:
        raise ValueError("%s must be %s, got shape %s" % (name, what, tuple(t.shape)))


def _same_device(name, t, ref_name, ref):
    if t.device != ref.device:
        raise ValueError("%s is on %s but %s is on %s: all inputs must be on one device"
                         % (name, t.device, ref_name, ref.device))


def _prep_labels(name, y, B, device):
    _check_tensor(name, y)
    if not (y.dtype.is_floating_point or y.dtype in _LABEL_INT_DTYPES):
        raise TypeError("%s has dtype %s; labels must be a float, integer or bool tensor"
                        % (name, y.dtype))
    if tuple(y.shape) != (B,):
        raise ValueError("%s must have shape (B,) = (%d,) like the scores, got shape %s"
                         % (name, B, tuple(y.shape)))
    if y.device != device:
        raise ValueError("%s is on %s but the scores are on %s: all inputs must be on one device"
                         % (name, y.device, device))
    if y.requires_grad and torch.is_grad_enabled():
        raise ValueError("%s requires grad: gradients with respect to the labels are not "
                         "supported (pass %s.detach())" % (name, name))
    # A label cast (the seed's y_raw.float()); no copy when already float32 and contiguous.
    return y.detach().to(torch.float32).contiguous()


def _prep_lambda(name, lam):
    if isinstance(lam, torch.Tensor):
        if lam.numel() != 1:
            raise ValueError("%s must be a scalar, got a tensor of shape %s"
                             % (name, tuple(lam.shape)))
        if lam.requires_grad:
            raise TypeError("%s: a lambda that requires grad is not supported" % name)
        lam = lam.item()
    if isinstance(lam, bool) or not isinstance(lam, numbers.Real):
        raise TypeError("%s must be a real number, got %s" % (name, type(lam).__name__))
    lam = float(lam)
    if not math.isfinite(lam) or abs(lam) > _FLT_MAX:
        raise ValueError("%s = %r is not a finite float32 value" % (name, lam))
    return lam


def _prep_reduction(reduction):
    if not isinstance(reduction, str) or reduction not in _capi.REDUCTIONS:
        raise ValueError("reduction must be 'mean', 'sum' or 'none', got %r" % (reduction,))
    return reduction


# ---- library calls --------------------------------------------------------------------------------
class _DeviceGuard:
    """Makes the tensor's CUDA device current (the library launches on the current device)."""

    def __init__(self, device):
        self.guard = torch.cuda.device(device) if device.type == "cuda" else None

    def __enter__(self):
        if self.guard is not None:
            self.guard.__enter__()
        return self

    def __exit__(self, *exc):
        if self.guard is not None:
            return self.guard.__exit__(*exc)
        return False


def _context(device):
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        stream = torch.cuda.current_stream(index).cuda_stream
        return _capi.context(_capi.BACKEND_CUDA, index, stream)
    handle = _capi.context(_capi.BACKEND_CPU)
    # Same thread budget as PyTorch's intra-op pool (results do not depend on it).
    _capi.call("semcl_set_threads", handle, max(1, min(1024, torch.get_num_threads())))
    return handle


def _ptr(t):
    return None if t is None else t.data_ptr()


def _run(raw, pos, neg, y, lam, reduction, need_raw=False, need_pos=False, need_neg=False):
    """One fused library call. Returns (loss, loss_ctr, loss_aux, grad_raw, grad_pos, grad_neg);
    a gradient is computed (gradient of loss, upstream 1) only when asked for."""
    device = raw.device
    B = raw.shape[0]
    shape = (B,) if reduction == "none" else ()
    loss = torch.empty(shape, dtype=torch.float32, device=device)
    loss_ctr = torch.empty(shape, dtype=torch.float32, device=device)
    loss_aux = torch.empty(shape, dtype=torch.float32, device=device)
    g_raw = torch.empty(B, dtype=torch.float32, device=device) if need_raw else None
    g_pos = torch.empty(B, dtype=torch.float32, device=device) if need_pos else None
    g_neg = (torch.empty(neg.shape, dtype=torch.float32, device=device)
             if need_neg and neg is not None else None)
    red = _capi.REDUCTIONS[reduction]
    with _DeviceGuard(device):
        h = _context(device)
        if neg is None:
            if need_raw or need_pos:
                _capi.call("semcl_positive_only_forward_backward", h, B, _ptr(raw), _ptr(pos),
                           _ptr(y), lam, red, 1.0, None, _ptr(loss), _ptr(loss_ctr),
                           _ptr(loss_aux), _ptr(g_raw), _ptr(g_pos))
            else:
                _capi.call("semcl_positive_only_forward", h, B, _ptr(raw), _ptr(pos), _ptr(y),
                           lam, red, _ptr(loss), _ptr(loss_ctr), _ptr(loss_aux))
        else:
            K = neg.shape[1]
            if need_raw or need_pos or need_neg:
                _capi.call("semcl_pos_neg_forward_backward", h, B, K, _ptr(raw), _ptr(pos),
                           _ptr(neg), _ptr(y), lam, red, 1.0, None, _ptr(loss),
                           _ptr(loss_ctr), _ptr(loss_aux), _ptr(g_raw), _ptr(g_pos),
                           _ptr(g_neg))
            else:
                _capi.call("semcl_pos_neg_forward", h, B, K, _ptr(raw), _ptr(pos), _ptr(neg),
                           _ptr(y), lam, red, _ptr(loss), _ptr(loss_ctr), _ptr(loss_aux))
    return loss, loss_ctr, loss_aux, g_raw, g_pos, g_neg


def _ctr_grad_raw(raw, y, reduction):
    """d loss_ctr / d score_raw (upstream 1) from the library: the pairwise loss's score_raw
    gradient is exactly the BCE term's, so a K = 1 call with score_pos = score_neg = score_raw
    (inputs may alias) gives it in O(B)."""
    n = raw.reshape(-1, 1)
    return _run(raw, raw, n, y, 0.0, reduction, need_raw=True)[3]


# ---- upstream gradient algebra --------------------------------------------------------------------
def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _scaled(coef, g, rows):
    """coef * g where coef is a scalar tensor (mean/sum) or per-row (B,) (none)."""
    if coef is None or g is None:
        return None
    if rows and g.dim() == 2:
        coef = coef.unsqueeze(1)
    return coef * g


def _sub(a, b):
    if b is None:
        return a
    if a is None:
        return -b
    return a - b


# ---- autograd Functions ---------------------------------------------------------------------------
class _PositiveOnlyFunction(torch.autograd.Function):
    """Outputs (L, L_ctr, L_pos). Forward saves dL/d(score_raw, score_pos) from the fused pass.
    Backward: with only dL flowing, grad = g_L * G. When loss_ctr / loss_aux also receive
    gradients, d/dx = (g_L + g_ctr) dL_ctr/dx + (lambda g_L + g_aux) dL_aux/dx, with both
    component gradients recomputed by O(B) library calls on the saved inputs."""

    @staticmethod
    def forward(ctx, raw, pos, y, lam, reduction):
        ctx.set_materialize_grads(False)
        need_raw, need_pos = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        loss, ctr, aux, g_raw, g_pos, _ = _run(raw, pos, None, y, lam, reduction,
                                               need_raw=need_raw, need_pos=need_pos)
        ctx.lam, ctx.reduction = lam, reduction
        ctx.save_for_backward(raw, pos, y, g_raw, g_pos)
        return loss, ctr, aux

    @staticmethod
    @once_differentiable
    def backward(ctx, g_loss, g_ctr, g_aux):
        raw, pos, y, G_raw, G_pos = ctx.saved_tensors
        need_raw, need_pos = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        rows = ctx.reduction == "none"
        if g_ctr is None and g_aux is None:
            if g_loss is None:
                return None, None, None, None, None
            d_raw = _scaled(g_loss, G_raw, rows) if need_raw else None
            d_pos = _scaled(g_loss, G_pos, rows) if need_pos else None
            return d_raw, d_pos, None, None, None
        coef_ctr = _add(g_loss, g_ctr)
        coef_aux = _add(None if g_loss is None else g_loss * ctx.lam, g_aux)
        # dL_aux/dpos from a lambda = 1 call (score_pos is not in L_ctr: exact), and
        # dL_aux/draw = -dL_aux/dpos exactly (L_pos depends on score_pos - score_raw).
        D_aux_pos = None
        if coef_aux is not None:
            D_aux_pos = _run(raw, pos, None, y, 1.0, ctx.reduction, need_pos=True)[4]
        d_raw = d_pos = None
        if need_raw:
            D_ctr_raw = _ctr_grad_raw(raw, y, ctx.reduction) if coef_ctr is not None else None
            d_raw = _sub(_scaled(coef_ctr, D_ctr_raw, rows), _scaled(coef_aux, D_aux_pos, rows))
        if need_pos:
            d_pos = _scaled(coef_aux, D_aux_pos, rows)
        return d_raw, d_pos, None, None, None


class _PosNegFunction(torch.autograd.Function):
    """Outputs (L, L_ctr, L_pair). Forward saves dL/d(score_raw, score_pos, score_neg) from the
    fused pass. Backward: with only dL flowing, grad = g_L * G (per row for 'none'). With
    gradients on loss_ctr / loss_aux too: score_raw is only in L_ctr, so its gradient is
    (g_L + g_ctr) * G_raw exactly; score_pos / score_neg are only in L_pair, so theirs is
    (lambda g_L + g_aux) * dL_pair/dx, where dL_pair/dx = G/lambda for moderate lambda, else
    (lambda = 0 ...) recomputed by a lambda = 1 library call on inputs saved for that case."""

    @staticmethod
    def forward(ctx, raw, pos, neg, y, lam, reduction):
        ctx.set_materialize_grads(False)
        need_raw, need_pos, need_neg = ctx.needs_input_grad[:3]
        loss, ctr, aux, g_raw, g_pos, g_neg = _run(raw, pos, neg, y, lam, reduction,
                                                   need_raw, need_pos, need_neg)
        ctx.lam, ctx.reduction = lam, reduction
        ctx.divide = _LAMBDA_DIVIDE_MIN <= abs(lam) <= _LAMBDA_DIVIDE_MAX
        if ctx.divide or not (need_pos or need_neg):
            ctx.save_for_backward(g_raw, g_pos, g_neg)
        else:
            ctx.save_for_backward(g_raw, g_pos, g_neg, raw, pos, neg, y)
        return loss, ctr, aux

    @staticmethod
    @once_differentiable
    def backward(ctx, g_loss, g_ctr, g_aux):
        saved = ctx.saved_tensors
        G_raw, G_pos, G_neg = saved[:3]
        need_raw, need_pos, need_neg = ctx.needs_input_grad[:3]
        rows = ctx.reduction == "none"
        nones = (None, None, None)
        if g_ctr is None and g_aux is None:
            if g_loss is None:
                return (None,) * 6
            return (_scaled(g_loss, G_raw, rows) if need_raw else None,
                    _scaled(g_loss, G_pos, rows) if need_pos else None,
                    _scaled(g_loss, G_neg, rows) if need_neg else None) + nones
        lam = ctx.lam
        d_raw = _scaled(_add(g_loss, g_ctr), G_raw, rows) if need_raw else None
        d_pos = d_neg = None
        if need_pos or need_neg:
            if ctx.divide:
                # (lam*g_L + g_aux) * G/lam = (g_L + g_aux/lam) * G
                coef = _add(g_loss, None if g_aux is None else g_aux / lam)
                d_pos = _scaled(coef, G_pos, rows) if need_pos else None
                d_neg = _scaled(coef, G_neg, rows) if need_neg else None
            else:
                coef = _add(None if g_loss is None else g_loss * lam, g_aux)
                if coef is not None:
                    raw, pos, neg, y = saved[3:]
                    _, _, _, _, D_pos, D_neg = _run(raw, pos, neg, y, 1.0, ctx.reduction,
                                                    need_pos=need_pos, need_neg=need_neg)
                    d_pos = _scaled(coef, D_pos, rows) if need_pos else None
                    d_neg = _scaled(coef, D_neg, rows) if need_neg else None
        return (d_raw, d_pos, d_neg) + nones


# ---- public score-level API -----------------------------------------------------------------------
_DEFAULT_NAMES = {"raw": "score_raw", "pos": "score_pos", "neg": "score_neg", "y": "y"}


def _contig(t):
    return t if t.is_contiguous() else t.contiguous()


def _check_raw_pos(n, score_raw, score_pos):
    """Checks the two (B,) score vectors of both losses; returns B."""
    _check_score(n["raw"], score_raw, 1, "1-D of shape (B,)")
    _check_score(n["pos"], score_pos, 1, "1-D of shape (B,)")
    B = score_raw.shape[0]
    if B == 0:
        raise ValueError("%s is empty: B must be >= 1" % n["raw"])
    if score_pos.shape[0] != B:
        raise ValueError("%s must have shape (%d,) like %s, got %s"
                         % (n["pos"], B, n["raw"], tuple(score_pos.shape)))
    return B


def positive_only_loss(score_raw, score_pos, y, lambda_sem=1.0, reduction="mean", _names=None):
    """Loss 1 (positive-only semantic consistency) from scores.

    score_raw, score_pos: float32 (B,); y: labels (B,) (float in [0, 1], int or bool).
    Returns (loss, loss_ctr, loss_pos): 0-d tensors for 'mean'/'sum', (B,) for 'none', with
    loss = loss_ctr + lambda_sem * loss_pos."""
    n = _names or _DEFAULT_NAMES
    reduction = _prep_reduction(reduction)
    lam = _prep_lambda("lambda_sem", lambda_sem)
    B = _check_raw_pos(n, score_raw, score_pos)
    _same_device(n["pos"], score_pos, n["raw"], score_raw)
    yf = _prep_labels(n["y"], y, B, score_raw.device)
    raw, pos = _contig(score_raw), _contig(score_pos)
    if torch.is_grad_enabled() and (raw.requires_grad or pos.requires_grad):
        return _PositiveOnlyFunction.apply(raw, pos, yf, lam, reduction)
    return _run(raw, pos, None, yf, lam, reduction)[:3]


def pos_neg_loss(score_raw, score_pos, score_neg, y, lambda_rank=1.0, reduction="mean",
                 _names=None):
    """Loss 2 (label-conditioned pairwise ranking, K negatives per row) from scores.

    score_raw, score_pos: float32 (B,); score_neg: float32 (B, K); y: labels (B,).
    Returns (loss, loss_ctr, loss_pair): 0-d tensors for 'mean'/'sum', (B,) for 'none' (per
    sample, loss_pair_b being the mean over the row's K negatives)."""
    n = _names or _DEFAULT_NAMES
    reduction = _prep_reduction(reduction)
    lam = _prep_lambda("lambda_rank", lambda_rank)
    B = _check_raw_pos(n, score_raw, score_pos)
    _check_score(n["neg"], score_neg, 2, "2-D of shape (B, K)")
    if score_neg.shape[0] != B:
        raise ValueError("%s must have shape (B, K) with B = %d like %s, got %s"
                         % (n["neg"], B, n["raw"], tuple(score_neg.shape)))
    if score_neg.shape[1] == 0:
        raise ValueError("%s has K = 0 negatives per row: K must be >= 1" % n["neg"])
    _same_device(n["pos"], score_pos, n["raw"], score_raw)
    _same_device(n["neg"], score_neg, n["raw"], score_raw)
    yf = _prep_labels(n["y"], y, B, score_raw.device)
    raw, pos, neg = _contig(score_raw), _contig(score_pos), _contig(score_neg)
    if torch.is_grad_enabled() and (raw.requires_grad or pos.requires_grad or neg.requires_grad):
        return _PosNegFunction.apply(raw, pos, neg, yf, lam, reduction)
    return _run(raw, pos, neg, yf, lam, reduction)[:3]


# ---- the seed's model-level functions (drop-in) -----------------------------------------------------
_MODEL_NAMES = {"raw": "score_raw (= model(u, item_raw))", "pos": "score_pos (= model(u, item_pos))",
                "neg": "score_neg (= model(u_neg, item_neg).reshape(B, K))", "y": "y_raw"}


def loss_positive_only(model, u, item_raw, item_pos, y_raw, lambda_sem=1.0):
    """The seed's loss_positive_only, computed by semcl. Calls model exactly as the seed does."""
    score_raw = model(u, item_raw)    # (B,)
    score_pos = model(u, item_pos)    # (B,)
    return positive_only_loss(score_raw, score_pos, y_raw, lambda_sem, "mean", _MODEL_NAMES)


def loss_pos_neg(model, u, item_raw, item_pos, item_neg, y_raw, lambda_rank=1.0):
    """The seed's loss_pos_neg, computed by semcl. Calls model exactly as the seed does."""
    B, K = item_neg.shape[:2]

    score_raw = model(u, item_raw)
    score_pos = model(u, item_pos)

    u_neg = u.unsqueeze(1).repeat(1, K, 1)
    score_neg = model(
        u_neg.reshape(B*K, -1),
        item_neg.reshape(B*K, -1)
    ).reshape(B, K)
    return pos_neg_loss(score_raw, score_pos, score_neg, y_raw, lambda_rank, "mean",
                        _MODEL_NAMES)


# ---- modules ---------------------------------------------------------------------------------------
class PositiveOnlyLoss(torch.nn.Module):
    """forward(score_raw, score_pos, y) -> (loss, loss_ctr, loss_pos)."""

    def __init__(self, lambda_sem=1.0, reduction="mean"):
        super().__init__()
        self.lambda_sem = _prep_lambda("lambda_sem", lambda_sem)
        self.reduction = _prep_reduction(reduction)

    def forward(self, score_raw, score_pos, y):
        return positive_only_loss(score_raw, score_pos, y, self.lambda_sem, self.reduction)

    def extra_repr(self):
        return "lambda_sem=%r, reduction=%r" % (self.lambda_sem, self.reduction)


class PosNegLoss(torch.nn.Module):
    """forward(score_raw, score_pos, score_neg, y) -> (loss, loss_ctr, loss_pair)."""

    def __init__(self, lambda_rank=1.0, reduction="mean"):
        super().__init__()
        self.lambda_rank = _prep_lambda("lambda_rank", lambda_rank)
        self.reduction = _prep_reduction(reduction)

    def forward(self, score_raw, score_pos, score_neg, y):
        return pos_neg_loss(score_raw, score_pos, score_neg, y, self.lambda_rank, self.reduction)

    def extra_repr(self):
        return "lambda_rank=%r, reduction=%r" % (self.lambda_rank, self.reduction)
