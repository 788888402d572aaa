"""The one progress meter of the analyses: a tqdm bar on stderr, updated only at points where the
computation synchronises with the host anyway (never a sync of its own)."""

from __future__ import annotations

import time


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
    """

    def __init__(self, enabled: bool | None, total: int | None, desc: str, *, after: float = 5.0):
        self.enabled, self.total, self.desc, self.after = enabled, total, desc, after
        self.start = time.perf_counter()
        self.bar = None
        self.pending = 0
        if enabled:
            self._open()

    def _open(self) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.total, desc=self.desc, unit="it")

    def update(self, n: int, **postfix) -> None:
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
        if self.bar is not None:
            if summary:
                self.bar.set_postfix_str(summary, refresh=False)
            self.bar.close()
