"""Builders for the client events that carry configuration: session.update and response.create.

Both validate before anything is sent (ConfigError) and render the dialect's wire shape, so the
client, the tests and the notebooks build these the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from realtime_nb.protocol.config import (
    AUDIO_FORMATS,
    ConfigError,
    CustomVoice,
    FunctionChoice,
    FunctionTool,
    SessionConfig,
    _check_choice,
    _check_max_tokens,
    _check_modalities,
    _check_number,
    _check_str,
    _tool_choice_from,
    _tool_from_dict,
    _voice_for,
)
from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.translate import format_to_ga, to_wire

__all__ = ["response_create", "session_update"]

_METADATA_MAX_PAIRS = 16
_METADATA_MAX_KEY = 64
_METADATA_MAX_VALUE = 512


def session_update(config: SessionConfig, dialect: Dialect, *, event_id: str | None = None) -> dict[str, Any]:
    """A `session.update` carrying the whole of `config` (whole objects, never partial ones, so the
    service never fills a left-out turn_detection field with its own default).

    `model` is left out: the service does not change it through session.update.
    """
    session = config.to_wire(dialect)
    session.pop("model", None)
    event: dict[str, Any] = {"type": "session.update", "session": session}
    if event_id is not None:
        event["event_id"] = event_id
    return event


def _param_error(err: ConfigError, name: str) -> ConfigError:
    return ConfigError(err.field, err.value, err.allowed, code=err.code, param=f"response.{name}")


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
    params: dict[str, Any] = {}
    try:
        if instructions is not None:
            _check_str("instructions", instructions)
            params["instructions"] = instructions
        if output_modalities is not None:
            params["output_modalities"] = list(_check_modalities("output_modalities", output_modalities))
    except ConfigError as err:
        raise _param_error(err, err.field) from None
    if voice is not None or output_format is not None:
        output: dict[str, Any] = {}
        if voice is not None:
            if isinstance(voice, CustomVoice):
                voice = {"id": voice.id}
            chosen = _voice_for(
                voice,
                dialect,
                "response.voice" if dialect is Dialect.PREVIEW else "response.audio.output.voice",
            )
            output["voice"] = {"id": chosen.id} if isinstance(chosen, CustomVoice) else chosen
        if output_format is not None:
            try:
                _check_choice("output_format", output_format, AUDIO_FORMATS)
            except ConfigError as err:
                raise _param_error(
                    err, "output_audio_format" if dialect is Dialect.PREVIEW else "audio.output.format"
                ) from None
            output["format"] = format_to_ga(output_format)
        params["audio"] = {"output": output}
    if tools is not None:
        rendered = []
        for i, tool in enumerate(tools):
            try:
                rendered.append(_tool_from_dict(tool, f"tools[{i}]").to_wire())
            except ConfigError as err:
                raise ConfigError(
                    err.field, err.value, err.allowed, code=err.code, param=f"response.{err.field}"
                ) from None
        params["tools"] = rendered
    if tool_choice is not None:
        try:
            choice = _tool_choice_from(tool_choice, "tool_choice")
        except ConfigError as err:
            raise _param_error(err, "tool_choice") from None
        params["tool_choice"] = (
            {"type": "function", "name": choice.name} if isinstance(choice, FunctionChoice) else choice
        )
    if max_output_tokens is not None:
        try:
            _check_max_tokens("max_output_tokens", max_output_tokens)
        except ConfigError as err:
            raise _param_error(
                err, "max_response_output_tokens" if dialect is Dialect.PREVIEW else "max_output_tokens"
            ) from None
        params["max_output_tokens"] = max_output_tokens
    if temperature is not None:
        if dialect is not Dialect.PREVIEW:
            raise ConfigError(
                "temperature",
                temperature,
                "temperature exists only in preview",
                code="unknown_parameter",
                param="response.temperature",
            )
        try:
            _check_number("temperature", temperature, 0.6, 1.2)
        except ConfigError as err:
            raise _param_error(err, "temperature") from None
        params["temperature"] = temperature
    if conversation is not None:
        try:
            _check_choice("conversation", conversation, ("auto", "none"))
        except ConfigError as err:
            raise _param_error(err, "conversation") from None
        params["conversation"] = conversation
    if metadata is not None:
        params["metadata"] = _check_metadata(metadata)
    if input is not None:
        if isinstance(input, (str, bytes, Mapping)) or not all(isinstance(i, Mapping) for i in input):
            raise ConfigError(
                "input",
                input,
                "a list of items or item references",
                code="invalid_type",
                param="response.input",
            )
        params["input"] = [dict(item) for item in input]
    event: dict[str, Any] = {"type": "response.create"}
    if event_id is not None:
        event["event_id"] = event_id
    if params:
        event["response"] = params
    wire = to_wire(event, dialect)
    assert wire is not None  # response.create exists in both dialects
    return wire


def _check_metadata(metadata: Any) -> dict[str, str]:
    allowed = (
        f"up to {_METADATA_MAX_PAIRS} string pairs, keys up to {_METADATA_MAX_KEY} characters, "
        f"values up to {_METADATA_MAX_VALUE}"
    )
    if not isinstance(metadata, Mapping):
        raise ConfigError("metadata", metadata, allowed, code="invalid_type", param="response.metadata")
    if len(metadata) > _METADATA_MAX_PAIRS:
        raise ConfigError("metadata", len(metadata), allowed, param="response.metadata")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ConfigError(
                "metadata", {key: value}, allowed, code="invalid_type", param=f"response.metadata.{key}"
            )
        if len(key) > _METADATA_MAX_KEY or len(value) > _METADATA_MAX_VALUE:
            raise ConfigError("metadata", key, allowed, param=f"response.metadata.{key}")
    return dict(metadata)
