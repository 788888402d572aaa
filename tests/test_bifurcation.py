"""tr.analysis.bifurcation: pseudo-arclength continuation against closed forms and scalar
equations — folds of a two-unit mutual-inhibition network (closed form) and of a rank-one
N = 512 network (g = ∂g/∂κ = 0 solved to 1e-14), the Dayan–Abbott Hopf point at τ_I = 40 ms,
±2 fixed points across every fold, and ∂f/∂p against torch.func."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import fsolve

import torchrate as tr
from torchrate.analysis.bifurcation import _Family

F64 = torch.float64


# ----------------------------------------------------------------------------- two units
def mutual_inhibition(w: float = 2.0, dtype=F64):
    M = torch.tensor([[0.0, -w], [-w, 0.0]], dtype=dtype)
    return tr.RateRNN.from_weights(M, tau=10.0, dt=1.0, nonlinearity="tanh")


def two_unit_folds(w: float = 2.0) -> float:
    """On the invariant line v = (x, −x) the fixed points solve x = tanh(w x + δ) under the
    biasing input h = (δ, −δ): δ = atanh(x) − w x, folded where dδ/dx = 0, 1/(1 − x²) = w:
    x* = √(1 − 1/w), δ* = ±(w x* − atanh x*)."""
    x = math.sqrt(1 - 1 / w)
    return w * x - math.atanh(x)


@pytest.fixture(scope="module")
def two_unit():
    net = mutual_inhibition()
    return tr.analysis.bifurcation(
        lambda d: (net, torch.tensor([d, -d], dtype=F64)), torch.linspace(-1, 1, 41, dtype=F64)
    )


def test_two_unit_folds_match_the_closed_form_to_1e_10(two_unit):
    d = two_unit_folds()
    folds = sorted(f.value for f in two_unit.folds)
    assert len(folds) == 2 and all(f.refined for f in two_unit.folds)
    assert folds[0] == pytest.approx(-d, abs=1e-10) and folds[1] == pytest.approx(d, abs=1e-10)
    x = math.sqrt(0.5)
    for f in two_unit.folds:  # the point (±x*, ∓x*) and the null vector along (1, −1)
        torch.testing.assert_close(f.point.abs(), torch.full((2,), x, dtype=F64), rtol=0, atol=1e-10)
        assert abs(abs(f.eigenvector @ torch.tensor([1.0, -1.0], dtype=F64)) / math.sqrt(2) - 1) < 1e-10
        J = tr.analysis.jacobian(mutual_inhibition(), f.point, torch.tensor([f.value, -f.value], dtype=F64))
        assert (J @ f.eigenvector).abs().max() < 1e-12


def test_two_unit_branch_points_are_fixed_points_and_stability_matches_eigenvalues(two_unit):
    net = mutual_inhibition()
    for br in two_unit.branches:
        h = torch.stack([br.values, -br.values], -1)
        f = net.vector_field(br.points, h)
        assert f.abs().max() < 1e-14
        keep = torch.ones(len(br), dtype=torch.bool)
        keep[[f.index for f in two_unit.folds]] = False  # the folds themselves: λ = 0, marked unstable
        assert torch.equal(br.stable[keep], (br.eigenvalues.real < 0).all(-1)[keep])
        assert not br.stable[~keep].any()
    # the branch is one S: stable – saddle – stable, with the stretch between the folds unstable
    assert len(two_unit.branches) == 1
    assert two_unit.branches[0].values.min() == -1 and two_unit.branches[0].values.max() == 1


def count_fixed_points(net, h, n: int = 400) -> int:
    """Independent count: find_fixed_points from a grid of n starts over the rate box."""
    N = net.hidden_size
    g = torch.Generator().manual_seed(0)
    starts = torch.rand(n, N, generator=g, dtype=F64) * 2.4 - 1.2
    fps = tr.analysis.find_fixed_points(net, h, starts, outlier_scale=None)
    return len(fps)


def test_two_unit_number_of_fixed_points_changes_by_two_across_each_fold(two_unit):
    net = mutual_inhibition()
    for f in two_unit.folds:
        counts = []
        for side in (-1e-3, 1e-3):
            p = f.value + side
            n_bif = len(two_unit.at(p))
            assert n_bif == count_fixed_points(net, torch.tensor([p, -p], dtype=F64))
            counts.append(n_bif)
        assert abs(counts[0] - counts[1]) == 2
    assert [len(s) for s in two_unit.at([-0.9, -0.5, 0.0, 0.5, 0.9])] == [1, 3, 3, 3, 1]
    assert two_unit.at(0.0).stable.tolist().count(True) == 2


def test_fp_matches_torch_func_jvp():
    """∂f/∂p written out equals torch.func.jvp of f in p (an input and a τ varying)."""
    net = tr.zoo.dayan_abbott_ei(30.0, dtype=F64)
    fam = _Family(lambda t: (tr.zoo.dayan_abbott_ei(t, dtype=F64), torch.tensor([0.3 * t, 1.0], dtype=F64)), 12.0, 80.0)
    assert fam.analytic and net is not None
    g = torch.Generator().manual_seed(0)
    v = torch.rand(5, 2, generator=g, dtype=F64) * 40
    p = torch.linspace(20, 60, 5, dtype=F64)
    f, fp = fam.f_and_fp(v, p)
    f2, fp2 = torch.func.jvp(lambda q: fam.f(v, q), (p,), (torch.ones_like(p),))
    torch.testing.assert_close(fp, fp2, rtol=1e-14, atol=1e-16)
    # and both against the network rebuilt at each p
    for k in range(5):
        net_k = tr.zoo.dayan_abbott_ei(p[k].item(), dtype=F64)
        h = net_k.project_input(torch.tensor([0.3 * p[k].item(), 1.0], dtype=F64))
        torch.testing.assert_close(f[k], net_k.vector_field(v[k], h), rtol=1e-14, atol=1e-15)


# ----------------------------------------------------------------------------- rank one, N = 512
def rank_one(N=512, seed=1):
    g = torch.Generator().manual_seed(seed)
    m = torch.randn(N, generator=g, dtype=F64)
    n = 2 * m
    w = 0.5 * m + torch.randn(N, generator=g, dtype=F64)
    net = tr.RateRNN.from_weights(torch.outer(m, n) / N, w[:, None], tau=10.0, dt=1.0, nonlinearity="tanh")
    return net, m, n, w


def rank_one_folds(m, n, w, guesses):
    """Roots of g = −κ + ⟨n, tanh(κ m + u w)⟩/N and ∂g/∂κ = −1 + ⟨n ⊙ m, 1 − tanh²⟩/N."""
    m, n, w = (x.numpy() for x in (m, n, w))

    def G(x):
        k, u = x
        y = np.tanh(k * m + u * w)
        return [-k + np.mean(n * y), -1 + np.mean(n * m * (1 - y**2))]

    out = []
    for k0, u0 in guesses:
        sol, info, ok, _ = fsolve(G, [k0, u0], xtol=1e-15, full_output=True)
        assert ok == 1 and max(abs(r) for r in G(sol)) < 1e-14
        out.append(sol)
    return out


@pytest.fixture(scope="module")
def rank_one_bif():
    net, m, n, w = rank_one()
    bif = tr.analysis.bifurcation(
        lambda u: (net, torch.tensor([u], dtype=F64)), torch.linspace(-1, 1, 200, dtype=F64), seeds=3
    )
    return bif, net, m, n, w


def test_rank_one_folds_solve_g_and_dg_to_1e_8(rank_one_bif):
    bif, net, m, n, w = rank_one_bif
    assert len(bif.folds) == 2 and all(f.refined for f in bif.folds)
    N = m.shape[0]
    truth = rank_one_folds(m, n, w, [(float(n @ f.point) / N, f.value) for f in bif.folds])
    for f, (kappa, u) in zip(bif.folds, truth):
        assert f.value == pytest.approx(u, abs=1e-8)
        torch.testing.assert_close(f.point, torch.tanh(kappa * m + u * w), rtol=0, atol=1e-8)
    assert sorted(f.value for f in bif.folds)[0] < 0 < sorted(f.value for f in bif.folds)[1]


def test_rank_one_middle_branch_is_the_saddle(rank_one_bif):
    bif, net, m, n, w = rank_one_bif
    lo, hi = sorted(f.value for f in bif.folds)
    br = bif.branches[0]
    i, j = sorted(f.index for f in bif.folds)
    middle = br.eigenvalues[i + 1 : j]  # the stretch between the two folds (inserted at i and j)
    assert middle.shape[0] >= 2
    assert ((middle.real > 0).sum(-1) == 1).all()  # one unstable direction: a saddle
    outer = torch.cat([br.eigenvalues[:i], br.eigenvalues[j + 1 :]])
    assert (outer.real < 0).all()
    # along the branch between the folds the parameter runs back from hi to lo
    assert br.values[i : j + 1].max() == hi and br.values[i : j + 1].min() == lo
    s = bif.at(0.0)
    assert len(s) == 3 and s.stable.tolist().count(False) == 1
    for u, expected in ((lo - 1e-3, 1), (lo + 1e-3, 3), (hi - 1e-3, 3), (hi + 1e-3, 1)):
        assert len(bif.at(u)) == expected
    for pts, u in ((bif.at(x).points, x) for x in (-0.8, 0.0, 0.3)):
        f = net.vector_field(pts, net.project_input(torch.tensor([[u]], dtype=F64)).expand(len(pts), -1))
        assert f.abs().max() < 1e-13


# ----------------------------------------------------------------------------- E–I pair, Hopf
def test_dayan_abbott_hopf_at_40ms_to_1e_9():
    bif = tr.analysis.bifurcation(
        lambda t: (tr.zoo.dayan_abbott_ei(t, dtype=F64), None),
        torch.arange(12.0, 81.0, 4.0, dtype=F64),
        initial_states=torch.tensor([[20.0, 10.0]], dtype=F64),
    )
    assert len(bif.branches) == 1 and not bif.folds and len(bif.hopf) == 1
    h = bif.hopf[0]
    assert h.refined and h.value == pytest.approx(40.0, abs=1e-9)
    torch.testing.assert_close(h.point, torch.tensor([80 / 3, 50 / 3], dtype=F64), rtol=0, atol=1e-10)
    # J q = iω q with ω² = det J at τ_I = 40: ((M_EE − 1)(M_II − 1) − M_EI M_IE)/(τ_E τ_I) = 0.75/400
    assert h.frequency == pytest.approx(math.sqrt(0.75 / 400), rel=1e-10)
    J = tr.analysis.jacobian(tr.zoo.dayan_abbott_ei(h.value, dtype=F64), h.point).to(torch.complex128)
    assert (J @ h.eigenvector - 1j * h.frequency * h.eigenvector).abs().max() < 1e-12
    br = bif.branches[0]
    assert torch.equal(br.points[h.index], h.point)
    keep = torch.arange(len(br)) != h.index
    assert torch.equal(br.stable[keep], br.values[keep] < 40)


# ----------------------------------------------------------------------------- figure and errors
def test_plot_bifurcation_styles_and_leaves_pyplot_alone(two_unit):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    before = plt.get_fignums()
    fig = tr.plotting.plot_bifurcation(two_unit, coordinate=0, parameter="δ")
    assert isinstance(fig, Figure) and plt.get_fignums() == before
    ax = fig.axes[0]
    styles = {line.get_linestyle() for line in ax.lines if len(line.get_xdata()) > 1 and line.get_label() != "fold"}
    assert styles == {"-", "--"}
    folds = [line for line in ax.lines if line.get_label() == "fold"][0]
    assert sorted(folds.get_xdata()) == pytest.approx(sorted(f.value for f in two_unit.folds))
    fig2 = tr.plotting.plot_bifurcation(two_unit, coordinate=torch.tensor([1.0, -1.0], dtype=F64))
    assert fig2.axes[0].get_ylabel() == "⟨d, v⟩"
    with pytest.raises(ValueError, match="coordinate"):
        tr.plotting.plot_bifurcation(two_unit, coordinate="mean")
    with pytest.raises(TypeError, match="bif"):
        tr.plotting.plot_bifurcation(None)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"system": 42}, TypeError, "system"),
        ({"system": lambda p: None}, TypeError, r"system\(.*\) must return \(net, u\)"),
        ({"system": lambda p: ("net", None)}, TypeError, "as the network"),
        ({"values": [0.5]}, ValueError, "at least two different"),
        ({"values": [0.0, float("nan")]}, ValueError, "values"),
        ({"values": [[0.0, 1.0]]}, ValueError, "1-D"),
        ({"refine": "yes"}, TypeError, "refine"),
        ({"max_step": -1.0}, ValueError, "max_step"),
        ({"seeds": [5.0]}, ValueError, "seeds must lie within"),
        ({"initial_states": torch.zeros(3, 5, dtype=F64)}, ValueError, "initial_states"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, error, match):
    net = mutual_inhibition()
    args = {"system": lambda d: (net, torch.tensor([d, -d], dtype=F64)), "values": [-1.0, 1.0], **kwargs}
    with pytest.raises(error, match=match):
        tr.analysis.bifurcation(args.pop("system"), args.pop("values"), **args)


# ----------------------------------------------------------------------------- a trained decision network
@pytest.fixture(scope="module")
def trained_decision(tmp_path_factory):
    """The perceptual-decision network of test_training (64 tanh units, τ = 100 ms), trained
    6 epochs (~5 s), with the end-of-fit analysis written to ``analysis/``."""
    import lightning as L

    from torchrate.tasks import PerceptualDecision
    from torchrate.training import AnalysisCallback, TaskDataModule, TaskModule

    root = tmp_path_factory.mktemp("decision")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        L.seed_everything(0, verbose=False)
        task = PerceptualDecision()
        net = {
            "class_path": "torchrate.RateRNN",
            "init_args": {"hidden_size": 64, "dt": 20.0, "tau": 100.0, "noise_std": 0.05},
        }
        module = TaskModule(task, net, lr=1e-2)
        dm = TaskDataModule(task, batch_size=64, train_batches=50, val_trials=256, test_trials=512)
        trainer = L.Trainer(
            max_epochs=6,
            default_root_dir=root,
            accelerator="cpu",
            devices=1,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
            callbacks=[AnalysisCallback(out=str(root / "analysis"), n_trials=512)],
        )
        trainer.fit(module, dm)
    finally:
        torch.set_num_threads(threads)
    return module, root / "analysis"


def test_trained_decision_network_has_two_choice_attractors_that_end_at_folds(trained_decision):
    import copy
    import json

    from torchrate.training.report import _bifurcation

    module, out = trained_decision
    summary = json.loads((out / "summary.json").read_text())["bifurcation"]
    assert (out / "bifurcation.png").stat().st_size > 10_000
    assert summary["at_zero_coherence"] == {"points": 3, "stable": 2, "stable_choices": [0, 1]}
    folds = summary["folds"]
    assert len(folds) == 2 and all(f["refined"] for f in folds)
    (c_lo, k_lo), (c_hi, k_hi) = ((f["coherence"], f["choice"]) for f in folds)
    # evidence for choice 0 (c > 0) removes the choice-1 attractor, and vice versa
    assert c_lo < 0 < c_hi and (k_lo, k_hi) == (0, 1)
    assert summary["choice_attractor_disappears_at"] == {"0": c_lo, "1": c_hi}

    net = copy.deepcopy(module.network).to(F64).requires_grad_(False)
    g = torch.Generator().manual_seed(0)
    bif, _ = _bifurcation(net, module.task.evidence_input, torch.randn(256, 64, generator=g, dtype=F64), module.readout)
    for f in bif.folds:  # a stable branch ends at each fold: stability differs on its two sides
        br = bif.branches[f.branch]
        assert torch.equal(br.points[f.index], f.point) and br.values[f.index] == f.value
        assert bool(br.stable[f.index - 1]) != bool(br.stable[f.index + 1])
        n = [len(bif.at(f.value + s)) for s in (-1e-4, 1e-4)]
        assert abs(n[0] - n[1]) == 2
        J = tr.analysis.jacobian(net, f.point, module.task.evidence_input(f.value))
        assert (J @ f.eigenvector).abs().max() < 1e-10


def test_extended_newton_reports_a_singular_jacobian_instead_of_crashing():
    """A singular extended Jacobian (met at a ReLU kink of a trained E–I network) leaves the point
    unrefined (reported, with a warning, by bifurcation) rather than raising from LAPACK."""
    from torchrate.analysis.bifurcation import _newton

    y0 = torch.zeros(2, dtype=torch.float64)
    y, ok = _newton(lambda y: y.square(), y0, lambda y: torch.diag(2 * y), p_index=1)
    assert not ok and torch.equal(y, y0)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_hopf_of_the_dayan_abbott_pair_in_float32_and_float64(dtype):
    # trace J = 0.25/τ_E − 1/τ_I = 0 at τ_I = 40 ms (τ_E = 10 ms); ω² = det J = (1 − 0.25)/(τ_E τ_I)
    values = torch.linspace(10, 80, 71)
    sw = tr.analysis.sweep(lambda t: tr.zoo.dayan_abbott_ei(t, dtype=dtype), values)
    assert sw.hopf == [pytest.approx(40.0, abs=1e-4)]
    bif = tr.analysis.bifurcation(lambda t: (tr.zoo.dayan_abbott_ei(t, dtype=dtype), None), values)
    (h,) = bif.hopf
    assert h.refined and h.value == pytest.approx(40.0, abs=1e-4)
    assert h.frequency == pytest.approx(math.sqrt(0.75 / 400), rel=1e-4)
    assert h.point.dtype == dtype and h.eigenvector.dtype == torch.promote_types(dtype, torch.complex64)
    torch.testing.assert_close(h.point.double(), torch.tensor([80 / 3, 50 / 3], dtype=F64), rtol=1e-5, atol=0)


def test_batched_solves_are_safe_with_threads_above_n128():
    """Continuation's batched solves (n = N + 1 = 201) with 2 threads equal one-matrix solves. MKL's
    batched LU, which torch runs in parallel over the batch, printed "DLASWP parameter 6" and hung
    here (a 200-unit network's bifurcation diagram never finished with 2 threads); they now take
    the fixed-point search's rule, one matrix at a time on a multi-threaded CPU above n = 128."""
    from torchrate.analysis.bifurcation import _solve

    g = torch.Generator().manual_seed(0)
    A = torch.randn(8, 201, 201, generator=g, dtype=F64)
    b = torch.randn(8, 201, generator=g, dtype=F64)
    A[3] = 0.0  # singular: a NaN row
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        x = _solve(A, b)
    finally:
        torch.set_num_threads(before)
    assert torch.get_num_threads() == before
    assert bool(torch.isnan(x[3]).all()) and bool(torch.isfinite(x[[0, 1, 2, 4, 5, 6, 7]]).all())
    for i in (0, 1, 2, 4, 5, 6, 7):
        torch.testing.assert_close(x[i], torch.linalg.solve(A[i], b[i]), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_slices_of_a_map_judge_stability_by_the_modulus(dtype):
    # v' = tanh(w v) (τ = dt = 1): at v = 0, μ = w, unstable for w < −1 (a flip). Inside the grid's
    # segment where the verdict changes, at() classified μ by Re μ < 0: "stable" at w = −1.02
    def system(w):
        return tr.RateRNN.from_weights(torch.tensor([[w]], dtype=dtype), tau=1.0, dt=1.0, nonlinearity="tanh"), None

    starts = torch.tensor([[0.0], [0.3]], dtype=dtype)
    bif = tr.analysis.bifurcation(system, torch.linspace(-1.5, -0.5, 11, dtype=dtype), initial_states=starts)
    assert bif.time == "discrete"
    for w in (-1.3, -1.05, -1.02, -1.01, -0.99, -0.95, -0.7):
        s = bif.at(w)
        at_zero = s.points.abs().flatten() < 1e-6
        assert at_zero.any(), w
        assert s.stable[at_zero].tolist() == [abs(w) < 1] * int(at_zero.sum()), w
