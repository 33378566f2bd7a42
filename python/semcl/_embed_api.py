"""Argument checks of the public embedding losses (semcl.torch.pos_neg_loss_from_embeddings,
positive_only_loss_from_embeddings): the user's tensors and keywords -> the canonical form of
_embed_launch, reading only metadata (no host synchronisation). Every message names the
argument."""
import numbers

import torch

from . import _checks, _dtypes, _embed_launch, _options


def _impl():
    """_embed_custom_ops on PyTorch 2 (same choice as the score-level losses), else
    _embed_function."""
    from . import torch as semcl_torch  # the choice is made once, there
    if semcl_torch.IMPLEMENTATION == "torch.library custom op":
        from . import _embed_custom_ops as impl
    else:
        from . import _embed_function as impl
    return impl


def _embedding(name, t, shape=None, device=None):
    _checks.check_tensor(name, t)
    _dtypes.check_score_dtype(name, t)  # float32, bfloat16 or float16 (the scores' rule)
    if shape is not None and tuple(t.shape) != tuple(shape):
        raise ValueError("%s must have shape %s, got %s" % (name, tuple(shape), tuple(t.shape)))
    if device is not None and t.device != device:
        raise ValueError("%s is on %s but user is on %s: all inputs must be on one device"
                         % (name, t.device, device))
    return t if t.is_contiguous() else t.contiguous()


def _rows(user, item_raw, item_pos):
    _checks.check_tensor("user", user)
    if user.dim() != 2 or user.shape[0] < 1 or user.shape[1] < 1:
        raise ValueError("user must be a non-empty (B, D) matrix, got shape %s"
                         % (tuple(user.shape),))
    u = _embedding("user", user)
    return (u, _embedding("item_raw", item_raw, u.shape, u.device),
            _embedding("item_pos", item_pos, u.shape, u.device))


def _common_dtype(*embeddings):
    """Embeddings of different (supported) dtypes are promoted to a common one, as scores are
    (_dtypes: float32 with bfloat16 -> float32, bfloat16 with float16 -> float32); autograd
    sees the cast, so each gradient comes back in its embedding's own dtype."""
    dtype = _dtypes.common_score_dtype(*embeddings)
    return tuple(t if t.dtype == dtype else t.to(dtype) for t in embeddings)


def _scale(score_scale):
    if isinstance(score_scale, torch.Tensor):
        if score_scale.numel() != 1:
            raise ValueError("score_scale must be one number")
        score_scale = score_scale.item()
    if not isinstance(score_scale, numbers.Real) or isinstance(score_scale, bool):
        raise TypeError("score_scale must be a real number, got %s" % type(score_scale).__name__)
    if score_scale != score_scale or abs(score_scale) == float("inf"):
        raise ValueError("score_scale must be finite, got %r" % (score_scale,))
    return float(score_scale)


def _pos_index(pos_index, B, device):
    if pos_index is None:
        return None
    _checks.check_tensor("pos_index", pos_index)
    if pos_index.dtype.is_floating_point or pos_index.dtype.is_complex or \
            pos_index.dtype == torch.bool:
        raise TypeError("pos_index has dtype %s; it must be an integer tensor (the pool entry "
                        "of each row's own positive, -1 for none)" % (pos_index.dtype,))
    if tuple(pos_index.shape) != (B,):
        raise ValueError("pos_index must have shape (%d,) (one pool index per row), got %s"
                         % (B, tuple(pos_index.shape)))
    if pos_index.device != device:
        raise ValueError("pos_index is on %s but user is on %s" % (pos_index.device, device))
    return pos_index.detach().to(torch.int64).contiguous()


def _label_shape(y, B):
    """(B,) or (B, 1), as y has it; weight, pos_weight and neg_count take the same shape."""
    return (B, 1) if isinstance(y, torch.Tensor) and y.dim() == 2 else (B,)


def pos_neg(user, item_raw, item_pos, item_neg, y, lambda_rank, reduction, weight, pos_weight,
            neg_mask, neg_count, score_scale, pos_index):
    """The pairwise loss: checks, then the implementation's embed_loss."""
    reduction = _checks.prep_reduction(reduction)
    lam = _checks.prep_lambda("lambda_rank", lambda_rank)
    u, r, p = _rows(user, item_raw, item_pos)
    B, D = u.shape
    _checks.check_tensor("item_neg", item_neg)
    if item_neg.dim() == 3:
        n = _embedding("item_neg", item_neg, (B, item_neg.shape[1], D), u.device)
        if n.shape[1] < 1:
            raise ValueError("item_neg (B, K, D) needs K >= 1")
        pairs = (B, n.shape[1])
        if pos_index is not None:
            raise ValueError("pos_index masks a shared pool's entry; with per-row negatives "
                             "(B, K, D) use neg_mask")
    elif item_neg.dim() == 2:
        n = _embedding("item_neg", item_neg, (item_neg.shape[0], D), u.device)
        if n.shape[0] < 1:
            raise ValueError("item_neg (N, D) needs N >= 1")
        pairs = (B, n.shape[0])
    else:
        raise ValueError("item_neg must be (B, K, D) (per-row negatives) or (N, D) (a pool "
                         "shared by every row), got shape %s" % (tuple(item_neg.shape),))
    u, r, p, n = _common_dtype(u, r, p, n)
    kind = _embed_launch.kind_of(n)
    shape = _label_shape(y, B)
    yf = _checks.prep_labels("y", y, shape, u.device)
    opts = _options.prepare(shape, u.device, weight, pos_weight, pairs, neg_mask, neg_count)
    return _impl().embed_loss(kind, u, r, p, n, yf, opts, _pos_index(pos_index, B, u.device),
                              _scale(score_scale), lam, reduction)


def positive_only(user, item_raw, item_pos, y, lambda_sem, reduction, weight, pos_weight,
                  score_scale):
    """Loss 1: checks, then the implementation's embed_loss."""
    reduction = _checks.prep_reduction(reduction)
    lam = _checks.prep_lambda("lambda_sem", lambda_sem)
    u, r, p = _common_dtype(*_rows(user, item_raw, item_pos))
    B = u.shape[0]
    shape = _label_shape(y, B)
    yf = _checks.prep_labels("y", y, shape, u.device)
    opts = _options.prepare(shape, u.device, weight, pos_weight)
    return _impl().embed_loss(_embed_launch.POSITIVE_ONLY, u, r, p, None, yf, opts, None,
                              _scale(score_scale), lam, reduction)

