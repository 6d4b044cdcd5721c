"""WebRTC calls to the engine over loopback, with a plain aiortc peer written here (not our client).

The engine runs as in every integration test (``start_engine``, real models); a `CallRegistry` is
made on its loop and the test calls ``open_call`` directly (the HTTP endpoints are another layer).
The peer streams a WAV of known speech on its microphone track in real time, records what arrives
on its incoming track, and validates every data-channel event strictly against the openai SDK's
server-event union of its dialect; the order rules of sequences*.md are checked on every call.
Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fractions
import json
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedOK, InvalidStatus

from realtime_nb import samples
from realtime_nb._rtc_loopback import (
    allow_loopback_candidates,
    fit_sctp_to_small_mtu,
    loopback_candidates_only,
)
from realtime_nb.audio import resample
from realtime_nb.engine.calls import CallRefused, CallRegistry
from realtime_nb.engine.rtc_media import to_mono_int16
from realtime_nb.protocol.dialect import Dialect, wire_type
from realtime_nb.protocol.formats import PCM_RATE
from realtime_nb.protocol.ordering import check_order, order_violations

WIRE = 48000
FRAME = 960  # 20 ms at 48 kHz
FRAME_24 = 480  # 20 ms at 24 kHz
WAIT_S = 60.0  # the first call of a run may load models and warm the voice on 2 cores
DIALECTS = [Dialect.GA, Dialect.PREVIEW]
SERVER_VAD = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "create_response": True,
    "interrupt_response": True,
}


def vad_session(dialect: Dialect) -> dict[str, Any]:
    if dialect is Dialect.GA:
        return {"type": "realtime", "audio": {"input": {"turn_detection": SERVER_VAD}}}
    return {"turn_detection": SERVER_VAD}


@pytest.fixture(scope="module")
def turns() -> samples.Sample:
    return samples.load("turns")  # three utterances 1500 ms apart, 24 kHz


# --------------------------------------------------------------------------------------------------
# The engine side


async def on_engine(engine: Any, make: Callable[[], Any]) -> Any:
    """Run the coroutine ``make()`` on the engine's loop and await its result here."""

    async def run() -> Any:
        return await make()

    return await asyncio.wait_for(
        asyncio.wrap_future(asyncio.run_coroutine_threadsafe(run(), engine._loop)), WAIT_S
    )


@pytest.fixture
async def calls(engine: Any) -> Any:
    """A CallRegistry on the engine's loop, wired as the engine's (sideband sockets find it); after
    the test every call is closed and nothing may be left behind."""
    engine.wait_ready(WAIT_S)

    async def make() -> CallRegistry:
        return CallRegistry.for_server(engine._server, channel_timeout_s=15.0, disconnect_grace_s=10.0)

    registry = await on_engine(engine, make)
    before, engine._server.calls = engine._server.calls, registry
    yield registry
    engine._server.calls = before  # the shared engine keeps the registry it started with
    await on_engine(engine, registry.close_all)


async def registry_stats(engine: Any, registry: CallRegistry) -> dict[str, int]:
    async def read() -> dict[str, int]:
        return registry.stats()

    return await on_engine(engine, read)


async def engine_tasks(engine: Any) -> list[str]:
    async def read() -> list[str]:
        current = asyncio.current_task()
        return sorted(t.get_name() for t in asyncio.all_tasks() if t is not current)

    return await on_engine(engine, read)


async def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.05)


async def freed(engine: Any, registry: CallRegistry, baseline: list[str], timeout: float = 20.0) -> None:
    """No call, task, job or peer connection of the registry is left, and the engine loop runs
    exactly the tasks it ran before the call."""

    async def extra_tasks() -> Counter[str]:
        return Counter(await engine_tasks(engine)) - Counter(baseline)

    async def clean() -> bool:
        stats = await registry_stats(engine, registry)
        return not any(stats.values()) and not await extra_tasks() and engine._server.jobs_in_flight == 0

    try:
        await wait_until(clean, timeout, "the call's resources to be freed")
    except AssertionError:
        stats = await registry_stats(engine, registry)
        jobs = engine._server.jobs_in_flight
        raise AssertionError(
            f"left behind: {stats}, jobs {jobs}, tasks {dict(await extra_tasks())}"
        ) from None


# --------------------------------------------------------------------------------------------------
# The peer: plain aiortc


class Microphone(MediaStreamTrack):
    """20 ms frames at 48 kHz paced by the clock; what ``play`` queued, silence otherwise."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue: deque[np.ndarray] = deque()
        self._start: float | None = None
        self._n = 0
        self.drained = asyncio.Event()
        self.drained.set()

    def play(self, pcm24: np.ndarray) -> None:
        x48 = resample(pcm24, PCM_RATE, WIRE)
        x48 = np.concatenate([x48, np.zeros((-x48.size) % FRAME, np.int16)])
        for lo in range(0, x48.size, FRAME):
            self._queue.append(x48[lo : lo + FRAME])
        self.drained.clear()

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            due = self._start + self._n * 0.02
            if due > now:
                await asyncio.sleep(due - now)
        if self._queue:
            samples_ = self._queue.popleft()
        else:
            samples_ = np.zeros(FRAME, np.int16)
            self.drained.set()
        frame = AudioFrame.from_ndarray(samples_.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = WIRE
        frame.pts = self._n * FRAME
        frame.time_base = fractions.Fraction(1, WIRE)
        self._n += 1
        return frame


class Peer:
    """One call seen from the page's side: offer, events, speaker, microphone."""

    def __init__(
        self, dialect: Dialect, validate: Any, *, audio: bool = True, channel: str | None = "oai-events"
    ):
        allow_loopback_candidates()
        fit_sctp_to_small_mtu()
        self.dialect = dialect
        self._validate = validate
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.mic = Microphone()
        if audio:
            self.pc.addTrack(self.mic)
        self.channel = self.pc.createDataChannel(channel) if channel is not None else None
        self.events: list[dict[str, Any]] = []
        self.heard: list[tuple[float, np.ndarray]] = []  # (arrival, 48 kHz mono frame)
        self._arrivals: list[float] = []
        self._new = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self.opened = asyncio.Event()
        if self.channel is not None:
            self.channel.on("message", self._on_message)
            self.channel.on("open", self.opened.set)
        self.pc.on("track", self._on_track)

    # signalling
    async def offer(self) -> str:
        with loopback_candidates_only():  # the engine is on this machine: ICE on 127.0.0.1 only
            await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pc.close(), 10)

    def vanish(self) -> None:
        """The peer's machine drops off the network: nothing it sends arrives any more (no close)."""

        async def drop_data(data: bytes, addr: Any) -> None:
            return None

        for transceiver in self.pc.getTransceivers():
            ice = transceiver.sender.transport.transport
            for protocol in ice._connection._protocols:  # aioice's UDP endpoints
                protocol.send_data = drop_data
                protocol.send_stun = lambda message, addr: None

    # events
    def name(self, canonical: str) -> str:
        wire = wire_type(canonical, self.dialect)
        assert wire is not None
        return wire

    def _on_message(self, message: str | bytes) -> None:
        assert isinstance(message, str), "events are text messages"
        event = json.loads(message)
        self._validate(event, self.dialect)
        self.events.append(event)
        self._arrivals.append(time.monotonic())
        self._new.set()

    def send(self, event: dict[str, Any]) -> None:
        self._validate(event, self.dialect, direction="client")
        assert self.channel is not None
        self.channel.send(json.dumps(event))

    def of(self, canonical: str) -> list[dict[str, Any]]:
        name = self.name(canonical)
        return [e for e in self.events if e["type"] == name]

    def index(self, event: dict[str, Any]) -> int:
        return next(i for i, e in enumerate(self.events) if e is event)

    async def expect(
        self,
        canonical: str,
        where: Callable[[dict[str, Any]], bool] | None = None,
        *,
        after: int = 0,
        timeout: float = WAIT_S,
    ) -> dict[str, Any]:
        """The first event of that type (at index >= ``after``) matching ``where``."""
        name = self.name(canonical)

        async def find() -> dict[str, Any]:
            while True:
                for event in self.events[after:]:
                    if event["type"] == name and (where is None or where(event)):
                        return event
                self._new.clear()
                await self._new.wait()

        return await asyncio.wait_for(find(), timeout)

    def arrival(self, event: dict[str, Any]) -> float:
        return self._arrivals[self.index(event)]

    # audio
    def _on_track(self, track: Any) -> None:
        self._tasks.append(asyncio.ensure_future(self._listen(track)))

    async def _listen(self, track: Any) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert frame.sample_rate == WIRE
            self.heard.append((time.monotonic(), to_mono_int16(frame)))

    def heard_audio(self, since: float = 0.0, until: float = float("inf")) -> np.ndarray:
        """What arrived on the speaker track between ``since`` and ``until``, at 24 kHz."""
        parts = [f for t, f in self.heard if since <= t <= until]
        return resample(np.concatenate(parts), WIRE, PCM_RATE) if parts else np.zeros(0, np.int16)

    async def speak(self, pcm24: np.ndarray) -> None:
        """Stream audio on the microphone in real time and wait until it has all been sent."""
        self.mic.play(pcm24)
        await asyncio.wait_for(self.mic.drained.wait(), pcm24.size / PCM_RATE + 10)

    def order_problems(self) -> list[str]:
        return order_violations(self.events, self.dialect)


@pytest.fixture
async def peers(validate: Any) -> Iterator[Callable[..., Peer]]:
    made: list[Peer] = []

    def make(dialect: Dialect = Dialect.GA, **kw: Any) -> Peer:
        peer = Peer(dialect, validate, **kw)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        await peer.close()


async def place(
    engine: Any, registry: CallRegistry, peer: Peer, session: dict[str, Any] | None = None, **kw: Any
) -> str:
    offer = await peer.offer()
    opened = await on_engine(
        engine,
        lambda: registry.open_call(
            offer,
            dialect=peer.dialect,
            model=kw.get("model"),
            session=session,
            webrtc_filter=kw.get("webrtc_filter", False),
        ),
    )
    assert opened.call_id.startswith("rtc_")
    await peer.answer(opened.answer_sdp)
    return opened.call_id


# --------------------------------------------------------------------------------------------------
# A turn, its answer, the buffer events


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_server_vad_turn_is_answered_on_the_track(engine, calls, peers, turns, dialect):
    peer = peers(dialect)
    await place(engine, calls, peer, vad_session(dialect))
    created = await peer.expect("session.created")
    assert peer.events[0] is created  # the first message on the channel
    td = (
        created["session"]["audio"]["input"]["turn_detection"]
        if dialect is Dialect.GA
        else created["session"]["turn_detection"]
    )
    assert td["silence_duration_ms"] == 500 and td["interrupt_response"] is True  # the call's configuration
    await peer.speak(turns.audio[: int(PCM_RATE * 4.2)])  # the first utterance and its silence
    await peer.expect("input_audio_buffer.speech_stopped")
    done = await peer.expect("response.done")
    stopped = await peer.expect("output_audio_buffer.stopped")
    rid = done["response"]["id"]
    assert done["response"]["status"] == "completed"
    started = await peer.expect("output_audio_buffer.started")
    part = await peer.expect("response.content_part.added")
    assert started["response_id"] == stopped["response_id"] == part["response_id"] == rid
    assert peer.index(part) < peer.index(started)
    assert peer.index(done) < peer.index(stopped)
    assert not peer.of("response.output_audio.delta")  # the audio came on the track
    assert peer.of("response.output_audio_transcript.delta")
    transcript = done["response"]["output"][0]["content"][0]["transcript"]
    assert transcript.startswith("You said:") and "pizza" in transcript.lower()
    # the answer's audio arrived on the track, after started was sent
    answer = peer.heard_audio(since=peer.arrival(started) - 0.5)
    loud = np.flatnonzero(np.abs(answer.astype(np.int32)) > 1000)
    assert loud.size and (loud[-1] - loud[0]) / PCM_RATE > 1.0, "no answer audio on the track"
    # the user's turn reached the engine intact: its audio is the item, retrievable
    stop = peer.of("input_audio_buffer.speech_stopped")[0]
    speech_start = peer.of("input_audio_buffer.speech_started")[0]["audio_start_ms"]
    truth = turns.segments[0].ms()
    assert abs(speech_start - (truth[0] - 300)) <= 120 and abs(stop["audio_end_ms"] - (truth[1] + 500)) <= 120
    assert not peer.order_problems(), peer.order_problems()


async def test_append_over_the_channel_is_refused_and_junk_is_answered(engine, calls, peers):
    peer = peers(Dialect.GA)
    await place(engine, calls, peer)
    await peer.expect("session.created")
    peer.send({"type": "input_audio_buffer.append", "audio": "AAAA", "event_id": "evt_append"})
    err = (await peer.expect("error"))["error"]
    assert (err["code"], err["param"], err["event_id"]) == ("unsupported_over_webrtc", "type", "evt_append")
    assert "track" in err["message"]
    peer.channel.send("this is not JSON")
    junk = (await peer.expect("error", after=peer.index(peer.of("error")[0]) + 1))["error"]
    assert junk["code"] == "invalid_json"
    peer.send({"type": "input_audio_buffer.clear", "event_id": "evt_alive"})  # the call still works
    await peer.expect("input_audio_buffer.cleared")
    peer.send({"type": "output_audio_buffer.clear", "event_id": "evt_nothing"})  # nothing played yet
    err = (await peer.expect("error", lambda e: e["error"]["event_id"] == "evt_nothing"))["error"]
    assert err["code"] == "output_audio_buffer_empty"
    assert not peer.order_problems()


# --------------------------------------------------------------------------------------------------
# Barge-in


def _align(needle: np.ndarray, haystack: np.ndarray) -> tuple[int, float]:
    """Where ``needle`` best matches in ``haystack`` (normalized cross-correlation) and how well."""
    if haystack.size < needle.size:
        return 0, 0.0
    x, y = haystack.astype(np.float64), needle.astype(np.float64)
    size = 1 << (x.size + y.size - 1).bit_length()
    raw = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(y, size)), size)[: x.size - y.size + 1]
    energy = np.concatenate([[0.0], np.cumsum(x * x)])
    window = np.sqrt(np.maximum(energy[y.size :] - energy[: x.size - y.size + 1], 1e-9))
    ncc = raw / (window * (np.linalg.norm(y) + 1e-9))
    at = int(np.argmax(ncc))
    return at, float(ncc[at])


def _heard_in_order(sent: np.ndarray, heard: np.ndarray, block: int = 2400) -> int:
    """Find every audible 100 ms block of ``sent`` in ``heard``, in order (the track may have sent
    silence between two synthesized chunks while the next was being made: an underrun), and return
    where the end of ``sent`` lies in ``heard``."""
    pos, end_sent, end_heard = 0, 0, 0
    first = True
    for lo in range(0, sent.size - block // 2, block):
        piece = sent[lo : lo + block]
        if _rms(piece) < 300:
            continue  # a pause of the reply itself: nothing to locate
        window = heard[pos : (heard.size if first else pos + 3 * PCM_RATE) + piece.size]
        at, similarity = _align(piece, window)
        assert similarity > 0.8, f"sent audio at {lo / PCM_RATE:.2f} s was not heard ({similarity:.2f})"
        pos = pos + at + piece.size
        end_sent, end_heard, first = lo + piece.size, pos, False
    assert not first, "nothing audible was sent"
    return end_heard + (sent.size - end_sent)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x.astype(np.float64))))) if x.size else 0.0


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_barge_in_clears_and_truncates_at_the_audio_sent(engine, calls, peers, turns, dialect):
    peer = peers(dialect)
    await place(engine, calls, peer, vad_session(dialect))
    await peer.expect("session.created")
    first_turn = turns.audio[: int(PCM_RATE * 3.3)]  # the first utterance and 1 s of its pause
    await peer.speak(first_turn)
    started = await peer.expect("output_audio_buffer.started")
    rid = started["response_id"]
    await asyncio.sleep(1.2)  # let the answer play a while
    second = turns.segments[1]
    await peer.speak(turns.audio[second.start - PCM_RATE // 10 : second.start + PCM_RATE])  # talk over it
    cleared = await peer.expect("output_audio_buffer.cleared")
    truncated = await peer.expect("conversation.item.truncated")
    barge = peer.of("input_audio_buffer.speech_started")[1]
    assert cleared["response_id"] == rid
    assert peer.index(barge) < peer.index(cleared) < peer.index(truncated)
    done = await peer.expect("response.done", lambda e: e["response"]["id"] == rid)
    if done["response"]["status"] == "cancelled":  # still generating: cancelled after the clear
        assert done["response"]["status_details"]["reason"] == "turn_detected"
        assert peer.index(cleared) < peer.index(done) < peer.index(truncated)
    else:  # generation had finished; the playback was cut all the same
        assert done["response"]["status"] == "completed" and peer.index(done) < peer.index(barge)
    assert not [e for e in peer.of("output_audio_buffer.stopped") if e["response_id"] == rid]
    item_id = truncated["item_id"]
    assert item_id == done["response"]["output"][0]["id"]
    end_ms = truncated["audio_end_ms"]
    assert end_ms > 0 and end_ms % 20 == 0  # whole 20 ms frames left before the clear
    await asyncio.sleep(1.0)  # what was pulled before the clear has all arrived
    # the engine keeps exactly what it sent: retrieve it (the engine returns assistant audio)
    peer.send({"type": "conversation.item.retrieve", "item_id": item_id})
    retrieved = await peer.expect("conversation.item.retrieved")
    sent = np.frombuffer(base64.b64decode(retrieved["item"]["content"][0]["audio"]), np.int16)
    assert sent.size == end_ms * PCM_RATE // 1000
    # ... and that is what the peer heard: all of it in order, then nothing more of the reply
    # (until 1 s after the clear: the next reply, which opens with the same words, comes later)
    heard = peer.heard_audio(since=peer.arrival(started) - 1.0, until=peer.arrival(cleared) + 1.0)
    sent_end = _heard_in_order(sent, heard)
    after = heard[sent_end + FRAME_24 : sent_end + FRAME_24 + PCM_RATE // 2]
    assert after.size == PCM_RATE // 2, "the recording stops too early"
    assert _rms(after) < 0.05 * _rms(sent), "reply audio kept playing after the clear"
    # the interrupting turn gets its own answer, which plays out and stops under its own id
    next_done = await peer.expect("response.done", lambda e: e["response"]["id"] != rid)
    next_id = next_done["response"]["id"]
    await peer.expect("output_audio_buffer.stopped", lambda e: e["response_id"] == next_id)
    assert not peer.order_problems(), peer.order_problems()


# --------------------------------------------------------------------------------------------------
# Refusals


async def test_bad_offers_are_refused(engine, calls, peers):
    with pytest.raises(CallRefused) as refused:
        await on_engine(
            engine, lambda: calls.open_call("hello", dialect=Dialect.GA, model=None, session=None)
        )
    assert (refused.value.status, refused.value.code) == (400, "invalid_sdp")
    garbled = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio nonsense\r\n"
    with pytest.raises(CallRefused) as refused:
        await on_engine(
            engine, lambda: calls.open_call(garbled, dialect=Dialect.GA, model=None, session=None)
        )
    assert (refused.value.status, refused.value.code) == (400, "invalid_sdp")
    data_only = await peers(Dialect.GA, audio=False).offer()
    assert "m=audio" not in data_only
    with pytest.raises(CallRefused) as refused:
        await on_engine(
            engine, lambda: calls.open_call(data_only, dialect=Dialect.GA, model=None, session=None)
        )
    assert refused.value.status == 400 and "audio" in refused.value.message
    offer = await peers(Dialect.GA).offer()
    bad = {"type": "realtime", "audio": {"output": {"voice": "nobody"}}}
    with pytest.raises(CallRefused) as refused:
        await on_engine(engine, lambda: calls.open_call(offer, dialect=Dialect.GA, model=None, session=bad))
    assert refused.value.status == 400 and refused.value.param == "session.audio.output.voice"
    with pytest.raises(CallRefused) as refused:
        await on_engine(
            engine, lambda: calls.open_call(offer, dialect=Dialect.PREVIEW, model=None, session=bad)
        )
    assert refused.value.status == 400 and refused.value.code == "unknown_parameter"
    assert (await registry_stats(engine, calls)) == {
        "calls": 0,
        "connecting": 0,
        "tasks": 0,
        "pending_jobs": 0,
        "peer_connections": 0,
    }


# --------------------------------------------------------------------------------------------------
# Ends: hangup, a vanished peer, a data channel that never opens


async def test_hangup_frees_the_call(engine, calls, peers):
    baseline = await engine_tasks(engine)
    peer = peers(Dialect.GA)
    call_id = await place(engine, calls, peer)
    await peer.expect("session.created")
    assert (await registry_stats(engine, calls))["calls"] == 1
    assert await on_engine(engine, lambda: calls.hangup(call_id)) is True
    assert await on_engine(engine, lambda: calls.hangup(call_id)) is False
    await wait_until(lambda: peer.pc.connectionState == "closed", 10, "the peer to see the call end")
    await freed(engine, calls, baseline)


async def test_a_peer_that_vanishes_mid_response_is_freed(engine, calls, peers, turns, caplog):
    caplog.set_level(logging.INFO, logger="realtime_nb.engine")

    async def short_grace() -> None:
        calls.disconnect_grace_s = 1.5

    await on_engine(engine, short_grace)
    baseline = await engine_tasks(engine)
    peer = peers(Dialect.GA)
    await place(engine, calls, peer, vad_session(Dialect.GA))
    await peer.expect("session.created")
    await peer.speak(turns.audio[: int(PCM_RATE * 3.3)])
    await peer.expect("output_audio_buffer.started")
    peer.vanish()  # mid-response: the reply is still playing
    await freed(engine, calls, baseline, timeout=15.0)
    assert "no audio from the peer for 1.5 s" in caplog.text


async def test_a_peer_that_never_opens_its_data_channel_is_closed(engine, calls, peers, caplog):
    caplog.set_level(logging.INFO, logger="realtime_nb.engine")

    async def short_deadline() -> None:
        calls.channel_timeout_s = 1.0

    await on_engine(engine, short_deadline)
    baseline = await engine_tasks(engine)
    peer = peers(Dialect.GA, channel=None)
    await place(engine, calls, peer)
    await asyncio.sleep(0.3)
    assert (await registry_stats(engine, calls))["connecting"] == 1
    await freed(engine, calls, baseline, timeout=10.0)
    assert "opened no data channel within 1 s" in caplog.text


# --------------------------------------------------------------------------------------------------
# The sideband socket


async def test_a_sideband_socket_sees_the_calls_events_and_may_send(engine, calls, peers, validate):
    peer = peers(Dialect.GA)
    call_id = await place(engine, calls, peer)
    await peer.expect("session.created")
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{engine.url}/v1/realtime?call_id=rtc_nobody", open_timeout=10):
            pass
    assert refused.value.response.status_code == 404
    body = json.loads(refused.value.response.body or b"{}")
    assert body["error"]["code"] == "call_id_not_found" and "rtc_nobody" in body["error"]["message"]
    async with connect(f"{engine.url}/v1/realtime?call_id={call_id}", open_timeout=10) as side:

        async def next_event() -> dict[str, Any]:
            event = json.loads(await asyncio.wait_for(side.recv(), WAIT_S))
            validate(event, Dialect.GA)
            return event

        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello there"}]}
        await side.send(json.dumps({"type": "conversation.item.create", "item": item}))
        await side.send(json.dumps({"type": "response.create"}))
        seen = []
        while not seen or seen[-1]["type"] != "response.done":
            seen.append(await next_event())
        assert [e["type"] for e in seen][:2] == ["conversation.item.added", "conversation.item.done"]
        done = await peer.expect("response.done")  # the page saw the same response
        assert done["response"]["id"] == seen[-1]["response"]["id"]
        # it joined mid-session (no session.created, as on the services); everything else holds
        assert [v.message for v in check_order(seen, Dialect.GA) if v.rule != "first"] == []
        await peer.expect("output_audio_buffer.stopped")
        assert await on_engine(engine, lambda: calls.hangup(call_id))
        with pytest.raises(ConnectionClosedOK):  # the call ended: the sideband is closed
            while True:
                await asyncio.wait_for(side.recv(), 10)
    assert side.close_code == 1000 and "call ended" in side.close_reason


async def test_a_filtered_call_shows_the_page_a_subset_and_the_sideband_everything(
    engine, calls, peers, turns
):
    from realtime_nb.engine.webrtc_filter import PASSED

    peer = peers(Dialect.GA)
    call_id = await place(engine, calls, peer, vad_session(Dialect.GA), webrtc_filter=True)
    await asyncio.wait_for(peer.opened.wait(), WAIT_S)
    async with connect(f"{engine.url}/v1/realtime?call_id={call_id}", open_timeout=10) as side:
        await peer.speak(turns.audio[: int(PCM_RATE * 4.2)])  # the first utterance and its silence
        await peer.expect("output_audio_buffer.stopped")
        seen: list[str] = []
        while "output_audio_buffer.stopped" not in seen:
            seen.append(json.loads(await asyncio.wait_for(side.recv(), WAIT_S))["type"])
    page = [e["type"] for e in peer.events]
    assert set(page) <= PASSED, set(page) - PASSED  # no session.created (instructions), no response.*
    assert {"input_audio_buffer.speech_stopped", "output_audio_buffer.started"} <= set(page)
    assert "response.output_audio_transcript.delta" in page
    assert {"response.created", "response.done"} <= set(seen)  # the sideband sees everything


async def test_large_events_cross_the_data_channel_or_are_refused_clearly(engine, calls, peers, validate):
    peer = peers(Dialect.GA)
    call_id = await place(engine, calls, peer)
    await peer.expect("session.created")
    # ~100 KB each way: about 90 SCTP chunks of at most 1100 bytes, none larger than a 1280-byte path
    text = "many words " * 9000
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    peer.send({"type": "conversation.item.create", "item": item})
    added = await peer.expect("conversation.item.added", timeout=20)
    assert added["item"]["content"][0]["text"] == text
    # A user item with 6 s of audio, created over the sideband socket: retrieving it over the channel
    # would take ~400 KB, more than the peer accepts (aiortc: 256 KiB); the channel gets an error
    # saying so instead, the sideband the event itself, and the call goes on.
    audio = base64.b64encode(np.full(6 * PCM_RATE, 1000, np.int16).tobytes()).decode()
    audio_item = {"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": audio}]}
    async with connect(
        f"{engine.url}/v1/realtime?call_id={call_id}", open_timeout=10, max_size=2**22
    ) as side:
        await side.send(json.dumps({"type": "conversation.item.create", "item": audio_item}))
        created = await peer.expect(
            "conversation.item.added", lambda e: e["item"]["content"][0]["type"] == "input_audio"
        )
        item_id = created["item"]["id"]
        peer.send({"type": "conversation.item.retrieve", "item_id": item_id, "event_id": "ev_big"})
        too_large = (await peer.expect("error", lambda e: e["error"]["code"] == "event_too_large"))["error"]
        assert "conversation.item.retrieved" in too_large["message"] and call_id in too_large["message"]
        assert too_large["event_id"] == "ev_big"  # the client's retrieve fails at once, not at its timeout
        while True:
            event = json.loads(await asyncio.wait_for(side.recv(), WAIT_S))
            if event["type"] == "conversation.item.retrieved":
                break
        validate(event, Dialect.GA)
        assert len(base64.b64decode(event["item"]["content"][0]["audio"])) == 6 * PCM_RATE * 2
    peer.send({"type": "input_audio_buffer.clear"})
    await peer.expect("input_audio_buffer.cleared")
    assert not peer.order_problems()


async def test_abandoned_calls_are_closed_and_everyone_else_is_served(
    engine, calls, peers, open_peer, caplog
):
    """100 offers answered and never connected: each is closed after the channel deadline and freed,
    while a WebSocket session of the same engine keeps answering."""
    caplog.set_level(logging.INFO, logger="realtime_nb.engine")

    async def short_deadline() -> None:
        calls.channel_timeout_s = 2.0

    await on_engine(engine, short_deadline)
    baseline = await engine_tasks(engine)
    offer = await peers(Dialect.GA).offer()  # one offer, answered 100 times, never completed
    async with open_peer(engine, "ga") as ws_peer:
        for _ in range(100):
            await on_engine(
                engine, lambda: calls.open_call(offer, dialect=Dialect.GA, model=None, session=None)
            )
        stats = await registry_stats(engine, calls)
        # each is live or was closed for its deadline (one being closed is counted twice: it logs its
        # reason before it leaves the registry, so on a slow machine the sum may pass 100)
        assert stats["calls"] + caplog.text.count("opened no data channel") >= 100
        await ws_peer.send({"type": "input_audio_buffer.clear", "event_id": "evt_still_here"})
        await ws_peer.expect("input_audio_buffer.cleared", timeout=10)
    await freed(engine, calls, baseline, timeout=30.0)
    assert caplog.text.count("opened no data channel within 2 s") == 100


async def test_close_all_ends_every_call_and_refuses_new_ones(engine, calls, peers):
    """What the engine does at stop: every call ends (the peers see it), nothing is left behind, and
    an offer that arrives afterwards is refused."""
    baseline = await engine_tasks(engine)
    first, second = peers(Dialect.GA), peers(Dialect.PREVIEW)
    await place(engine, calls, first)
    await place(engine, calls, second)
    await first.expect("session.created")
    await second.expect("session.created")
    await on_engine(engine, calls.close_all)
    await wait_until(
        lambda: first.pc.connectionState == second.pc.connectionState == "closed",
        10,
        "both peers to see the end",
    )
    await freed(engine, calls, baseline)
    late = await peers(Dialect.GA).offer()
    with pytest.raises(CallRefused) as refused:
        await on_engine(engine, lambda: calls.open_call(late, dialect=Dialect.GA, model=None, session=None))
    assert (refused.value.status, refused.value.code) == (503, "engine_stopping")
