"""Server events too large for a call's data channel: refused with an error the client can match.

A peer's SDP states the largest message its data channel takes (aiortc 256 KiB, Chrome 256 KiB); a
``conversation.item.retrieved`` of a few seconds of audio exceeds it. The event is not sent; an
``error`` (``event_too_large``) says so and points at the sideband socket, which has no such limit.
Server events carry no trace of the client event they answer, so :class:`RetrieveLedger` remembers
which channel message asked for which item: the error then carries that message's ``event_id``, and
the client's waiter fails at once instead of at its timeout.
"""

from __future__ import annotations

import json
from typing import Any

from realtime_nb.engine.errors import RequestError
from realtime_nb.protocol.ids import new_id

__all__ = ["RetrieveLedger", "too_large_error"]

_RETRIEVE = '"conversation.item.retrieve"'  # a cheap test before parsing a channel message twice
_KEPT = 64  # retrieves remembered per call; one still unanswered after 64 newer ones is forgotten


class RetrieveLedger:
    """Item id -> the ``event_id`` of the channel's latest ``conversation.item.retrieve`` of it."""

    def __init__(self) -> None:
        self._asked: dict[str, str] = {}

    def note(self, text: str) -> None:
        """Look at a client message from the channel; remember it if it is a retrieve."""
        if _RETRIEVE not in text:
            return
        try:
            event = json.loads(text)
            item_id, event_id = event["item_id"], event["event_id"]
        except (ValueError, TypeError, KeyError):
            return  # not a well-formed retrieve: the session answers it with its own error
        if isinstance(item_id, str) and isinstance(event_id, str):
            self._asked.pop(item_id, None)
            self._asked[item_id] = event_id
            while len(self._asked) > _KEPT:
                del self._asked[next(iter(self._asked))]

    def answered(self, event: dict[str, Any]) -> str | None:
        """The ``event_id`` that asked for `event` (a ``conversation.item.retrieved``), forgotten now."""
        if event.get("type") != "conversation.item.retrieved":
            return None
        return self._asked.pop(str((event.get("item") or {}).get("id")), None)


def too_large_error(text: str, exc: ValueError, call_id: str, ledger: RetrieveLedger) -> dict[str, Any]:
    """The ``error`` event sent instead of `text`, which the channel refused with `exc`."""
    event = json.loads(text)
    error = RequestError(
        "event_too_large",
        f"A {event.get('type', '?')} event of {len(text.encode())} bytes exceeds what the peer's data "
        f"channel accepts ({exc}); it was not sent. Read it over a sideband WebSocket (?call_id={call_id}).",
        type="server_error",
    )
    return {"type": "error", "event_id": new_id("event"), "error": error.to_error(ledger.answered(event))}
