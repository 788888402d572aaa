"""The one progress meter of the analyses: a tqdm bar on stderr, updated only at points where the
computation synchronises with the host anyway (never a sync of its own)."""

from __future__ import annotations

import time
from typing import Any


class Progress:
    """A tqdm bar, or nothing.

    Parameters
    ----------
    enabled : bool or None
        True: shown from the start; False: never; None: shown once the work has lasted ``after``
        seconds (long runs report themselves, short ones stay quiet).
    total : int or None
        Expected number of units (None: a counter without a total).
    desc : str
        The bar's label.
    unit : str
        What one unit is (tqdm's ``unit``).
    bar_format : str, optional
        tqdm's ``bar_format`` (None: tqdm's default, with the rate and the time left).
    """

    def __init__(
        self,
        enabled: bool | None,
        total: int | None,
        desc: str,
        *,
        after: float = 5.0,
        unit: str = "it",
        bar_format: str | None = None,
    ) -> None:
        self.enabled, self.total, self.desc, self.after, self.unit = enabled, total, desc, after, unit
        self.bar_format = bar_format
        self.start = time.perf_counter()
        self.bar: Any = None  # a tqdm bar once shown (tqdm ships no type information)
        self.pending = 0
        self.running: str | None = None  # the named stage in progress (:meth:`stage`)
        if enabled:
            self._open()

    def _open(self) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.total, desc=self.desc, unit=self.unit, bar_format=self.bar_format)
        if self.running is not None:
            self.bar.set_postfix_str(self.running, refresh=False)

    def stage(self, name: str) -> None:
        """Begin the next named stage of the work (one unit of ``total`` each): the stage running
        until now counts as done, and the bar names the new one."""
        self.update(0 if self.running is None else 1)
        self.running = name
        if self.bar is not None:
            self.bar.set_postfix_str(name)

    def update(self, n: int, **postfix: Any) -> None:
        if self.bar is None and self.enabled is None and time.perf_counter() - self.start >= self.after:
            self._open()
            n += self.pending
        if self.bar is None:
            self.pending += n
            return
        self.bar.update(n)
        if postfix:
            self.bar.set_postfix(postfix, refresh=False)

    def close(self, summary: str | None = None) -> None:
        if self.running is not None:  # the last stage is done
            self.update(1)
            self.running = None
        if self.bar is not None:
            if summary:
                self.bar.set_postfix_str(summary, refresh=False)
            self.bar.close()
