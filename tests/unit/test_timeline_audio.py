"""Audio kept by the EventLog: the input stream on the audio clock, response / retrieved / created item
audio, formats followed from the session events (pcm16, G.711 in both dialect spellings)."""

from __future__ import annotations

import numpy as np
import pytest

from realtime_nb.audio import decode, encode, pcm_to_b64
from realtime_nb.timeline import EventLog
from realtime_nb.timeline.stores import resample_to_24k

MS = 1_000_000
RNG = np.random.default_rng(7)


def _noise(n: int) -> np.ndarray:
    return RNG.integers(-8000, 8000, n).astype(np.int16)


def _append(samples: np.ndarray, fmt: str = "pcm16") -> dict:
    return {"type": "input_audio_buffer.append", "audio": pcm_to_b64(samples, fmt)}  # type: ignore[arg-type]


def _delta(
    rid: str, iid: str, samples: np.ndarray, fmt: str = "pcm16", name: str = "response.output_audio.delta"
):
    return {
        "type": name,
        "response_id": rid,
        "item_id": iid,
        "output_index": 0,
        "content_index": 0,
        "delta": pcm_to_b64(samples, fmt),
    }  # type: ignore[arg-type]


def _log_with_appends(chunks: list[np.ndarray]) -> EventLog:
    log = EventLog(start_ns=0)
    for k, chunk in enumerate(chunks):
        log.record("sent", _append(chunk), "ga", t_ns=k * 40 * MS)
    return log


# --- input stream --------------------------------------------------------------------------


def test_sent_audio_is_the_appended_pcm_on_the_audio_clock():
    chunks = [_noise(960) for _ in range(5)]
    log = _log_with_appends(chunks)
    whole = np.concatenate(chunks)
    np.testing.assert_array_equal(log.sent_audio(), whole)
    np.testing.assert_array_equal(log.sent_audio(30, 110), whole[720:2640])  # 24 samples per ms
    assert log.sent_audio().dtype == np.int16


def test_sent_audio_fills_what_was_never_appended_with_zeros():
    chunks = [_noise(960) for _ in range(2)]
    log = _log_with_appends(chunks)
    out = log.sent_audio(-10, 100)
    assert out.size == 110 * 24
    np.testing.assert_array_equal(out[:240], 0)
    np.testing.assert_array_equal(out[240 : 240 + 1920], np.concatenate(chunks))
    np.testing.assert_array_equal(out[240 + 1920 :], 0)
    assert EventLog().sent_audio().size == 0
    assert EventLog().sent_audio(0, 10).tolist() == [0] * 240


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((50, 10), "end_ms .* is before start_ms"),
        (("0", 10), "start_ms must be a finite number"),
        ((0, float("nan")), "end_ms must be a finite number"),
    ],
)
def test_sent_audio_bad_ranges(args, message):
    log = _log_with_appends([_noise(960)])
    with pytest.raises(ValueError, match=message):
        log.sent_audio(*args)


@pytest.mark.parametrize(
    ("dialect", "session", "fmt"),
    [
        ("preview", {"input_audio_format": "g711_ulaw"}, "g711_ulaw"),
        ("preview", {"input_audio_format": "g711_alaw"}, "g711_alaw"),
        ("ga", {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}}, "g711_ulaw"),
        ("ga", {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcma"}}}}, "g711_alaw"),
    ],
)
def test_g711_input_is_decoded_to_24k(dialect, session, fmt):
    log = EventLog(start_ns=0)
    log.record("sent", {"type": "session.update", "session": session}, dialect, t_ns=0)
    native = [_noise(160) for _ in range(4)]  # 20 ms at 8 kHz each
    for k, chunk in enumerate(native):
        log.record("sent", _append(chunk, fmt), dialect, t_ns=(k + 1) * 20 * MS)
    wire = b"".join(encode(c, fmt) for c in native)  # type: ignore[arg-type]
    expected = resample_to_24k(decode(wire, fmt), 8000)[: 640 * 3]  # type: ignore[arg-type]
    got = log.sent_audio()
    assert got.size == 640 * 3
    np.testing.assert_array_equal(got[: expected.size], expected)
    assert log.frame()["audio_ms"].dropna().tolist() == [20.0] * 4


def test_format_change_mid_stream_keeps_the_clock():
    log = EventLog(start_ns=0)
    pcm = [_noise(480), _noise(480)]  # 2 x 20 ms pcm16
    for k, chunk in enumerate(pcm):
        log.record("sent", _append(chunk), "preview", t_ns=k)
    log.record(
        "sent", {"type": "session.update", "session": {"input_audio_format": "g711_ulaw"}}, "preview", t_ns=2
    )
    ulaw = _noise(160)  # 20 ms
    log.record("sent", _append(ulaw, "g711_ulaw"), "preview", t_ns=3)
    got = log.sent_audio()
    assert got.size == 960 + 480
    np.testing.assert_array_equal(got[:960], np.concatenate(pcm))
    expected = resample_to_24k(decode(encode(ulaw, "g711_ulaw"), "g711_ulaw"), 8000)
    np.testing.assert_array_equal(got[960:], expected[:480])
    np.testing.assert_array_equal(log.sent_audio(40, 60), got[960:])


def test_session_updated_is_authoritative_after_a_rejected_update():
    log = EventLog(start_ns=0)
    log.record(
        "sent", {"type": "session.update", "session": {"input_audio_format": "g711_ulaw"}}, "preview", t_ns=0
    )
    log.record(
        "received", {"type": "session.updated", "session": {"input_audio_format": "pcm16"}}, "preview", t_ns=1
    )
    log.record("sent", _append(_noise(480)), "preview", t_ns=2)
    assert log.frame()["audio_ms"].iloc[-1] == 20.0


# --- response audio ------------------------------------------------------------------------


def test_response_audio_by_response_and_by_item():
    log = EventLog(start_ns=0)
    a1, a2, b1 = _noise(2400), _noise(1200), _noise(600)
    log.record("received", {"type": "response.created", "response": {"id": "r1"}}, "ga", t_ns=0)
    log.record("received", _delta("r1", "i1", a1), "ga", t_ns=1)
    log.record("received", _delta("r1", "i2", b1) | {"output_index": 1}, "ga", t_ns=2)
    log.record("received", _delta("r1", "i1", a2), "ga", t_ns=3)
    np.testing.assert_array_equal(log.response_audio("i1"), np.concatenate([a1, a2]))
    np.testing.assert_array_equal(log.response_audio("i2"), b1)
    np.testing.assert_array_equal(log.response_audio("r1"), np.concatenate([a1, a2, b1]))
    with pytest.raises(KeyError, match="no response audio recorded for 'r9'"):
        log.response_audio("r9")


@pytest.mark.parametrize(
    ("dialect", "create", "created", "name"),
    [
        ("preview", {"output_audio_format": "g711_alaw"}, {"id": "r1"}, "response.audio.delta"),
        (
            "ga",
            {},
            {"id": "r1", "audio": {"output": {"format": {"type": "audio/pcma"}}}},
            "response.output_audio.delta",
        ),
    ],
)
def test_response_output_format_override(dialect, create, created, name):
    log = EventLog(start_ns=0)
    log.record("sent", {"type": "response.create", "response": create}, dialect, t_ns=0)
    log.record("received", {"type": "response.created", "response": created}, dialect, t_ns=1)
    native = _noise(400)
    log.record("received", _delta("r1", "i1", native, "g711_alaw", name), dialect, t_ns=2)
    expected = resample_to_24k(decode(encode(native, "g711_alaw"), "g711_alaw"), 8000)[:1200]
    np.testing.assert_array_equal(log.response_audio("r1"), expected)
    assert log.frame()["audio_ms"].iloc[-1] == 50.0
    # the next response goes back to the session's format
    log.record("received", {"type": "response.created", "response": {"id": "r2"}}, dialect, t_ns=3)
    log.record("received", _delta("r2", "i2", native, "pcm16", name), dialect, t_ns=4)
    np.testing.assert_array_equal(log.response_audio("r2"), native)


def test_session_output_format_ga_object():
    log = EventLog(start_ns=0)
    session = {"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcmu"}}}}
    log.record("received", {"type": "session.updated", "session": session}, "ga", t_ns=0)
    native = _noise(80)
    log.record("received", _delta("r", "i", native, "g711_ulaw"), "ga", t_ns=1)
    assert log.response_audio("r").size == 240 and log.frame()["audio_ms"].iloc[-1] == 10.0


# --- retrieved and created items -----------------------------------------------------------


def _retrieved(item_id: str, samples: np.ndarray, role: str = "user") -> dict:
    part = "input_audio" if role == "user" else "output_audio"
    content = [{"type": part, "audio": pcm_to_b64(samples), "transcript": "hi"}]
    return {
        "type": "conversation.item.retrieved",
        "event_id": "e",
        "item": {"id": item_id, "type": "message", "role": role, "content": content},
    }


def test_retrieved_audio_latest_retrieval_wins():
    log = EventLog(start_ns=0)
    first, second = _noise(480), _noise(720)
    log.record("received", _retrieved("item_1", first), "ga", t_ns=0)
    log.record("received", _retrieved("item_1", second), "ga", t_ns=1)
    log.record("received", _retrieved("item_2", first, role="assistant"), "ga", t_ns=2)
    np.testing.assert_array_equal(log.retrieved_audio("item_1"), second)
    np.testing.assert_array_equal(log.retrieved_audio("item_2"), first)
    assert log.frame()["audio_ms"].tolist() == [20.0, 30.0, 20.0]
    assert log.event_json(0)["item"]["content"][0]["audio"] == "<audio stripped: 20.000 ms>"
    with pytest.raises(KeyError, match="no retrieved audio for item 'item_3'"):
        log.retrieved_audio("item_3")


def _create(samples: np.ndarray, item_id: str | None) -> dict:
    item = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_audio", "audio": pcm_to_b64(samples)}],
    }
    if item_id is not None:
        item["id"] = item_id
    return {"type": "conversation.item.create", "item": item}


def test_item_audio_for_client_created_items_named_or_not():
    log = EventLog(start_ns=0)
    named, unnamed = _noise(960), _noise(480)
    log.record("sent", _create(named, "item_mine"), "ga", t_ns=0)
    log.record("sent", _create(unnamed, None), "ga", t_ns=1)
    added = {
        "type": "conversation.item.added",
        "item": {"id": "item_srv", "type": "message", "role": "user", "content": [{"type": "input_audio"}]},
    }
    log.record("received", added | {"item": added["item"] | {"id": "item_mine"}}, "ga", t_ns=2)
    log.record("received", added, "ga", t_ns=3)
    np.testing.assert_array_equal(log.item_audio("item_mine"), named)
    np.testing.assert_array_equal(log.item_audio("item_srv"), unnamed)


def test_item_audio_of_a_committed_vad_item_is_the_sent_span():
    chunks = [_noise(960) for _ in range(10)]
    log = _log_with_appends(chunks)
    log.record(
        "received",
        {"type": "input_audio_buffer.speech_started", "audio_start_ms": 80, "item_id": "v"},
        "ga",
        t_ns=500 * MS,
    )
    log.record(
        "received",
        {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 300, "item_id": "v"},
        "ga",
        t_ns=600 * MS,
    )
    assert log.item_span("v") == (80.0, 300.0)
    np.testing.assert_array_equal(log.item_audio("v"), np.concatenate(chunks)[80 * 24 : 300 * 24])


def test_item_span_of_manual_commits_follows_the_buffer():
    log = EventLog(start_ns=0)
    for k in range(5):
        log.record("sent", _append(_noise(960)), "ga", t_ns=k)  # 0..200 ms
    log.record("sent", {"type": "input_audio_buffer.commit"}, "ga", t_ns=10)
    log.record("received", {"type": "input_audio_buffer.committed", "item_id": "m1"}, "ga", t_ns=11)
    for k in range(3):
        log.record("sent", _append(_noise(960)), "ga", t_ns=20 + k)  # 200..320 ms
    log.record("sent", {"type": "input_audio_buffer.clear"}, "ga", t_ns=30)
    for k in range(2):
        log.record("sent", _append(_noise(960)), "ga", t_ns=40 + k)  # 320..400 ms
    log.record("sent", {"type": "input_audio_buffer.commit"}, "ga", t_ns=50)
    log.record("received", {"type": "input_audio_buffer.committed", "item_id": "m2"}, "ga", t_ns=51)
    assert log.item_span("m1") == (0.0, 200.0)
    assert log.item_span("m2") == (320.0, 400.0)
    np.testing.assert_array_equal(log.item_audio("m2"), log.sent_audio(320, 400))
    with pytest.raises(KeyError, match="no audio-clock span known for item 'nope'"):
        log.item_span("nope")
    with pytest.raises(KeyError):
        log.item_audio("nope")


def test_true_end_of_speech_beyond_the_sent_audio_is_nan():
    log = _log_with_appends([_noise(960)])  # 40 ms only
    log.record(
        "received",
        {
            "type": "session.updated",
            "session": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 200}},
        },
        "preview",
        t_ns=MS,
    )
    log.record(
        "received",
        {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 900, "item_id": "x"},
        "preview",
        t_ns=2 * MS,
    )
    turn = log.turns().iloc[0]
    assert turn["silence_duration_ms"] == 200 and np.isnan(turn["t_speech_end"])


def test_semantic_vad_has_no_silence_window():
    log = _log_with_appends([_noise(960)] * 30)
    session = {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}}
    log.record("received", {"type": "session.updated", "session": session}, "ga", t_ns=MS)
    log.record(
        "received",
        {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 900, "item_id": "x"},
        "ga",
        t_ns=2 * MS,
    )
    turn = log.turns().iloc[0]
    assert pd_isna(turn["silence_duration_ms"]) and np.isnan(turn["t_speech_end"])


def pd_isna(value: object) -> bool:
    import pandas as pd

    return bool(pd.isna(value))
