"""Real-looking event sequences of both dialects (orders from shared/protocol/sequences*.md) through an
EventLog: exact frame columns, turns()/responses() figures computed by hand from the injected clock,
and an exact save/load round trip of each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from realtime_nb.audio import pcm_to_b64
from realtime_nb.timeline import COLUMNS, EventLog

MS = 1_000_000  # ns
SPEECH = np.full(960, 3000, np.int16)  # 40 ms at 24 kHz, well above -40 dBFS
SILENCE = np.zeros(960, np.int16)
QUIET = np.full(2400, 20, np.int16)  # 100 ms at about -64 dBFS: a byte, but not audible
LOUD = np.full(2400, 8000, np.int16)


def _append(k: int, samples: np.ndarray) -> dict:
    return {"type": "input_audio_buffer.append", "event_id": f"evt_app_{k}", "audio": pcm_to_b64(samples)}


def _delta(dialect: str, rid: str, iid: str, samples: np.ndarray, eid: str) -> dict:
    name = "response.output_audio.delta" if dialect == "ga" else "response.audio.delta"
    return {
        "type": name,
        "event_id": eid,
        "response_id": rid,
        "item_id": iid,
        "output_index": 0,
        "content_index": 0,
        "delta": pcm_to_b64(samples),
    }


def _ga_session(silence: int | None) -> dict:
    td = (
        None
        if silence is None
        else {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": silence,
            "create_response": True,
        }
    )
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": "sess_1",
        "output_modalities": ["audio"],
        "audio": {
            "input": {"format": {"type": "audio/pcm", "rate": 24000}, "turn_detection": td},
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"},
        },
    }


def _assistant_body(dialect: str, rid: str, iid: str, t0: int, deltas: list[np.ndarray]) -> list:
    """Response body of sequences.md §4 / sequences-ga.md §4 (audio modality), 10 ms apart."""
    ga = dialect == "ga"
    audio_done = "response.output_audio.done" if ga else "response.audio.done"
    tr_delta = "response.output_audio_transcript.delta" if ga else "response.audio_transcript.delta"
    tr_done = "response.output_audio_transcript.done" if ga else "response.audio_transcript.done"
    added = "conversation.item.added" if ga else "conversation.item.created"
    base = {"response_id": rid, "item_id": iid, "output_index": 0, "content_index": 0}
    item = {"id": iid, "type": "message", "role": "assistant", "status": "in_progress", "content": []}
    events = [
        (
            "received",
            {
                "type": "response.output_item.added",
                "event_id": f"{rid}_1",
                "response_id": rid,
                "output_index": 0,
                "item": item,
            },
        ),
        ("received", {"type": added, "event_id": f"{rid}_2", "previous_item_id": None, "item": item}),
        (
            "received",
            {
                "type": "response.content_part.added",
                "event_id": f"{rid}_3",
                **base,
                "part": {"type": "audio", "transcript": ""},
            },
        ),
        ("received", {"type": tr_delta, "event_id": f"{rid}_4", **base, "delta": "Hi"}),
    ]
    for i, samples in enumerate(deltas):
        events.append(("received", _delta(dialect, rid, iid, samples, f"{rid}_d{i}")))
    events += [
        ("received", {"type": tr_delta, "event_id": f"{rid}_5", **base, "delta": " there"}),
        ("received", {"type": audio_done, "event_id": f"{rid}_6", **base}),
        ("received", {"type": tr_done, "event_id": f"{rid}_7", **base, "transcript": "Hi there"}),
        (
            "received",
            {
                "type": "response.content_part.done",
                "event_id": f"{rid}_8",
                **base,
                "part": {"type": "audio", "transcript": "Hi there"},
            },
        ),
        (
            "received",
            {
                "type": "response.output_item.done",
                "event_id": f"{rid}_9",
                "response_id": rid,
                "output_index": 0,
                "item": {**item, "status": "completed"},
            },
        ),
    ]
    return [(t0 + 10 * i, d, e) for i, (d, e) in enumerate(events)]


def _done(rid: str, status: str = "completed", reason: str | None = None, **extra: object) -> dict:
    details = None if reason is None else {"type": status, "reason": reason}
    usage = {
        "total_tokens": 82,
        "input_tokens": 5,
        "output_tokens": 77,
        "input_token_details": {"cached_tokens": 3, "text_tokens": 5, "audio_tokens": 0},
    }
    return {
        "type": "response.done",
        "event_id": f"{rid}_done",
        "response": {
            "object": "realtime.response",
            "id": rid,
            "status": status,
            "status_details": details,
            "output": [],
            "usage": usage,
            **extra,
        },
    }


# --- scenario 1: GA server-VAD turn with response audio ---------------------------------------


def vad_turn_ga() -> list:
    """Appends every 40 ms from t=100 ms (speech in chunks 10..29 = audio 400..1200 ms); silence 500 ms."""
    steps: list = [
        (0, "received", {"type": "session.created", "event_id": "evt_s0", "session": _ga_session(200)}),
        (5, "sent", {"type": "session.update", "event_id": "evt_c0", "session": _ga_session(500)}),
        (30, "received", {"type": "session.updated", "event_id": "evt_s1", "session": _ga_session(500)}),
    ]
    for k in range(60):
        steps.append((100 + 40 * k, "sent", _append(k, SPEECH if 10 <= k < 30 else SILENCE)))
    steps += [
        (
            600,
            "received",
            {
                "type": "input_audio_buffer.speech_started",
                "event_id": "evt_s2",
                "audio_start_ms": 100,
                "item_id": "item_A",
            },
        ),
        (
            1800,
            "received",
            {
                "type": "input_audio_buffer.speech_stopped",
                "event_id": "evt_s3",
                "audio_end_ms": 1700,
                "item_id": "item_A",
            },
        ),
        (
            1810,
            "received",
            {
                "type": "input_audio_buffer.committed",
                "event_id": "evt_s4",
                "previous_item_id": None,
                "item_id": "item_A",
            },
        ),
        (
            1812,
            "received",
            {
                "type": "conversation.item.added",
                "event_id": "evt_s5",
                "previous_item_id": None,
                "item": {
                    "id": "item_A",
                    "type": "message",
                    "role": "user",
                    "status": "completed",
                    "content": [{"type": "input_audio", "transcript": None}],
                },
            },
        ),
        (
            1813,
            "received",
            {
                "type": "conversation.item.done",
                "event_id": "evt_s6",
                "previous_item_id": None,
                "item": {
                    "id": "item_A",
                    "type": "message",
                    "role": "user",
                    "status": "completed",
                    "content": [{"type": "input_audio", "transcript": None}],
                },
            },
        ),
        (
            1850,
            "received",
            {
                "type": "response.created",
                "event_id": "evt_s7",
                "response": {
                    "object": "realtime.response",
                    "id": "resp_A",
                    "status": "in_progress",
                    "output_modalities": ["audio"],
                    "usage": None,
                    "metadata": None,
                },
            },
        ),
    ]
    # body at 1860.. (10 ms apart): deltas are steps 4 and 5 -> t = 1900 (quiet) and 1910 (loud)
    steps += _assistant_body("ga", "resp_A", "item_R", 1860, [QUIET, LOUD])
    steps += [
        (
            1990,
            "received",
            {
                "type": "conversation.item.done",
                "event_id": "evt_s8",
                "previous_item_id": "item_A",
                "item": {
                    "id": "item_R",
                    "type": "message",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_audio", "transcript": "Hi there"}],
                },
            },
        ),
        (2000, "received", _done("resp_A", output_modalities=["audio"])),
        (
            2010,
            "received",
            {
                "type": "rate_limits.updated",
                "event_id": "evt_s9",
                "rate_limits": [{"name": "tokens", "limit": 1000, "remaining": 918, "reset_seconds": 1.2}],
            },
        ),
        (
            2300,
            "received",
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "event_id": "evt_s10",
                "item_id": "item_A",
                "content_index": 0,
                "transcript": "Hello there.",
                "usage": {"type": "duration", "seconds": 1.7},
            },
        ),
    ]
    return steps


# --- scenario 2: preview manual commit turn (turn_detection null), a clear before -----------


def manual_turn_preview() -> list:
    steps: list = [
        (
            0,
            "received",
            {
                "type": "session.created",
                "event_id": "evt_p0",
                "session": {
                    "id": "sess_2",
                    "object": "realtime.session",
                    "modalities": ["text", "audio"],
                    "input_audio_format": "pcm16",
                    "output_audio_format": "pcm16",
                    "turn_detection": {"type": "server_vad", "silence_duration_ms": 200},
                },
            },
        ),
        (10, "sent", {"type": "session.update", "event_id": "evt_c1", "session": {"turn_detection": None}}),
        (
            40,
            "received",
            {
                "type": "session.updated",
                "event_id": "evt_p1",
                "session": {"id": "sess_2", "input_audio_format": "pcm16", "turn_detection": None},
            },
        ),
    ]
    for k in range(5):  # 200 ms, then discarded
        steps.append((100 + 40 * k, "sent", _append(k, SPEECH)))
    steps.append((400, "sent", {"type": "input_audio_buffer.clear", "event_id": "evt_c2"}))
    steps.append((420, "received", {"type": "input_audio_buffer.cleared", "event_id": "evt_p2"}))
    for k in range(25):  # 1 s at t = 1000 .. 1960
        steps.append((1000 + 40 * k, "sent", _append(100 + k, SPEECH)))
    steps += [
        (2000, "sent", {"type": "input_audio_buffer.commit", "event_id": "evt_c3"}),
        (
            2020,
            "received",
            {
                "type": "input_audio_buffer.committed",
                "event_id": "evt_p3",
                "previous_item_id": None,
                "item_id": "item_B",
            },
        ),
        (
            2021,
            "received",
            {
                "type": "conversation.item.created",
                "event_id": "evt_p4",
                "previous_item_id": None,
                "item": {
                    "id": "item_B",
                    "object": "realtime.item",
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_audio", "transcript": None}],
                },
            },
        ),
        (2100, "sent", {"type": "response.create", "event_id": "evt_c4"}),
        (
            2150,
            "received",
            {
                "type": "response.created",
                "event_id": "evt_p5",
                "response": {
                    "object": "realtime.response",
                    "id": "resp_B",
                    "status": "in_progress",
                    "modalities": ["text", "audio"],
                    "usage": None,
                },
            },
        ),
    ]
    steps += _assistant_body("preview", "resp_B", "item_S", 2260, [LOUD, LOUD])  # deltas at 2300, 2310
    steps.append((2600, "received", _done("resp_B", modalities=["text", "audio"])))
    return steps


# --- scenario 3: GA barge-in with truncate (sequences.md §7 / sequences-ga.md §5) -------------


def barge_in_ga() -> list:
    steps: list = [
        (0, "received", {"type": "session.created", "event_id": "evt_b0", "session": _ga_session(500)})
    ]
    for k in range(100):  # 4 s of audio, appends at t = 40 k
        steps.append((40 * k, "sent", _append(k, SPEECH if 5 <= k < 20 or 60 <= k < 80 else SILENCE)))
    rid, iid = "resp_C", "item_CR"
    base = {"response_id": rid, "item_id": iid, "output_index": 0, "content_index": 0}
    steps += [
        (
            300,
            "received",
            {
                "type": "input_audio_buffer.speech_started",
                "event_id": "evt_b1",
                "audio_start_ms": 0,
                "item_id": "item_C",
            },
        ),
        (
            1350,
            "received",
            {
                "type": "input_audio_buffer.speech_stopped",
                "event_id": "evt_b2",
                "audio_end_ms": 1300,
                "item_id": "item_C",
            },
        ),
        (
            1360,
            "received",
            {"type": "input_audio_buffer.committed", "event_id": "evt_b3", "item_id": "item_C"},
        ),
        (
            1400,
            "received",
            {
                "type": "response.created",
                "event_id": "evt_b4",
                "response": {"id": rid, "status": "in_progress", "output_modalities": ["audio"]},
            },
        ),
        (1500, "received", _delta("ga", rid, iid, LOUD, "evt_b5")),
        (1600, "received", _delta("ga", rid, iid, LOUD, "evt_b6")),
        (
            2500,
            "received",
            {
                "type": "input_audio_buffer.speech_started",
                "event_id": "evt_b7",
                "audio_start_ms": 2100,
                "item_id": "item_D",
            },
        ),
        (2505, "received", {"type": "response.output_audio.done", "event_id": "evt_b8", **base}),
        (
            2506,
            "received",
            {
                "type": "response.output_audio_transcript.done",
                "event_id": "evt_b9",
                **base,
                "transcript": "Well, you see",
            },
        ),
        (
            2507,
            "received",
            {
                "type": "response.content_part.done",
                "event_id": "evt_b10",
                **base,
                "part": {"type": "audio", "transcript": "Well, you see"},
            },
        ),
        (
            2508,
            "received",
            {
                "type": "response.output_item.done",
                "event_id": "evt_b11",
                "response_id": rid,
                "output_index": 0,
                "item": {
                    "id": iid,
                    "type": "message",
                    "role": "assistant",
                    "status": "incomplete",
                    "content": [],
                },
            },
        ),
        (2510, "received", _done(rid, "cancelled", "turn_detected")),
        (
            2520,
            "sent",
            {
                "type": "conversation.item.truncate",
                "event_id": "evt_c5",
                "item_id": iid,
                "content_index": 0,
                "audio_end_ms": 150,
            },
        ),
        (
            2540,
            "received",
            {
                "type": "conversation.item.truncated",
                "event_id": "evt_b12",
                "item_id": iid,
                "content_index": 0,
                "audio_end_ms": 150,
            },
        ),
        (
            3750,
            "received",
            {
                "type": "input_audio_buffer.speech_stopped",
                "event_id": "evt_b13",
                "audio_end_ms": 3700,
                "item_id": "item_D",
            },
        ),
        (
            3760,
            "received",
            {
                "type": "input_audio_buffer.committed",
                "event_id": "evt_b14",
                "item_id": "item_D",
                "previous_item_id": iid,
            },
        ),
        (
            3800,
            "received",
            {
                "type": "response.created",
                "event_id": "evt_b15",
                "response": {"id": "resp_E", "status": "in_progress", "output_modalities": ["audio"]},
            },
        ),
        (3900, "received", _delta("ga", "resp_E", "item_ER", LOUD, "evt_b16")),
        (4000, "received", _done("resp_E")),
    ]
    return steps


# --- scenario 4: preview text response (sequences.md §4 with text modality) -----------------


def text_response_preview() -> list:
    rid, iid = "resp_T", "item_TR"
    base = {"response_id": rid, "item_id": iid, "output_index": 0, "content_index": 0}
    item = {"id": iid, "object": "realtime.item", "type": "message", "role": "assistant", "content": []}
    return [
        (
            0,
            "received",
            {"type": "session.created", "event_id": "evt_t0", "session": {"modalities": ["text"]}},
        ),
        (
            10,
            "sent",
            {
                "type": "conversation.item.create",
                "event_id": "evt_c6",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "Say hello"}],
                },
            },
        ),
        (
            30,
            "received",
            {
                "type": "conversation.item.created",
                "event_id": "evt_t1",
                "previous_item_id": None,
                "item": {
                    "id": "item_U",
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "Say hello"}],
                },
            },
        ),
        (
            40,
            "sent",
            {
                "type": "response.create",
                "event_id": "evt_c7",
                "response": {"modalities": ["text"], "instructions": "Be brief"},
            },
        ),
        (
            90,
            "received",
            {
                "type": "response.created",
                "event_id": "evt_t2",
                "response": {"id": rid, "status": "in_progress", "modalities": ["text"]},
            },
        ),
        (
            100,
            "received",
            {
                "type": "response.output_item.added",
                "event_id": "evt_t3",
                "response_id": rid,
                "output_index": 0,
                "item": item,
            },
        ),
        (
            101,
            "received",
            {
                "type": "conversation.item.created",
                "event_id": "evt_t4",
                "previous_item_id": "item_U",
                "item": item,
            },
        ),
        (
            102,
            "received",
            {
                "type": "response.content_part.added",
                "event_id": "evt_t5",
                **base,
                "part": {"type": "text", "text": ""},
            },
        ),
        (150, "received", {"type": "response.text.delta", "event_id": "evt_t6", **base, "delta": "Hello"}),
        (160, "received", {"type": "response.text.delta", "event_id": "evt_t7", **base, "delta": " world"}),
        (
            170,
            "received",
            {"type": "response.text.done", "event_id": "evt_t8", **base, "text": "Hello world"},
        ),
        (
            171,
            "received",
            {
                "type": "response.content_part.done",
                "event_id": "evt_t9",
                **base,
                "part": {"type": "text", "text": "Hello world"},
            },
        ),
        (
            172,
            "received",
            {
                "type": "response.output_item.done",
                "event_id": "evt_t10",
                "response_id": rid,
                "output_index": 0,
                "item": {**item, "status": "completed"},
            },
        ),
        (200, "received", _done(rid, modalities=["text"])),
    ]


# --- scenario 5: GA out-of-band response beside a VAD turn (sequences.md §11) ---------------


def out_of_band_ga() -> list:
    steps: list = [
        (0, "received", {"type": "session.created", "event_id": "evt_o0", "session": _ga_session(200)})
    ]
    for k in range(30):
        steps.append((40 * k, "sent", _append(k, SPEECH if k < 20 else SILENCE)))
    steps += [
        (
            100,
            "received",
            {
                "type": "input_audio_buffer.speech_started",
                "event_id": "evt_o1",
                "audio_start_ms": 0,
                "item_id": "item_O",
            },
        ),
        (
            1000,
            "received",
            {
                "type": "input_audio_buffer.speech_stopped",
                "event_id": "evt_o2",
                "audio_end_ms": 1000,
                "item_id": "item_O",
            },
        ),
        (
            1005,
            "received",
            {"type": "input_audio_buffer.committed", "event_id": "evt_o3", "item_id": "item_O"},
        ),
        (
            1006,
            "sent",
            {
                "type": "response.create",
                "event_id": "evt_c8",
                "response": {
                    "conversation": "none",
                    "metadata": {"topic": "classify"},
                    "output_modalities": ["text"],
                    "instructions": "Classify the request",
                },
            },
        ),
        (
            1020,
            "received",
            {
                "type": "response.created",
                "event_id": "evt_o4",
                "response": {
                    "id": "resp_S",
                    "status": "in_progress",
                    "metadata": None,
                    "output_modalities": ["audio"],
                },
            },
        ),
        (
            1030,
            "received",
            {
                "type": "response.created",
                "event_id": "evt_o5",
                "response": {
                    "id": "resp_OOB",
                    "status": "in_progress",
                    "conversation_id": None,
                    "metadata": {"topic": "classify"},
                    "output_modalities": ["text"],
                },
            },
        ),
        (1100, "received", _delta("ga", "resp_S", "item_SR", LOUD, "evt_o6")),
        (
            1200,
            "received",
            {
                "type": "response.output_text.delta",
                "event_id": "evt_o7",
                "response_id": "resp_OOB",
                "item_id": "item_OR",
                "output_index": 0,
                "content_index": 0,
                "delta": "booking",
            },
        ),
        (1210, "received", _done("resp_OOB", metadata={"topic": "classify"})),
        (1300, "received", _done("resp_S")),
    ]
    return steps


SCENARIOS = {
    "vad_turn_ga": (vad_turn_ga, "ga"),
    "manual_turn_preview": (manual_turn_preview, "preview"),
    "barge_in_ga": (barge_in_ga, "ga"),
    "text_response_preview": (text_response_preview, "preview"),
    "out_of_band_ga": (out_of_band_ga, "ga"),
}


def build(name: str) -> EventLog:
    steps, dialect = SCENARIOS[name]
    log = EventLog(start_ns=0, wall_start_ns=1_700_000_000 * 10**9)
    for t_ms, direction, event in steps():
        log.record(direction, event, dialect, t_ns=t_ms * MS)
    return log


def _latencies(turn: pd.Series) -> dict[str, float]:
    return {k: round(float(turn[k]), 6) for k in turn.index if "_to_" in k}


# --- frames --------------------------------------------------------------------------------


def test_frame_columns_and_dtypes():
    frame = build("vad_turn_ga").frame()
    assert tuple(frame.columns) == COLUMNS
    expected = {
        "seq": "int64",
        "t": "float64",
        "wall": "datetime64[ns, UTC]",
        "direction": "category",
        "type": "category",
        "wire_type": "category",
        "dialect": "category",
        "family": "category",
        "event_id": "object",
        "item_id": "object",
        "output_index": "Int64",
        "audio_start_ms": "Int64",
        "audio_end_ms": "Int64",
        "audio_ms": "float64",
        "size_bytes": "Int64",
        "text": "object",
        "error_code": "object",
        "issue": "object",
    }
    assert {k: str(frame[k].dtype) for k in expected} == expected
    assert frame["seq"].tolist() == list(range(len(frame)))
    assert frame["issue"].isna().all()


def test_frame_vad_turn_rows_exact():
    frame = build("vad_turn_ga").frame().set_index("event_id")
    started, stopped = frame.loc["evt_s2"], frame.loc["evt_s3"]
    assert (started["type"], started["family"], started["audio_start_ms"], started["item_id"]) == (
        "input_audio_buffer.speech_started",
        "input_audio_buffer",
        100,
        "item_A",
    )
    assert stopped["audio_end_ms"] == 1700 and pd.isna(stopped["audio_start_ms"])
    assert started["t"] == pytest.approx(0.6) and stopped["t"] == pytest.approx(1.8)
    assert frame.loc["evt_s2", "wall"] == pd.Timestamp(1_700_000_000_600_000_000, unit="ns", tz="UTC")
    appends = frame[frame["type"] == "input_audio_buffer.append"]
    assert len(appends) == 60 and (appends["audio_ms"] == 40.0).all()
    assert (appends["direction"] == "sent").all() and appends["response_id"].isna().all()
    delta = frame.loc["resp_A_d1"]
    assert (delta["response_id"], delta["item_id"], delta["output_index"], delta["audio_ms"]) == (
        "resp_A",
        "item_R",
        0,
        100.0,
    )
    item_added = frame.loc["evt_s5"]
    assert (item_added["item_id"], item_added["previous_item_id"]) == ("item_A", None)
    assert frame.loc["evt_s9", "family"] == "rate_limits"
    transcription = frame.loc["evt_s10"]
    assert (transcription["family"], transcription["text"]) == ("transcription", "Hello there.")
    assert frame.loc["resp_A_7", "text"] == "Hi there" and frame.loc["resp_A_4", "text"] == "Hi"
    assert frame.loc["resp_A_done", "response_id"] == "resp_A"
    # payload size: the compact JSON of the event (no wire_bytes given)
    assert frame.loc["evt_app_0", "size_bytes"] == len(
        '{"type":"input_audio_buffer.append","event_id":"evt_app_0","audio":""}'
    ) + len(pcm_to_b64(SILENCE))


def test_frame_preview_keeps_wire_types_and_canonicalises():
    frame = build("manual_turn_preview").frame()
    renamed = frame[frame["wire_type"].astype(object) != frame["type"].astype(object)]
    pairs = set(zip(renamed["wire_type"], renamed["type"], strict=True))
    assert pairs == {
        ("conversation.item.created", "conversation.item.added"),
        ("response.audio.delta", "response.output_audio.delta"),
        ("response.audio.done", "response.output_audio.done"),
        ("response.audio_transcript.delta", "response.output_audio_transcript.delta"),
        ("response.audio_transcript.done", "response.output_audio_transcript.done"),
    }
    assert set(frame["dialect"]) == {"preview"}
    assert frame.loc[frame["event_id"] == "evt_c3", "type"].item() == "input_audio_buffer.commit"


def test_frame_error_columns_from_an_error_event():
    log = build("vad_turn_ga")
    log.record("sent", {"type": "response.cancel", "event_id": "evt_x"}, "ga", t_ns=5000 * MS)
    log.record(
        "received",
        {
            "type": "error",
            "event_id": "evt_e",
            "error": {
                "type": "invalid_request_error",
                "code": "response_cancel_not_active",
                "message": "Cancellation failed: no active response found",
                "param": None,
                "event_id": "evt_x",
            },
        },
        "ga",
        t_ns=5010 * MS,
        wire_bytes=321,
    )
    row = log.frame().iloc[-1]
    assert (
        row["family"],
        row["error_type"],
        row["error_code"],
        row["error_event_id"],
        row["error_param"],
    ) == ("error", "invalid_request_error", "response_cancel_not_active", "evt_x", None)
    assert row["error_message"].startswith("Cancellation failed") and row["size_bytes"] == 321


def test_failed_response_reports_its_error():
    log = EventLog(start_ns=0)
    log.record(
        "received",
        {
            "type": "response.done",
            "event_id": "e",
            "response": {
                "id": "resp_f",
                "status": "failed",
                "status_details": {
                    "type": "failed",
                    "error": {"type": "server_error", "code": "model_error", "message": "boom"},
                },
            },
        },
        "ga",
        t_ns=0,
    )
    row = log.frame().iloc[0]
    assert (row["error_type"], row["error_code"], row["error_message"]) == (
        "server_error",
        "model_error",
        "boom",
    )


# --- turns ---------------------------------------------------------------------------------


def test_turns_vad_latencies_by_hand():
    turns = build("vad_turn_ga").turns()
    assert len(turns) == 1
    turn = turns.iloc[0]
    assert (turn["item_id"], turn["kind"], turn["response_id"], turn["response_status"]) == (
        "item_A",
        "vad",
        "resp_A",
        "completed",
    )
    assert (turn["audio_start_ms"], turn["audio_end_ms"], turn["silence_duration_ms"]) == (100, 1700, 500)
    assert turn["transcript"] == "Hello there." and not turn["was_interrupted"]
    # stop 1800, committed 1810, created 1850, first delta 1900 (quiet), first audible 1910;
    # true end of speech = audio 1700 - 500 = 1200 ms -> append k=29 (1160..1200 ms), sent at 100+29*40=1260
    assert turn["t_speech_end"] == pytest.approx(1.26)
    assert _latencies(turn) == {
        "stop_to_first_audio_ms": 100.0,
        "stop_to_first_audible_ms": 110.0,
        "stop_to_committed_ms": 10.0,
        "committed_to_created_ms": 40.0,
        "created_to_first_audio_ms": 50.0,
        "speech_end_to_first_audio_ms": 640.0,
        "speech_end_to_first_audible_ms": 650.0,
    }


def test_turns_silence_comes_from_the_session_at_the_time():
    """session.created said 200 ms; the update to 500 ms came before the turn, so 500 is used."""
    turns = build("vad_turn_ga").turns()
    assert turns.iloc[0]["silence_duration_ms"] == 500


def test_turns_manual_commit_preview():
    turn = build("manual_turn_preview").turns().iloc[0]
    assert (turn["item_id"], turn["kind"], turn["response_id"]) == ("item_B", "manual", "resp_B")
    assert (
        pd.isna(turn["audio_start_ms"])
        and np.isnan(turn["t_speech_end"])
        and np.isnan(turn["t_speech_stopped"])
    )
    got = _latencies(turn)
    assert got["stop_to_first_audio_ms"] == 300.0  # commit sent 2000 -> first delta 2300
    assert got["stop_to_committed_ms"] == 20.0
    assert got["committed_to_created_ms"] == 130.0
    assert got["created_to_first_audio_ms"] == 150.0
    assert np.isnan(got["speech_end_to_first_audio_ms"])


def test_turns_barge_in_marks_the_interrupted_turn():
    turns = build("barge_in_ga").turns().set_index("item_id")
    first, second = turns.loc["item_C"], turns.loc["item_D"]
    assert first["was_interrupted"] and (first["response_status"], first["status_reason"]) == (
        "cancelled",
        "turn_detected",
    )
    assert not second["was_interrupted"] and second["response_id"] == "resp_E"
    assert second["stop_to_first_audio_ms"] == pytest.approx(150.0)  # 3750 -> 3900
    # true end = 3700 - 500 = 3200 ms -> append k = 79, sent at 3160 ms
    assert second["speech_end_to_first_audio_ms"] == pytest.approx(740.0)


def test_turns_skip_out_of_band_responses():
    log = build("out_of_band_ga")
    turn = log.turns().iloc[0]
    assert turn["response_id"] == "resp_S"
    responses = log.responses().set_index("response_id")
    assert responses.loc["resp_OOB", "conversation"] == "none"
    assert responses.loc["resp_OOB", "initiator"] == "client"
    assert responses.loc["resp_OOB", "metadata"] == {"topic": "classify"}
    assert responses.loc["resp_OOB", "text"] == "booking"
    assert (responses.loc["resp_S", "conversation"], responses.loc["resp_S", "initiator"]) == (
        "auto",
        "server",
    )


def test_turns_empty_without_user_audio():
    turns = build("text_response_preview").turns()
    assert turns.empty and "stop_to_first_audio_ms" in turns.columns
    assert turns["stop_to_first_audio_ms"].dtype == np.float64


def test_audible_threshold_is_a_parameter():
    log = build("vad_turn_ga")
    assert log.turns(audible_dbfs=-70.0).iloc[0]["t_first_audible"] == pytest.approx(1.9)
    assert np.isnan(log.turns(audible_dbfs=0.0).iloc[0]["t_first_audible"])
    with pytest.raises(ValueError, match="audible_dbfs"):
        log.turns(audible_dbfs="loud")  # type: ignore[arg-type]


# --- responses -----------------------------------------------------------------------------


def test_responses_vad_turn():
    row = build("vad_turn_ga").responses().iloc[0]
    assert (row["response_id"], row["status"], row["output_modalities"], row["initiator"]) == (
        "resp_A",
        "completed",
        "audio",
        "server",
    )
    assert (row["t_created"], row["t_done"]) == (pytest.approx(1.85), pytest.approx(2.0))
    assert row["duration_ms"] == pytest.approx(150.0) and row["first_audio_ms"] == pytest.approx(50.0)
    assert (row["n_audio_deltas"], row["audio_s"]) == (2, pytest.approx(0.2))
    assert row["transcript"] == "Hi there" and row["text"] is None
    usage = (row["input_tokens"], row["output_tokens"], row["total_tokens"], row["cached_tokens"])
    assert usage == (5, 77, 82, 3)


def test_responses_text_and_client_initiated():
    row = build("text_response_preview").responses().iloc[0]
    assert (row["text"], row["output_modalities"], row["initiator"], row["conversation"]) == (
        "Hello world",
        "text",
        "client",
        "auto",
    )
    assert row["n_audio_deltas"] == 0 and np.isnan(row["first_audio_ms"])


def test_responses_cancelled_reason():
    table = build("barge_in_ga").responses().set_index("response_id")
    assert (table.loc["resp_C", "status"], table.loc["resp_C", "status_reason"]) == (
        "cancelled",
        "turn_detected",
    )
    assert table.loc["resp_C", "transcript"] == "Well, you see"


def test_rejected_create_is_not_matched():
    log = EventLog(start_ns=0)
    log.record("sent", {"type": "response.create", "event_id": "c1"}, "ga", t_ns=0)
    log.record(
        "received",
        {
            "type": "error",
            "event_id": "e1",
            "error": {
                "type": "invalid_request_error",
                "code": "conversation_already_has_active_response",
                "message": "busy",
                "event_id": "c1",
            },
        },
        "ga",
        t_ns=1,
    )
    log.record(
        "received", {"type": "response.created", "event_id": "e2", "response": {"id": "r1"}}, "ga", t_ns=2
    )
    assert log.responses().iloc[0]["initiator"] == "server"


# --- round trip ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_save_load_round_trip(name, tmp_path):
    log = build(name)
    path = log.save(tmp_path / f"{name}.rtlog")
    back = EventLog.load(path)
    pd.testing.assert_frame_equal(back.frame(), log.frame())
    pd.testing.assert_frame_equal(back.turns(), log.turns())
    pd.testing.assert_frame_equal(back.responses(), log.responses())
    np.testing.assert_array_equal(back.sent_audio(), log.sent_audio())
    for rid in log.responses()["response_id"]:
        if log.responses().set_index("response_id").loc[rid, "n_audio_deltas"]:
            np.testing.assert_array_equal(back.response_audio(rid), log.response_audio(rid))
    assert [back.event_json(i) for i in range(len(back))] == [log.event_json(i) for i in range(len(log))]


FORMAT1 = Path(__file__).parent / "data" / "format1"


@pytest.mark.parametrize("name", SCENARIOS)
def test_files_written_by_the_first_release_still_load(name):
    """data/format1/<scenario>.rtlog were saved by realtime_nb 0.1.0 before the log was split into
    recorder / session history (``build(name).save(...)`` at commit 73e38c1): loading one gives what
    recording the scenario now gives, and recording goes on in the same formats."""
    back, log = EventLog.load(FORMAT1 / f"{name}.rtlog"), build(name)
    pd.testing.assert_frame_equal(back.frame(), log.frame())
    pd.testing.assert_frame_equal(back.turns(), log.turns())
    pd.testing.assert_frame_equal(back.responses(), log.responses())
    np.testing.assert_array_equal(back.sent_audio(), log.sent_audio())
    assert [back.event_json(i) for i in range(len(back))] == [log.event_json(i) for i in range(len(log))]
    configs = [log.session_config(i) for i in range(len(log))]
    assert [back.session_config(i) for i in range(len(back))] == configs and configs[-1] is not None
    for target in (back, log):
        target.record("sent", _append(999, SPEECH), SCENARIOS[name][1], t_ns=10**12)
    pd.testing.assert_frame_equal(back.frame().tail(1), log.frame().tail(1))


def test_turns_idle_timeout_ga():
    """sequences-ga.md §6: timeout_triggered -> committed -> response; the timeout is the turn's stop."""
    log = EventLog(start_ns=0)
    for k in range(10):
        log.record("sent", _append(k, SILENCE), "ga", t_ns=40 * k * MS)
    rec = log.record
    rec(
        "received",
        {
            "type": "input_audio_buffer.timeout_triggered",
            "audio_start_ms": 0,
            "audio_end_ms": 400,
            "item_id": "item_I",
        },
        "ga",
        t_ns=420 * MS,
    )
    rec("received", {"type": "input_audio_buffer.committed", "item_id": "item_I"}, "ga", t_ns=425 * MS)
    rec("received", {"type": "response.created", "response": {"id": "resp_I"}}, "ga", t_ns=440 * MS)
    rec("received", _delta("ga", "resp_I", "item_IR", LOUD, "d"), "ga", t_ns=600 * MS)
    turn = log.turns().iloc[0]
    assert (turn["kind"], turn["audio_start_ms"], turn["audio_end_ms"], turn["response_id"]) == (
        "idle_timeout",
        0,
        400,
        "resp_I",
    )
    assert turn["stop_to_first_audio_ms"] == pytest.approx(180.0)
    assert turn["stop_to_committed_ms"] == pytest.approx(5.0)
    assert log.item_span("item_I") == (0.0, 400.0)
