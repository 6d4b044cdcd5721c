"""ResponseParams: one validation of response.create options, from keywords or from the wire."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from realtime_nb.protocol import (
    ConfigError,
    CustomVoice,
    Dialect,
    FunctionChoice,
    FunctionTool,
    ResponseParams,
    response_create,
)

ITEMS = (
    {"type": "item_reference", "id": "item_1"},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "yo"}]},
)
RICH = ResponseParams(
    instructions="Summarise.",
    output_modalities=["text"],  # type: ignore[arg-type]
    voice="ash",
    output_format="g711_ulaw",
    tools=[{"type": "function", "name": "f", "parameters": {"type": "object"}}],  # type: ignore[arg-type]
    tool_choice={"type": "function", "name": "f"},  # type: ignore[arg-type]
    max_output_tokens=64,
    conversation="none",
    metadata={"purpose": "summary"},
    input=ITEMS,
)


def test_values_are_normalised_on_construction() -> None:
    assert RICH.output_modalities == ("text",)
    assert RICH.tools == (FunctionTool("f", parameters={"type": "object"}),)
    assert RICH.tool_choice == FunctionChoice("f")
    assert ResponseParams(voice={"id": "voice_1"}).voice == CustomVoice("voice_1")  # type: ignore[arg-type]
    assert (
        ResponseParams()
        == ResponseParams.from_wire(None, Dialect.GA)
        == ResponseParams.from_wire({}, Dialect.PREVIEW)
    )
    assert ResponseParams().to_wire(Dialect.GA) == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        RICH.voice = "echo"  # type: ignore[misc]


def test_inputs_are_copied() -> None:
    item = {"type": "item_reference", "id": "a"}
    params = ResponseParams(input=[item])  # type: ignore[arg-type]
    item["id"] = "b"
    assert params.input == ({"type": "item_reference", "id": "a"},)


@pytest.mark.parametrize("dialect", list(Dialect))
@pytest.mark.parametrize(
    "params",
    [
        ResponseParams(),
        RICH,
        ResponseParams(output_modalities=("audio",), output_format="pcm16", max_output_tokens="inf"),
        ResponseParams(tool_choice="required", tools=(), metadata={}),
    ],
)
def test_wire_round_trip(params: ResponseParams, dialect: Dialect) -> None:
    assert ResponseParams.from_wire(params.to_wire(dialect), dialect) == params


def test_temperature_and_custom_voices_per_dialect() -> None:
    warm = ResponseParams(temperature=0.9)
    wire = warm.to_wire(Dialect.PREVIEW)
    assert wire == {"temperature": 0.9}
    assert ResponseParams.from_wire(wire, Dialect.PREVIEW) == warm
    with pytest.raises(ConfigError) as err:
        warm.to_wire(Dialect.GA)
    assert (err.value.code, err.value.param) == ("unknown_parameter", "response.temperature")
    custom = ResponseParams(voice=CustomVoice("voice_9"))
    assert custom.to_wire(Dialect.GA) == {"audio": {"output": {"voice": {"id": "voice_9"}}}}
    assert ResponseParams.from_wire(custom.to_wire(Dialect.GA), Dialect.GA) == custom
    with pytest.raises(ConfigError) as err:
        custom.to_wire(Dialect.PREVIEW)
    assert err.value.param == "response.voice"


def test_dialect_shapes() -> None:
    preview = RICH.to_wire(Dialect.PREVIEW)
    assert preview["modalities"] == ["text"] and preview["voice"] == "ash"
    assert preview["output_audio_format"] == "g711_ulaw" and preview["max_response_output_tokens"] == 64
    assert preview["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert preview["input"][1]["content"][0]["type"] == "text"
    ga = RICH.to_wire(Dialect.GA)
    assert ga["audio"] == {"output": {"voice": "ash", "format": {"type": "audio/pcmu"}}}
    assert ga["output_modalities"] == ["text"] and ga["max_output_tokens"] == 64
    assert ga["input"][1]["content"][0]["type"] == "output_text"
    # what the engine reads: canonical items whatever the dialect
    assert ResponseParams.from_wire(preview, Dialect.PREVIEW).input == ITEMS


def test_response_create_renders_response_params() -> None:
    for dialect in Dialect:
        event = response_create(
            dialect, event_id="e", instructions="Summarise.", voice="ash", max_output_tokens=64
        )
        params = ResponseParams(instructions="Summarise.", voice="ash", max_output_tokens=64)
        assert event == {"type": "response.create", "event_id": "e", "response": params.to_wire(dialect)}


@pytest.mark.parametrize("dialect", list(Dialect))
def test_wire_events_validate_with_the_sdk(sdk_adapters, dialect: Dialect) -> None:
    for params in (RICH, ResponseParams(voice="coral", output_format="pcm16")):
        wire = params.to_wire(dialect)
        if dialect is Dialect.GA:  # the GA SDK's event *model* lists items only (see translate tests)
            wire = {**wire, "input": [i for i in wire.get("input", []) if i["type"] != "item_reference"]}
        else:  # the beta SDK types tool_choice as str (see translate tests)
            wire = {k: v for k, v in wire.items() if k != "tool_choice"}
        sdk_adapters[(dialect, "client")].validate_python({"type": "response.create", "response": wire})


# The engine's response.create refusals (tests/unit/test_engine_session.py) and the client's
# (tests/unit/test_protocol_config.py), as read from the wire.
@pytest.mark.parametrize(
    ("dialect", "params", "code", "param"),
    [
        (Dialect.GA, "audio", "invalid_type", "response"),
        (Dialect.GA, {"max_output_tokens": 0}, "invalid_value", "response.max_output_tokens"),
        (Dialect.GA, {"max_output_tokens": "lots"}, "invalid_type", "response.max_output_tokens"),
        (
            Dialect.PREVIEW,
            {"max_response_output_tokens": 0},
            "invalid_value",
            "response.max_response_output_tokens",
        ),
        (Dialect.GA, {"conversation": "other"}, "invalid_value", "response.conversation"),
        (Dialect.GA, {"instructions": 5}, "invalid_type", "response.instructions"),
        (Dialect.GA, {"output_modalities": ["text", "audio"]}, "invalid_value", "response.output_modalities"),
        (Dialect.PREVIEW, {"modalities": ["audio"]}, "invalid_value", "response.modalities"),
        (
            Dialect.GA,
            {"audio": {"output": {"voice": "nova"}}},
            "invalid_value",
            "response.audio.output.voice",
        ),
        (Dialect.PREVIEW, {"voice": "marin"}, "invalid_value", "response.voice"),
        (Dialect.PREVIEW, {"voice": {"id": "voice_1"}}, "invalid_type", "response.voice"),
        (
            Dialect.GA,
            {"audio": {"output": {"format": {"type": "audio/pcm", "rate": 16000}}}},
            "invalid_value",
            "response.audio.output.format.rate",
        ),
        (
            Dialect.GA,
            {"audio": {"output": {"format": "pcm16"}}},
            "invalid_type",
            "response.audio.output.format",
        ),
        (
            Dialect.GA,
            {"audio": {"output": {"speed": 1.2}}},
            "unknown_parameter",
            "response.audio.output.speed",
        ),
        (Dialect.GA, {"audio": {"input": {}}}, "unknown_parameter", "response.audio.input"),
        (Dialect.GA, {"audio": []}, "invalid_type", "response.audio"),
        (Dialect.PREVIEW, {"output_audio_format": "wav"}, "invalid_value", "response.output_audio_format"),
        (Dialect.GA, {"tools": {"type": "function"}}, "invalid_type", "response.tools"),
        (
            Dialect.GA,
            {"tools": [{"type": "function", "name": ""}]},
            "invalid_value",
            "response.tools[0].name",
        ),
        (Dialect.PREVIEW, {"tool_choice": "maybe"}, "invalid_value", "response.tool_choice"),
        (
            Dialect.GA,
            {"tool_choice": {"type": "function", "function": {"name": "f"}}},
            "unknown_parameter",
            "response.tool_choice.function",
        ),
        (Dialect.GA, {"temperature": 0.8}, "unknown_parameter", "response.temperature"),
        (Dialect.PREVIEW, {"temperature": 2.0}, "invalid_value", "response.temperature"),
        (Dialect.GA, {"metadata": ["a"]}, "invalid_type", "response.metadata"),
        (Dialect.GA, {"metadata": {str(i): "v" for i in range(17)}}, "invalid_value", "response.metadata"),
        (Dialect.GA, {"metadata": {"k": "v" * 513}}, "invalid_value", "response.metadata.k"),
        (Dialect.GA, {"metadata": {"k": 1}}, "invalid_type", "response.metadata.k"),
        (Dialect.GA, {"input": "hello"}, "invalid_type", "response.input"),
        (Dialect.PREVIEW, {"input": [5]}, "invalid_type", "response.input"),
        (Dialect.GA, {"modalities": ["text"]}, "unknown_parameter", "response.modalities"),
        (Dialect.PREVIEW, {"audio": {}}, "unknown_parameter", "response.audio"),
        (Dialect.GA, {"bogus": 1}, "unknown_parameter", "response.bogus"),
    ],
)
def test_bad_wire_params_are_refused(dialect: Dialect, params: Any, code: str, param: str) -> None:
    with pytest.raises(ConfigError) as err:
        ResponseParams.from_wire(params, dialect)
    assert (err.value.code, err.value.param) == (code, param), str(err.value)
    assert param in str(err.value)


def test_wrong_dialect_keys_say_what_to_use() -> None:
    with pytest.raises(ConfigError, match=r"use response\.output_modalities"):
        ResponseParams.from_wire({"modalities": ["text"]}, Dialect.GA)
    with pytest.raises(ConfigError, match=r"use response\.max_response_output_tokens"):
        ResponseParams.from_wire({"max_output_tokens": 5}, Dialect.PREVIEW)


def test_what_the_wire_may_leave_out_or_null() -> None:
    params = ResponseParams.from_wire({"metadata": None, "prompt": {"id": "p"}}, Dialect.GA)
    assert params == ResponseParams()  # null metadata is none; GA's prompt is accepted, not modelled


def test_canonical_construction_spells_errors_the_ga_way() -> None:
    with pytest.raises(ConfigError) as err:
        ResponseParams(voice="nova")
    assert err.value.param == "response.audio.output.voice"
    with pytest.raises(ConfigError) as err:
        ResponseParams(voice="marin", dialect=Dialect.PREVIEW)
    assert err.value.param == "response.voice"
    with pytest.raises(ConfigError) as err:
        ResponseParams(max_output_tokens=0, dialect=Dialect.PREVIEW)
    assert err.value.param == "response.max_response_output_tokens"
    assert ResponseParams(temperature=1.2).temperature == 1.2  # canonical: preview's temperature is kept
