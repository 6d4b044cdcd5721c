"""What the log needs to know about the session, read from the session events themselves.

Audio bytes can only be decoded when their format is known, and the "true end of speech" needs the
VAD silence window in force at the time. Both come from `session.created` / `session.updated` and from
the client's `session.update` (applied at once: a client appends in the new format right after asking
for it). Preview spells formats as strings (`input_audio_format: "g711_ulaw"`), GA as objects
(`audio.input.format: {"type": "audio/pcmu"}`); early GA SDKs still sent the strings, so both are read
in both dialects.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from realtime_nb.audio import AUDIO_RATES

_GA_FORMATS: dict[str, str] = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
SESSION_TYPES: frozenset[str] = frozenset({"session.created", "session.updated", "session.update"})


def parse_format(value: Any) -> str | None:
    """Canonical format name (`pcm16`, `g711_ulaw`, `g711_alaw`) of a wire format value, or None."""
    if isinstance(value, str):
        return value if value in AUDIO_RATES else _GA_FORMATS.get(value)
    if isinstance(value, dict):
        name = _GA_FORMATS.get(value.get("type")) if isinstance(value.get("type"), str) else None
        rate = value.get("rate", AUDIO_RATES.get(name or "", None))
        if name is not None and rate == AUDIO_RATES[name]:
            return name
    return None


@dataclass(frozen=True)
class SessionAudio:
    """Audio formats and VAD settings as last seen; `None` silence = no server_vad silence window."""

    input_format: str = "pcm16"
    output_format: str = "pcm16"
    turn_detection: str | None = "server_vad"
    silence_duration_ms: int | None = None


def _turn_detection(session: dict) -> tuple[bool, Any]:
    """(present, value) of turn_detection in either session shape."""
    if "turn_detection" in session:
        return True, session["turn_detection"]
    audio_in = _input_section(session)
    if audio_in is not None and "turn_detection" in audio_in:
        return True, audio_in["turn_detection"]
    return False, None


def _input_section(session: dict) -> dict | None:
    audio = session.get("audio")
    if isinstance(audio, dict) and isinstance(audio.get("input"), dict):
        return audio["input"]
    return None


def _output_section(session: dict) -> dict | None:
    audio = session.get("audio")
    if isinstance(audio, dict) and isinstance(audio.get("output"), dict):
        return audio["output"]
    return None


def apply_session(state: SessionAudio, session: Any, issues: list[str]) -> SessionAudio:
    """`state` updated by a (partial) session object; unreadable values keep the old ones."""
    if not isinstance(session, dict):
        issues.append("session is not an object; audio formats unchanged")
        return state
    changes: dict[str, Any] = {}
    for side, preview_key, section in (
        ("input", "input_audio_format", _input_section(session)),
        ("output", "output_audio_format", _output_section(session)),
    ):
        raw = session.get(preview_key) if preview_key in session else (section or {}).get("format")
        if raw is None:
            continue
        fmt = parse_format(raw)
        if fmt is None:
            issues.append(f"unknown {side} audio format {raw!r}; kept {getattr(state, side + '_format')}")
        else:
            changes[side + "_format"] = fmt
    present, td = _turn_detection(session)
    if present:
        if td is None:
            changes.update(turn_detection=None, silence_duration_ms=None)
        elif isinstance(td, dict):
            kind = td.get("type") if isinstance(td.get("type"), str) else state.turn_detection
            silence = td.get("silence_duration_ms")
            if not (type(silence) is int and silence >= 0):
                silence = state.silence_duration_ms if kind == "server_vad" else None
            changes.update(turn_detection=kind, silence_duration_ms=silence)
    return replace(state, **changes) if changes else state


def response_output_format(response: Any) -> str | None:
    """The output format a response object (or response.create options) names, if any."""
    if not isinstance(response, dict):
        return None
    if "output_audio_format" in response:
        return parse_format(response["output_audio_format"])
    section = _output_section(response)
    return parse_format(section.get("format")) if section else None
