"""Owns processing time: the `Clock` the executor reads and waits on. Operators never read
wall time or sleep; they get "now" from the executor. `SystemClock` is epoch milliseconds;
`ManualClock` (the testing kit's) only moves when told to, or jumps straight to the next
deadline when the job would otherwise wait (like trio's autojump clock)."""

from __future__ import annotations

import time


class Clock:
    def now(self) -> int:
        raise NotImplementedError

    def wait_until(self, deadline_ms: int) -> None:
        """Block (or jump) until `deadline_ms`; may return early."""
        raise NotImplementedError

    @property
    def is_manual(self) -> bool:
        return False


class SystemClock(Clock):
    def now(self) -> int:
        return int(time.time() * 1000)

    def wait_until(self, deadline_ms: int) -> None:
        delay = deadline_ms - self.now()
        if delay > 0:
            time.sleep(min(delay, 50) / 1000)


class ManualClock(Clock):
    """Deterministic processing time. `autojump` lets an idle job jump to its next deadline."""

    def __init__(self, start_ms: int = 0, autojump: bool = True) -> None:
        self._now = start_ms
        self.autojump = autojump

    def now(self) -> int:
        return self._now

    def advance(self, millis: int) -> None:
        self._now += millis

    def set(self, now_ms: int) -> None:
        if now_ms < self._now:
            raise ValueError("a ManualClock does not go backwards")
        self._now = now_ms

    def wait_until(self, deadline_ms: int) -> None:
        if self.autojump and deadline_ms > self._now:
            self._now = deadline_ms

    @property
    def is_manual(self) -> bool:
        return True
