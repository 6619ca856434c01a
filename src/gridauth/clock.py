"""Time as gridauth sees it: one injectable clock, so expiry can be tested without sleeping."""

from __future__ import annotations

import time


class Clock:
    """Wall-clock seconds since the epoch, plus an offset that tests may move forward."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def now(self) -> int:
        """The current time in whole seconds."""
        return int(time.time() + self.offset)

    def advance(self, seconds: float) -> None:
        """Move this clock forward (tests only: e.g. past a 12-hour refresh-token lifetime)."""
        self.offset += seconds
