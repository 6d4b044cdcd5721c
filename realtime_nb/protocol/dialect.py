"""The two wire dialects and the event-name translation between them.

Inside the package every event type is spelled the GA way (what the services accept today); the
preview (beta) names exist only on the wire. Translation is a table lookup so that recording an event
costs next to nothing.
"""

from __future__ import annotations

from enum import StrEnum


class Dialect(StrEnum):
    """Which shape of the protocol a connection speaks."""

    GA = "ga"
    PREVIEW = "preview"


# preview wire name -> canonical (GA) name, for the events whose name changed.
_PREVIEW_TO_GA: dict[str, str] = {
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "conversation.item.created": "conversation.item.added",
}
_GA_TO_PREVIEW: dict[str, str] = {ga: preview for preview, ga in _PREVIEW_TO_GA.items()}

# Preview transcription sessions (`?intent=transcription`) name their session events apart; in GA
# they are the session events of a session whose `type` is `transcription`. One way only: which
# preview name a canonical `session.*` takes depends on the session it carries (see `translate`).
PREVIEW_TRANSCRIPTION_SESSION: dict[str, str] = {
    "transcription_session.update": "session.update",
    "transcription_session.created": "session.created",
    "transcription_session.updated": "session.updated",
}

# GA events with no preview counterpart: translating them to preview yields None (not sent).
GA_ONLY: frozenset[str] = frozenset(
    {
        "conversation.item.done",
        "conversation.item.input_audio_transcription.segment",
        "input_audio_buffer.dtmf_event_received",
        "input_audio_buffer.timeout_triggered",
        "mcp_list_tools.in_progress",
        "mcp_list_tools.completed",
        "mcp_list_tools.failed",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.mcp_call.failed",
    }
)

# The GA SDK union still lists the legacy `conversation.item.created`; a GA peer that sends it means
# what the service now calls `conversation.item.added`.
_GA_ALIASES: dict[str, str] = {"conversation.item.created": "conversation.item.added"}


def canonical_type(wire_type: str, dialect: Dialect) -> str:
    """The canonical (GA) name of a wire event type; unknown types pass through unchanged."""
    if dialect is Dialect.PREVIEW:
        return _PREVIEW_TO_GA.get(wire_type) or PREVIEW_TRANSCRIPTION_SESSION.get(wire_type, wire_type)
    return _GA_ALIASES.get(wire_type, wire_type)


def wire_type(canonical: str, dialect: Dialect) -> str | None:
    """The name a canonical event type has on the wire, or None where the dialect has no such event."""
    if dialect is Dialect.PREVIEW:
        if canonical in GA_ONLY:
            return None
        return _GA_TO_PREVIEW.get(canonical, canonical)
    return canonical
