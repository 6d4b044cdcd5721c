"""The one exception every request handler raises to refuse a client event.

Handlers validate everything first and mutate only after the last check, so raising
:class:`RequestError` always leaves the session exactly as it was; the session turns it into an
``error`` event carrying the client's ``event_id``.
"""

from __future__ import annotations


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
