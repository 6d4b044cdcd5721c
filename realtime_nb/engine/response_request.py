"""``response.create`` parameters -> the :class:`ResponseSpec` a response runs with.

The session's settings are the defaults (:func:`spec_from_session`); what a ``response.create``
overrides is validated here, each refusal naming its ``response.*`` param.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from realtime_nb.audio import AUDIO_RATES
from realtime_nb.engine.conversation import Conversation, Item, item_from_client
from realtime_nb.engine.errors import RequestError, is_int
from realtime_nb.engine.responses import ResponseSpec
from realtime_nb.protocol.config import SessionConfig


def spec_from_session(config: SessionConfig) -> ResponseSpec:
    """A response's options when response.create overrides nothing: the session's."""
    return ResponseSpec(
        output_modalities=tuple(config.output_modalities),
        instructions=config.instructions,
        voice=_voice_name(config.voice),
        speed=config.speed,
        output_format=config.output_format,
        tools=tuple(t.to_wire() for t in config.tools),
        tool_choice=_tool_choice_wire(config.tool_choice),
        max_output_tokens=config.max_output_tokens,
        temperature=config.temperature,
    )


def spec_from_request(
    params: object, config: SessionConfig, input_items: Callable[[object], list[Item]]
) -> ResponseSpec:
    """The options of ``response.create``'s ``response`` (canonical) on top of the session's;
    ``input_items`` builds ``response.input`` (see :func:`input_items`)."""
    spec = spec_from_session(config)
    if params is None:
        return spec
    if not isinstance(params, dict):
        raise RequestError("invalid_type", "'response' must be an object.", "response")
    if "output_modalities" in params:
        mods = params["output_modalities"]
        if not isinstance(mods, list) or not mods or not set(mods) <= {"text", "audio"}:
            raise RequestError(
                "invalid_value",
                f"Invalid output modalities {mods!r}: use ['audio'] or ['text'].",
                "response.output_modalities",
            )
        spec.output_modalities = ("audio",) if "audio" in mods else ("text",)
    if "instructions" in params:
        spec.instructions = _str_param(params, "instructions")
    output = (params.get("audio") or {}).get("output") if isinstance(params.get("audio"), dict) else None
    if isinstance(output, dict):
        if "voice" in output:
            spec.voice = _voice_name(output["voice"])
        if "format" in output:
            spec.output_format = _format_param(output["format"])
    if "tools" in params:
        if not isinstance(params["tools"], list):
            raise RequestError("invalid_type", "'response.tools' must be an array.", "response.tools")
        spec.tools = tuple(params["tools"])
    if "tool_choice" in params:
        spec.tool_choice = params["tool_choice"]
    if "max_output_tokens" in params:
        limit = params["max_output_tokens"]
        if limit != "inf" and not (is_int(limit) and 1 <= limit <= 4096):
            raise RequestError(
                "invalid_value",
                f"Invalid max_output_tokens {limit!r}: an integer 1-4096 or 'inf'.",
                "response.max_output_tokens",
            )
        spec.max_output_tokens = limit
    if "conversation" in params:
        conv = params["conversation"]
        if conv not in ("auto", "none"):
            raise RequestError(
                "invalid_value",
                f"Invalid conversation {conv!r}: 'auto' or 'none'.",
                "response.conversation",
            )
        spec.conversation = conv
    if "metadata" in params and params["metadata"] is not None:
        spec.metadata = _metadata_param(params["metadata"])
    if "temperature" in params:
        spec.temperature = params["temperature"]
    if "input" in params:
        spec.input = input_items(params["input"])
    return spec


def input_items(
    raw: object, conversation: Conversation, decode_audio: Callable[[str, str], np.ndarray]
) -> list[Item]:
    """``response.input``: references to conversation items and inline items (not inserted)."""
    if not isinstance(raw, list):
        raise RequestError("invalid_type", "'response.input' must be an array of items.", "response.input")
    items = []
    for i, entry in enumerate(raw):
        where = f"response.input[{i}]"
        if isinstance(entry, dict) and entry.get("type") == "item_reference":
            items.append(conversation.get(entry.get("id"), f"{where}.id"))
        else:
            items.append(item_from_client(entry, decode_audio, where))
    return items


def _voice_name(voice: object) -> str:
    if isinstance(voice, str):
        return voice
    vid = getattr(voice, "id", None) or (voice.get("id") if isinstance(voice, dict) else None)
    if isinstance(vid, str):
        return vid
    raise RequestError("invalid_value", f"Invalid voice {voice!r}.", "response.audio.output.voice")


def _tool_choice_wire(choice: object) -> object:
    name = getattr(choice, "name", None)
    return {"type": "function", "name": name} if name is not None else choice


def _format_param(fmt: object) -> str:
    short = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
    if isinstance(fmt, dict) and fmt.get("type") in short:
        return short[fmt["type"]]
    if fmt in AUDIO_RATES:
        return str(fmt)
    raise RequestError(
        "invalid_value", f"Invalid output audio format {fmt!r}.", "response.audio.output.format"
    )


def _str_param(params: dict[str, Any], key: str) -> str:
    value = params[key]
    if not isinstance(value, str):
        raise RequestError("invalid_type", f"'response.{key}' must be a string.", f"response.{key}")
    return value


def _metadata_param(raw: object) -> dict[str, str]:
    if not isinstance(raw, dict) or len(raw) > 16:
        raise RequestError(
            "invalid_value",
            "'response.metadata' must be an object of at most 16 string pairs.",
            "response.metadata",
        )
    for k, v in raw.items():
        if not isinstance(v, str) or len(k) > 64 or len(v) > 512:
            raise RequestError(
                "invalid_value",
                f"Invalid metadata entry {k!r}: keys up to 64 characters, string values up to 512.",
                f"response.metadata.{k}",
            )
    return dict(raw)
