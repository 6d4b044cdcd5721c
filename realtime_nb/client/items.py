"""Conversation items: small builders for the common ones, and decoding the audio of a retrieved item."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from realtime_nb.audio import AUDIO_RATES, b64_to_pcm

# Content-part types whose `audio` is in the session's *input* format; the others (assistant
# `output_audio`, preview `audio`) are in the output format.
_INPUT_AUDIO_PARTS = frozenset({"input_audio"})
_OUTPUT_AUDIO_PARTS = frozenset({"output_audio", "audio"})

AUDIO_PCM_KEY = "audio_pcm"
AUDIO_RATE_KEY = "audio_rate"


def user_text(text: str) -> dict[str, Any]:
    """A user message with one `input_text` part."""
    return message_text(text, "user")


def message_text(text: str, role: str = "user") -> dict[str, Any]:
    """A `system` / `user` / `assistant` text message (assistant text is `output_text` in GA)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if role not in ("user", "system", "assistant"):
        raise ValueError(f"role must be 'user', 'system' or 'assistant', got {role!r}")
    part_type = "output_text" if role == "assistant" else "input_text"
    return {"type": "message", "role": role, "content": [{"type": part_type, "text": text}]}


def function_call_output(call_id: str, output: Any) -> dict[str, Any]:
    """The result of a tool call; a non-string `output` is sent as JSON text."""
    if not isinstance(call_id, str) or not call_id:
        raise ValueError(f"call_id must be a non-empty string, got {call_id!r}")
    if not isinstance(output, str):
        try:
            output = json.dumps(output)
        except TypeError as exc:
            raise TypeError(f"function output must be a str or JSON-serialisable: {exc}") from None
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def with_decoded_audio(item: dict[str, Any], input_format: str, output_format: str) -> dict[str, Any]:
    """A copy of `item` with its audio decoded: ``audio_pcm`` (int16) at ``audio_rate`` Hz.

    Audio parts are concatenated in content order; an item without audio gets an empty array at the
    input rate. The base64 `audio` fields stay in `content` as received.
    """
    out = dict(item)
    chunks: list[np.ndarray] = []
    rate: int | None = None
    for part in item.get("content") or []:
        if not isinstance(part, dict) or not isinstance(part.get("audio"), str) or not part["audio"]:
            continue
        kind = part.get("type")
        if kind in _INPUT_AUDIO_PARTS:
            fmt = input_format
        elif kind in _OUTPUT_AUDIO_PARTS:
            fmt = output_format
        else:
            continue
        if rate is not None and AUDIO_RATES[fmt] != rate:
            raise ValueError("item mixes audio parts at different rates; decode the parts one by one")
        rate = AUDIO_RATES[fmt]
        chunks.append(b64_to_pcm(part["audio"], fmt))  # type: ignore[arg-type]
    out[AUDIO_RATE_KEY] = rate if rate is not None else AUDIO_RATES[input_format]
    out[AUDIO_PCM_KEY] = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    return out


def truncate_point(played_ms: float, received_ms: float) -> int:
    """Where to truncate an assistant item after barge-in, in whole ms of its audio.

    The listener heard ``played_ms``; the server holds ``received_ms`` (what we received of the
    item). Truncating beyond the server's audio is an error on the service, so take the smaller,
    rounded down so a rounding step can never overshoot either bound.
    """
    for name, value in (("played_ms", played_ms), ("received_ms", received_ms)):
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number of milliseconds, got {value!r}")
        if value < 0:
            raise ValueError(f"{name} must not be negative, got {value!r}")
    return math.floor(min(played_ms, received_ms))
