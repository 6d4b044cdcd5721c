"""The event catalogues agree with the shared JSON briefs and the openai SDK; check_client_event."""

from __future__ import annotations

import typing
from typing import Any

import pytest

from realtime_nb.protocol import (
    CLIENT_EVENTS,
    LEFT_OUT,
    SERVER_EVENTS,
    Dialect,
    check_client_event,
)
from realtime_nb.protocol.catalog import json_types

_WRONG = {"string": 7, "integer": "7", "number": "0.5", "object": [], "array": {}, "boolean": 1}


def _union_types(union: Any) -> set[str]:
    if typing.get_origin(union) is typing.Annotated:
        union = typing.get_args(union)[0]
    return {typing.get_args(member.model_fields["type"].annotation)[0] for member in typing.get_args(union)}


@pytest.mark.parametrize("dialect", list(Dialect))
@pytest.mark.parametrize("direction", ["client", "server"])
def test_catalogue_matches_shared_json(protocol_json, dialect: Dialect, direction: str) -> None:
    data = protocol_json(dialect)
    catalogue = (CLIENT_EVENTS if direction == "client" else SERVER_EVENTS)[dialect]
    listed = data[f"{direction}_events"]
    assert set(catalogue) == set(listed)
    assert len(catalogue) == data["_meta"][f"{direction}_event_count"]
    for event_type, entry in listed.items():
        spec = catalogue[event_type]
        required = {name for name, f in entry["fields"].items() if f["required"]}
        assert spec.required == required, event_type
        assert spec.optional == set(entry["fields"]) - required, event_type
        for name, f in entry["fields"].items():
            assert spec.field_types[name] == json_types(f["type"]), (event_type, name)
        assert spec.direction == direction


def test_catalogue_sizes_are_the_documented_ones() -> None:
    sizes = {d: (len(CLIENT_EVENTS[d]), len(SERVER_EVENTS[d])) for d in Dialect}
    assert sizes == {Dialect.PREVIEW: (11, 33), Dialect.GA: (11, 46)}


def test_ga_catalogue_equals_the_sdk_unions() -> None:
    realtime = pytest.importorskip("openai.types.realtime")
    assert _union_types(realtime.RealtimeClientEvent) == set(CLIENT_EVENTS[Dialect.GA])
    assert _union_types(realtime.RealtimeServerEvent) == set(SERVER_EVENTS[Dialect.GA])
    assert not LEFT_OUT[Dialect.GA]


def test_preview_catalogue_covers_the_beta_sdk_unions() -> None:
    beta = pytest.importorskip("openai.types.beta.realtime")
    sdk = _union_types(beta.RealtimeClientEvent) | _union_types(beta.RealtimeServerEvent)
    ours = set(CLIENT_EVENTS[Dialect.PREVIEW]) | set(SERVER_EVENTS[Dialect.PREVIEW])
    left_out = set(LEFT_OUT[Dialect.PREVIEW])
    assert sdk - ours == left_out  # every SDK type is catalogued or explicitly left out ...
    assert all(LEFT_OUT[Dialect.PREVIEW][t] for t in left_out)  # ... with a reason
    # The beta SDK lacks nothing Azure documents, bar the required/optional nuance.
    assert ours - sdk == set()


def test_sdk_required_fields_agree_with_catalogue() -> None:
    realtime = pytest.importorskip("openai.types.realtime")
    beta = pytest.importorskip("openai.types.beta.realtime")
    for dialect, module in ((Dialect.GA, realtime), (Dialect.PREVIEW, beta)):
        for union, catalogue in (
            (module.RealtimeClientEvent, CLIENT_EVENTS[dialect]),
            (module.RealtimeServerEvent, SERVER_EVENTS[dialect]),
        ):
            if typing.get_origin(union) is typing.Annotated:
                union = typing.get_args(union)[0]
            for model in typing.get_args(union):
                event_type = typing.get_args(model.model_fields["type"].annotation)[0]
                if event_type not in catalogue:
                    continue
                sdk_fields = set(model.model_fields)
                assert sdk_fields <= catalogue[event_type].fields, (dialect, event_type)
                if dialect is Dialect.GA:  # GA facts were generated from this SDK
                    sdk_required = {n for n, f in model.model_fields.items() if f.is_required()}
                    assert sdk_required == catalogue[event_type].required, event_type


@pytest.mark.parametrize("dialect", list(Dialect))
def test_every_minimal_and_full_client_event_passes(minimal_event, dialect: Dialect) -> None:
    for spec in CLIENT_EVENTS[dialect].values():
        assert check_client_event(minimal_event(spec), dialect) is None, spec.type
        assert check_client_event(minimal_event(spec, full=True), dialect) is None, spec.type


@pytest.mark.parametrize("dialect", list(Dialect))
def test_each_missing_required_field_is_named(minimal_event, dialect: Dialect) -> None:
    for spec in CLIENT_EVENTS[dialect].values():
        for name in spec.required - {"type"}:
            event = minimal_event(spec, full=True)
            event["event_id"] = "evt_7"
            del event[name]
            issue = check_client_event(event, dialect)
            assert issue is not None
            assert (issue.code, issue.param, issue.event_id) == ("missing_required_parameter", name, "evt_7")
            assert name in issue.message and spec.type in issue.message


@pytest.mark.parametrize("dialect", list(Dialect))
def test_each_ill_typed_field_is_named(minimal_event, dialect: Dialect) -> None:
    for spec in CLIENT_EVENTS[dialect].values():
        for name in spec.fields - {"type", "event_id"}:
            event = minimal_event(spec, full=True)
            event[name] = _WRONG[spec.json[name].split("|")[0]]
            issue = check_client_event(event, dialect)
            assert issue is not None and issue.code == "invalid_type" and issue.param == name
            assert name in issue.message and "expected" in issue.message


def test_boolean_is_not_an_integer() -> None:
    event = {"type": "conversation.item.truncate", "item_id": "i", "content_index": 0, "audio_end_ms": True}
    issue = check_client_event(event, Dialect.GA)
    assert issue is not None and (issue.code, issue.param) == ("invalid_type", "audio_end_ms")
    assert "boolean" in issue.message


def test_null_previous_item_id_is_preview_only() -> None:
    event = {"type": "conversation.item.create", "item": {}, "previous_item_id": None}
    assert check_client_event(event, Dialect.PREVIEW) is None
    issue = check_client_event(event, Dialect.GA)
    assert issue is not None and issue.param == "previous_item_id" and "null" in issue.message


@pytest.mark.parametrize(
    ("event", "code", "param", "words"),
    [
        ([1, 2], "invalid_type", None, "JSON object"),
        ("input_audio_buffer.commit", "invalid_type", None, "string"),
        ({"event_id": "e1"}, "missing_required_parameter", "type", "type"),
        ({"type": 5}, "invalid_type", "type", "integer"),
        ({"type": "response.text.delta"}, "invalid_value", "type", "response.text.delta"),
        ({"type": "session.close", "event_id": "e2"}, "invalid_value", "type", "session.update"),
        (
            {"type": "input_audio_buffer.append", "audio": "AA", "extra": 1},
            "unknown_parameter",
            "extra",
            "audio",
        ),
        ({"type": "input_audio_buffer.commit", "event_id": 9}, "invalid_type", "event_id", "event_id"),
    ],
)
def test_bad_envelopes(event: Any, code: str, param: str | None, words: str) -> None:
    issue = check_client_event(event, Dialect.GA)
    assert issue is not None
    assert (issue.code, issue.param) == (code, param)
    assert words in issue.message


def test_issue_carries_event_id_and_renders_an_error_object() -> None:
    issue = check_client_event({"type": "nope", "event_id": "evt_1"}, Dialect.PREVIEW)
    assert issue is not None and issue.event_id == "evt_1"
    error = issue.error_object()
    assert error == {
        "type": "invalid_request_error",
        "code": "invalid_value",
        "message": issue.message,
        "param": "type",
        "event_id": "evt_1",
    }


def test_server_event_ids_required_except_dtmf() -> None:
    for dialect in Dialect:
        for spec in SERVER_EVENTS[dialect].values():
            if spec.type == "input_audio_buffer.dtmf_event_received":
                assert "event_id" not in spec.fields
            else:
                assert "event_id" in spec.required, spec.type
        for spec in CLIENT_EVENTS[dialect].values():
            assert "event_id" in spec.optional
