"""The engine port's front door: WebSocket upgrades to `websockets`, every other request to HTTP.

One port serves both, as the services do (the WebSocket at ``/v1/realtime``, the WebRTC signalling
beside it). `websockets` parses requests itself and refuses any with a body, so a POST never reaches
it intact; the door therefore looks at each new connection's request head first:

* a ``GET`` with ``Upgrade: websocket`` is handed to `websockets` untouched: the connection object
  *is* websockets' `ServerConnection` (`FrontDoorConnection`, passed as ``serve(create_connection=…)``)
  which only postpones telling websockets about the connection until the head is in, then replays
  the bytes it held. Everything websockets did before (process_request, refusals, subprotocols,
  timeouts) happens exactly as before;
* anything else is handed over (``transport.set_protocol``) to an `HttpConnection`, an h11 (sans-I/O
  HTTP/1.1) parser with bounded head and body sizes and read times, keep-alive, ``Expect:
  100-continue``; each request is answered by the sans-I/O `http_api.HttpApi`, and the calls it asks
  for are run on the engine's call registry (`CallRegistryLike`).

Without h11 (the ``webrtc`` extra not installed) plain GETs still reach websockets as before and
every other request gets a 501 naming the extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar, Literal, Protocol, cast

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode

from realtime_nb.engine.http_api import Answer, HangUp, HttpApi, HttpRequest, OpenCall, error_answer
from realtime_nb.engine.http_connection import HttpConnection, no_h11_answer, raw_answer, timeout_answer
from realtime_nb.protocol.dialect import Dialect

try:
    import h11
except ImportError:  # pragma: no cover - exercised by monkeypatching `h11` to None in a test
    h11 = None  # type: ignore[assignment]

__all__ = [
    "CallRegistryLike",
    "FrontDoor",
    "FrontDoorConnection",
    "HttpConnection",
    "HttpLimits",
    "classify_head",
]

log = logging.getLogger("realtime_nb.engine")

# --------------------------------------------------------------------------------------------------
# What the door needs of the call registry (engine/calls.py provides it)


class OpenedCallLike(Protocol):
    call_id: str
    answer_sdp: str


class CallRegistryLike(Protocol):
    """The engine's WebRTC calls; runs on the engine's event loop.

    `open_call` raises a ``CallRefused``-shaped exception (``status: int``, ``code: str``,
    ``message: str``, ``param: str | None``) for an offer it will not take (malformed SDP, no audio);
    the door answers it with that status and error.
    """

    async def open_call(
        self,
        offer_sdp: str,
        *,
        dialect: Dialect,
        model: str | None,
        session: dict[str, Any] | None,
        api_version: str | None = None,
        webrtc_filter: bool = False,
    ) -> OpenedCallLike: ...

    async def hangup(self, call_id: str) -> bool: ...

    def session_of(self, call_id: str) -> object | None: ...

    async def close_all(self) -> None: ...

    def stats(self) -> dict[str, Any]: ...


def _as_refusal(exc: BaseException) -> tuple[int, str, str, str | None] | None:
    """(status, code, message, param) of a CallRefused-shaped exception, else None."""
    status, code, message = (getattr(exc, name, None) for name in ("status", "code", "message"))
    shaped = isinstance(code, str) and isinstance(message, str)
    if isinstance(status, int) and 400 <= status <= 599 and shaped:
        param = getattr(exc, "param", None)
        return status, code, message, param if isinstance(param, str) else None
    return None


# --------------------------------------------------------------------------------------------------
# Limits and the sniffing rule


@dataclass(frozen=True)
class HttpLimits:
    """Bounds on what one HTTP client may hold of the engine.

    `max_body_bytes`: a larger body gets 413 (an SDP offer is a few KiB; a session with long
    instructions and tools a few tens). `head_timeout_s`: from a request's first byte to the end of
    its head; `body_timeout_s`: to the end of its body (408 past either). `idle_timeout_s`: a
    kept-alive connection with no new request is closed. `call_timeout_s`: how long opening a call
    may take before the client gets 504.
    """

    max_head_bytes: int = 64 * 1024
    max_body_bytes: int = 1024 * 1024
    head_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    idle_timeout_s: float = 30.0
    call_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("max_head_bytes", "max_body_bytes"):
            if getattr(self, name) < 1024:
                raise ValueError(f"{name} must be at least 1024, got {getattr(self, name)}")
        for name in ("head_timeout_s", "body_timeout_s", "idle_timeout_s", "call_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


Kind = Literal["websocket", "http"]


def classify_head(data: bytes, max_head_bytes: int) -> Kind | None:
    """Whether a connection's first bytes are a WebSocket upgrade, plain HTTP, or not yet known.

    Only a GET can be an upgrade, so any other start decides at once; a GET needs its whole head
    (the ``Upgrade`` header may come last). A head that never ends within `max_head_bytes` is left to
    the HTTP parser, which refuses it (431).
    """
    if len(data) < 4:
        return None if b"GET "[: len(data)] == data else "http"
    if not data.startswith(b"GET "):
        return "http"
    end = data.find(b"\r\n\r\n")
    if end < 0:
        end = data.find(b"\n\n")
    if end < 0:
        return "http" if len(data) > max_head_bytes else None
    for line in data[:end].splitlines()[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() == b"upgrade":
            tokens = {token.strip().lower() for token in value.split(b",")}
            if b"websocket" in tokens:
                return "websocket"
    return "http"


# --------------------------------------------------------------------------------------------------
# The door


class FrontDoor:
    """The HTTP side of the engine's port: its API, its call registry, its live connections."""

    def __init__(
        self,
        api: HttpApi,
        calls: CallRegistryLike | None,
        limits: HttpLimits,
        logger: logging.Logger | logging.LoggerAdapter[Any] = log,
    ) -> None:
        self.api = api
        self.calls = calls
        self.limits = limits
        self.log = logger
        self._sniffing: set[FrontDoorConnection] = set()
        self._http: set[HttpConnection] = set()
        self._closed = False

    def __repr__(self) -> str:
        return f"FrontDoor(http={len(self._http)}, sniffing={len(self._sniffing)}, {self.api!r})"

    def connection_class(self) -> type[ServerConnection]:
        """The `create_connection` to pass to ``websockets.serve``, bound to this door."""
        return type("BoundFrontDoorConnection", (FrontDoorConnection,), {"door": self})

    def stats(self) -> dict[str, int]:
        return {"http_connections": len(self._http), "undecided_connections": len(self._sniffing)}

    # --- hand-over --------------------------------------------------------------------------------

    def take_over(self, transport: asyncio.Transport, head: bytes) -> None:
        """Serve this connection as HTTP from now on (`head`: the bytes read so far)."""
        if self._closed:
            transport.abort()
            return
        if h11 is None:
            transport.write(raw_answer(no_h11_answer()))
            transport.close()
            return
        http = HttpConnection(self)
        transport.set_protocol(http)
        http.connection_made(transport)
        if head:
            http.data_received(head)

    # --- answering ----------------------------------------------------------------------------------

    async def answer(self, request: HttpRequest, client_gone: Callable[[], bool]) -> Answer:
        """The answer to one request, running the call action it needs on the registry."""
        outcome = self.api.handle(request)
        if isinstance(outcome, Answer):
            return outcome
        calls = self.calls
        assert calls is not None, "the API only asks for calls when a registry is plugged in"
        if isinstance(outcome, OpenCall):
            return await self._open_call(calls, outcome, client_gone)
        return await self._hang_up(calls, outcome)

    async def _open_call(
        self, calls: CallRegistryLike, action: OpenCall, client_gone: Callable[[], bool]
    ) -> Answer:
        try:
            opened = await asyncio.wait_for(
                calls.open_call(
                    action.offer_sdp,
                    dialect=action.dialect,
                    model=action.model,
                    session=action.session,
                    api_version=action.api_version,
                    webrtc_filter=action.webrtc_filter,
                ),
                self.limits.call_timeout_s,
            )
        except TimeoutError:
            self.log.warning("a WebRTC call was not set up within %.0f s", self.limits.call_timeout_s)
            return error_answer(
                HTTPStatus.GATEWAY_TIMEOUT,
                "call_setup_timeout",
                f"The engine did not answer the offer within {self.limits.call_timeout_s:g} s.",
                headers=action.headers,
            )
        except Exception as exc:
            refusal = _as_refusal(exc)
            if refusal is not None:
                self.log.info("WebRTC call refused: %s %s", refusal[0], refusal[1])
                return self.api.refused(action, *refusal)
            self.log.exception("opening a WebRTC call failed")
            return self.api.failed(action)
        if client_gone():
            # Nobody will ever see the answer SDP, so nobody can connect: do not leave the call to
            # its setup timeout.
            self.log.info("WebRTC call %s: the client left before its answer; hanging up", opened.call_id)
            with contextlib.suppress(Exception):
                await calls.hangup(opened.call_id)
        else:
            self.log.info(
                "WebRTC call %s opened (%s, model %s)", opened.call_id, action.flow.title, action.model
            )
        return self.api.opened(action, opened.call_id, opened.answer_sdp)

    async def _hang_up(self, calls: CallRegistryLike, action: HangUp) -> Answer:
        try:
            found = await asyncio.wait_for(calls.hangup(action.call_id), self.limits.call_timeout_s)
        except Exception as exc:
            refusal = _as_refusal(exc)
            if refusal is not None:
                return self.api.refused(action, *refusal)
            self.log.exception("hanging up a WebRTC call failed")
            return self.api.failed(action)
        if found:
            self.log.info("WebRTC call %s hung up", action.call_id)
        return self.api.hung_up(action, found)

    # --- bookkeeping ----------------------------------------------------------------------------------

    def track(self, connection: FrontDoorConnection | HttpConnection) -> None:
        if isinstance(connection, HttpConnection):
            self._http.add(connection)
        else:
            self._sniffing.add(connection)

    def untrack(self, connection: FrontDoorConnection | HttpConnection) -> None:
        self._http.discard(connection)  # type: ignore[arg-type]
        self._sniffing.discard(connection)  # type: ignore[arg-type]

    async def close(self) -> None:
        """Close every HTTP (and still undecided) connection; their tasks end."""
        self._closed = True
        for sniffing in list(self._sniffing):
            sniffing.abort()
        tasks = [c.abort() for c in list(self._http)]
        await asyncio.gather(*(t for t in tasks if t is not None), return_exceptions=True)


# --------------------------------------------------------------------------------------------------
# Connections


class FrontDoorConnection(ServerConnection):
    """websockets' connection object, told about its transport only once the head shows an upgrade.

    Until then it holds the bytes; a connection that turns out to be plain HTTP is handed to the
    door (websockets never hears of it, so no handshake task, no open_timeout, no log lines).
    """

    door: ClassVar[FrontDoor]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Whether each message not yet received was a text frame (True) or binary (False), oldest
        # first; kept only once `note_message_kinds` was called (a session socket, which reads with
        # ``recv(decode=False)`` so a 15 MiB text frame is not UTF-8 decoded on the event loop).
        self.message_kinds: deque[bool] | None = None
        self._undecided = True
        self._handed_over = False
        self._held = bytearray()
        self._door_transport: asyncio.Transport | None = None
        self._sniff_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._door_transport = cast(asyncio.Transport, transport)
        if self.door._closed:  # the engine is stopping: accepted in the last moment, served by no one
            self._undecided = False
            self._handed_over = True
            self._door_transport.abort()
            return
        self.door.track(self)
        self._sniff_timer = self.loop.call_later(self.door.limits.head_timeout_s, self._sniff_timed_out)

    def data_received(self, data: bytes) -> None:
        if not self._undecided:
            super().data_received(data)
            return
        self._held += data
        kind = classify_head(bytes(self._held), self.door.limits.max_head_bytes)
        if kind is None:
            return
        if kind == "http" and h11 is None and self._held.startswith(b"GET "):
            kind = "websocket"  # without h11, plain GETs are websockets' to answer, as before
        transport, held = self._decide()
        if kind == "websocket":
            super().connection_made(transport)
            super().data_received(held)
        else:
            self._handed_over = True
            self.door.take_over(transport, held)

    def note_message_kinds(self) -> None:
        """Keep `message_kinds` from now on (call it before the handshake completes)."""
        self.message_kinds = deque()

    def process_event(self, event: Any) -> None:
        kinds = self.message_kinds
        if kinds is not None and isinstance(event, Frame) and event.opcode in (Opcode.TEXT, Opcode.BINARY):
            kinds.append(event.opcode is Opcode.TEXT)  # a message's first frame; CONT frames follow
        super().process_event(event)

    def _decide(self) -> tuple[asyncio.Transport, bytes]:
        self._undecided = False
        if self._sniff_timer is not None:
            self._sniff_timer.cancel()
        self.door.untrack(self)
        held, self._held = bytes(self._held), bytearray()
        assert self._door_transport is not None
        return self._door_transport, held

    def _sniff_timed_out(self) -> None:
        if not self._undecided:
            return
        transport, held = self._decide()
        self._handed_over = True
        if held:  # a request started and stalled: say so (a silent preconnect is just closed)
            transport.write(raw_answer(timeout_answer("head")))
        transport.close()

    def abort(self) -> None:
        if self._undecided:
            transport, _ = self._decide()
            self._handed_over = True
            transport.abort()

    def eof_received(self) -> bool | None:
        if self._undecided:
            transport, _ = self._decide()
            self._handed_over = True
            transport.close()
            return None
        return super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._undecided:
            self._decide()
            return
        if self._handed_over:
            return
        super().connection_lost(exc)
