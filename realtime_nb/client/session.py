"""`RealtimeSession`: one live Realtime session, driven from asyncio (or a notebook cell).

It is assembled from parts named by what they do:

* `core.SessionCore` -- state, the background reader, the EventLog, waiters, iterators and listeners,
  error mapping (its docstring says what goes wrong and how it shows);
* a `transport.Transport` beneath it -- a WebSocket (`websocket_transport`) or a WebRTC call
  (`webrtc_transport`: the data channel carries the events, `rtc_media` the microphone and the answer);
* the verbs on top -- `input_buffer` (append, commit, clear, stream a file), `conversation` (items),
  `responses` (create, cancel, clear output audio) and `update_session` / `hangup` here.

The transport is chosen where the session is made, not in the `Endpoint`: an endpoint says *where*
(service, dialect, credential), the transport *how*, so one endpoint serves both and the same audio
can be compared over each (``RealtimeSession(ep)`` and ``RealtimeSession(ep, transport="webrtc")``).

Keys never reach the log, a repr or an exception: the endpoint holds them as `Secret`, the handshake's
debug logging goes through a redacting logger, and a WebRTC call's ephemeral key is a `Secret` too.
"""

from __future__ import annotations

from typing import Any, Literal

from realtime_nb.client.connection_state import ConnectionState
from realtime_nb.client.conversation import ConversationVerbs
from realtime_nb.client.core import (
    CONNECTION_CLOSED_EVENT,
    PROTOCOL_ERROR_EVENT,
    Event,
    InvalidEventError,
)
from realtime_nb.client.endpoints import FLOWS, Endpoint, Flow
from realtime_nb.client.errors import ProtocolError
from realtime_nb.client.input_buffer import InputBufferVerbs, StreamResult
from realtime_nb.client.responses import ResponseVerbs
from realtime_nb.client.session_update import session_update_payload
from realtime_nb.client.transport import Transport
from realtime_nb.client.websocket_transport import open_websocket
from realtime_nb.protocol import SessionConfig, new_id, session_update
from realtime_nb.protocol.session_config import check_same_kind
from realtime_nb.timeline import EventLog

TransportName = Literal["websocket", "webrtc"]
TRANSPORTS: tuple[str, ...] = ("websocket", "webrtc")

__all__ = [
    "CONNECTION_CLOSED_EVENT",
    "PROTOCOL_ERROR_EVENT",
    "ConnectionState",
    "InvalidEventError",
    "RealtimeSession",
    "StreamResult",
]


class RealtimeSession(InputBufferVerbs, ConversationVerbs, ResponseVerbs):
    """A live Realtime session. Use ``async with RealtimeSession(endpoint) as s:``.

    `endpoint`: an `Endpoint`, a ``ws://`` URL of a local server, a running engine (its ``.url``),
    or None for the embedded engine's default address. `log`: the EventLog to record into (a new one
    by default; see `.log`).
    `timeout`: seconds to wait for the reply of a call (connect, session.updated, committed, ...);
    over WebRTC also for each HTTP step of placing the call and for the data channel to open.
    `response_timeout`: seconds `create_response(wait=True)` waits for `response.done`.

    `transport`: ``"websocket"`` (default) or ``"webrtc"``, a call placed with aiortc: the events
    travel on the ``oai-events`` data channel, the microphone (`append_audio`, `stream_file`) on an
    Opus track paced in real time, and the answer's audio arrives on a track that is recorded into
    the log, never played (`EventLog.response_audio`, `turns()` work as over a WebSocket).
    `flow` (WebRTC): ``"ephemeral"`` (default; mint a key with the standard key, then send the offer
    with it, as a page would) or ``"unified"`` (GA only: offer and session in one multipart POST with
    the standard key, as a server would). `key_ttl_s`: GA ephemeral key lifetime (10..7200 s).
    `disconnect_grace_s`: how long a silent peer may stay unreachable before the call counts as
    dropped (None: only when aiortc reports it failed).
    `config`: the session's initial configuration. Over WebRTC it travels with the key or the form
    (the call starts with it); over a WebSocket `connect()` applies it with `update_session`.
    """

    def __init__(
        self,
        endpoint: Endpoint | str | None = None,
        log: EventLog | None = None,
        *,
        timeout: float = 10.0,
        response_timeout: float = 120.0,
        queue_size: int = 1024,
        transport: TransportName = "websocket",
        flow: Flow | None = None,
        config: SessionConfig | None = None,
        key_ttl_s: int | None = None,
        disconnect_grace_s: float | None = 5.0,
    ) -> None:
        super().__init__(
            endpoint, log, timeout=timeout, response_timeout=response_timeout, queue_size=queue_size
        )
        if transport not in TRANSPORTS:
            raise ValueError(
                f"transport must be one of {', '.join(map(repr, TRANSPORTS))}, got {transport!r}"
            )
        if config is not None and not isinstance(config, SessionConfig):
            raise TypeError(f"config must be a SessionConfig, got {type(config).__name__}")
        if transport == "websocket" and (flow is not None or key_ttl_s is not None):
            raise ValueError("flow and key_ttl_s choose how a WebRTC call is placed: pass transport='webrtc'")
        if transport == "webrtc":
            if flow is not None and flow not in FLOWS:
                raise ValueError(f"flow must be one of {', '.join(map(repr, FLOWS))}, got {flow!r}")
            self.endpoint.webrtc_urls(flow or "ephemeral")  # refuse an impossible call before connect
            if disconnect_grace_s is not None and not disconnect_grace_s > 0:
                raise ValueError(
                    f"disconnect_grace_s must be > 0 seconds or None, got {disconnect_grace_s!r}"
                )
        self.transport_name: TransportName = transport
        """``"websocket"`` or ``"webrtc"``: what carries this session's events."""
        self.flow: Flow | None = (flow or "ephemeral") if transport == "webrtc" else None
        self._initial_config = config
        self._key_ttl_s = key_ttl_s
        self._grace_s = disconnect_grace_s

    async def _open_transport(self) -> Transport:
        if self.transport_name == "websocket":
            return await open_websocket(self.endpoint, self.timeout)
        from realtime_nb.client.rtc_media import RtcMedia
        from realtime_nb.client.webrtc_transport import open_webrtc

        media = RtcMedia(self.log)
        opened = await open_webrtc(
            self.endpoint,
            media,
            flow=self.flow or "ephemeral",
            config=self._initial_config,
            timeout=self.timeout,
            key_ttl_s=self._key_ttl_s,
            disconnect_grace_s=self._grace_s,
        )
        self._rtc_media = media
        return opened

    async def connect(self) -> RealtimeSession:
        """Open the connection and wait for ``session.created`` (so `config` is set when this returns).

        Over WebRTC this places the call first. A sideband endpoint (`Endpoint.sideband`) joins a
        session that already exists, on which the services do not promise a ``session.created``: so
        this returns once the socket is open, and `config` stays None until the peer reports one
        (``session.created`` if it does send it, or the ``session.updated`` of an `update_session`).
        """
        await super().connect()
        if self.transport_name == "websocket" and self._initial_config is not None:
            await self.update_session(self._initial_config)
        return self

    def _awaits_session_created(self) -> bool:
        return self.endpoint.call_id is None

    @property
    def call_id(self) -> str | None:
        """The WebRTC call's id (from the answer's ``Location``), or a sideband session's call."""
        transport = self._transport
        if transport is not None and getattr(transport, "call_id", None) is not None:
            return transport.call_id  # type: ignore[attr-defined,no-any-return]
        return self.endpoint.call_id

    async def hangup(self) -> None:
        """End the call and close the session.

        Over WebRTC: ``POST .../calls/{id}/hangup`` (a call already gone is fine), then the peer
        connection closes. On a sideband session: hangs up its call, then closes the socket. On a
        plain WebSocket session: the same as `close()`. Raises `SignallingError` if the service
        refused the hangup (the session is closed either way).
        """
        transport = self._transport
        if self.transport_name == "webrtc":
            await self.close()
            error = getattr(transport, "hangup_error", None)
            if error is not None:
                raise error
            return
        if self.endpoint.call_id is not None and not self.closed:
            from realtime_nb.client.webrtc_transport import hang_up

            try:
                await hang_up(self.endpoint, self.endpoint.call_id, self.timeout)
            finally:
                await self.close()
            return
        await self.close()

    def _track(self, wire: Event, canonical: Event) -> None:
        super()._track(wire, canonical)
        if self._rtc_media is not None:
            self._rtc_media.on_event(canonical)  # output_audio_buffer.* decide where track audio goes

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.endpoint!r}, transport={self.transport_name!r}, "
            f"state={self._state.value}, session_id={self.session_id!r})"
        )

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
        current = self.config or self.endpoint.blank_config()
        target = config or current
        if fields:
            target = target.replace(**fields)
        check_same_kind(current, target, self.dialect)  # e.g. a voice for a transcription session
        new_wire = session_update(target, self.dialect)["session"]
        old_wire = session_update(current, self.dialect)["session"] if self.config is not None else {}
        payload = session_update_payload(
            old_wire, new_wire, self.dialect, with_turn_detection=with_turn_detection
        )
        kind = session_update(target, self.dialect)["type"]  # preview: transcription_session.update
        wire = {"type": kind, "event_id": new_id("event"), "session": payload}
        self._validate(wire)
        reply = await self._request(wire, "session.updated", exclusive=True, timeout=timeout)
        if self._session_problem is not None and self._session_problem[0] == reply.get("event_id"):
            raise ProtocolError(f"session.updated could not be read: {self._session_problem[1]}")
        assert self.config is not None
        return self.config
