"""What the HTTP layer gets back from the call registry (``calls.py``): the answer, or a refusal in the
service's error shape; and the first look at an offer, before aiortc's lenient parser sees it."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any


class CallRefused(Exception):
    """An offer the engine will not answer: the HTTP status, the service-style error code, a message
    naming the problem and the offending parameter, if any."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = int(status)
        self.code = code
        self.message = message
        self.param = param

    def body(self) -> dict[str, Any]:
        """The error body in the service's shape."""
        return {
            "error": {
                "type": "invalid_request_error",
                "code": self.code,
                "message": self.message,
                "param": self.param,
            }
        }

    def __repr__(self) -> str:
        return f"CallRefused({self.status}, {self.code!r}, {self.message!r}, param={self.param!r})"


@dataclass(frozen=True)
class OpenedCall:
    call_id: str
    answer_sdp: str


def check_offer_text(offer_sdp: object) -> None:
    """Refuse what is not an SDP offer at all before aiortc sees it (its parser is lenient)."""
    if not isinstance(offer_sdp, str) or not offer_sdp.strip():
        raise CallRefused(HTTPStatus.BAD_REQUEST, "invalid_sdp", "The SDP offer is empty.", "sdp")
    lines = [line.strip() for line in offer_sdp.strip().splitlines()]
    if lines[0] != "v=0" or not any(line.startswith("m=") for line in lines):
        raise CallRefused(
            HTTPStatus.BAD_REQUEST,
            "invalid_sdp",
            "The body is not an SDP offer: it must start with 'v=0' and describe media ('m=' lines).",
            "sdp",
        )
