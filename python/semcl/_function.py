"""semcl.torch on PyTorch without torch.library custom ops (1.13): torch.autograd.Function
classes around the ctypes call. Eager mode only (torch.jit and torch.compile cannot see
through ctypes); the custom op implementation (_custom_ops.py) is used where it is available.

Interface shared with _custom_ops: positive_only(raw, pos, y, opts, lam, reduction) and
pos_neg(raw, pos, neg, y, opts, lam, reduction) on canonical tensors (opts: _launch.Options),
each returning (loss, loss_ctr, loss_aux)."""
import torch

from . import _backward
from ._dtypes import saved_grad_scale
from ._launch import Options, run

NAME = "autograd.Function"


class _PositiveOnlyFunction(torch.autograd.Function):
    """Outputs (L, L_ctr, L_pos); forward saves dL/d(score_raw, score_pos) from the fused pass.
    Inputs: raw, pos, y, weight, pos_weight (the options as tensors or None), lam, reduction."""

    @staticmethod
    def forward(ctx, raw, pos, y, weight, pos_weight, lam, reduction):
        ctx.set_materialize_grads(False)
        need_raw, need_pos = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        opts = Options(weight=weight, pos_weight=pos_weight)
        loss, ctr, aux, g_raw, g_pos, _ = run(raw, pos, None, y, opts, lam, reduction,
                                              need_raw=need_raw, need_pos=need_pos)
        ctx.lam, ctx.reduction, ctx.score_dtype = lam, reduction, raw.dtype
        ctx.grad_scale = saved_grad_scale(raw.dtype, reduction, raw.shape[0])
        ctx.save_for_backward(raw, pos, y, g_raw, g_pos, weight, pos_weight)
        return loss, ctr, aux

    @staticmethod
    @_backward.once_differentiable
    def backward(ctx, g_loss, g_ctr, g_aux):
        raw, pos, y, g_raw, g_pos, weight, pos_weight = ctx.saved_tensors
        d_raw, d_pos = _backward.positive_only(
            run, ctx.lam, ctx.reduction, ctx.needs_input_grad[:2], (raw, pos, y, g_raw, g_pos),
            Options(weight=weight, pos_weight=pos_weight), ctx.score_dtype, ctx.grad_scale,
            g_loss, g_ctr, g_aux)
        return d_raw, d_pos, None, None, None, None, None


class _PosNegFunction(torch.autograd.Function):
    """Outputs (L, L_ctr, L_pair); forward saves dL/d(score_raw, score_pos, score_neg) from the
    fused pass (and the inputs and options when lambda is outside the G/lambda range).
    Inputs: raw, pos, neg, y, neg_mask, neg_count, weight, pos_weight, lam, reduction."""

    @staticmethod
    def forward(ctx, raw, pos, neg, y, neg_mask, neg_count, weight, pos_weight, lam, reduction):
        ctx.set_materialize_grads(False)
        need_raw, need_pos, need_neg = ctx.needs_input_grad[:3]
        opts = Options(neg_mask, neg_count, weight, pos_weight)
        loss, ctr, aux, g_raw, g_pos, g_neg = run(raw, pos, neg, y, opts, lam, reduction,
                                                  need_raw, need_pos, need_neg)
        ctx.lam, ctx.reduction, ctx.score_dtype = lam, reduction, raw.dtype
        ctx.grad_scale = saved_grad_scale(raw.dtype, reduction, raw.shape[0])
        if _backward.pos_neg_divides(lam) or not (need_pos or need_neg):
            ctx.save_for_backward(g_raw, g_pos, g_neg)
            ctx.saved_inputs = False
        else:
            ctx.save_for_backward(g_raw, g_pos, g_neg, raw, pos, neg, y, *opts)
            ctx.saved_inputs = True
        return loss, ctr, aux

    @staticmethod
    @_backward.once_differentiable
    def backward(ctx, g_loss, g_ctr, g_aux):
        saved = tuple(ctx.saved_tensors)
        if not ctx.saved_inputs:
            saved += (None,) * 8
        grads = _backward.pos_neg(run, ctx.lam, ctx.reduction, ctx.needs_input_grad[:3],
                                  saved[:7], Options(*saved[7:]), ctx.score_dtype,
                                  ctx.grad_scale, g_loss, g_ctr, g_aux)
        return grads + (None,) * 7


def positive_only(raw, pos, y, opts, lam, reduction):
    if torch.is_grad_enabled() and (raw.requires_grad or pos.requires_grad):
        return _PositiveOnlyFunction.apply(raw, pos, y, opts.weight, opts.pos_weight, lam,
                                           reduction)
    return run(raw, pos, None, y, opts, lam, reduction)[:3]


def pos_neg(raw, pos, neg, y, opts, lam, reduction):
    if torch.is_grad_enabled() and (raw.requires_grad or pos.requires_grad or neg.requires_grad):
        return _PosNegFunction.apply(raw, pos, neg, y, *opts, lam, reduction)
    return run(raw, pos, neg, y, opts, lam, reduction)[:3]
