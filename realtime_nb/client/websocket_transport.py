"""The WebSocket beneath a `RealtimeSession`: handshake, frames in and out, close.

Everything specific to the `websockets` library lives here: the handshake (headers from the
`Endpoint`, a redacting logger because websockets logs every header at DEBUG, no size limit because a
retrieved item carries a whole utterance of base64 audio), mapping its handshake failures to
`ConnectError` with a hint, keepalive (websockets' default pings), and turning its close exceptions
into the `Transport` interface's close code and reason.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from realtime_nb.client.endpoints import Endpoint
from realtime_nb.client.errors import ConnectError, ConnectionClosedError, connect_failure_kind
from realtime_nb.protocol.redaction import RedactingLogger, is_secret

_MAX_CLOSE_WAIT_S = 10.0  # websockets' own default, the most a close waits for the peer's answer
_CODE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # a service's error code, not free text


class WebSocketTransport:
    """A `Transport` over one open websockets client connection."""

    name = "websocket"

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self.close_code: int | None = None
        self.close_reason = ""

    async def frames(self) -> AsyncIterator[str | bytes]:
        ws = self._ws
        try:
            async for frame in ws:
                yield frame
            self.close_code, self.close_reason = ws.close_code, ws.close_reason or ""
        except ConnectionClosed as exc:  # closed without a proper closing handshake
            self.close_code = exc.rcvd.code if exc.rcvd is not None else 1006
            self.close_reason = (
                exc.rcvd.reason if exc.rcvd is not None else "connection lost without a close frame"
            )

    async def send(self, text: str) -> None:
        try:
            await self._ws.send(text)
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            raise ConnectionClosedError(code, exc.rcvd.reason if exc.rcvd is not None else "") from None

    async def close(self) -> None:
        await self._ws.close()


async def open_websocket(endpoint: Endpoint, timeout: float) -> WebSocketTransport:
    """Connect to `endpoint` (handshake within `timeout` seconds).

    Raises `ConnectError` when the handshake fails; whatever the endpoint's token provider raises
    propagates as is.
    """
    url = endpoint.url
    headers = await endpoint.handshake_headers()
    redactor = RedactingLogger(logging.getLogger("websockets.client"), *_header_secrets(headers))
    try:
        ws = await ws_connect(
            url,
            additional_headers=headers,
            user_agent_header=f"realtime-nb websockets/{websockets.__version__}",
            open_timeout=timeout,
            # A peer that stopped reading never answers our close frame: give up (and drop the
            # connection) after the session's timeout rather than websockets' default 10 s.
            close_timeout=min(timeout, _MAX_CLOSE_WAIT_S),
            max_size=None,  # retrieved items carry whole utterances of base64 audio
            compression=None,
            logger=redactor,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        code = error_code(exc.response.body)
        raise ConnectError(
            url, f"HTTP {status} at the WebSocket handshake{_hint(status)}", status, code=code
        ) from None
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
        kind = connect_failure_kind(exc)
        hint = (
            " (is the local engine running? see realtime_nb.engine.start_engine)"
            if (endpoint.service == "local" and kind == "refused")
            else ""
        )
        raise ConnectError(url, f"{type(exc).__name__}: {exc}{hint}", kind=kind) from None
    return WebSocketTransport(ws)


def error_code(body: bytes | None) -> str | None:
    """The ``error.code`` of a refusal's JSON body, if it is a short identifier; never its message."""
    try:
        error = json.loads(body or b"").get("error")
    except (ValueError, AttributeError):
        return None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) and _CODE_RE.match(code) else None


def _header_secrets(headers: dict[str, str]) -> list[str]:
    """The credential values among the handshake headers, with and without their Bearer scheme."""
    secrets: list[str] = []
    for name, value in headers.items():
        if is_secret(name, value):
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
