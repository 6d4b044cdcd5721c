"""Builders for the client events that carry configuration: session.update and response.create.

Both validate before anything is sent (ConfigError) and render the dialect's wire shape, so the
client, the tests and the notebooks build these the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.response_params import ResponseParams
from realtime_nb.protocol.session_config import SessionConfig
from realtime_nb.protocol.values import CustomVoice, FunctionChoice, FunctionTool

__all__ = ["response_create", "session_update"]


def session_update(config: SessionConfig, dialect: Dialect, *, event_id: str | None = None) -> dict[str, Any]:
    """A `session.update` carrying the whole of `config` (whole objects, never partial ones, so the
    service never fills a left-out turn_detection field with its own default).

    `model` is left out: the service does not change it through session.update. A transcription
    session's update is a preview `transcription_session.update`.
    """
    session = config.to_wire(dialect)
    session.pop("model", None)
    preview_transcription = config.transcribes_only and dialect is Dialect.PREVIEW
    kind = "transcription_session.update" if preview_transcription else "session.update"
    event: dict[str, Any] = {"type": kind, "session": session}
    if event_id is not None:
        event["event_id"] = event_id
    return event


def response_create(
    dialect: Dialect,
    *,
    instructions: str | None = None,
    output_modalities: Sequence[str] | None = None,
    voice: str | CustomVoice | Mapping[str, str] | None = None,
    output_format: str | None = None,
    tools: Sequence[FunctionTool | Mapping[str, Any]] | None = None,
    tool_choice: str | FunctionChoice | Mapping[str, Any] | None = None,
    max_output_tokens: int | str | None = None,
    temperature: float | None = None,
    conversation: str | None = None,
    metadata: Mapping[str, str] | None = None,
    input: Sequence[Mapping[str, Any]] | None = None,  # shadows the builtin: it is the wire name
    event_id: str | None = None,
) -> dict[str, Any]:
    """A `response.create` with per-response overrides (None = use the session's value).

    Options are given canonically (`output_modalities=["audio"]`, `output_format="pcm16"`) and
    rendered for `dialect`. `temperature` exists only in preview. `input` items are canonical
    (assistant parts `output_text`); `conversation="none"` makes an out-of-band response.
    """
    params = ResponseParams(
        instructions=instructions,
        output_modalities=output_modalities,  # type: ignore[arg-type]  # normalised to a tuple
        voice=voice,  # type: ignore[arg-type]  # a {id} mapping becomes a CustomVoice
        output_format=output_format,
        tools=tools,  # type: ignore[arg-type]  # normalised to FunctionTools
        tool_choice=tool_choice,  # type: ignore[arg-type]
        max_output_tokens=max_output_tokens,
        temperature=temperature,
        conversation=conversation,
        metadata=metadata,
        input=input,  # type: ignore[arg-type]  # copied to a tuple of dicts
        dialect=dialect,
    )
    event: dict[str, Any] = {"type": "response.create"}
    if event_id is not None:
        event["event_id"] = event_id
    response = params.to_wire(dialect)
    if response:
        event["response"] = response
    return event
