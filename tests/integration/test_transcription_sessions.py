"""Transcription sessions end to end: the official openai SDK (GA and beta; OpenAI and Azure URLs,
all with ``intent=transcription``) and our client against the engine, on a recording whose words
are known.

Every server event is validated against the SDK model of its dialect (`EventChecker`), the order
rules hold (the checker's and `protocol.check_order`), and the word error rate is printed, not
asserted: it measures the local Whisper tiny.en, not the protocol.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from realtime_nb import samples
from realtime_nb.protocol import PCM_RATE, SessionConfig
from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.ordering import order_violations
from realtime_nb.timeline import word_error_rate

LOGPROBS = "item.input_audio_transcription.logprobs"
KINDS = ("ga", "preview", "azure-ga", "azure-preview")
TIMEOUT_S = 120.0  # the first transcription of a run loads Whisper on a loaded 2-core machine


def _connect(engine: Any, kind: str) -> tuple[Any, Dialect]:
    from openai import AsyncAzureOpenAI, AsyncOpenAI

    intent = {"intent": "transcription"}
    if kind == "ga":  # as OpenAI's transcription guide: no model on the URL
        client = AsyncOpenAI(api_key="sk-local", websocket_base_url=engine.websocket_base_url)
        return client.realtime.connect(extra_query=intent), Dialect.GA
    if kind == "preview":
        client = AsyncOpenAI(api_key="sk-local", websocket_base_url=engine.websocket_base_url)
        return client.beta.realtime.connect(
            model="gpt-4o-realtime-preview", extra_query=intent
        ), Dialect.PREVIEW
    if kind == "azure-ga":
        client = AsyncOpenAI(api_key="az-local", websocket_base_url=engine.url + "/openai/v1")
        return client.realtime.connect(model="my-deployment", extra_query=intent), Dialect.GA
    client = AsyncAzureOpenAI(
        api_key="az-local",
        api_version="2025-04-01-preview",
        azure_endpoint="https://example-resource.openai.azure.com",
        websocket_base_url=engine.azure_websocket_base_url,
    )
    return client.realtime.connect(model="my-deployment", extra_query=intent), Dialect.PREVIEW


class Conn:
    """One SDK connection: client events validated before sending, every server event checked."""

    def __init__(self, conn: Any, dialect: Dialect, checker: Any, receive: Any, validate: Any) -> None:
        self.conn, self.dialect, self.log = conn, dialect, checker(dialect)
        self._receive, self._validate = receive, validate

    @property
    def session_update_type(self) -> str:
        return "session.update" if self.dialect is Dialect.GA else "transcription_session.update"

    async def send(self, event: dict[str, Any], *, valid: bool = True) -> None:
        if valid:
            self._validate(event, self.dialect, direction="client")
        await self.conn.send(event)

    async def until(self, where: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        return await self._receive(self.conn.recv_bytes, self.log, where, timeout=TIMEOUT_S)

    async def expect(self, wire_type: str) -> dict[str, Any]:
        return await self.until(lambda e: e["type"] == wire_type)

    async def error(self, event_id: str, code: str, param: str | None) -> dict[str, Any]:
        error = (await self.expect("error"))["error"]
        assert (error["event_id"], error["code"], error["param"]) == (event_id, code, param), error
        assert error["message"]
        return error

    def session_name(self, kind: str) -> str:
        return f"session.{kind}" if self.dialect is Dialect.GA else f"transcription_session.{kind}"

    def update(self, ga_input: dict[str, Any], **top: Any) -> dict[str, Any]:
        """A session update of this dialect setting `audio.input` keys (GA names) and top keys."""
        if self.dialect is Dialect.GA:
            session: dict[str, Any] = {"type": "transcription", **top}
            if ga_input:
                session["audio"] = {"input": ga_input}
        else:
            preview = {
                "noise_reduction": "input_audio_noise_reduction",
                "transcription": "input_audio_transcription",
            }
            session = {preview.get(k, k): v for k, v in ga_input.items()} | top
        return {"type": self.session_update_type, "session": session}

    async def append(self, audio: np.ndarray, chunk_ms: int = 200) -> None:
        step = PCM_RATE * chunk_ms // 1000
        for start in range(0, audio.size, step):
            payload = base64.b64encode(audio[start : start + step].astype("<i2").tobytes()).decode()
            await self.send({"type": "input_audio_buffer.append", "audio": payload})


@pytest.fixture
def open_conn(engine: Any, checker: Any, receive: Any, validate: Any) -> Any:
    import contextlib

    @contextlib.asynccontextmanager
    async def _open(kind: str) -> Any:
        manager, dialect = _connect(engine, kind)
        async with manager as raw:
            conn = Conn(raw, dialect, checker, receive, validate)
            created = await conn.expect(conn.session_name("created"))
            if dialect is Dialect.GA:
                assert created["session"]["type"] == "transcription", created
            assert created["session"]["object"] == "realtime.transcription_session", created
            yield conn

    return _open


def _speech(name: str = "turns", tail_ms: int = 1200) -> tuple[np.ndarray, samples.Sample]:
    sample = samples.load(name)
    assert sample.rate == PCM_RATE
    return np.concatenate([sample.audio, np.zeros(PCM_RATE * tail_ms // 1000, np.int16)]), sample


@pytest.mark.parametrize("kind", KINDS)
async def test_the_sdk_transcribes_a_recording_word_by_word(open_conn: Any, kind: str) -> None:
    async with open_conn(kind) as conn:
        td = {"type": "server_vad", "silence_duration_ms": 500}
        update = conn.update(
            {"transcription": {"model": "gpt-4o-transcribe", "language": "en"}, "turn_detection": td}
        )
        update["session"]["include"] = [LOGPROBS]
        await conn.send(update)
        updated = await conn.expect(conn.session_name("updated"))
        assert updated["session"]["include"] == [LOGPROBS]
        audio, sample = _speech()
        await conn.append(audio)
        completed = []
        for _ in sample.segments:
            completed.append(await conn.expect("conversation.item.input_audio_transcription.completed"))
        events = conn.log.events
        assert not [e for e in events if e["type"].startswith("response.")], (
            "a transcription session responded"
        )
        stops = conn.log.of_type("input_audio_buffer.speech_stopped")
        assert [e["item_id"] for e in stops] == [e["item_id"] for e in completed]
        for event, segment in zip(completed, sample.segments, strict=True):
            deltas = [e for e in conn.log.of_type("conversation.item.input_audio_transcription.delta")
                      if e["item_id"] == event["item_id"]]  # fmt: skip
            assert len(deltas) > 1, "deltas stream word by word"
            assert "".join(d["delta"] for d in deltas) == event["transcript"]
            assert [p["token"] for d in deltas for p in d["logprobs"]] == [d["delta"] for d in deltas]
            assert event["logprobs"] == [p for d in deltas for p in d["logprobs"]]
            assert all(p["logprob"] <= 0 for p in event["logprobs"])
            assert event["usage"]["type"] == "duration" and event["usage"]["seconds"] > 0
            stop = segment.ms()[1]
            span = next(e for e in stops if e["item_id"] == event["item_id"])["audio_end_ms"]
            assert stop < span < stop + 1500, (segment, span)  # the audio clock: end + silence window
            wer = word_error_rate(segment.text, event["transcript"])
            print(f"{kind}: {event['transcript']!r} (WER {wer:.2f})")
        transcript = " ".join(e["transcript"] for e in completed)
        print(f"{kind}: WER over the recording {word_error_rate(sample.text, transcript):.3f}")
        conn.log.check_order()
        assert order_violations(events, conn.dialect) == []


@pytest.mark.parametrize("kind", ["ga", "preview"])
async def test_manual_commits_are_transcribed_and_empty_ones_refused(open_conn: Any, kind: str) -> None:
    async with open_conn(kind) as conn:
        await conn.send(conn.update({"turn_detection": None}))
        await conn.expect(conn.session_name("updated"))
        await conn.send({"type": "input_audio_buffer.commit", "event_id": "evt_empty"})
        await conn.error("evt_empty", "input_audio_buffer_commit_empty", None)
        audio, sample = _speech("single", tail_ms=0)
        await conn.append(audio)
        await conn.send({"type": "input_audio_buffer.commit"})
        committed = await conn.expect("input_audio_buffer.committed")
        done = await conn.expect("conversation.item.input_audio_transcription.completed")
        assert done["item_id"] == committed["item_id"]
        assert "logprobs" not in done  # not asked for
        print(f"{kind}: {done['transcript']!r} (WER {word_error_rate(sample.text, done['transcript']):.2f})")
        assert not conn.log.of_type("input_audio_buffer.speech_started")
        conn.log.check_order()


_BAD_GA = [
    ({"type": "response.create"}, "invalid_value", "type"),
    ({"type": "response.cancel"}, "invalid_value", "type"),
    ({"type": "session.update", "session": {"type": "realtime"}}, "invalid_value", "session.type"),
    (
        {
            "type": "session.update",
            "session": {"type": "transcription", "audio": {"output": {"voice": "ash"}}},
        },
        "unknown_parameter",
        "session.audio.output.voice",
    ),
    (
        {"type": "session.update", "session": {"type": "transcription", "instructions": "Be brief."}},
        "unknown_parameter",
        "session.instructions",
    ),
    (
        {"type": "session.update", "session": {"type": "transcription", "include": ["x"]}},
        "invalid_value",
        "session.include",
    ),
    ({"type": "session.update", "session": {"audio": {}}}, "missing_required_parameter", "session.type"),
    ({"type": "transcription_session.update", "session": {}}, "invalid_value", "type"),
]
_BAD_PREVIEW = [
    ({"type": "response.create"}, "invalid_value", "type"),
    ({"type": "session.update", "session": {}}, "invalid_value", "type"),
    (
        {"type": "transcription_session.update", "session": {"voice": "ash"}},
        "unknown_parameter",
        "session.voice",
    ),
    (
        {"type": "transcription_session.update", "session": {"tools": []}},
        "unknown_parameter",
        "session.tools",
    ),
    (
        {"type": "transcription_session.update", "session": {"include": "all"}},
        "invalid_type",
        "session.include",
    ),
    (
        {"type": "transcription_session.update", "session": {"input_audio_format": "mp3"}},
        "invalid_value",
        "session.input_audio_format",
    ),
]


@pytest.mark.parametrize("kind", ["ga", "preview"])
async def test_bad_input_is_refused_and_changes_nothing(open_conn: Any, kind: str) -> None:
    async with open_conn(kind) as conn:
        for i, (event, code, param) in enumerate(_BAD_GA if kind == "ga" else _BAD_PREVIEW):
            await conn.send({**event, "event_id": f"evt_bad_{i}"}, valid=False)
            await conn.error(f"evt_bad_{i}", code, param)
        # the session is unchanged and still answers: an empty update echoes the opening config
        await conn.send(conn.update({}))
        updated = await conn.expect(conn.session_name("updated"))
        created = conn.log.events[0]
        assert updated["session"] == created["session"]
        conn.log.check_order()


@pytest.mark.parametrize("dialect", [Dialect.GA, Dialect.PREVIEW])
async def test_a_realtime_session_refuses_the_transcription_forms(
    open_peer: Any, engine: Any, dialect: Dialect
) -> None:
    async with open_peer(engine, "ga" if dialect is Dialect.GA else "preview") as peer:
        if dialect is Dialect.GA:
            event = {"type": "session.update", "session": {"type": "transcription"}, "event_id": "evt_t"}
            param = "session.type"
        else:
            event = {"type": "transcription_session.update", "session": {}, "event_id": "evt_t"}
            param = "type"
        await peer.conn.send(event)
        error = await peer.error("evt_t")
        assert (error["code"], error["param"]) == ("invalid_value", param)
        assert "intent=transcription" in error["message"]
        await peer.still_works()


async def _until(done: Any, timeout: float = TIMEOUT_S) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not done():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"not done within {timeout:g} s")
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("dialect", [Dialect.GA, Dialect.PREVIEW])
async def test_our_client_gives_a_transcripts_table(engine: Any, dialect: Dialect) -> None:
    from realtime_nb.client import Endpoint, RealtimeSession
    from realtime_nb.client.errors import ServerError

    endpoint = Endpoint.local(engine.url, dialect=dialect).transcription()
    assert endpoint.session_type == "transcription"
    config = SessionConfig.for_transcription(include=(LOGPROBS,), noise_reduction="near_field")
    audio, sample = _speech()
    async with RealtimeSession(endpoint, config=config, timeout=TIMEOUT_S) as session:
        assert session.config == config.replace(model=None)
        await session.append_audio(audio, PCM_RATE)
        # Count in the log rather than wait for "the next" completion: appended faster than real
        # time, two turns can complete before a second wait_for is registered.
        await _until(
            lambda: (
                len(session.log.transcripts()) == len(sample.segments)
                and set(session.log.transcripts()["status"]) == {"completed"}
            )
        )
        with pytest.raises(ServerError, match="transcription session"):
            await session.create_response()
        table = session.log.transcripts()
        assert session.log.check_order() == []
        assert session.log.session_config() == config
    assert list(table["status"]) == ["completed"] * len(sample.segments)
    for row, segment in zip(table.itertuples(), sample.segments, strict=True):
        start, stop = segment.ms()
        assert row.audio_start_ms < stop and row.audio_end_ms > start  # the span covers the words
        assert 0 <= row.first_delta_ms <= row.done_ms
        assert row.n_deltas > 1 and row.mean_logprob <= 0
    hypothesis = " ".join(table["text"])
    print(table[["audio_start_ms", "audio_end_ms", "first_delta_ms", "done_ms", "text"]].to_string())
    print(f"{dialect}: WER {word_error_rate(sample.text, hypothesis):.3f}")


@pytest.mark.parametrize("kind", ["ga", "preview"])
async def test_a_transcription_the_local_model_cannot_do_fails_with_a_reason(
    open_conn: Any, kind: str
) -> None:
    async with open_conn(kind) as conn:
        await conn.send(
            conn.update({"transcription": {"model": "whisper-1", "language": "fr"}, "turn_detection": None})
        )
        await conn.expect(conn.session_name("updated"))
        audio, _sample = _speech("single", tail_ms=0)
        await conn.append(audio)
        await conn.send({"type": "input_audio_buffer.commit"})
        committed = await conn.expect("input_audio_buffer.committed")
        failed = await conn.expect("conversation.item.input_audio_transcription.failed")
        assert failed["item_id"] == committed["item_id"] and failed["content_index"] == 0
        assert "English" in failed["error"]["message"] and "'fr'" in failed["error"]["message"]
        assert not conn.log.of_type("conversation.item.input_audio_transcription.completed")
        conn.log.check_order()
