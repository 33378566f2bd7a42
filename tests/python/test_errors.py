"""Every error path: the exception type and a message naming the argument."""
import ctypes
import ctypes.util
import os
import subprocess
import sys

import pytest
import torch

import semcl
import semcl.torch as st
from semcl import _capi

B, K = 4, 3


def ok():
    return (torch.randn(B), torch.randn(B), torch.randn(B, K), torch.tensor([1., 0., 1., 0.]))


@pytest.mark.parametrize("arg", ["score_raw", "score_pos", "score_neg"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.int32, torch.complex64])
def test_score_dtype_is_a_type_error(arg, dtype):
    """float32, bfloat16 and float16 are taken (test_dtypes.py); float64 is refused, never
    silently downcast, and so is any non-float dtype."""
    raw, pos, neg, y = ok()
    args = {"score_raw": raw, "score_pos": pos, "score_neg": neg}
    args[arg] = args[arg].to(dtype)
    # the message says what to do: call .float() on that argument
    with pytest.raises(TypeError, match=arg + r".*float32.*pass %s\.float\(\)" % arg):
        st.pos_neg_loss(args["score_raw"], args["score_pos"], args["score_neg"], y)
    if arg != "score_neg":
        with pytest.raises(TypeError, match=arg):
            st.positive_only_loss(args["score_raw"], args["score_pos"], y)


def test_float64_never_silently_downcast_at_model_level():
    from seed_losses import dot_model
    u = torch.randn(B, 2, dtype=torch.float64)
    it = torch.randn(B, 2, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"score_raw \(= model\(u, item_raw\)\).*float64"):
        st.loss_positive_only(dot_model, u, it, it, torch.ones(B))
    with pytest.raises(TypeError, match="score_raw"):
        st.loss_pos_neg(dot_model, u, it, it, torch.randn(B, K, 2, dtype=torch.float64),
                        torch.ones(B))


@pytest.mark.parametrize("arg,bad,exc,pattern", [
    ("score_raw", "notatensor", TypeError, "score_raw must be a torch.Tensor"),
    ("score_raw", torch.randn(B, 2), ValueError, r"score_raw must have shape \(B,\) or \(B, 1\)"),
    ("score_raw", torch.randn(()), ValueError, r"score_raw must have shape \(B,\) or \(B, 1\)"),
    ("score_pos", torch.randn(B + 1), ValueError, r"score_pos must have shape \(4,\)"),
    ("score_pos", torch.randn(B, 1), ValueError, r"score_pos must have shape \(4,\) like score_raw"),
    ("score_neg", torch.randn(B * K), ValueError, r"score_neg must be 2-D"),
    ("score_neg", torch.randn(B, K, 1), ValueError, r"score_neg must be 2-D"),
    ("score_neg", torch.randn(B + 1, K), ValueError, r"score_neg must have shape \(B, K\)"),
    ("score_neg", torch.randn(B, 0), ValueError, r"score_neg has K = 0"),
    ("y", torch.ones(B + 1), ValueError, r"y must have shape \(4,\) like the scores"),
    ("y", torch.ones(B, 1), ValueError, r"y must have shape"),
    ("y", torch.ones(B, dtype=torch.complex64), TypeError, r"y has dtype torch.complex64"),
    ("y", [1, 0, 1, 0], TypeError, r"y must be a torch.Tensor"),
    ("y", torch.ones(B, requires_grad=True), ValueError, r"y requires grad"),
    ("score_raw", torch.randn(B).to_sparse(), TypeError, r"score_raw: layout"),
    ("score_pos", torch.empty(B, device="meta"), ValueError, r"score_pos is on device meta"),
])
def test_argument_errors_name_the_argument(arg, bad, exc, pattern):
    raw, pos, neg, y = ok()
    args = {"score_raw": raw, "score_pos": pos, "score_neg": neg, "y": y}
    args[arg] = bad
    with pytest.raises(exc, match=pattern):
        st.pos_neg_loss(args["score_raw"], args["score_pos"], args["score_neg"], args["y"])
    if arg != "score_neg":
        with pytest.raises(exc, match=pattern):
            st.positive_only_loss(args["score_raw"], args["score_pos"], args["y"])


def test_empty_batch():
    y = torch.ones(0)
    with pytest.raises(ValueError, match="score_raw is empty"):
        st.positive_only_loss(torch.randn(0), torch.randn(0), y)
    with pytest.raises(ValueError, match="score_raw is empty"):
        st.pos_neg_loss(torch.randn(0), torch.randn(0), torch.randn(0, 3), y)


@pytest.mark.parametrize("lam,exc,pattern", [
    (float("nan"), ValueError, "is not a finite float32"),
    (float("inf"), ValueError, "is not a finite float32"),
    (1e39, ValueError, "is not a finite float32"),
    ("1.0", TypeError, "must be a real number"),
    (None, TypeError, "must be a real number"),
    (True, TypeError, "must be a real number"),
    (torch.ones(2), ValueError, "must be a scalar"),
    (torch.ones((), requires_grad=True), TypeError, "requires grad is not supported"),
])
def test_lambda_errors(lam, exc, pattern):
    raw, pos, neg, y = ok()
    with pytest.raises(exc, match="lambda_rank.*" + pattern):
        st.pos_neg_loss(raw, pos, neg, y, lam)
    with pytest.raises(exc, match="lambda_sem.*" + pattern):
        st.positive_only_loss(raw, pos, y, lam)
    with pytest.raises(exc, match="lambda_rank"):
        st.PosNegLoss(lam)
    with pytest.raises(exc, match="lambda_sem"):
        st.PositiveOnlyLoss(lam)


@pytest.mark.parametrize("reduction", ["avg", "MEAN", None, 0])
def test_reduction_errors(reduction):
    raw, pos, neg, y = ok()
    with pytest.raises(ValueError, match="reduction must be"):
        st.pos_neg_loss(raw, pos, neg, y, reduction=reduction)
    with pytest.raises(ValueError, match="reduction must be"):
        st.positive_only_loss(raw, pos, y, reduction=reduction)
    with pytest.raises(ValueError, match="reduction must be"):
        st.PositiveOnlyLoss(reduction=reduction)


def test_model_level_label_errors_name_y_raw():
    from seed_losses import score_model
    u = torch.zeros(B, 1)
    it = torch.randn(B, 1)
    with pytest.raises(ValueError, match="y_raw must have shape"):
        st.loss_positive_only(score_model, u, it, it, torch.ones(B + 1))
    with pytest.raises(ValueError, match=r"score_pos \(= model\(u, item_pos\)\) must have shape"):
        st.loss_positive_only(score_model, u, it, torch.randn(B + 2, 1), torch.ones(B))


# ---- the C library's own errors -> exceptions carrying semcl_last_error ------------------------
def _f(n):
    return torch.zeros(n)


def test_library_status_becomes_exception_with_last_error():
    h = _capi.context(_capi.BACKEND_CPU)
    raw, pos, y = _f(4), _f(4), _f(4)
    out = [_f(1), _f(1), _f(1)]
    with pytest.raises(semcl.SemclValueError,
                       match=r"semcl_positive_only_forward failed with SEMCL_STATUS_INVALID_SIZE"
                             r".*B = 0") as ei:
        _capi.call("semcl_positive_only_forward", h, 0, raw.data_ptr(), pos.data_ptr(),
                   y.data_ptr(), 1.0, 0, *[o.data_ptr() for o in out])
    assert ei.value.status == 3 and isinstance(ei.value, ValueError)
    with pytest.raises(semcl.SemclValueError, match="SEMCL_STATUS_ALIASING.*score_raw overlaps loss_ctr"):
        _capi.call("semcl_positive_only_forward", h, 4, raw.data_ptr(), pos.data_ptr(),
                   y.data_ptr(), 1.0, 0, out[0].data_ptr(), raw.data_ptr(), out[2].data_ptr())
    with pytest.raises(semcl.SemclValueError, match="SEMCL_STATUS_NON_FINITE_SCALAR.*lambda"):
        _capi.call("semcl_positive_only_forward", h, 4, raw.data_ptr(), pos.data_ptr(),
                   y.data_ptr(), float("nan"), 0, *[o.data_ptr() for o in out])
    with pytest.raises(semcl.SemclValueError, match="SEMCL_STATUS_INVALID_ENUM.*reduction"):
        _capi.call("semcl_positive_only_forward", h, 4, raw.data_ptr(), pos.data_ptr(),
                   y.data_ptr(), 1.0, 7, *[o.data_ptr() for o in out])
    with pytest.raises(semcl.SemclValueError, match="SEMCL_STATUS_NULL_POINTER.*score_pos"):
        _capi.call("semcl_positive_only_forward", h, 4, raw.data_ptr(), None,
                   y.data_ptr(), 1.0, 0, *[o.data_ptr() for o in out])
    # the context is still usable, and the message is cleared by a success
    _capi.call("semcl_positive_only_forward", h, 4, raw.data_ptr(), pos.data_ptr(),
               y.data_ptr(), 1.0, 0, *[o.data_ptr() for o in out])
    assert _capi.library().semcl_last_error(h) == b""


@pytest.mark.skipif(semcl.has_cuda_build() and torch.cuda.is_available(),
                    reason="a CUDA device is usable here")
def test_cuda_backend_unavailable_is_reported():
    with pytest.raises(semcl.SemclBackendUnavailable, match="SEMCL_STATUS_BACKEND_UNAVAILABLE"):
        _capi._Context(_capi.BACKEND_CUDA)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU exists")
def test_cuda_tensors_without_gpu_cannot_even_be_made():
    # Without a GPU no CUDA tensor exists; the CUDA paths are covered in test_cuda.py.
    assert not torch.cuda.is_available()


def test_status_table_matches_library():
    lib = _capi.library()
    for code, name in _capi.STATUS.items():
        assert lib.semcl_status_name(code).decode() == name


def _run_py(code, env):
    e = dict(os.environ)
    e.update(env)
    return subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True)


def test_library_loading_errors_are_clear(tmp_path):
    pkg_dir = os.path.dirname(os.path.dirname(os.path.abspath(semcl.__file__)))
    r = _run_py("import semcl; semcl.version()",
                {"SEMCL_LIBRARY": str(tmp_path / "nope.so"), "PYTHONPATH": pkg_dir})
    assert r.returncode != 0
    assert "could not load libsemcl from SEMCL_LIBRARY=" in r.stderr and "nope.so" in r.stderr
    bogus = tmp_path / "libgarbage.so"
    bogus.write_bytes(b"not an ELF file")
    r = _run_py("import semcl; semcl.version()",
                {"SEMCL_LIBRARY": str(bogus), "PYTHONPATH": pkg_dir})
    assert r.returncode != 0 and "could not load libsemcl" in r.stderr
    libm = ctypes.util.find_library("m")
    if libm:
        r = _run_py("import semcl; semcl.version()",
                    {"SEMCL_LIBRARY": libm, "PYTHONPATH": pkg_dir})
        assert r.returncode != 0 and "not a libsemcl" in r.stderr, r.stderr


def test_import_does_not_need_the_library_until_used():
    pkg_dir = os.path.dirname(os.path.dirname(os.path.abspath(semcl.__file__)))
    r = _run_py("import semcl, semcl.torch; print('ok')",
                {"SEMCL_LIBRARY": "/nonexistent/libsemcl.so", "PYTHONPATH": pkg_dir})
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
