"""(B,) and (B, 1) scores and labels, with BCEWithLogits' rule: input and target of one shape,
no broadcasting; 'none' returns per-sample values in that shape.

Oracles: conftest.ref_losses in float64 on the (B,) form, and PyTorch's own
F.binary_cross_entropy_with_logits for which shapes are accepted and what 'none' returns."""
import pytest
import torch
import torch.nn.functional as F

import semcl.torch as st
from conftest import assert_close, rand_case, ref_losses

REDUCTIONS = ["mean", "sum", "none"]


def _call(which, raw, pos, neg, y, lam, red):
    if which == "positive_only":
        return st.positive_only_loss(raw, pos, y, lam, red)
    return st.pos_neg_loss(raw, pos, neg, y, lam, red)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("which", ["positive_only", "pos_neg"])
def test_column_scores_and_labels(which, reduction):
    gen = torch.Generator().manual_seed(41)
    B, K = 23, 4
    raw, pos, neg, y = rand_case(gen, B, K)
    leaves = [raw.reshape(B, 1).clone().requires_grad_(), pos.reshape(B, 1).clone()
              .requires_grad_(), neg.clone().requires_grad_()]
    out = _call(which, *leaves, y.reshape(B, 1), 0.6, reduction)
    # per-sample outputs in the input's shape, exactly as BCEWithLogits returns them
    expect_shape = tuple(F.binary_cross_entropy_with_logits(
        leaves[0].detach(), y.reshape(B, 1), reduction=reduction).shape)
    ref_leaves = [t.double().requires_grad_() for t in (raw, pos, neg)]
    ref = ref_losses(ref_leaves[0], ref_leaves[1],
                     ref_leaves[2] if which == "pos_neg" else None, y.double(), 0.6, reduction)
    for a, b in zip(out, ref):
        assert tuple(a.shape) == expect_shape
        assert_close(a.reshape(b.shape), b)
    up = torch.randn(out[0].shape, generator=gen)
    n = 3 if which == "pos_neg" else 2
    got = torch.autograd.grad(out[0], leaves[:n], up)
    exp = torch.autograd.grad(ref[0], ref_leaves[:n], up.reshape(ref[0].shape).double())
    for g, e, t in zip(got, exp, leaves):
        assert g.shape == t.shape  # (B, 1) gradients for (B, 1) scores
        assert_close(g.reshape(e.shape), e, rtol=3e-5, atol=2e-6)


def test_column_and_vector_forms_give_identical_bits():
    gen = torch.Generator().manual_seed(42)
    raw, pos, neg, y = rand_case(gen, 40, 3)
    for red in REDUCTIONS:
        a = st.pos_neg_loss(raw, pos, neg, y, 0.3, red)
        b = st.pos_neg_loss(raw[:, None], pos[:, None], neg, y[:, None], 0.3, red)
        for x, z in zip(a, b):
            assert torch.equal(x, z.reshape(x.shape))


def test_non_contiguous_column_scores():
    gen = torch.Generator().manual_seed(43)
    raw, pos, neg, y = rand_case(gen, 11, 2)
    wide = torch.stack([raw, raw * 0 + 9], 1).requires_grad_()  # (B, 2)
    col = wide[:, :1]  # (B, 1), stride (2, 1): not contiguous
    assert not col.is_contiguous()
    out = st.positive_only_loss(col, pos[:, None], y[:, None], 0.5, "none")
    ref = ref_losses(raw.double(), pos.double(), None, y.double(), 0.5, "none")
    for a, b in zip(out, ref):
        assert_close(a.reshape(-1), b)
    g = torch.autograd.grad(out[0].sum(), wide)[0]
    assert torch.equal(g[:, 1], torch.zeros(11))  # the other column gets nothing
    r = raw.double().requires_grad_()
    e = torch.autograd.grad(ref_losses(r, pos.double(), None, y.double(), 0.5, "none")[0].sum(),
                            r)[0]
    assert_close(g[:, 0], e, rtol=3e-5, atol=2e-6)


@pytest.mark.parametrize("raw_shape,y_shape", [((4,), (4, 1)), ((4, 1), (4,)), ((4, 1), (1, 4)),
                                               ((4, 1), (4, 2)), ((4,), (2, 2))])
def test_label_shape_mismatch_is_refused_like_bce(raw_shape, y_shape):
    raw, pos, y = torch.randn(raw_shape), torch.randn(raw_shape), torch.ones(y_shape)
    # PyTorch refuses these (shapes differ) ...
    with pytest.raises((ValueError, RuntimeError)):
        F.binary_cross_entropy_with_logits(raw, y)
    # ... and so does semcl, naming the argument and both shapes
    with pytest.raises(ValueError, match=r"y must have shape %s like the scores.*got shape %s"
                       % (_re(raw_shape), _re(y_shape))):
        st.positive_only_loss(raw, pos, y)
    with pytest.raises(ValueError, match="y must have shape"):
        st.pos_neg_loss(raw, pos, torch.randn(4, 3), y)


def _re(shape):
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize("raw_shape,pos_shape", [((4,), (4, 1)), ((4, 1), (4,)), ((4, 1), (5, 1))])
def test_score_pos_shape_must_match_score_raw(raw_shape, pos_shape):
    raw, pos = torch.randn(raw_shape), torch.randn(pos_shape)
    y = torch.ones(raw_shape)
    with pytest.raises(ValueError, match=r"score_pos must have shape %s like score_raw"
                       % _re(raw_shape)):
        st.positive_only_loss(raw, pos, y)
    with pytest.raises(ValueError, match="score_pos must have shape"):
        st.pos_neg_loss(raw, pos, torch.randn(raw_shape[0], 2), y)


@pytest.mark.parametrize("shape", [(), (4, 2), (1, 4), (4, 1, 1), (2, 2, 1)])
def test_other_score_shapes_are_refused(shape):
    raw = torch.randn(shape)
    with pytest.raises(ValueError, match=r"score_raw must have shape \(B,\) or \(B, 1\)"):
        st.positive_only_loss(raw, raw.clone(), torch.ones(shape))
    with pytest.raises(ValueError, match=r"score_pos must have shape \(B,\) or \(B, 1\)"):
        st.positive_only_loss(torch.randn(4), raw, torch.ones(4))


def test_column_batch_of_one():
    """(1, 1): B = 1, not a (B,) of length 1 with K mistaken for B."""
    raw, pos, y = torch.tensor([[0.3]]), torch.tensor([[-0.2]]), torch.tensor([[1.0]])
    out = st.pos_neg_loss(raw, pos, torch.tensor([[0.1, 0.5]]), y, 1.0, "none")
    assert all(o.shape == (1, 1) for o in out)
    ref = ref_losses(raw.reshape(1).double(), pos.reshape(1).double(),
                     torch.tensor([[0.1, 0.5]], dtype=torch.float64), y.reshape(1).double(),
                     1.0, "none")
    for a, b in zip(out, ref):
        assert_close(a.reshape(1), b)
