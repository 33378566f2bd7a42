"""semcl: fused semantic-consistency losses for recommender training.

The C library (libsemcl) is loaded through ctypes on first use; ``semcl.torch`` holds the
PyTorch bindings (``import semcl.torch``). See README.md (section "Python / PyTorch").
"""
from ._capi import (SemclBackendUnavailable, SemclError, SemclMemoryError, SemclValueError,
                    has_cuda_build, library_path, version)

__version__ = "0.1.0"

__all__ = ["SemclError", "SemclValueError", "SemclBackendUnavailable", "SemclMemoryError",
           "has_cuda_build", "library_path", "version", "__version__"]
