"""One fused libsemcl call on canonical tensors, shared by both implementations of semcl.torch.

Canonical: contiguous (B,) score_raw/score_pos, contiguous (B, K) score_neg (or None), float32
contiguous (B,) labels, all on one device. The public functions produce that form; the custom
op's kernels re-check it here because the op can also be called directly (torch.ops.semcl.*, or
a loaded torch.export program), and the library only knows the sizes it is given."""
import torch

from . import _capi
from ._dtypes import LOSS_DTYPE, SCORE_DTYPES, grad_dtype


def check_canonical(raw, pos, neg, y, reduction):
    """Raises ValueError unless the tensors have the canonical form (never reads their data)."""
    if reduction not in _capi.REDUCTIONS:
        raise ValueError("reduction must be 'mean', 'sum' or 'none', got %r" % (reduction,))
    if raw.dim() != 1 or raw.shape[0] < 1:
        raise ValueError("score_raw must be a non-empty (B,) vector, got shape %s"
                         % (tuple(raw.shape),))
    B = raw.shape[0]
    named = [("score_raw", raw, (B,)), ("score_pos", pos, (B,)), ("y", y, (B,))]
    if neg is not None:
        if neg.dim() != 2 or neg.shape[1] < 1:
            raise ValueError("score_neg must be (B, K) with K >= 1, got shape %s"
                             % (tuple(neg.shape),))
        named.append(("score_neg", neg, (B, neg.shape[1])))
    for name, t, shape in named:
        if tuple(t.shape) != shape:
            raise ValueError("%s must have shape %s, got %s" % (name, shape, tuple(t.shape)))
        if t.device != raw.device:
            raise ValueError("%s is on %s but score_raw is on %s" % (name, t.device, raw.device))
        want = (torch.float32,) if name == "y" else tuple(SCORE_DTYPES)
        if t.dtype not in want:
            raise ValueError("%s has dtype %s, expected one of %s" % (name, t.dtype, want))
    if raw.dtype != pos.dtype or (neg is not None and neg.dtype != raw.dtype):
        raise ValueError("the scores must share one dtype")


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


def run(raw, pos, neg, y, lam, reduction, need_raw=False, need_pos=False, need_neg=False):
    """One fused library call. Returns (loss, loss_ctr, loss_aux, grad_raw, grad_pos, grad_neg);
    a gradient (of loss, upstream 1) is computed only when asked for, else it is None."""
    check_canonical(raw, pos, neg, y, reduction)
    out = empty_outputs(raw, pos, neg, reduction, need_raw, need_pos, need_neg)
    loss, loss_ctr, loss_aux, g_raw, g_pos, g_neg = out
    B = raw.shape[0]
    red = _capi.REDUCTIONS[reduction]
    with _DeviceGuard(raw.device):
        h = _context(raw.device)
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
    return out
