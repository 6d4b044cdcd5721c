"""The one exception every request handler raises to refuse a client event.

Handlers validate everything first and mutate only after the last check, so raising
:class:`RequestError` always leaves the session exactly as it was; the session turns it into an
``error`` event carrying the client's ``event_id``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from realtime_nb.engine.state import IllegalTransition

log = logging.getLogger("realtime_nb.engine")


class RequestError(Exception):
    """A refused client request, rendered as the service's ``error`` event."""

    def __init__(
        self, code: str | None, message: str, param: str | None = None, *, type: str = "invalid_request_error"
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.type = type

    def to_error(self, client_event_id: str | None) -> dict[str, object]:
        """The ``error`` object of the server event."""
        return {
            "type": self.type,
            "code": self.code,
            "message": self.message,
            "param": self.param,
            "event_id": client_event_id,
        }


@contextlib.contextmanager
def client_faults(
    emit: Callable[[dict[str, Any]], None], event_id: Callable[[], str | None]
) -> Iterator[None]:
    """The router's last resort: any exception other than a refusal (RequestError) or an engine
    state fault (IllegalTransition, reported by the session itself) raised while handling a client
    event is an engine bug that client input found. It becomes a ``server_error`` event naming the
    client's event, and is logged with its traceback, instead of reaching the connection's crash
    handler, which would close the socket: the session stays open. Handlers validate before they
    mutate, so the event that found the bug has most likely changed nothing."""
    try:
        yield
    except (IllegalTransition, RequestError):
        raise
    except Exception as exc:  # a last resort, by design
        log.exception("engine error while handling client event %s", event_id())
        error = RequestError(
            "internal_error",
            f"Internal engine error while handling this event ({type(exc).__name__}); "
            "the session is still open.",
            type="server_error",
        )
        emit({"type": "error", "error": error.to_error(event_id())})
