"""`RealtimeSession`: one Realtime WebSocket connection, driven from asyncio (or a notebook cell).

The socket is read by a background task, so ``await`` in a notebook returns while events keep
arriving. For each frame the reader:

1. records it in the EventLog exactly as received (wire dialect, receipt time, size);
2. translates it to the canonical (GA) vocabulary;
3. updates `config` (session.created / session.updated) and `active_response_id`;
4. resolves the waiters of pending calls (`commit()` waiting for `input_audio_buffer.committed`, ...);
5. queues it for every `async for` iterator and calls the `on()` listeners.

What goes wrong, and how it shows:

* an ``error`` event whose ``error.event_id`` names an event a call sent raises `ServerError` from
  that call. Every ``error`` (matched or not) is also recorded and delivered to iterators.
* a frame that is not an event (malformed JSON, a binary frame, no ``type``) is recorded as a
  ``protocol_error`` row; every pending call fails with `ProtocolError` (its reply may have been
  that frame, so waiting on would only end in a misleading timeout), and iterators and ``"*"``
  listeners get a synthetic ``{"type": "realtime_nb.protocol_error", "message", "raw"}`` event.
  The connection stays open.
* an event type nobody knows is recorded and delivered like any other; it never stops the reader.
* a closed connection (the peer's close, a network drop, or `close()`) is recorded as a
  ``connection_closed`` row, fails every pending call with `ConnectionClosedError` (code, reason),
  ends every iterator, sets `closed` / `close_code` / `close_reason`, and makes any later call raise
  that same error at once. Listeners get ``{"type": "realtime_nb.connection_closed", "code", "reason"}``.

Keys never reach the log, a repr or an exception: the endpoint holds them as `Secret` and the
handshake's debug logging goes through a redacting logger.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import json
import logging
import math
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from realtime_nb.audio import decode, encode, read_wav
from realtime_nb.client.audio_input import AudioInput
from realtime_nb.client.endpoints import Endpoint
from realtime_nb.client.errors import (
    ConnectError,
    ConnectionClosedError,
    ProtocolError,
    RealtimeClientError,
    ServerError,
)
from realtime_nb.client.items import function_call_output, message_text, with_decoded_audio
from realtime_nb.client.pacing import Schedule, check_speed
from realtime_nb.client.session_update import session_update_payload
from realtime_nb.client.stream import EventStream
from realtime_nb.client.waiters import WaiterSet, Where
from realtime_nb.protocol import (
    LEFT_OUT,
    SERVER_EVENTS,
    ConfigError,
    Dialect,
    SessionConfig,
    check_client_event,
    new_id,
    response_create,
    session_update,
    to_canonical,
    to_wire,
)
from realtime_nb.protocol.redaction import RedactingLogger
from realtime_nb.timeline import EventLog

logger = logging.getLogger(__name__)

Event = dict[str, Any]
Listener = Callable[[Event], "Awaitable[Any] | Any"]

PROTOCOL_ERROR_EVENT = "realtime_nb.protocol_error"
CONNECTION_CLOSED_EVENT = "realtime_nb.connection_closed"
_RAW_PREVIEW_CHARS = 2000  # how much of a malformed frame a synthetic event carries (the log keeps it all)


class InvalidEventError(RealtimeClientError, ValueError):
    """A client event we were asked to send is not valid in the endpoint's dialect; nothing was sent."""

    def __init__(self, message: str, code: str | None = None, param: str | None = None) -> None:
        self.code = code
        self.param = param
        super().__init__(message)


class ConnectionState(StrEnum):
    """The lifecycle of the connection beneath a session (the engine's SessionState is another thing)."""

    NEW = "new"
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


# Legal transitions of the connection; anything else is a bug in this module.
_TRANSITIONS: dict[ConnectionState, frozenset[ConnectionState]] = {
    ConnectionState.NEW: frozenset({ConnectionState.CONNECTING, ConnectionState.CLOSED}),
    ConnectionState.CONNECTING: frozenset({ConnectionState.OPEN, ConnectionState.CLOSED}),
    ConnectionState.OPEN: frozenset({ConnectionState.CLOSING, ConnectionState.CLOSED}),
    ConnectionState.CLOSING: frozenset({ConnectionState.CLOSED}),
    ConnectionState.CLOSED: frozenset(),
}


@dataclass(frozen=True)
class StreamResult:
    """What `stream_file` sent: the audio as the peer received it, and how well pacing kept up."""

    samples: np.ndarray = field(repr=False)  # int16 at `rate`, decoded from the bytes that were sent
    rate: int
    format: str
    chunks: int
    audio_ms: float
    elapsed_s: float
    max_late_ms: float  # worst lateness of a chunk against its scheduled time


class RealtimeSession:
    """A live Realtime session over WebSocket. Use ``async with RealtimeSession(endpoint) as s:``.

    `endpoint`: an `Endpoint`, a ``ws://`` URL of a local server, a running engine (its ``.url``),
    or None for the embedded engine's default address. `log`: the EventLog to record into (a new one
    by default; see `.log`).
    `timeout`: seconds to wait for the reply of a call (connect, session.updated, committed, ...).
    `response_timeout`: seconds `create_response(wait=True)` waits for `response.done`.
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
        if endpoint is None:
            endpoint = Endpoint.local()
        elif isinstance(endpoint, str):
            endpoint = Endpoint.local(endpoint)
        elif not isinstance(endpoint, Endpoint) and isinstance(getattr(endpoint, "url", None), str):
            endpoint = Endpoint.local(endpoint.url)  # a running engine (GA; use Endpoint.local for preview)
        elif not isinstance(endpoint, Endpoint):
            raise TypeError(
                f"endpoint must be an Endpoint, a ws:// URL or an engine, got {type(endpoint).__name__}"
            )
        for name, value in (("timeout", timeout), ("response_timeout", response_timeout)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
            raise ValueError(f"queue_size must be a positive int, got {queue_size!r}")
        self.endpoint = endpoint
        self.log = log if log is not None else EventLog()
        self.timeout = float(timeout)
        self.response_timeout = float(response_timeout)
        self.queue_size = queue_size
        self.config: SessionConfig | None = None
        self.session_id: str | None = None
        self.active_response_id: str | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.listener_errors = 0
        self._state = ConnectionState.NEW
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiters = WaiterSet()
        self._streams: weakref.WeakSet[EventStream] = weakref.WeakSet()
        self._listeners: dict[str, list[Listener]] = {}
        self._listener_tasks: set[asyncio.Task[Any]] = set()
        self._closed_error: ConnectionClosedError | None = None
        self._session_problem: tuple[str | None, Exception] | None = None
        self._audio_in: AudioInput | None = None
        self._appended_bytes_ms = 0.0

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
    def appended_ms(self) -> float:
        """Milliseconds of audio appended since the session started (the service's audio clock)."""
        return self._appended_bytes_ms

    def _to(self, new: ConnectionState) -> None:
        if new not in _TRANSITIONS[self._state]:
            raise RuntimeError(f"session cannot go from {self._state} to {new}")
        self._state = new

    def __repr__(self) -> str:
        return (
            f"RealtimeSession({self.endpoint!r}, state={self._state.value}, session_id={self.session_id!r})"
        )

    # ---- connect / close ----------------------------------------------------------------------

    async def __aenter__(self) -> RealtimeSession:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> RealtimeSession:
        """Open the socket and wait for ``session.created`` (so `config` is set when this returns).

        Raises `ConnectError` when the handshake fails, `ServerError` when the peer answers with an
        ``error`` first (e.g. a refused dialect), `ConnectionClosedError` if it hangs up.
        """
        if self._state is not ConnectionState.NEW:
            raise RuntimeError(f"connect() on a session that is {self._state}; create a new RealtimeSession")
        self._to(ConnectionState.CONNECTING)
        url = self.endpoint.url
        try:
            headers = await self.endpoint.handshake_headers()
        except Exception:
            self._to(ConnectionState.CLOSED)
            raise
        redactor = RedactingLogger(logging.getLogger("websockets.client"), *_header_secrets(headers))
        try:
            self._ws = await ws_connect(
                url,
                additional_headers=headers,
                user_agent_header=f"realtime-nb websockets/{websockets.__version__}",
                open_timeout=self.timeout,
                max_size=None,  # retrieved items carry whole utterances of base64 audio
                compression=None,
                logger=redactor,
            )
        except InvalidStatus as exc:
            self._to(ConnectionState.CLOSED)
            status = exc.response.status_code
            raise ConnectError(
                url, f"HTTP {status} at the WebSocket handshake{_hint(status)}", status
            ) from None
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            self._to(ConnectionState.CLOSED)
            hint = (
                " (is the local engine running? see realtime_nb.engine.start_engine)"
                if (self.endpoint.service == "local" and isinstance(exc, OSError))
                else ""
            )
            raise ConnectError(url, f"{type(exc).__name__}: {exc}{hint}") from None
        first = self._waiters.add({"session.created", "error"})
        self._to(ConnectionState.OPEN)
        self._reader = asyncio.get_running_loop().create_task(self._read(), name="realtime_nb reader")
        try:
            event = await asyncio.wait_for(first.future, self.timeout)
        except TimeoutError:
            await self.close()
            raise TimeoutError(f"no session.created from {url} within {self.timeout:g} s") from None
        except BaseException:  # closed, a malformed first frame, or the caller cancelled
            await self.close()
            raise
        if event["type"] == "error":
            await self.close()
            raise ServerError.from_event(event)
        return self

    async def close(self) -> None:
        """Close the socket (pending calls fail with `ConnectionClosedError`). Safe to call twice."""
        if self._state is ConnectionState.NEW:
            self._finish(None, "never connected", by_client=True)
            return
        if self._state in (ConnectionState.CLOSING, ConnectionState.CLOSED):
            if self._reader is not None:
                await asyncio.shield(self._reader)
            return
        self._to(ConnectionState.CLOSING)
        assert self._ws is not None
        await self._ws.close()
        if self._reader is not None:
            await self._reader

    # ---- the reader -----------------------------------------------------------------------------

    async def _read(self) -> None:
        assert self._ws is not None
        ws = self._ws
        code: int | None = None
        reason = ""
        try:
            async for frame in ws:
                self._handle_frame(frame, time.monotonic_ns())
            code, reason = ws.close_code, ws.close_reason or ""
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else 1006
            reason = exc.rcvd.reason if exc.rcvd is not None else "connection lost without a close frame"
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
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            self._protocol_problem("frame is not an event object with a string 'type'", frame, t_ns)
            return
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
            canonical = to_canonical(event, self.dialect)
            self._track(event, canonical)
        except Exception as exc:  # a surprising event must never stop the reader
            logger.warning("could not process a %r event: %s", event.get("type"), exc)
            self.log.record_problem(
                "received",
                "protocol_error",
                f"could not process {event['type']}: {exc}",
                dialect=self.dialect,
            )
            canonical = event
        self._waiters.dispatch(canonical)
        self._deliver(canonical)

    def _is_known(self, wire_type: str) -> bool:
        return wire_type in SERVER_EVENTS[self.dialect] or wire_type in LEFT_OUT[self.dialect]

    def _track(self, wire: Event, canonical: Event) -> None:
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
            stale_input = self._audio_in is not None and self.config is not None
            if stale_input and self._audio_in.fmt != self.config.input_format:  # type: ignore[union-attr]
                self._audio_in = None  # a new input format: start a new resampling stream
        elif kind == "response.created":
            self.active_response_id = (canonical.get("response") or {}).get("id")
        elif (
            kind == "response.done" and (canonical.get("response") or {}).get("id") == self.active_response_id
        ):
            self.active_response_id = None

    def _protocol_problem(self, message: str, raw: str | bytes, t_ns: int) -> None:
        self.log.record_problem(
            "received", "protocol_error", message, raw=raw, t_ns=t_ns, dialect=self.dialect
        )
        self._waiters.fail_all(ProtocolError(message, raw))
        shown = raw[:_RAW_PREVIEW_CHARS] if isinstance(raw, str) else repr(raw[:_RAW_PREVIEW_CHARS])
        self._deliver({"type": PROTOCOL_ERROR_EVENT, "message": message, "raw": shown})

    def _deliver(self, event: Event) -> None:
        for stream in list(self._streams):
            stream.push(event)
        self._notify(event)

    def _finish(self, code: int | None, reason: str, *, by_client: bool) -> None:
        if self._state is ConnectionState.CLOSED and self._closed_error is not None:
            return
        was_open = self._state is not ConnectionState.NEW
        self._state = ConnectionState.CLOSED
        if by_client and not reason:
            reason = "closed by the client"
        self.close_code, self.close_reason = code, reason
        self._closed_error = ConnectionClosedError(code, reason)
        if was_open:
            who = "client" if by_client else "peer or network"
            self.log.record_problem(
                "sent" if by_client else "received",
                "connection_closed",
                f"connection closed by the {who}: code {code}" + (f", {reason}" if reason else ""),
                code=code,
                reason=reason,
                dialect=self.dialect,
            )
        self._waiters.fail_all(self._closed_error)
        for stream in list(self._streams):
            stream.end()
        self.active_response_id = None
        if was_open:
            self._notify({"type": CONNECTION_CLOSED_EVENT, "code": code, "reason": reason})

    # ---- iteration and listeners ------------------------------------------------------------------

    def events(self, maxsize: int | None = None, types: Iterable[str] | None = None) -> EventStream:
        """A new iterator over canonical events received from now on (optionally only `types`).

        Each iterator has its own bounded queue (`maxsize`, default `queue_size`): a consumer that
        falls behind loses its oldest events (counted in `.dropped`), never the log's.
        """
        stream = EventStream(maxsize or self.queue_size, types, on_close=self._streams.discard)
        if self.closed:
            stream.end()
        else:
            self._streams.add(stream)
        return stream

    def __aiter__(self) -> EventStream:
        return self.events()

    def on(self, event_type: str, callback: Listener) -> Callable[[], None]:
        """Call `callback(event)` for each canonical event of `event_type` (``"*"``: every event).

        Sync callbacks run inside the reader (keep them short); a coroutine function's coroutine is
        scheduled as a task. Exceptions are logged and counted in `listener_errors`, never raised
        into the reader. Returns a function that removes the listener.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        if not isinstance(event_type, str) or not event_type:
            raise ValueError(f"event_type must be an event type name or '*', got {event_type!r}")
        self._listeners.setdefault(event_type, []).append(callback)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.get(event_type, []).remove(callback)

        return remove

    def _notify(self, event: Event) -> None:
        callbacks = [*self._listeners.get(event.get("type", ""), ()), *self._listeners.get("*", ())]
        for callback in callbacks:
            try:
                result = callback(event)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._listener_tasks.add(task)
                    task.add_done_callback(self._listener_done)
            except Exception:
                self.listener_errors += 1
                logger.exception("listener %r failed on %s", callback, event.get("type"))

    def _listener_done(self, task: asyncio.Task[Any]) -> None:
        self._listener_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.listener_errors += 1
            logger.error("async listener failed", exc_info=task.exception())

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

    async def _send_wire(self, wire: Event) -> None:
        self._check_open()
        assert self._ws is not None
        text = json.dumps(wire)
        # Recorded before the send returns, so the reply can never precede its request in the log.
        self.log.record("sent", wire, self.dialect, t_ns=time.monotonic_ns(), wire_bytes=len(text))
        try:
            await self._ws.send(text)
        except ConnectionClosed:
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
        waiter = self._waiters.add(reply, where, event_id=wire["event_id"], exclusive=exclusive)
        try:
            await self._send_wire(wire)
            return await asyncio.wait_for(waiter.future, timeout or self.timeout)
        except TimeoutError:
            raise TimeoutError(
                f"no {reply} within {timeout or self.timeout:g} s after {wire['type']} ({wire['event_id']})"
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

    # ---- session.update -----------------------------------------------------------------------

    async def update_session(
        self,
        config: SessionConfig | None = None,
        *,
        timeout: float | None = None,
        with_turn_detection: bool = False,
        **fields: Any,
    ) -> SessionConfig:
        """Change the session and return the effective config from ``session.updated``.

        Pass a whole `SessionConfig` and/or fields to change (``threshold`` lives in
        ``turn_detection=ServerVad(...)``). The target is validated first: a `ConfigError` means
        nothing was sent. Only what differs from the current config goes on the wire, but objects
        such as ``turn_detection`` always go whole, so the service never refills fields with defaults.
        ``with_turn_detection=True`` sends the turn-detection object even when it did not change.
        """
        self._check_open()
        if config is not None and not isinstance(config, SessionConfig):
            raise TypeError(f"config must be a SessionConfig, got {type(config).__name__}")
        current = self.config or SessionConfig()
        target = config or current
        if fields:
            target = target.replace(**fields)
        new_wire = session_update(target, self.dialect)["session"]
        old_wire = session_update(current, self.dialect)["session"] if self.config is not None else {}
        payload = session_update_payload(
            old_wire, new_wire, self.dialect, with_turn_detection=with_turn_detection
        )
        wire = {"type": "session.update", "event_id": new_id("event"), "session": payload}
        self._validate(wire)
        reply = await self._request(wire, "session.updated", exclusive=True, timeout=timeout)
        if self._session_problem is not None and self._session_problem[0] == reply.get("event_id"):
            raise ProtocolError(f"session.updated could not be read: {self._session_problem[1]}")
        assert self.config is not None
        return self.config

    # ---- input audio buffer ----------------------------------------------------------------------

    def _input(self) -> AudioInput:
        fmt = self.config.input_format if self.config is not None else "pcm16"
        if self._audio_in is None or self._audio_in.fmt != fmt:
            self._audio_in = AudioInput(fmt)
        return self._audio_in

    async def _append_bytes(self, data: bytes, audio_in: AudioInput) -> None:
        wire = {
            "type": "input_audio_buffer.append",
            "event_id": new_id("event"),
            "audio": base64.b64encode(data).decode("ascii"),
        }
        await self._send_wire(wire)
        self._appended_bytes_ms += audio_in.bytes_to_ms(len(data))

    async def append_audio(self, samples: np.ndarray, rate: int) -> float:
        """Append audio (int16 or float in [-1, 1], mono or (frames, channels), any rate).

        It is resampled and encoded to the session's input format; resampler state is kept across
        calls so a stream of small chunks stays seamless (`commit()` drains the tail). A payload
        over the service's 15 MiB limit is split into several appends. Returns the milliseconds of
        audio sent by this call (the resampler may hold back a few ms until the next call).
        """
        self._check_open()
        audio_in = self._input()
        payloads = audio_in.feed(samples, rate)
        before = self._appended_bytes_ms
        for data in payloads:
            await self._append_bytes(data, audio_in)
        return self._appended_bytes_ms - before

    async def _flush_input(self) -> None:
        if self._audio_in is not None:
            audio_in = self._audio_in
            for data in audio_in.flush():
                await self._append_bytes(data, audio_in)

    async def commit(self, timeout: float | None = None) -> str:
        """Commit the input buffer; returns the new user item's id (``input_audio_buffer.committed``).

        With VAD on the server also commits by itself; a VAD commit arriving at the same moment
        cannot be told apart from ours.
        """
        self._check_open()
        await self._flush_input()
        wire = self._prepare({"type": "input_audio_buffer.commit"})
        reply = await self._request(wire, "input_audio_buffer.committed", exclusive=True, timeout=timeout)
        return str(reply.get("item_id"))

    async def clear(self, timeout: float | None = None) -> None:
        """Drop the uncommitted input audio (waits for ``input_audio_buffer.cleared``)."""
        self._check_open()
        if self._audio_in is not None:
            self._audio_in.reset()
        wire = self._prepare({"type": "input_audio_buffer.clear"})
        await self._request(wire, "input_audio_buffer.cleared", exclusive=True, timeout=timeout)

    async def stream_file(
        self,
        path: str | Path,
        speed: float = 1.0,
        chunk_ms: float = 40,
        tail_silence_ms: float = 0,
    ) -> StreamResult:
        """Stream a WAV file (any rate, mono or stereo) as appends paced at real time x `speed`.

        Chunk i is sent at start + i * chunk_ms / speed on the monotonic clock, so late wake-ups do
        not accumulate; ``speed=0`` sends as fast as the peer accepts. `tail_silence_ms` of silence
        is appended after the file (lets server VAD see the end of the last turn). Does not commit.
        """
        speed = check_speed(speed)
        if (
            isinstance(chunk_ms, bool)
            or not isinstance(chunk_ms, int | float)
            or not (math.isfinite(chunk_ms) and chunk_ms > 0)
        ):
            raise ValueError(f"chunk_ms must be a positive number, got {chunk_ms!r}")
        if (
            isinstance(tail_silence_ms, bool)
            or not isinstance(tail_silence_ms, int | float)
            or not (math.isfinite(tail_silence_ms) and tail_silence_ms >= 0)
        ):
            raise ValueError(f"tail_silence_ms must be a number >= 0, got {tail_silence_ms!r}")
        samples, rate = read_wav(path)
        self._check_open()
        await self._flush_input()
        audio_in = self._input()
        data = audio_in.encode_whole(samples, rate)
        tail = round(audio_in.rate * tail_silence_ms / 1000)
        if tail:
            data += encode(np.zeros(tail, dtype=np.int16), audio_in.fmt)  # type: ignore[arg-type]
        sample_bytes = 2 if audio_in.fmt == "pcm16" else 1
        step = max(1, round(audio_in.rate * chunk_ms / 1000)) * sample_bytes
        loop = asyncio.get_running_loop()
        schedule = Schedule(loop.time(), step / sample_bytes / audio_in.rate, speed)
        max_late = 0.0
        chunks = 0
        for index, offset in enumerate(range(0, len(data), step)):
            delay = schedule.delay(index, loop.time())
            if delay > 0:
                await asyncio.sleep(delay)
            if speed:
                max_late = max(max_late, loop.time() - schedule.due(index))
            await self._append_bytes(data[offset : offset + step], audio_in)
            chunks += 1
        elapsed = loop.time() - schedule.start
        sent = decode(data, audio_in.fmt)  # type: ignore[arg-type]
        return StreamResult(
            samples=sent,
            rate=audio_in.rate,
            format=audio_in.fmt,
            chunks=chunks,
            audio_ms=sent.size / audio_in.rate * 1000,
            elapsed_s=elapsed,
            max_late_ms=max_late * 1000,
        )

    # ---- conversation items ----------------------------------------------------------------------

    async def create_item(
        self, item: Event, previous_item_id: str | None = None, timeout: float | None = None
    ) -> Event:
        """Add an item (canonical GA shape) and return it as ``conversation.item.added`` reports it.

        An item without ``id`` gets one here, so the reply is matched by id even when the server is
        adding items of its own at the same time.
        """
        self._check_open()
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise InvalidEventError(
                "item must be a dict with a string 'type' (message, function_call_output, ...)"
            )
        item = {**item}
        item.setdefault("id", new_id("item"))
        event: Event = {"type": "conversation.item.create", "item": item}
        if previous_item_id is not None:
            event["previous_item_id"] = previous_item_id
        wire = self._prepare(event)
        item_id = item["id"]
        reply = await self._request(
            wire,
            "conversation.item.added",
            lambda e: (e.get("item") or {}).get("id") == item_id,
            timeout=timeout,
        )
        return dict(reply["item"])

    async def create_text_message(
        self, text: str, role: str = "user", previous_item_id: str | None = None
    ) -> Event:
        """Add a text message (user by default)."""
        return await self.create_item(message_text(text, role), previous_item_id)

    async def create_function_output(self, call_id: str, output: Any) -> Event:
        """Add the result of a tool call (`output`: a string, or anything JSON-serialisable)."""
        return await self.create_item(function_call_output(call_id, output))

    async def retrieve(self, item_id: str, timeout: float | None = None) -> Event:
        """The item as the server holds it, with its audio decoded.

        The returned dict is the canonical item plus ``audio_pcm`` (int16 numpy array of all audio
        parts, in content order) and ``audio_rate`` (Hz of the item's audio format: 24000 for pcm16,
        8000 for G.711). User audio comes back as the server stored it (after noise reduction).
        """
        _check_id(item_id, "item_id")
        wire = self._prepare({"type": "conversation.item.retrieve", "item_id": item_id})
        reply = await self._request(
            wire,
            "conversation.item.retrieved",
            lambda e: (e.get("item") or {}).get("id") == item_id,
            timeout=timeout,
        )
        config = self.config or SessionConfig()
        return with_decoded_audio(reply["item"], config.input_format, config.output_format)

    async def delete_item(self, item_id: str, timeout: float | None = None) -> None:
        """Remove an item from the conversation (waits for ``conversation.item.deleted``)."""
        _check_id(item_id, "item_id")
        wire = self._prepare({"type": "conversation.item.delete", "item_id": item_id})
        await self._request(
            wire, "conversation.item.deleted", lambda e: e.get("item_id") == item_id, timeout=timeout
        )

    async def truncate(
        self, item_id: str, audio_end_ms: float, content_index: int = 0, timeout: float | None = None
    ) -> Event:
        """Cut an assistant audio item at `audio_end_ms` (what was actually played; rounded down).

        Returns the ``conversation.item.truncated`` event. Truncating past the audio the server
        produced is an error: pass the smaller of the time played and the audio received.
        """
        _check_id(item_id, "item_id")
        if (
            isinstance(audio_end_ms, bool)
            or not isinstance(audio_end_ms, int | float)
            or not (math.isfinite(audio_end_ms) and audio_end_ms >= 0)
        ):
            raise ValueError(f"audio_end_ms must be a number of milliseconds >= 0, got {audio_end_ms!r}")
        if isinstance(content_index, bool) or not isinstance(content_index, int) or content_index < 0:
            raise ValueError(f"content_index must be an int >= 0, got {content_index!r}")
        wire = self._prepare(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": content_index,
                "audio_end_ms": math.floor(audio_end_ms),
            }
        )
        return await self._request(
            wire, "conversation.item.truncated", lambda e: e.get("item_id") == item_id, timeout=timeout
        )

    # ---- responses -------------------------------------------------------------------------------

    async def create_response(
        self, *, wait: bool = False, timeout: float | None = None, **options: Any
    ) -> str | Event:
        """Ask for a response; returns its id once ``response.created`` arrives.

        `options` are those of `realtime_nb.protocol.response_create` (``instructions``,
        ``output_modalities``, ``voice``, ``output_format``, ``tools``, ``tool_choice``,
        ``max_output_tokens``, ``conversation="none"``, ``metadata``, ``input``; ``temperature`` in
        preview only), validated before sending (`ConfigError`) and rendered for the dialect.
        With ``wait=True`` it returns the final response object of ``response.done`` (waiting up
        to `timeout`, default `response_timeout`). The server does not echo which
        request a ``response.created`` answers: with VAD's automatic responses a concurrent
        auto-response can be taken for ours.
        """
        self._check_open()
        wire = response_create(self.dialect, event_id=new_id("event"), **options)
        self._validate(wire)
        created_id: dict[str, str] = {}

        def first_created(e: Event) -> bool:
            created_id.setdefault("id", str((e.get("response") or {}).get("id")))
            return True

        # Both waiters exist before sending: a fast peer's response.done can arrive before this
        # coroutine resumes after response.created.
        done = self._waiters.add(
            "response.done",
            lambda e: "id" in created_id and (e.get("response") or {}).get("id") == created_id["id"],
            event_id=wire["event_id"],
        )
        try:
            await self._request(wire, "response.created", first_created, exclusive=True, timeout=timeout)
            if not wait:
                return created_id["id"]
            try:
                reply = await asyncio.wait_for(done.future, timeout or self.response_timeout)
            except TimeoutError:
                raise TimeoutError(
                    f"response {created_id['id']} not done within {timeout or self.response_timeout:g} s"
                ) from None
            return dict(reply["response"])
        finally:
            self._waiters.discard(done)
            if done.future.done() and not done.future.cancelled():
                done.future.exception()  # a refusal reached both waiters; it is raised above once
            else:
                done.future.cancel()

    async def cancel_response(self, response_id: str | None = None, timeout: float | None = None) -> Event:
        """Cancel the active response; returns its final ``response.done`` response object.

        Raises `ServerError` (``response_cancel_not_active``) when nothing is running.
        """
        event: Event = {"type": "response.cancel"}
        if response_id is not None:
            _check_id(response_id, "response_id")
            event["response_id"] = response_id
        wire = self._prepare(event)
        target = response_id or self.active_response_id
        reply = await self._request(
            wire,
            "response.done",
            lambda e: target is None or (e.get("response") or {}).get("id") == target,
            timeout=timeout,
        )
        return dict(reply["response"])

    async def clear_output_audio(self, wait: bool = False, timeout: float | None = None) -> str:
        """Send ``output_audio_buffer.clear``; returns its event_id.

        WebRTC/SIP only on the services (the server holds the playout buffer there); over a
        WebSocket the services do not implement it, so by default this does not wait for
        ``output_audio_buffer.cleared`` (the local engine sends it: use ``wait=True``). To stop
        playback over a WebSocket, stop the local player and `truncate()`.
        """
        wire = self._prepare({"type": "output_audio_buffer.clear"})
        if wait:
            await self._request(wire, "output_audio_buffer.cleared", exclusive=True, timeout=timeout)
        else:
            await self._send_wire(wire)
        return str(wire["event_id"])


def _check_id(value: object, name: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")


def _header_secrets(headers: dict[str, str]) -> list[str]:
    secrets: list[str] = []
    for name, value in headers.items():
        if name.lower() in ("authorization", "api-key"):
            secrets.append(value)
            if value.startswith("Bearer "):
                secrets.append(value[len("Bearer ") :])
    return secrets


def _hint(status: int) -> str:
    if status in (401, 403):
        return ": the key or token was refused (on Azure GA also check that the URL has no api-version)"
    if status == 404:
        return ": no such endpoint or deployment"
    return ""
