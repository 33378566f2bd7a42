"""The embedding losses on PyTorch without torch.library custom ops (1.13): one
torch.autograd.Function around the ctypes call (eager mode only).

Interface shared with _embed_custom_ops: embed_loss(kind, user, raw, pos, neg, y, opts,
pos_index, scale, lam, reduction) on canonical tensors (_embed_launch), returning
(loss, loss_ctr, loss_aux)."""
import torch

from . import _backward, _embed_backward, _embed_launch
from ._dtypes import saved_grad_scale
from ._launch import Options

NAME = "autograd.Function"


def _upstream(g):
    """An upstream gradient as the library takes it: float32, (1,) or (B,), contiguous."""
    return g.detach().to(torch.float32).reshape(-1).contiguous()


class _EmbedFunction(torch.autograd.Function):
    """Outputs (L, L_ctr, L_aux); forward saves the embedding gradients of L from the fused
    call, and the inputs (for the backward cases of _embed_backward that call the library
    again). Inputs: kind, user, raw, pos, neg, y, the four options, pos_index, scale, lam,
    reduction."""

    @staticmethod
    def forward(ctx, kind, user, raw, pos, neg, y, neg_mask, neg_count, weight, pos_weight,
                pos_index, scale, lam, reduction):
        ctx.set_materialize_grads(False)
        need = tuple(ctx.needs_input_grad[1:5])
        opts = Options(neg_mask, neg_count, weight, pos_weight)
        # float16 'mean': the gradients are computed and kept B times larger (_dtypes)
        ctx.saved_scale = saved_grad_scale(user.dtype, reduction, user.shape[0])
        ctx.grad_scale = 1.0 if ctx.saved_scale is None else float(ctx.saved_scale)
        out = _embed_launch.run(kind, user, raw, pos, neg, y, opts, pos_index, scale, lam,
                                reduction, None, need, ctx.grad_scale)
        ctx.kind, ctx.scale, ctx.lam, ctx.reduction, ctx.need = kind, scale, lam, reduction, need
        ctx.save_for_backward(user, raw, pos, neg, y, neg_mask, neg_count, weight, pos_weight,
                              pos_index)
        # The gradients are this call's own buffers, not graph tensors: kept outside
        # save_for_backward so that the first backward can scale them in place and hand them
        # to autograd without a copy (grad_item_neg is B*K*D); a second backward
        # (retain_graph=True) finds them gone and asks the library again.
        ctx.G = out[3:]
        return out[0], out[1], out[2]

    @staticmethod
    @_backward.once_differentiable
    def backward(ctx, g_loss, g_ctr, g_aux):
        saved = ctx.saved_tensors
        user, raw, pos, neg, y = saved[:5]
        opts, pos_index = Options(*saved[5:9]), saved[9]

        def compute(lam, g):
            return _embed_launch.run(ctx.kind, user, raw, pos, neg, y, opts, pos_index,
                                     ctx.scale, lam, ctx.reduction, _upstream(g), ctx.need,
                                     ctx.grad_scale)[3:]

        g_loss, g_ctr, g_aux = _backward._unscaled(ctx.saved_scale, g_loss, g_ctr, g_aux)
        G, ctx.G = ctx.G, None
        d = _embed_backward.grads(compute, ctx.kind, ctx.lam, ctx.reduction, G, g_loss, g_ctr,
                                  g_aux, in_place=True)
        return (None,) + tuple(d) + (None,) * 9


def embed_loss(kind, user, raw, pos, neg, y, opts, pos_index, scale, lam, reduction):
    inputs = (user, raw, pos) + ((neg,) if neg is not None else ())
    if torch.is_grad_enabled() and any(t.requires_grad for t in inputs):
        return _EmbedFunction.apply(kind, user, raw, pos, neg, y, *opts, pos_index, scale, lam,
                                    reduction)
    return _embed_launch.run(kind, user, raw, pos, neg, y, opts, pos_index, scale, lam,
                             reduction)[:3]
