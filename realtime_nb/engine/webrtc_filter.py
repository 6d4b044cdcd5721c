"""Azure's ``?webrtcfilter=on``: which server events a filtered call's data channel carries.

Azure's calls endpoint takes ``webrtcfilter=on`` for calls whose data channel ends in a web page: the
page then gets the events a voice UI needs and not the rest, in particular not the session's
configuration (its instructions) nor tool calls, which a backend reads on the call's sideband socket.
The subset below is the one the project's protocol notes record for the service
(/work/shared/protocol/ga.md, "Azure ?webrtcfilter=on"): speech started / stopped, output buffer
started / stopped, input transcription completed, item added / created, and the output text and
transcript events, in both dialects' spellings. The engine also lets ``error`` through, so a page
learns why an event it sent was refused (the notes do not say what the service does there).

The filter applies to the call's own data channel only; the sideband sees every event. Any value other
than on / off is refused with a 400 naming the parameter (a typo would otherwise silently show a page
everything).
"""

from __future__ import annotations

PASSED: frozenset[str] = frozenset(
    {
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.added",  # GA
        "conversation.item.created",  # preview (and the GA name of old)
        "response.output_text.delta",  # GA
        "response.output_text.done",
        "response.output_audio_transcript.delta",
        "response.output_audio_transcript.done",
        "response.text.delta",  # preview
        "response.text.done",
        "response.audio_transcript.delta",
        "response.audio_transcript.done",
        "error",
    }
)

_ON = ("on", "true", "1")
_OFF = ("off", "false", "0")


def filter_wanted(value: str | None) -> bool | None:
    """The query's ``webrtcfilter`` value: True (filter), False (absent or off), None (not a value
    the option takes: the caller refuses it)."""
    if value is None:
        return False
    lowered = value.strip().lower()
    return True if lowered in _ON else False if lowered in _OFF else None


def passes(event_type: str) -> bool:
    """Whether a filtered call's data channel carries an event of this type (wire spelling)."""
    return event_type in PASSED
