"""The client's sans-I/O parts: waiters, iterators, audio input, pacing, update payloads, items, Secret."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
import pickle

import numpy as np
import pytest

from realtime_nb.audio import decode
from realtime_nb.client import Secret, ServerError
from realtime_nb.client.audio_input import MAX_APPEND_B64, MAX_APPEND_BYTES, AudioInput, split_payload
from realtime_nb.client.items import function_call_output, message_text, user_text, with_decoded_audio
from realtime_nb.client.pacing import Schedule
from realtime_nb.client.session_update import session_update_payload
from realtime_nb.client.stream import EventStream
from realtime_nb.client.waiters import WaiterSet
from realtime_nb.protocol import Dialect, SemanticVad, ServerVad, SessionConfig, session_update
from realtime_nb.protocol.redaction import MASK, RedactingLogger

# ---- waiters ---------------------------------------------------------------------------------------


async def test_exclusive_replies_go_first_come_first_served() -> None:
    waiters = WaiterSet()
    first = waiters.add("session.updated", event_id="e1", exclusive=True)
    second = waiters.add("session.updated", event_id="e2", exclusive=True)
    observer = waiters.add("session.updated")
    waiters.dispatch({"type": "session.updated", "n": 1})
    assert first.future.result()["n"] == 1 and not second.future.done()
    assert observer.future.result()["n"] == 1
    waiters.dispatch({"type": "session.updated", "n": 2})
    assert second.future.result()["n"] == 2
    assert len(waiters) == 0


async def test_error_with_event_id_fails_only_that_call() -> None:
    waiters = WaiterSet()
    mine = waiters.add("input_audio_buffer.committed", event_id="e1", exclusive=True)
    other = waiters.add("input_audio_buffer.cleared", event_id="e2", exclusive=True)
    waiters.dispatch(
        {"type": "error", "error": {"code": "x", "message": "no", "param": "p", "event_id": "e1"}}
    )
    with pytest.raises(ServerError) as info:
        mine.future.result()
    assert (info.value.code, info.value.param, info.value.event_id) == ("x", "p", "e1")
    assert not other.future.done()


async def test_non_exclusive_waiters_all_see_the_event_and_predicates_filter() -> None:
    waiters = WaiterSet()
    a = waiters.add("response.done", lambda e: e["response"]["id"] == "r1", event_id="e1")
    b = waiters.add("response.done", lambda e: e["response"]["id"] == "r1", event_id="e2")
    c = waiters.add("response.done", lambda e: e["response"]["id"] == "r2")
    waiters.dispatch({"type": "response.done", "response": {"id": "r1"}})
    assert a.future.done() and b.future.done() and not c.future.done()


async def test_broken_predicate_fails_its_own_waiter_only() -> None:
    waiters = WaiterSet()
    broken = waiters.add("x", lambda e: e["missing"])
    fine = waiters.add("x")
    waiters.dispatch({"type": "x"})
    assert isinstance(broken.future.exception(), KeyError)
    assert fine.future.result() == {"type": "x"}


async def test_fail_all_and_bad_registration() -> None:
    waiters = WaiterSet()
    w = waiters.add(["a", "b"])
    waiters.fail_all(RuntimeError("gone"))
    with pytest.raises(RuntimeError, match="gone"):
        w.future.result()
    with pytest.raises(ValueError):
        waiters.add([])
    with pytest.raises(ValueError):
        waiters.add("a", exclusive=True)


# ---- iterators ---------------------------------------------------------------------------------------


async def test_stream_bounded_drops_oldest_and_filters() -> None:
    stream = EventStream(maxsize=2, types=["a", "b"])
    for i, kind in enumerate(["a", "c", "b", "a"]):
        stream.push({"type": kind, "i": i})
    assert stream.dropped == 1 and stream.pending == 2
    stream.end()
    assert [e["i"] async for e in stream] == [2, 3]
    stream.push({"type": "a"})  # after the end: ignored
    assert stream.pending == 0


async def test_stream_waits_for_events() -> None:
    stream = EventStream()
    task = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    assert not task.done()
    stream.push({"type": "x"})
    assert await task == {"type": "x"}
    with pytest.raises(ValueError):
        EventStream(maxsize=0)


# ---- audio input ---------------------------------------------------------------------------------------


def test_split_keeps_every_append_under_the_service_limit() -> None:
    seconds = 250  # 250 s of pcm16 at 24 kHz = 12 MB: more than one append can carry
    audio = (np.arange(seconds * 24000) % 2000 - 1000).astype(np.int16)
    payloads = AudioInput("pcm16").feed(audio, 24000)
    assert len(payloads) == 2
    assert all(len(base64.b64encode(p)) <= MAX_APPEND_B64 for p in payloads)
    assert np.array_equal(decode(b"".join(payloads), "pcm16"), audio)
    assert MAX_APPEND_BYTES % 2 == 0


def test_split_payload_whole_samples_and_bad_limit() -> None:
    assert split_payload(b"abcdef", 4) == [b"abcd", b"ef"]
    with pytest.raises(ValueError):
        split_payload(b"ab", 3)


def test_stream_resampling_matches_total_length_after_flush() -> None:
    audio_in = AudioInput("pcm16")
    chunk = np.zeros(160, dtype=np.float32)  # 10 ms at 16 kHz
    out = b"".join(b"".join(audio_in.feed(chunk, 16000)) for _ in range(50))
    out += b"".join(audio_in.flush())
    assert abs(len(out) // 2 - 12000) <= 2  # 0.5 s at 24 kHz
    assert audio_in.flush() == []


def test_g711_input_is_8khz_one_byte_per_sample() -> None:
    audio_in = AudioInput("g711_ulaw")
    data = b"".join(audio_in.feed(np.zeros(2400, dtype=np.int16), 8000))
    assert len(data) == 2400 and audio_in.bytes_to_ms(len(data)) == pytest.approx(300.0)


def test_rate_change_flushes_the_previous_stream() -> None:
    audio_in = AudioInput("pcm16")
    first = b"".join(audio_in.feed(np.ones(1600, dtype=np.int16) * 1000, 16000))
    second = b"".join(audio_in.feed(np.ones(2400, dtype=np.int16), 24000))
    assert len(first) + len(second) >= 2 * (2400 + 2400) - 8  # the 16 kHz tail was not lost


# ---- pacing ---------------------------------------------------------------------------------------------


def test_schedule_is_absolute_so_lateness_does_not_accumulate() -> None:
    schedule = Schedule(start=100.0, chunk_s=0.04, speed=2.0)
    assert schedule.due(0) == 100.0 and schedule.due(10) == pytest.approx(100.2)
    # chunk 5 (due 100.10) went out 30 ms late: 6 is overdue at once, 7 is still on the original grid
    assert schedule.delay(6, now=100.13) == 0.0
    assert schedule.delay(7, now=100.13) == pytest.approx(0.01)
    assert schedule.delay(6, now=100.10) == pytest.approx(0.02)
    assert schedule.delay(6, now=100.50) == 0.0
    fast = Schedule(start=5.0, chunk_s=0.04, speed=0)
    assert fast.due(1000) == 5.0


@pytest.mark.parametrize(
    "kwargs", [{"chunk_s": 0}, {"chunk_s": 0.04, "speed": -1}, {"chunk_s": float("nan")}]
)
def test_schedule_refuses_bad_values(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Schedule(start=0.0, **{"speed": 1.0, **kwargs})


# ---- session.update payloads ------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", [Dialect.GA, Dialect.PREVIEW])
def test_update_payload_sends_changed_objects_whole(dialect: Dialect) -> None:
    old = SessionConfig(model="gpt-realtime", instructions="a")
    new = old.replace(turn_detection=ServerVad(threshold=0.9))
    payload = session_update_payload(
        session_update(old, dialect)["session"], session_update(new, dialect)["session"], dialect
    )
    if dialect is Dialect.GA:
        assert payload == {
            "type": "realtime",
            "audio": {
                "input": {
                    "turn_detection": session_update(new, dialect)["session"]["audio"]["input"][
                        "turn_detection"
                    ]
                }
            },
        }
        assert set(payload["audio"]["input"]["turn_detection"]) >= {
            "threshold",
            "prefix_padding_ms",
            "silence_duration_ms",
        }
    else:
        assert list(payload) == ["turn_detection"]
        assert (
            payload["turn_detection"]["threshold"] == 0.9
            and "silence_duration_ms" in payload["turn_detection"]
        )


@pytest.mark.parametrize("dialect", [Dialect.GA, Dialect.PREVIEW])
def test_update_payload_can_restate_an_unchanged_turn_detection(dialect: Dialect) -> None:
    old = SessionConfig(turn_detection=ServerVad(threshold=0.8))
    new = old.replace(instructions="b")
    old_wire, new_wire = session_update(old, dialect)["session"], session_update(new, dialect)["session"]
    plain = session_update_payload(old_wire, new_wire, dialect)
    full = session_update_payload(old_wire, new_wire, dialect, with_turn_detection=True)
    if dialect is Dialect.GA:
        assert "audio" not in plain
        assert full["audio"] == {"input": {"turn_detection": new_wire["audio"]["input"]["turn_detection"]}}
    else:
        assert "turn_detection" not in plain
        assert full["turn_detection"] == new_wire["turn_detection"]
    assert full["instructions"] == "b"


def test_update_payload_switching_off_and_kind_change() -> None:
    ga = Dialect.GA
    old = SessionConfig(turn_detection=ServerVad())
    off = session_update_payload(
        session_update(old, ga)["session"],
        session_update(old.replace(turn_detection=None), ga)["session"],
        ga,
    )
    assert off == {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
    semantic = session_update_payload(
        session_update(old, ga)["session"],
        session_update(old.replace(turn_detection=SemanticVad(eagerness="high")), ga)["session"],
        ga,
    )
    assert semantic["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"
    assert "threshold" not in semantic["audio"]["input"]["turn_detection"]
    unchanged = session_update_payload(
        session_update(old, ga)["session"], session_update(old, ga)["session"], ga
    )
    assert unchanged == {"type": "realtime"}


def test_update_payload_never_sends_model() -> None:
    payload = session_update_payload({"model": "a"}, {"model": "b", "instructions": "x"}, Dialect.PREVIEW)
    assert payload == {"instructions": "x"}


# ---- items -------------------------------------------------------------------------------------------------


def test_item_builders() -> None:
    assert user_text("hi") == {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "hi"}],
    }
    assert message_text("ok", "assistant")["content"][0]["type"] == "output_text"
    assert function_call_output("c1", {"a": 1})["output"] == '{"a": 1}'
    assert function_call_output("c1", "raw")["output"] == "raw"
    with pytest.raises(ValueError):
        message_text("x", "robot")
    with pytest.raises(ValueError):
        function_call_output("", "x")
    with pytest.raises(TypeError):
        function_call_output("c", object())


def test_decoded_audio_uses_the_part_format() -> None:
    pcm = np.array([1, -2, 3], dtype=np.int16)
    item = {
        "id": "item_1",
        "content": [
            {"type": "input_audio", "audio": base64.b64encode(pcm.astype("<i2").tobytes()).decode()},
            {"type": "input_text", "text": "ignored"},
        ],
    }
    out = with_decoded_audio(item, "pcm16", "g711_ulaw")
    assert out["audio_rate"] == 24000 and np.array_equal(out["audio_pcm"], pcm)
    assert "audio_pcm" not in item  # the input is not modified
    ulaw = {"content": [{"type": "output_audio", "audio": base64.b64encode(bytes([0xFF, 0x7F])).decode()}]}
    decoded = with_decoded_audio(ulaw, "pcm16", "g711_ulaw")
    assert decoded["audio_rate"] == 8000 and decoded["audio_pcm"].tolist() == [0, 0]
    empty = with_decoded_audio({"content": []}, "g711_alaw", "pcm16")
    assert empty["audio_pcm"].size == 0 and empty["audio_rate"] == 8000


# ---- Secret and the redacting logger -----------------------------------------------------------------------


def test_secret_masks_every_text_form() -> None:
    key = "sk-abcdef0123456789"
    secret = Secret(key)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret:>20}", str([secret])):
        assert key not in text
    assert secret.reveal() == key and Secret(secret) == secret and Secret(" x ").reveal() == "x"
    with pytest.raises(TypeError):
        json.dumps({"k": secret})
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    with pytest.raises(TypeError):
        copy.deepcopy(secret)
    with pytest.raises(ValueError):
        Secret("  ")
    with pytest.raises(TypeError) as info:
        Secret(b"sk-bytes-key")  # type: ignore[arg-type]
    assert "sk-bytes-key" not in str(info.value)


def test_redacting_logger_masks_header_values_and_known_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="test.redact")
    log = RedactingLogger(logging.getLogger("test.redact"), "tok-123456", "Bearer tok-123456")
    log.debug("> %s: %s", "Authorization", "Bearer tok-123456")
    log.debug("> %s: %s", "api-key", "another-key-value")
    log.debug("url had %s inside", "x tok-123456 y")
    assert "tok-123456" not in caplog.text and "another-key-value" not in caplog.text
    assert caplog.text.count(MASK) == 3
