"""PyTorch bindings of semcl: the two fused semantic-consistency losses with autograd.

Drop-in replacements of the seed code (same signatures, same return values: a plain triple)::

    from semcl.torch import loss_positive_only, loss_pos_neg

Score-level functions (a named tuple whose first field is the loss) and modules (the loss
tensor, like torch.nn's losses; the named tuple with return_components=True)::

    loss, loss_ctr, loss_pos = semcl.torch.positive_only_loss(score_raw, score_pos, y)
    loss, loss_ctr, loss_pair = semcl.torch.pos_neg_loss(score_raw, score_pos, score_neg, y)
    criterion = semcl.torch.PosNegLoss(lambda_rank=1.0, reduction="mean")
    criterion(score_raw, score_pos, score_neg, y).backward()

Scores are float32, bfloat16 or float16 (CPU or CUDA, all on one device; computed in float32
arithmetic, gradients in the scores' dtype, losses float32, so torch.autocast needs no
``.float()``), shaped (B,) or (B, 1); labels have the scores' shape and may be float, int or
bool (converted to float32, as the seed's ``y_raw.float()`` does). Keywords: ``weight=``,
``pos_weight=`` (both losses), ``neg_mask=``, ``neg_count=`` (pairwise loss). The forward
pass computes the gradients in the same fused library call; backward only scales them (no host
synchronisation). On PyTorch 2 the losses are the
custom operators semcl::positive_only and semcl::pos_neg (torch.compile, torch.export);
``IMPLEMENTATION`` says which implementation this process uses. See README.md
("Python / PyTorch") for the exact semantics.
"""
import numbers
from typing import NamedTuple

import torch

from . import _checks, _embed_api, _impl, _options

__all__ = [
    "loss_positive_only", "loss_pos_neg", "positive_only_loss", "pos_neg_loss",
    "PositiveOnlyLoss", "PosNegLoss", "PositiveOnlyLossOutput", "PosNegLossOutput",
    "IMPLEMENTATION", "pos_neg_loss_from_embeddings", "positive_only_loss_from_embeddings",
]

_impl_module = _impl.select()
# "torch.library custom op" (PyTorch 2) or "autograd.Function" (PyTorch 1.13).
IMPLEMENTATION = _impl_module.NAME


class PositiveOnlyLossOutput(NamedTuple):
    """The three values of the positive-only loss; loss = loss_ctr + lambda_sem * loss_pos."""
    loss: torch.Tensor
    loss_ctr: torch.Tensor
    loss_pos: torch.Tensor


class PosNegLossOutput(NamedTuple):
    """The three values of the pairwise loss; loss = loss_ctr + lambda_rank * loss_pair."""
    loss: torch.Tensor
    loss_ctr: torch.Tensor
    loss_pair: torch.Tensor


def _register_for_export(cls):
    """torch.export saves a program whose output holds one of these named tuples only when the
    type has a serialized name in PyTorch's pytree registry (private in PyTorch 2, absent from
    1.13, where there is no torch.export). A process that loads such a program imports
    semcl.torch anyway (for the operators), which registers the name again."""
    try:
        import torch.utils._pytree as pytree
    except ImportError:  # pragma: no cover
        return
    register = getattr(pytree, "_register_namedtuple", None)
    if register is not None:
        register(cls, serialized_type_name="semcl.torch." + cls.__name__)


_register_for_export(PositiveOnlyLossOutput)
_register_for_export(PosNegLossOutput)


# ---- public score-level API -----------------------------------------------------------------------
_DEFAULT_NAMES = {"raw": "score_raw", "pos": "score_pos", "neg": "score_neg", "y": "y"}


def _shaped(outputs, shape, reduction):
    """'none' returns per-sample values in the scores' shape ((B,) or (B, 1)), as
    BCEWithLogits does; 'mean'/'sum' return 0-d tensors."""
    if reduction == "none" and len(shape) == 2:
        return tuple(o.reshape(shape) for o in outputs)
    return tuple(outputs)


def positive_only_loss(score_raw, score_pos, y, lambda_sem=1.0, reduction="mean", *,
                       weight=None, pos_weight=None, _names=None):
    """Loss 1 (positive-only semantic consistency) from scores.

    score_raw, score_pos: float32, bfloat16 or float16, shape (B,) or (B, 1); y: labels of the
    same shape (float in [0, 1], int or bool). Keywords: weight, per-sample weights of the
    scores' shape (multiplying both terms of a sample); pos_weight, binary_cross_entropy_with_
    logits' pos_weight for the BCE term (a number, a one-element tensor or one per sample).
    Returns PositiveOnlyLossOutput(loss, loss_ctr, loss_pos), float32: 0-d tensors for
    'mean'/'sum', the scores' shape for 'none', with loss = loss_ctr + lambda_sem * loss_pos."""
    n = _names or _DEFAULT_NAMES
    reduction = _checks.prep_reduction(reduction)
    lam = _checks.prep_lambda("lambda_sem", lambda_sem)
    B, shape = _checks.check_raw_pos(n, score_raw, score_pos)
    device = score_raw.device
    yf = _checks.prep_labels(n["y"], y, shape, device)
    opts = _options.prepare(shape, device, weight, pos_weight)
    raw, pos = _checks.promote_scores(_checks.flat(score_raw, B), _checks.flat(score_pos, B))
    out = _impl_module.positive_only(raw, pos, yf, opts, lam, reduction)
    return PositiveOnlyLossOutput(*_shaped(out, shape, reduction))


def pos_neg_loss(score_raw, score_pos, score_neg, y, lambda_rank=1.0, reduction="mean", *,
                 weight=None, pos_weight=None, neg_mask=None, neg_count=None, _names=None):
    """Loss 2 (label-conditioned pairwise ranking, K negatives per row) from scores.

    score_raw, score_pos: float32, bfloat16 or float16, shape (B,) or (B, 1); score_neg: (B, K)
    (scores of different dtypes are promoted to a common one); y: labels of the shape of
    score_raw. Keywords: weight and pos_weight as in positive_only_loss; neg_mask, a bool (B, K)
    tensor, True where the negative is real; neg_count, integers of the scores' shape: row b's
    negatives 0 .. neg_count[b]-1 are real (clamped to [0, K]; with neg_mask too, a negative is
    real when both say so). Masked negatives contribute exactly 0 and get gradient 0.
    Returns PosNegLossOutput(loss, loss_ctr, loss_pair), float32: 0-d tensors for
    'mean'/'sum', the scores' shape for 'none' (per sample, loss_pair_b being the mean over the
    row's real negatives, 0 if it has none). With masks, 'mean' averages loss_pair over all
    real (b, k) pairs (0 if there is none), not over rows."""
    n = _names or _DEFAULT_NAMES
    reduction = _checks.prep_reduction(reduction)
    lam = _checks.prep_lambda("lambda_rank", lambda_rank)
    B, shape = _checks.check_raw_pos(n, score_raw, score_pos)
    device = score_raw.device
    _checks.check_neg(n, score_neg, B, device)
    yf = _checks.prep_labels(n["y"], y, shape, device)
    opts = _options.prepare(shape, device, weight, pos_weight, tuple(score_neg.shape),
                            neg_mask, neg_count)
    raw, pos, neg = _checks.promote_scores(_checks.flat(score_raw, B),
                                           _checks.flat(score_pos, B),
                                           _checks.contiguous(score_neg))
    out = _impl_module.pos_neg(raw, pos, neg, yf, opts, lam, reduction)
    return PosNegLossOutput(*_shaped(out, shape, reduction))


# ---- from embeddings (dot-product scores fused with the losses; docs/embeddings.md) ------------
def pos_neg_loss_from_embeddings(user, item_raw, item_pos, item_neg, y, lambda_rank=1.0,
                                 reduction="mean", *, weight=None, pos_weight=None,
                                 neg_mask=None, neg_count=None, score_scale=1.0,
                                 pos_index=None):
    """The pairwise loss of the dot-product scores s = score_scale * (user_b . item), with the
    embedding gradients from one fused call (no (B, K) score matrix, no (B, K, D) copy).

    user, item_raw, item_pos: (B, D), float32, bfloat16 or float16 (mixed dtypes are promoted
    as scores are; gradients come back in each embedding's dtype, a 16-bit call being the
    float32 call on the widened embeddings). item_neg: (B, K, D), row b's own K negatives, or
    (N, D), a pool every row is scored against (in-batch or sampled negatives; its gradient is
    summed over the rows). y: labels (B,) or (B, 1). Keywords as in pos_neg_loss (neg_mask
    (B, K) or (B, N); neg_count counts pool entries for a pool), plus score_scale (1/tau,
    scaling every score, the BCE logit included) and, for a pool, pos_index: int (B,), the
    pool entry that is row b's own positive (masked for row b; -1 for none). Returns
    PosNegLossOutput(loss, loss_ctr, loss_pair) (float32; 0-d, or (B,) for 'none'), with
    autograd to every embedding that requires grad."""
    out = _embed_api.pos_neg(user, item_raw, item_pos, item_neg, y, lambda_rank, reduction,
                             weight, pos_weight, neg_mask, neg_count, score_scale, pos_index)
    return PosNegLossOutput(*out)


def positive_only_loss_from_embeddings(user, item_raw, item_pos, y, lambda_sem=1.0,
                                       reduction="mean", *, weight=None, pos_weight=None,
                                       score_scale=1.0):
    """The positive-only loss of s = score_scale * (user_b . item) for item_raw and item_pos
    ((B, D) each, like user; float32, bfloat16 or float16). Returns PositiveOnlyLossOutput(loss, loss_ctr, loss_pos)
    with autograd to user, item_raw and item_pos."""
    out = _embed_api.positive_only(user, item_raw, item_pos, y, lambda_sem, reduction, weight,
                                   pos_weight, score_scale)
    return PositiveOnlyLossOutput(*out)


# ---- the seed's model-level functions (drop-in) -----------------------------------------------------
_MODEL_NAMES = {"raw": "score_raw (= model(u, item_raw))", "pos": "score_pos (= model(u, item_pos))",
                "neg": "score_neg (= model(u_neg, item_neg).reshape(B, K))", "y": "y_raw"}


def loss_positive_only(model, u, item_raw, item_pos, y_raw, lambda_sem=1.0):
    """The seed's loss_positive_only, computed by semcl. Calls model exactly as the seed does."""
    score_raw = model(u, item_raw)    # (B,)
    score_pos = model(u, item_pos)    # (B,)
    # the seed returns a plain tuple (loss, loss_ctr, loss_pos)
    return tuple(positive_only_loss(score_raw, score_pos, y_raw, lambda_sem, "mean",
                                    _names=_MODEL_NAMES))


def loss_pos_neg(model, u, item_raw, item_pos, item_neg, y_raw, lambda_rank=1.0):
    """The seed's loss_pos_neg, computed by semcl. Calls model exactly as the seed does."""
    B, K = item_neg.shape[:2]

    score_raw = model(u, item_raw)
    score_pos = model(u, item_pos)

    u_neg = u.unsqueeze(1).repeat(1, K, 1)
    score_neg = model(
        u_neg.reshape(B*K, -1),
        item_neg.reshape(B*K, -1)
    ).reshape(B, K)
    return tuple(pos_neg_loss(score_raw, score_pos, score_neg, y_raw, lambda_rank, "mean",
                              _names=_MODEL_NAMES))


# ---- modules ---------------------------------------------------------------------------------------
class _SemclLoss(torch.nn.Module):
    """Common module behaviour: no parameters; the constructor's arguments checked once and
    shown by repr(). pos_weight given to the constructor, like BCEWithLogitsLoss's, applies to
    every call: a number is kept as a float attribute, a tensor is registered as a buffer (in
    state_dict(), moved by .to()); without it the state_dict is empty."""

    def __init__(self, lambda_name, lam, reduction, return_components, pos_weight):
        super().__init__()
        setattr(self, lambda_name, _checks.prep_lambda(lambda_name, lam))
        self.reduction = _checks.prep_reduction(reduction)
        if not isinstance(return_components, bool):
            raise TypeError("return_components must be a bool, got %s"
                            % type(return_components).__name__)
        self.return_components = return_components
        self._lambda_name = lambda_name
        if isinstance(pos_weight, torch.Tensor):
            if pos_weight.requires_grad:
                raise ValueError("pos_weight requires grad: semcl gives pos_weight no gradient "
                                 "(pass pos_weight.detach())")
            self.register_buffer("pos_weight", pos_weight)
        elif pos_weight is None or (isinstance(pos_weight, numbers.Real)
                                    and not isinstance(pos_weight, bool)):
            self.pos_weight = None if pos_weight is None else float(pos_weight)
        else:
            raise TypeError("pos_weight must be None, a real number or a torch.Tensor, got %s"
                            % type(pos_weight).__name__)

    def _pos_weight(self, pos_weight):
        """The constructor's pos_weight, or forward's: not both."""
        if pos_weight is None:
            return self.pos_weight
        if self.pos_weight is not None:
            raise ValueError("pos_weight was given to the constructor and to forward: pass it "
                             "to one of them")
        return pos_weight

    def extra_repr(self):
        s = "%s=%r, reduction=%r" % (self._lambda_name, getattr(self, self._lambda_name),
                                     self.reduction)
        if isinstance(self.pos_weight, torch.Tensor):
            s += ", pos_weight=<tensor of shape %s>" % (tuple(self.pos_weight.shape),)
        elif self.pos_weight is not None:
            s += ", pos_weight=%r" % self.pos_weight
        return s + (", return_components=True" if self.return_components else "")


class PositiveOnlyLoss(_SemclLoss):
    """The positive-only loss as a module.

    forward(score_raw, score_pos, y, *, weight=None, pos_weight=None) returns the loss tensor
    (float32; 0-d for 'mean'/'sum', the scores' shape for 'none'), so
    ``criterion(score_raw, score_pos, y).backward()`` works as with torch.nn's losses. With
    return_components=True it returns PositiveOnlyLossOutput(loss, loss_ctr, loss_pos) instead
    (a named tuple: call .backward() on its .loss). Both come from the same single library
    call. weight (per sample) and pos_weight are those of positive_only_loss; pos_weight may
    instead be fixed in the constructor (as with BCEWithLogitsLoss)."""

    def __init__(self, lambda_sem=1.0, reduction="mean", return_components=False,
                 pos_weight=None):
        super().__init__("lambda_sem", lambda_sem, reduction, return_components, pos_weight)

    def forward(self, score_raw, score_pos, y, *, weight=None, pos_weight=None):
        out = positive_only_loss(score_raw, score_pos, y, self.lambda_sem, self.reduction,
                                 weight=weight, pos_weight=self._pos_weight(pos_weight))
        return out if self.return_components else out.loss


class PosNegLoss(_SemclLoss):
    """The pairwise loss as a module.

    forward(score_raw, score_pos, score_neg, y, *, weight=None, pos_weight=None,
    neg_mask=None, neg_count=None) returns the loss tensor (float32; 0-d for 'mean'/'sum', the
    scores' shape for 'none'), so ``criterion(...).backward()`` works as with torch.nn's
    losses. With return_components=True it returns PosNegLossOutput(loss, loss_ctr, loss_pair)
    instead (a named tuple: call .backward() on its .loss). Both come from the same single
    library call. The keywords are those of pos_neg_loss; pos_weight may instead be fixed in
    the constructor (as with BCEWithLogitsLoss)."""

    def __init__(self, lambda_rank=1.0, reduction="mean", return_components=False,
                 pos_weight=None):
        super().__init__("lambda_rank", lambda_rank, reduction, return_components, pos_weight)

    def forward(self, score_raw, score_pos, score_neg, y, *, weight=None, pos_weight=None,
                neg_mask=None, neg_count=None):
        out = pos_neg_loss(score_raw, score_pos, score_neg, y, self.lambda_rank, self.reduction,
                           weight=weight, pos_weight=self._pos_weight(pos_weight),
                           neg_mask=neg_mask, neg_count=neg_count)
        return out if self.return_components else out.loss
