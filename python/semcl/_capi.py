"""ctypes binding of libsemcl's C API (include/semcl/semcl.h).

Loading order:
  1. the environment variable SEMCL_LIBRARY, if set: the path of a built libsemcl.so
     (development: ``PYTHONPATH=python SEMCL_LIBRARY=build/libsemcl.so``);
  2. the copy installed inside the package by ``pip install .`` (semcl/_lib/lib/).
There is no search of the system library path: the binding and the library travel together.
"""
import ctypes
import glob
import os
import threading

__all__ = [
    "SemclError", "SemclValueError", "SemclBackendUnavailable", "SemclMemoryError",
    "library", "library_path", "version", "has_cuda_build", "call", "context",
    "STATUS", "BACKEND_CPU", "BACKEND_CUDA", "REDUCTIONS", "DTYPES", "Options", "EmbedOptions",
]

# ---- enums (numeric values are part of the ABI) ------------------------------------------
STATUS = {
    0: "SEMCL_STATUS_SUCCESS",
    1: "SEMCL_STATUS_NULL_CONTEXT",
    2: "SEMCL_STATUS_NULL_POINTER",
    3: "SEMCL_STATUS_INVALID_SIZE",
    4: "SEMCL_STATUS_SIZE_OVERFLOW",
    5: "SEMCL_STATUS_NON_FINITE_SCALAR",
    6: "SEMCL_STATUS_INVALID_ENUM",
    7: "SEMCL_STATUS_ALIASING",
    8: "SEMCL_STATUS_BACKEND_UNAVAILABLE",
    9: "SEMCL_STATUS_WRONG_MEMORY_SPACE",
    10: "SEMCL_STATUS_OUT_OF_MEMORY",
    11: "SEMCL_STATUS_CUDA_ERROR",
    12: "SEMCL_STATUS_INVALID_VALUE",
    13: "SEMCL_STATUS_INTERNAL_ERROR",
}
BACKEND_AUTO, BACKEND_CPU, BACKEND_CUDA = 0, 1, 2
REDUCTIONS = {"mean": 0, "sum": 1, "none": 2}
DTYPES = {"float32": 0, "bfloat16": 1, "float16": 2}  # semcl_dtype_t


class Options(ctypes.Structure):
    """semcl_options (include/semcl/semcl.h). The library refuses a struct_size other than its
    own sizeof(semcl_options), so a layout drift shows up as an error, not as misread fields."""
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("dtype", ctypes.c_int),             # semcl_dtype_t
        ("neg_mask", ctypes.c_void_p),       # const uint8_t * (B, K)
        ("neg_count", ctypes.c_void_p),      # const int32_t * (B)
        ("weight", ctypes.c_void_p),         # const float * (B)
        ("pos_weight", ctypes.c_void_p),     # const float * (pos_weight_count)
        ("pos_weight_count", ctypes.c_int64),
    ]


class EmbedOptions(ctypes.Structure):
    """semcl_embed_options (include/semcl/semcl.h): the embedding calls' own options."""
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("score_scale", ctypes.c_float),
        ("pos_index", ctypes.c_void_p),      # const int64_t * (B), shared pool only
        ("gemm_math", ctypes.c_int),         # semcl_gemm_math_t
    ]


# ---- exceptions ------------------------------------------------------------------------------
class SemclError(RuntimeError):
    """A semcl C call failed. ``status`` is the numeric status, ``status_name`` its name and
    the message carries semcl_last_error()."""

    def __init__(self, message, status=13, function=""):
        super().__init__(message)
        self.status = status
        self.status_name = STATUS.get(status, "SEMCL_STATUS_UNKNOWN")
        self.function = function


class SemclValueError(SemclError, ValueError):
    """Bad argument refused by the C library (sizes, scalars, aliasing, memory space)."""


class SemclBackendUnavailable(SemclError):
    """The requested backend is not built into the loaded library or has no usable device."""


class SemclMemoryError(SemclError, MemoryError):
    """A host or device allocation inside semcl failed."""


_VALUE_STATUSES = {2, 3, 4, 5, 6, 7, 9, 12}


def _exception_for(status, function, detail):
    name = STATUS.get(status, "SEMCL_STATUS_UNKNOWN")
    msg = "%s failed with %s: %s" % (function, name, detail or "(no detail)")
    if status in _VALUE_STATUSES:
        cls = SemclValueError
    elif status == 8:
        cls = SemclBackendUnavailable
    elif status == 10:
        cls = SemclMemoryError
    else:
        cls = SemclError
    return cls(msg, status, function)


# ---- loading ---------------------------------------------------------------------------------
_lock = threading.Lock()
_lib = None
_lib_path = None


def _candidates():
    env = os.environ.get("SEMCL_LIBRARY")
    if env:
        return [env], True
    here = os.path.dirname(os.path.abspath(__file__))
    found = []
    for sub in (os.path.join("_lib", "lib"), os.path.join("_lib", "lib64"), "_lib", ""):
        d = os.path.join(here, sub)
        # Prefer the plain name, then the SONAME, then any versioned file.
        for pattern in ("libsemcl.so", "libsemcl.so.*", "libsemcl.dylib", "semcl.dll"):
            found.extend(sorted(glob.glob(os.path.join(d, pattern))))
    return found, False


def _c(fn, restype, *argtypes):
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


def _declare(lib):
    vp, i64, f32, ci = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float, ctypes.c_int
    _c(lib.semcl_version_number, ctypes.c_uint)
    _c(lib.semcl_version_string, ctypes.c_char_p)
    _c(lib.semcl_status_name, ctypes.c_char_p, ci)
    _c(lib.semcl_status_string, ctypes.c_char_p, ci)
    _c(lib.semcl_has_cuda_build, ci)
    _c(lib.semcl_create, ci, ctypes.POINTER(vp), ci)
    _c(lib.semcl_destroy, None, vp)
    _c(lib.semcl_last_error, ctypes.c_char_p, vp)
    _c(lib.semcl_set_threads, ci, vp, ci)
    _c(lib.semcl_set_stream, ci, vp, vp)
    _c(lib.semcl_synchronize, ci, vp)
    _c(lib.semcl_positive_only_forward, ci,
       vp, i64, vp, vp, vp, f32, ci, vp, vp, vp)
    _c(lib.semcl_positive_only_forward_backward, ci,
       vp, i64, vp, vp, vp, f32, ci, f32, vp, vp, vp, vp, vp, vp)
    _c(lib.semcl_pos_neg_forward, ci,
       vp, i64, i64, vp, vp, vp, vp, f32, ci, vp, vp, vp)
    _c(lib.semcl_pos_neg_forward_backward, ci,
       vp, i64, i64, vp, vp, vp, vp, f32, ci, f32, vp, vp, vp, vp, vp, vp, vp)
    opts = ctypes.POINTER(Options)
    _c(lib.semcl_positive_only_ex, ci,
       vp, i64, vp, vp, vp, f32, ci, opts, f32, vp, vp, vp, vp, vp, vp)
    _c(lib.semcl_pos_neg_ex, ci,
       vp, i64, i64, vp, vp, vp, vp, f32, ci, opts, f32, vp, vp, vp, vp, vp, vp, vp)
    eopts = ctypes.POINTER(EmbedOptions)
    _c(lib.semcl_positive_only_embed, ci,
       vp, i64, i64, vp, vp, vp, vp, f32, ci, opts, eopts, f32, vp, vp, vp, vp, vp, vp, vp)
    for name in ("semcl_pos_neg_embed", "semcl_pos_neg_shared_embed"):
        _c(getattr(lib, name), ci, vp, i64, i64, i64, vp, vp, vp, vp, vp, f32, ci, opts, eopts,
           f32, vp, vp, vp, vp, vp, vp, vp, vp)


def library():
    """The loaded ctypes.CDLL (loaded on first use)."""
    global _lib, _lib_path
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is not None:
            return _lib
        paths, from_env = _candidates()
        if not paths:
            raise OSError(
                "semcl: libsemcl was not found inside the package (%s). Install the package "
                "with `pip install .` from the repository root, or set SEMCL_LIBRARY to the "
                "path of a built libsemcl.so." % os.path.dirname(os.path.abspath(__file__)))
        errors = []
        for p in paths:
            try:
                lib = ctypes.CDLL(p)
            except OSError as e:
                errors.append("%s: %s" % (p, e))
                continue
            try:
                _declare(lib)
            except AttributeError as e:
                errors.append("%s: not a libsemcl (%s)" % (p, e))
                continue
            _lib, _lib_path = lib, p
            return lib
        where = "SEMCL_LIBRARY=%s" % paths[0] if from_env else "the package"
        raise OSError("semcl: could not load libsemcl from %s:\n  %s" % (where, "\n  ".join(errors)))


def library_path():
    library()
    return _lib_path


def version():
    return library().semcl_version_string().decode()


def has_cuda_build():
    return bool(library().semcl_has_cuda_build())


# ---- contexts: one per (backend, device, stream) per thread ------------------------------------
class _Context:
    __slots__ = ("handle", "_destroy")

    def __init__(self, backend):
        lib = library()
        h = ctypes.c_void_p()
        st = lib.semcl_create(ctypes.byref(h), backend)
        if st != 0:
            detail = lib.semcl_status_string(st).decode()
            if st == 8:
                detail += (" (the loaded library %s CUDA support)" %
                           ("has" if lib.semcl_has_cuda_build() else "was built without"))
            raise _exception_for(st, "semcl_create", detail)
        self.handle = h.value
        self._destroy = lib.semcl_destroy

    def __del__(self):
        h, self.handle = getattr(self, "handle", None), None
        if h:
            try:
                self._destroy(h)
            except Exception:  # interpreter shutdown
                pass


_tls = threading.local()


def context(backend, device=-1, stream=0):
    """The calling thread's context for (backend, device, stream), created on first use.

    A semcl context is single-threaded, hence per thread. On CUDA it is also per stream: a
    context's workspace is used in stream order, so sharing one context between two streams
    could let two launches use the same workspace concurrently."""
    cache = getattr(_tls, "contexts", None)
    if cache is None:
        cache = _tls.contexts = {}
    key = (backend, device, stream)
    c = cache.get(key)
    if c is None:
        c = _Context(backend)
        if stream:
            check(library().semcl_set_stream(c.handle, stream), c.handle, "semcl_set_stream")
        cache[key] = c
    return c.handle


def check(status, handle, function):
    if status != 0:
        detail = library().semcl_last_error(handle).decode(errors="replace")
        raise _exception_for(status, function, detail)


def call(function, handle, *args):
    """Calls semcl_<function>(handle, *args) and raises on a non-success status."""
    fn = getattr(library(), function)
    check(fn(handle, *args), handle, function)
