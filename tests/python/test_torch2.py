"""PyTorch 2 integration through the custom operators semcl::positive_only / semcl::pos_neg:
torch.compile(fullgraph=True) (aot_eager for most tests, inductor once), torch.export save and
load in a fresh process, torch.jit.trace, torch.library.opcheck, and the op's own contract when
called directly.

They need the custom op implementation, which semcl.torch uses where torch has
torch.library.custom_op / register_fake / register_autograd (PyTorch >= 2.4). On Debian's 1.13
they are skipped with that reason; the run under scripts/torch2-venv is the one where they
count. Why aot_eager: it runs Dynamo and AOTAutograd, i.e. everything of semcl that compiling
touches (tracing through the argument checks, the fake kernels, the autograd formula traced into
a joint graph), and executes the captured graphs eagerly; inductor adds code generation for the
*surrounding* model (the semcl op stays an opaque call) at ~20 s of C++ compilation per graph on
a 2-core machine, so one test covers it.

Oracles: the same code in eager mode (itself held against the float64 reference in the other
files) and conftest.ref_losses in float64."""
import copy
import os
import re
import subprocess
import sys

import pytest
import torch

import semcl
import semcl.torch as st
from semcl import _impl
from conftest import assert_close, count_mask, rand_case, ref_losses

CUSTOM_OP = st.IMPLEMENTATION == "torch.library custom op"
requires_custom_op = pytest.mark.skipif(
    not CUSTOM_OP,
    reason="torch %s: semcl.torch uses its %s path (torch.library.custom_op/register_fake/"
           "register_autograd need PyTorch >= 2.4); these tests count in the PyTorch 2 run "
           "(scripts/torch2-venv)" % (torch.__version__, st.IMPLEMENTATION))


def _torch_version():
    return tuple(int(x) for x in re.match(r"(\d+)\.(\d+)", torch.__version__).groups())


def _run_py(code, env=None):
    """A fresh interpreter with this process's semcl (package dir and library)."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(semcl.__file__)))
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True,
                          timeout=300)


# ---- which implementation (runs everywhere) ---------------------------------------------------
def test_implementation_follows_the_installed_torch():
    """Oracle: the version (the code decides by capability, never by the version string)."""
    if os.environ.get("SEMCL_TORCH_IMPL"):
        pytest.skip("SEMCL_TORCH_IMPL is set: the implementation is forced")
    if _torch_version() >= (2, 4):
        assert st.IMPLEMENTATION == "torch.library custom op"
    else:
        assert st.IMPLEMENTATION == "autograd.Function"
    assert _impl.custom_ops_supported() == (_torch_version() >= (2, 4))


def test_forcing_the_autograd_function_path():
    r = _run_py("import torch, semcl.torch as st\n"
                "raw = torch.tensor([0.5, -1.0], requires_grad=True)\n"
                "out = st.positive_only_loss(raw, torch.zeros(2), torch.tensor([1., 0.]))\n"
                "out.loss.backward()\n"
                "print(st.IMPLEMENTATION, type(out.loss.grad_fn).__name__, "
                "hasattr(torch.ops, 'semcl') and hasattr(torch.ops.semcl, 'pos_neg'))",
                {"SEMCL_TORCH_IMPL": "autograd_function"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["autograd.Function", "_PositiveOnlyFunctionBackward", "False"]


def test_bad_implementation_choice_is_an_import_error():
    r = _run_py("import semcl.torch", {"SEMCL_TORCH_IMPL": "fast"})
    assert r.returncode != 0
    assert "ImportError: SEMCL_TORCH_IMPL='fast': expected one of custom_op, autograd_function" \
        in r.stderr
    if not _impl.custom_ops_supported():
        r = _run_py("import semcl.torch", {"SEMCL_TORCH_IMPL": "custom_op"})
        assert r.returncode != 0 and "PyTorch >= 2.4" in r.stderr, r.stderr


# ---- a small two-tower model and a training step that uses both losses -------------------------
class TwoTower(torch.nn.Module):
    def __init__(self, d=6):
        super().__init__()
        self.user = torch.nn.Linear(d, d)
        self.item = torch.nn.Linear(d, d)
        self.pairwise = st.PosNegLoss(lambda_rank=0.5)
        self.positive = st.PositiveOnlyLoss(lambda_sem=0.0, reduction="sum",
                                            return_components=True)

    def scores(self, u, items):
        return (self.user(u).unsqueeze(-2) * self.item(items)).sum(-1)  # (B, N)

    def forward(self, u, item_raw, item_pos, item_neg, y):
        raw = self.scores(u, item_raw.unsqueeze(1))  # (B, 1) logits, like many models
        pos = self.scores(u, item_pos.unsqueeze(1))
        neg = self.scores(u, item_neg)  # (B, K)
        pair = self.pairwise(raw, pos, neg, y)
        single = self.positive(raw, pos, y)
        # components receive gradients too (the backward's component path); lambda = 0 above
        # takes the recompute path
        return pair + 0.25 * single.loss + 0.5 * single.loss_pos


def _batch(B=12, K=5, d=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(B, d, generator=gen), torch.randn(B, d, generator=gen),
            torch.randn(B, d, generator=gen), torch.randn(B, K, d, generator=gen),
            (torch.rand(B, 1, generator=gen) < 0.5).float())


def _eager_and_grads(model, batch):
    model.zero_grad()
    loss = model(*batch)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


def _recording(graphs, inner="aot_eager"):
    """A torch.compile backend that records Dynamo's graphs, then compiles them with `inner`."""
    compile_inner = torch._dynamo.lookup_backend(inner)

    def backend(gm, example_inputs):
        graphs.append(gm)
        return compile_inner(gm, example_inputs)
    return backend


def _semcl_calls(gm):
    return [str(n.target) for n in gm.graph.nodes if "semcl" in str(n.target)]


@requires_custom_op
def test_compile_fullgraph_training_step_matches_eager():
    torch.manual_seed(1)
    model = TwoTower()
    batch = _batch()
    exp_loss, exp_grads = _eager_and_grads(model, batch)
    torch._dynamo.reset()
    graphs = []
    compiled = torch.compile(model, fullgraph=True, backend=_recording(graphs))
    got_loss, got_grads = _eager_and_grads(compiled, batch)
    # fullgraph=True: one graph or an error. (Dynamo may trace a frame twice, restarting its
    # analysis, so the backend can see it more than once; the last one is the graph.)
    compiled_graphs = len(graphs)
    assert _semcl_calls(graphs[-1]) == ["semcl.pos_neg.default", "semcl.positive_only.default"]
    assert_close(got_loss, exp_loss.double(), rtol=1e-6, atol=1e-7)
    for a, b in zip(got_grads, exp_grads):
        assert_close(a, b.double(), rtol=1e-6, atol=1e-7)
    # a second step with new data reuses the graph
    _eager_and_grads(compiled, _batch(seed=1))
    assert len(graphs) == compiled_graphs


@requires_custom_op
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_compile_dynamic_batch_size_one_graph(reduction):
    def step(raw, pos, neg, y):
        a = st.pos_neg_loss(raw, pos, neg, y, 0.7, reduction)
        b = st.positive_only_loss(raw, pos, y, 0.3, reduction)
        return (a.loss - 2.0 * a.loss_pair + b.loss + b.loss_ctr).sum()
    torch._dynamo.reset()
    graphs = []
    compiled = torch.compile(step, fullgraph=True, dynamic=True, backend=_recording(graphs))
    compiled_graphs = None
    for B in (5, 9, 17):
        gen = torch.Generator().manual_seed(B)
        raw, pos, neg, y = rand_case(gen, B, 3)
        leaves = [t.clone().requires_grad_() for t in (raw, pos, neg)]
        got = compiled(*leaves, y)
        g = torch.autograd.grad(got, leaves)
        ref_leaves = [t.double().requires_grad_() for t in (raw, pos, neg)]
        ra = ref_losses(*ref_leaves, y.double(), 0.7, reduction)
        rb = ref_losses(ref_leaves[0], ref_leaves[1], None, y.double(), 0.3, reduction)
        ref = (ra[0] - 2.0 * ra[2] + rb[0] + rb[1]).sum()
        assert_close(got, ref)
        for a, e in zip(g, torch.autograd.grad(ref, ref_leaves)):
            assert_close(a, e, rtol=3e-5, atol=2e-6)
        if compiled_graphs is None:
            compiled_graphs = len(graphs)
            assert compiled_graphs >= 1 and _semcl_calls(graphs[-1])
    assert len(graphs) == compiled_graphs  # no recompilation for another batch size


@requires_custom_op
def test_compile_with_a_changing_lambda():
    """lambda is a constant of the compiled graph: a new value recompiles (Dynamo first tries
    it as a symbolic float, which the argument checks must accept) and gives its own result."""
    def step(raw, pos, neg, y, lam):
        return st.pos_neg_loss(raw, pos, neg, y, lam).loss
    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    gen = torch.Generator().manual_seed(12)
    raw, pos, neg, y = rand_case(gen, 10, 3)
    for lam in (0.1, 0.2, 0.35, 0.1):
        r = raw.clone().requires_grad_()
        got = compiled(r, pos, neg, y, lam)
        g = torch.autograd.grad(got, r)[0]
        rr = raw.double().requires_grad_()
        ref = ref_losses(rr, pos.double(), neg.double(), y.double(), lam, "mean")[0]
        assert_close(got, ref)
        assert_close(g, torch.autograd.grad(ref, rr)[0], rtol=3e-5, atol=2e-6)
    # under fullgraph=True PyTorch re-raises an error of traced code as its own exception type,
    # carrying the message
    with pytest.raises(Exception, match="lambda_rank = nan is not a finite float32 value"):
        compiled(raw, pos, neg, y, float("nan"))


@requires_custom_op
def test_compile_with_inductor():
    """The default backend end to end (C++ code generation for the model around the op)."""
    torch.manual_seed(2)
    model = TwoTower()
    batch = _batch(seed=3)
    exp_loss, exp_grads = _eager_and_grads(model, batch)
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True)  # backend="inductor"
    got_loss, got_grads = _eager_and_grads(compiled, batch)
    # inductor may fuse the model's float32 arithmetic differently: close, not bitwise
    assert_close(got_loss, exp_loss.double(), rtol=1e-5, atol=1e-6)
    for a, b in zip(got_grads, exp_grads):
        assert_close(a, b.double(), rtol=1e-4, atol=1e-5)


# ---- compile with the options, bfloat16 and autocast ----------------------------------------------
class MaskedTwoTower(torch.nn.Module):
    """Scores under CPU autocast (bfloat16 logits), the pairwise loss with every option."""

    def __init__(self, d=6):
        super().__init__()
        self.user = torch.nn.Linear(d, d)
        self.item = torch.nn.Linear(d, d)
        self.crit = st.PosNegLoss(lambda_rank=0.5, pos_weight=2.0)

    def forward(self, u, items, y, weight, neg_mask, neg_count):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            s = torch.bmm(self.item(items), self.user(u).unsqueeze(-1)).squeeze(-1)  # (B, 1+1+K)
            raw, pos, neg = s[:, :1], s[:, 1:2], s[:, 2:]
            loss = self.crit(raw, pos, neg, y, weight=weight, neg_mask=neg_mask,
                             neg_count=neg_count)
        return loss, raw.dtype


def _masked_batch(B=12, K=5, d=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(B, d, generator=gen), torch.randn(B, K + 2, d, generator=gen),
            (torch.rand(B, 1, generator=gen) < 0.5).float(), torch.rand(B, 1, generator=gen),
            torch.rand(B, K, generator=gen) < 0.7, torch.randint(0, K + 1, (B, 1), generator=gen))


@requires_custom_op
def test_compile_fullgraph_with_options_under_autocast_matches_eager():
    torch.manual_seed(3)
    model = MaskedTwoTower()
    batch = _masked_batch()

    def run(m):
        m.zero_grad()
        loss, dtype = m(*batch)
        loss.backward()
        return loss.detach(), dtype, [p.grad.clone() for p in m.parameters()]
    exp_loss, exp_dtype, exp_grads = run(model)
    assert exp_dtype == torch.bfloat16 and exp_loss.dtype == torch.float32
    torch._dynamo.reset()
    graphs = []
    compiled = torch.compile(model, fullgraph=True, backend=_recording(graphs))
    got_loss, got_dtype, got_grads = run(compiled)
    assert _semcl_calls(graphs[-1]) == ["semcl.pos_neg.default"]
    assert got_dtype == torch.bfloat16 and got_loss.dtype == torch.float32
    # aot_eager runs the same kernels: same bits
    assert torch.equal(got_loss, exp_loss)
    for a, b in zip(got_grads, exp_grads):
        assert torch.equal(a, b)
    n_graphs = len(graphs)
    run(compiled)  # new data of the same shapes: no recompilation
    assert len(graphs) == n_graphs


@requires_custom_op
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_compile_dynamic_batch_with_options(dtype):
    def step(raw, pos, neg, y, w, mask, count):
        a = st.pos_neg_loss(raw, pos, neg, y, 0.7, "mean", weight=w, pos_weight=3.0,
                            neg_mask=mask, neg_count=count)
        b = st.positive_only_loss(raw, pos, y, 0.3, "none", weight=w, pos_weight=w * 2)
        return a.loss + b.loss.sum()
    torch._dynamo.reset()
    graphs = []
    compiled = torch.compile(step, fullgraph=True, dynamic=True, backend=_recording(graphs))
    n_graphs = None
    for B in (5, 9, 17):
        gen = torch.Generator().manual_seed(B)
        raw, pos, neg, y = rand_case(gen, B, 4)
        w = torch.rand(B, generator=gen)
        mask = torch.rand(B, 4, generator=gen) < 0.6
        count = torch.randint(0, 5, (B,), generator=gen)
        leaves = [t.to(dtype).requires_grad_() for t in (raw, pos, neg)]
        got = compiled(*leaves, y, w, mask, count)
        g = torch.autograd.grad(got, leaves)
        eager_leaves = [t.detach().clone().requires_grad_() for t in leaves]
        exp = step(*eager_leaves, y, w, mask, count)
        assert torch.equal(got, exp)
        for a, b in zip(g, torch.autograd.grad(exp, eager_leaves)):
            assert a.dtype == dtype and torch.equal(a, b)
        # and the float64 reference (eager is held against it elsewhere; here once more)
        rl = [t.detach().double() for t in leaves]
        ra = ref_losses(*rl, y.double(), 0.7, "mean", weight=w.double(),
                        pos_weight=torch.tensor([3.0], dtype=torch.float64),
                        mask=mask & count_mask(count, 4))
        rb = ref_losses(rl[0], rl[1], None, y.double(), 0.3, "none", weight=w.double(),
                        pos_weight=(w * 2).double())
        assert_close(got, ra[0] + rb[0].sum())
        if n_graphs is None:
            n_graphs = len(graphs)
    assert len(graphs) == n_graphs  # one graph for every batch size


@requires_custom_op
def test_compile_with_a_changing_pos_weight_number():
    """A Python number as pos_weight is a constant of the graph, like lambda: each value gives
    its own (correct) result."""
    def step(raw, y, pw):
        return st.positive_only_loss(raw, raw.detach(), y, 0.0, pos_weight=pw).loss
    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    gen = torch.Generator().manual_seed(13)
    raw, _, _, y = rand_case(gen, 10, 0)
    for pw in (1.5, 2.5, 4.0, 1.5):
        r = raw.clone().requires_grad_()
        got = compiled(r, y, pw)
        g = torch.autograd.grad(got, r)[0]
        rd = raw.double().requires_grad_()
        ref = torch.nn.functional.binary_cross_entropy_with_logits(
            rd, y.double(), pos_weight=torch.tensor([pw], dtype=torch.float64))
        assert_close(got, ref)
        assert_close(g, torch.autograd.grad(ref, rd)[0], rtol=3e-5, atol=2e-6)


# ---- torch.export -------------------------------------------------------------------------------
class Scorer(torch.nn.Module):
    def __init__(self, return_components):
        super().__init__()
        self.lin = torch.nn.Linear(6, 1)
        self.crit = st.PosNegLoss(lambda_rank=0.8, reduction="none",
                                  return_components=return_components)

    def forward(self, xr, xp, xn, y):
        return self.crit(self.lin(xr), self.lin(xp), self.lin(xn).squeeze(-1), y)


def _export_inputs():
    gen = torch.Generator().manual_seed(9)
    return (torch.randn(8, 6, generator=gen), torch.randn(8, 6, generator=gen),
            torch.randn(8, 3, 6, generator=gen), (torch.rand(8, 1, generator=gen) < 0.5).float())


def _op_nodes(ep):
    return [n for n in ep.graph.nodes if "semcl" in str(n.target)]


@requires_custom_op
def test_export_save_and_load_in_a_fresh_process(tmp_path):
    """Two programs (the module returning the loss tensor, and the named tuple), saved here and
    run by another interpreter that imports semcl.torch: same bits as this process's eager run."""
    torch.manual_seed(4)
    inputs = _export_inputs()
    torch.save(inputs, str(tmp_path / "inputs.pt"))
    models = {}
    for return_components in (False, True):
        model = models[return_components] = Scorer(return_components)
        ep = torch.export.export(model, inputs)
        assert [str(n.target) for n in _op_nodes(ep)] == ["semcl.pos_neg.default"]
        torch.export.save(ep, str(tmp_path / ("model%d.pt2" % return_components)))
    code = ("import torch, semcl.torch\n"
            "inputs = torch.load(%r)\n"
            "for i in (0, 1):\n"
            "    out = torch.export.load(%r %% i).module()(*inputs)\n"
            "    kind = type(out).__name__\n"
            "    torch.save((kind, tuple(out) if kind != 'Tensor' else out), %r %% i)\n"
            % (str(tmp_path / "inputs.pt"), str(tmp_path / "model%d.pt2"),
               str(tmp_path / "out%d.pt")))
    r = _run_py(code)
    assert r.returncode == 0, r.stderr
    for return_components, model in models.items():
        kind, got = torch.load(str(tmp_path / ("out%d.pt" % return_components)))
        exp = model(*inputs)
        if return_components:
            assert kind == "PosNegLossOutput"  # the named tuple survives export serialization
            assert len(got) == 3
            for a, b in zip(got, exp):
                assert a.shape == (8, 1) and torch.equal(a, b.detach())
        else:
            assert kind == "Tensor"
            assert got.shape == (8, 1) and torch.equal(got, exp.detach())


class MaskedScorer(torch.nn.Module):
    """The options as program inputs (mask, counts, weights) and bfloat16 scores."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(6, 1).to(torch.bfloat16)
        self.crit = st.PosNegLoss(lambda_rank=0.8, reduction="none", pos_weight=2.5)

    def forward(self, xr, xp, xn, y, weight, neg_mask, neg_count):
        lin = self.lin
        return self.crit(lin(xr), lin(xp), lin(xn).squeeze(-1), y, weight=weight,
                         neg_mask=neg_mask, neg_count=neg_count)


@requires_custom_op
def test_export_with_options_and_bf16_round_trips(tmp_path):
    torch.manual_seed(8)
    gen = torch.Generator().manual_seed(10)
    B, K = 8, 3
    inputs = (torch.randn(B, 6, generator=gen).bfloat16(),
              torch.randn(B, 6, generator=gen).bfloat16(),
              torch.randn(B, K, 6, generator=gen).bfloat16(),
              (torch.rand(B, 1, generator=gen) < 0.5).float(), torch.rand(B, 1, generator=gen),
              torch.rand(B, K, generator=gen) < 0.6, torch.randint(0, K + 1, (B, 1),
                                                                   generator=gen))
    model = MaskedScorer()
    ep = torch.export.export(model, inputs)
    (node,) = _op_nodes(ep)
    torch.export.save(ep, str(tmp_path / "model.pt2"))
    torch.save(inputs, str(tmp_path / "inputs.pt"))
    r = _run_py("import torch, semcl.torch\n"
                "inputs = torch.load(%r)\n"
                "torch.save(torch.export.load(%r).module()(*inputs), %r)\n"
                % (str(tmp_path / "inputs.pt"), str(tmp_path / "model.pt2"),
                   str(tmp_path / "out.pt")))
    assert r.returncode == 0, r.stderr
    got = torch.load(str(tmp_path / "out.pt"))
    exp = model(*inputs).detach()
    assert got.shape == (B, 1) and got.dtype == torch.float32 and torch.equal(got, exp)
    # and the masked rows really are masked: the reference on the program's inputs
    lin = model.lin
    with torch.no_grad():
        raw, pos, neg = lin(inputs[0]), lin(inputs[1]), lin(inputs[2]).squeeze(-1)
    ref = ref_losses(raw.double().reshape(B), pos.double().reshape(B), neg.double(),
                     inputs[3].double().reshape(B), 0.8, "none",
                     weight=inputs[4].double().reshape(B),
                     pos_weight=torch.tensor([2.5], dtype=torch.float64),
                     mask=inputs[5] & count_mask(inputs[6].reshape(B), K))
    assert_close(got.reshape(B), ref[0])


@requires_custom_op
def test_loading_an_export_needs_semcl_imported(tmp_path):
    ep = torch.export.export(Scorer(False), _export_inputs())
    torch.export.save(ep, str(tmp_path / "model.pt2"))
    r = _run_py("import torch\ntorch.export.load(%r)\n" % str(tmp_path / "model.pt2"))
    assert r.returncode != 0
    assert "semcl.pos_neg" in r.stderr  # PyTorch names the operator it could not resolve


@requires_custom_op
def test_exported_program_trains():
    """ep.module() keeps the autograd formula: gradients equal the eager model's."""
    torch.manual_seed(5)
    model = Scorer(False)
    inputs = _export_inputs()
    up = torch.randn(8, 1)
    # a copy: an exported module shares the model's parameter tensors (and their .grad)
    m2 = torch.export.export(copy.deepcopy(model), inputs).module()
    (model(*inputs) * up).sum().backward()
    (m2(*inputs) * up).sum().backward()
    got = dict(m2.named_parameters())
    for name, p in model.named_parameters():
        assert got[name] is not p
        assert_close(got[name].grad, p.grad.double(), rtol=1e-6, atol=1e-7)


@requires_custom_op
def test_export_under_no_grad_records_forward_only_calls_that_still_train():
    """Exported for inference (flags off: no gradient work in the forward call); used for
    training anyway, backward computes the gradients itself."""
    torch.manual_seed(6)
    model = Scorer(False)
    inputs = _export_inputs()
    with torch.no_grad():
        ep = torch.export.export(copy.deepcopy(model), inputs)
    (node,) = _op_nodes(ep)
    assert list(node.args[-3:]) == [False, False, False]
    m2 = ep.module()
    model(*inputs).sum().backward()
    m2(*inputs).sum().backward()
    got = dict(m2.named_parameters())
    for name, p in model.named_parameters():
        assert got[name] is not p
        assert_close(got[name].grad, p.grad.double(), rtol=1e-6, atol=1e-7)


# ---- torch.jit.trace (deprecated in PyTorch 2, still used) ----------------------------------------
@requires_custom_op
@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::torch.jit.TracerWarning")
def test_jit_trace_save_load(tmp_path):
    """The trace records the op with need flags set from requires_grad at trace time. Its
    built-in check re-traces under no_grad (flags off), so: check_trace=False for a training
    trace, or trace under no_grad (the check passes; backward then computes the gradients)."""
    torch.manual_seed(7)
    model = Scorer(False)
    inputs = _export_inputs()
    up = torch.randn(8, 1)
    (model(*inputs) * up).sum().backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    traced = torch.jit.trace(model, inputs, check_trace=False)
    with torch.no_grad():
        traced_ng = torch.jit.trace(model, inputs)
    for i, t in enumerate((traced, traced_ng)):
        t.save(str(tmp_path / ("m%d.pt" % i)))
        loaded = torch.jit.load(str(tmp_path / ("m%d.pt" % i)))
        assert "semcl::pos_neg" in str(loaded.inlined_graph)
        out = loaded(*inputs)
        assert torch.equal(out.detach(), model(*inputs).detach())
        (out * up).sum().backward()
        for n, p in loaded.named_parameters():
            assert_close(p.grad, expected[n].double(), rtol=1e-6, atol=1e-7)


# ---- the operators themselves ---------------------------------------------------------------------
def _op_options(which, B, K, gen, with_options):
    """The op's option inputs: None, or every option (per-sample pos_weight)."""
    if not with_options:
        return (None, None) if which == "positive_only" else (None,) * 4
    weight = torch.rand(B, generator=gen) + 0.5
    pos_weight = torch.rand(B, generator=gen) * 3
    if which == "positive_only":
        return weight, pos_weight
    mask = torch.rand(B, K, generator=gen) < 0.7
    count = torch.randint(0, K + 1, (B,), generator=gen, dtype=torch.int32)
    return mask, count, weight, pos_weight


def _op_args(which, B=7, K=3, lam=0.5, reduction="mean", flags=(True, True, True), seed=0,
             with_options=False, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    raw, pos, neg, y = rand_case(gen, B, K)
    leaves = [t.to(dtype).requires_grad_() for t in (raw, pos, neg)]
    opts = _op_options(which, B, K, gen, with_options)
    if which == "positive_only":
        return (leaves[0], leaves[1], y) + opts + (lam, reduction) + tuple(flags[:2])
    return (leaves[0], leaves[1], leaves[2], y) + opts + (lam, reduction) + tuple(flags)


@requires_custom_op
@pytest.mark.parametrize("options", [None, "all", "all-bf16"])
@pytest.mark.parametrize("flags", [(True, True, True), (True, False, True), (False, False, False)])
@pytest.mark.parametrize("lam", [0.5, 0.0])
@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("which", ["positive_only", "pos_neg"])
def test_opcheck(which, reduction, lam, flags, options):
    """PyTorch's own consistency checks of a custom op: schema, fake kernel vs real kernel,
    autograd registration, AOT dispatch with dynamic shapes; with and without the options
    (mask, count, weight, pos_weight), float32 and bfloat16 scores."""
    from semcl import _custom_ops
    op = getattr(_custom_ops, which + "_op")
    dtype = torch.bfloat16 if options == "all-bf16" else torch.float32
    result = torch.library.opcheck(op, _op_args(which, lam=lam, reduction=reduction,
                                                flags=flags, with_options=options is not None,
                                                dtype=dtype))
    assert set(result.values()) == {"SUCCESS"}, result


@requires_custom_op
@pytest.mark.parametrize("with_options", [False, True])
@pytest.mark.parametrize("lam", [0.6, 0.0])
@pytest.mark.parametrize("which", ["positive_only", "pos_neg"])
def test_op_called_with_flags_off_still_differentiates(which, lam, with_options):
    """need_* off for scores that require grad (a direct call, a no_grad export or trace):
    backward computes the gradients itself, for every upstream combination, with the options
    in those calls too."""
    from semcl import _custom_ops
    op = getattr(_custom_ops, which + "_op")
    for reduction in ("mean", "none"):
        args = _op_args(which, B=9, lam=lam, reduction=reduction, flags=(False,) * 3, seed=3,
                        with_options=with_options)
        n = 2 if which == "positive_only" else 3
        leaves = list(args[:n])
        out = op(*args)
        assert all(o.numel() == 0 for o in out[3:])  # nothing computed in the forward call
        y = args[n]
        opts = args[n + 1:n + 1 + (2 if n == 2 else 4)]
        kw = {}
        if with_options:
            kw = {"weight": opts[-2].double(), "pos_weight": opts[-1].double()}
            if n == 3:
                kw["mask"] = opts[0] & count_mask(opts[1], 3)
        ref_leaves = [t.detach().double().requires_grad_() for t in leaves]
        ref = ref_losses(ref_leaves[0], ref_leaves[1], ref_leaves[2] if n == 3 else None,
                         y.double(), lam, reduction, **kw)
        gen = torch.Generator().manual_seed(1)
        gos = [torch.randn(ref[0].shape, generator=gen) for _ in range(3)]
        got = torch.autograd.grad(out[:3], leaves, gos)
        exp = torch.autograd.grad([r for r in ref if r.requires_grad], ref_leaves,
                                  [g.double() for g, r in zip(gos, ref) if r.requires_grad])
        for a, b in zip(got, exp):
            assert_close(a, b, rtol=3e-5, atol=2e-6)


@requires_custom_op
def test_op_refuses_non_canonical_tensors_before_the_library_sees_them():
    """A direct call with mismatched sizes must not let the library read past a buffer."""
    raw, pos, neg, y = torch.randn(6), torch.randn(6), torch.randn(6, 2), torch.ones(6)
    ops = torch.ops.semcl
    no = (None,) * 4
    with pytest.raises(ValueError, match=r"y must have shape \(6,\), got \(5,\)"):
        ops.pos_neg(raw, pos, neg, y[:5], *no, 1.0, "mean", False, False, False)
    with pytest.raises(ValueError, match=r"score_neg must have shape \(6, 2\), got \(5, 2\)"):
        ops.pos_neg(raw, pos, neg[:5], y, *no, 1.0, "mean", False, False, False)
    with pytest.raises(ValueError, match="score_neg must be \\(B, K\\)"):
        ops.pos_neg(raw, pos, neg[:, 0], y, *no, 1.0, "mean", False, False, False)
    with pytest.raises(ValueError, match="y has dtype torch.int64"):
        ops.positive_only(raw, pos, y.long(), None, None, 1.0, "mean", False, False)
    with pytest.raises(ValueError, match="reduction must be"):
        ops.positive_only(raw, pos, y, None, None, 1.0, "avg", False, False)
    with pytest.raises(ValueError, match="score_neg has dtype torch.bfloat16, expected "
                                         "torch.float32 \\(the scores share one dtype\\)"):
        ops.pos_neg(raw, pos, neg.bfloat16(), y, *no, 1.0, "mean", False, False, False)
    with pytest.raises(ValueError, match="score_raw has dtype torch.float64"):
        ops.positive_only(raw.double(), pos.double(), y, None, None, 1.0, "mean", False, False)
    # the options, in their canonical form only
    bad_options = [
        ((torch.ones(6, 3, dtype=torch.bool), None, None, None),
         r"neg_mask must have shape \(6, 2\)"),
        ((torch.ones(6, 2, dtype=torch.uint8), None, None, None), "neg_mask has dtype torch.uint8"),
        ((None, torch.ones(6, dtype=torch.int64), None, None), "neg_count has dtype torch.int64"),
        ((None, torch.ones(5, dtype=torch.int32), None, None), r"neg_count must have shape \(6,\)"),
        ((None, None, torch.ones(6, 1), None), r"weight must have shape \(6,\), got \(6, 1\)"),
        ((None, None, torch.ones(6).double(), None), "weight has dtype torch.float64"),
        ((None, None, None, torch.ones(3)), r"pos_weight must have shape \(1,\) or \(6,\)"),
        ((None, None, None, torch.ones(())), r"pos_weight must have shape \(1,\) or \(6,\)"),
    ]
    for opts, pattern in bad_options:
        with pytest.raises(ValueError, match=pattern):
            ops.pos_neg(raw, pos, neg, y, *opts, 1.0, "mean", False, False, False)
    with pytest.raises(ValueError, match="weight must have shape"):
        ops.positive_only(raw, pos, y, torch.ones(7), None, 1.0, "mean", False, False)
    # the fake kernel checks the same at trace time
    from torch._subclasses.fake_tensor import FakeTensorMode
    with FakeTensorMode():
        f = [torch.empty(6), torch.empty(6), torch.empty(6, 2), torch.empty(5)]
        with pytest.raises(ValueError, match=r"y must have shape \(6,\)"):
            ops.pos_neg(*f, *no, 1.0, "mean", True, True, True)
        f[3] = torch.empty(6)
        with pytest.raises(ValueError, match=r"neg_mask must have shape \(6, 2\)"):
            ops.pos_neg(*f, torch.empty(2, 6, dtype=torch.bool), None, None, None, 1.0, "mean",
                        True, True, True)


@requires_custom_op
def test_op_reads_non_contiguous_inputs_correctly():
    """A direct call with views (expanded: stride 0; transposed) is made dense before the
    library reads it: same bits as the contiguous call."""
    gen = torch.Generator().manual_seed(8)
    raw, pos, neg, y = rand_case(gen, 6, 4)
    w = torch.rand(1, generator=gen).expand(6)  # stride 0: storage of one element
    mask = (torch.rand(4, 6, generator=gen) < 0.6).t()  # transposed
    neg_t = neg.t().contiguous().t()
    assert not (w.is_contiguous() or mask.is_contiguous() or neg_t.is_contiguous())
    ops = torch.ops.semcl
    got = ops.pos_neg(raw, pos, neg_t, y, mask, None, w, None, 0.5, "none", True, True, True)
    exp = ops.pos_neg(raw, pos, neg, y, mask.contiguous(), None, w.contiguous(), None, 0.5,
                      "none", True, True, True)
    for a, b in zip(got, exp):
        assert torch.equal(a, b)


@requires_custom_op
def test_op_refuses_options_that_require_grad():
    """The public functions refuse them first; a direct call is refused when autograd records
    it (the op gives them no gradient, which must not pass silently)."""
    raw = torch.randn(5, requires_grad=True)
    w = torch.rand(5, requires_grad=True)
    with pytest.raises(ValueError, match="weight requires grad"):
        torch.ops.semcl.positive_only(raw, torch.randn(5), torch.ones(5), w, None, 1.0, "mean",
                                      True, False)
    with pytest.raises(ValueError, match="pos_weight requires grad"):
        torch.ops.semcl.pos_neg(raw, torch.randn(5), torch.randn(5, 2), torch.ones(5), None,
                                None, None, w, 1.0, "mean", True, False, False)


@requires_custom_op
def test_one_library_call_for_forward_and_backward(monkeypatch):
    """Through the op, loss.backward() still costs one fused call (the gradients come from the
    forward call); a loss_pair gradient with lambda in the G/lambda range costs none more."""
    from semcl import _capi
    seen = []
    orig = _capi.call

    def spy(function, handle, *args):
        if function.startswith("semcl_pos"):
            seen.append(function)
        return orig(function, handle, *args)
    monkeypatch.setattr(_capi, "call", spy)
    raw, pos, neg, y = [t.requires_grad_() if t.is_floating_point() and t.dim() else t
                        for t in rand_case(torch.Generator().manual_seed(2), 8, 3)]
    y = y.detach()
    out = st.pos_neg_loss(raw, pos, neg, y, 0.5)
    (out.loss + out.loss_pair).backward()
    assert seen == ["semcl_pos_neg_ex"]
