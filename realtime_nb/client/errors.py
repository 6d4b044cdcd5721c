"""Exceptions the client raises. None of them ever carries a credential."""

from __future__ import annotations

import socket
import ssl
from typing import Any


class RealtimeClientError(Exception):
    """Base class of everything `realtime_nb.client` raises on purpose."""


class MissingCredentialError(RealtimeClientError, ValueError):
    """No API key (or endpoint) was given and the environment variable that would supply it is unset."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(message)
        self.variable = variable


class ServerError(RealtimeClientError):
    """The peer answered one of our events with an `error` event naming that event's `event_id`."""

    def __init__(
        self,
        code: str | None,
        message: str,
        param: str | None = None,
        event_id: str | None = None,
        error_type: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.param = param
        self.event_id = event_id
        self.error_type = error_type
        where = f" (param {param})" if param else ""
        super().__init__(f"{code or error_type or 'error'}: {message}{where} [event {event_id}]")

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> ServerError:
        """Build from a wire `error` event; tolerant of missing or null fields."""
        err = event.get("error") if isinstance(event.get("error"), dict) else {}
        return cls(
            code=err.get("code"),
            message=str(err.get("message") or "(no message)"),
            param=err.get("param"),
            event_id=err.get("event_id"),
            error_type=err.get("type"),
        )


class ConnectionClosedError(RealtimeClientError):
    """The socket is closed (by the peer, the network or us); pending and later calls fail with this."""

    def __init__(self, code: int | None, reason: str) -> None:
        self.code = code
        self.reason = reason
        text = f"connection closed (code {code})"
        super().__init__(f"{text}: {reason}" if reason else text)


class ConnectError(RealtimeClientError):
    """The WebSocket handshake failed (refused, HTTP 401/403/404, timeout). `status` is the HTTP status.

    `kind` says what failed, for a caller that explains it (`client.failures.explain_failure`):
    ``"http"`` (the server answered `status`), ``"dns"`` (the host name did not resolve),
    ``"refused"`` (nothing listens there), ``"timeout"``, ``"tls"``, ``"network"`` (another OS
    error) or ``"handshake"`` (the server did not speak WebSocket). `code` is the service's error
    code from a refusal's body (``invalid_api_key``, ``DeploymentNotFound``), when it gave one; the
    body's message is never kept, as the services quote part of a refused key in it.
    """

    def __init__(
        self,
        url: str,
        message: str,
        status: int | None = None,
        *,
        kind: str | None = None,
        code: str | None = None,
    ) -> None:
        self.url = url
        self.status = status
        self.kind = kind or ("http" if status is not None else "handshake")
        self.code = code
        super().__init__(f"could not connect to {url}: {message}")


def connect_failure_kind(exc: BaseException) -> str:
    """What a failed connection attempt ran into (`ConnectError.kind`), from the exception raised."""
    if isinstance(exc, TimeoutError):  # before OSError: TimeoutError is one
        return "timeout"
    if isinstance(exc, socket.gaierror):
        return "dns"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return "tls"
    if isinstance(exc, OSError):
        return "network"
    return "handshake"


class ProtocolError(RealtimeClientError):
    """The peer sent something that is not a Realtime event (malformed JSON, binary frame, no `type`)."""

    def __init__(self, message: str, raw: str | bytes | None = None) -> None:
        self.raw = raw
        super().__init__(message)
