"""Argument checks of the public semcl.torch functions: every message names the argument.

They run before any tensor is touched by the library and turn the user's arguments into the
canonical form the implementations take: contiguous (B,) score vectors and a (B, K) negatives
matrix of one score dtype, float32 (B,) labels, a float lambda and a reduction name (the
optional keywords: _options.py). All of it is plain tensor
metadata and Python, so torch.compile traces through it without a graph break."""
import numbers

import torch

from . import _capi
from ._dtypes import check_score_dtype, common_score_dtype

_FLT_MAX = 3.4028234663852886e38
_LABEL_INT_DTYPES = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def check_tensor(name, t):
    if not isinstance(t, torch.Tensor):
        raise TypeError("%s must be a torch.Tensor, got %s" % (name, type(t).__name__))
    if t.layout != torch.strided:
        raise TypeError("%s: layout %s is not supported (dense tensors only)" % (name, t.layout))
    if t.device.type not in ("cpu", "cuda"):
        raise ValueError("%s is on device %s; semcl supports CPU and CUDA tensors"
                         % (name, t.device))


def _same_device(name, t, ref_name, ref):
    if t.device != ref.device:
        raise ValueError("%s is on %s but %s is on %s: all inputs must be on one device"
                         % (name, t.device, ref_name, ref.device))


def _is_column(shape):
    """(B,) or (B, 1): the two layouts of a per-sample score vector."""
    return len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)


def check_raw_pos(n, score_raw, score_pos):
    """score_raw and score_pos: (B,) or (B, 1), one shape for both (as BCEWithLogits asks of
    input and target: no broadcasting). Returns (B, shape)."""
    for key, t in (("raw", score_raw), ("pos", score_pos)):
        check_tensor(n[key], t)
        check_score_dtype(n[key], t)
        if not _is_column(t.shape):
            raise ValueError("%s must have shape (B,) or (B, 1), got shape %s"
                             % (n[key], tuple(t.shape)))
    shape = tuple(score_raw.shape)
    B = shape[0]
    if B == 0:
        raise ValueError("%s is empty: B must be >= 1" % n["raw"])
    if tuple(score_pos.shape) != shape:
        raise ValueError("%s must have shape %s like %s (no broadcasting), got %s"
                         % (n["pos"], shape, n["raw"], tuple(score_pos.shape)))
    _same_device(n["pos"], score_pos, n["raw"], score_raw)
    return B, shape


def check_neg(n, score_neg, B, device):
    check_tensor(n["neg"], score_neg)
    check_score_dtype(n["neg"], score_neg)
    if score_neg.dim() != 2:
        raise ValueError("%s must be 2-D of shape (B, K), got shape %s"
                         % (n["neg"], tuple(score_neg.shape)))
    if score_neg.shape[0] != B:
        raise ValueError("%s must have shape (B, K) with B = %d like %s, got %s"
                         % (n["neg"], B, n["raw"], tuple(score_neg.shape)))
    if score_neg.shape[1] == 0:
        raise ValueError("%s has K = 0 negatives per row: K must be >= 1" % n["neg"])
    if score_neg.device != device:
        raise ValueError("%s is on %s but %s is on %s: all inputs must be on one device"
                         % (n["neg"], score_neg.device, n["raw"], device))


def prep_labels(name, y, shape, device):
    """Labels of the scores' shape ((B,) or (B, 1)) -> float32 contiguous (B,)."""
    check_tensor(name, y)
    if not (y.dtype.is_floating_point or y.dtype in _LABEL_INT_DTYPES):
        raise TypeError("%s has dtype %s; labels must be a float, integer or bool tensor"
                        % (name, y.dtype))
    if tuple(y.shape) != shape:
        raise ValueError("%s must have shape %s like the scores (same shape rule as "
                         "BCEWithLogits: no broadcasting), got shape %s"
                         % (name, shape, tuple(y.shape)))
    if y.device != device:
        raise ValueError("%s is on %s but the scores are on %s: all inputs must be on one device"
                         % (name, y.device, device))
    if y.requires_grad and torch.is_grad_enabled():
        raise ValueError("%s requires grad: gradients with respect to the labels are not "
                         "supported (pass %s.detach())" % (name, name))
    # A label cast (the seed's y_raw.float()); no copy when already float32 and contiguous.
    return flat(y.detach().to(torch.float32), shape[0])


def prep_lambda(name, lam):
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
    # Comparisons rather than math.isfinite: under torch.compile a lambda that changed between
    # calls arrives as a symbolic float, which math.isfinite cannot take (NaN fails both).
    if not -_FLT_MAX <= lam <= _FLT_MAX:
        raise ValueError("%s = %r is not a finite float32 value" % (name, lam))
    return lam


def prep_reduction(reduction):
    if not isinstance(reduction, str) or reduction not in _capi.REDUCTIONS:
        raise ValueError("reduction must be 'mean', 'sum' or 'none', got %r" % (reduction,))
    return reduction


def flat(t, B):
    """(B,) or (B, 1) -> contiguous (B,): a view when it can be, a copy otherwise (autograd
    sees a reshape either way)."""
    t = t.reshape(B)
    return t if t.is_contiguous() else t.contiguous()


def contiguous(t):
    return t if t.is_contiguous() else t.contiguous()


def promote_scores(*scores):
    """The (checked) scores converted to their common dtype (_dtypes.common_score_dtype); a
    score already in it is returned as is."""
    dtype = common_score_dtype(*scores)
    return tuple(t.to(dtype) for t in scores)
