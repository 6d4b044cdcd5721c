"""One HTTP/1.1 client connection of the engine's port, after the front door handed it over.

h11 (sans-I/O HTTP/1.1) parses; each request is answered by the front door (`FrontDoor.answer`, the
sans-I/O `http_api.HttpApi` plus the call registry), one request at a time, with keep-alive, pipelining
and ``Expect: 100-continue``. Head and body sizes and read times are bounded by `HttpLimits` so a slow
or huge client cannot hold the port's resources. Split from `front_door` (which decides what a new
connection is) because this is the part that speaks HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from websockets.datastructures import Headers

from realtime_nb.engine.http_api import Answer, HttpRequest, error_answer

try:
    import h11
except ImportError:  # pragma: no cover - the front door answers 501 before building one
    h11 = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from realtime_nb.engine.front_door import FrontDoor

log = logging.getLogger("realtime_nb.engine")

_READ_HIGH_WATER = 256 * 1024  # unparsed bytes held before the socket stops being read


class HttpConnection(asyncio.Protocol):
    """One HTTP/1.1 client connection (keep-alive): h11 parses, the door answers, one at a time."""

    def __init__(self, door: FrontDoor) -> None:
        assert h11 is not None
        self._door = door
        self._limits = door.limits
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=door.limits.max_head_bytes)
        self._transport: asyncio.Transport | None = None
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._unparsed = 0
        self._paused = False
        self._lost = False  # the connection is gone
        self._peer_eof = False  # the client stopped sending: it will not read an answer either
        self._cycle_bytes = 0  # bytes received since the current request cycle began
        self._cycle_first_byte_at = 0.0  # loop time of the first of them

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._door.track(self)
        self._task = asyncio.get_running_loop().create_task(self._serve(), name="engine-http")

    def data_received(self, data: bytes) -> None:
        self._conn.receive_data(data)
        if self._cycle_bytes == 0:
            self._cycle_first_byte_at = asyncio.get_running_loop().time()
        self._cycle_bytes += len(data)
        self._unparsed += len(data)
        if self._unparsed > _READ_HIGH_WATER and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wakeup.set()

    def eof_received(self) -> bool | None:
        # HTTP/1.1 clients do not half-close while they wait for an answer (browsers, httpx, the SDK
        # never do), so an EOF means the client left: a call being set up for it is hung up. The
        # write side stays open for any answer already due (a pipelined one); we close it.
        self._peer_eof = True
        self._conn.receive_data(b"")
        self._wakeup.set()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._door.untrack(self)
        self._wakeup.set()

    def abort(self) -> asyncio.Task[None] | None:
        if self._transport is not None:
            self._transport.abort()
        if self._task is not None and not self._task.done():
            self._task.cancel()
        return self._task

    # --- the request loop --------------------------------------------------------------------------

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        conn = self._conn
        try:
            while not self._lost:
                # A kept-alive connection may idle between requests; a request that has begun must
                # complete its head in time.
                idle_until = loop.time() + self._limits.idle_timeout_s
                try:
                    event = await self._next_event(
                        lambda idle_until=idle_until: (
                            self._cycle_first_byte_at + self._limits.head_timeout_s
                            if self._cycle_bytes
                            else idle_until
                        )
                    )
                except TimeoutError:
                    if self._cycle_bytes:
                        self._send(timeout_answer("head"), head_only=False)
                    return
                if not isinstance(event, h11.Request):
                    return  # ConnectionClosed (or a protocol state we do not continue from)
                request_or_answer = await self._read_request(event, loop.time())
                if isinstance(request_or_answer, Answer):
                    self._send(request_or_answer, head_only=False)
                    return
                try:
                    answer = await self._door.answer(request_or_answer, lambda: self._lost or self._peer_eof)
                except Exception:  # a fault here must not leave the client without an answer
                    self._door.log.exception("answering an HTTP request failed")
                    answer = error_answer(
                        HTTPStatus.INTERNAL_SERVER_ERROR,
                        "server_error",
                        "The engine failed to answer this request; its log says why.",
                        close=True,
                    )
                if self._lost:
                    return
                self._send(answer, head_only=request_or_answer.method == "HEAD")
                if answer.close or conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
                self._cycle_bytes = 0
        except h11.RemoteProtocolError as exc:
            # Not echoed: the bad line may well carry a credential (``?api-key=…``).
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                if exc.error_status_hint == HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE:
                    limit = self._limits.max_head_bytes
                    refusal = error_answer(
                        HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                        "request_header_fields_too_large",
                        f"The request head is larger than this engine accepts ({limit} bytes).",
                        close=True,
                    )
                else:
                    refusal = error_answer(
                        HTTPStatus.BAD_REQUEST,
                        "bad_request",
                        "The request is not valid HTTP/1.1 (its request line, headers or body framing).",
                        close=True,
                    )
                self._send(refusal, head_only=False)
        except (h11.LocalProtocolError, ConnectionError) as exc:
            self._door.log.debug("HTTP connection ended: %s", type(exc).__name__)
        finally:
            self._close()

    async def _next_event(self, deadline: Callable[[], float]) -> Any:
        """The next h11 event, waiting for bytes until `deadline()` (TimeoutError past it)."""
        loop = asyncio.get_running_loop()
        while True:
            event = self._conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            self._unparsed = 0
            if self._paused and self._transport is not None:
                self._paused = False
                self._transport.resume_reading()
            if self._lost:
                return h11.ConnectionClosed()
            remaining = deadline() - loop.time()
            if remaining <= 0:
                raise TimeoutError
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), remaining)

    async def _read_request(self, event: Any, started: float) -> HttpRequest | Answer:
        """The whole request (body bounded in size and time), or the answer that refuses it."""
        # A header sent twice is read as one, its values joined (RFC 9110 5.3), so a lookup never
        # meets two values.
        joined: dict[str, list[str]] = {}
        for name, value in event.headers:
            joined.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
        headers = Headers({name: ", ".join(values) for name, values in joined.items()})
        method = event.method.decode("ascii", "replace").upper()
        target = event.target.decode("latin-1")
        limit = self._limits.max_body_bytes
        length = headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            return too_large(limit)
        if self._conn.they_are_waiting_for_100_continue:
            self._write(self._conn.send(h11.InformationalResponse(status_code=100, headers=[])))
        body = bytearray()
        deadline = started + self._limits.body_timeout_s
        while True:
            try:
                part = await self._next_event(lambda: deadline)
            except TimeoutError:
                return timeout_answer("body")
            if isinstance(part, h11.Data):
                body += part.data
                if len(body) > limit:
                    return too_large(limit)
            elif isinstance(part, h11.EndOfMessage):
                return HttpRequest(method, target, headers, bytes(body))
            else:  # the client closed mid-body
                self._lost = True
                return timeout_answer("body")

    # --- writing ---------------------------------------------------------------------------------------

    def _send(self, answer: Answer, *, head_only: bool) -> None:
        conn = self._conn
        if self._lost or conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        headers = [(name, value) for name, value in answer.headers if name.lower() != "content-length"]
        if answer.status not in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
            headers.append(("Content-Length", str(len(answer.body))))
        headers.append(("Date", email.utils.formatdate(usegmt=True)))
        headers.append(("Server", "realtime_nb-engine"))
        if answer.close:
            headers.append(("Connection", "close"))
        try:
            reason = HTTPStatus(answer.status).phrase.encode()
            data = conn.send(h11.Response(status_code=answer.status, headers=headers, reason=reason))
            if answer.body and not head_only and answer.status != HTTPStatus.NO_CONTENT:
                data += conn.send(h11.Data(data=answer.body))
            data += conn.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            self._door.log.exception("the engine built an invalid HTTP answer")
            self._close()
            return
        self._write(data)

    def _write(self, data: bytes | None) -> None:
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _close(self) -> None:
        self._door.untrack(self)
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


# --------------------------------------------------------------------------------------------------
# Answers written before (or without) h11


def too_large(limit: int) -> Answer:
    return error_answer(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        "request_too_large",
        f"The request body is larger than this engine accepts ({limit} bytes).",
        close=True,
    )


def timeout_answer(part: str) -> Answer:
    return error_answer(
        HTTPStatus.REQUEST_TIMEOUT,
        "request_timeout",
        f"The request {part} did not arrive in time; the connection is closed.",
        close=True,
    )


def no_h11_answer() -> Answer:
    return error_answer(
        HTTPStatus.NOT_IMPLEMENTED,
        "webrtc_unavailable",
        "The engine's HTTP endpoints (WebRTC keys and calls) need h11: pip install 'realtime-nb[webrtc]'.",
        close=True,
    )


def raw_answer(answer: Answer) -> bytes:
    """An answer serialized without h11 (the timeout before any parser, and the no-h11 case)."""
    reason = HTTPStatus(answer.status).phrase
    lines = [f"HTTP/1.1 {answer.status} {reason}"]
    lines += [f"{name}: {value}" for name, value in answer.headers]
    lines += [f"Content-Length: {len(answer.body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + answer.body
