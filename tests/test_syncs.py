"""Host reads (device syncs on a GPU) per rollout and per training step do not grow with T.

On a GPU every read of a tensor's value by Python — ``.item()``, ``.tolist()``, ``.cpu()``,
``bool(t)``, ``int(t)``, ``float(t)``, ``.nonzero()`` — waits for the device. The test counts
those calls (Tensor methods replaced by counting wrappers) on the CPU, for a rollout of T = 10
and of T = 100 steps: the counts must be equal (no read inside the time loop) and small. What
remains, each once per call, independently of T:

* ``check_finite`` (on by default): one ``bool`` of the summed rates per forward, to raise
  :class:`~torchrate.NonFiniteRatesError` naming the step (the ensemble: one per forward too);
* the fused Euler op reads a shared ``dt/τ`` with ``.item()`` once in forward and once in
  backward — only when it lives on the CPU (a Python float makes cheaper kernels there); on a
  GPU the kernels take the tensor, no read (checked by ``test_no_sync_on_cuda``);
* Adam reads its CPU step counters (one per parameter): CPU tensors also on a GPU run, no sync.

The ODE path (``solver="dopri5"``, torchdiffeq) is left out: adaptive step-size control reads
the error norm on the host at every step, so its reads grow with the number of solver steps
(``test_ode_path_reads_grow_with_steps`` records that it does).
"""

import contextlib
import traceback
from collections import Counter

import lightning as L
import pytest
import torch

import torchrate as tr
from torchrate.training import TaskDataModule, TaskModule

READS = ("item", "tolist", "cpu", "numpy", "nonzero", "__bool__", "__int__", "__float__", "__index__")


@contextlib.contextmanager
def counting_reads():
    """Count the host reads of tensor values made from Python; yields a Counter of
    ``"method @ file:function"`` (the caller's frame, for the message of a failing assert)."""
    counts = Counter()
    originals = {name: getattr(torch.Tensor, name) for name in READS}

    def wrapper(name, original):
        def read(self, *args, **kwargs):
            caller = traceback.extract_stack(limit=2)[0]
            counts[f"{name} @ {caller.filename.rsplit('/', 1)[-1]}:{caller.name}"] += 1
            return original(self, *args, **kwargs)

        return read

    for name, original in originals.items():
        setattr(torch.Tensor, name, wrapper(name, original))
    try:
        yield counts
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


def reads(run, T: int) -> Counter:
    """The host reads of ``run(T)`` (after one untimed call, which may build caches)."""
    run(T)
    with counting_reads() as counts:
        run(T)
    return counts


def forward_backward(net, T: int, B: int = 4):
    u = torch.randn(T, B, net.input_size if hasattr(net, "input_size") else net.template.input_size)
    rates, _ = net(u)
    rates.square().sum().backward()


def _unchecked(net):
    net.check_finite = False  # an attribute: no NaN check after the rollout, no read
    return net


NETWORKS = {
    "RateRNN euler": lambda: tr.RateRNN(3, 16, tau=10.0, dt=1.0),
    "RateRNN euler, noise": lambda: tr.RateRNN(
        3, 16, tau=10.0, dt=1.0, noise_std=0.1, generator=torch.Generator().manual_seed(0)
    ),
    "RateRNN euler, 2 layers": lambda: tr.RateRNN(3, 16, num_layers=2, tau=10.0, dt=1.0),
    "RateRNN euler, no check_finite": lambda: _unchecked(tr.RateRNN(3, 16, tau=10.0, dt=1.0)),
    "EIRateRNN": lambda: tr.EIRateRNN(3, n_exc=12, n_inh=4, tau_e=20.0, tau_i=10.0, dt=1.0),
    "Ensemble": lambda: tr.Ensemble([tr.RateRNN(3, 16, tau=10.0, dt=1.0) for _ in range(3)]),
    "Ensemble, noise": lambda: tr.Ensemble(
        [
            tr.RateRNN(3, 16, tau=10.0, dt=1.0, noise_std=0.1, generator=torch.Generator().manual_seed(k))
            for k in range(3)
        ]
    ),
}
# reads per forward+backward: check_finite's bool, and a shared dt/τ read once each way on the CPU
# (for an ensemble: whether its members share one dt/τ, and its value; on CUDA dt/τ stays a tensor)
EXPECTED = {
    "RateRNN euler": 3,
    "RateRNN euler, noise": 3,
    "RateRNN euler, 2 layers": 5,
    "RateRNN euler, no check_finite": 2,
    "EIRateRNN": 1,
    "Ensemble": 5,
    "Ensemble, noise": 5,
}


@pytest.mark.parametrize("name", NETWORKS)
def test_rollout_reads_do_not_grow_with_steps(name):
    torch.manual_seed(0)
    net = NETWORKS[name]()
    short, long = reads(lambda T: forward_backward(net, T), 10), reads(lambda T: forward_backward(net, T), 100)
    assert short == long, f"host reads grow with T: T=10 {dict(short)}, T=100 {dict(long)}"
    assert sum(long.values()) == EXPECTED[name], dict(long)


def test_ode_path_reads_grow_with_steps():
    """Documented exception: torchdiffeq's adaptive control reads every step's error on the host."""
    torch.manual_seed(0)
    net = tr.RateRNN(3, 8, tau=10.0, dt=1.0, solver="dopri5")
    short, long = reads(lambda T: forward_backward(net, T), 10), reads(lambda T: forward_backward(net, T), 100)
    assert sum(long.values()) > 2 * sum(short.values())


def _fit_reads(T: int, steps: int, ensemble: int | None = None) -> Counter:
    task = tr.tasks.FlipFlop(n_bits=2, dt=10.0, duration=10.0 * T)
    spec = {
        "class_path": "torchrate.RateRNN",
        "init_args": {"hidden_size": 16, "tau": 20.0, "dt": 10.0, "noise_std": 0.05},
    }
    module = TaskModule(task, spec, ensemble=ensemble, network_seed=0)
    data = TaskDataModule(task, batch_size=8, train_batches=steps, seed=0)
    trainer = L.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        log_every_n_steps=1000,
        accelerator="cpu",
        devices=1,
    )
    with counting_reads() as counts:
        trainer.fit(module, data)
    return counts


@pytest.mark.parametrize("ensemble", [None, 2], ids=["single", "ensemble"])
def test_training_step_reads_do_not_grow_with_steps_or_T(ensemble):
    """A Lightning fit of TaskModule: the reads per training step (forward, loss, backward,
    clipping, Adam, Lightning's bookkeeping) are the same for T = 10 and T = 100, and each step
    adds only the rollout's reads above and Adam's CPU step counters (one per parameter: 5)."""
    three = {T: _fit_reads(T, 3, ensemble) for T in (10, 100)}
    assert three[10] == three[100], f"T=10 {dict(three[10])}, T=100 {dict(three[100])}"
    six = _fit_reads(10, 6, ensemble)
    per_step = {k: n / 3 for k, n in (six - three[10]).items()}  # three more steps
    # the NaN check, and a shared dt/τ read on the CPU in forward and in backward (an ensemble
    # also checks that its members share it)
    rollout = (
        {"__bool__ @ networks.py:forward": 1, "__bool__ @ _rollout.py:_scalar": 2, "item @ _rollout.py:_scalar": 2}
        if ensemble
        else {"__bool__ @ networks.py:_check_finite": 1, "item @ _rollout.py:_scalar": 2}
    )
    assert per_step == {**rollout, "item @ optimizer.py:_get_value": 5}  # Adam's CPU step counters


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", ["RateRNN euler, no check_finite", "EIRateRNN", "Ensemble"])
def test_no_sync_on_cuda(name):
    """On a GPU the rollout's forward and backward make no synchronising call at all (the
    Ensemble and EIRateRNN with their NaN check off)."""
    torch.manual_seed(0)
    net = NETWORKS[name]().cuda()
    for m in net.modules():
        if isinstance(m, tr.RateRNN):
            m.check_finite = False
    u = torch.randn(50, 4, 3, device="cuda")
    forward_backward_cuda = lambda: net(u)[0].square().sum().backward()  # noqa: E731
    forward_backward_cuda()  # warm-up: lazy initialisations may sync once
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        forward_backward_cuda()
    finally:
        torch.cuda.set_sync_debug_mode("default")
