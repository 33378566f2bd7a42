"""Bad values of the optional keywords (weight, pos_weight, neg_mask, neg_count): the exception
type and a message naming the argument, raised before the library is called."""
import pytest
import torch

import semcl.torch as st

B, K = 4, 3


def ok(col=False):
    shape = (B, 1) if col else (B,)
    return (torch.randn(shape), torch.randn(shape), torch.randn(B, K),
            torch.tensor([1., 0., 1., 0.]).reshape(shape))


@pytest.fixture
def library_calls(monkeypatch):
    """The semcl_* calls made during the test (none may be made for a refused argument)."""
    from semcl import _capi
    seen = []
    orig = _capi.call

    def spy(function, handle, *args):
        seen.append(function)
        return orig(function, handle, *args)
    monkeypatch.setattr(_capi, "call", spy)
    return seen


BAD = [
    # weight
    ({"weight": torch.ones(B, 1)}, ValueError,
     r"weight must have shape \(4,\) like the scores .*got shape \(4, 1\)"),
    ({"weight": torch.ones(B + 1)}, ValueError, r"weight must have shape \(4,\)"),
    ({"weight": torch.ones(())}, ValueError, r"weight must have shape \(4,\)"),
    ({"weight": torch.ones(B, dtype=torch.complex64)}, TypeError,
     r"weight has dtype torch.complex64; it must be a real"),
    ({"weight": [1.0] * B}, TypeError, r"weight must be a torch.Tensor, got list"),
    ({"weight": torch.ones(B, device="meta")}, ValueError,
     r"weight is on device meta"),
    ({"weight": torch.ones(B, requires_grad=True)}, ValueError, r"weight requires grad"),
    # pos_weight
    ({"pos_weight": torch.ones(2)}, ValueError,
     r"pos_weight must be a number, a one-element tensor or have shape \(4,\) like the scores"),
    ({"pos_weight": torch.ones(B, 1)}, ValueError, r"pos_weight must be a number"),
    ({"pos_weight": "2"}, TypeError,
     r"pos_weight must be a real number or a torch.Tensor, got str"),
    ({"pos_weight": True}, TypeError,
     r"pos_weight must be a real number or a torch.Tensor, got bool"),
    ({"pos_weight": torch.ones(1, requires_grad=True)}, ValueError, r"pos_weight requires grad"),
    ({"pos_weight": torch.ones(B, dtype=torch.complex64)}, TypeError, r"pos_weight has dtype"),
]

BAD_PAIRWISE = [
    ({"neg_mask": torch.ones(B, K, dtype=torch.uint8)}, TypeError,
     r"neg_mask has dtype torch.uint8; it must be a torch.bool tensor"),
    ({"neg_mask": torch.ones(B, K)}, TypeError, r"neg_mask has dtype torch.float32"),
    ({"neg_mask": torch.ones(B, K + 1, dtype=torch.bool)}, ValueError,
     r"neg_mask must have shape \(4, 3\) like score_neg .*got shape \(4, 4\)"),
    ({"neg_mask": torch.ones(K, B, dtype=torch.bool)}, ValueError, r"neg_mask must have shape"),
    ({"neg_mask": torch.ones(B, dtype=torch.bool)}, ValueError, r"neg_mask must have shape"),
    ({"neg_mask": torch.ones(1, K, dtype=torch.bool)}, ValueError, r"neg_mask must have shape"),
    ({"neg_mask": torch.ones(B, K, dtype=torch.bool, device="meta")}, ValueError,
     r"neg_mask is on device meta"),
    ({"neg_mask": "all"}, TypeError, r"neg_mask must be a torch.Tensor"),
    ({"neg_count": torch.ones(B)}, TypeError,
     r"neg_count has dtype torch.float32; it must be an integer tensor"),
    ({"neg_count": torch.ones(B, dtype=torch.bool)}, TypeError, r"neg_count has dtype torch.bool"),
    ({"neg_count": torch.ones(B + 1, dtype=torch.int32)}, ValueError,
     r"neg_count must have shape \(4,\) like the scores"),
    ({"neg_count": torch.ones(B, 1, dtype=torch.int32)}, ValueError, r"neg_count must have shape"),
]


@pytest.mark.parametrize("kw,exc,pattern", BAD + BAD_PAIRWISE)
def test_pairwise_option_errors(kw, exc, pattern, library_calls):
    raw, pos, neg, y = ok()
    with pytest.raises(exc, match=pattern):
        st.pos_neg_loss(raw, pos, neg, y, **kw)
    with pytest.raises(exc, match=pattern):
        st.PosNegLoss()(raw, pos, neg, y, **kw)
    assert library_calls == []


@pytest.mark.parametrize("kw,exc,pattern", BAD)
def test_positive_only_option_errors(kw, exc, pattern, library_calls):
    raw, pos, _, y = ok()
    with pytest.raises(exc, match=pattern):
        st.positive_only_loss(raw, pos, y, **kw)
    with pytest.raises(exc, match=pattern):
        st.PositiveOnlyLoss()(raw, pos, y, **kw)
    assert library_calls == []


@pytest.mark.parametrize("kw,pattern", [
    ({"weight": torch.ones(B)}, r"weight must have shape \(4, 1\) like the scores"),
    ({"pos_weight": torch.ones(B)}, r"pos_weight must be a number, a one-element tensor or "
                                    r"have shape \(4, 1\)"),
    ({"neg_count": torch.ones(B, dtype=torch.int32)}, r"neg_count must have shape \(4, 1\)"),
])
def test_column_scores_want_column_options(kw, pattern):
    """(B, 1) scores: per-sample options are (B, 1) too, as BCEWithLogits wants a weight of
    the input's shape (a (B,) weight would broadcast to (B, B) there)."""
    raw, pos, neg, y = ok(col=True)
    with pytest.raises(ValueError, match=pattern):
        st.pos_neg_loss(raw, pos, neg, y, **kw)


def test_masks_are_for_the_pairwise_loss_only():
    raw, pos, _, y = ok()
    with pytest.raises(TypeError, match="neg_mask"):
        st.positive_only_loss(raw, pos, y, neg_mask=torch.ones(B, K, dtype=torch.bool))
    with pytest.raises(TypeError, match="neg_count"):
        st.PositiveOnlyLoss()(raw, pos, y, neg_count=torch.ones(B, dtype=torch.int32))


def test_options_are_keyword_only():
    """Positional arguments past reduction would be ambiguous (weight vs pos_weight)."""
    raw, pos, neg, y = ok()
    with pytest.raises(TypeError):
        st.pos_neg_loss(raw, pos, neg, y, 1.0, "mean", torch.ones(B))
    with pytest.raises(TypeError):
        st.positive_only_loss(raw, pos, y, 1.0, "mean", torch.ones(B))
