"""The field tables walked row by row: every field round-trips in each dialect that has it, lands at
the path its row names, and the rendered objects validate (strictly) against the openai SDK types."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from realtime_nb.protocol import (
    RESPONSE_FIELDS,
    SESSION_FIELDS,
    Dialect,
    Field,
    FunctionTool,
    ResponseParams,
    SemanticVad,
    ServerVad,
    SessionConfig,
    Transcription,
    response_create,
    rules,
    session_update,
)
from realtime_nb.protocol.field_docs import fields_markdown
from realtime_nb.protocol.fields import wire_param

DOCS = Path(__file__).resolve().parents[2] / "docs" / "session-fields.md"
_SCHEMA = {"type": "object", "properties": {"x": {"type": "string"}}}
_ITEM = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}


# --- a valid value other than the default, for any row ----------------------------------------------


def _sample(row: Field, dialect: Dialect) -> Any:
    rule, default = row.allowed, row.default
    if isinstance(rule, rules.Number):
        return rule.high if default != rule.high else rule.low
    if isinstance(rule, rules.Millis):
        return 1200
    if isinstance(rule, rules.Flag):
        return not default
    if isinstance(rule, (rules.OneOf, rules.Kind)):
        values = rule.values_for(dialect) if isinstance(rule, rules.OneOf) else rule.values
        return next(v for v in values if v != default)
    samples: dict[type, Any] = {
        rules.Text: "x",
        rules.ModelName: "gpt-realtime",
        rules.Language: "fr",
        rules.TokenLimit: 100,
        rules.Modalities: ("text",),
        rules.ToolName: "lookup",
        rules.JsonSchema: _SCHEMA,
        rules.ToolChoice: "required",
        rules.Tools: (FunctionTool("f"),),
        rules.TranscriptionObject: Transcription(model="gpt-4o-transcribe"),
        rules.TurnDetectionObject: None,
        rules.Metadata: {"k": "v"},
        rules.Items: (_ITEM,),
        rules.Includes: rule.values if isinstance(rule, rules.Includes) else None,
    }
    return samples[type(rule)]


def _changed(row: Field, value: Any, kind: str | None) -> dict[str, Any]:
    """Keyword arguments (of SessionConfig / ResponseParams) setting `row` to `value`."""
    if row.parent is None:
        return {row.name: value}
    if row.parent == "turn_detection":
        cls = {ServerVad.type: ServerVad, SemanticVad.type: SemanticVad}[value if row.key == "type" else kind]
        return {"turn_detection": cls() if row.key == "type" else cls(**{row.key: value})}
    if row.parent == "transcription":
        return {"transcription": Transcription(**{row.key: value})}
    assert row.parent == "tools", row.name
    return {"tools": (FunctionTool(**{"name": "f", row.key: value}),)}


def _cases(table: Any) -> list[tuple[Field, Dialect, str | None]]:
    cases = []
    for row in table:
        if isinstance(row.allowed, (rules.Fixed, rules.SessionType)):
            continue  # the session's kind changes its whole shape: test_transcription_session.py
        for dialect in Dialect:
            if table.path(row.name, dialect) is None:
                continue
            kinds = [k for k in row.kinds if row.key != "type"] or [None]
            cases += [(row, dialect, kind) for kind in kinds]
    return cases


def _case_id(case: Any) -> str:
    return f"{case.name}" if isinstance(case, Field) else str(case)


def _leaves(obj: Any, at: str = "") -> dict[str, Any]:
    """Leaf values by dotted path (an empty object is a leaf, except at the top)."""
    if isinstance(obj, dict) and (obj or not at):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            out.update(_leaves(value, f"{at}.{key}" if at else key))
        return out
    return {at: obj}


def _differences(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    a, b = _leaves(before), _leaves(after)
    return {path for path in a.keys() | b.keys() if a.get(path, ...) != b.get(path, ...)}


def _where(table: Any, row: Field, dialect: Dialect) -> str:
    """The path whose contents change with the row: its own, or its parent's for a list element's
    field or an object's kind (which changes the whole object)."""
    whole = row.parent is not None and (
        isinstance(row.allowed, rules.Kind) or isinstance(table.row(row.parent).allowed, rules.Tools)
    )
    path = table.path(row.parent if whole else row.name, dialect)
    assert path is not None
    return path


# --- strict SDK validation: the SDK models allow extra keys, so a misnamed key would pass -------------


def _extras(model: Any, at: str = "") -> list[str]:
    """Paths of keys the SDK model did not recognise (kept as pydantic extras)."""
    from pydantic import BaseModel

    found: list[str] = []
    if isinstance(model, BaseModel):
        found += [f"{at}.{key}" for key in (model.model_extra or {})]
        for name in type(model).model_fields:
            found += _extras(getattr(model, name), f"{at}.{name}")
    elif isinstance(model, (list, tuple)):
        for i, item in enumerate(model):
            found += _extras(item, f"{at}[{i}]")
    return found


def _validate(sdk_adapters: Any, dialect: Dialect, event: dict[str, Any]) -> None:
    parsed = sdk_adapters[(dialect, "client")].validate_python(event)
    assert _extras(parsed) == [], f"keys the {dialect} SDK does not know: {_extras(parsed)}"


def test_the_strict_sdk_check_can_fail(sdk_adapters) -> None:
    good = session_update(SessionConfig(), Dialect.GA)
    _validate(sdk_adapters, Dialect.GA, good)
    misplaced = {**good, "session": {**good["session"], "input_audio_format": "pcm16"}}
    with pytest.raises(AssertionError, match="input_audio_format"):
        _validate(sdk_adapters, Dialect.GA, misplaced)
    td = good["session"]["audio"]["input"]["turn_detection"]
    wrong_type = {"audio": {"input": {"turn_detection": {**td, "threshold": "high"}}}}
    with pytest.raises(Exception, match="threshold"):
        _validate(sdk_adapters, Dialect.GA, {**good, "session": {**good["session"], **wrong_type}})
    preview = session_update(SessionConfig(), Dialect.PREVIEW)
    _validate(sdk_adapters, Dialect.PREVIEW, preview)
    with pytest.raises(AssertionError, match="output_modalities"):
        _validate(sdk_adapters, Dialect.PREVIEW, {**preview, "session": {"output_modalities": ["audio"]}})


# --- the session table ------------------------------------------------------------------------------------


def test_session_config_has_exactly_the_top_level_rows_and_their_defaults() -> None:
    assert {f.name for f in dataclasses.fields(SessionConfig)} == {r.name for r in SESSION_FIELDS.top_level()}
    default = SessionConfig()
    for row in SESSION_FIELDS.top_level():
        expected = SessionConfig(**{row.name: row.default}) if row.name == "turn_detection" else None
        value = expected.turn_detection if expected else row.default
        assert getattr(default, row.name) == value, row.name
    for cls in (ServerVad, SemanticVad):
        rows = SESSION_FIELDS.children("turn_detection", cls.type)[1:]
        assert [f.name for f in dataclasses.fields(cls)] == [r.key for r in rows]
        assert dataclasses.astuple(cls()) == tuple(r.default for r in rows)
    assert dataclasses.astuple(Transcription()) == tuple(
        r.default for r in SESSION_FIELDS.children("transcription")
    )


@pytest.mark.parametrize(("row", "dialect", "kind"), _cases(SESSION_FIELDS), ids=_case_id)
def test_every_session_field_round_trips_at_its_path(
    sdk_adapters, row: Field, dialect: Dialect, kind: str | None
) -> None:
    # preview has `include` on transcription sessions only (the beta SDK's transcription_session.update)
    preview_include = row.name == "include" and dialect is Dialect.PREVIEW
    base = (SessionConfig.for_transcription if preview_include else SessionConfig)(
        tools=(FunctionTool("f"),) if row.parent == "tools" else (),
        transcription=Transcription() if row.parent == "transcription" else None,
        turn_detection=SemanticVad() if kind == SemanticVad.type else ServerVad(),
    )
    config = base.replace(**_changed(row, _sample(row, dialect), kind))
    assert config != base
    wire = config.to_wire(dialect)
    # the change shows at the row's path and nowhere else
    where = _where(SESSION_FIELDS, row, dialect)
    changed = _differences(base.to_wire(dialect), wire)
    assert changed and all(path == where or path.startswith(where + ".") for path in changed), changed
    # and reads back
    expected = config if dialect is Dialect.PREVIEW else config.replace(temperature=base.temperature)
    kind_of = "transcription" if preview_include else None
    assert SessionConfig.from_wire(wire, dialect, session_type=kind_of) == expected
    event = session_update(config, dialect)
    _validate(sdk_adapters, dialect, event)


def test_paths_and_params_come_from_the_rows() -> None:
    assert (
        SESSION_FIELDS.path("turn_detection.threshold", Dialect.GA) == "audio.input.turn_detection.threshold"
    )
    assert SESSION_FIELDS.path("turn_detection.threshold", Dialect.PREVIEW) == "turn_detection.threshold"
    assert SESSION_FIELDS.path("turn_detection.idle_timeout_ms", Dialect.PREVIEW) is None
    assert SESSION_FIELDS.path("temperature", Dialect.GA) is None
    assert wire_param("tools[2].name", Dialect.PREVIEW) == "session.tools[2].name"
    assert wire_param("max_output_tokens", Dialect.PREVIEW) == "session.max_response_output_tokens"
    assert wire_param("voice.id", Dialect.GA) == "session.audio.output.voice.id"
    assert RESPONSE_FIELDS.param("output_format", Dialect.PREVIEW) == "response.output_audio_format"
    assert SESSION_FIELDS.containers(Dialect.GA) == {("audio",), ("audio", "input"), ("audio", "output")}
    assert SESSION_FIELDS.containers(Dialect.PREVIEW) == frozenset()


def test_wrong_dialect_hints_come_from_the_rows() -> None:
    assert SESSION_FIELDS.other_dialect_keys(Dialect.GA) == {
        "modalities": "output_modalities",
        "voice": "audio.output.voice",
        "speed": "audio.output.speed",
        "input_audio_format": "audio.input.format",
        "output_audio_format": "audio.output.format",
        "input_audio_noise_reduction": "audio.input.noise_reduction",
        "input_audio_transcription": "audio.input.transcription",
        "turn_detection": "audio.input.turn_detection",
        "max_response_output_tokens": "max_output_tokens",
        "temperature": None,
    }
    assert SESSION_FIELDS.other_dialect_keys(Dialect.PREVIEW) == {
        "type": None,
        "output_modalities": "modalities",
        "audio": "voice, speed, input_audio_format, output_audio_format, turn_detection, ...",
        "max_output_tokens": "max_response_output_tokens",
        "truncation": None,
        "prompt": None,
        "reasoning": None,
        "parallel_tool_calls": None,
    }


# --- the response table -----------------------------------------------------------------------------------


def test_response_params_have_exactly_the_top_level_rows() -> None:
    assert [f.name for f in dataclasses.fields(ResponseParams)] == [
        r.name for r in RESPONSE_FIELDS.top_level()
    ]
    assert all(getattr(ResponseParams(), r.name) is None for r in RESPONSE_FIELDS.top_level())


@pytest.mark.parametrize(("row", "dialect", "kind"), _cases(RESPONSE_FIELDS), ids=_case_id)
def test_every_response_option_round_trips_at_its_path(
    sdk_adapters, row: Field, dialect: Dialect, kind: str | None
) -> None:
    params = ResponseParams(**_changed(row, _sample(row, dialect), kind))
    wire = params.to_wire(dialect)
    where = _where(RESPONSE_FIELDS, row, dialect)
    assert all(path == where or path.startswith(where + ".") for path in _differences({}, wire)), wire
    assert ResponseParams.from_wire(wire, dialect) == params
    event = response_create(dialect, **{f.name: getattr(params, f.name) for f in dataclasses.fields(params)})
    assert event == {"type": "response.create", "response": wire}
    _validate(sdk_adapters, dialect, event)


# --- docs ---------------------------------------------------------------------------------------------------


def test_the_committed_field_list_is_the_rendered_table() -> None:
    assert DOCS.read_text() == fields_markdown(), (
        "docs/session-fields.md is stale: python -m realtime_nb.protocol.field_docs > docs/session-fields.md"
    )
    for row in (*SESSION_FIELDS, *RESPONSE_FIELDS):
        assert f"| `{row.name}` |" in DOCS.read_text()
