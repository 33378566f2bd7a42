"""One fused libsemcl call on canonical tensors, shared by both implementations of semcl.torch.

Canonical: contiguous (B,) score_raw/score_pos, contiguous (B, K) score_neg (or None), all of
one score dtype (float32, bfloat16 or float16); float32 contiguous (B,) labels; the options as
an Options tuple of canonical tensors or None (see Options). All on one device. The public
functions produce that form; the custom op's kernels re-check it here because the op can also
be called directly (torch.ops.semcl.*, or a loaded torch.export program), and the library only
knows the sizes it is given."""
import ctypes
from typing import NamedTuple, Optional

import torch

from . import _capi
from ._dtypes import LOSS_DTYPE, SCORE_DTYPES, dtype_code, grad_dtype, saved_grad_scale


class Options(NamedTuple):
    """The optional per-sample inputs in canonical form (None = not given):
    neg_mask bool (B, K) (pairwise loss only), neg_count int32 (B,) (pairwise loss only),
    weight float32 (B,), pos_weight float32 (1,) or (B,). None of them gets a gradient."""
    neg_mask: Optional[torch.Tensor] = None
    neg_count: Optional[torch.Tensor] = None
    weight: Optional[torch.Tensor] = None
    pos_weight: Optional[torch.Tensor] = None

    def without_masks(self):
        """For the K = 1 call that yields the BCE term's gradient (the masks are (B, K))."""
        return self._replace(neg_mask=None, neg_count=None)


NO_OPTIONS = Options()


def _check_shape_device(name, t, shapes, dtype, device):
    if tuple(t.shape) not in shapes:
        raise ValueError("%s must have shape %s, got %s"
                         % (name, " or ".join(str(s) for s in shapes), tuple(t.shape)))
    if t.device != device:
        raise ValueError("%s is on %s but score_raw is on %s" % (name, t.device, device))
    if t.dtype != dtype:
        raise ValueError("%s has dtype %s, expected %s" % (name, t.dtype, dtype))


def check_canonical(raw, pos, neg, y, opts, reduction):
    """Raises ValueError unless the tensors have the canonical form (never reads their data)."""
    if reduction not in _capi.REDUCTIONS:
        raise ValueError("reduction must be 'mean', 'sum' or 'none', got %r" % (reduction,))
    if raw.dim() != 1 or raw.shape[0] < 1:
        raise ValueError("score_raw must be a non-empty (B,) vector, got shape %s"
                         % (tuple(raw.shape),))
    if raw.dtype not in SCORE_DTYPES:
        raise ValueError("score_raw has dtype %s, expected one of %s"
                         % (raw.dtype, tuple(SCORE_DTYPES)))
    B, dev = raw.shape[0], raw.device
    named = [("score_pos", pos, (B,), raw.dtype), ("y", y, (B,), torch.float32)]
    if neg is not None:
        if neg.dim() != 2 or neg.shape[1] < 1:
            raise ValueError("score_neg must be (B, K) with K >= 1, got shape %s"
                             % (tuple(neg.shape),))
        named.append(("score_neg", neg, (B, neg.shape[1]), raw.dtype))
    for name, t, shape, dtype in named:
        if tuple(t.shape) != shape:
            raise ValueError("%s must have shape %s, got %s" % (name, shape, tuple(t.shape)))
        if t.device != dev:
            raise ValueError("%s is on %s but score_raw is on %s" % (name, t.device, dev))
        if t.dtype != dtype:
            raise ValueError("%s has dtype %s, expected %s (the scores share one dtype)"
                             % (name, t.dtype, dtype))
    if neg is None and (opts.neg_mask is not None or opts.neg_count is not None):
        raise ValueError("neg_mask and neg_count belong to the pairwise loss only")
    if opts.neg_mask is not None:
        _check_shape_device("neg_mask", opts.neg_mask, [tuple(neg.shape)], torch.bool, dev)
    if opts.neg_count is not None:
        _check_shape_device("neg_count", opts.neg_count, [(B,)], torch.int32, dev)
    if opts.weight is not None:
        _check_shape_device("weight", opts.weight, [(B,)], torch.float32, dev)
    if opts.pos_weight is not None:
        _check_shape_device("pos_weight", opts.pos_weight, [(1,), (B,)], torch.float32, dev)


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
        # PyTorch's current stream on that device: the library enqueues there and never
        # synchronises, so the call is ordered with the surrounding PyTorch work.
        index = device.index if device.index is not None else torch.cuda.current_device()
        stream = torch.cuda.current_stream(index).cuda_stream
        return _capi.context(_capi.BACKEND_CUDA, index, stream)
    handle = _capi.context(_capi.BACKEND_CPU)
    # Same thread budget as PyTorch's intra-op pool (results do not depend on it).
    _capi.call("semcl_set_threads", handle, max(1, min(1024, torch.get_num_threads())))
    return handle


def _ptr(t):
    return None if t is None else t.data_ptr()


def _dense(t):
    # The library reads dense row-major arrays. The public functions already pass contiguous
    # tensors (this is then free); a direct op call may not (an expanded view would make the
    # library read past its storage).
    return t if t is None or t.is_contiguous() else t.contiguous()


def _c_options(dtype, opts):
    o = _capi.Options()
    o.struct_size = ctypes.sizeof(_capi.Options)
    o.dtype = dtype
    o.neg_mask = _ptr(opts.neg_mask)  # torch.bool: one byte per element, 0 or 1
    o.neg_count = _ptr(opts.neg_count)
    o.weight = _ptr(opts.weight)
    o.pos_weight = _ptr(opts.pos_weight)
    o.pos_weight_count = 0 if opts.pos_weight is None else opts.pos_weight.numel()
    return o


def output_shapes(raw, neg, reduction, need_raw, need_pos, need_neg):
    """Shapes of (loss, loss_ctr, loss_aux, grad_raw, grad_pos, grad_neg); None for a gradient
    that is not computed. The custom op's fake kernel uses the same function."""
    B = raw.shape[0]
    loss = (B,) if reduction == "none" else ()
    return (loss, loss, loss,
            (B,) if need_raw else None,
            (B,) if need_pos else None,
            tuple(neg.shape) if need_neg and neg is not None else None)


def empty_outputs(raw, pos, neg, reduction, need_raw, need_pos, need_neg):
    shapes = output_shapes(raw, neg, reduction, need_raw, need_pos, need_neg)
    dtypes = (LOSS_DTYPE,) * 3 + (grad_dtype(raw), grad_dtype(pos),
                                  grad_dtype(neg) if neg is not None else None)
    return tuple(None if s is None else torch.empty(s, dtype=d, device=raw.device)
                 for s, d in zip(shapes, dtypes))


def run(raw, pos, neg, y, opts, lam, reduction, need_raw=False, need_pos=False,
        need_neg=False):
    """One fused library call (semcl_positive_only_ex / semcl_pos_neg_ex). Returns (loss,
    loss_ctr, loss_aux, grad_raw, grad_pos, grad_neg); a gradient is computed only when asked
    for, else it is None (a call asking for none is forward-only). The gradients are those of
    loss for upstream 1, times _dtypes.saved_grad_scale (float16 'mean': B; else 1)."""
    check_canonical(raw, pos, neg, y, opts, reduction)
    raw, pos, neg, y = map(_dense, (raw, pos, neg, y))
    opts = Options(*map(_dense, opts))
    out = empty_outputs(raw, pos, neg, reduction, need_raw, need_pos, need_neg)
    loss, loss_ctr, loss_aux, g_raw, g_pos, g_neg = out
    B = raw.shape[0]
    red = _capi.REDUCTIONS[reduction]
    scale = saved_grad_scale(raw.dtype, reduction, B)
    grad_scale = 1.0 if scale is None else float(scale)
    c_opts = _c_options(dtype_code(raw), opts)
    with _DeviceGuard(raw.device):
        h = _context(raw.device)
        if neg is None:
            _capi.call("semcl_positive_only_ex", h, B, _ptr(raw), _ptr(pos), _ptr(y), lam, red,
                       ctypes.byref(c_opts), grad_scale, None, _ptr(loss), _ptr(loss_ctr),
                       _ptr(loss_aux), _ptr(g_raw), _ptr(g_pos))
        else:
            _capi.call("semcl_pos_neg_ex", h, B, neg.shape[1], _ptr(raw), _ptr(pos), _ptr(neg),
                       _ptr(y), lam, red, ctypes.byref(c_opts), grad_scale, None, _ptr(loss),
                       _ptr(loss_ctr), _ptr(loss_aux), _ptr(g_raw), _ptr(g_pos), _ptr(g_neg))
    return out
