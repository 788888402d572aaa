"""RateRNN as a PyTorch layer: exact higher derivatives, torch.func, compile/export, autocast,
nn.RNN parity (from_rnn, layers, directions, PackedSequence) and code written for nn.RNN."""

import math

import pytest
import torch
from torch.func import functional_call, jacfwd, jacrev, jvp, stack_module_state, vmap
from torch.nn.utils.rnn import pack_padded_sequence

import torchrate as tr
from torchrate._rollout import euler_rollout, euler_rollout_reference

F64 = torch.float64


def _functional(net):
    """``f(u, hx, *params)`` -> rates: the network as a function of its input and parameters."""
    names = [n for n, _ in net.named_parameters()]

    def f(u, hx, *params):
        return functional_call(net, dict(zip(names, params)), (u, hx))[0]

    return f, list(net.parameters())


# ----------------------------------------------------------------------------- higher derivatives
@pytest.mark.parametrize(
    "build",
    [
        lambda: tr.RateRNN(2, 3, tau=torch.tensor([5.0, 10.0, 20.0]), train_tau=True, dtype=F64),
        lambda: tr.RateRNN(2, 3, nonlinearity="softplus", tau=7.0, dtype=F64),
        lambda: tr.EIRateRNN(2, 2, 1, tau_e=10.0, tau_i=5.0, nonlinearity="softplus", train_tau=True, dtype=F64),
    ],
    ids=["tanh-train-tau", "softplus", "ei-dale"],
)
def test_gradgradcheck_of_the_euler_path(build):
    """Second derivatives w.r.t. inputs, initial rates, weights, log τ and Dale weights are exact."""
    torch.manual_seed(0)
    net = build()
    f, params = _functional(net)
    u = torch.randn(5, 2, 2, dtype=F64, requires_grad=True)
    hx = torch.rand(1, 2, 3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradgradcheck(f, (u, hx, *params))


@pytest.mark.parametrize("nl", ["tanh", "relu", "sigmoid", "softplus", "clip", "linear"])
def test_hessian_vector_products_equal_the_reference_loop(nl):
    torch.manual_seed(1)
    T, B, N = 12, 3, 6
    F = tr.nonlinearity(nl)
    X, v0 = torch.randn(T, B, N, dtype=F64), torch.randn(B, N, dtype=F64)
    M, a = (torch.randn(N, N, dtype=F64) / math.sqrt(N)).requires_grad_(), torch.tensor(0.2, dtype=F64)
    vec = torch.randn(N, N, dtype=F64)

    def hvp(rollout):
        loss = rollout(X, v0, M, a, F).tanh().square().sum()
        (g,) = torch.autograd.grad(loss, M, create_graph=True)
        return g, torch.autograd.grad((g * vec).sum(), M)[0]

    (g_fast, h_fast), (g_ref, h_ref) = hvp(euler_rollout), hvp(euler_rollout_reference)
    torch.testing.assert_close(g_fast, g_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_fast, h_ref, rtol=0, atol=1e-9)
    if nl != "linear":  # never silently zero or absent
        assert h_fast.abs().max() > 1e-3


def test_backward_twice_and_gradient_penalty():
    net = tr.RateRNN(2, 4, dtype=F64)
    u = torch.randn(6, 2, 2, dtype=F64, requires_grad=True)
    (gu,) = torch.autograd.grad(net(u)[0].square().sum(), u, create_graph=True)
    gu.square().sum().backward()  # a gradient penalty reaches the weights
    assert net.weight_hh_l0.grad.abs().max() > 0
    out = net(u)[0].sum()
    out.backward(retain_graph=True)
    out.backward()  # retain_graph: a second backward, as with any op


# ----------------------------------------------------------------------------- torch.func
def test_vmap_over_stacked_networks_equals_a_loop():
    torch.manual_seed(2)
    nets = [tr.RateRNN(3, 8, tau=10.0, dtype=F64) for _ in range(4)]
    params, buffers = stack_module_state(nets)
    u = torch.randn(10, 5, 3, dtype=F64)

    def run(p, b):
        return functional_call(nets[0], (p, b), (u,))[0]

    torch.testing.assert_close(vmap(run)(params, buffers), torch.stack([n(u)[0] for n in nets]), rtol=0, atol=1e-14)
    # and the gradient of each member's loss is that member's own
    grads = vmap(torch.func.grad(lambda p, b: run(p, b).square().sum()))(params, buffers)
    for k, net in enumerate(nets):
        net(u)[0].square().sum().backward()
        torch.testing.assert_close(grads["weight_hh_l0"][k], net.weight_hh_l0.grad, rtol=0, atol=1e-12)


def test_jacrev_jacfwd_jvp_equal_torch_autograd_functional():
    torch.manual_seed(3)
    net = tr.EIRateRNN(2, 3, 2, nonlinearity="softplus", dtype=F64)
    u = torch.randn(7, 2, 2, dtype=F64)

    def g(x):
        return net(x)[0]

    expected = torch.autograd.functional.jacobian(g, u)
    torch.testing.assert_close(jacrev(g)(u), expected, rtol=0, atol=1e-14)
    torch.testing.assert_close(jacfwd(g)(u), expected, rtol=0, atol=1e-14)
    t = torch.randn_like(u)
    torch.testing.assert_close(jvp(g, (u,), (t,))[1], torch.autograd.functional.jvp(g, u, t)[1], rtol=0, atol=1e-14)


def test_vmap_over_inputs():
    net = tr.RateRNN(3, 5, dtype=F64)
    us = torch.randn(4, 6, 2, 3, dtype=F64)
    torch.testing.assert_close(vmap(lambda x: net(x)[0])(us), torch.stack([net(x)[0] for x in us]), rtol=0, atol=1e-15)


# ----------------------------------------------------------------------------- compile / export
# torch 2.4 (the lowest supported) runs the rollout, vmap and compile, but its dynamo specialises T
# to a constant: one graph for every T, and export with a dynamic T, need a newer torch (tested: 2.13)
_DYNAMIC_T = pytest.mark.skipif(
    tuple(int(x) for x in torch.__version__.split(".")[:2]) < (2, 5),
    reason="torch 2.4's dynamo specialises the number of steps T",
)


@_DYNAMIC_T
def test_compile_fullgraph_dynamic_equals_eager_without_recompiling():
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    torch.manual_seed(4)
    net = tr.RateRNN(3, 16, noise_std=0.0)
    compiled = torch.compile(net, fullgraph=True, dynamic=True)
    for T in (12, 23):
        u = torch.randn(T, 4, 3)
        out, h_n = compiled(u)
        ref, ref_h = net(u)
        torch.testing.assert_close(out, ref, rtol=0, atol=0)
        torch.testing.assert_close(h_n, ref_h, rtol=0, atol=0)
        (g,) = torch.autograd.grad(out.square().sum(), net.weight_hh_l0)
        (g_ref,) = torch.autograd.grad(ref.square().sum(), net.weight_hh_l0)
        torch.testing.assert_close(g, g_ref, rtol=0, atol=0)
    assert counters["stats"]["unique_graphs"] == 1  # one graph for every T: no recompilation


@_DYNAMIC_T
def test_export_runs_for_any_length():
    net = tr.RateRNN(3, 8)
    T = torch.export.Dim("T", min=2)
    program = torch.export.export(net, (torch.randn(10, 2, 3),), dynamic_shapes=({0: T},))
    u = torch.randn(17, 2, 3)
    torch.testing.assert_close(program.module()(u)[0], net(u)[0], rtol=0, atol=0)


# ----------------------------------------------------------------------------- autocast
def test_bf16_autocast_is_close_to_float32_like_nn_rnn():
    torch.manual_seed(5)
    net, readin = tr.RateRNN(3, 64, tau=5.0), torch.nn.Linear(3, 3)
    u = torch.randn(40, 8, 3)
    reference = net(readin(u))[0]
    with torch.autocast("cpu", torch.bfloat16):
        out, h_n = net(readin(u))  # bf16 input from an autocast Linear
    assert out.dtype == torch.bfloat16 and h_n.dtype == torch.bfloat16
    assert (out.float() - reference).abs().max() < 0.05  # bf16 has 8 bits of mantissa: ~4e-3 a step
    out.float().square().sum().backward()
    assert net.weight_hh_l0.grad.dtype == torch.float32 and torch.isfinite(net.weight_hh_l0.grad).all()


def test_input_of_another_dtype_outside_autocast_is_refused():
    with pytest.raises(TypeError, match="input dtype torch.bfloat16 does not match the network's torch.float32"):
        tr.RateRNN(3, 4)(torch.randn(5, 2, 3, dtype=torch.bfloat16))


# ----------------------------------------------------------------------------- nn.RNN parity
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_from_rnn_equals_nn_rnn_layers_directions_and_packed_sequences(nonlinearity, batch_first):
    torch.manual_seed(6)
    rnn = torch.nn.RNN(
        3, 8, num_layers=2, nonlinearity=nonlinearity, bidirectional=True, batch_first=batch_first
    ).double()
    net = tr.RateRNN.from_rnn(rnn)
    assert (net.num_layers, net.bidirectional, net.batch_first) == (2, True, batch_first)
    x = torch.randn(5, 9, 3, dtype=F64) if batch_first else torch.randn(9, 5, 3, dtype=F64)
    hx = torch.randn(4, 5, 8, dtype=F64)
    for args in ((x,), (x, hx)):
        (out, h_n), (ref, ref_h) = net(*args), rnn(*args)
        torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
        torch.testing.assert_close(h_n, ref_h, rtol=0, atol=1e-12)
    lengths = torch.tensor([4, 9, 1, 7, 7])  # unsorted
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    (out, h_n), (ref, ref_h) = net(packed, hx), rnn(packed, hx)
    torch.testing.assert_close(out.data, ref.data, rtol=0, atol=1e-12)
    assert torch.equal(out.batch_sizes, ref.batch_sizes) and torch.equal(out.sorted_indices, ref.sorted_indices)
    torch.testing.assert_close(h_n, ref_h, rtol=0, atol=1e-12)
    x1 = x[0] if batch_first else x[:, 0]  # unbatched
    torch.testing.assert_close(net(x1)[0], rnn(x1)[0], rtol=0, atol=1e-12)


def test_from_rnn_gradients_equal_nn_rnn():
    torch.manual_seed(7)
    rnn = torch.nn.RNN(3, 6, num_layers=2).double()
    net = tr.RateRNN.from_rnn(rnn)
    x = torch.randn(11, 4, 3, dtype=F64)
    rnn(x)[0].square().sum().backward()
    net(x)[0].square().sum().backward()
    torch.testing.assert_close(net.weight_hh_l1.grad, rnn.weight_hh_l1.grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(net.bias_l0.grad, rnn.bias_ih_l0.grad, rtol=0, atol=1e-12)


def test_a_stacked_layer_opens_up_for_analysis():
    rnn = torch.nn.RNN(2, 6, num_layers=2, bidirectional=True).double()
    net = tr.RateRNN.from_rnn(rnn)
    second = net.layer(1, reverse=True)
    torch.testing.assert_close(second.M, rnn.weight_hh_l1_reverse.detach(), rtol=0, atol=0)
    assert second.input_size == 12 and second.num_layers == 1
    with pytest.raises(ValueError, match="no layer 2"):
        net.layer(2)


@pytest.mark.parametrize(
    "kw",
    [{}, {"num_layers": 2, "bidirectional": True}, {"bias": False, "batch_first": True}, {"nonlinearity": "relu"}],
    ids=["default", "2 layers, bidirectional", "no bias, batch_first", "relu"],
)
def test_elman_is_nn_rnn_same_seed_same_weights_and_copied_weights_same_outputs(kw):
    torch.manual_seed(3)
    rnn = torch.nn.RNN(3, 8, dtype=F64, **kw)
    after_rnn = torch.get_rng_state()
    torch.manual_seed(3)
    net = tr.RateRNN.elman(3, 8, dtype=F64, **kw)
    # nn.RNN's initial weights: the same draws in the same order (and no other use of the global RNG)
    assert torch.equal(torch.get_rng_state(), after_rnn)
    assert (net.tau.item(), net.dt) == (1.0, 1.0) and net.batch_first == kw.get("batch_first", False)
    for k in range(net.num_layers):
        for d in ("", "_reverse") if net.bidirectional else ("",):
            sfx = f"_l{k}{d}"
            assert torch.equal(getattr(net, "weight_ih" + sfx), getattr(rnn, "weight_ih" + sfx))
            assert torch.equal(getattr(net, "weight_hh" + sfx), getattr(rnn, "weight_hh" + sfx))
            if kw.get("bias", True):  # nn.RNN's two biases are one here
                torch.testing.assert_close(
                    getattr(net, "bias" + sfx),
                    getattr(rnn, "bias_ih" + sfx) + getattr(rnn, "bias_hh" + sfx),
                    rtol=0,
                    atol=0,
                )
            else:
                assert getattr(net, "bias" + sfx) is None
    x = torch.randn(4, 12, 3, dtype=F64) if kw.get("batch_first") else torch.randn(12, 4, 3, dtype=F64)
    (out, h_n), (ref, ref_h) = net(x), rnn(x)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)  # v_{t+1} = F(W u + M v + b), to rounding
    torch.testing.assert_close(h_n, ref_h, rtol=0, atol=1e-12)
    # weights of another (trained) nn.RNN copied in, b = b_ih + b_hh: its outputs again
    other = torch.nn.RNN(3, 8, dtype=F64, **kw)
    with torch.no_grad():
        for name, p in other.named_parameters():
            if name.startswith("bias_ih"):
                getattr(net, name.replace("bias_ih", "bias")).copy_(p + getattr(other, name.replace("_ih", "_hh")))
            elif not name.startswith("bias_hh"):
                getattr(net, name).copy_(p)
    torch.testing.assert_close(net(x)[0], other(x)[0], rtol=0, atol=1e-12)


def test_elman_is_analysed_as_the_map_it_runs_and_takes_the_rate_model_keywords():
    net = tr.RateRNN.elman(2, 6, dtype=F64, generator=torch.Generator().manual_seed(0))
    assert tr.systems.as_system(net).time == "discrete"  # dt/τ = 1 ≥ 0.5
    fps = tr.analysis.find_fixed_points(net, torch.zeros(2, dtype=F64), torch.randn(16, 6, dtype=F64))
    assert fps.time == "discrete" and len(fps) >= 1  # stability by |μ| < 1, as for nn.RNN
    # a seeded generator draws the weights (the global RNG untouched), then noise and dropout
    state = torch.get_rng_state()
    a = tr.RateRNN.elman(2, 6, generator=torch.Generator().manual_seed(1), noise_std=0.1)
    b = tr.RateRNN.elman(2, 6, generator=torch.Generator().manual_seed(1), noise_std=0.1)
    assert torch.equal(a.M, b.M) and torch.equal(torch.get_rng_state(), state)
    mask = torch.rand(6, 6, generator=torch.Generator().manual_seed(2)) < 0.5
    masked = tr.RateRNN.elman(2, 6, connectivity=mask)
    assert torch.equal(masked.M[~mask], torch.zeros_like(masked.M[~mask]))
    with pytest.raises(TypeError, match=r"RateRNN.elman takes no dt, tau: it is nn.RNN's Elman update"):
        tr.RateRNN.elman(2, 6, tau=10.0, dt=1.0)
    with pytest.raises(TypeError, match=r"EIRateRNN.elman: the Elman update is a plain RateRNN's"):
        tr.EIRateRNN.elman(2, 6)


class WordModel(torch.nn.Module):
    """The word-level language model of PyTorch's examples, as written for nn.RNN."""

    def __init__(self, rnn_class, ntoken=50, ninp=16, nhid=32, nlayers=2, dropout=0.2, **rate):
        super().__init__()
        self.encoder = torch.nn.Embedding(ntoken, ninp)
        self.rnn = rnn_class(ninp, nhid, nlayers, nonlinearity="tanh", dropout=dropout, **rate)
        self.decoder = torch.nn.Linear(nhid, ntoken)
        self.nlayers, self.nhid = nlayers, nhid

    def forward(self, tokens, hidden):
        self.rnn.flatten_parameters()
        output, hidden = self.rnn(self.encoder(tokens), hidden)
        return self.decoder(output), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return weight.new_zeros(self.nlayers, bsz, self.nhid)


@pytest.mark.parametrize(
    "rnn_class, rate", [(tr.RateRNN.elman, {}), (tr.RateRNN, {"tau": 2.0, "dt": 1.0})], ids=["elman", "leaky"]
)
def test_language_model_written_for_nn_rnn_trains_with_only_its_constructor_changed(rnn_class, rate):
    torch.manual_seed(8)
    model = WordModel(rnn_class, **rate)  # the one changed line: nn.RNN → RateRNN.elman (or a leaky RateRNN)
    data = torch.arange(20 * 8 * 3).remainder(50).reshape(60, 8)  # a periodic "corpus"
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    hidden, losses = model.init_hidden(8), []
    model.train()
    for _epoch in range(3):
        for i in range(0, 59, 10):
            x, y = data[i : i + 10], data[i + 1 : i + 11]
            hidden = hidden.detach()  # truncated backpropagation through time
            output, hidden = model(x[: len(y)], hidden)
            loss = torch.nn.functional.cross_entropy(output.reshape(-1, 50), y.reshape(-1))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
    assert hidden.shape == (2, 8, 32)
    assert losses[-1] < 0.6 * losses[0]  # ln 50 ≈ 3.9 at the start


# ----------------------------------------------------------------------------- the module
def test_constraints_are_parametrizations_that_hold_after_training():
    torch.manual_seed(9)
    mask = torch.rand(6, 6) < 0.5
    net = tr.EIRateRNN(2, 4, 2, connectivity=mask, train_tau=True)
    optimiser = torch.optim.Adam(net.parameters(), lr=0.5)
    for _ in range(20):
        optimiser.zero_grad()
        net(torch.randn(10, 3, 2))[0].sum().neg().backward()
        optimiser.step()
    M = net.M.detach()
    assert torch.equal(M[~mask], torch.zeros_like(M[~mask]))
    assert (M[:, :4] >= 0).all() and (M[:, 4:] <= 0).all()
    assert (net.tau > 0).all() and torch.equal(net.tau[:4], net.tau[:1].expand(4))


def test_from_weights_goes_through_the_constraints():
    with pytest.raises(ValueError, match=r"M\[0, 1\] = 0.5 is outside the connectivity mask"):
        tr.RateRNN.from_weights(
            torch.tensor([[0.0, 0.5], [0.0, 0.0]]), tau=1.0, dt=1.0, connectivity=torch.eye(2, dtype=torch.bool)
        )
    with pytest.raises(ValueError, match=r"M\[1, 0\] = nan"):
        tr.EIRateRNN.from_weights(torch.tensor([[0.0, -1.0], [float("nan"), 0.0]]), 1, tau_e=1, tau_i=1, dt=1)


def test_reset_parameters_is_seeded_and_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    a = tr.EIRateRNN(3, 8, 2, generator=torch.Generator().manual_seed(0))
    b = tr.EIRateRNN(3, 8, 2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.M, b.M) and torch.equal(a.W, b.W)
    b.reset_parameters(torch.Generator().manual_seed(1))
    assert not torch.equal(a.M, b.M)
    assert torch.linalg.eigvals(b.M.detach().double()).abs().max().item() == pytest.approx(0.9, rel=1e-6)
    assert torch.equal(torch.get_rng_state(), state)


def test_euler_step_larger_than_tau_warns_with_both_values():
    with pytest.warns(UserWarning, match=r"dt/τ = 3 > 1 \(dt = 3 ms, smallest τ = 1 ms\)"):
        tr.RateRNN(2, 3, tau=1.0, dt=3.0)


# ----------------------------------------------------------------------------- CUDA (skip without a GPU)
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.mark.cuda
@cuda
def test_cuda_from_rnn_equals_cudnn_rnn_and_fp16_autocast():
    torch.manual_seed(10)
    rnn = torch.nn.RNN(3, 64, num_layers=2, bidirectional=True).cuda().double()
    net = tr.RateRNN.from_rnn(rnn)
    x = torch.randn(30, 4, 3, device="cuda", dtype=F64)
    torch.testing.assert_close(net(x)[0], rnn(x)[0], rtol=0, atol=1e-10)
    net, x = net.float(), x.float()
    with torch.autocast("cuda", torch.float16):
        out, _ = net(x)
    assert out.dtype == torch.float16 and (out.float() - net(x)[0]).abs().max() < 0.02


@pytest.mark.cuda
@cuda
def test_cuda_compile_and_noise_generator_on_device():
    net = tr.RateRNN(3, 32, noise_std=0.1).cuda()
    compiled = torch.compile(net, fullgraph=True, dynamic=True)
    assert compiled(torch.randn(20, 4, 3, device="cuda"))[0].is_cuda
    net.generator = torch.Generator("cuda").manual_seed(0)
    a = net(torch.zeros(20, 4, 3, device="cuda"))[0]
    net.generator.manual_seed(0)
    assert torch.equal(a, net(torch.zeros(20, 4, 3, device="cuda"))[0])


@pytest.mark.parametrize(
    "build",
    [
        lambda: tr.RateRNN(2, 6, num_layers=2, bidirectional=True, connectivity=torch.rand(6, 6) < 0.5, train_tau=True),
        lambda: tr.EIRateRNN(2, 4, 2, input_mask="exc", connectivity=torch.rand(6, 6) < 0.5, train_tau=True),
        lambda: tr.LowRankRateRNN(2, 6, 2),
    ],
    ids=["rate", "ei", "lowrank"],
)
def test_state_dict_round_trip_into_a_fresh_network(build):
    """What resuming a run and ``torchrate analyze`` do: load a state dict into a new network (an
    expanded-view mask buffer once made this fail for every EIRateRNN)."""
    torch.manual_seed(11)
    net, fresh = build(), build()
    fresh.load_state_dict(net.state_dict())
    u = torch.randn(5, 3, 2)
    torch.testing.assert_close(fresh(u)[0], net(u)[0], rtol=0, atol=0)
