"""The session core: what a Realtime client session is, whatever connection carries it.

The core opens a `Transport` (`RealtimeSession` opens a WebSocket; see `transport.py`) and reads it from a
background task, so ``await`` in a notebook returns while events keep arriving. For each frame the reader:

1. records it in the EventLog exactly as received (wire dialect, receipt time, size);
2. translates it to the canonical (GA) vocabulary;
3. updates `config` (session.created / session.updated) and `active_response_id`;
4. resolves the waiters of pending calls (`commit()` waiting for `input_audio_buffer.committed`, ...);
5. queues it for every `async for` iterator and calls the `on()` listeners.

What goes wrong, and how it shows:

* an ``error`` event whose ``error.event_id`` names an event a call sent raises `ServerError` from
  that call. Every ``error`` (matched or not) is also recorded and delivered to iterators.
* a frame that is not an event (malformed JSON, JSON nested too deeply to decode, a binary frame,
  no ``type``) is recorded as a ``protocol_error`` row (its first `MAX_RAW_KEPT` bytes: a 20 MB
  garbage frame must not cost 20 MB per row); every pending call fails with `ProtocolError` (its
  reply may have been that frame, so waiting on would only end in a misleading timeout), and
  iterators and ``"*"`` listeners get a synthetic ``{"type": "realtime_nb.protocol_error",
  "message", "raw"}`` event. The connection stays open.
* an event type nobody knows is recorded and delivered like any other; an event of a known type in
  a shape we cannot read is recorded as a ``protocol_error`` row holding the frame. Neither ever
  stops the reader.
* a peer that stalls never holds a call past its timeout: waiting for a reply is bounded, and so is
  the send itself (a peer that stopped reading leaves the socket's buffers full: the send raises
  `TimeoutError` saying so, the event stays queued and recorded). A peer that floods is recorded in
  full; an iterator that falls behind drops its oldest events and says so once in the log.
* a closed connection (the peer's close, a network drop, or `close()`) is recorded as a
  ``connection_closed`` row, fails every pending call with `ConnectionClosedError` (code, reason),
  ends every iterator, sets `closed` / `close_code` / `close_reason`, and makes any later call raise
  that same error at once. Listeners get ``{"type": "realtime_nb.connection_closed", "code", "reason"}``.

Sending: a canonical client event gets an ``event_id``, is translated to the endpoint's dialect and
validated against its catalogue (`InvalidEventError`: nothing was sent), then recorded *before* the
transport sends it, so a reply can never precede its request in the log. The convenience verbs
(`RealtimeSession.commit`, ...) are built on `_prepare`, `_request` and `_send_wire`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Self

from realtime_nb.client.connection_state import ConnectionState, transition
from realtime_nb.client.endpoints import Endpoint
from realtime_nb.client.errors import (
    ConnectionClosedError,
    ProtocolError,
    RealtimeClientError,
    ServerError,
)
from realtime_nb.client.stream import EventStream
from realtime_nb.client.subscribers import Listener, Subscribers
from realtime_nb.client.transport import Transport
from realtime_nb.client.waiters import WaiterSet, Where
from realtime_nb.protocol import (
    LEFT_OUT,
    SERVER_EVENTS,
    ConfigError,
    Dialect,
    SessionConfig,
    check_client_event,
    new_id,
    to_canonical,
    to_wire,
)
from realtime_nb.timeline import EventLog

logger = logging.getLogger(__name__)

Event = dict[str, Any]

PROTOCOL_ERROR_EVENT = "realtime_nb.protocol_error"
CONNECTION_CLOSED_EVENT = "realtime_nb.connection_closed"
_RAW_PREVIEW_CHARS = 2000  # how much of a malformed frame a synthetic event carries
MAX_RAW_KEPT = 64 * 1024  # how much of a malformed frame its protocol_error row (and ProtocolError) keeps


class InvalidEventError(RealtimeClientError, ValueError):
    """A client event we were asked to send is not valid in the endpoint's dialect; nothing was sent."""

    def __init__(self, message: str, code: str | None = None, param: str | None = None) -> None:
        self.code = code
        self.param = param
        super().__init__(message)


def check_id(value: object, name: str) -> None:
    """Refuse an id argument that is not a non-empty string, before anything is sent."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")


def _as_endpoint(endpoint: object) -> Endpoint:
    """An `Endpoint` from what the constructor accepts: None, a ws:// URL, an engine, an Endpoint."""
    if endpoint is None:
        return Endpoint.local()
    if isinstance(endpoint, str):
        return Endpoint.local(endpoint)
    if not isinstance(endpoint, Endpoint) and isinstance(getattr(endpoint, "url", None), str):
        return Endpoint.local(endpoint.url)  # type: ignore[attr-defined]  # a running engine (GA)
    if not isinstance(endpoint, Endpoint):
        raise TypeError(
            f"endpoint must be an Endpoint, a ws:// URL or an engine, got {type(endpoint).__name__}"
        )
    return endpoint


class SessionCore:
    """State, reader, log, waiters and subscribers of one session; see the module docstring.

    `RealtimeSession` adds the convenience verbs on top; its docstring documents the arguments.
    """

    def __init__(
        self,
        endpoint: Endpoint | str | None = None,
        log: EventLog | None = None,
        *,
        timeout: float = 10.0,
        response_timeout: float = 120.0,
        queue_size: int = 1024,
    ) -> None:
        endpoint = _as_endpoint(endpoint)
        for name, value in (("timeout", timeout), ("response_timeout", response_timeout)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
            raise ValueError(f"queue_size must be a positive int, got {queue_size!r}")
        self.endpoint = endpoint
        self.log = log if log is not None else EventLog()
        self.timeout = float(timeout)
        self.response_timeout = float(response_timeout)
        self.queue_size = queue_size  # default bound of each iterator's queue (see `events`)
        self.config: SessionConfig | None = None
        self.session_id: str | None = None
        self.active_response_id: str | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._state = ConnectionState.NEW
        self._transport: Transport | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiters = WaiterSet()
        self._subscribers = Subscribers()
        self._closed_error: ConnectionClosedError | None = None
        self._session_problem: tuple[str | None, Exception] | None = None

    # ---- state ----------------------------------------------------------------------------------

    @property
    def dialect(self) -> Dialect:
        return self.endpoint.dialect

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def closed(self) -> bool:
        return self._state is ConnectionState.CLOSED

    @property
    def listener_errors(self) -> int:
        """How many listener calls raised (sync) or failed (async); the reader went on each time."""
        return self._subscribers.errors

    @listener_errors.setter
    def listener_errors(self, value: int) -> None:
        self._subscribers.errors = value

    def _to(self, new: ConnectionState) -> None:
        self._state = transition(self._state, new)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.endpoint!r}, state={self._state.value}, "
            f"session_id={self.session_id!r})"
        )

    # ---- connect / close ----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _open_transport(self) -> Transport:
        """Open the connection beneath the session (`RealtimeSession`: a WebSocket to `endpoint`).

        The core never names a transport; this is the one place a WebRTC connection plugs in.
        """
        raise NotImplementedError

    def _awaits_session_created(self) -> bool:
        """Whether `connect` waits for ``session.created`` (a sideband socket gets none)."""
        return True

    async def connect(self) -> Self:
        """Open the connection and wait for ``session.created`` (so `config` is set when this returns).

        Raises `ConnectError` when the handshake fails, `ServerError` when the peer answers with an
        ``error`` first (e.g. a refused dialect), `ConnectionClosedError` if it hangs up.
        """
        if self._state is not ConnectionState.NEW:
            raise RuntimeError(f"connect() on a session that is {self._state}; create a new RealtimeSession")
        self._to(ConnectionState.CONNECTING)
        try:
            self._transport = await self._open_transport()
        except BaseException:
            self._to(ConnectionState.CLOSED)
            raise
        first = self._waiters.add({"session.created", "error"})
        self._to(ConnectionState.OPEN)
        self._reader = asyncio.get_running_loop().create_task(self._read(), name="realtime_nb reader")
        if not self._awaits_session_created():
            self._waiters.discard(first)
            return self
        try:
            event = await asyncio.wait_for(first.future, self.timeout)
        except TimeoutError:
            await self.close()
            raise TimeoutError(
                f"no session.created from {self.endpoint.url} within {self.timeout:g} s"
            ) from None
        except BaseException:  # closed, a malformed first frame, or the caller cancelled
            await self.close()
            raise
        if event["type"] == "error":
            await self.close()
            raise ServerError.from_event(event)
        return self

    async def close(self) -> None:
        """Close the connection (pending calls fail with `ConnectionClosedError`). Safe to call twice."""
        if self._state is ConnectionState.NEW:
            self._finish(None, "never connected", by_client=True)
            return
        if self._state in (ConnectionState.CLOSING, ConnectionState.CLOSED):
            if self._reader is not None:
                await asyncio.shield(self._reader)
            return
        self._to(ConnectionState.CLOSING)
        assert self._transport is not None
        await self._transport.close()
        if self._reader is not None:
            await self._reader

    # ---- the reader -----------------------------------------------------------------------------

    async def _read(self) -> None:
        assert self._transport is not None
        transport = self._transport
        code: int | None = None
        reason = ""
        try:
            async for frame in transport.frames():
                self._handle_frame(frame, time.monotonic_ns())
            code, reason = transport.close_code, transport.close_reason
        except Exception as exc:  # pragma: no cover - _handle_frame already guards each frame
            logger.exception("realtime_nb reader stopped")
            reason = f"reader failed: {type(exc).__name__}: {exc}"
        finally:
            if code is None and not reason:
                code, reason = 1006, "connection lost"
            self._finish(code, reason, by_client=self._state is ConnectionState.CLOSING)

    def _handle_frame(self, frame: str | bytes, t_ns: int) -> None:
        if isinstance(frame, bytes):
            self._protocol_problem(
                f"binary frame of {len(frame)} bytes (Realtime events are JSON text frames)", frame, t_ns
            )
            return
        try:
            event = json.loads(frame)
        except ValueError as exc:
            self._protocol_problem(f"malformed JSON from the peer: {exc}", frame, t_ns)
            return
        except RecursionError:  # json's C decoder recurses per level: a hostile frame can exhaust it
            self._protocol_problem("JSON from the peer is nested too deeply to decode", frame, t_ns)
            return
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            self._protocol_problem("frame is not an event object with a string 'type'", frame, t_ns)
            return
        recorded = False
        try:
            if self._is_known(event["type"]):
                self.log.record("received", event, self.dialect, t_ns=t_ns, wire_bytes=len(frame.encode()))
            else:
                self.log.record_problem(
                    "received",
                    "unknown_event",
                    f"event type {event['type']!r} is not in the {self.dialect.value} catalogue",
                    raw=frame,
                    t_ns=t_ns,
                    dialect=self.dialect,
                )
            recorded = True
            canonical = to_canonical(event, self.dialect)
            self._track(event, canonical)
        except Exception as exc:  # a surprising event must never stop the reader
            logger.warning("could not process a %r event: %s", event.get("type"), exc)
            self.log.record_problem(
                "received",
                "protocol_error",
                f"could not process {event['type']}: {exc}",
                # Not lost: if the log could not take the event as an event, its frame is in this row.
                raw=None if recorded else frame[:MAX_RAW_KEPT],
                t_ns=t_ns,
                dialect=self.dialect,
            )
            canonical = event
        self._waiters.dispatch(canonical)
        self._subscribers.deliver(canonical)

    def _is_known(self, wire_type: str) -> bool:
        return wire_type in SERVER_EVENTS[self.dialect] or wire_type in LEFT_OUT[self.dialect]

    def _track(self, wire: Event, canonical: Event) -> None:
        """Keep `config`, `session_id` and `active_response_id` in step with what the peer reports."""
        kind = canonical["type"]
        if kind in ("session.created", "session.updated"):
            if kind == "session.created" and isinstance(canonical.get("session"), dict):
                self.session_id = canonical["session"].get("id", self.session_id)
            try:
                self.config = SessionConfig.from_wire(wire.get("session") or {}, self.dialect)
                self._session_problem = None
            except ConfigError as exc:
                self._session_problem = (wire.get("event_id"), exc)
                self.log.record_problem(
                    "received",
                    "protocol_error",
                    f"{kind}: session not understood, config kept: {exc}",
                    dialect=self.dialect,
                )
            self._config_reported()
        elif kind == "response.created":
            self.active_response_id = (canonical.get("response") or {}).get("id")
        elif (
            kind == "response.done" and (canonical.get("response") or {}).get("id") == self.active_response_id
        ):
            self.active_response_id = None

    def _config_reported(self) -> None:
        """Called after each session.created / session.updated: a hook for state derived from `config`."""

    def _protocol_problem(self, message: str, raw: str | bytes, t_ns: int) -> None:
        if len(raw) > MAX_RAW_KEPT:
            message += f" (a frame of {len(raw)} {'bytes' if isinstance(raw, bytes) else 'characters'}; "
            message += f"the first {MAX_RAW_KEPT} kept)"
            raw = raw[:MAX_RAW_KEPT]
        self.log.record_problem(
            "received", "protocol_error", message, raw=raw, t_ns=t_ns, dialect=self.dialect
        )
        self._waiters.fail_all(ProtocolError(message, raw))
        shown = raw[:_RAW_PREVIEW_CHARS] if isinstance(raw, str) else repr(raw[:_RAW_PREVIEW_CHARS])
        self._subscribers.deliver({"type": PROTOCOL_ERROR_EVENT, "message": message, "raw": shown})

    def _finish(self, code: int | None, reason: str, *, by_client: bool) -> None:
        if self._closed_error is not None:  # already finished (only _finish sets it)
            return
        was_open = self._state is not ConnectionState.NEW
        self._to(ConnectionState.CLOSED)
        if by_client and not reason:
            reason = "closed by the client"
        self.close_code, self.close_reason = code, reason
        self._closed_error = ConnectionClosedError(code, reason)
        if was_open:
            who = "client" if by_client else "peer or network"
            carrier = self._transport.name if self._transport is not None else "connection"
            self.log.record_problem(
                "sent" if by_client else "received",
                "connection_closed",
                f"{carrier} connection closed by the {who}: code {code}" + (f", {reason}" if reason else ""),
                code=code,
                reason=reason,
                dialect=self.dialect,
            )
        self._waiters.fail_all(self._closed_error)
        self._subscribers.end_streams()
        self.active_response_id = None
        if was_open:
            self._subscribers.notify({"type": CONNECTION_CLOSED_EVENT, "code": code, "reason": reason})

    # ---- iteration and listeners ------------------------------------------------------------------

    def events(self, maxsize: int | None = None, types: Iterable[str] | None = None) -> EventStream:
        """A new iterator over canonical events received from now on (optionally only `types`).

        Each iterator has its own bounded queue (`maxsize`, default `queue_size`): a consumer that
        falls behind loses its oldest events (counted in `.dropped`), never the log's.
        """
        return self._subscribers.stream(maxsize or self.queue_size, types, ended=self.closed)

    def __aiter__(self) -> EventStream:
        return self.events()

    def on(self, event_type: str, callback: Listener) -> Callable[[], None]:
        """Call `callback(event)` for each canonical event of `event_type` (``"*"``: every event).

        Sync callbacks run inside the reader (keep them short); a coroutine function's coroutine is
        scheduled as a task. Exceptions are logged and counted in `listener_errors`, never raised
        into the reader. Returns a function that removes the listener.
        """
        return self._subscribers.on(event_type, callback)

    # ---- sending --------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._state is ConnectionState.OPEN:
            return
        if self._closed_error is not None:
            raise self._closed_error
        raise RuntimeError(f"the session is {self._state.value}; use `async with` or await connect() first")

    def _prepare(self, event: Event) -> Event:
        """A canonical client event -> the wire event (with an event_id), validated for the dialect."""
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise InvalidEventError("an event must be a dict with a string 'type'")
        event = {**event}
        event.setdefault("event_id", new_id("event"))
        wire = to_wire(event, self.dialect)
        if wire is None:
            raise InvalidEventError(f"{event['type']} does not exist in the {self.dialect.value} dialect")
        self._validate(wire)
        return wire

    def _validate(self, wire: Event) -> None:
        issue = check_client_event(wire, self.dialect)
        if issue is not None:
            raise InvalidEventError(f"{wire.get('type')}: {issue.message}", issue.code, issue.param)

    async def _send_wire(self, wire: Event, timeout: float | None = None) -> None:
        """Record and send one wire event; the send waits at most `timeout` (default `timeout`).

        The transport queues the frame at once and then waits while the socket's buffers are full;
        a peer that stopped reading keeps them full, so that wait is bounded: `TimeoutError` then
        says so (the frame stays queued, and recorded: it goes if the peer reads again).
        """
        self._check_open()
        assert self._transport is not None
        text = json.dumps(wire)
        # Recorded before the send returns, so the reply can never precede its request in the log.
        self.log.record("sent", wire, self.dialect, t_ns=time.monotonic_ns(), wire_bytes=len(text))
        limit = timeout or self.timeout
        try:
            await asyncio.wait_for(self._transport.send(text), limit)
        except TimeoutError:
            raise TimeoutError(
                f"the peer did not take {wire.get('type')} ({wire.get('event_id')}) within {limit:g} s: "
                "it has stopped reading (the event stays queued)"
            ) from None
        except ConnectionClosedError:
            if self._reader is not None:
                await asyncio.shield(self._reader)
            raise self._closed_error or ConnectionClosedError(None, "connection closed") from None

    async def send(self, event: Event) -> str:
        """Send any canonical client event as is (translated to the dialect); returns its event_id."""
        self._check_open()
        wire = self._prepare(event)
        await self._send_wire(wire)
        return str(wire["event_id"])

    async def _request(
        self,
        wire: Event,
        reply: str,
        where: Where | None = None,
        *,
        exclusive: bool = False,
        timeout: float | None = None,
    ) -> Event:
        """Send `wire` and return the canonical reply; the waiter exists before the send starts."""
        self._check_open()
        limit = timeout or self.timeout
        deadline = asyncio.get_running_loop().time() + limit  # one budget for the send and the reply
        waiter = self._waiters.add(reply, where, event_id=wire["event_id"], exclusive=exclusive)
        try:
            await self._send_wire(wire, limit)
            left = max(0.0, deadline - asyncio.get_running_loop().time())
            try:
                return await asyncio.wait_for(waiter.future, left)
            except TimeoutError:
                raise TimeoutError(
                    f"no {reply} within {limit:g} s after {wire['type']} ({wire['event_id']})"
                ) from None
        finally:
            self._waiters.discard(waiter)

    async def wait_for(
        self, event_type: str, where: Where | None = None, timeout: float | None = None
    ) -> Event:
        """The next canonical event of `event_type` (for which `where(event)` is true, if given)."""
        self._check_open()
        waiter = self._waiters.add(event_type, where)
        try:
            return await asyncio.wait_for(waiter.future, timeout or self.timeout)
        except TimeoutError:
            raise TimeoutError(f"no {event_type} within {timeout or self.timeout:g} s") from None
        finally:
            self._waiters.discard(waiter)
