"""Futures waiting for a server event, resolved by the session's reader as events arrive.

Two kinds of waiter, because the protocol has no reply correlation except `error.event_id`:

* a *reply* waiter belongs to a call that sent an event (it knows that `event_id`); an `error`
  naming that `event_id` fails it. An *exclusive* reply waiter consumes its event: replies that
  answer requests one to one (`session.updated`, `input_audio_buffer.committed`, ...) are handed out
  first-come first-served, so two `update_session` calls in flight get the two `session.updated`
  events in the order they were sent.
* every other waiter (`wait_for`, a wait for a given `response.done`) sees each matching event.

Register before sending, so a reply that arrives while the send is still being awaited is not lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from realtime_nb.client.errors import ServerError

Event = dict[str, Any]
Where = Callable[[Event], bool]


class Waiter:
    """One pending wait: which event types, an optional predicate, and the future to resolve."""

    __slots__ = ("event_id", "exclusive", "future", "types", "where")

    def __init__(
        self,
        types: frozenset[str],
        where: Where | None,
        event_id: str | None,
        future: asyncio.Future[Event],
        exclusive: bool = False,
    ) -> None:
        self.types = types
        self.where = where
        self.event_id = event_id
        self.future = future
        self.exclusive = exclusive

    @property
    def is_reply(self) -> bool:
        return self.event_id is not None

    def matches(self, event: Event) -> bool:
        if event.get("type") not in self.types or self.future.done():
            return False
        if self.where is None:
            return True
        try:
            return bool(self.where(event))
        except Exception as exc:  # a broken predicate fails its own waiter, never the reader
            self.future.set_exception(exc)
            return False

    def __repr__(self) -> str:
        kind = f"reply to {self.event_id}" if self.is_reply else "observer"
        return f"Waiter({sorted(self.types)}, {kind})"


class WaiterSet:
    """The pending waiters of one session, in registration order."""

    def __init__(self) -> None:
        self._waiters: list[Waiter] = []

    def __len__(self) -> int:
        return len(self._waiters)

    def add(
        self,
        types: str | Iterable[str],
        where: Where | None = None,
        event_id: str | None = None,
        exclusive: bool = False,
    ) -> Waiter:
        """Register a waiter; `event_id` makes it a reply waiter for that sent event."""
        wanted = frozenset([types] if isinstance(types, str) else types)
        if not wanted:
            raise ValueError("a waiter needs at least one event type")
        if exclusive and event_id is None:
            raise ValueError("only a reply waiter (with an event_id) can be exclusive")
        future = asyncio.get_running_loop().create_future()
        waiter = Waiter(wanted, where, event_id, future, exclusive)
        self._waiters.append(waiter)
        return waiter

    def discard(self, waiter: Waiter) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)
        if not waiter.future.done():
            waiter.future.cancel()

    def dispatch(self, event: Event) -> None:
        """Resolve (or fail) the waiters this canonical event answers."""
        if event.get("type") == "error":
            error = event.get("error")
            failed_id = error.get("event_id") if isinstance(error, dict) else None
            if failed_id is not None:
                for waiter in self._waiters:
                    if waiter.event_id == failed_id and not waiter.future.done():
                        waiter.future.set_exception(ServerError.from_event(event))
        consumed = False
        for waiter in list(self._waiters):
            if waiter.exclusive and consumed:
                continue
            if waiter.matches(event):
                waiter.future.set_result(event)
                consumed = consumed or waiter.exclusive
        self._waiters = [w for w in self._waiters if not w.future.done()]

    def fail_all(self, exc: BaseException) -> None:
        """Fail every pending waiter (connection lost, protocol error)."""
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_exception(exc)
        self._waiters = []
