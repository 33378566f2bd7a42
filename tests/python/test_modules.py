"""nn.Module losses: what they return (the loss tensor; the named tuple on request), that
criterion(...).backward() trains, and PyTorch's module conventions (repr, reduction attribute,
no parameters, empty state_dict).

Oracle: conftest.ref_losses in float64 (values and, through autograd, gradients)."""
import copy
import pickle

import pytest
import torch

import semcl.torch as st
from conftest import assert_close, rand_case, ref_losses

REDUCTIONS = ["mean", "sum", "none"]


def _modules(lam, reduction, components=False):
    return (st.PositiveOnlyLoss(lam, reduction, return_components=components),
            st.PosNegLoss(lam, reduction, return_components=components))


def _call(m, raw, pos, neg, y):
    if isinstance(m, st.PositiveOnlyLoss):
        return m(raw, pos, y)
    return m(raw, pos, neg, y)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_module_returns_the_loss_tensor_and_backward_works(reduction):
    gen = torch.Generator().manual_seed(31)
    raw, pos, neg, y = rand_case(gen, 12, 4)
    for m in _modules(0.4, reduction):
        leaves = [t.clone().requires_grad_() for t in (raw, pos, neg)]
        out = _call(m, *leaves, y)
        assert isinstance(out, torch.Tensor)
        assert out.shape == (() if reduction != "none" else (12,))
        (out.sum() if reduction == "none" else out).backward()
        n = None if isinstance(m, st.PositiveOnlyLoss) else neg
        ref_leaves = [t.double().requires_grad_() for t in (raw, pos, neg)]
        ref = ref_losses(ref_leaves[0], ref_leaves[1], None if n is None else ref_leaves[2],
                         y.double(), 0.4, reduction)[0]
        assert_close(out, ref, msg=repr(m))
        (ref.sum() if reduction == "none" else ref).backward()
        used = 2 if n is None else 3
        for a, b in zip(leaves[:used], ref_leaves[:used]):
            assert_close(a.grad, b.grad, rtol=3e-5, atol=2e-6, msg=repr(m))
        if n is None:
            assert leaves[2].grad is None


def test_training_step_with_a_criterion():
    """The usual loop: criterion = Loss(); loss = criterion(...); loss.backward(); opt.step()."""
    torch.manual_seed(0)
    B, K, D = 16, 5, 6
    item = torch.nn.Linear(D, 1)
    crit = st.PosNegLoss(lambda_rank=0.5)
    opt = torch.optim.SGD(item.parameters(), lr=0.1)
    xr, xp, xn = torch.randn(B, D), torch.randn(B, D), torch.randn(B, K, D)
    y = torch.randint(0, 2, (B, 1))
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = crit(item(xr), item(xp), item(xn).squeeze(-1), y)  # (B, 1) scores and labels
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # each step's value is the float64 formula at the parameters of that step
    assert losses[-1] < losses[0]
    with torch.no_grad():
        ref = ref_losses(item(xr).double().squeeze(1), item(xp).double().squeeze(1),
                         item(xn).squeeze(-1).double(), y.squeeze(1).double(), 0.5, "mean")[0]
        assert_close(crit(item(xr), item(xp), item(xn).squeeze(-1), y), ref)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_return_components_gives_the_named_tuple(reduction):
    gen = torch.Generator().manual_seed(32)
    raw, pos, neg, y = rand_case(gen, 9, 3)
    m1, m2 = _modules(0.7, reduction, components=True)
    o1, o2 = m1(raw, pos, y), m2(raw, pos, neg, y)
    assert isinstance(o1, st.PositiveOnlyLossOutput) and o1._fields == ("loss", "loss_ctr",
                                                                          "loss_pos")
    assert isinstance(o2, st.PosNegLossOutput) and o2._fields == ("loss", "loss_ctr", "loss_pair")
    for got, n in ((o1, None), (o2, neg)):
        ref = ref_losses(raw.double(), pos.double(), None if n is None else n.double(),
                         y.double(), 0.7, reduction)
        for a, b in zip(got, ref):
            assert_close(a, b)
    # the tensor-returning module gives the first field, bit for bit (one library call each)
    p1, p2 = _modules(0.7, reduction)
    assert torch.equal(p1(raw, pos, y), o1.loss)
    assert torch.equal(p2(raw, pos, neg, y), o2.loss)


def test_score_level_functions_return_named_tuples():
    gen = torch.Generator().manual_seed(33)
    raw, pos, neg, y = rand_case(gen, 5, 2)
    a = st.positive_only_loss(raw, pos, y)
    b = st.pos_neg_loss(raw, pos, neg, y)
    assert type(a) is st.PositiveOnlyLossOutput and type(b) is st.PosNegLossOutput
    loss, ctr, aux = b  # still unpacks like the seed's triple
    assert loss is b.loss and ctr is b.loss_ctr and aux is b.loss_pair
    assert a.loss_pos is a[2]


def test_seed_functions_return_a_plain_tuple():
    from seed_losses import score_model
    u = torch.zeros(3, 1)
    items = [torch.randn(3, 1) for _ in range(2)]
    out = st.loss_positive_only(score_model, u, *items, torch.ones(3))
    assert type(out) is tuple and len(out) == 3
    out = st.loss_pos_neg(score_model, u, *items, torch.randn(3, 2, 1), torch.ones(3))
    assert type(out) is tuple and len(out) == 3


def test_module_conventions():
    m1 = st.PositiveOnlyLoss(lambda_sem=0.4, reduction="sum")
    m2 = st.PosNegLoss(lambda_rank=2, reduction="none", return_components=True)
    assert repr(m1) == "PositiveOnlyLoss(lambda_sem=0.4, reduction='sum')"
    assert repr(m2) == "PosNegLoss(lambda_rank=2.0, reduction='none', return_components=True)"
    assert repr(st.PosNegLoss()) == "PosNegLoss(lambda_rank=1.0, reduction='mean')"
    for m in (m1, m2):
        assert isinstance(m, torch.nn.Module)
        assert list(m.parameters()) == [] and list(m.buffers()) == []
        assert m.state_dict() == {}
        m.load_state_dict({})  # strict: nothing missing, nothing unexpected
        c = copy.deepcopy(m)
        assert repr(c) == repr(m)
        assert repr(pickle.loads(pickle.dumps(m))) == repr(m)
    assert m1.reduction == "sum" and m1.lambda_sem == 0.4 and m2.lambda_rank == 2.0
    assert isinstance(m2.lambda_rank, float)


def test_reduction_attribute_is_read_at_call_time():
    """As with torch.nn losses, the attribute is the setting (changed after construction too);
    a bad value set that way is still refused, at the call."""
    gen = torch.Generator().manual_seed(34)
    raw, pos, neg, y = rand_case(gen, 6, 2)
    m = st.PosNegLoss()
    m.reduction = "none"
    assert m(raw, pos, neg, y).shape == (6,)
    m.reduction = "avg"
    with pytest.raises(ValueError, match="reduction must be"):
        m(raw, pos, neg, y)


def test_module_argument_errors():
    with pytest.raises(TypeError, match="return_components must be a bool"):
        st.PosNegLoss(return_components="yes")
    with pytest.raises(TypeError, match="return_components must be a bool"):
        st.PositiveOnlyLoss(return_components=1)
    with pytest.raises(ValueError, match="reduction must be"):
        st.PosNegLoss(reduction="avg")
    with pytest.raises(ValueError, match="lambda_sem"):
        st.PositiveOnlyLoss(float("nan"))
