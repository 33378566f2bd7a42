"""One libsemcl embedding call on canonical tensors, shared by both implementations of the
embedding losses (_embed_function.py for PyTorch 1.13, _embed_custom_ops.py for PyTorch 2).

Canonical: contiguous user, item_raw, item_pos (B, D) and item_neg (B, K, D) (kind PER_ROW),
(N, D) (kind SHARED) or None (kind POSITIVE_ONLY), all of one dtype: float32, bfloat16 or
float16 (the library reads them in it and writes their gradients in it); float32 (B,) labels;
the options as a _launch.Options of canonical tensors (neg_mask bool (B, K) or (B, N));
pos_index int64 (B,) or None (SHARED only). All on one device."""
import ctypes

import torch

from . import _capi
from ._dtypes import SCORE_DTYPES
from ._launch import Options, _DeviceGuard, _context, _c_options, _dense, _ptr

POSITIVE_ONLY, PER_ROW, SHARED = 0, 1, 2  # semcl_embed_kind_t
KINDS = (POSITIVE_ONLY, PER_ROW, SHARED)


def kind_of(item_neg):
    """The call for item_neg's shape: None -> loss 1, (B, K, D) -> per row, (N, D) -> pool."""
    if item_neg is None:
        return POSITIVE_ONLY
    return PER_ROW if item_neg.dim() == 3 else SHARED


def _expect(name, t, shape, dtype, device):
    if tuple(t.shape) != tuple(shape):
        raise ValueError("%s must have shape %s, got %s" % (name, tuple(shape), tuple(t.shape)))
    if t.dtype != dtype:
        raise ValueError("%s has dtype %s, expected %s" % (name, t.dtype, dtype))
    if t.device != device:
        raise ValueError("%s is on %s but user is on %s" % (name, t.device, device))


def check_canonical(kind, user, raw, pos, neg, y, opts, pos_index, reduction, upstream):
    """Raises ValueError unless the tensors have the canonical form (reads no data)."""
    if kind not in KINDS:
        raise ValueError("kind must be one of %s, got %r" % (KINDS, kind))
    if reduction not in _capi.REDUCTIONS:
        raise ValueError("reduction must be 'mean', 'sum' or 'none', got %r" % (reduction,))
    if user.dim() != 2 or user.shape[0] < 1 or user.shape[1] < 1:
        raise ValueError("user must be a non-empty (B, D) matrix, got shape %s"
                         % (tuple(user.shape),))
    B, D = user.shape
    dev, f32, emb = user.device, torch.float32, user.dtype
    if emb not in SCORE_DTYPES:
        raise ValueError("user has dtype %s, expected float32, bfloat16 or float16" % (emb,))
    _expect("user", user, (B, D), emb, dev)
    _expect("item_raw", raw, (B, D), emb, dev)
    _expect("item_pos", pos, (B, D), emb, dev)
    _expect("y", y, (B,), f32, dev)
    if (neg is None) != (kind == POSITIVE_ONLY):
        raise ValueError("item_neg must be given exactly for the pairwise loss")
    neg_pairs = None
    if kind == PER_ROW:
        if neg.dim() != 3 or neg.shape[1] < 1:
            raise ValueError("item_neg must be (B, K, D) with K >= 1, got %s"
                             % (tuple(neg.shape),))
        _expect("item_neg", neg, (B, neg.shape[1], D), emb, dev)
        neg_pairs = (B, neg.shape[1])
    elif kind == SHARED:
        if neg.dim() != 2 or neg.shape[0] < 1:
            raise ValueError("item_neg must be (N, D) with N >= 1, got %s" % (tuple(neg.shape),))
        _expect("item_neg", neg, (neg.shape[0], D), emb, dev)
        neg_pairs = (B, neg.shape[0])
    if neg_pairs is None and (opts.neg_mask is not None or opts.neg_count is not None):
        raise ValueError("neg_mask and neg_count belong to the pairwise loss only")
    if opts.neg_mask is not None:
        _expect("neg_mask", opts.neg_mask, neg_pairs, torch.bool, dev)
    if opts.neg_count is not None:
        _expect("neg_count", opts.neg_count, (B,), torch.int32, dev)
    if opts.weight is not None:
        _expect("weight", opts.weight, (B,), f32, dev)
    if opts.pos_weight is not None and tuple(opts.pos_weight.shape) != (1,):
        _expect("pos_weight", opts.pos_weight, (B,), f32, dev)
    if pos_index is not None:
        if kind != SHARED:
            raise ValueError("pos_index belongs to a shared pool of negatives ((N, D) item_neg)")
        _expect("pos_index", pos_index, (B,), torch.int64, dev)
    if upstream is not None:
        _expect("grad_upstream", upstream, (B,) if reduction == "none" else (1,), f32, dev)


def output_shapes(user, neg, reduction, need):
    """Shapes of (loss, loss_ctr, loss_aux, grad_user, grad_item_raw, grad_item_pos,
    grad_item_neg); None for a gradient that is not computed."""
    B, D = user.shape
    loss = (B,) if reduction == "none" else ()
    row = (B, D)
    return (loss, loss, loss, row if need[0] else None, row if need[1] else None,
            row if need[2] else None,
            tuple(neg.shape) if need[3] and neg is not None else None)


def empty_outputs(user, neg, reduction, need):
    """Losses in float32, gradients in the embeddings' dtype."""
    dtypes = (torch.float32,) * 3 + (user.dtype,) * 4
    return tuple(None if s is None else torch.empty(s, dtype=d, device=user.device)
                 for s, d in zip(output_shapes(user, neg, reduction, need), dtypes))


def run(kind, user, raw, pos, neg, y, opts, pos_index, scale, lam, reduction, upstream=None,
        need=(False, False, False, False), grad_scale=1.0):
    """One fused call. Returns (loss, loss_ctr, loss_aux, grad_user, grad_item_raw,
    grad_item_pos, grad_item_neg): the gradients of loss times grad_scale times the upstream
    gradient (1 when upstream is None; else a float32 (1,) tensor for 'mean'/'sum', (B,) for
    'none'), in the embeddings' dtype; None for those not asked for (a call asking for none is
    forward only)."""
    opts = Options(*opts) if opts is not None else Options()
    check_canonical(kind, user, raw, pos, neg, y, opts, pos_index, reduction, upstream)
    user, raw, pos, neg, y, pos_index, upstream = map(
        _dense, (user, raw, pos, neg, y, pos_index, upstream))
    opts = Options(*map(_dense, opts))
    out = empty_outputs(user, neg, reduction, need)
    B, D = user.shape
    red = _capi.REDUCTIONS[reduction]
    c_opts = _c_options(SCORE_DTYPES[user.dtype], opts)
    e_opts = _capi.EmbedOptions(ctypes.sizeof(_capi.EmbedOptions), float(scale), _ptr(pos_index),
                                0)
    ptrs = [_ptr(t) for t in out]
    with _DeviceGuard(user.device):
        h = _context(user.device)
        if kind == POSITIVE_ONLY:
            _capi.call("semcl_positive_only_embed", h, B, D, _ptr(user), _ptr(raw), _ptr(pos),
                       _ptr(y), lam, red, ctypes.byref(c_opts), ctypes.byref(e_opts),
                       float(grad_scale), _ptr(upstream), *ptrs[:6])
        else:
            name = "semcl_pos_neg_embed" if kind == PER_ROW else "semcl_pos_neg_shared_embed"
            _capi.call(name, h, B, neg.shape[-2] if kind == PER_ROW else neg.shape[0], D,
                       _ptr(user), _ptr(raw), _ptr(pos), _ptr(neg), _ptr(y), lam, red,
                       ctypes.byref(c_opts), ctypes.byref(e_opts), float(grad_scale),
                       _ptr(upstream), *ptrs)
    return out
