"""Transcription sessions below the socket: the session type in the protocol, the client's endpoint,
the EventLog's transcripts table and lanes. (End to end, with the engine and the openai SDK:
tests/integration/test_transcription_sessions.py.)"""

from __future__ import annotations

import math
from typing import Any

import pytest

from realtime_nb.client import Endpoint
from realtime_nb.protocol import ConfigError, Dialect, SessionConfig, apply_session_update, session_update
from realtime_nb.protocol.catalog import check_client_event
from realtime_nb.protocol.ordering import order_violations
from realtime_nb.protocol.translate import to_canonical, to_wire
from realtime_nb.timeline import EventLog, word_error_rate
from realtime_nb.timeline.lanes import LANES, lane_of

GA, PREVIEW = Dialect.GA, Dialect.PREVIEW
LOGPROBS = "item.input_audio_transcription.logprobs"


# --- protocol --------------------------------------------------------------------------------------


def test_a_transcription_session_renders_only_its_input_side(sdk_adapters: Any) -> None:
    config = SessionConfig.for_transcription(noise_reduction="far_field", include=[LOGPROBS])
    ga = config.to_wire(GA)
    assert set(ga) == {"type", "audio", "include"} and set(ga["audio"]) == {"input"}
    assert ga["audio"]["input"]["noise_reduction"] == {"type": "far_field"}
    preview = config.to_wire(PREVIEW)
    assert set(preview) == {
        "input_audio_format",
        "input_audio_noise_reduction",
        "input_audio_transcription",
        "turn_detection",
        "include",
    }
    for dialect, kind in ((GA, "session.update"), (PREVIEW, "transcription_session.update")):
        event = session_update(config, dialect)
        assert event["type"] == kind
        sdk_adapters[(dialect, "client")].validate_python(event)
        assert check_client_event(event, dialect) is None
        back = SessionConfig.from_wire(event["session"], dialect, session_type="transcription")
        assert back == config.replace(model=None)
    created = {"type": "session.created", "event_id": "e1", "session": {"id": "s", "object": "o", **ga}}
    parsed = sdk_adapters[(GA, "server")].validate_python(created)
    assert type(parsed.session).__name__ == "RealtimeTranscriptionSessionCreateRequest"


@pytest.mark.parametrize(
    ("config", "session", "dialect", "code", "param"),
    [
        ("t", {"type": "realtime"}, GA, "invalid_value", "session.type"),
        ("r", {"type": "transcription"}, GA, "invalid_value", "session.type"),
        ("t", {"type": "transcription", "audio": {"output": {"speed": 1.2}}}, GA, "unknown_parameter", None),
        ("t", {"type": "transcription", "tools": []}, GA, "unknown_parameter", "session.tools"),
        ("t", {"type": "transcription", "include": [LOGPROBS, "x"]}, GA, "invalid_value", "session.include"),
        ("t", {"voice": "ash"}, PREVIEW, "unknown_parameter", "session.voice"),
        ("t", {"max_response_output_tokens": 5}, PREVIEW, "unknown_parameter", None),
        ("t", {"temperature": 0.7}, PREVIEW, "unknown_parameter", "session.temperature"),
    ],
)
def test_what_a_transcription_session_refuses(
    config: str, session: dict[str, Any], dialect: Dialect, code: str, param: str | None
) -> None:
    base = SessionConfig.for_transcription() if config == "t" else SessionConfig()
    with pytest.raises(ConfigError) as err:
        apply_session_update(base, session, dialect)
    assert err.value.code == code
    if param is not None:
        assert err.value.param == param
    assert "transcription" in str(err.value) or code != "unknown_parameter"


def test_what_a_transcription_session_takes() -> None:
    base = SessionConfig.for_transcription()
    td = {"type": "server_vad", "threshold": 0.6, "silence_duration_ms": 300}
    ga = {"type": "transcription", "audio": {"input": {"turn_detection": td}}, "include": [LOGPROBS]}
    new = apply_session_update(base, ga, GA)
    assert new.turn_detection.silence_duration_ms == 300 and new.include == (LOGPROBS,)
    # preview's transcription_session.update carries modalities (the beta SDK types it): accepted,
    # and nothing to act on in a session without responses
    new = apply_session_update(base, {"modalities": ["text"], "input_audio_noise_reduction": None}, PREVIEW)
    assert new == base
    assert apply_session_update(base, {"include": None}, PREVIEW).include is None


def test_preview_transcription_session_events_are_session_events_of_a_transcription_session() -> None:
    wire = {"type": "transcription_session.updated", "event_id": "e", "session": {"include": [LOGPROBS]}}
    canonical = to_canonical(wire, PREVIEW)
    assert canonical["type"] == "session.updated"
    assert canonical["session"] == {"type": "transcription", "include": [LOGPROBS]}
    assert to_wire(canonical, PREVIEW) == wire
    assert lane_of(canonical["type"]) == LANES.index("session")
    assert lane_of("conversation.item.input_audio_transcription.delta") == LANES.index("transcription")


def test_the_order_rule_for_transcripts_can_fail() -> None:
    item = {"id": "item_1", "type": "message", "role": "user", "content": []}
    events = [
        {"type": "session.created", "session": {}},
        {"type": "input_audio_buffer.committed", "item_id": "item_1"},
        {"type": "conversation.item.added", "item": item},
        {"type": "conversation.item.done", "item": item},
        {"type": "conversation.item.input_audio_transcription.delta", "item_id": "item_1", "delta": "Hi"},
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": "item_1",
            "transcript": "Hi",
        },
    ]
    assert order_violations(events, GA) == []
    late = {"type": "conversation.item.input_audio_transcription.delta", "item_id": "item_1", "delta": "!"}
    assert any("after its transcription completed" in m for m in order_violations([*events, late], GA))
    twice = events[-1]
    assert any("after its transcription" in m for m in order_violations([*events, twice], GA))


# --- client ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        (lambda: Endpoint.openai(api_key="k" * 8), "wss://api.openai.com/v1/realtime?intent=transcription"),
        (
            lambda: Endpoint.openai(api_key="k" * 8, dialect="preview"),
            "wss://api.openai.com/v1/realtime?model=gpt-realtime&intent=transcription",
        ),
        (
            lambda: Endpoint.azure("dep", endpoint="res", api_key="k" * 8),
            "wss://res.openai.azure.com/openai/v1/realtime?model=dep&intent=transcription",
        ),
        (
            lambda: Endpoint.azure("dep", endpoint="res", api_version="2025-04-01-preview", api_key="k" * 8),
            "wss://res.openai.azure.com/openai/realtime?api-version=2025-04-01-preview&deployment=dep"
            "&intent=transcription",
        ),
        (
            lambda: Endpoint.local("ws://127.0.0.1:1"),
            "ws://127.0.0.1:1/v1/realtime?model=gpt-realtime&intent=transcription",
        ),
    ],
)
def test_endpoints_open_transcription_sessions(endpoint: Any, url: str) -> None:
    plain = endpoint()
    transcribing = plain.transcription()
    assert transcribing.url == url
    assert (plain.session_type, transcribing.session_type) == ("realtime", "transcription")
    assert transcribing.dialect is plain.dialect and transcribing.headers == plain.headers
    assert transcribing.transcription().url == url  # idempotent
    assert transcribing.blank_config().transcribes_only and not plain.blank_config().transcribes_only
    assert "k" * 8 not in repr(transcribing)


# --- the transcripts table ---------------------------------------------------------------------------


def _ms(t: float) -> int:
    return int(t * 1e9)


def _recorded_preview_session() -> EventLog:
    log = EventLog(start_ns=0)
    session = {"input_audio_format": "pcm16", "input_audio_transcription": {"model": "whisper-1"}}
    item = {"type": "message", "role": "user", "content": [{"type": "input_audio", "transcript": None}]}

    def rec(t: float, event: dict[str, Any], direction: str = "received") -> None:
        log.record(direction, {"event_id": f"e{t}", **event}, PREVIEW, t_ns=_ms(t))

    rec(0.0, {"type": "transcription_session.created", "session": session})
    rec(0.1, {"type": "transcription_session.update", "session": {"include": [LOGPROBS]}}, "sent")
    rec(0.2, {"type": "transcription_session.updated", "session": {**session, "include": [LOGPROBS]}})
    for n, (start, stop, t_stop, words) in enumerate(
        [(200, 1500, 2.0, ["Hello", " there."]), (2500, 4000, 4.5, None)], 1
    ):
        iid = f"item_{n}"
        rec(
            t_stop - 1.0,
            {"type": "input_audio_buffer.speech_started", "audio_start_ms": start, "item_id": iid},
        )
        rec(t_stop, {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": stop, "item_id": iid})
        rec(t_stop + 0.01, {"type": "input_audio_buffer.committed", "item_id": iid, "previous_item_id": None})
        rec(
            t_stop + 0.02,
            {"type": "conversation.item.created", "item": {**item, "id": iid}, "previous_item_id": None},
        )
        if words is None:
            error = {"type": "transcription_error", "code": "x", "message": "no such language"}
            rec(t_stop + 0.3, {"type": "conversation.item.input_audio_transcription.failed", "item_id": iid,
                               "content_index": 0, "error": error})  # fmt: skip
            continue
        for k, word in enumerate(words):
            rec(t_stop + 0.1 * (k + 1), {"type": "conversation.item.input_audio_transcription.delta",
                                          "item_id": iid, "content_index": 0, "delta": word})  # fmt: skip
        logprobs = [{"token": w, "logprob": -0.5 * (k + 1), "bytes": []} for k, w in enumerate(words)]
        done = {"item_id": iid, "content_index": 0, "transcript": "".join(words), "logprobs": logprobs}
        rec(t_stop + 0.25, {"type": "conversation.item.input_audio_transcription.completed", **done})
    return log


def test_the_transcripts_table() -> None:
    log = _recorded_preview_session()
    table = log.transcripts()
    assert list(table["item_id"]) == ["item_1", "item_2"]
    first, second = table.to_dict("records")
    assert (first["audio_start_ms"], first["audio_end_ms"]) == (200, 1500)
    assert first["status"] == "completed" and first["text"] == "Hello there." and first["n_deltas"] == 2
    assert first["first_delta_ms"] == pytest.approx(100) and first["done_ms"] == pytest.approx(250)
    assert first["mean_logprob"] == pytest.approx(-0.75)
    assert second["status"] == "failed" and second["error"] == "no such language" and second["text"] is None
    assert math.isnan(second["first_delta_ms"]) and second["done_ms"] == pytest.approx(300)
    config = log.session_config()
    assert config is not None and config.transcribes_only and config.include == (LOGPROBS,)
    assert log.check_order() == []
    assert str(table["audio_start_ms"].dtype) == "Int64" and table["done_ms"].dtype == "float64"


def test_the_transcripts_table_of_an_empty_log() -> None:
    table = EventLog().transcripts()
    assert table.empty and "first_delta_ms" in table.columns


@pytest.mark.parametrize(
    ("reference", "hypothesis", "wer"),
    [
        ("Thank you, that is all.", "thank you. That is all", 0.0),
        ("a b c d", "a x c d", 0.25),  # one substitution
        ("a b c d", "a c d", 0.25),  # one deletion
        ("a b", "a b c d", 1.0),  # two insertions
        ("", "", 0.0),
        ("", "words", math.inf),
        ("I'd like it", "I would like it", 2 / 3),
    ],
)
def test_word_error_rate(reference: str, hypothesis: str, wer: float) -> None:
    assert word_error_rate(reference, hypothesis) == pytest.approx(wer)


def test_notebook_settle_waits_for_the_transcripts_of_transcribed_turns() -> None:
    from types import SimpleNamespace

    from realtime_nb.notebook import _transcripts_pending

    log = EventLog(start_ns=0)
    item = {"type": "message", "role": "user", "content": []}
    plain = SessionConfig().to_wire(GA)
    transcribing = SessionConfig.for_transcription().to_wire(GA)
    events = [
        {"type": "session.created", "session": plain},  # not transcribing: item_1 expects nothing
        {"type": "input_audio_buffer.committed", "item_id": "item_1"},
        {"type": "conversation.item.added", "item": {**item, "id": "item_1"}},
        {"type": "session.updated", "session": transcribing},
        {"type": "input_audio_buffer.committed", "item_id": "item_2"},
        {"type": "conversation.item.added", "item": {**item, "id": "item_2"}},
    ]
    for i, event in enumerate(events):
        log.record("received", {"event_id": f"e{i}", **event}, GA, t_ns=i)
    session = SimpleNamespace(log=log)
    assert _transcripts_pending(session)  # item_2 was committed while transcribing
    done = {
        "item_id": "item_2",
        "content_index": 0,
        "transcript": "",
        "usage": {"type": "duration", "seconds": 1},
    }
    log.record(
        "received", {"type": "conversation.item.input_audio_transcription.completed", **done}, GA, t_ns=9
    )
    assert not _transcripts_pending(session)
