"""Host memory kept between calls for the Euler rollout's large buffers (rates, saved pre-activations).

A newly allocated CPU tensor of many megabytes gets its pages from the operating system on first
touch. glibc returns such blocks to the OS when they are freed (above its mmap threshold, at most
32 MB, and when the top of the heap is trimmed), so a training loop that allocates the same
(K, T, B, N) rates every step pays one page fault per 4 KiB on every step: on the 2-core VM the
ensemble benchmark ran on, about 5 µs each, ~35 ms for an ensemble's two 26 MB buffers — as long
as the step's arithmetic. One network's much smaller buffers are reused by the allocator instead.

:func:`empty` hands out CPU tensors of at least ``MIN_BYTES`` from buffers kept here: each tensor
holds a lease (a ``memoryview`` of its buffer, through ``torch.frombuffer``), and when the last
tensor or view using the lease is freed the buffer becomes free for the next request of the same
size. Nothing is reused while any tensor (a view, a tensor saved for backward) still uses it.
Free buffers are kept for the ``SIZES`` most recently requested sizes; :func:`release` drops every
free buffer. Elsewhere (other devices, small tensors) it is ``torch.empty``. The tensors' storage
cannot be resized (``resize_`` raises).
"""

from __future__ import annotations

import functools
import math
import threading
import weakref

import torch
from torch import Tensor

__all__ = ["empty", "release", "MIN_BYTES", "SIZES"]

MIN_BYTES = 1 << 22  # smaller tensors come from torch's allocator, which glibc serves without new pages
SIZES = 4  # free buffers are kept for this many of the most recently requested sizes
_ALIGN = 64  # bytes, as torch's own CPU allocator

_lock = threading.RLock()  # re-entrant: a lease can die (and call _free) while the lock is held
_idle: dict[int, list[bytearray]] = {}  # size in bytes → buffers no tensor uses, least recently asked first
_leases: dict[int, weakref.ref[memoryview]] = {}  # the weak references whose callbacks return buffers (by id: a
# writable memoryview, and so a weak reference to one, cannot be hashed)


def empty(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device, min_bytes: int | None = None) -> Tensor:
    """An uninitialised tensor, like ``torch.empty(shape, dtype=dtype, device=device)``; from kept
    memory from ``min_bytes`` (default ``MIN_BYTES``) on."""
    itemsize = dtype.itemsize
    nbytes = math.prod(shape) * itemsize
    if torch.device(device).type != "cpu" or nbytes < (MIN_BYTES if min_bytes is None else min_bytes):
        return torch.empty(shape, dtype=dtype, device=device)
    with _lock:
        idle = _idle.pop(nbytes, [])
        _idle[nbytes] = idle  # now the most recently asked size
        while len(_idle) > SIZES:
            del _idle[next(iter(_idle))]
        buf = idle.pop() if idle else bytearray(nbytes + _ALIGN)
        lease = memoryview(buf)
        ref = weakref.ref(lease, functools.partial(_free, buf=buf, nbytes=nbytes))
        _leases[id(ref)] = ref
    offset = -torch.frombuffer(lease, dtype=torch.uint8, count=1).data_ptr() % _ALIGN
    return torch.frombuffer(lease, dtype=dtype, count=nbytes // itemsize, offset=offset).view(shape)


def _free(ref: weakref.ref[memoryview], buf: bytearray, nbytes: int) -> None:
    with _lock:
        _leases.pop(id(ref), None)
        if nbytes in _idle:  # a size no longer kept: the buffer goes back to the allocator
            _idle[nbytes].append(buf)


def release() -> None:
    """Drop every buffer no tensor uses (returning the memory to the allocator)."""
    with _lock:
        _idle.clear()
