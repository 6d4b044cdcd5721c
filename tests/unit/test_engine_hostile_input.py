"""Hostile client events against a real EngineSession: each is refused with a short, precise
`error` event, the session is left exactly as it was, and the next valid event still works.

Each case here was a crasher or a silent acceptance found by the issue-12 fuzzing (a TypeError or
RecursionError that closed the socket with 1011, a value accepted unchecked, or a 1 MB value quoted
whole in the error); `test_engine_fuzz.py` generates such events at large.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from realtime_nb.engine import errors as engine_errors
from realtime_nb.engine import items as engine_items
from realtime_nb.engine.models import Models
from realtime_nb.engine.session import _ROUTES, EngineSession
from realtime_nb.protocol import Dialect
from realtime_nb.protocol.limits import (
    MAX_EVENT_ID_CHARS,
    MAX_ID_CHARS,
    MAX_JSON_DEPTH,
    MAX_TEXT_CHARS,
    MAX_TOOLS,
    quote,
)
from realtime_nb.protocol.wire_json import WireJsonError, json_depth, loads_client_event

DIALECTS = [Dialect.GA, Dialect.PREVIEW]
MESSAGE_LIMIT = 600  # no error message carries a large value back


@pytest.fixture(scope="module")
def models() -> Models:
    return Models.shared()


class Probe:
    def __init__(self, models: Models, dialect: Dialect) -> None:
        self.dialect = dialect
        self.session = EngineSession(models, dialect, now=0.0)
        self.session.events_to_send()
        self.now = 0.0

    def raw(self, text: str) -> list[dict[str, Any]]:
        self.now += 0.01
        self.session.receive_text(text, self.now)
        return self.session.events_to_send()

    def send(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        return self.raw(json.dumps(event))

    def refused(self, event: dict[str, Any] | str, code: str | None = None, param: str | None = None) -> dict:
        """Send `event`; assert one error naming it and nothing changed; return the error object."""
        before = self.session.snapshot()
        out = self.raw(event) if isinstance(event, str) else self.send(event)
        assert [e["type"] for e in out] == ["error"], out
        error = out[0]["error"]
        assert error["type"] == "invalid_request_error", error
        assert error["message"] and len(error["message"]) < MESSAGE_LIMIT, error
        if isinstance(event, dict) and isinstance(event.get("event_id"), str) and len(event["event_id"]) < 99:
            assert error["event_id"] == event["event_id"]
        if code is not None:
            assert error["code"] == code, error
        if param is not None:
            assert error["param"] == param, error
        assert self.session.snapshot() == before
        self.still_works()
        return error

    def still_works(self) -> None:
        out = self.send({"type": "input_audio_buffer.clear", "event_id": "evt_alive"})
        assert [e["type"] for e in out] == ["input_audio_buffer.cleared"], out


@pytest.fixture
def probe(models: Models):
    return lambda dialect=Dialect.GA: Probe(models, dialect)


def _item(role: Any, dialect: Dialect) -> dict[str, Any]:
    return {"type": "message", "role": role, "content": [{"type": "input_text", "text": "hi"}]}


# --- the crashers of issue 12 ------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("role", [{}, [], {"a": 1}, ["user"]])
def test_an_object_or_array_as_item_role_is_refused(probe, dialect, role):
    event = {"type": "conversation.item.create", "event_id": "evt_role", "item": _item(role, dialect)}
    probe(dialect).refused(event, "invalid_value", "item.role")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_unhashable_values_where_names_belong_are_refused(probe, dialect):
    p = probe(dialect)
    if dialect is Dialect.GA:
        for where in ("input", "output"):
            session = {"type": "realtime", "audio": {where: {"format": {"type": {}}}}}
            p.refused(
                {"type": "session.update", "session": session}, param=f"session.audio.{where}.format.type"
            )
        p.refused({"type": "response.create", "response": {"output_modalities": [{}]}})
        p.refused({"type": "response.create", "response": {"audio": {"output": {"format": {"type": []}}}}})
    else:
        p.refused({"type": "response.create", "response": {"modalities": [{}]}})
        p.refused({"type": "response.create", "response": {"output_audio_format": {}}})
    item = {"type": {}, "content": []}
    p.refused({"type": "conversation.item.create", "item": item}, "invalid_value", "item.type")
    part = {"type": "message", "role": "user", "content": [{"type": {"x": 1}}]}
    p.refused({"type": "conversation.item.create", "item": part}, param="item.content[0].type")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_json_nested_10000_deep_is_refused_without_recursion(probe, dialect):
    p = probe(dialect)
    deep = "[" * 10_000 + "]" * 10_000
    p.refused(deep, "json_too_deep")
    p.refused('{"type": "session.update", "session": ' + deep + "}", "json_too_deep")
    nested_obj = '{"a":' * 10_000 + "1" + "}" * 10_000
    p.refused('{"type": "response.create", "response": {"metadata": ' + nested_obj + "}}", "json_too_deep")
    p.refused("[" * 10_000, "json_too_deep")  # never closed: the parser would recurse all the same
    # the frame is not parsed, yet the error names the event when its top level says which
    framed = '{"type": "session.update", "session": ' + deep + ', "event_id": "evt_deep"}'
    assert p.refused(framed, "json_too_deep")["event_id"] == "evt_deep"
    inner = '{"type": "session.update", "session": {"event_id": "evt_inner", "x": ' + deep + "}}"
    assert p.refused(inner, "json_too_deep")["event_id"] is None


def test_nesting_within_the_limit_is_parsed(probe):
    p = probe()
    schema: dict[str, Any] = {"type": "object", "properties": {}}
    inner = schema
    for _ in range(20):  # a deep but legal JSON Schema
        child: dict[str, Any] = {"type": "object", "properties": {}}
        inner["properties"]["x"] = child
        inner = child
    tool = {"type": "function", "name": "deep", "parameters": schema}
    out = p.send({"type": "session.update", "session": {"type": "realtime", "tools": [tool]}})
    assert [e["type"] for e in out] == ["session.updated"]


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps({"type": "x", "s": "[" * 5000 + "{" * 5000})
    assert json_depth(text) == 1
    assert loads_client_event(text)["s"].startswith("[[[")
    assert json_depth("[" * 70 + "]" * 70) == MAX_JSON_DEPTH + 1
    assert json_depth('[[], {"a": [1, {"b": []}]}]') == 5
    with pytest.raises(WireJsonError) as err:
        loads_client_event("1" * 5000)  # Python refuses to convert an int of more than 4300 digits
    assert err.value.code == "invalid_json"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_5000_digit_integer_is_invalid_json_not_a_crash(probe, dialect):
    p = probe(dialect)
    event = '{"type": "conversation.item.truncate", "item_id": "x", "content_index": 0, "audio_end_ms": '
    p.refused(event + "9" * 5000 + "}", "invalid_json")


def test_truncation_and_other_unmodelled_keys_are_held_to_their_shape(probe):
    p = probe()
    bad = [
        ({"truncation": {"type": {}}}, "session.truncation.type"),
        ({"truncation": "sometimes"}, "session.truncation"),
        (
            {"truncation": {"type": "retention_ratio", "retention_ratio": 2}},
            "session.truncation.retention_ratio",
        ),
        ({"truncation": {"type": "retention_ratio"}}, "session.truncation.retention_ratio"),
        ({"tracing": {"workflow_name": 5}}, "session.tracing.workflow_name"),
        ({"include": ["everything"]}, "session.include[0]"),
        ({"include": "item.input_audio_transcription.logprobs"}, "session.include"),
        (
            {"audio": {"input": {"noise_reduction": {"type": "near_field", "strength": "max"}}}},
            "session.audio.input.noise_reduction.strength",
        ),
        (
            {"audio": {"input": {"transcription": {"model": "whisper-1", "languages": "en"}}}},
            "session.audio.input.transcription.languages",
        ),
    ]
    for session, param in bad:
        p.refused({"type": "session.update", "session": {"type": "realtime", **session}}, param=param)
    good = [
        {"truncation": "auto"},
        {
            "truncation": {
                "type": "retention_ratio",
                "retention_ratio": 0.8,
                "token_limits": {"post_instructions": 5},
            }
        },
        {"tracing": None},
        {"tracing": {"workflow_name": "w", "metadata": {"k": [1]}}},
        {"include": ["item.input_audio_transcription.logprobs"]},
    ]
    for session in good:
        out = p.send({"type": "session.update", "session": {"type": "realtime", **session}})
        assert [e["type"] for e in out] == ["session.updated"], (session, out)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_an_empty_tool_choice_object_is_refused(probe, dialect):
    p = probe(dialect)
    p.refused({"type": "response.create", "response": {"tool_choice": {}}}, param="response.tool_choice")
    session = {"tool_choice": {}} if dialect is Dialect.PREVIEW else {"type": "realtime", "tool_choice": {}}
    p.refused({"type": "session.update", "session": session}, param="session.tool_choice")


# --- quoting and limits ---------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_errors_quote_a_1_mb_value_cut_short(probe, dialect):
    p = probe(dialect)
    huge = "x" * 2**20
    p.refused({"type": huge, "event_id": "evt_type"}, "invalid_value", "type")
    p.refused({"type": "input_audio_buffer.clear", huge: 1}, "unknown_parameter")
    session = {"type": huge} if dialect is Dialect.GA else {"voice": huge}
    p.refused({"type": "session.update", "session": session})
    p.refused(
        {
            "type": "session.update",
            "session": {huge: 1} if dialect is Dialect.PREVIEW else {"type": "realtime", huge: 1},
        }
    )
    p.refused({"type": "response.create", "response": {"metadata": {huge: "v"}}})
    p.refused({"type": "response.create", "response": {"input": [{"type": "item_reference", "id": huge}]}})
    item = {"type": "message", "role": huge, "content": []}
    p.refused({"type": "conversation.item.create", "item": item}, param="item.role")


def test_quote_is_short_for_anything():
    assert quote("abc") == "'abc'"
    assert len(quote("y" * 10**6)) <= 80
    assert len(quote({"k" * 1000: ["v" * 1000] * 1000})) <= 80
    assert len(quote(list(range(10**5)))) <= 80
    assert len(quote(10**4000 // 3)) <= 80


@pytest.mark.parametrize("dialect", DIALECTS)
def test_strings_over_their_limits_are_refused(probe, dialect):
    p = probe(dialect)
    long_text = "w" * (MAX_TEXT_CHARS + 1)
    instructions = {"instructions": long_text}
    session = instructions if dialect is Dialect.PREVIEW else {"type": "realtime", **instructions}
    p.refused(
        {"type": "session.update", "session": session}, "string_above_max_length", "session.instructions"
    )
    p.refused({"type": "response.create", "response": instructions}, "string_above_max_length")
    text_item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": long_text}]}
    p.refused(
        {"type": "conversation.item.create", "item": text_item},
        "string_above_max_length",
        "item.content[0].text",
    )
    call = {"type": "function_call", "name": "f", "arguments": long_text}
    p.refused({"type": "conversation.item.create", "item": call}, "string_above_max_length", "item.arguments")
    long_id = "i" * (MAX_ID_CHARS + 1)
    p.refused(
        {
            "type": "conversation.item.create",
            "item": {**text_item, "id": long_id, "content": [{"type": "input_text", "text": "hi"}]},
        },
        "string_above_max_length",
        "item.id",
    )
    p.refused({"type": "conversation.item.delete", "item_id": long_id}, "string_above_max_length", "item_id")
    error = p.refused(
        {"type": "input_audio_buffer.commit", "event_id": "e" * (MAX_EVENT_ID_CHARS + 1)},
        "string_above_max_length",
        "event_id",
    )
    assert error["event_id"] is None  # too long to echo


@pytest.mark.parametrize("dialect", DIALECTS)
def test_too_many_tools_and_unknown_item_keys_are_refused(probe, dialect):
    p = probe(dialect)
    tools = [{"type": "function", "name": f"f{i}"} for i in range(MAX_TOOLS + 1)]
    p.refused({"type": "response.create", "response": {"tools": tools}}, "array_above_max_length")
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}], "mood": "x"}
    p.refused({"type": "conversation.item.create", "item": item}, "unknown_parameter", "item.mood")
    part = {"type": "input_text", "text": "hi", "colour": "red"}
    item = {"type": "message", "role": "user", "content": [part]}
    p.refused(
        {"type": "conversation.item.create", "item": item}, "unknown_parameter", "item.content[0].colour"
    )
    image = {"type": "input_image", "image_url": "data:,", "detail": {"x": 1}}
    item = {"type": "message", "role": "user", "content": [image]}
    p.refused({"type": "conversation.item.create", "item": item}, "invalid_value", "item.content[0].detail")


def test_a_full_conversation_refuses_more_items(probe, monkeypatch):
    monkeypatch.setattr(engine_items, "MAX_ITEMS_PER_CONVERSATION", 2)
    p = probe()
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    for _ in range(2):
        assert (
            p.send({"type": "conversation.item.create", "item": item})[0]["type"] == "conversation.item.added"
        )
    p.refused({"type": "conversation.item.create", "item": item}, "conversation_full")


# --- the last resort -------------------------------------------------------------------------------


def test_an_unexpected_exception_becomes_a_server_error_and_the_session_goes_on(probe, monkeypatch, caplog):
    def broken(session: Any, event: Any, canonical: Any) -> None:
        raise KeyError("an engine bug")

    monkeypatch.setitem(_ROUTES, "input_audio_buffer.commit", broken)
    p = probe()
    with caplog.at_level("ERROR", logger=engine_errors.log.name):
        out = p.send({"type": "input_audio_buffer.commit", "event_id": "evt_bug"})
    assert [e["type"] for e in out] == ["error"]
    error = out[0]["error"]
    assert error["type"] == "server_error" and error["code"] == "internal_error"
    assert error["event_id"] == "evt_bug" and "KeyError" in error["message"]
    assert "evt_bug" in caplog.text and "an engine bug" in caplog.text
    p.still_works()


# --- the limits are documented and the passthrough shapes complete -----------------------------------


def test_every_limit_is_in_docs_limits_md():
    from pathlib import Path

    from realtime_nb.protocol import limits

    page = (Path(__file__).resolve().parents[2] / "docs" / "limits.md").read_text()
    for name in limits.__all__:
        if name.startswith("MAX_"):
            assert f"`{name}`" in page, f"{name} is not in docs/limits.md"


def test_every_unmodelled_key_has_a_shape():
    from realtime_nb.protocol.fields import RESPONSE_FIELDS, SESSION_FIELDS
    from realtime_nb.protocol.passthrough import PASSTHROUGH

    for table in (SESSION_FIELDS, RESPONSE_FIELDS):
        for under in ("", "transcription", "noise_reduction"):
            for dialect in DIALECTS:
                for key in table.unmodelled(dialect, under):
                    assert (under, key) in PASSTHROUGH, f"add the shape of {under or 'top-level'} {key!r}"


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_numbers_json_does_not_have_are_invalid_json(probe, text):
    tool = '{"type": "function", "name": "f", "parameters": {"type": "object", "default": ' + text + "}}"
    p = probe()
    p.refused(
        '{"type": "session.update", "session": {"type": "realtime", "tools": [' + tool + "]}}", "invalid_json"
    )


def test_an_item_reference_takes_only_type_and_id(probe):
    p = probe()
    ref = {"type": "item_reference", "id": "item_x", "role": "user"}
    p.refused(
        {"type": "response.create", "response": {"input": [ref]}},
        "unknown_parameter",
        "response.input[0].role",
    )
