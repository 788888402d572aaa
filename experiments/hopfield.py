"""Hopfield networks: recall from corrupted cues, the 2ⁿ states of a small network, capacity ≈ 0.138 N.

``tr.zoo.hopfield`` stores ±1 patterns ξ^μ with the Hebbian rule M = (1/N) Σ ξξᵀ (zero
diagonal); asynchronous updates s_i ← sign(Σ_j M_ij s_j) never raise the energy
E = −½ sᵀMs and stop in a fixed point.

1. Recall: N = 100 (10 × 10 images), 5 patterns, cues with 25 % of the pixels flipped.
2. All 2ⁿ states of an n = 6 network storing 2 patterns: their energies and where
   asynchronous recall takes each (the stored patterns, their negatives, spurious states).
3. Capacity: final overlap m = ξ·s/N after recall started at a stored pattern, vs the load
   α = P/N, against the replica-symmetric theory of Amit, Gutfreund & Sompolinsky (1985)
   at zero temperature, m = erf(y) on the branch of
   α(y) = ½ (erf(y)/y − (2/√π) e^{−y²})², whose maximum is α_c ≈ 0.138.

Run: ``python experiments/hopfield.py [--out DIR] [--fast]``
"""

from __future__ import annotations

import itertools
import math

import matplotlib.pyplot as plt
import torch
from common import DEFAULT_OUT, DTYPE, cli, save

import torchrate as tr


def ags_retrieval_branch(n: int = 2000) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Zero-temperature replica-symmetric retrieval overlap m(α) and the capacity α_c.

    Parametrised by y = m/√(2αr): α(y) = ½(erf(y)/y − (2/√π)e^{−y²})², m = erf(y). The
    retrieval state exists for α ≤ α_c = max_y α(y); the stable branch is y ≥ argmax.
    """
    y = torch.linspace(0.5, 6.0, n, dtype=DTYPE)
    alpha = 0.5 * (torch.erf(y) / y - 2 / math.sqrt(math.pi) * torch.exp(-y * y)) ** 2
    k = int(alpha.argmax())
    return alpha[k:], torch.erf(y[k:]), float(alpha[k])


def random_patterns(P: int, N: int, generator: torch.Generator) -> torch.Tensor:
    return (torch.randint(0, 2, (P, N), generator=generator) * 2 - 1).to(DTYPE)


def main(out=DEFAULT_OUT, fast: bool = False) -> dict:
    gen = torch.Generator().manual_seed(1)
    results = {}
    fig = plt.figure(figsize=(16, 8.5), constrained_layout=True)
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.1])

    # 1. recall from corrupted cues --------------------------------------------------------
    side, P = 10, 5
    xi = random_patterns(P, side * side, gen)
    net = tr.zoo.hopfield(xi)
    M = net.M.detach()
    flip = torch.rand(P, side * side, generator=gen) < 0.25
    cues = torch.where(flip, -xi, xi)
    recalled = tr.zoo.recall_asynchronous(M, cues, generator=gen)
    sync = tr.zoo.recall_synchronous(M, cues)
    with torch.no_grad():  # the network's own Euler step (dt = τ) is the synchronous update
        rollout = net(torch.zeros(sync.steps + 1, P, side * side, dtype=DTYPE), cues[None])[0][-1]
    results["recall"] = {
        "N": side * side,
        "patterns": P,
        "flipped_fraction": flip.double().mean(),
        "cue_overlap": (cues * xi).mean(1),
        "async_overlap": (recalled.states * xi).mean(1),
        "sync_overlap": (sync.states * xi).mean(1),
        "rollout_equals_sync": torch.equal(rollout, sync.states),
        "energy_cue": tr.zoo.hopfield_energy(M, cues),
        "energy_recalled": tr.zoo.hopfield_energy(M, recalled.states),
        "sweeps": recalled.steps,
    }
    gs = top.add_gridspec(3, P + 1, width_ratios=[1] * P + [3.5])
    for j in range(P):
        for row, (name, st) in enumerate((("stored", xi), ("cue (25 % flipped)", cues), ("recalled", recalled.states))):
            ax = top.add_subplot(gs[row, j])
            ax.imshow(st[j].reshape(side, side).numpy(), cmap="gray", vmin=-1, vmax=1)
            ax.set(xticks=[], yticks=[])
            if j == 0:
                ax.set_ylabel(name, fontsize=9)
            if row == 0 and j == 0:
                ax.set_title(f"N = {side * side}, P = {P}: asynchronous recall", loc="left", fontsize=10)
    ax = top.add_subplot(gs[:, P])
    x = torch.arange(P, dtype=DTYPE)
    for k, (name, st) in enumerate((("cue", cues), ("recalled", recalled.states), ("stored", xi))):
        ax.bar((x + 0.27 * (k - 1)).numpy(), tr.zoo.hopfield_energy(M, st).numpy(), width=0.27, label=name)
    ax.set(
        title="energy E = −½ sᵀMs: recall descends to the stored pattern",
        xlabel="pattern μ",
        ylabel="E",
        xticks=x.numpy(),
        ylim=(1.25 * float(tr.zoo.hopfield_energy(M, xi).min()), 0),
    )
    ax.legend(fontsize=8, loc="lower center", ncol=3)

    # 2. all 2ⁿ states of a small network ------------------------------------------------
    n = 6
    small = torch.tensor([[1, 1, 1, -1, -1, -1], [1, -1, 1, -1, 1, -1]], dtype=DTYPE)
    Ms = tr.zoo.hebbian_weights(small)
    states = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=n)), dtype=DTYPE)  # (64, 6)
    E = tr.zoo.hopfield_energy(Ms, states)
    fixed = ((states @ Ms.T) * states >= -1e-12).all(-1)  # no unit wants to flip (ties keep)
    final = tr.zoo.recall_asynchronous(Ms, states, generator=gen).states
    targets = torch.cat([small, -small])  # ξ¹, ξ², −ξ¹, −ξ²
    match = (final[:, None, :] == targets[None]).all(-1)  # (64, 4)
    label = torch.where(match.any(-1), match.double().argmax(-1), torch.full((2**n,), 4))
    results["small_network"] = {
        "n": n,
        "states": 2**n,
        "fixed_points": int(fixed.sum()),
        "stored_are_fixed": bool(fixed[(states[:, None] == targets[None]).all(-1).any(-1)].all()),
        "energy_never_increases": bool((tr.zoo.hopfield_energy(Ms, final) <= E + 1e-12).all()),
        "basin_sizes": {
            name: int((label == k).sum()) for k, name in enumerate(("xi1", "xi2", "-xi1", "-xi2", "spurious"))
        },
    }
    ax_small, ax_cap = bottom.subplots(1, 2)
    names = ("ξ¹", "ξ²", "−ξ¹", "−ξ²", "other")
    order = torch.argsort(E, stable=True)
    for k in range(5):
        sel = (label[order] == k).nonzero()[:, 0]
        if len(sel):
            ax_small.bar(sel.numpy(), E[order][sel].numpy(), color=f"C{k}", label=f"→ {names[k]} ({len(sel)})")
    fp = fixed[order].nonzero()[:, 0]
    ax_small.plot(fp.numpy(), E[order][fp].numpy() - 0.15, "k^", ms=6, label="fixed point")
    ax_small.set(
        title=f"all 2^{n} = {2**n} states of an n = {n} network storing 2 patterns, "
        "sorted by energy, coloured by where asynchronous recall ends",
        xlabel="state (sorted by energy)",
        ylabel="E = −½ sᵀMs",
    )
    ax_small.title.set_fontsize(10)
    ax_small.legend(fontsize=8, ncol=2)

    # 3. capacity -------------------------------------------------------------------------
    N = 100 if fast else 200
    alphas = (0.05, 0.1, 0.138, 0.2, 0.3) if fast else (0.02, 0.05, 0.08, 0.1, 0.12, 0.138, 0.15, 0.17, 0.2, 0.25, 0.3)
    samples = 60 if fast else 100
    overlap, retrieved = [], []
    for alpha in alphas:
        P = max(1, round(alpha * N))
        m = []
        for _ in range(math.ceil(samples / P)):
            xi = random_patterns(P, N, gen)
            r = tr.zoo.recall_asynchronous(tr.zoo.hebbian_weights(xi), xi, generator=gen)
            m.append((r.states * xi).mean(1))
        m = torch.cat(m)
        overlap.append(m.mean())
        retrieved.append((m > 0.95).double().mean())
    a_theory, m_theory, alpha_c = ags_retrieval_branch()
    results["capacity"] = {
        "N": N,
        "alphas": alphas,
        "mean_overlap": overlap,
        "fraction_retrieved": retrieved,
        "alpha_c_theory": alpha_c,
    }
    ax_cap.plot(alphas, overlap, "o-", label=f"mean overlap m after recall (N = {N})")
    ax_cap.plot(alphas, retrieved, "s--", label="fraction with m > 0.95")
    ax_cap.plot(a_theory, m_theory, "k-", lw=1, label="theory m(α), Amit et al. 1985 (N → ∞)")
    ax_cap.axvline(alpha_c, color="C3", lw=1, ls=":")
    ax_cap.text(alpha_c + 0.003, 0.05, f"α_c = {alpha_c:.3f}", color="C3")
    ax_cap.set(
        title="capacity: recall from a stored pattern vs load α = P/N",
        xlabel="α = P / N",
        ylabel="overlap / fraction",
        ylim=(-0.03, 1.05),
    )
    ax_cap.legend(fontsize=8, loc="lower left")
    return save(fig, results, out, "hopfield")


if __name__ == "__main__":
    cli(main, __doc__.splitlines()[0])
