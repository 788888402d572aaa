"""Ensembles: each member's forward, gradients and trained weights equal its own sequential run."""

from __future__ import annotations

import copy

import pytest
import torch

import torchrate as tr
from torchrate._rollout import euler_rollout, euler_rollout_reference

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


BUILDERS = {
    "rate": lambda k: tr.RateRNN(3, 12, tau=10.0, dtype=F64, generator=_gen(k)),
    "rate-noise": lambda k: tr.RateRNN(3, 12, tau=10.0, noise_std=0.2, dtype=F64, generator=_gen(k)),
    "ei-train-tau": lambda k: tr.EIRateRNN(3, 8, 4, train_tau=True, dtype=F64, generator=_gen(k)),
    "lowrank": lambda k: tr.LowRankRateRNN(3, 12, 2, dtype=F64, generator=_gen(k)),
    "two-layers": lambda k: tr.RateRNN(3, 6, num_layers=2, dtype=F64, generator=_gen(k)),
}


@pytest.mark.parametrize("kind", list(BUILDERS))
@pytest.mark.parametrize("per_member", [False, True], ids=["shared-input", "per-member-input"])
def test_members_equal_their_own_forward_and_gradients(kind, per_member):
    K = 3
    nets = [BUILDERS[kind](k) for k in range(K)]
    ens = tr.Ensemble(nets)
    for k, net in enumerate(nets):  # the same noise stream for the ensemble and the sequential run
        net.generator, ens.generators[k] = _gen(100 + k), _gen(100 + k)
    u = torch.randn(K, 9, 4, 3, dtype=F64) if per_member else torch.randn(9, 4, 3, dtype=F64)
    hx = torch.rand(K, nets[0].num_layers, 4, nets[0].hidden_size, dtype=F64)
    rates, h_n = ens(u, hx)
    assert rates.shape == (K, 9, 4, nets[0].hidden_size) and h_n.shape == hx.shape
    targets = torch.randn_like(rates)
    ((rates - targets) ** 2).sum().backward()  # sum of member losses
    stacked, _ = ens.stacked()
    for k, net in enumerate(nets):
        r, h = net(u[k] if per_member else u, hx[k])
        torch.testing.assert_close(rates[k], r, rtol=0, atol=1e-12)
        torch.testing.assert_close(h_n[k], h, rtol=0, atol=1e-12)
        ((r - targets[k]) ** 2).sum().backward()
        for name, p in net.named_parameters():
            torch.testing.assert_close(stacked[name].grad[k], p.grad, rtol=1e-10, atol=1e-10, msg=name)


@pytest.mark.parametrize("kind", ["rate", "ei-train-tau", "lowrank"])
def test_effective_weights_are_each_members_own_weights_and_compose_with_grad(kind):
    nets = [BUILDERS[kind](k) for k in range(3)]
    ens = tr.Ensemble(nets)
    w = ens.effective_weights()
    own = {"M": "weight_hh_l0", "tau": "tau", "W": "weight_ih_l0", "b": "bias_l0"}
    assert set(w) == {"M", "tau", "W", "b"}
    for key, name in own.items():  # the constraints evaluated per member: bit-identical,
        expected = torch.stack([getattr(net, name) for net in nets])
        if kind == "lowrank" and key == "M":  # but for m nᵀ/N as a batched matmul (its own rounding)
            bound = 2 * torch.finfo(F64).eps * torch.stack([net.m.abs() @ net.n.abs().T / 12 for net in nets])
            assert ((w[key] - expected).abs() <= bound).all()
        else:
            assert torch.equal(w[key], expected), key
    params, buffers = ens.stacked()
    # torch.func.grad of a function of the stacked weights through effective_weights: the
    # gradient of Σ M (M = the constrained recurrent weights) equals autograd's on each member
    grads = torch.func.grad(lambda p: ens.effective_weights(p, buffers)["M"].sum())(params)
    for k, net in enumerate(nets):
        net.zero_grad()
        net.weight_hh_l0.sum().backward()
        for name, p in net.named_parameters():
            expected = torch.zeros_like(p) if p.grad is None else p.grad
            ulps = 4 * torch.finfo(F64).eps * expected.abs().max() if kind == "lowrank" else 0  # batched matmul
            torch.testing.assert_close(grads[name][k], expected, rtol=0, atol=ulps)


def test_member_access_and_refusals():
    nets = [tr.EIRateRNN(2, 4, 2, dtype=F64, generator=_gen(k)) for k in range(2)]
    ens = tr.Ensemble(nets)
    member = ens[1]
    assert type(member).__name__ == "ParametrizedEIRateRNN" and member.n_exc == 4
    torch.testing.assert_close(member.M, nets[1].M, rtol=0, atol=0)
    torch.testing.assert_close(ens[-1].M, nets[1].M, rtol=0, atol=0)
    assert len(ens) == 2 and ens.hidden_size == 6
    with pytest.raises(IndexError, match=r"member index must be an int in \[-2, 2\), got 2"):
        ens[2]
    with pytest.raises(ValueError, match="member 1 has hidden_size=5 but member 0 has 4"):
        tr.Ensemble([tr.RateRNN(2, 4), tr.RateRNN(2, 5)])
    # same N, other populations: ens[1] was member 0's structure (n_exc = 4) with member 1's weights
    with pytest.raises(ValueError, match="member 1 has n_exc=3 but member 0 has 4"):
        tr.Ensemble([tr.EIRateRNN(2, 4, 2, dtype=F64), tr.EIRateRNN(2, 3, 3, dtype=F64)])
    with pytest.raises(TypeError, match="every member must be a RateRNN; member 1 is a EIRateRNN"):
        tr.Ensemble([tr.RateRNN(2, 4), tr.EIRateRNN(2, 2, 2)])
    with pytest.raises(ValueError, match="solver='euler'"):
        tr.Ensemble([tr.RateRNN(2, 4, solver="dopri5")])
    with pytest.raises(ValueError, match=r"per-member input must have shape \(K, T, B, I\) with K = 2"):
        ens(torch.zeros(3, 5, 1, 2, dtype=F64))


@pytest.mark.parametrize("kind", ["rate", "ei-train-tau", "lowrank", "two-layers"])
def test_a_member_of_a_converted_ensemble_has_its_dtype(kind):
    # ens.float() converted the stacked tensors but not the template: ens[k] had float64 weights
    # (its float32 values cast back) and float32 buffers, and ran another network than member k
    ens = tr.Ensemble([BUILDERS[kind](k) for k in range(2)]).float()
    member = ens[1]
    assert {t.dtype for t in member.parameters()} == {torch.float32}
    assert {t.dtype for t in member.buffers() if t.is_floating_point()} == {torch.float32}
    u = torch.randn(5, 2, 3)
    rates, _ = ens(u)
    torch.testing.assert_close(member(u)[0], rates[1], rtol=0, atol=1e-6)


def test_fused_ensemble_rollout_equals_its_reference_and_gradchecks():
    torch.manual_seed(0)
    K, T, B, N = 3, 7, 2, 4
    X, v0 = torch.randn(T, K, B, N, dtype=F64), torch.randn(K, B, N, dtype=F64)
    M = torch.randn(K, N, N, dtype=F64) / 2
    a = torch.rand(K, 1, N, dtype=F64) * 0.5
    eta = 0.1 * torch.randn(T, K, B, N, dtype=F64)
    F = tr.nonlinearity("tanh")
    torch.testing.assert_close(
        euler_rollout(X, v0, M, a, F, eta), euler_rollout_reference(X, v0, M, a, F, eta), rtol=0, atol=1e-14
    )
    args = tuple(t.clone().requires_grad_() for t in (X, v0, M, a, eta))
    assert torch.autograd.gradcheck(lambda *x: euler_rollout(*x[:4], F, x[4]), args)
    assert torch.autograd.gradgradcheck(lambda *x: euler_rollout(*x[:4], F, x[4]), args)


def test_trained_ensemble_equals_sequential_training():
    """200 Adam steps of the ensemble (sum of member losses, one optimiser) against each member
    trained alone with its own Adam: the same weights in float64 to 1e-8."""
    K, steps = 3, 200
    nets = [tr.RateRNN(2, 10, tau=5.0, dtype=F64, generator=_gen(k)) for k in range(K)]
    ens = tr.Ensemble(nets)
    g = _gen(9)
    batches = [
        (torch.randn(12, 6, 2, generator=g, dtype=F64), torch.randn(12, 6, 10, generator=g, dtype=F64))
        for _ in range(steps)
    ]
    opt = torch.optim.Adam(ens.parameters(), lr=1e-2)
    for u, y in batches:
        opt.zero_grad()
        ((ens(u)[0] - y) ** 2).mean((1, 2, 3)).sum().backward()
        opt.step()
    for k, net in enumerate(nets):
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        for u, y in batches:
            opt.zero_grad()
            ((net(u)[0] - y) ** 2).mean().backward()
            opt.step()
        member = ens[k]
        for name, p in net.named_parameters():
            torch.testing.assert_close(dict(member.named_parameters())[name], p, rtol=0, atol=1e-8, msg=name)


def test_members_with_different_callables_are_refused_and_one_callable_runs_each_members_own():
    """An ensemble runs one F: two different callables (same name '<lambda>') are refused; one callable
    object shared by the members (or an nn.Module F copied with the member) runs what each member runs."""
    a = tr.RateRNN(3, 4, nonlinearity=lambda x: torch.tanh(x), dtype=F64, generator=_gen(0))
    b = tr.RateRNN(3, 4, nonlinearity=lambda x: torch.relu(x), dtype=F64, generator=_gen(1))
    with pytest.raises(
        ValueError,
        match=r"member 1 has nonlinearity '<lambda>' .* member 0 has '<lambda>' .*"
        r"pass the same callable object",
    ):
        tr.Ensemble([a, b])
    square = lambda x: torch.relu(x) ** 2  # noqa: E731
    soft = torch.nn.Softplus(beta=2.0)
    for F in (square, soft):
        nets = [tr.RateRNN(3, 4, nonlinearity=F, dtype=F64, generator=_gen(k)) for k in range(2)]
        nets.append(copy.deepcopy(nets[0]))
        ens = tr.Ensemble(nets)
        u = torch.randn(7, 2, 3, dtype=F64)
        rates = ens(u)[0]
        for k, net in enumerate(nets):
            torch.testing.assert_close(rates[k], net(u)[0], rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=r"member 1 has nonlinearity 'Softplus'"):
        tr.Ensemble(
            [
                tr.RateRNN(3, 4, nonlinearity=torch.nn.Softplus(beta=2.0)),
                tr.RateRNN(3, 4, nonlinearity=torch.nn.Softplus(beta=3.0)),
            ]
        )


@pytest.mark.parametrize("layers", [1, 2], ids=["fused", "vmapped"])
def test_forward_refuses_wrong_input_width_dtype_and_hx_like_nn_rnn(layers):
    ens = tr.Ensemble([tr.RateRNN(3, 4, layers, generator=_gen(k)) for k in range(2)])
    u = torch.zeros(5, 2, 3)
    with pytest.raises(ValueError, match=r"input.size\(-1\) must be equal to input_size. Expected 3, got 4"):
        ens(torch.zeros(5, 2, 4))
    with pytest.raises(ValueError, match=r"input.size\(-1\) must be equal to input_size. Expected 3, got 4"):
        ens(torch.zeros(2, 5, 2, 4))
    with pytest.raises(TypeError, match=r"input dtype torch.float64 does not match the ensemble's torch.float32"):
        ens(u.double())
    wrong = 3 - layers  # the other layer count
    with pytest.raises(
        ValueError,
        match=rf"hx must have shape \(K, L·D, B, N\) = \(2, {layers}, 2, 4\), got "
        rf"\(2, {wrong}, 2, 4\)",
    ):
        ens(u, torch.zeros(2, wrong, 2, 4))
    with pytest.raises(ValueError, match=r"hx must have shape .* = \(2, \d, 2, 4\), got \(2, \d, 3, 4\)"):
        ens(u, torch.zeros(2, layers, 3, 4))
    with pytest.raises(TypeError, match=r"hx must be a Tensor"):
        ens(u, [[0.0]])
    assert ens(u, torch.zeros(2, layers, 2, 4))[1].shape == (2, layers, 2, 4)


# ----------------------------------------------------------------------------- member groups and step blocks
def _reference_rollout(u, W, b, v0, M, a, F, eta):
    """X = u Wᵀ + b written out per member, then the plain loop (time-major), returned member-major."""
    K = M.shape[0]
    us = u.unbind(0) if u.ndim == 4 else [u] * K
    X = torch.stack(
        [
            (x if w is None else x @ w.T) + (0 if c is None else c)
            for x, w, c in zip(us, [None] * K if W is None else W, [None] * K if b is None else b)
        ]
    )
    rates = euler_rollout_reference(X.movedim(1, 0), v0, M, a, F, None if eta is None else eta.movedim(1, 0))
    return rates.movedim(0, 1)


@pytest.mark.parametrize("group", [1, 2, None], ids=["one-at-a-time", "groups-of-2", "default"])
@pytest.mark.parametrize("layout", ["shared", "per-member"])
@pytest.mark.parametrize("projected", [True, False], ids=["W", "no-W"])
@pytest.mark.parametrize("nl", ["tanh", "softplus"])  # ATen's fused backward of F, and F' from the output
@pytest.mark.parametrize("B", [1, 4])
def test_grouped_blocked_rollout_equals_the_reference_in_values_and_every_gradient(
    group, layout, projected, nl, B, monkeypatch
):
    """Members stepped one at a time, in groups of 2 (3 = 2 + 1) or all at once, and steps taken
    in blocks of 2 (7 = 2 + 2 + 2 + 1): the rates and the gradients of u, W, b, v0, M, a, η equal
    the plain loop's in float64 to rounding (1e-12; values O(1), sums of ≤ 7·4 products)."""
    import torchrate._rollout as rollout

    K, T, N, I = 3, 7, 5, 3
    monkeypatch.setattr(rollout, "_GROUP", group)
    monkeypatch.setattr(rollout, "_BLOCK_BYTES", 2 * (K if group is None else group) * B * N * 8)
    monkeypatch.setattr(rollout, "_BLOCK_ROWS", 0)
    g = _gen(11)
    u = torch.randn(*((K,) if layout == "per-member" else ()), T, B, I if projected else N, dtype=F64, generator=g)
    W = torch.randn(K, N, I, dtype=F64, generator=g) if projected else None
    b = torch.randn(K, N, dtype=F64, generator=g)
    v0 = torch.randn(K, B, N, dtype=F64, generator=g)
    M = torch.randn(K, N, N, dtype=F64, generator=g) / 2
    a = 0.1 + 0.4 * torch.rand(K, 1, N, dtype=F64, generator=g)
    eta = 0.1 * torch.randn(K, T, B, N, dtype=F64, generator=g)
    args = [t if t is None else t.clone().requires_grad_() for t in (u, W, b, v0, M, a, eta)]
    F = tr.nonlinearity(nl)
    fast = rollout.euler_rollout_input(*args[:6], F, args[6])
    ref = _reference_rollout(*args[:6], F, args[6])
    torch.testing.assert_close(fast, ref, rtol=0, atol=1e-12)
    w = torch.randn(fast.shape, dtype=F64, generator=g)
    inputs = [t for t in args if t is not None]
    names = "u W b v0 M a eta".split() if projected else "u b v0 M a eta".split()
    grads_fast, grads_ref = (torch.autograd.grad((r * w).sum(), inputs) for r in (fast, ref))
    for name, gf, gr in zip(names, grads_fast, grads_ref):
        torch.testing.assert_close(gf, gr, rtol=0, atol=1e-12, msg=name)


@pytest.mark.parametrize("shared_b", [1, 16])  # a shared input's drive: per step, or per block transposed
@pytest.mark.parametrize("per_neuron", [False, True])  # a: (K, 1, 1) or (K, 1, N), its gradient summed per block
def test_grouped_blocked_rollout_gradchecks(monkeypatch, shared_b, per_neuron):
    import torchrate._rollout as rollout

    monkeypatch.setattr(rollout, "_SHARED_B", shared_b)
    monkeypatch.setattr(rollout, "_GROUP", 2)
    monkeypatch.setattr(rollout, "_BLOCK_BYTES", 2 * 2 * 2 * 3 * 8)
    monkeypatch.setattr(rollout, "_BLOCK_ROWS", 0)
    g = _gen(12)
    K, T, B, N, I = 3, 5, 2, 3, 2
    args = (
        torch.randn(T, B, I, dtype=F64, generator=g),
        torch.randn(K, N, I, dtype=F64, generator=g),
        torch.randn(K, N, dtype=F64, generator=g),
        torch.randn(K, B, N, dtype=F64, generator=g),
        torch.randn(K, N, N, dtype=F64, generator=g) / 2,
        0.1 + 0.4 * torch.rand(K, 1, N if per_neuron else 1, dtype=F64, generator=g),
        0.1 * torch.randn(K, T, B, N, dtype=F64, generator=g),
    )
    args = tuple(t.requires_grad_() for t in args)
    F = tr.nonlinearity("tanh")
    assert torch.autograd.gradcheck(lambda *x: rollout.euler_rollout_input(*x[:6], F, x[6]), args)


@pytest.mark.parametrize("group", [1, 2])
@pytest.mark.parametrize("kind", ["rate", "rate-noise", "ei-train-tau"])
@pytest.mark.parametrize("per_member", [False, True], ids=["shared-input", "per-member-input"])
def test_members_stepped_in_groups_equal_their_own_forward_and_gradients(group, kind, per_member, monkeypatch):
    """The fused ensemble with members stepped one at a time or in groups (3 = 2 + 1): each member's
    rates and gradients, the input's gradient included, equal its own network's run (float64)."""
    import torchrate._rollout as rollout

    monkeypatch.setattr(rollout, "_GROUP", group)
    K = 3
    nets = [BUILDERS[kind](k) for k in range(K)]
    ens = tr.Ensemble(nets)
    for k, net in enumerate(nets):
        net.generator, ens.generators[k] = _gen(100 + k), _gen(100 + k)
    u = (torch.randn(K, 9, 4, 3, dtype=F64) if per_member else torch.randn(9, 4, 3, dtype=F64)).requires_grad_()
    rates, _ = ens(u)
    targets = torch.randn_like(rates)
    ((rates - targets) ** 2).sum().backward()
    stacked, _ = ens.stacked()
    grad_u = torch.zeros_like(u)
    for k, net in enumerate(nets):
        x = (u[k] if per_member else u).detach().requires_grad_()
        r, _ = net(x)
        torch.testing.assert_close(rates[k], r, rtol=0, atol=1e-12)
        ((r - targets[k]) ** 2).sum().backward()
        grad_u[k if per_member else ...] += x.grad
        for name, p in net.named_parameters():
            torch.testing.assert_close(stacked[name].grad[k], p.grad, rtol=1e-10, atol=1e-10, msg=name)
    torch.testing.assert_close(u.grad, grad_u, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("group", [1, 2, None], ids=["one-at-a-time", "groups-of-2", "default"])
def test_a_member_whose_rates_blow_up_is_named(group, monkeypatch):
    """Member 1's linear dynamics grow by 1 + 0.1·(50 − 1) ≈ 5.9 a step and overflow float64 within
    500 steps: the fused rollout's per-member sums of the last rates name it, and only it."""
    import torchrate._rollout as rollout

    monkeypatch.setattr(rollout, "_GROUP", group)
    ens = tr.Ensemble(
        [tr.RateRNN(2, 4, nonlinearity="linear", tau=10.0, dtype=F64, generator=_gen(k)) for k in range(3)]
    )
    with torch.no_grad():
        ens.stacked()[0]["weight_hh_l0"][1] = 50 * torch.eye(4, dtype=F64)
    with pytest.raises(tr.NonFiniteRatesError, match=r"rates of member\(s\) \[1\] became non-finite"):
        ens(torch.ones(500, 2, 2, dtype=F64))
