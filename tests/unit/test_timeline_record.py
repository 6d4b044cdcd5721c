"""EventLog.record / record_problem: odd input never raises nor loses rows, payloads, secrets,
live consumers."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pandas as pd
import pytest

from realtime_nb.audio import pcm_to_b64
from realtime_nb.protocol.redaction import MASK
from realtime_nb.timeline import EventLog

MS = 1_000_000
TONE = pcm_to_b64(np.full(480, 1000, np.int16))  # 20 ms


def _seeded_log() -> EventLog:
    log = EventLog(start_ns=0)
    log.record(
        "received",
        {"type": "session.created", "event_id": "e0", "session": {"type": "realtime"}},
        "ga",
        t_ns=0,
    )
    log.record("sent", {"type": "input_audio_buffer.append", "event_id": "a0", "audio": TONE}, "ga", t_ns=MS)
    return log


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as objects: a new row may add a category without changing any value."""
    return frame.astype({c: object for c in frame.columns if frame[c].dtype == "category"})


def _deep(levels: int) -> dict:
    node: dict = {"leaf": 1}
    for _ in range(levels):
        node = {"n": node}
    return node


# (event, expected canonical type, substring expected in the issue column or None)
ODD_EVENTS = [
    ([1, 2], "realtime_nb.protocol_error", "not a JSON object (got list)"),
    ("session.update", "realtime_nb.protocol_error", "not a JSON object (got str)"),
    (None, "realtime_nb.protocol_error", "not a JSON object (got NoneType)"),
    (42, "realtime_nb.protocol_error", "not a JSON object (got int)"),
    ({}, "realtime_nb.protocol_error", "event has no type"),
    ({"type": 5, "event_id": "x"}, "realtime_nb.protocol_error", "type is not a string (int)"),
    ({"type": None}, "realtime_nb.protocol_error", "type is not a string (NoneType)"),
    (
        {"type": "input_audio_buffer.speech_started", "audio_start_ms": "300", "item_id": "i1"},
        "input_audio_buffer.speech_started",
        "audio_start_ms is not a 64-bit integer ('300')",
    ),
    (
        {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 1.5},
        "input_audio_buffer.speech_stopped",
        "1.5",
    ),
    (
        {"type": "response.output_item.added", "output_index": True},
        "response.output_item.added",
        "output_index",
    ),
    (
        {"type": "response.output_item.added", "output_index": 2**70},
        "response.output_item.added",
        "output_index",
    ),
    (
        {"type": "response.output_audio.delta", "response_id": 7, "delta": "AAAA"},
        "response.output_audio.delta",
        "response_id is not a string (7)",
    ),
    (
        {"type": "response.output_audio.delta", "response_id": "r", "delta": "not base64!!"},
        "response.output_audio.delta",
        "not valid base64",
    ),
    (
        {"type": "response.output_audio.delta", "delta": None},
        "response.output_audio.delta",
        "delta is missing",
    ),
    ({"type": "input_audio_buffer.append", "audio": 12345}, "input_audio_buffer.append", "audio is missing"),
    (
        {"type": "input_audio_buffer.append", "audio": "AA=="},
        "input_audio_buffer.append",
        "odd byte count (1)",
    ),
    ({"type": "input_audio_buffer.append", "audio": ["AAAA"]}, "input_audio_buffer.append", "not a base64"),
    ({"type": "error", "error": "boom"}, "error", "error is not an object"),
    ({"type": "error", "error": {"code": 42, "message": None}}, "error", "error.code is not a string (42)"),
    ({"type": "response.created", "response": [1]}, "response.created", "response is not an object"),
    ({"type": "conversation.item.added", "item": "x"}, "conversation.item.added", "item is not an object"),
    (
        {"type": "conversation.item.added", "item": {"id": 3}},
        "conversation.item.added",
        "item.id is not a string",
    ),
    ({"type": "session.updated", "session": "x"}, "session.updated", "session is not an object"),
    (
        {"type": "session.updated", "session": {"audio": {"input": {"format": {"type": "audio/flac"}}}}},
        "session.updated",
        "unknown input audio format",
    ),
    ({"type": "x.y", "nested": _deep(200)}, "x.y", "nested deeper than"),
    ({"type": "unknown.thing", "a": 1}, "unknown.thing", None),
    (
        {"type": "rate_limits.updated", "rate_limits": [{"reset_seconds": float("nan")}]},
        "rate_limits.updated",
        None,
    ),
    ({"type": "rate_limits.updated", "rate_limits": "many"}, "rate_limits.updated", None),
    ({1: "a", "type": "conversation.item.delete", "item_id": "i"}, "conversation.item.delete", None),
    ({"type": "conversation.item.retrieved", "item": {"id": "i", "content": [{"audio": 5}]}}, None, None),
]


@pytest.mark.parametrize(
    ("event", "canonical", "issue"), ODD_EVENTS, ids=[repr(e)[:40] for e, _, _ in ODD_EVENTS]
)
def test_odd_input_is_recorded_without_raising(event, canonical, issue, tmp_path):
    log = _seeded_log()
    before = log.frame()
    seq = log.record("received", event, "ga", t_ns=5 * MS)
    frame = log.frame()
    assert seq == 2 and len(frame) == 3
    pd.testing.assert_frame_equal(_plain(frame.iloc[:2]), _plain(before))  # earlier rows unchanged
    row = frame.iloc[2]
    if canonical is not None:
        assert row["type"] == canonical
    if issue is None:
        assert row["issue"] is None
    else:
        assert issue in row["issue"]
    assert isinstance(log.event_json(seq), dict)
    back = EventLog.load(log.save(tmp_path / "odd.rtlog"))  # the odd row survives a round trip
    pd.testing.assert_frame_equal(back.frame(), frame)


def test_odd_typed_ids_keep_the_rest_of_the_row():
    log = EventLog(start_ns=0)
    log.record("received", {"type": None, "event_id": "x", "item_id": "i"}, "ga", t_ns=0)
    row = log.frame().iloc[0]
    assert (row["event_id"], row["item_id"], row["family"]) == ("x", "i", "problem")
    assert pd.isna(row["wire_type"])


def test_numpy_values_from_client_code_are_plain_numbers():
    log = EventLog(start_ns=0)
    event = {
        "type": "conversation.item.truncate",
        "item_id": "i",
        "content_index": np.int64(0),
        "audio_end_ms": np.int32(150),
        "event_id": "t",
    }
    log.record("sent", event, "ga", t_ns=0)
    row = log.frame().iloc[0]
    assert (row["audio_end_ms"], row["content_index"], row["issue"]) == (150, 0, None)
    assert log.event_json(0)["audio_end_ms"] == 150 and type(log.event_json(0)["audio_end_ms"]) is int


def _random_value(rng: random.Random, depth: int = 0):
    kinds = (
        ["str", "int", "float", "bool", "none", "b64", "list", "dict"]
        if depth < 4
        else ["str", "int", "none"]
    )
    kind = rng.choice(kinds)
    if kind == "str":
        return rng.choice(["", "x", "item_1", "resp_1", "ek_abcdefgh12", "300", "\u00e9\u2603"])
    if kind == "int":
        return rng.choice([0, -1, 7, 2**40, 2**64, -(2**63)])
    if kind == "float":
        return rng.choice([0.5, 1e308, float("inf"), float("nan"), 40.0])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "none":
        return None
    if kind == "b64":
        return rng.choice([TONE, "AA==", "@@@", ""])
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = [
        "type",
        "id",
        "item",
        "response",
        "audio",
        "delta",
        "event_id",
        "item_id",
        "response_id",
        "output_index",
        "audio_end_ms",
        "error",
        "session",
        "content",
        "value",
        "api-key",
    ]
    return {rng.choice(keys): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


TYPES = [
    "input_audio_buffer.append",
    "response.output_audio.delta",
    "response.audio.delta",
    "session.updated",
    "session.update",
    "response.created",
    "response.done",
    "conversation.item.retrieved",
    "error",
    "conversation.item.create",
    "input_audio_buffer.committed",
    "response.create",
    "made.up",
]


def test_random_events_never_raise_and_every_row_stays(tmp_path):
    rng = random.Random(20261121)
    log = EventLog(start_ns=0)
    for i in range(600):
        event = _random_value(rng)
        if isinstance(event, dict) and rng.random() < 0.8:
            event["type"] = rng.choice(TYPES)
        log.record(rng.choice(["sent", "received"]), event, rng.choice(["ga", "preview"]), t_ns=i * MS)
        if i % 50 == 0:
            log.record_problem("received", "protocol_error", "bad frame", raw=rng.randbytes(50), t_ns=i * MS)
    frame = log.frame()
    assert len(frame) == 612 and frame["seq"].tolist() == list(range(612))
    log.turns()
    log.responses()
    back = EventLog.load(log.save(tmp_path / "fuzz.rtlog"))
    pd.testing.assert_frame_equal(back.frame(), frame)
    assert [back.event_json(i) for i in range(0, 612, 7)] == [log.event_json(i) for i in range(0, 612, 7)]


# --- bad arguments (our own callers' mistakes): clear errors ---------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"direction": "incoming"}, "direction must be one of sent, received"),
        ({"dialect": "beta"}, "dialect must be one of ga, preview"),
        ({"t_ns": "now"}, "t_ns must be an int"),
        ({"t_ns": 1.5}, "t_ns must be an int"),
        ({"wire_bytes": -1}, "wire_bytes must be a non-negative int"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    log = _seeded_log()
    args = {"direction": "sent", "event": {"type": "response.cancel"}, "dialect": "ga"} | kwargs
    with pytest.raises(ValueError, match=message):
        log.record(**args)
    assert len(log) == 2


def test_dialect_enum_and_string_are_the_same():
    from realtime_nb.protocol import Dialect

    log = EventLog(start_ns=0)
    log.record("received", {"type": "response.audio.delta", "delta": ""}, Dialect.PREVIEW, t_ns=0)
    log.record("received", {"type": "response.audio.delta", "delta": ""}, "preview", t_ns=1)
    assert log.frame()["type"].tolist() == ["response.output_audio.delta"] * 2


# --- payloads ------------------------------------------------------------------------------


def test_event_json_rebuilds_compact_rows_exactly():
    log = EventLog(start_ns=0)
    delta = {
        "type": "response.output_audio.delta",
        "event_id": "e1",
        "response_id": "r",
        "item_id": "i",
        "output_index": 0,
        "content_index": 0,
        "delta": TONE,
        "obfuscation": "Zk3",
    }
    log.record("received", delta, "ga", t_ns=0)
    log.record("sent", {"audio": TONE, "type": "input_audio_buffer.append"}, "ga", t_ns=1)
    text = {
        "type": "response.audio_transcript.delta",
        "event_id": "e2",
        "response_id": "r",
        "item_id": "i",
        "output_index": 0,
        "content_index": 0,
        "delta": "Hel",
    }
    log.record("received", text, "preview", t_ns=2)
    assert log.event_json(0) == {**delta, "delta": "<audio stripped: 20.000 ms>"}
    assert list(log.event_json(0)) == list(delta)  # key order kept
    assert log.event_json(1) == {"audio": "<audio stripped: 20.000 ms>", "type": "input_audio_buffer.append"}
    assert log.event_json(2) == text
    # these rows keep no payload object at all (memory): only a shared shape
    assert not any(isinstance(p, dict) for p in log._rec.cols.payload)


def test_payload_is_a_copy_with_audio_stripped():
    log = EventLog(start_ns=0)
    item = {
        "id": "item_U",
        "type": "message",
        "role": "user",
        "content": [{"type": "input_audio", "audio": TONE}],
    }
    event = {"type": "conversation.item.create", "event_id": "c", "item": item}
    log.record("sent", event, "ga", t_ns=0)
    item["content"][0]["transcript"] = "changed later"
    got = log.event_json(0)
    assert got["item"]["content"][0] == {"type": "input_audio", "audio": "<audio stripped: 20.000 ms>"}
    assert event["item"]["content"][0]["audio"] == TONE  # the caller's dict is untouched
    got["item"]["id"] = "mutated"
    assert log.event_json(0)["item"]["id"] == "item_U"
    assert log.frame().iloc[0]["audio_ms"] == 20.0


def test_event_json_bad_seq():
    log = _seeded_log()
    with pytest.raises(IndexError, match="no row with seq 9"):
        log.event_json(9)


SECRETS = ["ek_live_1234567890abcdef", "sk-proj-SECRETSECRET", "azure-key-0123456789"]


def test_secrets_are_redacted():
    log = EventLog(start_ns=0)
    log.record(
        "received",
        {
            "type": "session.created",
            "session": {"client_secret": {"value": SECRETS[0], "expires_at": 1}, "id": "sess"},
        },
        "preview",
        t_ns=0,
    )
    log.record(
        "sent",
        {
            "type": "session.update",
            "session": {"client_secret": SECRETS[0]},
            "headers": {"api-key": SECRETS[2], "Authorization": f"Bearer {SECRETS[1]}"},
        },
        "ga",
        t_ns=1,
    )
    log.record_problem(
        "received",
        "protocol_error",
        f"bad frame with {SECRETS[1]}",
        raw=f'{{"value": "{SECRETS[0]}", "Authorization": "Bearer {SECRETS[1]}"',
        t_ns=2,
    )
    dumped = repr([log.event_json(i) for i in range(3)]) + log.frame().to_csv() + repr(log.rows_since())
    for secret in SECRETS:
        assert secret not in dumped
    assert log.event_json(0)["session"]["client_secret"] == {"value": MASK, "expires_at": 1}
    assert log.event_json(1)["headers"] == {"api-key": MASK, "Authorization": MASK}


# --- problems ------------------------------------------------------------------------------


def test_connection_closed_row():
    log = _seeded_log()
    log.record_problem(
        "received", "connection_closed", "socket closed", code=4000, reason="beta", t_ns=9 * MS
    )
    row = log.frame().iloc[-1]
    assert (row["type"], row["wire_type"], row["family"], row["error_code"], row["error_message"]) == (
        "realtime_nb.connection_closed",
        "realtime_nb.connection_closed",
        "problem",
        "4000",
        "socket closed",
    )
    assert log.event_json(2) == {
        "kind": "connection_closed",
        "message": "socket closed",
        "code": "4000",
        "reason": "beta",
    }


def test_unknown_event_keeps_its_wire_type_and_long_raw_is_truncated():
    log = EventLog(start_ns=0)
    log.record_problem(
        "received", "unknown_event", "not in catalogue", raw='{"type": "session.close"}', t_ns=0
    )
    log.record_problem("received", "protocol_error", "bad JSON", raw=b"{" * 10_000, t_ns=1)
    frame = log.frame()
    assert (frame.loc[0, "type"], frame.loc[0, "wire_type"]) == ("realtime_nb.unknown_event", "session.close")
    payload = log.event_json(1)
    assert len(payload["raw"]) == 4096 and payload["raw_length"] == 10_000
    assert frame.loc[1, "issue"] == "bad JSON" and frame.loc[1, "size_bytes"] == 10_000


def test_record_problem_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown problem kind 'oops'"):
        EventLog().record_problem("received", "oops", "x")


# --- live consumers ------------------------------------------------------------------------


def test_subscribe_and_unsubscribe():
    log = _seeded_log()
    seen: list[int] = []
    unsubscribe = log.subscribe(seen.append)
    log.record("received", {"type": "input_audio_buffer.cleared"}, "ga", t_ns=3)
    log.record_problem("received", "connection_closed", "bye", t_ns=4)
    unsubscribe()
    log.record("received", {"type": "input_audio_buffer.cleared"}, "ga", t_ns=5)
    assert seen == [2, 3]
    unsubscribe()  # twice is harmless


def test_failing_callback_is_reported_once_and_recording_goes_on():
    log = EventLog(start_ns=0)
    calls: list[int] = []

    def broken(seq: int) -> None:
        calls.append(seq)
        raise RuntimeError("widget gone")

    log.subscribe(broken)
    after: list[int] = []
    log.subscribe(after.append)
    with pytest.warns(RuntimeWarning, match="widget gone"):
        log.record("received", {"type": "a.b"}, "ga", t_ns=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log.record("received", {"type": "a.b"}, "ga", t_ns=1)
    assert calls == [0, 1] and after == [0, 1] and len(log) == 2


def test_subscribe_needs_a_callable():
    with pytest.raises(TypeError, match="callback must be callable"):
        EventLog().subscribe("print")  # type: ignore[arg-type]


def test_rows_since():
    log = _seeded_log()
    log.record(
        "received",
        {"type": "input_audio_buffer.speech_started", "audio_start_ms": 5, "item_id": "i"},
        "ga",
        t_ns=2 * MS,
    )
    rows = log.rows_since(0)
    assert [r["seq"] for r in rows] == [1, 2]
    last = rows[-1]
    assert (last["type"], last["audio_start_ms"], last["t"], last["output_index"], last["audio_ms"]) == (
        "input_audio_buffer.speech_started",
        5,
        0.002,
        None,
        None,
    )
    assert rows[0]["audio_ms"] == 20.0
    assert set(last) == set(log.frame().columns)
    assert log.rows_since(2) == [] and len(log.rows_since()) == 3
    assert last["wall"] == log.frame()["wall"].iloc[2]


def test_clock_origin_defaults_to_first_event():
    log = EventLog()
    log.record("sent", {"type": "response.cancel"}, "ga", t_ns=5_000 * MS)
    log.record("received", {"type": "response.done"}, "ga", t_ns=5_250 * MS)
    assert log.frame()["t"].tolist() == [0.0, 0.25]
    log2 = EventLog()
    log2.record("sent", {"type": "response.cancel"}, "ga")
    assert log2.frame()["t"].iloc[0] == 0.0


# --- documentation stays true ----------------------------------------------------------------


def _documented(doc: str) -> list[str]:
    """Names in the first cell of the body of the first RST table in `doc` (continuation lines skipped)."""
    lines = doc.splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("=====")]
    names: list[str] = []
    for line in lines[rules[1] + 1 : rules[2]]:
        if line and line[0] != " ":
            names += [n.strip() for n in line.split("  ")[0].split(",") if n.strip()]
    return names


def test_frame_docstring_lists_every_column_in_order():
    import realtime_nb.timeline.log as module

    assert _documented(module.__doc__) == list(EventLog().frame().columns)


def test_turns_docstring_lists_every_column():
    import realtime_nb.timeline.analysis as module
    from realtime_nb.timeline import TURN_COLUMNS

    assert _documented(module.__doc__) == list(TURN_COLUMNS)
    responses_doc = " ".join(module.__doc__.split("`responses()` columns")[1].split())
    assert all(name in responses_doc for name in EventLog().responses().columns)


def test_repr_html_summarises_the_log():
    log = _seeded_log()
    log.record("received", {"type": "<script>", "event_id": "x"}, "ga", t_ns=3 * MS)
    html = log._repr_html_()
    assert "3 events" in html and "0 turns" in html and "<script>" not in html
    assert "<td>session</td><td style='text-align:right'>1</td>" in html
    assert "<td>input_audio_buffer</td><td style='text-align:right'>1</td>" in html
    assert repr(log) == "EventLog(3 events, 0.0 s)"
    assert "0 events" in EventLog()._repr_html_()
