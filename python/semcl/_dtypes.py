"""The one place that says which score dtypes semcl.torch hands to libsemcl.

The argument checks (refusal and its message) and the launcher (gradient buffers are allocated
in the score dtype; the losses are always float32) both read this table, so accepting another
dtype is a change here plus the C-side dtype code, nowhere else."""
import torch

# torch dtype of the scores -> the C library's dtype code (SEMCL_DTYPE_*).
# The C API's 16-bit codes (BFLOAT16 = 1, FLOAT16 = 2) join when the binding calls the _ex entry
# points; until then the library computes from float32 scores only.
SCORE_DTYPES = {torch.float32: 0}

# Losses come back in float32 whatever the score dtype.
LOSS_DTYPE = torch.float32


def check_score_dtype(name, t):
    """Refuses a score tensor whose dtype the library does not take, saying how to get one."""
    if t.dtype not in SCORE_DTYPES:
        raise TypeError(
            "%s has dtype %s; semcl computes in float32 only and never converts scores "
            "silently (pass %s.float() if float32 is what you want)" % (name, t.dtype, name))


def grad_dtype(score):
    """Gradients are written in the dtype of the score they belong to."""
    return score.dtype
