"""`RealtimeSession`: one live Realtime session, driven from asyncio (or a notebook cell).

It is assembled from parts named by what they do:

* `core.SessionCore` -- state, the background reader, the EventLog, waiters, iterators and listeners,
  error mapping (its docstring says what goes wrong and how it shows);
* a `transport.Transport` beneath it -- the WebSocket today (`websocket_transport`);
* the verbs on top -- `input_buffer` (append, commit, clear, stream a file), `conversation` (items),
  `responses` (create, cancel, clear output audio) and `update_session` here.

Keys never reach the log, a repr or an exception: the endpoint holds them as `Secret` and the
handshake's debug logging goes through a redacting logger.
"""

from __future__ import annotations

from typing import Any

from realtime_nb.client.connection_state import ConnectionState
from realtime_nb.client.conversation import ConversationVerbs
from realtime_nb.client.core import CONNECTION_CLOSED_EVENT, PROTOCOL_ERROR_EVENT, InvalidEventError
from realtime_nb.client.errors import ProtocolError
from realtime_nb.client.input_buffer import InputBufferVerbs, StreamResult
from realtime_nb.client.responses import ResponseVerbs
from realtime_nb.client.session_update import session_update_payload
from realtime_nb.client.transport import Transport
from realtime_nb.client.websocket_transport import open_websocket
from realtime_nb.protocol import SessionConfig, new_id, session_update

__all__ = [
    "CONNECTION_CLOSED_EVENT",
    "PROTOCOL_ERROR_EVENT",
    "ConnectionState",
    "InvalidEventError",
    "RealtimeSession",
    "StreamResult",
]


class RealtimeSession(InputBufferVerbs, ConversationVerbs, ResponseVerbs):
    """A live Realtime session over WebSocket. Use ``async with RealtimeSession(endpoint) as s:``.

    `endpoint`: an `Endpoint`, a ``ws://`` URL of a local server, a running engine (its ``.url``),
    or None for the embedded engine's default address. `log`: the EventLog to record into (a new one
    by default; see `.log`).
    `timeout`: seconds to wait for the reply of a call (connect, session.updated, committed, ...).
    `response_timeout`: seconds `create_response(wait=True)` waits for `response.done`.
    """

    async def _open_transport(self) -> Transport:
        return await open_websocket(self.endpoint, self.timeout)

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
