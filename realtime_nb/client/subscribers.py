"""Who hears about received events besides the waiters: `async for` iterators and `on()` listeners.

Both are fed by the session's reader, which must never block or fail on their account: iterators
have bounded queues of their own (`EventStream`), sync listeners run inline and their exceptions are
counted and logged, async listeners become tasks whose failures are counted the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from realtime_nb.client.stream import EventStream

logger = logging.getLogger(__name__)

Event = dict[str, Any]
Listener = Callable[[Event], "Awaitable[Any] | Any"]


class Subscribers:
    """The live iterators and listeners of one session."""

    def __init__(self) -> None:
        self.errors = 0  # listener calls that raised (sync) or failed (async)
        self._streams: weakref.WeakSet[EventStream] = weakref.WeakSet()
        self._listeners: dict[str, list[Listener]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def stream(self, maxsize: int, types: Iterable[str] | None, *, ended: bool) -> EventStream:
        """A new iterator (already ended if the session is closed)."""
        stream = EventStream(maxsize, types, on_close=self._streams.discard)
        if ended:
            stream.end()
        else:
            self._streams.add(stream)
        return stream

    def on(self, event_type: str, callback: Listener) -> Callable[[], None]:
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        if not isinstance(event_type, str) or not event_type:
            raise ValueError(f"event_type must be an event type name or '*', got {event_type!r}")
        self._listeners.setdefault(event_type, []).append(callback)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.get(event_type, []).remove(callback)

        return remove

    def deliver(self, event: Event) -> None:
        """Queue `event` for every iterator, then call the listeners."""
        for stream in list(self._streams):
            stream.push(event)
        self.notify(event)

    def end_streams(self) -> None:
        """No more events: every iterator stops once drained."""
        for stream in list(self._streams):
            stream.end()

    def notify(self, event: Event) -> None:
        """Call the listeners of `event`'s type and the ``"*"`` listeners."""
        callbacks = [*self._listeners.get(event.get("type", ""), ()), *self._listeners.get("*", ())]
        for callback in callbacks:
            try:
                result = callback(event)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._tasks.add(task)
                    task.add_done_callback(self._task_done)
            except Exception:
                self.errors += 1
                logger.exception("listener %r failed on %s", callback, event.get("type"))

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors += 1
            logger.error("async listener failed", exc_info=task.exception())
