"""Chooses, once at import, how semcl.torch plugs into PyTorch.

- "custom_op": torch.library.custom_op with register_fake and register_autograd (PyTorch 2.4
  and later have all three): torch.compile(fullgraph=True), torch.export and torch.jit.trace
  see the losses as the operators semcl::positive_only and semcl::pos_neg.
- "autograd_function": torch.autograd.Function around the ctypes call (PyTorch 1.13 and any
  torch without those three functions): eager mode only.

The choice is by capability (the functions exist), not by version string. The environment
variable SEMCL_TORCH_IMPL=custom_op|autograd_function forces one (for tests, or as a way out
should a future PyTorch break the custom op registration); forcing custom_op on a torch that
cannot do it is an ImportError."""
import os

import torch

CHOICES = ("custom_op", "autograd_function")


def custom_ops_supported():
    library = getattr(torch, "library", None)
    return all(hasattr(library, f) for f in ("custom_op", "register_fake", "register_autograd"))


def select():
    """Imports and returns the implementation module (_custom_ops or _function)."""
    forced = os.environ.get("SEMCL_TORCH_IMPL", "")
    if forced and forced not in CHOICES:
        raise ImportError("SEMCL_TORCH_IMPL=%r: expected one of %s (or unset)"
                          % (forced, ", ".join(CHOICES)))
    capable = custom_ops_supported()
    if forced == "custom_op" and not capable:
        raise ImportError("SEMCL_TORCH_IMPL=custom_op, but torch %s lacks torch.library."
                          "custom_op/register_fake/register_autograd (PyTorch >= 2.4 has them)"
                          % torch.__version__)
    if forced == "autograd_function" or not capable:
        from . import _function as impl
    else:
        from . import _custom_ops as impl
    return impl
