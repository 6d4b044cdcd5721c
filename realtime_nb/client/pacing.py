"""When each chunk of a streamed file is due: a fixed schedule on the monotonic clock.

Chunk ``i`` is due at ``start + i * chunk_s / speed``, computed from the start rather than by adding
a sleep per chunk, so a late wake-up delays one chunk and is not carried into the next ones (no drift
accumulates over a long file). ``speed=0`` means "as fast as the peer takes it": every chunk is due
at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """Due times (seconds, on the same clock as `start`) of consecutive chunks of `chunk_s` audio."""

    start: float
    chunk_s: float
    speed: float = 1.0

    def __post_init__(self) -> None:
        if not (isinstance(self.chunk_s, int | float) and math.isfinite(self.chunk_s) and self.chunk_s > 0):
            raise ValueError(f"chunk duration must be a positive number of seconds, got {self.chunk_s!r}")
        check_speed(self.speed)

    def due(self, index: int) -> float:
        """When chunk `index` (0-based) should be sent."""
        if self.speed == 0:
            return self.start
        return self.start + index * self.chunk_s / self.speed

    def delay(self, index: int, now: float) -> float:
        """How long to wait before sending chunk `index` (0 when it is already due or late)."""
        return max(0.0, self.due(index) - now)


def check_speed(speed: object) -> float:
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not math.isfinite(speed) or speed < 0:
        raise ValueError(f"speed must be a finite number >= 0 (0 = as fast as possible), got {speed!r}")
    return float(speed)
