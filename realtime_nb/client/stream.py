"""`async for event in session`: one bounded queue per iterator, fed by the session's reader.

The reader must never wait for a slow consumer (a notebook cell that plots on every event would
otherwise stall the socket and the audio). So each iterator has its own bounded buffer: when it is
full the *oldest* queued event is dropped and counted in `dropped`, and the first drop of each
iterator is logged as a warning (a consumer that silently misses events would draw wrong
conclusions). The EventLog is the lossless record; an iterator is a live view.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

Event = dict[str, Any]
logger = logging.getLogger(__name__)


class EventStream:
    """An async iterator over the canonical events received after it was created."""

    def __init__(
        self,
        maxsize: int = 1024,
        types: Iterable[str] | None = None,
        on_close: Callable[[EventStream], None] | None = None,
    ) -> None:
        if not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"maxsize must be a positive int, got {maxsize!r}")
        self.maxsize = maxsize
        self.types = frozenset(types) if types is not None else None
        self.dropped = 0
        self._queue: deque[Event] = deque()
        self._wakeup = asyncio.Event()
        self._ended = False
        self._on_close = on_close

    def push(self, event: Event) -> None:
        """Queue an event (reader side; never blocks)."""
        if self._ended or (self.types is not None and event.get("type") not in self.types):
            return
        if len(self._queue) >= self.maxsize:
            self._queue.popleft()
            self.dropped += 1
            if self.dropped == 1:
                logger.warning(
                    "an event iterator fell behind: its queue of %d is full, so it drops its oldest "
                    "events from now on (counted in .dropped; the EventLog keeps every event). "
                    "Consume faster, or pass a larger maxsize to session.events()",
                    self.maxsize,
                )
        self._queue.append(event)
        self._wakeup.set()

    def end(self) -> None:
        """No more events will come: iteration stops once the queue is drained."""
        self._ended = True
        self._wakeup.set()

    def close(self) -> None:
        """Stop iterating now and detach from the session."""
        self.end()
        self._queue.clear()
        if self._on_close is not None:
            self._on_close(self)
            self._on_close = None

    @property
    def pending(self) -> int:
        return len(self._queue)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        while not self._queue:
            if self._ended:
                self.close()
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._queue.popleft()

    async def aclose(self) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "ended" if self._ended else "live"
        return f"EventStream({state}, pending={len(self._queue)}, dropped={self.dropped})"
