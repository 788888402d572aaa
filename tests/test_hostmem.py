"""Host memory kept between calls (torchrate._hostmem): never handed out while any tensor uses it."""

from __future__ import annotations

import pytest
import torch

import torchrate as tr
from torchrate import _hostmem

CPU = torch.device("cpu")
F64 = torch.float64


@pytest.fixture
def pooled_everything(monkeypatch):
    """Every buffer from the pool (not only those of 4 MiB and more), starting empty."""
    monkeypatch.setattr(_hostmem, "MIN_BYTES", 0)
    _hostmem.release()
    yield
    _hostmem.release()


def test_buffers_are_reused_only_once_no_tensor_uses_them(pooled_everything):
    a = _hostmem.empty((8, 16), torch.float32, CPU)
    assert a.shape == (8, 16) and a.dtype == torch.float32 and a.is_contiguous() and a.data_ptr() % 64 == 0
    address = a.data_ptr()
    view = a[2:]
    del a
    b = _hostmem.empty((8, 16), torch.float32, CPU)  # a view of the first buffer lives: another one
    assert b.data_ptr() != address
    w = torch.ones(6, 16, requires_grad=True)
    loss = (w * view).sum()  # the view is now also saved for backward
    del view
    c = _hostmem.empty((8, 16), torch.float32, CPU)
    assert c.data_ptr() != address
    loss.backward()  # frees the saved view: the first buffer is free again
    assert _hostmem.empty((8, 16), torch.float32, CPU).data_ptr() == address
    del b, c


def test_small_tensors_and_other_devices_are_plain_torch_empty():
    small = _hostmem.empty((4,), F64, CPU)
    assert small.shape == (4,) and small.dtype == F64
    small.resize_(8)  # an ordinary (resizable) tensor: not from the pool


def test_only_the_most_recent_sizes_are_kept(pooled_everything):
    for n in range(1, _hostmem.SIZES + 3):
        _hostmem.empty((n,), torch.float32, CPU)
    assert sorted(_hostmem._idle) == [4 * n for n in range(3, _hostmem.SIZES + 3)]
    _hostmem.release()
    assert not _hostmem._idle


def test_ensemble_with_pooled_buffers_two_forwards_before_backward_and_retain_graph(pooled_everything):
    """Two forwards whose graphs are alive at once (their rates and saved pre-activations from the
    pool), backward of both, and a second backward with retain_graph: gradients equal the sum of
    each member's own runs (float64)."""
    nets = [tr.RateRNN(3, 6, tau=5.0, dtype=F64, generator=torch.Generator().manual_seed(k)) for k in range(3)]
    ens = tr.Ensemble(nets)
    g = torch.Generator().manual_seed(1)
    u1, u2 = (torch.randn(7, 4, 3, dtype=F64, generator=g) for _ in range(2))
    r1, _ = ens(u1)
    r2, _ = ens(u2)
    loss = r1.square().sum() + (r2 * r1.detach()).sum()
    loss.backward(retain_graph=True)
    loss.backward()  # the saved buffers are still intact: gradients double
    stacked, _ = ens.stacked()
    for k, net in enumerate(nets):
        s1, _ = net(u1)
        s2, _ = net(u2)
        torch.testing.assert_close(r1[k], s1, rtol=0, atol=1e-12)
        torch.testing.assert_close(r2[k], s2, rtol=0, atol=1e-12)
        (2 * (s1.square().sum() + (s2 * s1.detach()).sum())).backward()
        for name, p in net.named_parameters():
            torch.testing.assert_close(stacked[name].grad[k], p.grad, rtol=1e-10, atol=1e-10, msg=name)
