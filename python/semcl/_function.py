"""semcl.torch on PyTorch without torch.library custom ops (1.13): torch.autograd.Function
classes around the ctypes call. Eager mode only (torch.jit and torch.compile cannot see
through ctypes); the custom op implementation (_custom_ops.py) is used where it is available.

Interface shared with _custom_ops: positive_only(raw, pos, y, lam, reduction) and
pos_neg(raw, pos, neg, y, lam, reduction) on canonical tensors, each returning
(loss, loss_ctr, loss_aux)."""
import torch

from . import _backward
from ._launch import run

NAME = "autograd.Function"


class _PositiveOnlyFunction(torch.autograd.Function):
    """Outputs (L, L_ctr, L_pos); forward saves dL/d(score_raw, score_pos) from the fused pass."""

    @staticmethod
    def forward(ctx, raw, pos, y, lam, reduction):
        ctx.set_materialize_grads(False)
        need_raw, need_pos = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        loss, ctr, aux, g_raw, g_pos, _ = run(raw, pos, None, y, lam, reduction,
                                              need_raw=need_raw, need_pos=need_pos)
        ctx.lam, ctx.reduction = lam, reduction
        ctx.save_for_backward(raw, pos, y, g_raw, g_pos)
        return loss, ctr, aux

    @staticmethod
    @_backward.once_differentiable
    def backward(ctx, g_loss, g_ctr, g_aux):
        d_raw, d_pos = _backward.positive_only(
            run, ctx.lam, ctx.reduction, ctx.needs_input_grad[:2], ctx.saved_tensors,
            g_loss, g_ctr, g_aux)
        return d_raw, d_pos, None, None, None


class _PosNegFunction(torch.autograd.Function):
    """Outputs (L, L_ctr, L_pair); forward saves dL/d(score_raw, score_pos, score_neg) from the
    fused pass (and the inputs when lambda is outside the G/lambda range)."""

    @staticmethod
    def forward(ctx, raw, pos, neg, y, lam, reduction):
        ctx.set_materialize_grads(False)
        need_raw, need_pos, need_neg = ctx.needs_input_grad[:3]
        loss, ctr, aux, g_raw, g_pos, g_neg = run(raw, pos, neg, y, lam, reduction,
                                                  need_raw, need_pos, need_neg)
        ctx.lam, ctx.reduction = lam, reduction
        if _backward.pos_neg_divides(lam) or not (need_pos or need_neg):
            ctx.save_for_backward(g_raw, g_pos, g_neg)
            ctx.saved_inputs = False
        else:
            ctx.save_for_backward(g_raw, g_pos, g_neg, raw, pos, neg, y)
            ctx.saved_inputs = True
        return loss, ctr, aux

    @staticmethod
    @_backward.once_differentiable
    def backward(ctx, g_loss, g_ctr, g_aux):
        saved = ctx.saved_tensors
        if not ctx.saved_inputs:
            saved = tuple(saved) + (None,) * 4
        grads = _backward.pos_neg(run, ctx.lam, ctx.reduction, ctx.needs_input_grad[:3], saved,
                                  g_loss, g_ctr, g_aux)
        return grads + (None, None, None)


def positive_only(raw, pos, y, lam, reduction):
    if torch.is_grad_enabled() and (raw.requires_grad or pos.requires_grad):
        return _PositiveOnlyFunction.apply(raw, pos, y, lam, reduction)
    return run(raw, pos, None, y, lam, reduction)[:3]


def pos_neg(raw, pos, neg, y, lam, reduction):
    if torch.is_grad_enabled() and (raw.requires_grad or pos.requires_grad or neg.requires_grad):
        return _PosNegFunction.apply(raw, pos, neg, y, lam, reduction)
    return run(raw, pos, neg, y, lam, reduction)[:3]
