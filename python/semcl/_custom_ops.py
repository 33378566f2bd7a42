"""semcl.torch on PyTorch 2 (torch.library.custom_op available): the fused losses as the
dispatcher operators semcl::positive_only and semcl::pos_neg, with a fake kernel (shapes only,
for torch.compile / torch.export tracing) and an autograd formula. torch.compile(fullgraph=True)
keeps them in the graph as opaque calls, torch.export saves them by name (a process that loads
such a program must `import semcl.torch` first, which registers them), torch.jit.trace records
them.

Each op computes the losses and, in the same library call, the gradients of loss (upstream 1,
times _dtypes.saved_grad_scale: B for float16 scores with reduction 'mean', else 1) of the
scores whose need_* flag is set; a gradient that is not computed is returned as an empty
(0,) tensor (an operator cannot return None). The public functions set the flags from
requires_grad. Backward scales the saved gradients (_backward.py), no host synchronisation.

Interface shared with _function: positive_only(raw, pos, y, opts, lam, reduction) and
pos_neg(raw, pos, neg, y, opts, lam, reduction) on canonical tensors (opts: _launch.Options),
each returning (loss, loss_ctr, loss_aux). The option tensors are op inputs of their own
(Optional[Tensor]), so compiled and exported graphs carry them like the scores."""
from typing import Optional, Tuple

import torch
from torch import Tensor

from . import _backward, _launch
from ._dtypes import saved_grad_scale
from ._launch import Options

NAME = "torch.library custom op"

# Position of the first option tensor in each op's inputs, and how many there are.
_PO_OPTS, _PO_N_OPTS = 3, 2   # weight, pos_weight
_PN_OPTS, _PN_N_OPTS = 4, 4   # neg_mask, neg_count, weight, pos_weight


def _with_placeholders(out, ref):
    """_launch.run's tuple with each gradient not computed replaced by an empty tensor."""
    return tuple(ref.new_empty(0) if t is None else t for t in out)


# ---- semcl::positive_only ---------------------------------------------------------------------
@torch.library.custom_op("semcl::positive_only", mutates_args=())
def positive_only_op(score_raw: Tensor, score_pos: Tensor, y: Tensor, weight: Optional[Tensor],
                     pos_weight: Optional[Tensor], lambda_: float, reduction: str,
                     need_raw: bool, need_pos: bool
                     ) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    opts = Options(weight=weight, pos_weight=pos_weight)
    out = _launch.run(score_raw, score_pos, None, y, opts, lambda_, reduction, need_raw,
                      need_pos)
    return _with_placeholders(out[:5], score_raw)


@positive_only_op.register_fake
def _positive_only_fake(score_raw, score_pos, y, weight, pos_weight, lambda_, reduction,
                        need_raw, need_pos):
    opts = Options(weight=weight, pos_weight=pos_weight)
    _launch.check_canonical(score_raw, score_pos, None, y, opts, reduction)
    out = _launch.empty_outputs(score_raw, score_pos, None, reduction, need_raw, need_pos, False)
    return _with_placeholders(out[:5], score_raw)


# ---- semcl::pos_neg --------------------------------------------------------------------------
@torch.library.custom_op("semcl::pos_neg", mutates_args=())
def pos_neg_op(score_raw: Tensor, score_pos: Tensor, score_neg: Tensor, y: Tensor,
               neg_mask: Optional[Tensor], neg_count: Optional[Tensor], weight: Optional[Tensor],
               pos_weight: Optional[Tensor], lambda_: float, reduction: str, need_raw: bool,
               need_pos: bool, need_neg: bool
               ) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    opts = Options(neg_mask, neg_count, weight, pos_weight)
    out = _launch.run(score_raw, score_pos, score_neg, y, opts, lambda_, reduction,
                      need_raw, need_pos, need_neg)
    return _with_placeholders(out, score_raw)


@pos_neg_op.register_fake
def _pos_neg_fake(score_raw, score_pos, score_neg, y, neg_mask, neg_count, weight, pos_weight,
                  lambda_, reduction, need_raw, need_pos, need_neg):
    opts = Options(neg_mask, neg_count, weight, pos_weight)
    _launch.check_canonical(score_raw, score_pos, score_neg, y, opts, reduction)
    out = _launch.empty_outputs(score_raw, score_pos, score_neg, reduction,
                                need_raw, need_pos, need_neg)
    return _with_placeholders(out, score_raw)


# ---- autograd --------------------------------------------------------------------------------------
def _compute(raw, pos, neg, y, opts, lam, reduction, need_raw, need_pos, need_neg):
    """_launch.run's contract through the ops (so a compiled backward traces them)."""
    if neg is None:
        out = positive_only_op(raw, pos, y, opts.weight, opts.pos_weight, lam, reduction,
                               need_raw, need_pos)
        return (out[0], out[1], out[2], out[3] if need_raw else None,
                out[4] if need_pos else None, None)
    out = pos_neg_op(raw, pos, neg, y, *opts, lam, reduction, need_raw, need_pos, need_neg)
    return (out[0], out[1], out[2], out[3] if need_raw else None,
            out[4] if need_pos else None, out[5] if need_neg else None)


def _setup_common(ctx, inputs, output, n_scores, first_opt, n_opts):
    """Returns (flags, missing): the need_* flags the op ran with, and whether a score that
    requires grad got no gradient from the forward call. That happens when the op is called
    with a flag off (directly, from a program exported or traced under torch.no_grad(), ...);
    backward then computes the missing gradients itself from the saved inputs."""
    for name, needs in zip(Options._fields[-n_opts:],
                           ctx.needs_input_grad[first_opt:first_opt + n_opts]):
        if needs:  # the public functions refuse these before the op; a direct call lands here
            raise ValueError("%s requires grad: semcl gives it no gradient (pass %s.detach())"
                             % (name, name))
    # An unused output's gradient arrives as None, not zeros (fast path in backward).
    ctx.set_materialize_grads(False)
    # The gradient outputs are results, not differentiable quantities; differentiating the
    # returned gradients again is refused by _backward.once_differentiable instead.
    ctx.mark_non_differentiable(*output[3:])
    flags = tuple(inputs[-n_scores:])
    needs = tuple(ctx.needs_input_grad[:n_scores])
    ctx.lam, ctx.reduction, ctx.flags = inputs[-n_scores - 2], inputs[-n_scores - 1], flags
    ctx.score_dtype = inputs[0].dtype
    ctx.grad_scale = saved_grad_scale(ctx.score_dtype, ctx.reduction, inputs[0].shape[0])
    return flags, any(n and not f for n, f in zip(needs, flags))


def _fill_missing(ctx, grads, inputs, opts):
    """The saved forward gradients, with those the forward call did not compute (see
    _setup_common) computed now by one library call."""
    needs = tuple(ctx.needs_input_grad[:len(grads)])
    if all(f or not n for n, f in zip(needs, ctx.flags)):
        return grads
    raw, pos, neg, y = inputs
    D = _compute(raw, pos, neg, y, opts, ctx.lam, ctx.reduction, *(needs + (False,))[:3])
    return tuple(g if f else d for g, f, d in zip(grads, ctx.flags, D[3:]))


def _setup_positive_only(ctx, inputs, output):
    raw, pos, y, weight, pos_weight = inputs[:5]
    flags, _ = _setup_common(ctx, inputs, output, 2, _PO_OPTS, _PO_N_OPTS)
    ctx.save_for_backward(raw, pos, y, weight, pos_weight,
                          *(g if f else None for g, f in zip(output[3:], flags)))


@_backward.once_differentiable
def _backward_positive_only(ctx, g_loss, g_ctr, g_aux, _g_grad_raw, _g_grad_pos):
    raw, pos, y, weight, pos_weight, G_raw, G_pos = ctx.saved_tensors
    opts = Options(weight=weight, pos_weight=pos_weight)
    G_raw, G_pos = _fill_missing(ctx, (G_raw, G_pos), (raw, pos, None, y), opts)
    d_raw, d_pos = _backward.positive_only(
        _compute, ctx.lam, ctx.reduction, ctx.needs_input_grad[:2], (raw, pos, y, G_raw, G_pos),
        opts, ctx.score_dtype, ctx.grad_scale, g_loss, g_ctr, g_aux)
    return (d_raw, d_pos) + (None,) * 7


def _setup_pos_neg(ctx, inputs, output):
    flags, missing = _setup_common(ctx, inputs, output, 3, _PN_OPTS, _PN_N_OPTS)
    grads = tuple(g if f else None for g, f in zip(output[3:], flags))
    needs = ctx.needs_input_grad[:3]
    ctx.saved_inputs = missing or (not _backward.pos_neg_divides(ctx.lam)
                                   and (needs[1] or needs[2]))
    if ctx.saved_inputs:  # raw, pos, neg, y and the four options
        ctx.save_for_backward(*grads, *inputs[:_PN_OPTS + _PN_N_OPTS])
    else:
        ctx.save_for_backward(*grads)


@_backward.once_differentiable
def _backward_pos_neg(ctx, g_loss, g_ctr, g_aux, _g_grad_raw, _g_grad_pos, _g_grad_neg):
    saved = tuple(ctx.saved_tensors)
    if not ctx.saved_inputs:
        saved += (None,) * (_PN_OPTS + _PN_N_OPTS)
    grads, inputs, opts = saved[:3], saved[3:7], Options(*saved[7:])
    saved = _fill_missing(ctx, grads, inputs, opts) + inputs
    grads = _backward.pos_neg(_compute, ctx.lam, ctx.reduction, ctx.needs_input_grad[:3], saved,
                              opts, ctx.score_dtype, ctx.grad_scale, g_loss, g_ctr, g_aux)
    return grads + (None,) * 10


positive_only_op.register_autograd(_backward_positive_only, setup_context=_setup_positive_only)
pos_neg_op.register_autograd(_backward_pos_neg, setup_context=_setup_pos_neg)


# ---- the implementation interface -------------------------------------------------------------
def positive_only(raw, pos, y, opts, lam, reduction):
    grad = torch.is_grad_enabled()
    out = positive_only_op(raw, pos, y, opts.weight, opts.pos_weight, lam, reduction,
                           grad and raw.requires_grad, grad and pos.requires_grad)
    return out[0], out[1], out[2]


def pos_neg(raw, pos, neg, y, opts, lam, reduction):
    grad = torch.is_grad_enabled()
    out = pos_neg_op(raw, pos, neg, y, *opts, lam, reduction, grad and raw.requires_grad,
                     grad and pos.requires_grad, grad and neg.requires_grad)
    return out[0], out[1], out[2]
