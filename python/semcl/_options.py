"""Argument checks of the optional keywords of the public semcl.torch functions (weight,
pos_weight, neg_mask, neg_count): every message names the argument. They turn the user's values
into the canonical _launch.Options the implementations take, reading only tensor metadata (no
values, so no host synchronisation and nothing that breaks a torch.compile graph).

Shape rule, as for the labels: a per-sample argument has the scores' shape, (B,) or (B, 1), no
broadcasting (binary_cross_entropy_with_logits refuses a (B,) weight for (B, 1) logits too). None
of these arguments gets a gradient; one that requires grad is refused while grad mode is on, as
binary_cross_entropy_with_logits refuses a weight or pos_weight that requires grad."""
import numbers

import torch

from ._checks import check_tensor, flat
from ._launch import Options

_INT_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _check_common(name, t, device):
    check_tensor(name, t)
    if t.device != device:
        raise ValueError("%s is on %s but the scores are on %s: all inputs must be on one device"
                         % (name, t.device, device))
    if t.requires_grad and torch.is_grad_enabled():
        raise ValueError("%s requires grad: semcl gives %s no gradient (like "
                         "binary_cross_entropy_with_logits, which refuses it too); pass "
                         "%s.detach()" % (name, name, name))


def _real_dtype(name, t):
    """float, int or bool, as binary_cross_entropy_with_logits takes for weight/pos_weight."""
    if t.dtype.is_complex or not (t.dtype.is_floating_point or t.dtype in _INT_DTYPES
                                  or t.dtype == torch.bool):
        raise TypeError("%s has dtype %s; it must be a real (float, integer or bool) tensor"
                        % (name, t.dtype))


def prep_weight(weight, shape, device):
    """Per-sample weights of the scores' shape -> float32 contiguous (B,)."""
    if weight is None:
        return None
    _check_common("weight", weight, device)
    _real_dtype("weight", weight)
    if tuple(weight.shape) != shape:
        raise ValueError("weight must have shape %s like the scores (one weight per sample, no "
                         "broadcasting), got shape %s" % (shape, tuple(weight.shape)))
    return flat(weight.detach().to(torch.float32), shape[0])


def prep_pos_weight(pos_weight, shape, device):
    """A number, a one-element tensor, or a tensor of the scores' shape -> float32 contiguous
    (1,) or (B,)."""
    if pos_weight is None:
        return None
    if isinstance(pos_weight, numbers.Real) and not isinstance(pos_weight, bool):
        # torch.full rather than torch.tensor: a fill kernel, no host-to-device copy to wait on
        return torch.full((1,), float(pos_weight), dtype=torch.float32, device=device)
    if not isinstance(pos_weight, torch.Tensor):
        raise TypeError("pos_weight must be a real number or a torch.Tensor, got %s"
                        % type(pos_weight).__name__)
    _check_common("pos_weight", pos_weight, device)
    _real_dtype("pos_weight", pos_weight)
    if pos_weight.numel() == 1:
        return flat(pos_weight.detach().to(torch.float32), 1)
    if tuple(pos_weight.shape) != shape:
        raise ValueError("pos_weight must be a number, a one-element tensor or have shape %s "
                         "like the scores (one per sample), got shape %s"
                         % (shape, tuple(pos_weight.shape)))
    return flat(pos_weight.detach().to(torch.float32), shape[0])


def prep_neg_mask(neg_mask, neg_shape, device):
    """bool (B, K), True where the negative is real -> contiguous bool (B, K), passed to the
    library as its bytes (a torch.bool element is one byte, 0 or 1): no conversion."""
    if neg_mask is None:
        return None
    _check_common("neg_mask", neg_mask, device)
    if neg_mask.dtype != torch.bool:
        raise TypeError("neg_mask has dtype %s; it must be a torch.bool tensor, True where the "
                        "negative is real (e.g. pass neg_mask != 0)" % (neg_mask.dtype,))
    if tuple(neg_mask.shape) != neg_shape:
        raise ValueError("neg_mask must have shape %s like score_neg (no broadcasting), got "
                         "shape %s" % (neg_shape, tuple(neg_mask.shape)))
    return neg_mask if neg_mask.is_contiguous() else neg_mask.contiguous()


def prep_neg_count(neg_count, shape, K, device):
    """Integer per-row counts of the scores' shape -> int32 contiguous (B,). The library clamps
    each count to [0, K]; a wider integer type is clamped here before the int32 conversion so
    that no count wraps around."""
    if neg_count is None:
        return None
    _check_common("neg_count", neg_count, device)
    if neg_count.dtype not in _INT_DTYPES:
        raise TypeError("neg_count has dtype %s; it must be an integer tensor (the number of "
                        "real negatives of each row)" % (neg_count.dtype,))
    if tuple(neg_count.shape) != shape:
        raise ValueError("neg_count must have shape %s like the scores (one count per row), "
                         "got shape %s" % (shape, tuple(neg_count.shape)))
    if neg_count.dtype != torch.int32:
        neg_count = neg_count.clamp(0, K).to(torch.int32)
    return flat(neg_count, shape[0])


def prepare(shape, device, weight, pos_weight, neg_shape=None, neg_mask=None, neg_count=None):
    """All options of one call -> _launch.Options. neg_shape is None for the positive-only
    loss (which has no masks)."""
    return Options(
        neg_mask=prep_neg_mask(neg_mask, neg_shape, device) if neg_shape else None,
        neg_count=(prep_neg_count(neg_count, shape, neg_shape[1], device)
                   if neg_shape else None),
        weight=prep_weight(weight, shape, device),
        pos_weight=prep_pos_weight(pos_weight, shape, device))
