"""What the kind of a session (realtime or transcription) allows, checked before any handler runs.

A connection opens one kind of session and keeps it (`handshake.Route.session_type`: `?intent=
transcription` opens a transcription session). A transcription session turns committed input audio
into transcripts and makes no responses: ``response.create`` and ``response.cancel`` are refused,
turn ends commit without a response, and its session object holds only the input side. In preview
it is configured with ``transcription_session.update`` (answered by ``transcription_session.updated``)
and a ``session.update`` is refused, as the other way round on a realtime session; in GA both kinds
use ``session.update`` and a ``session.type`` other than the session's is refused by the protocol
(`protocol.session_config`).
"""

from __future__ import annotations

from realtime_nb.engine.errors import RequestError
from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.session_config import SessionConfig

# Client events a transcription session has nothing to act on: it never makes a response.
RESPONSE_ONLY_EVENTS = frozenset({"response.create", "response.cancel"})


def check_request(config: SessionConfig, dialect: Dialect, event_type: str) -> None:
    """Raise the error for a client event the session's kind does not take; None if it may run."""
    transcription = config.transcribes_only
    if transcription and event_type in RESPONSE_ONLY_EVENTS:
        raise RequestError(
            "invalid_value",
            f"{event_type} is not available in a transcription session: it transcribes committed "
            "input audio and makes no responses (open a realtime session, without "
            "?intent=transcription, for responses).",
            "type",
        )
    if dialect is not Dialect.PREVIEW:
        return
    if transcription and event_type == "session.update":
        raise RequestError(
            "invalid_value",
            "This is a transcription session (opened with ?intent=transcription): configure it with "
            "transcription_session.update.",
            "type",
        )
    if not transcription and event_type == "transcription_session.update":
        raise RequestError(
            "invalid_value",
            "transcription_session.update configures a transcription session, which a connection "
            "opens with ?intent=transcription; this one is a realtime session: use session.update.",
            "type",
        )
