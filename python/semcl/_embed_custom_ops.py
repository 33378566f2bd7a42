"""The embedding losses on PyTorch 2 (torch.library.custom_op available): the dispatcher
operator semcl::embed_loss with a fake kernel (shapes only, for torch.compile / torch.export)
and an autograd formula (_embed_backward, whose further library calls go through the op so a
compiled backward stays traceable). A gradient that is not computed is returned as an empty
(0,) tensor (an operator cannot return None).

Interface shared with _embed_function: embed_loss(kind, user, raw, pos, neg, y, opts,
pos_index, scale, lam, reduction) on canonical tensors, returning (loss, loss_ctr, loss_aux)."""
from typing import Optional, Tuple

import torch
from torch import Tensor

from . import _backward, _embed_backward, _embed_launch
from ._dtypes import saved_grad_scale
from ._launch import Options

NAME = "torch.library custom op"

_N_OPTS = 5  # neg_mask, neg_count, weight, pos_weight, pos_index (inputs 5 .. 9)


def _with_placeholders(out, ref):
    return tuple(ref.new_empty(0) if t is None else t for t in out)


@torch.library.custom_op("semcl::embed_loss", mutates_args=())
def embed_op(kind: int, user: Tensor, item_raw: Tensor, item_pos: Tensor,
             item_neg: Optional[Tensor], y: Tensor, neg_mask: Optional[Tensor],
             neg_count: Optional[Tensor], weight: Optional[Tensor],
             pos_weight: Optional[Tensor], pos_index: Optional[Tensor],
             grad_upstream: Optional[Tensor], lambda_: float, score_scale: float,
             reduction: str, need_user: bool, need_raw: bool, need_pos: bool, need_neg: bool,
             grad_scale: float
             ) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    out = _embed_launch.run(kind, user, item_raw, item_pos, item_neg, y,
                            Options(neg_mask, neg_count, weight, pos_weight), pos_index,
                            score_scale, lambda_, reduction, grad_upstream,
                            (need_user, need_raw, need_pos, need_neg), grad_scale)
    return _with_placeholders(out, user)


@embed_op.register_fake
def _embed_fake(kind, user, item_raw, item_pos, item_neg, y, neg_mask, neg_count, weight,
                pos_weight, pos_index, grad_upstream, lambda_, score_scale, reduction,
                need_user, need_raw, need_pos, need_neg, grad_scale):
    _embed_launch.check_canonical(kind, user, item_raw, item_pos, item_neg, y,
                                  Options(neg_mask, neg_count, weight, pos_weight), pos_index,
                                  reduction, grad_upstream)
    out = _embed_launch.empty_outputs(user, item_neg, reduction,
                                      (need_user, need_raw, need_pos, need_neg))
    return _with_placeholders(out, user)


def _setup(ctx, inputs, output):
    for i, name in enumerate(("neg_mask", "neg_count", "weight", "pos_weight", "pos_index",
                              "grad_upstream")):
        if ctx.needs_input_grad[6 + i]:
            raise ValueError("%s requires grad: semcl gives it no gradient (pass %s.detach())"
                             % (name, name))
    ctx.set_materialize_grads(False)
    ctx.mark_non_differentiable(*output[3:])
    ctx.kind, ctx.lam, ctx.scale, ctx.reduction = inputs[0], inputs[12], inputs[13], inputs[14]
    ctx.flags = tuple(inputs[15:19])
    ctx.grad_scale = inputs[19]  # float16 'mean': B (the gradients are kept B times larger)
    ctx.saved_scale = None if inputs[19] == 1.0 else inputs[19]
    ctx.need = tuple(ctx.needs_input_grad[1:5])
    if inputs[11] is not None:  # a call with an upstream gradient is not differentiated
        raise ValueError("semcl::embed_loss with grad_upstream is not differentiable")
    ctx.save_for_backward(*inputs[1:6], *inputs[6:6 + _N_OPTS],
                          *(g if f else None for g, f in zip(output[3:], ctx.flags)))


def _compute(ctx, inputs, opts, pos_index, lam, g):
    up = g.detach().to(torch.float32).reshape(-1).contiguous()
    out = embed_op(ctx.kind, *inputs, *opts, pos_index, up, lam, ctx.scale, ctx.reduction,
                   *ctx.need, ctx.grad_scale)
    return tuple(t if n else None for t, n in zip(out[3:], ctx.need))


@_backward.once_differentiable
def _backward_embed(ctx, g_loss, g_ctr, g_aux, *_unused):
    saved = ctx.saved_tensors
    inputs, opts, pos_index, G = saved[:5], saved[5:9], saved[9], saved[10:]
    g_loss, g_ctr, g_aux = _backward._unscaled(ctx.saved_scale, g_loss, g_ctr, g_aux)
    if any(n and not f for n, f in zip(ctx.need, ctx.flags)):
        # the op ran with a need_* flag off (a direct call): the saved G is incomplete
        one = inputs[0].new_ones(inputs[0].shape[0] if ctx.reduction == "none" else 1,
                                 dtype=torch.float32)
        G = _compute(ctx, inputs, opts, pos_index, ctx.lam, one)
    d = _embed_backward.grads(
        lambda lam, g: _compute(ctx, inputs, opts, pos_index, lam, g), ctx.kind, ctx.lam,
        ctx.reduction, G, g_loss, g_ctr, g_aux)
    return (None,) + tuple(d) + (None,) * 15


embed_op.register_autograd(_backward_embed, setup_context=_setup)


def embed_loss(kind, user, raw, pos, neg, y, opts, pos_index, scale, lam, reduction):
    grad = torch.is_grad_enabled()
    need = (grad and user.requires_grad, grad and raw.requires_grad, grad and pos.requires_grad,
            grad and neg is not None and neg.requires_grad)
    saved = saved_grad_scale(user.dtype, reduction, user.shape[0])
    out = embed_op(kind, user, raw, pos, neg, y, *opts, pos_index, None, lam, scale, reduction,
                   *need, 1.0 if saved is None else float(saved))
    return out[0], out[1], out[2]
