"""analysis.jacobian (torch.func) against the analytic J = (−I + diag(F′(x)) M)/τ."""

import pytest
import torch
from torch import nn

import torchrate as tr

F64 = torch.float64

# F′(x) written out independently of torchrate's derivative_from_output
DERIVATIVES = {
    "linear": torch.ones_like,
    "tanh": lambda x: 1 / torch.cosh(x) ** 2,
    "sigmoid": lambda x: torch.exp(-x) / (1 + torch.exp(-x)) ** 2,
    "softplus": lambda x: 1 / (1 + torch.exp(-x)),
    "relu": lambda x: (x > 0).to(x.dtype),
}


def analytic_jacobian(net, v, u):
    x = u @ net.W.T + v @ net.M.T + (0 if net.b is None else net.b)
    Fp = DERIVATIVES[net.F.name](x)  # (B, N)
    tau = net.tau if net.tau.ndim else net.tau.expand(net.hidden_size)
    eye = torch.eye(net.hidden_size, dtype=v.dtype)
    return (Fp[:, :, None] * net.M - eye) / tau[:, None]


@pytest.mark.parametrize("name", list(DERIVATIVES))
def test_jacobian_matches_analytic(name, dtype):
    gen = torch.Generator().manual_seed(0)
    net = tr.RateRNN(3, 6, nonlinearity=name, tau=torch.linspace(5.0, 20.0, 6), generator=gen, dtype=dtype)
    with torch.no_grad():
        net.b.normal_(generator=gen)
    v = torch.randn(5, 6, generator=gen, dtype=dtype)
    u = torch.randn(5, 3, generator=gen, dtype=dtype)
    J = tr.analysis.jacobian(net, v, u)
    assert J.shape == (5, 6, 6) and J.dtype == dtype
    tol = 1e-14 if dtype == F64 else 1e-6
    torch.testing.assert_close(J, analytic_jacobian(net, v, u), rtol=tol, atol=tol)
    # one shared input (I,), and an unbatched state (N,)
    torch.testing.assert_close(
        tr.analysis.jacobian(net, v, u[0]), analytic_jacobian(net, v, u[:1].expand(5, 3)), rtol=tol, atol=tol
    )
    torch.testing.assert_close(tr.analysis.jacobian(net, v[0], u[0]), J[0], rtol=tol, atol=tol)


def test_jacobian_ei_pair_is_the_supplement_matrix():
    """Above threshold, J = [[(M_EE−1)/τ_E, M_EI/τ_E], [M_IE/τ_I, (M_II−1)/τ_I]]."""
    M = torch.tensor([[1.25, -1.0], [1.0, 0.0]], dtype=F64)
    ei = tr.EIRateRNN.from_weights(M, n_exc=1, tau_e=10.0, tau_i=30.0, b=torch.tensor([10.0, -10.0], dtype=F64), dt=0.1)
    J = tr.analysis.jacobian(ei, torch.tensor([80 / 3, 50 / 3], dtype=F64), torch.zeros(2, dtype=F64))
    expected = torch.tensor([[0.25 / 10, -1 / 10], [1 / 30, -1 / 30]], dtype=F64)
    torch.testing.assert_close(J, expected, rtol=1e-15, atol=1e-17)


def test_jacobian_of_any_module_and_callable():
    """A module with only vector_field (u is h): f = (−v + sin(A v) + h)/τ, J = (A cos(Av) − I)/τ."""

    class Sine(nn.Module):
        def __init__(self):
            super().__init__()
            self.A = nn.Parameter(torch.randn(4, 4, generator=torch.Generator().manual_seed(1), dtype=F64))

        def vector_field(self, v, h):
            return (-v + torch.sin(v @ self.A.T) + h) / 7.0

    mod = Sine()
    v = torch.randn(3, 4, generator=torch.Generator().manual_seed(2), dtype=F64)
    expected = (torch.cos(v @ mod.A.T)[:, :, None] * mod.A - torch.eye(4, dtype=F64)) / 7.0
    torch.testing.assert_close(tr.analysis.jacobian(mod, v, torch.ones(4, dtype=F64)), expected, rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(tr.analysis.jacobian(mod.vector_field, v), expected, rtol=1e-14, atol=1e-15)


def test_jacobian_is_differentiable_in_the_weights():
    """∂ trace(J)/∂M_ii = F′(x_i)/τ + M_ii F″(x_i) v_i/τ for tanh, F″ = −2 tanh sech²."""
    net = tr.RateRNN(
        2, 3, nonlinearity="tanh", tau=10.0, bias=False, dtype=F64, generator=torch.Generator().manual_seed(3)
    )
    v = torch.tensor([0.3, -0.2, 0.5], dtype=F64)
    u = torch.tensor([0.1, 0.4], dtype=F64)
    torch.diagonal(tr.analysis.jacobian(net, v, u)).sum().backward()
    x = (net.W @ u + net.M @ v).detach()
    sech2 = 1 / torch.cosh(x) ** 2
    expected = (sech2 + torch.diagonal(net.M).detach() * (-2 * torch.tanh(x) * sech2) * v) / 10.0
    torch.testing.assert_close(torch.diagonal(net.weight_hh_l0.grad), expected, rtol=1e-14, atol=1e-16)


def test_jacobian_errors():
    net = tr.RateRNN(2, 3)
    with pytest.raises(
        ValueError,
        match=r"v must have shape \(B, 3\) or \(3,\) \(one rate per neuron\), "
        r"got \(1, 2, 3\)",
    ):
        tr.analysis.jacobian(net, torch.zeros(1, 2, 3), torch.zeros(2))
    with pytest.raises(TypeError, match="vector_field"):
        tr.analysis.jacobian(object(), torch.zeros(3))
