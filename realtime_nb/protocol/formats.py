"""Audio formats: their names, sample rates, sample widths and GA wire objects, written once.

Preview (and our canonical values) name a format `"pcm16"`; GA sends an object
`{"type": "audio/pcm", "rate": 24000}`. G.711 objects carry no rate: they are always 8 kHz.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

__all__ = [
    "AUDIO_FORMATS",
    "AUDIO_RATES",
    "G711_RATE",
    "GA_FORMATS",
    "PCM_RATE",
    "SAMPLE_BYTES",
    "AudioFormat",
    "format_from_ga",
    "format_to_ga",
]

PCM_RATE = 24000  # Hz of pcm16, the only PCM rate both dialects speak (and the engine's working rate)
G711_RATE = 8000

AudioFormat: TypeAlias = Literal["pcm16", "g711_ulaw", "g711_alaw"]
AUDIO_FORMATS: tuple[str, ...] = ("pcm16", "g711_ulaw", "g711_alaw")
AUDIO_RATES: dict[str, int] = {"pcm16": PCM_RATE, "g711_ulaw": G711_RATE, "g711_alaw": G711_RATE}
SAMPLE_BYTES: dict[str, int] = {"pcm16": 2, "g711_ulaw": 1, "g711_alaw": 1}  # bytes per sample on the wire

# Format name -> its GA wire object.
GA_FORMATS: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": PCM_RATE},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
_GA_TYPES: dict[str, str] = {obj["type"]: name for name, obj in GA_FORMATS.items()}


def ga_format_name(kind: Any) -> str | None:
    """The format name of a GA format object's `type` (`"audio/pcmu"` -> `"g711_ulaw"`), or None."""
    return _GA_TYPES.get(kind) if isinstance(kind, str) else None


def format_to_ga(fmt: Any) -> Any:
    """`"pcm16"` -> `{"type": "audio/pcm", "rate": 24000}` etc.; anything else unchanged."""
    ga = GA_FORMATS.get(fmt) if isinstance(fmt, str) else None
    return dict(ga) if ga is not None else fmt


def format_from_ga(fmt: Any) -> Any:
    """`{"type": "audio/pcmu"}` -> `"g711_ulaw"` etc.; a pcm object at another rate, or anything
    unrecognised, is returned unchanged."""
    if not isinstance(fmt, dict):
        return fmt
    short = ga_format_name(fmt.get("type"))
    if short is None:
        return fmt
    if short == "pcm16" and fmt.get("rate", PCM_RATE) != PCM_RATE:
        return fmt
    return short
