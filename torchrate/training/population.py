r"""A population of trained networks compared: fixed-point topology, geometry and dynamics.

:func:`analyze_population` is what ``torchrate sweep`` runs on the checkpoints of its trials
(also usable on any runs of ``torchrate fit`` on one task). Every network is run on the same
held-out trials of the task (drawn once, with ``seed``), from its own checkpoint, and compared
pairwise with :mod:`torchrate.analysis.population` (Maheswaranathan et al. 2019):

* topology — the fixed points at zero input and which attractors each saddle joins
  (:func:`~torchrate.analysis.population.topology`); networks whose WL signatures are equal
  share a topology;
* geometry — the mean canonical correlation (:func:`~torchrate.analysis.population.cca`; SVCCA
  with ``keep``) and the angular Procrustes distance
  (:func:`~torchrate.analysis.population.procrustes_distance`) of their rates;
* dynamics — DSA (:func:`~torchrate.analysis.population.dsa`) of their rates.

Each distance matrix is embedded in two dimensions by classical MDS
(:func:`~torchrate.analysis.population.mds`), coloured by a label (an architecture or a
hyper-parameter). Written into ``out``: ``distances.png``, ``mds.png``, ``topology.png``,
``cca.csv``, ``procrustes.csv``, ``dsa.csv``, ``mds.csv``, ``population.json`` and
``population.md``.
"""

from __future__ import annotations

import copy
import csv
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from .. import _validate

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..analysis.population import Topology
    from ..tasks import Task
    from .module import TaskModule

__all__ = ["analyze_population"]

MEASURES = ("cca", "procrustes", "dsa")
_TITLES = {
    "cca": "1 − mean CCA",
    "procrustes": "Procrustes angle (rad)",
    "dsa": "DSA angle (rad)",
}


def analyze_population(
    checkpoints: Sequence[str | Path],
    out: str | Path,
    *,
    names: Sequence[str] | None = None,
    labels: Sequence[Mapping[str, Any]] | None = None,
    color_by: str | None = None,
    n_trials: int = 64,
    seed: int = 0,
    keep: float | None = 0.99,
    dsa: bool = True,
    rank: int | None = None,
    n_delays: int = 1,
    n_initial: int = 256,
) -> dict[str, Any]:
    r"""Compare the networks of several ``torchrate fit`` checkpoints on the same trials.

    For P networks with rates :math:`X_i` (T, B, N_i) on the same B trials of the task:

    .. math::
        D^{\mathrm{cca}}_{ij} = 1 - \overline{\rho}(X_i, X_j), \quad
        D^{\mathrm{proc}}_{ij} = d_{\angle}(X_i, X_j), \quad
        D^{\mathrm{dsa}}_{ij} = \min_{C \in O(r)} \angle(A_i, C A_j C^\top)

    each (P, P), symmetric with a zero diagonal (a network compared with itself), and each
    embedded by MDS into (P, 2).

    Parameters
    ----------
    checkpoints : sequence of paths, length P ≥ 1
        ``.ckpt`` files written by ``torchrate fit``, of one network each (not ensembles), all
        trained on the same task (the same ``task.config()``).
    out : path
        The folder to write into (created).
    names : sequence of str, length P, optional
        A short name per network (default ``net0``, ``net1``, …).
    labels : sequence of dict, length P, optional
        Per network, values to colour the embeddings by and list in ``population.md`` (a sweep
        passes the swept config values).
    color_by : str, optional
        The key of ``labels`` that colours the MDS embeddings; default the first key whose value
        differs between networks (none: one colour).
    n_trials : int ≥ 1
        Held-out trials, drawn from the task with ``seed``.
    seed : int
        Seeds the trials, the network noise (if any), the initial states of the fixed-point
        search and DSA's random starts.
    keep : float in (0, 1] or None
        Share of variance kept per network before CCA (SVCCA); None: plain CCA.
    dsa : bool
        Compute the DSA matrix (the slow one: P(P−1)/2 optimisations over O(rank)).
    rank : int ≥ 1, optional
        DSA's DMD rank; default min(6, the smallest N·n_delays).
    n_delays : int ≥ 1
        DSA's delay embedding.
    n_initial : int ≥ 1
        Initial states of each fixed-point search, drawn from the network's trajectories.

    Returns
    -------
    dict
        The content of ``population.json``: ``names``, ``labels``, ``topology`` (per network the
        counts by kind and the signature; ``groups``: networks sharing a signature; ``agree``),
        ``distances`` (each measure's (P, P) matrix as lists), ``separation`` (per measure, with
        ``color_by``: the mean distance ``within`` and ``between`` its groups, and how many networks
        have their nearest other network in their own group, ``nearest_in_group`` of ``of``; None
        without ``color_by``), ``mds`` ((P, 2) per measure), ``files``.
    """
    checkpoints = _check_checkpoints(checkpoints)
    _validate.check_path("out", out, fix="the folder to write the population analysis into")
    P = len(checkpoints)
    names = _check_names(names, P)
    labels = _check_labels(labels, P)
    color_by = _check_color_by(color_by, labels)
    options = check_options(
        n_trials=n_trials, seed=seed, keep=keep, dsa=dsa, rank=rank, n_delays=n_delays, n_initial=n_initial
    )
    n_trials, seed, keep, dsa, rank, n_delays, n_initial = options.values()

    missing = [str(c) for c in checkpoints if not c.is_file()]
    if missing:
        raise FileNotFoundError(
            f"checkpoints: {missing[0]!r} is not a file; give .ckpt files written by `torchrate fit`"
        )
    networks, task = _load(checkpoints)
    from .data import draw_batch

    inputs = draw_batch(task, n_trials, seed)[0]
    rates = [_rates(module, inputs, seed) for module in networks]
    topologies = [_topology(module.network, inputs, R, n_initial, seed) for module, R in zip(networks, rates)]
    if rank is None:
        rank = min(6, min(R.shape[-1] for R in rates) * n_delays)
    distances = {"cca": _matrix(rates, lambda X, Y: 1 - float(_cca(X, Y, keep).mean()))}
    from ..analysis import population as pop

    distances["procrustes"] = _matrix(rates, lambda X, Y: float(pop.procrustes_distance(X, Y)))
    if dsa:
        g = torch.Generator().manual_seed(seed)
        distances["dsa"] = _matrix(
            rates, lambda X, Y: float(pop.dsa(X, Y, rank=rank, n_delays=n_delays, generator=g).distance)
        )
    embeddings = {k: pop.mds(D, 2) for k, D in distances.items()}
    colours = [lab.get(color_by) for lab in labels] if color_by is not None else None

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    groups = _groups([t.signature for t in topologies])
    summary = {
        "names": names,
        "labels": labels,
        "color_by": color_by,
        "checkpoints": [str(c) for c in checkpoints],
        "n_trials": n_trials,
        "seed": seed,
        "keep": keep,
        "dsa": {"rank": rank, "n_delays": n_delays} if dsa else None,
        "topology": {
            "networks": [{"counts": t.counts, "signature": t.signature} for t in topologies],
            "groups": [[names[i] for i in g] for g in groups],
            "agree": len(groups) == 1,
        },
        "distances": {k: D.tolist() for k, D in distances.items()},
        "separation": {k: _separation(D, colours) for k, D in distances.items()} if colours else None,
        "mds": {k: E.tolist() for k, E in embeddings.items()},
    }
    for k, D in distances.items():
        _write_matrix(out / f"{k}.csv", names, D)
    _write_embeddings(out / "mds.csv", names, embeddings)
    _save(_distances_figure(distances, names, colours), out / "distances.png")
    _save(_mds_figure(embeddings, names, colours, color_by), out / "mds.png")
    _save(_topology_figure(topologies, names, groups), out / "topology.png")
    files = [*(f"{k}.csv" for k in distances), "mds.csv", "distances.png", "mds.png", "topology.png"]
    summary["files"] = [*files, "population.json", "population.md"]
    (out / "population.json").write_text(json.dumps(summary, indent=2))
    (out / "population.md").write_text(_markdown(summary, distances))
    return summary


# ---------------------------------------------------------------------- checks
def check_options(
    *, n_trials: object, seed: object, keep: object, dsa: object, rank: object, n_delays: object, n_initial: object
) -> dict[str, Any]:
    """The numeric options of :func:`analyze_population`, checked (also what ``torchrate sweep``
    checks its ``analysis:`` section with, before any trial runs)."""
    n_trials = _validate.as_int("n_trials", n_trials, minimum=1, fix="held-out trials to compare the networks on")
    seed = _validate.as_seed("seed", seed)
    if keep is not None:
        keep = _validate.check_probability("keep", keep, fix="a share of variance in (0, 1], or None for plain CCA")
        if keep == 0:
            raise ValueError("keep must be a share of variance in (0, 1], or None for plain CCA, got 0.0")
    _validate.check_flag("dsa", dsa, fix="False skips the DSA matrix")
    if rank is not None:
        rank = _validate.as_int("rank", rank, minimum=1, fix="the DMD rank of DSA, or None for min(6, N·n_delays)")
    n_delays = _validate.as_int("n_delays", n_delays, minimum=1)
    n_initial = _validate.as_int("n_initial", n_initial, minimum=1, fix="initial states of the fixed-point search")
    return dict(n_trials=n_trials, seed=seed, keep=keep, dsa=dsa, rank=rank, n_delays=n_delays, n_initial=n_initial)


def _check_checkpoints(checkpoints: object) -> list[Path]:
    if isinstance(checkpoints, (str, Path)) or not isinstance(checkpoints, Sequence) or not checkpoints:
        raise TypeError(
            f"checkpoints must be a non-empty list of .ckpt paths (one network each), got "
            f"{_validate._show(checkpoints)}"
        )
    for c in checkpoints:
        _validate.check_path("checkpoints[i]", c, fix="a .ckpt written by `torchrate fit`")
    return [Path(c) for c in checkpoints]


def _check_names(names: object, P: int) -> list[str]:
    if names is None:
        return [f"net{i}" for i in range(P)]
    if isinstance(names, str) or not isinstance(names, Sequence) or len(names) != P:
        raise ValueError(f"names must be a list of {P} strings (one per checkpoint), got {_validate._show(names)}")
    if not all(isinstance(n, str) and n for n in names) or len(set(names)) != P:
        raise ValueError(f"names must be {P} distinct non-empty strings, got {list(names)!r}")
    return list(names)


def _check_labels(labels: object, P: int) -> list[dict[str, Any]]:
    if labels is None:
        return [{} for _ in range(P)]
    if isinstance(labels, (str, Mapping)) or not isinstance(labels, Sequence) or len(labels) != P:
        raise ValueError(f"labels must be a list of {P} dicts (one per checkpoint), got {_validate._show(labels)}")
    if not all(isinstance(lab, Mapping) for lab in labels):
        raise TypeError(f"labels must be a list of dicts (one per checkpoint), got {_validate._show(labels)}")
    return [dict(lab) for lab in labels]


def _check_color_by(color_by: object, labels: list[dict[str, Any]]) -> str | None:
    keys = list(dict.fromkeys(k for lab in labels for k in lab))
    if color_by is None:
        return next((k for k in keys if len(set(_group_keys([lab.get(k) for lab in labels]))) > 1), None)
    if not isinstance(color_by, str) or color_by not in keys:
        raise ValueError(f"color_by must be one of the labels' keys {keys}, or None, got {_validate._show(color_by)}")
    return color_by


def _group_keys(colours: Sequence[Any]) -> list[str]:
    """Each network's group: its ``color_by`` value as ``repr`` (1 and "1" are two groups; the
    table, the distance figure and the MDS figure group alike)."""
    return [repr(c) for c in colours]


# ---------------------------------------------------------------------- networks
def _load(checkpoints: list[Path]) -> tuple[list[TaskModule], Task]:
    from .report import load_checkpoint

    modules: list[TaskModule] = []
    task: Task | None = None
    first: Path | None = None
    for path in checkpoints:
        module, _ = load_checkpoint(path)
        if getattr(module, "is_ensemble", False):
            raise ValueError(
                f"checkpoints: {str(path)!r} holds an ensemble of {len(module.network)} networks; "
                "analyze_population compares runs of one network each"
            )
        if task is None:
            task, first = module.task, path
        elif module.task.config() != task.config():
            raise ValueError(
                f"checkpoints must all be trained on the same task, to compare them on the same trials: "
                f"{str(path)!r} has {module.task.config()}, {str(first)!r} has {task.config()}"
            )
        modules.append(module.eval())
    if task is None:  # pragma: no cover - _check_checkpoints refuses an empty list
        raise ValueError("checkpoints must name at least one checkpoint")
    return modules, task


def _rates(module: TaskModule, inputs: Tensor, seed: int) -> Tensor:
    """The network's rates (T, B, N) on ``inputs``, float64 on the CPU; its noise (if any) drawn
    from a generator seeded with ``seed``."""
    network = module.network
    ref = next(module.parameters())
    has_generator = hasattr(network, "generator")
    saved = network.generator if has_generator else None
    if has_generator:
        network.generator = torch.Generator(ref.device).manual_seed(seed)
    try:
        with torch.no_grad():
            _, rates = module(inputs.to(device=ref.device, dtype=ref.dtype))
    finally:
        if has_generator:
            network.generator = saved
    return rates.detach().to("cpu", torch.float64)


def _topology(network: nn.Module, inputs: Tensor, R: Tensor, n_initial: int, seed: int) -> Topology:
    """Fixed points at zero input, started from states of the network's trajectories on
    ``inputs`` (T, B, I) — its rates ``R`` (T, B, N), or an LSTM's (h, c) — and their graph."""
    import torchrate as tr

    from .report import _state_trajectories

    net = copy.deepcopy(network).to(device="cpu", dtype=torch.float64)
    for p in net.parameters():
        p.requires_grad_(False)
    S = _state_trajectories(net, inputs, R)
    states = S.reshape(-1, S.shape[-1])
    pick = torch.randperm(states.shape[0], generator=torch.Generator().manual_seed(seed))[:n_initial]
    u0 = torch.zeros(inputs.shape[-1], dtype=torch.float64)
    fps = tr.analysis.find_fixed_points(net, u0, states[pick])
    return tr.analysis.population.topology(net, fps, u0)


def _cca(X: Tensor, Y: Tensor, keep: float | None) -> Tensor:
    from ..analysis import population as pop

    return pop.cca(X, Y, keep=keep)


def _separation(D: Tensor, colours: list[Any]) -> dict[str, Any]:
    """Whether a distance matrix D (P, P) separates the groups of networks with equal
    ``colours`` (a swept key's values): the mean distance within groups and between them, and
    how many networks have their nearest other network in their own group (of those whose group
    has another member). Within/nearest are None where no group has two members."""
    keys = _group_keys(colours)
    P = len(keys)
    same = torch.tensor([[keys[i] == keys[j] for j in range(P)] for i in range(P)])
    off = ~torch.eye(P, dtype=torch.bool)
    within, between = D[same & off], D[~same]
    nearest = D.masked_fill(~off, math.inf).argmin(dim=1)
    has_peer = (same & off).any(dim=1)
    return {
        "within": float(within.mean()) if within.numel() else None,
        "between": float(between.mean()) if between.numel() else None,
        "nearest_in_group": int(same[torch.arange(P), nearest][has_peer].sum()) if has_peer.any() else None,
        "of": int(has_peer.sum()),
    }


def _matrix(rates: list[Tensor], distance: Callable[[Tensor, Tensor], float]) -> Tensor:
    """The symmetric (P, P) matrix of ``distance`` over pairs; 0 on the diagonal."""
    P = len(rates)
    D = torch.zeros(P, P, dtype=torch.float64)
    for i in range(P):
        for j in range(i + 1, P):
            d = distance(rates[i], rates[j])
            if not math.isfinite(d):  # never a NaN in the tables: say which pair
                raise FloatingPointError(f"the distance between networks {i} and {j} is {d}: are their rates finite?")
            D[i, j] = D[j, i] = max(d, 0.0)
    return D


def _groups(signatures: list[str]) -> list[list[int]]:
    """Indices of networks sharing a topology signature, largest group first."""
    by: dict[str, list[int]] = {}
    for i, s in enumerate(signatures):
        by.setdefault(s, []).append(i)
    return sorted(by.values(), key=lambda g: (-len(g), g[0]))


# ---------------------------------------------------------------------- files
def _write_matrix(path: Path, names: list[str], D: Tensor) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["", *names])
        for name, row in zip(names, D.tolist()):
            w.writerow([name, *(f"{x:.6g}" for x in row)])


def _write_embeddings(path: Path, names: list[str], embeddings: dict[str, Tensor]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", *(f"{k}_{a}" for k in embeddings for a in (1, 2))])
        for i, name in enumerate(names):
            w.writerow([name, *(f"{float(E[i, a]):.6g}" for E in embeddings.values() for a in (0, 1))])


def _markdown(summary: dict[str, Any], distances: dict[str, Tensor]) -> str:
    names, topo = summary["names"], summary["topology"]
    P = len(names)
    lines = [
        "# Population analysis",
        "",
        f"{P} networks on the same {summary['n_trials']} held-out trials (seed {summary['seed']}).",
        "",
        "## Fixed-point topology (zero input)",
        "",
        f"Topologies {'agree' if topo['agree'] else 'differ'}: {len(topo['groups'])} group(s) of networks sharing a "
        "fixed-point graph (same counts by kind and the same saddle–attractor connections).",
        "",
        "| group | networks | fixed points |",
        "|---|---|---|",
    ]
    index = {n: i for i, n in enumerate(names)}
    for k, group in enumerate(topo["groups"]):
        counts = topo["networks"][index[group[0]]]["counts"]
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "none"
        lines.append(f"| {chr(65 + k) if k < 26 else k} | {', '.join(group)} | {kinds} |")
    lines += [
        "",
        "## Geometry and dynamics",
        "",
        "Mean over pairs of networks (0 = the same up to the invariances):",
        "",
    ]
    lines += ["| measure | mean | min | max |", "|---|---|---|---|"]
    for measure, D in distances.items():
        off = D[~torch.eye(P, dtype=torch.bool)] if P > 1 else D.new_zeros(1)
        lines.append(
            f"| {_title(measure, summary)} | {float(off.mean()):.3g} | {float(off.min()):.3g} "
            f"| {float(off.max()):.3g} |"
        )
    separation = summary.get("separation")
    if separation and any(s["within"] is not None and s["between"] is not None for s in separation.values()):
        key = summary["color_by"]
        lines += [
            "",
            f"Grouped by `{key}`: mean distance within groups and between them, and how many networks "
            "have their nearest other network in their own group:",
            "",
            "| measure | within | between | nearest in own group |",
            "|---|---|---|---|",
        ]
        for k, sep in separation.items():
            if sep["within"] is None or sep["between"] is None:
                continue
            nearest = f"{sep['nearest_in_group']}/{sep['of']}"
            lines.append(f"| {_title(k, summary)} | {sep['within']:.3g} | {sep['between']:.3g} | {nearest} |")
    lines += ["", "![distances](distances.png)", "", "![mds](mds.png)", "", "![topology](topology.png)", ""]
    if any(summary["labels"]):
        keys = list(dict.fromkeys(k for lab in summary["labels"] for k in lab))
        lines += ["## Networks", "", "| name | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for name, lab in zip(names, summary["labels"]):
            lines.append(f"| {name} | " + " | ".join(str(lab.get(k, "")) for k in keys) + " |")
        lines.append("")
    return "\n".join(lines)


def _title(measure: str, summary: dict[str, Any]) -> str:
    if measure == "cca" and summary.get("keep") is not None:
        return f"1 − mean SVCCA ({summary['keep']:g} of the variance)"
    return _TITLES[measure]


# ---------------------------------------------------------------------- figures
def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=110, bbox_inches="tight")


def _distances_figure(distances: dict[str, Tensor], names: list[str], colours: list[Any] | None = None) -> Figure:
    """The matrices, rows and columns ordered by ``colours`` (a swept key's values, in order of
    first appearance) with a line between groups, so that blocks on the diagonal show groups."""
    from .report import _subplots

    keys = _group_keys(colours) if colours is not None else [""] * len(names)
    rank = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    order = sorted(range(len(names)), key=lambda i: rank[keys[i]])
    edges = [j - 0.5 for j in range(1, len(order)) if keys[order[j]] != keys[order[j - 1]]]
    n = len(distances)
    fig, axes = _subplots(1, n, figsize=(4.2 * n, 3.8), squeeze=False)
    for ax, (k, D) in zip(axes[0], distances.items()):
        im = ax.imshow(D[order][:, order].numpy(), cmap="viridis", vmin=0)
        for e in edges:
            ax.axhline(e, color="white", lw=1)
            ax.axvline(e, color="white", lw=1)
        ax.set_title(_TITLES[k], fontsize=10)
        ticks = range(len(names))
        ax.set_xticks(ticks, [names[i] for i in order], rotation=90, fontsize=7)
        ax.set_yticks(ticks, [names[i] for i in order], fontsize=7)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)


def _mds_figure(
    embeddings: dict[str, Tensor], names: list[str], colours: list[Any] | None, color_by: str | None
) -> Figure:
    from .report import _subplots

    n = len(embeddings)
    fig, axes = _subplots(1, n, figsize=(4.2 * n, 3.8), squeeze=False)
    categories = None
    if colours is not None and not _numeric(colours):
        groups = _group_keys(colours)
        value = dict(zip(groups, colours))  # each group's value, in order of first appearance
        printed = [str(v) for v in value.values()]
        # each group's label: its value printed, or its repr where two groups print alike (1 and "1")
        categories = {g: str(v) if printed.count(str(v)) == 1 else g for g, v in value.items()}
    for ax, (k, E) in zip(axes[0], embeddings.items()):
        x, y = E[:, 0].numpy(), E[:, 1].numpy()
        if colours is None:
            ax.scatter(x, y, s=40, color="tab:blue")
        elif categories is None:
            sc = ax.scatter(x, y, s=40, c=[float(c) for c in colours], cmap="viridis")
            fig.colorbar(sc, ax=ax, shrink=0.8, label=(color_by or "").rsplit(".", 1)[-1])
        else:
            for j, (group, label) in enumerate(categories.items()):
                pick = [i for i, g in enumerate(groups) if g == group]
                ax.scatter(x[pick], y[pick], s=40, color=f"C{j % 10}", label=_short(label, 60))
        for i, name in enumerate(names):
            ax.annotate(name, (x[i], y[i]), fontsize=6, xytext=(3, 3), textcoords="offset points")
        ax.set_aspect("equal", adjustable="datalim")  # distances on the page are the embedding's
        ax.set_title(f"MDS of {_TITLES[k]}", fontsize=10)
        ax.set_xlabel("MDS 1")
        ax.set_ylabel("MDS 2")
    if categories is not None:  # one legend for all panels, below them, covering no point
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(
            handles,
            labels,
            loc="lower center",
            ncol=min(len(categories), 3),
            fontsize=7,
            title=(color_by or "").rsplit(".", 1)[-1],
            title_fontsize=7,
            frameon=False,
        )
        fig.tight_layout(rect=(0, 0.06 + 0.04 * math.ceil(len(categories) / 3), 1, 1))
    else:
        fig.tight_layout()
    return fig


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _topology_figure(topologies: list[Topology], names: list[str], groups: list[list[int]]) -> Figure:
    from .report import _subplots

    kinds = list(dict.fromkeys(k for t in topologies for k in sorted(t.counts)))
    fig, ax = _subplots(1, 1, figsize=(max(4.0, 0.6 * len(names) + 2), 3.6))
    group_of = {i: k for k, g in enumerate(groups) for i in g}
    bottom = [0] * len(names)
    for j, kind in enumerate(kinds):
        heights = [t.counts.get(kind, 0) for t in topologies]
        ax.bar(range(len(names)), heights, bottom=bottom, color=f"C{j % 10}", label=kind)
        bottom = [b + h for b, h in zip(bottom, heights)]
    ticks = [f"{n}\n({chr(65 + group_of[i]) if group_of[i] < 26 else group_of[i]})" for i, n in enumerate(names)]
    ax.set_xticks(range(len(names)), ticks, fontsize=7)
    ax.set_ylabel("fixed points at u = 0")
    ax.set_title(f"fixed-point topology: {len(groups)} group(s), lettered under each network", fontsize=9)
    ax.yaxis.get_major_locator().set_params(integer=True)
    if kinds:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
