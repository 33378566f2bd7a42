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


def ref_losses(raw, pos, neg, y, lam, reduction, weight=None, pos_weight=None, mask=None):
    """Reference in whatever dtype the inputs have (use float64): per-sample losses as in
    docs/losses.md, then the reduction, written with plain PyTorch formulas. Differentiable by
    autograd (the oracle for any upstream).

    Options: weight (B,) multiplies both terms of a sample; pos_weight ((1,) or (B,)) is
    F.binary_cross_entropy_with_logits' own; mask (bool (B, K), True = real negative): masked
    negatives are replaced by 0 before anything is computed (so NaN padding cannot leak into
    the oracle, and their gradient is exactly 0); row b's pairwise term is the mean over its
    real negatives (0 if none); 'mean' of the pairwise term is
    (w_b * softplus(...) * mask).sum() / mask.sum() (0 if mask.sum() = 0)."""
    y = y.to(raw.dtype)
    sign = 2 * y - 1
    w = torch.ones_like(raw) if weight is None else weight.to(raw.dtype)
    ctr = F.binary_cross_entropy_with_logits(
        raw, y, weight=None if weight is None else w,
        pos_weight=None if pos_weight is None else pos_weight.to(raw.dtype), reduction="none")
    if neg is None:
        aux = w * F.softplus(-sign * (pos - raw))
        aux_mean = aux.mean()
    else:
        if mask is None:
            mask = torch.ones(neg.shape, dtype=torch.bool, device=neg.device)
        neg = torch.where(mask, neg, torch.zeros_like(neg))
        m = mask.to(raw.dtype)
        sp = F.softplus(-sign.unsqueeze(1) * (pos.unsqueeze(1) - neg)) * m
        n_b = m.sum(1)
        aux = w * torch.where(n_b > 0, sp.sum(1) / n_b.clamp(min=1), torch.zeros_like(n_b))
        n = m.sum()
        aux_mean = (w.unsqueeze(1) * sp).sum() / n.clamp(min=1) if n > 0 else (sp * 0).sum()
    loss = ctr + lam * aux
    if reduction == "mean":
        return ctr.mean() + lam * aux_mean, ctr.mean(), aux_mean
    if reduction == "sum":
        return loss.sum(), ctr.sum(), aux.sum()
    return loss, ctr, aux


def count_mask(neg_count, K):
    """neg_count (B,) -> the bool (B, K) mask it stands for (counts clamped to [0, K])."""
    return torch.arange(K, device=neg_count.device).unsqueeze(0) < \
        neg_count.long().clamp(0, K).reshape(-1, 1)


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
