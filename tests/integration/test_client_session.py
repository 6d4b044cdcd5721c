"""RealtimeSession against the scripted peer over a real loopback socket, in both dialects.

The `peer` fixture fails any test in which the client sent an event the openai SDK's client union
of that dialect refuses (strictly: undeclared keys count).
"""

from __future__ import annotations

import asyncio
import base64
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scripted_peer import ScriptedPeer, peer_fixture, session_fixture  # noqa: F401  (fixtures)

from realtime_nb.audio import decode, encode, resample
from realtime_nb.client import RealtimeSession, ServerError
from realtime_nb.protocol import ConfigError, SemanticVad, ServerVad


def _sent_audio(peer: ScriptedPeer) -> bytes:
    return b"".join(base64.b64decode(e["audio"]) for e in peer.of_type("input_audio_buffer.append"))


def _tone(seconds: float, rate: int, freq: float = 300.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


async def test_connect_reads_the_effective_config(session: RealtimeSession, peer: ScriptedPeer) -> None:
    assert session.session_id == "sess_peer"
    assert session.config is not None
    assert session.config.instructions == "You are a scripted peer."
    assert isinstance(session.config.turn_detection, ServerVad)
    assert session.config.turn_detection.silence_duration_ms == 200  # what the peer reported
    frame = session.log.frame()
    assert frame.loc[0, "type"] == "session.created" and frame.loc[0, "direction"] == "received"


async def test_update_sends_only_changes_but_whole_turn_detection(
    session: RealtimeSession, peer: ScriptedPeer
) -> None:
    assert session.config is not None
    vad = ServerVad(threshold=0.8, prefix_padding_ms=300, silence_duration_ms=200)
    effective = await session.update_session(turn_detection=vad)
    [update] = peer.of_type("session.update")
    sent = update["session"]
    turn = sent["audio"]["input"]["turn_detection"] if peer.dialect == "ga" else sent["turn_detection"]
    # the whole object, not just the changed threshold
    assert turn["threshold"] == 0.8
    assert {"prefix_padding_ms", "silence_duration_ms", "create_response", "interrupt_response"} <= set(turn)
    assert "instructions" not in sent and "voice" not in str(sent)
    if peer.dialect == "ga":
        assert sent["type"] == "realtime"
    assert effective is session.config
    assert isinstance(effective.turn_detection, ServerVad) and effective.turn_detection.threshold == 0.8


async def test_update_with_semantic_vad_and_whole_config(
    session: RealtimeSession, peer: ScriptedPeer
) -> None:
    assert session.config is not None
    target = session.config.replace(instructions="Be brief.", turn_detection=SemanticVad(eagerness="low"))
    effective = await session.update_session(config=target)
    assert effective.instructions == "Be brief."
    assert isinstance(effective.turn_detection, SemanticVad) and effective.turn_detection.eagerness == "low"


async def test_invalid_config_is_refused_before_sending(session: RealtimeSession, peer: ScriptedPeer) -> None:
    with pytest.raises(ConfigError) as info:
        await session.update_session(speed=7.0)
    assert info.value.field == "speed"
    with pytest.raises(ConfigError):
        await session.update_session(no_such_field=1)
    await session.clear()  # a round trip: everything sent before it has reached the peer
    assert peer.of_type("session.update") == []
    assert not (session.log.frame()["type"] == "session.update").any()


async def test_server_error_names_the_call(session: RealtimeSession, peer: ScriptedPeer) -> None:
    peer.reject["session.update"] = ("invalid_value", "Invalid instructions.", "session.instructions")
    stream = session.events(types=["error"])
    with pytest.raises(ServerError) as info:
        await session.update_session(instructions="x")
    [update] = peer.of_type("session.update")
    err = info.value
    assert (err.code, err.param, err.event_id) == (
        "invalid_value",
        "session.instructions",
        update["event_id"],
    )
    assert err.message == "Invalid instructions."
    delivered = await asyncio.wait_for(anext(stream), 5)
    assert delivered["error"]["event_id"] == update["event_id"]
    assert session.config is not None and session.config.instructions == "You are a scripted peer."


async def test_empty_commit_raises_server_error(session: RealtimeSession) -> None:
    with pytest.raises(ServerError) as info:
        await session.commit()
    assert info.value.code == "input_audio_buffer_commit_empty"


async def test_append_any_rate_then_commit_and_retrieve(session: RealtimeSession, peer: ScriptedPeer) -> None:
    audio = _tone(0.6, 16000)
    ms = 0.0
    for piece in np.array_split(audio, 6):  # small chunks, like a microphone
        ms += await session.append_audio(piece, 16000)
    item_id = await session.commit()
    assert peer.items[item_id].item["role"] == "user"
    sent = decode(_sent_audio(peer), "pcm16")
    assert abs(sent.size - 0.6 * 24000) <= 2  # the stream resampler's tail was flushed before commit
    assert session.appended_ms == pytest.approx(sent.size / 24, abs=1e-6)
    # the chunked stream matches a one-shot resample of the whole (no clicks at chunk edges)
    whole = resample(np.round(audio * 32768).clip(-32768, 32767).astype(np.int16), 16000, 24000)
    n = min(whole.size, sent.size)
    assert np.max(np.abs(whole[:n].astype(int) - sent[:n].astype(int))) <= 2
    item = await session.retrieve(item_id)
    assert item["id"] == item_id and item["audio_rate"] == 24000
    assert item["audio_pcm"].dtype == np.int16
    assert np.array_equal(item["audio_pcm"], sent)


async def test_append_int16_stereo_at_the_wire_rate_is_sent_unchanged(
    session: RealtimeSession, peer: ScriptedPeer
) -> None:
    rng = np.random.default_rng(1)
    left = rng.integers(-2000, 2000, 4800).astype(np.int16)
    stereo = np.stack([left, left], axis=1)
    await session.append_audio(stereo, 24000)
    await session.commit()
    assert np.array_equal(decode(_sent_audio(peer), "pcm16"), left)


@pytest.mark.parametrize(
    ("samples", "rate", "fragment"),
    [
        (np.zeros(10, dtype=np.int32), 24000, "dtype"),
        (np.zeros((2, 3, 4), dtype=np.int16), 24000, "shape"),
        (np.array([0.0, np.nan], dtype=np.float32), 24000, "NaN"),
        (np.zeros(10, dtype=np.int16), 0, "rate"),
        (np.zeros(10, dtype=np.int16), 16000.5, "rate"),
    ],
)
async def test_bad_audio_is_refused_and_nothing_sent(
    session: RealtimeSession, peer: ScriptedPeer, samples: np.ndarray, rate: Any, fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment):
        await session.append_audio(samples, rate)
    await session.clear()
    assert peer.of_type("input_audio_buffer.append") == []


def _write_stereo_wav(path: Path, left: np.ndarray, right: np.ndarray, rate: int) -> None:
    frames = np.stack([left, right], axis=1).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)


async def test_stream_file_sends_the_file_paced_in_chunks(
    session: RealtimeSession, peer: ScriptedPeer, tmp_path: Path
) -> None:
    rate = 16000
    left = (_tone(0.5, rate) * 32767).astype(np.int16)
    path = tmp_path / "stereo.wav"
    _write_stereo_wav(path, left, left, rate)
    result = await session.stream_file(path, speed=0, chunk_ms=40, tail_silence_ms=100)
    await session.clear()  # round trip: all appends have arrived
    appends = peer.of_type("input_audio_buffer.append")
    assert len(appends) == result.chunks == int(np.ceil((12000 + 2400) / 960))
    sent = _sent_audio(peer)
    assert sent == encode(result.samples, "pcm16")
    assert result.rate == 24000 and result.samples.size == 12000 + 2400
    assert result.audio_ms == pytest.approx(600.0)
    assert np.all(result.samples[-2400:] == 0)  # the tail silence
    assert all(len(base64.b64decode(e["audio"])) <= 960 * 2 for e in appends)


async def test_stream_file_real_time_schedule(
    session: RealtimeSession, peer: ScriptedPeer, tmp_path: Path
) -> None:
    from realtime_nb.audio import write_wav

    path = tmp_path / "mono.wav"
    write_wav(path, (_tone(0.4, 24000) * 32767).astype(np.int16), 24000)
    result = await session.stream_file(path, speed=8.0, chunk_ms=20)
    assert result.chunks == 20
    # paced: the last chunk is due at 19 * 20 ms / 8, so the stream cannot have been instantaneous
    assert result.elapsed_s >= 19 * 0.020 / 8
    assert result.max_late_ms >= 0


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({"speed": -1}, "speed"), ({"chunk_ms": 0}, "chunk_ms"), ({"tail_silence_ms": -5}, "tail_silence_ms")],
)
async def test_stream_file_bad_arguments(
    session: RealtimeSession, tmp_path: Path, kwargs: dict, fragment: str
) -> None:
    from realtime_nb.audio import write_wav

    path = write_wav(tmp_path / "a.wav", np.zeros(2400, dtype=np.int16), 24000)
    with pytest.raises(ValueError, match=fragment):
        await session.stream_file(path, **kwargs)


async def test_vad_turn_arrives_in_canonical_names(session: RealtimeSession, peer: ScriptedPeer) -> None:
    await session.append_audio(_tone(0.5, 24000), 24000)
    stream = session.events()
    await peer.wait_received("input_audio_buffer.append")
    item_id = await peer.vad_turn(speech_ms=400)
    seen: list[dict[str, Any]] = []
    async for event in stream:
        seen.append(event)
        if event["type"] == "response.done":
            break
    types = [e["type"] for e in seen]
    assert types[:4] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
    ]
    assert seen[0]["audio_start_ms"] == 100 and seen[1]["audio_end_ms"] == 500
    assert seen[2]["item_id"] == item_id
    assert "response.output_audio.delta" in types and "response.output_audio_transcript.done" in types
    assert not any(t.startswith(("response.audio", "response.text")) for t in types)
    done = seen[-1]["response"]
    assert done["output"][0]["content"][0]["type"] == "output_audio"  # canonical part type
    wire_types = set(session.log.frame()["wire_type"].astype(str))
    expected_wire = "response.audio.delta" if peer.dialect == "preview" else "response.output_audio.delta"
    assert expected_wire in wire_types  # the log keeps the wire name


async def test_create_response_returns_id_and_waits_for_done(
    session: RealtimeSession, peer: ScriptedPeer
) -> None:
    response_id = await session.create_response(output_modalities=["text"], instructions="Say hi.")
    [created] = [e for e in peer.sent if e["type"] == "response.created"]
    assert response_id == created["response"]["id"]
    [request] = peer.of_type("response.create")
    key = "output_modalities" if peer.dialect == "ga" else "modalities"
    assert request["response"][key] == ["text"]
    response = await session.create_response(wait=True, output_modalities=["text"], metadata={"k": "v"})
    assert isinstance(response, dict)
    assert response["status"] == "completed" and response["metadata"] == {"k": "v"}
    assert response["output"][0]["content"][0] == {"type": "output_text", "text": peer.response_text}


async def test_response_options_validated_before_sending(
    session: RealtimeSession, peer: ScriptedPeer
) -> None:
    with pytest.raises(ConfigError):
        await session.create_response(max_output_tokens=0)
    with pytest.raises(TypeError):
        await session.create_response(no_such_option=True)
    await session.clear()
    assert peer.of_type("response.create") == []


async def test_cancel_response(session: RealtimeSession, peer: ScriptedPeer) -> None:
    with pytest.raises(ServerError) as info:
        await session.cancel_response()
    assert info.value.code == "response_cancel_not_active"
    peer.hold_responses = True
    response_id = await session.create_response()
    assert session.active_response_id == response_id
    response = await session.cancel_response()
    assert response["id"] == response_id and response["status"] == "cancelled"
    assert response["status_details"]["reason"] == "client_cancelled"
    assert session.active_response_id is None


async def test_create_response_wait_survives_a_concurrent_cancel(
    session: RealtimeSession, peer: ScriptedPeer
) -> None:
    peer.hold_responses = True
    waiting = asyncio.create_task(session.create_response(wait=True))
    await peer.wait_received("response.create")
    cancelled = await session.cancel_response()
    done = await asyncio.wait_for(waiting, 5)
    assert isinstance(done, dict) and done["id"] == cancelled["id"] and done["status"] == "cancelled"


async def test_items_create_delete_truncate(session: RealtimeSession, peer: ScriptedPeer) -> None:
    user = await session.create_text_message("What is the weather?")
    assert user["role"] == "user" and user["content"][0]["text"] == "What is the weather?"
    assert user["id"] in peer.items
    output = await session.create_function_output("call_1", {"temp_c": 21})
    assert output["type"] == "function_call_output" and output["output"] == '{"temp_c": 21}'
    with pytest.raises(ServerError) as info:
        await session.create_text_message("late", previous_item_id="item_missing")
    assert info.value.code == "item_not_found" and info.value.param == "previous_item_id"
    response = await session.create_response(wait=True)
    assert isinstance(response, dict)
    assistant_id = response["output"][0]["id"]
    truncated = await session.truncate(assistant_id, 100.7)
    assert truncated["audio_end_ms"] == 100
    with pytest.raises(ServerError, match="shorter than"):
        await session.truncate(assistant_id, 10_000)
    retrieved = await session.retrieve(assistant_id)
    assert retrieved["audio_pcm"].size == 0  # the peer, like the services, keeps no assistant audio here
    await session.delete_item(user["id"])
    assert user["id"] not in peer.items
    with pytest.raises(ServerError):
        await session.delete_item(user["id"])
    with pytest.raises(ServerError):
        await session.retrieve("item_missing")


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda s: s.truncate("item_1", -1), "audio_end_ms"),
        (lambda s: s.truncate("item_1", 10, content_index=-1), "content_index"),
        (lambda s: s.delete_item(""), "item_id"),
        (lambda s: s.retrieve(None), "item_id"),
        (lambda s: s.create_item({"role": "user"}), "type"),
    ],
)
async def test_bad_call_arguments_send_nothing(
    session: RealtimeSession, peer: ScriptedPeer, call: Any, fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment):
        await call(session)
    await session.clear()
    assert [e["type"] for e in peer.received] == ["input_audio_buffer.clear"]


async def test_clear_output_audio(session: RealtimeSession, peer: ScriptedPeer) -> None:
    event_id = await session.clear_output_audio(wait=True)
    [sent] = peer.of_type("output_audio_buffer.clear")
    assert sent["event_id"] == event_id


async def test_concurrent_updates_each_get_their_reply(session: RealtimeSession, peer: ScriptedPeer) -> None:
    first, second = await asyncio.gather(
        session.update_session(instructions="one"), session.update_session(instructions="two")
    )
    assert len(peer.of_type("session.update")) == 2
    assert {first.instructions, second.instructions} <= {"one", "two"}
    assert session.config is not None and session.config.instructions == "two"


async def test_listeners_sync_async_failing_and_removed(session: RealtimeSession, peer: ScriptedPeer) -> None:
    seen: list[str] = []
    async_seen: asyncio.Queue[str] = asyncio.Queue()

    def failing(event: dict[str, Any]) -> None:
        raise RuntimeError("listener bug")

    async def later(event: dict[str, Any]) -> None:
        await async_seen.put(event["type"])

    remove = session.on("input_audio_buffer.cleared", lambda e: seen.append(e["type"]))
    session.on("input_audio_buffer.cleared", failing)
    session.on("*", later)
    await session.clear()
    assert seen == ["input_audio_buffer.cleared"]
    assert session.listener_errors == 1
    assert await asyncio.wait_for(async_seen.get(), 5) == "input_audio_buffer.cleared"
    remove()
    await session.clear()
    assert seen == ["input_audio_buffer.cleared"]  # removed
    assert session.listener_errors == 2  # the failing one is still there, and the reader still runs


async def test_slow_iterator_drops_oldest_but_log_keeps_all(
    session: RealtimeSession, peer: ScriptedPeer
) -> None:
    stream = session.events(maxsize=2)
    for _ in range(5):
        await session.clear()
    assert stream.dropped == 3 and stream.pending == 2
    assert (session.log.frame()["type"] == "input_audio_buffer.cleared").sum() == 5


async def test_constructor_accepts_url_or_engine_like_and_refuses_the_rest(peer: ScriptedPeer) -> None:
    class _RunningEngine:
        url = peer.url

    if peer.dialect == "ga":
        async with RealtimeSession(_RunningEngine()) as s:
            assert s.endpoint.url.startswith(peer.url + "/v1/realtime")
    with pytest.raises(TypeError):
        RealtimeSession(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        RealtimeSession(peer.url, timeout=0)
    with pytest.raises(ValueError, match="queue_size"):
        RealtimeSession(peer.url, queue_size=0)
    with pytest.raises(RuntimeError, match="connect"):
        await RealtimeSession(peer.url).clear()
