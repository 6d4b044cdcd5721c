"""RealtimeSession against the embedded engine (real models) over loopback, in both dialects.

These test the client: that its calls work end to end against a real server of the protocol, with
real speech (Piper-synthesised, known boundaries) going through the engine's VAD and transcription.
The `engine` / `token_engine` fixtures come from this folder's conftest (the engine's owner).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from realtime_nb.client import ConnectError, Endpoint, RealtimeSession, ServerError
from realtime_nb.protocol import ServerVad

SLOW = 120.0  # first use loads models on 2 cores


@pytest.fixture(params=["ga", "preview"])
def dialect(request: pytest.FixtureRequest) -> str:
    return request.param


def _session(engine: Any, dialect: str, **kwargs: Any) -> RealtimeSession:
    return RealtimeSession(
        Endpoint.local(engine.url, dialect=dialect), timeout=SLOW, response_timeout=SLOW, **kwargs
    )


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    samples = pytest.importorskip("realtime_nb.samples")
    sample = samples.utterance("Please tell me about the weather today.", lead_ms=400, tail_ms=300)
    path = sample.save(tmp_path_factory.mktemp("speech") / "weather.wav")
    return path, sample


async def test_text_turn(engine: Any, dialect: str) -> None:
    async with _session(engine, dialect) as s:
        assert s.config is not None and s.session_id
        config = await s.update_session(output_modalities=("text",), turn_detection=None)
        assert config.output_modalities == ("text",) and config.turn_detection is None
        item = await s.create_text_message("The sky is green.")
        assert item["role"] == "user"
        response = await s.create_response(wait=True)
        assert isinstance(response, dict) and response["status"] == "completed"
        [message] = [o for o in response["output"] if o["type"] == "message"]
        assert message["content"][0]["type"] == "output_text"
        assert "sky is green" in message["content"][0]["text"].lower()


async def test_errors_name_the_call(engine: Any, dialect: str) -> None:
    async with _session(engine, dialect) as s:
        await s.update_session(turn_detection=None)
        with pytest.raises(ServerError) as info:
            await s.commit()
        assert info.value.event_id is not None and info.value.code
        with pytest.raises(ServerError):
            await s.delete_item("item_does_not_exist")
        with pytest.raises(ServerError):
            await s.cancel_response()
        await s.clear()  # still usable


@pytest.mark.slow
async def test_manual_audio_turn_and_retrieve(
    engine: Any, dialect: str, speech_wav: tuple[Path, Any]
) -> None:
    path, sample = speech_wav
    async with _session(engine, dialect) as s:
        await s.update_session(turn_detection=None, output_modalities=("text",))
        sent = await s.stream_file(path, speed=0)
        assert sent.rate == 24000 and sent.samples.size == sample.audio.size  # the sample is at 24 kHz
        item_id = await s.commit()
        item = await s.retrieve(item_id)
        assert item["audio_rate"] == 24000
        assert item["audio_pcm"].size == sent.samples.size
        assert np.array_equal(item["audio_pcm"], sent.samples)  # no noise reduction: stored as sent
        response = await s.create_response(wait=True)
        assert isinstance(response, dict) and response["status"] == "completed"


@pytest.mark.slow
async def test_server_vad_turn_from_a_file(engine: Any, dialect: str, speech_wav: tuple[Path, Any]) -> None:
    path, sample = speech_wav
    async with _session(engine, dialect) as s:
        vad = ServerVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500)
        await s.update_session(turn_detection=vad, output_modalities=("text",))
        stream = s.events()
        sent = await s.stream_file(path, speed=0, tail_silence_ms=1000)
        seen: list[dict[str, Any]] = []
        async for event in stream:
            seen.append(event)
            if event["type"] == "response.done":
                break
        types = [e["type"] for e in seen]
        assert types.index("input_audio_buffer.speech_started") < types.index("input_audio_buffer.committed")
        started = next(e for e in seen if e["type"] == "input_audio_buffer.speech_started")
        speech_start_ms = sample.segments[0].ms(sample.rate)[0]
        # audio clock: the start includes the prefix padding (within the VAD's 32 ms frames + onset)
        assert speech_start_ms - 300 - 200 <= started["audio_start_ms"] <= speech_start_ms
        assert seen[-1]["response"]["status"] == "completed"
        frame = s.log.frame()
        appends = frame[(frame["type"] == "input_audio_buffer.append") & (frame["direction"] == "sent")]
        assert len(appends) == sent.chunks


async def test_token_engine(token_engine: Any) -> None:
    async with RealtimeSession(Endpoint.local(token_engine.url, token="tok-secret-123"), timeout=SLOW) as s:
        assert s.config is not None
    wrong = RealtimeSession(Endpoint.local(token_engine.url, token="nope"), timeout=SLOW)
    with pytest.raises(ConnectError) as info:
        await wrong.connect()
    assert info.value.status == 401
