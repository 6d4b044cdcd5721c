"""One connection's outgoing events, bounded: what the socket has not taken yet, in bytes and age.

Without a bound, a client that stops reading costs the engine memory for as long as its reply lasts
(measured: +300 MB for one stalled reader of a long answer, never dropped). Three rules keep it flat:

* synthesis pauses while ``send_ahead_bytes`` or more wait here (the connection parks the job, as a
  WebRTC call parks it while ``playout_ahead_ms`` of audio waits in its output buffer), so speech is
  made only a bounded distance ahead of what the socket took;
* a reader more than ``max_unsent_bytes`` behind, or whose oldest unsent event has waited
  ``max_lag_s``, is disconnected (close code 1008 and the reason; the engine logs it);
* the keepalive ping counts the time its own frame waits to be written: a peer that does not
  answer within ``ping_timeout_s`` is dropped even when nothing it sent can be drained.

The limits are a `Backpressure` (defined with the engine's other knobs in `options`, re-exported
here). The outbox is plain data (no I/O): the connection's writer takes events, the ticker asks
:meth:`Outbox.overdue`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from realtime_nb.engine.options import Backpressure, amount

__all__ = ["SLOW_READER_CLOSE_CODE", "Backpressure", "Outbox"]

SLOW_READER_CLOSE_CODE = 1008  # RFC 6455 policy violation: the client broke the reading contract


class Outbox:
    """Events waiting for the socket, oldest first; ``now`` is ``time.monotonic()``."""

    def __init__(self, limits: Backpressure) -> None:
        self.limits = limits
        self._queue: deque[tuple[Any, int, float]] = deque()  # (item, size, queued at)
        self._in_flight: tuple[int, float] | None = None  # (size, queued at) of the one being written
        self.unsent_bytes = 0  # queued plus in flight
        self._ready = asyncio.Event()

    def put(self, item: Any, size: int, now: float) -> None:
        self._queue.append((item, size, now))
        self.unsent_bytes += size
        self._ready.set()

    async def take(self) -> Any:
        """The oldest event; it counts as unsent until :meth:`sent`."""
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        item, size, queued_at = self._queue.popleft()
        self._in_flight = (size, queued_at)
        return item

    def sent(self) -> None:
        """The event :meth:`take` returned was written (the socket took it)."""
        if self._in_flight is not None:
            self.unsent_bytes -= self._in_flight[0]
            self._in_flight = None

    @property
    def full(self) -> bool:
        """Synthesis should pause: ``send_ahead_bytes`` or more wait for the socket."""
        return self.unsent_bytes >= self.limits.send_ahead_bytes

    def lag_s(self, now: float) -> float:
        """How long the oldest unsent event has waited (0 when everything was taken)."""
        if self._in_flight is not None:
            return now - self._in_flight[1]
        return now - self._queue[0][2] if self._queue else 0.0

    def overdue(self, now: float) -> str | None:
        """Why the reader is too far behind to keep (a close reason), or None."""
        limits = self.limits
        if self.unsent_bytes > limits.max_unsent_bytes:
            return (
                f"client not reading: {amount(self.unsent_bytes, 'bytes')} of events unsent "
                f"(limit {amount(limits.max_unsent_bytes, 'bytes')})"
            )
        lag = self.lag_s(now)
        if lag > limits.max_lag_s:
            return f"client not reading: events unsent for {lag:.1f} s (limit {limits.max_lag_s:g} s)"
        return None

    def clear(self) -> None:
        self._queue.clear()
        self._in_flight = None
        self.unsent_bytes = 0

    def __len__(self) -> int:
        return len(self._queue)
