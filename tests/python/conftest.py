"""Shared helpers for the semcl PyTorch binding tests.

Run from the repository root:
    PYTHONPATH=python SEMCL_LIBRARY=build/libsemcl.so /usr/bin/python3 -m pytest tests/python -q
or against an installed package (no PYTHONPATH, no SEMCL_LIBRARY)."""
import os
import sys

import pytest
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)  # seed_losses (the oracle)

import semcl  # noqa: E402
import semcl.torch  # noqa: E402,F401


def pytest_report_header(config):
    try:
        return ("semcl %s from %s (library %s, CUDA build: %s); torch %s, CUDA available: %s; "
                "semcl.torch implementation: %s" % (
                    semcl.version(), os.path.dirname(semcl.__file__), semcl.library_path(),
                    semcl.has_cuda_build(), torch.__version__, torch.cuda.is_available(),
                    semcl.torch.IMPLEMENTATION))
    except OSError as e:  # the tests will fail with the same message
        return "semcl library NOT loadable: %s" % e


requires_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="torch.cuda.is_available() is False (no GPU here)")


# ---- SEMCL_REQUIRE_CUDA=1 (set by the GPU pack's runner): a CUDA test that would skip for
# lack of a GPU, or of a CUDA build of libsemcl, fails instead. Recognised by the reasons the
# CUDA skips give (keep them containing one of these phrases); other skips (e.g. "needs two
# GPUs") stay skips.
NO_CUDA_SKIP_PHRASES = ("no GPU here", "built without the CUDA backend")


def _no_cuda_skip_reason(report):
    if not report.skipped or not isinstance(report.longrepr, tuple):
        return None
    reason = str(report.longrepr[2])
    return reason if any(p in reason for p in NO_CUDA_SKIP_PHRASES) else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("SEMCL_REQUIRE_CUDA") != "1":
        return
    reason = _no_cuda_skip_reason(report)
    if reason is not None:
        report.outcome = "failed"
        report.longrepr = "SEMCL_REQUIRE_CUDA=1, but this CUDA test was skipped: %s" % reason


class keep_float64:
    """The seed casts labels with y_raw.float(), which makes PyTorch compute the BCE term in
    float32. For float64 expectations that cast is the one thing changed (as in
    reference/make_cases.py): inside this block Tensor.float() leaves float64 alone."""

    def __enter__(self):
        self.orig = torch.Tensor.float
        orig = self.orig
        torch.Tensor.float = lambda t, *a, **k: t if t.dtype == torch.float64 else orig(t, *a, **k)

    def __exit__(self, *exc):
        torch.Tensor.float = self.orig


def ref_losses(raw, pos, neg, y, lam, reduction):
    """Reference in whatever dtype the inputs have (use float64): per-sample losses as in
    SPEC.md, then the reduction. Differentiable by autograd (the oracle for any upstream)."""
    y = y.to(raw.dtype)
    sign = 2 * y - 1
    ctr = F.binary_cross_entropy_with_logits(raw, y, reduction="none")
    if neg is None:
        aux = F.softplus(-sign * (pos - raw))
    else:
        aux = F.softplus(-sign.unsqueeze(1) * (pos.unsqueeze(1) - neg)).mean(1)
    loss = ctr + lam * aux
    if reduction == "mean":
        return loss.mean(), ctr.mean(), aux.mean()
    if reduction == "sum":
        return loss.sum(), ctr.sum(), aux.sum()
    return loss, ctr, aux


def assert_close(got, exp, rtol=1e-5, atol=1e-6, scale=True, msg=""):
    """float32 result vs float64 expectation; atol is relative to the largest |expected|
    (gradients are O(1/B)), never below 1e-12 * atol."""
    got = got.detach().double().cpu()
    exp = exp.detach().double().cpu()
    assert got.shape == exp.shape, "%s: shape %s vs %s" % (msg, got.shape, exp.shape)
    a = atol
    if scale and exp.numel():
        m = exp.abs().max().item()
        a = atol * max(m, 1e-12) if m == m else atol
    torch.testing.assert_close(got, exp, rtol=rtol, atol=a, equal_nan=True, msg=lambda m_: (
        "%s\n%s" % (msg, m_)))


def rand_case(gen, B, K, scale=3.0, soft=False, device="cpu"):
    raw = torch.randn(B, generator=gen) * scale
    pos = torch.randn(B, generator=gen) * scale
    neg = torch.randn(B, K, generator=gen) * scale if K else None
    if soft:
        y = torch.rand(B, generator=gen)
    else:
        y = (torch.rand(B, generator=gen) < 0.4).float()
    out = [raw, pos, neg, y]
    return [None if t is None else t.to(device) for t in out]
