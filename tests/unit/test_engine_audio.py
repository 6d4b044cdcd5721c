"""The input audio path with real models: VAD turns, semantic_vad, barge-in, noise reduction, idle
timeout, transcription. Speech is synthesized with the Piper voice (realtime_nb.samples), so the
true speech boundaries are known; time is injected and jobs run inline."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest
import test_engine_session as _session_tests
from test_engine_session import DIALECTS, Driver, types

from realtime_nb import samples
from realtime_nb.audio import decode, resample, to_format
from realtime_nb.engine.session import EngineSession
from realtime_nb.protocol import Dialect

RATE = 24000
# the shared fixtures of the protocol tests
driver = _session_tests.driver
models = _session_tests.models


@pytest.fixture(scope="module")
def turns() -> samples.Sample:
    return samples.load("turns")  # three utterances, 1500 ms apart


@pytest.fixture(scope="module")
def hesitation() -> samples.Sample:
    return samples.load("hesitation")  # one sentence with a 700 ms pause in the middle


def _append(pcm24: np.ndarray) -> str:
    return json.dumps(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm24.tobytes()).decode()}
    )


def stream(d: Driver, pcm24: np.ndarray, chunk_ms: float = 20, fmt: str = "pcm16") -> list[dict[str, Any]]:
    """Append audio as a client would, advancing the wall clock with the audio (real time)."""
    step = int(RATE * chunk_ms / 1000)
    start = len(d.events)
    for lo in range(0, len(pcm24), step):
        d.send(
            "input_audio_buffer.append",
            audio=base64.b64encode(to_format(pcm24[lo : lo + step], RATE, fmt)).decode(),
        )
        d.now += chunk_ms / 1000 - 0.01
    return d.events[start:]


def vad_session(d: Driver, turn_detection: dict[str, Any] | None, **audio_input: Any) -> None:
    if d.dialect is Dialect.GA:
        session = {"type": "realtime", "audio": {"input": {"turn_detection": turn_detection, **audio_input}}}
    else:
        session = {"turn_detection": turn_detection, **audio_input}
    out = d.send("session.update", session=session)
    assert out[0]["type"] == "session.updated", out


def server_vad(**fields: Any) -> dict[str, Any]:
    return {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "create_response": False,
        "interrupt_response": True,
        **fields,
    }


@pytest.mark.parametrize("dialect", DIALECTS)
def test_server_vad_turns_match_the_truth(driver, turns, dialect):
    d = driver(dialect)
    vad_session(d, server_vad())
    events = stream(d, turns.audio)
    started = [e for e in events if e["type"] == "input_audio_buffer.speech_started"]
    stopped = [e for e in events if e["type"] == "input_audio_buffer.speech_stopped"]
    assert len(started) == len(stopped) == len(turns.segments) == 3
    for seg, s, e in zip(turns.segments, started, stopped, strict=True):
        start_ms, end_ms = seg.ms()
        assert abs(s["audio_start_ms"] - (start_ms - 300)) <= 100
        assert abs(e["audio_end_ms"] - (end_ms + 500)) <= 100
        assert s["item_id"] == e["item_id"]
    committed = [e for e in events if e["type"] == "input_audio_buffer.committed"]
    assert [c["item_id"] for c in committed] == [s["item_id"] for s in started]
    # the stored item is exactly audio_start_ms .. audio_end_ms of what was sent (no noise reduction)
    first = started[0]
    d.send("conversation.item.retrieve", item_id=first["item_id"])
    audio = decode(base64.b64decode(d.events[-1]["item"]["content"][0]["audio"]), "pcm16")
    a, b = first["audio_start_ms"] * 24, stopped[0]["audio_end_ms"] * 24
    assert abs(audio.size - (b - a)) <= 24
    assert np.array_equal(audio[:1000], turns.audio[a : a + 1000])


def test_replay_speed_and_chunking_do_not_change_events(driver, turns):
    def run(chunk_ms: float, fast: bool) -> list[tuple[str, int]]:
        d = driver(Dialect.GA)
        vad_session(d, server_vad())
        step = int(RATE * chunk_ms / 1000)
        for lo in range(0, len(turns.audio), step):  # fast: the wall clock barely moves
            d.now += 0.0001 if fast else chunk_ms / 1000
            d.session.receive_text(
                _append(turns.audio[lo : lo + step]),
                d.now,
            )
        evs = d._collect()
        return [
            (e["type"], e.get("audio_start_ms", e.get("audio_end_ms", -1)))
            for e in evs
            if e["type"].startswith("input_audio_buffer.speech")
        ]

    assert run(20, fast=False) == run(250, fast=True) == run(7, fast=True)


def test_single_loud_frame_does_not_start_speech(models, sdk_adapters):
    d = Driver(models, Dialect.GA, sdk_adapters)
    vad_session(d, server_vad())
    rng = np.random.default_rng(1)
    click = np.zeros(RATE * 2, np.int16)
    click[RATE : RATE + 768] = (rng.standard_normal(768) * 12000).astype(np.int16)  # one 32 ms burst
    events = stream(d, click)
    assert "input_audio_buffer.speech_started" not in types(events)


def test_semantic_vad_low_waits_through_a_pause_server_vad_does_not(driver, hesitation):
    sv = driver(Dialect.GA)
    vad_session(sv, server_vad())
    sv_events = stream(sv, hesitation.audio)
    assert types(sv_events).count("input_audio_buffer.speech_stopped") == 2  # cut at the 700 ms pause

    sem = driver(Dialect.GA)
    vad_session(sem, {"type": "semantic_vad", "eagerness": "low", "create_response": False})
    sem_events = stream(sem, np.concatenate([hesitation.audio, np.zeros(RATE, np.int16)]))
    stops = [e for e in sem_events if e["type"] == "input_audio_buffer.speech_stopped"]
    assert len(stops) == 1  # one turn: the pause did not end it
    end_of_speech = hesitation.segments[-1].ms()[1]
    assert end_of_speech + 900 <= stops[0]["audio_end_ms"] <= end_of_speech + 1700


def test_semantic_vad_high_ends_a_complete_sentence_quickly(driver, turns):
    d = driver(Dialect.GA)
    vad_session(d, {"type": "semantic_vad", "eagerness": "high", "create_response": False})
    events = stream(d, turns.audio)
    stops = [e["audio_end_ms"] for e in events if e["type"] == "input_audio_buffer.speech_stopped"]
    # high eagerness may also end the turn at the comma of "Thank you, that is all I needed."
    assert len(stops) >= 3
    for seg, end in zip(turns.segments[:2], stops[:2], strict=True):
        assert seg.ms()[1] < end <= seg.ms()[1] + 700  # well before the 2 s maximum
    assert stops[-1] > turns.segments[-1].ms()[1]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_vad_turn_with_transcription_and_echo_reply(driver, turns, dialect):
    d = driver(dialect)
    transcription = {"model": "whisper-1", "language": "en"}
    key = "transcription" if dialect is Dialect.GA else "input_audio_transcription"
    vad_session(d, server_vad(create_response=True), **{key: transcription})
    one = turns.audio[: int(RATE * 4.2)]  # the first utterance and its silence
    events = stream(d, one)
    names = types(events)
    stop = names.index("input_audio_buffer.speech_stopped")
    # the reply starts speaking (cached opening) before transcription has even run
    assert names[stop + 1] == "input_audio_buffer.committed"
    assert "response.created" in names[stop:]
    audio_delta = "response.output_audio.delta" if dialect is Dialect.GA else "response.audio.delta"
    assert audio_delta in names[stop:]
    d.run()
    done = d.of("response.done")[-1]["response"]
    assert done["status"] == "completed"
    completed = d.of("conversation.item.input_audio_transcription.completed")[0]
    assert "pizza" in completed["transcript"].lower()
    deltas = "".join(e["delta"] for e in d.of("conversation.item.input_audio_transcription.delta"))
    assert deltas == completed["transcript"]
    assert done["output"][0]["content"][0]["transcript"] == f"You said: {completed['transcript']}" + (
        "" if completed["transcript"].endswith((".", "!", "?")) else "."
    )
    d.send("conversation.item.retrieve", item_id=completed["item_id"])
    assert d.events[-1]["item"]["content"][0]["transcript"] == completed["transcript"]


def test_transcription_failure_is_reported_not_raised(driver, turns):
    d = driver(Dialect.GA)
    vad_session(d, server_vad(), transcription={"model": "whisper-1", "language": "de"})
    stream(d, turns.audio[: int(RATE * 4.2)])
    d.run()
    failed = d.of("conversation.item.input_audio_transcription.failed")
    assert len(failed) == 1 and "English" in failed[0]["error"]["message"]
    assert not d.of("conversation.item.input_audio_transcription.completed")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_barge_in_cancels_and_truncate_trims(driver, turns, dialect):
    d = driver(dialect)
    vad_session(d, server_vad(create_response=True))
    stream(d, turns.audio[: int(RATE * 4.0)])  # first turn ends: a response starts speaking
    assert d.of("response.created") and not d.of("response.done")
    assistant = d.of("response.output_item.added")[0]["item"]["id"]
    start = len(d.events)
    stream(d, turns.audio[int(RATE * 4.0) : int(RATE * 5.5)])  # the user speaks again
    names = types(d.events[start:])
    barge = names.index("input_audio_buffer.speech_started")
    done = d.of("response.done")[0]["response"]
    assert names.index("response.done") > barge
    assert (done["status"], done["status_details"]["reason"]) == ("cancelled", "turn_detected")
    assert done["output"][0]["status"] == "incomplete"
    d.send("conversation.item.truncate", item_id=assistant, content_index=0, audio_end_ms=300)
    assert d.events[-1]["type"] == "conversation.item.truncated"
    assert d.session.conversation.get(assistant).audio_ms(0) == pytest.approx(300, abs=0.05)
    d.run()  # the late responder result of the cancelled response is ignored
    assert len(d.of("response.done")) == 1


def test_manual_mode_only_commits_on_request(driver, turns):
    d = driver(Dialect.GA)
    vad_session(d, None)
    events = stream(d, turns.audio[: RATE * 3])
    assert not [e for e in events if e["type"].startswith("input_audio_buffer.speech")]
    before = d.session.snapshot()
    d.session.receive_text('{"type": "input_audio_buffer.commit"}', d.now)
    out = d._collect()
    assert types(out) == ["input_audio_buffer.committed", "conversation.item.added", "conversation.item.done"]
    assert d.session.snapshot() != before
    assert abs(d.session.conversation.get(out[0]["item_id"]).audio_ms(0) - 3000) < 1
    assert d.send("input_audio_buffer.commit")[0]["error"]["code"] == "input_audio_buffer_commit_empty"
    stream(d, turns.audio[:1200])  # 50 ms: too short
    err = d.send("input_audio_buffer.commit")[0]["error"]
    assert err["code"] == "input_audio_buffer_commit_empty" and "50" in err["message"]
    assert types(d.send("input_audio_buffer.clear")) == ["input_audio_buffer.cleared"]


def test_audio_clock_survives_clear_and_commit(driver, turns):
    d = driver(Dialect.GA)
    vad_session(d, server_vad())
    stream(d, turns.audio[: int(RATE * 3.6)])  # the first turn is committed at ~3.43 s
    d.send("input_audio_buffer.clear")  # the clock keeps counting
    events = stream(d, turns.audio[int(RATE * 3.6) :])
    starts = [e["audio_start_ms"] for e in events if e["type"] == "input_audio_buffer.speech_started"]
    truth = [seg.ms()[0] - 300 for seg in turns.segments[1:]]
    assert len(starts) == 2 and all(abs(a - b) <= 100 for a, b in zip(starts, truth, strict=True))


def test_g711_input_is_detected_and_retrieved_in_its_format(driver, turns):
    d = driver(Dialect.PREVIEW)
    vad_session(d, server_vad(), input_audio_format="g711_ulaw")
    events = stream(d, turns.audio[: int(RATE * 4.0)], fmt="g711_ulaw")
    started = [e for e in events if e["type"] == "input_audio_buffer.speech_started"]
    assert len(started) == 1 and abs(started[0]["audio_start_ms"] - (turns.segments[0].ms()[0] - 300)) <= 100
    stopped = next(e for e in events if e["type"] == "input_audio_buffer.speech_stopped")
    d.send("conversation.item.retrieve", item_id=started[0]["item_id"])
    raw = base64.b64decode(d.events[-1]["item"]["content"][0]["audio"])
    assert (
        abs(len(raw) - (stopped["audio_end_ms"] - started[0]["audio_start_ms"]) * 8) <= 16
    )  # 8 bytes per ms


def test_noise_reduction_changes_the_retrieved_audio(driver):
    noisy = samples.load("noisy_10db")

    def retrieved(noise_reduction: dict[str, str] | None) -> tuple[np.ndarray, dict[str, Any]]:
        d = driver(Dialect.GA)
        vad_session(d, None, noise_reduction=noise_reduction)
        stream(d, noisy.audio[: RATE * 4])
        committed = d.send("input_audio_buffer.commit")[0]
        d.send("conversation.item.retrieve", item_id=committed["item_id"])
        return decode(base64.b64decode(d.events[-1]["item"]["content"][0]["audio"]), "pcm16"), committed

    raw, _ = retrieved(None)
    clean, _ = retrieved({"type": "far_field"})
    assert np.array_equal(raw, noisy.audio[: raw.size])  # without noise reduction: what was sent
    n = min(raw.size, clean.size)
    quiet = slice(int(RATE * 0.05), int(RATE * 0.45))  # before the first word: noise only
    floor_raw = np.sqrt(np.mean(raw[quiet].astype(float) ** 2))
    floor_clean = np.sqrt(np.mean(clean[quiet].astype(float) ** 2))
    assert floor_clean < floor_raw / 3  # at least ~10 dB less noise in the stored item
    assert RATE * 3.85 <= n <= RATE * 4  # the filters' tail (~90 ms) stays in the buffer


def test_idle_timeout_commits_and_responds(driver, turns):
    d = driver(Dialect.GA)
    vad_session(d, server_vad(create_response=True, idle_timeout_ms=2000))
    stream(d, turns.audio[: int(RATE * 4.0)])
    d.run()
    done = d.of("response.done")[-1]["response"]
    assert done["status"] == "completed"
    reply = d.session.conversation.get(done["output"][0]["id"])
    played_s = reply.audio_ms(0) / 1000  # how long the reply plays
    t_done = d.now
    assert not d.tick(t_done + played_s + 1.9)
    out = d.tick(t_done + played_s + 2.0)
    assert types(out)[:4] == [
        "input_audio_buffer.timeout_triggered",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
    ]
    assert out[0]["audio_end_ms"] == round(d.session.audio_clock_ms)
    assert "response.created" in types(out)
    d.run()
    assert d.of("response.done")[-1]["response"]["status"] == "completed"


def test_idle_timeout_is_reset_by_speech(driver, turns):
    d = driver(Dialect.GA)
    vad_session(d, server_vad(create_response=True, idle_timeout_ms=500))
    stream(d, turns.audio[: int(RATE * 4.0)])
    d.run()
    stream(d, turns.audio[int(RATE * 4.0) : int(RATE * 5.0)])  # speech starts again (clock moves 1 s)
    assert not [e for e in d.events if e["type"] == "input_audio_buffer.timeout_triggered"]


def test_session_audio_clock_helper(models):
    s = EngineSession(models, Dialect.GA, now=0.0)
    pcm = resample(np.zeros(8000, np.int16), 8000, RATE)
    s.receive_text(_append(pcm), 0)
    assert s.audio_clock_ms == pytest.approx(1000)
