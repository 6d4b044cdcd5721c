"""``response.create`` parameters -> the :class:`ResponseSpec` a response runs with.

The session's settings are the defaults (:func:`spec_from_session`); what a ``response.create``
overrides arrives already validated as a :class:`~realtime_nb.protocol.ResponseParams` (read from
the wire by the session, with the same rules the client's ``create_response`` is held to), so
nothing here knows how either dialect spells an option. What is left to the engine is what only
the conversation can answer: ``response.input``'s items and item references.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from realtime_nb.engine.conversation import Conversation, Item, item_from_client
from realtime_nb.engine.errors import RequestError
from realtime_nb.engine.responses import ResponseSpec
from realtime_nb.protocol.response_params import ResponseParams
from realtime_nb.protocol.session_config import SessionConfig
from realtime_nb.protocol.values import CustomVoice, FunctionChoice, FunctionTool

InputItems = Callable[[Sequence[Mapping[str, Any]]], list[Item]]


def spec_from_session(config: SessionConfig) -> ResponseSpec:
    """A response's options when response.create overrides nothing: the session's."""
    return ResponseSpec(
        output_modalities=tuple(config.output_modalities),
        instructions=config.instructions,
        voice=_voice_name(config.voice),
        speed=config.speed,
        output_format=config.output_format,
        tools=_tools_wire(config.tools),
        tool_choice=_tool_choice_wire(config.tool_choice),
        max_output_tokens=config.max_output_tokens,
        temperature=config.temperature,
    )


def spec_from_request(params: ResponseParams, config: SessionConfig, input_items: InputItems) -> ResponseSpec:
    """``params`` (a validated ``response.create``) on top of the session's options; ``input_items``
    builds ``response.input`` (see :func:`input_items`)."""
    spec = spec_from_session(config)
    if params.output_modalities is not None:
        spec.output_modalities = params.output_modalities
    if params.instructions is not None:
        spec.instructions = params.instructions
    if params.voice is not None:
        spec.voice = _voice_name(params.voice)
    if params.output_format is not None:
        spec.output_format = params.output_format
    if params.tools is not None:
        spec.tools = _tools_wire(params.tools)
    if params.tool_choice is not None:
        spec.tool_choice = _tool_choice_wire(params.tool_choice)
    if params.max_output_tokens is not None:
        spec.max_output_tokens = params.max_output_tokens  # type: ignore[assignment]  # checked: int or "inf"
    if params.temperature is not None:
        spec.temperature = params.temperature
    if params.conversation is not None:
        spec.conversation = params.conversation  # type: ignore[assignment]  # checked: "auto" or "none"
    if params.metadata is not None:
        spec.metadata = dict(params.metadata)
    if params.input is not None:
        spec.input = input_items(params.input)
    return spec


def input_items(
    entries: Sequence[Mapping[str, Any]],
    conversation: Conversation,
    decode_audio: Callable[[str, str], np.ndarray],
) -> list[Item]:
    """``response.input`` (canonical items): references to conversation items and inline items,
    which are not inserted into the conversation. Each is checked as conversation.item.create
    checks an item, its errors naming ``response.input[i]``."""
    items = []
    for i, entry in enumerate(entries):
        where = f"response.input[{i}]"
        if entry.get("type") == "item_reference":
            extra = sorted(set(entry) - {"type", "id"})
            if extra:
                key = extra[0][:64]
                raise RequestError(
                    "unknown_parameter",
                    f"Unknown parameter: '{where}.{key}' (an item_reference takes type and id).",
                    f"{where}.{key}",
                )
            items.append(conversation.get(entry.get("id"), f"{where}.id"))
        else:
            items.append(item_from_client(dict(entry), decode_audio, where))
    return items


def _voice_name(voice: str | CustomVoice) -> str:
    """The name the engine's speech and the response object use: a custom voice by its id."""
    return voice if isinstance(voice, str) else voice.id


def _tools_wire(tools: Sequence[FunctionTool]) -> tuple[dict[str, Any], ...]:
    return tuple(t.to_wire() for t in tools)


def _tool_choice_wire(choice: str | FunctionChoice) -> str | dict[str, str]:
    return choice if isinstance(choice, str) else choice.to_wire()
