"""The one place that says which score dtypes semcl.torch hands to libsemcl, and how scores of
different dtypes meet.

The argument checks (refusal and its message), the promotion rule and the launcher (the C dtype
code; gradient buffers in the score dtype; losses always float32) all read this table.

Policy (README "dtypes and autocast"):
- float32, bfloat16 and float16 scores are computed by the library directly: it reads them in
  their dtype, computes in float32 arithmetic and writes the gradients in that dtype.
- Scores of different supported dtypes are promoted to torch.promote_types of them (float32
  with bfloat16 -> float32, bfloat16 with float16 -> float32), the rule torch.autocast applies
  to its multi-input "promote" ops; the narrower scores are copied (autograd sees a cast, so
  their gradients come back in their own dtype).
- float64 is refused: the library has no float64 arithmetic, and a float64 model should not
  get float32 results it did not ask for.
- Losses are float32 whatever the score dtype, as autocast makes
  binary_cross_entropy_with_logits return float32 from bfloat16/float16 logits."""
import torch

from . import _capi

# torch dtype of the scores -> the C library's dtype code (semcl_dtype_t).
SCORE_DTYPES = {
    torch.float32: _capi.DTYPES["float32"],
    torch.bfloat16: _capi.DTYPES["bfloat16"],
    torch.float16: _capi.DTYPES["float16"],
}

# Losses come back in float32 whatever the score dtype.
LOSS_DTYPE = torch.float32


def check_score_dtype(name, t):
    """Refuses a score tensor whose dtype the library does not take, saying how to get one."""
    if t.dtype not in SCORE_DTYPES:
        raise TypeError(
            "%s has dtype %s; semcl takes float32, bfloat16 or float16 scores (computing in "
            "float32) and never converts other dtypes silently (pass %s.float() if float32 is "
            "what you want)" % (name, t.dtype, name))


def common_score_dtype(*scores):
    """The dtype all scores are computed in: the promotion of their (checked) dtypes."""
    dtype = scores[0].dtype
    for t in scores[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def saved_grad_scale(dtype, reduction, B):
    """The factor (None = 1) by which the gradients computed in the forward call are scaled
    before they are stored in the score dtype; backward divides the incoming gradient by it.

    float16 with reduction 'mean' only: a mean's gradients are O(1/B) (O(1/(B K)) for the
    negatives) and in float16 they would lose their low bits or flush to zero below 6e-5 before
    a GradScaler's loss scale arrives in backward. Stored as B x the gradient they are O(1)
    (O(1/K)); backward multiplies by upstream / B in float32 and rounds once more. bfloat16 has
    float32's exponent range and float32 needs no help: for them the stored gradients are
    the gradients (bitwise as before)."""
    return B if dtype == torch.float16 and reduction == "mean" else None


def dtype_code(score):
    return SCORE_DTYPES[score.dtype]


def grad_dtype(score):
    """Gradients are written in the dtype of the score they belong to."""
    return score.dtype
