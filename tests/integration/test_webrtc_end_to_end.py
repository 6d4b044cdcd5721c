"""WebRTC end to end: calls placed over loopback through the engine's REAL HTTP endpoints (front door,
ephemeral keys, unified form) and answered by its REAL `CallRegistry` (what ``start_engine()`` wires
by default), with real models, in both dialects.

Two kinds of caller: our client (``RealtimeSession(..., transport="webrtc")``) and a plain aiortc
peer written here, which signals with httpx exactly as a page would. Every event received on a data
channel is validated strictly against the openai SDK's server-event union of its dialect, and the
order rules of sequences*.md (`realtime_nb.protocol.check_order`) hold on every call. ICE stays on
127.0.0.1: the engine listens on loopback (it offers 127.0.0.1 only) and the peer here gathers
inside `loopback_candidates_only()`. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("aiortc")

import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from realtime_nb import samples
from realtime_nb._rtc_loopback import fit_sctp_to_small_mtu, loopback_candidates_only
from realtime_nb.audio import resample
from realtime_nb.client import Endpoint, RealtimeSession
from realtime_nb.protocol import PCM_RATE, ServerVad, SessionConfig
from realtime_nb.protocol.dialect import Dialect, wire_type
from realtime_nb.protocol.ordering import order_violations

SLOW = 90.0  # the first call of a run may load models and warm the voice on 2 cores
WIRE = 48000
FRAME = 960  # 20 ms at 48 kHz
FRAME_MS = 20
DIALECTS = ["ga", "preview"]
VAD = ServerVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500)


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    """An engine of this module's own, started as a user starts one: its call registry is the
    default one (not a registry a test swapped in), so the numbers in `stats()` are this module's."""
    from realtime_nb.engine import start_engine

    with start_engine() as running:
        assert running.wait_ready(SLOW)
        yield running


@pytest.fixture(scope="module")
def turns() -> samples.Sample:
    return samples.load("turns")  # three utterances 1500 ms apart, 24 kHz


@pytest.fixture(scope="module")
def first_turn_wav(turns: samples.Sample, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The first utterance and 1.2 s of the pause after it (server VAD needs 500 ms of silence)."""
    end = turns.segments[0].end + int(1.2 * turns.rate)
    path = tmp_path_factory.mktemp("rtc") / "first_turn.wav"
    return samples.Sample(turns.audio[:end], turns.rate, turns.segments[:1], "first_turn").save(path)


def _session(engine: Any, dialect: str, **kw: Any) -> RealtimeSession:
    return RealtimeSession(
        Endpoint.local(engine.url, dialect=dialect),
        transport="webrtc",
        config=SessionConfig(turn_detection=VAD),
        timeout=SLOW,
        response_timeout=SLOW,
        **kw,
    )


async def _until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.05)


def _received(session: RealtimeSession) -> list[tuple[int, dict[str, Any]]]:
    """(seq, canonical event) of every event received on the data channel, in order."""
    frame = session.log.frame()
    rows = frame[(frame["direction"] == "received") & (frame["family"] != "problem")]
    return [(int(seq), session.log.canonical_event(int(seq))) for seq in rows["seq"]]


def _first(session: RealtimeSession, kind: str, **match: Any) -> tuple[int, dict[str, Any]] | None:
    for seq, event in _received(session):
        if event["type"] == kind and all(event.get(k) == v for k, v in match.items()):
            return seq, event
    return None


async def _expect(session: RealtimeSession, kind: str, timeout: float = SLOW, **match: Any) -> Any:
    return await _until(lambda: _first(session, kind, **match), timeout, f"{kind} {match or ''}")


def _check_wire_events(session: RealtimeSession, validate: Any) -> None:
    """Every received event, as it was on the wire, fits the SDK's server union of its dialect, and
    the order rules hold."""
    frame = session.log.frame()
    rows = frame[(frame["direction"] == "received") & (frame["family"] != "problem")]
    assert len(rows) > 0
    for seq in rows["seq"]:
        validate(session.log.event_json(int(seq)), session.dialect)
    assert session.log.check_order() == []


def _playback_order(session: RealtimeSession, rid: str) -> None:
    """started after the response's first content part, stopped after its response.done."""
    [(part, _)] = [
        (s, e)
        for s, e in _received(session)
        if e["type"] == "response.content_part.added" and e["response_id"] == rid
    ][:1]
    started, _ = _first(session, "output_audio_buffer.started", response_id=rid)  # type: ignore[misc]
    stopped, _ = _first(session, "output_audio_buffer.stopped", response_id=rid)  # type: ignore[misc]
    [done] = [s for s, e in _received(session) if e["type"] == "response.done" and e["response"]["id"] == rid]
    assert part < started < stopped and done < stopped, (part, started, done, stopped)


# --------------------------------------------------------------------------------------------------
# a. our client


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_our_client_holds_a_server_vad_turn(engine, dialect, first_turn_wav, validate):
    async with _session(engine, dialect) as s:
        assert s.transport_name == "webrtc"
        assert s.config is not None and s.config.turn_detection is not None  # the key's session applied
        if dialect == "ga":
            assert s.call_id is not None and s.call_id.startswith("rtc_")  # from the answer's Location
        sent = await asyncio.wait_for(s.stream_file(first_turn_wav), SLOW)
        assert sent.format == "opus" and sent.elapsed_s > 0.9 * sent.audio_ms / 1000  # real time
        _, done = await _expect(s, "response.done")
        rid = done["response"]["id"]
        assert done["response"]["status"] == "completed"
        await _expect(s, "output_audio_buffer.stopped", response_id=rid)
        await asyncio.sleep(0.3)  # the last frames are behind `stopped` by the receiver's jitter buffer
        types = {e["type"] for _, e in _received(s)}
        assert "response.output_audio.delta" not in types  # the audio came on the track
        assert "response.output_audio_transcript.delta" in types
        audio = s.log.response_audio(rid)
        assert audio.size > PCM_RATE // 2, f"only {audio.size / 24:.0f} ms of answer audio received"
        assert np.abs(audio.astype(np.int32)).max() > 1000
        [turn] = s.log.turns().to_dict("records")
        assert turn["response_id"] == rid
        assert turn["stop_to_first_audio_ms"] > 0 and np.isfinite(turn["t_first_audio"])
        _playback_order(s, rid)
        _check_wire_events(s, validate)
    frame = s.log.frame()
    assert "input_audio_buffer.append" not in set(frame["type"])  # the microphone is the track


# --------------------------------------------------------------------------------------------------
# b. a plain aiortc peer, signalling with httpx


class Microphone(MediaStreamTrack):  # type: ignore[misc]
    """20 ms frames at 48 kHz paced by the clock: what `play` queued, silence otherwise."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.queue = np.zeros(0, np.int16)
        self._start: float | None = None
        self._n = 0

    def play(self, pcm24: np.ndarray) -> float:
        self.queue = np.concatenate([self.queue, resample(pcm24, PCM_RATE, WIRE)])
        return self.queue.size / WIRE

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._n * FRAME / WIRE
        if due > time.monotonic():
            await asyncio.sleep(due - time.monotonic())
        chunk, self.queue = self.queue[:FRAME], self.queue[FRAME:]
        chunk = np.concatenate([chunk, np.zeros(FRAME - chunk.size, np.int16)])
        frame = AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = WIRE, self._n * FRAME, fractions.Fraction(1, WIRE)
        self._n += 1
        return frame


class PlainPeer:
    """A page's side of a call, in plain aiortc: mic track, ``oai-events`` channel, speaker recorder."""

    def __init__(self, dialect: Dialect, validate: Any) -> None:
        fit_sctp_to_small_mtu()  # our SCTP chunk fits 1280-byte paths (a page's does too)
        self.dialect = dialect
        self._validate = validate
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.mic = Microphone()
        self.pc.addTrack(self.mic)
        self.channel = self.pc.createDataChannel("oai-events")
        self.channel.on("message", self._on_message)
        self.events: list[dict[str, Any]] = []
        self.heard: list[tuple[float, int]] = []  # (arrival, peak) of every received frame
        self._tasks: list[asyncio.Task[Any]] = []
        self.pc.on("track", lambda track: self._tasks.append(asyncio.ensure_future(self._listen(track))))

    async def offer(self) -> str:
        with loopback_candidates_only():  # the engine is on this machine: ICE on 127.0.0.1 only
            await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    def _on_message(self, message: str | bytes) -> None:
        assert isinstance(message, str), "events are text messages"
        event = json.loads(message)
        self._validate(event, self.dialect)
        self.events.append(event)

    async def _listen(self, track: Any) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.heard.append((time.monotonic(), int(np.abs(frame.to_ndarray().astype(np.int32)).max())))

    def of(self, canonical: str) -> list[dict[str, Any]]:
        name = wire_type(canonical, self.dialect)
        return [e for e in self.events if e["type"] == name]

    async def expect(self, canonical: str, timeout: float = SLOW) -> dict[str, Any]:
        return (await _until(lambda: self.of(canonical), timeout, canonical))[0]

    def send(self, event: dict[str, Any]) -> None:
        self._validate(event, self.dialect, direction="client")
        self.channel.send(json.dumps(event))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.wait_for(self.pc.close(), 10)


@pytest.fixture
async def plain_peer(validate: Any) -> AsyncIterator[Callable[[Dialect], PlainPeer]]:
    made: list[PlainPeer] = []

    def make(dialect: Dialect) -> PlainPeer:
        made.append(PlainPeer(dialect, validate))
        return made[-1]

    yield make
    for peer in made:
        await peer.close()


def _vad_session(dialect: Dialect) -> dict[str, Any]:
    vad = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500}
    if dialect is Dialect.GA:
        return {"type": "realtime", "model": "gpt-realtime", "audio": {"input": {"turn_detection": vad}}}
    return {"model": "gpt-4o-realtime-preview", "turn_detection": vad}


async def _hold_a_turn(peer: PlainPeer, turns: samples.Sample) -> None:
    """session.created first; the first utterance on the mic track is answered on the speaker track."""
    created = await peer.expect("session.created")
    assert peer.events[0] is created
    t_spoken = time.monotonic() + peer.mic.play(turns.audio[: turns.segments[0].end + int(1.2 * PCM_RATE)])
    done = await peer.expect("response.done")
    assert done["response"]["status"] == "completed"
    rid = done["response"]["id"]
    started = await peer.expect("output_audio_buffer.started")
    stopped = await peer.expect("output_audio_buffer.stopped")
    assert started["response_id"] == stopped["response_id"] == rid
    await asyncio.sleep(0.3)
    loud = [t for t, peak in peer.heard if peak > 1000]
    assert loud and loud[-1] - loud[0] > 1.0, "no answer audio on the speaker track"
    assert loud[0] > t_spoken - 1.2, "the answer played before the turn ended"
    assert not peer.of("response.output_audio.delta")
    assert order_violations(peer.events, peer.dialect) == []


@pytest.mark.parametrize("dialect", [Dialect.GA, Dialect.PREVIEW])
async def test_a_plain_aiortc_peer_calls_with_an_ephemeral_key(engine, plain_peer, turns, dialect):
    peer = plain_peer(dialect)
    offer = await peer.offer()
    async with httpx.AsyncClient(base_url=engine.http_url, timeout=SLOW, trust_env=False) as http:
        if dialect is Dialect.GA:
            minted = await http.post(
                "/v1/realtime/client_secrets",
                json={
                    "expires_after": {"anchor": "created_at", "seconds": 60},
                    "session": _vad_session(dialect),
                },
            )
            assert minted.status_code == 200, minted.text
            key = minted.json()["value"]
            url = "/v1/realtime/calls"
        else:
            minted = await http.post("/v1/realtime/sessions", json=_vad_session(dialect))
            assert minted.status_code == 200, minted.text
            key = minted.json()["client_secret"]["value"]
            url = "/v1/realtime?model=gpt-4o-realtime-preview"
        assert key.startswith("ek_")
        answer = await http.post(
            url, content=offer, headers={"Authorization": f"Bearer {key}", "Content-Type": "application/sdp"}
        )
        assert answer.status_code == 201, answer.text
        assert answer.headers["content-type"].startswith("application/sdp")
        if dialect is Dialect.GA:
            assert answer.headers["location"].startswith("/v1/realtime/calls/rtc_")
        else:
            assert "location" not in answer.headers  # as on the services
        assert "127.0.0.1" in answer.text and "a=candidate" in answer.text
        await peer.answer(answer.text)
        await _hold_a_turn(peer, turns)
        created = peer.of("session.created")[0]["session"]
        td = (
            created["audio"]["input"]["turn_detection"]
            if dialect is Dialect.GA
            else created["turn_detection"]
        )
        assert td["silence_duration_ms"] == 500  # the key's session is the call's configuration


async def test_a_plain_aiortc_peer_calls_with_the_unified_form(engine, plain_peer, turns):
    peer = plain_peer(Dialect.GA)
    offer = await peer.offer()
    async with httpx.AsyncClient(base_url=engine.http_url, timeout=SLOW, trust_env=False) as http:
        files = {"sdp": (None, offer), "session": (None, json.dumps(_vad_session(Dialect.GA)))}
        answer = await http.post(
            "/v1/realtime/calls", files=files, headers={"Authorization": "Bearer sk-any"}
        )
        assert answer.status_code == 201, answer.text
        call_id = answer.headers["location"].rsplit("/", 1)[-1]
        await peer.answer(answer.text)
        await _hold_a_turn(peer, turns)
        assert engine.stats()["calls_calls"] == 1
        hung = await http.post(
            f"/v1/realtime/calls/{call_id}/hangup", headers={"Authorization": "Bearer sk-any"}
        )
        assert hung.status_code == 200, hung.text
    await _until(lambda: engine.stats()["calls_calls"] == 0, 20, "the call to end")


# --------------------------------------------------------------------------------------------------
# c. barge-in over WebRTC with our client

FRAME_24 = 480  # 20 ms at 24 kHz
AUDIBLE = 300  # a peak well above Opus's decoding noise around digital silence (a few units)
BLOCK = 2400  # 100 ms at 24 kHz


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x.astype(np.float64))))) if x.size else 0.0


def _best_match(needle: np.ndarray, haystack: np.ndarray) -> tuple[int, float]:
    """Offset of the best normalized cross-correlation of ``needle`` in ``haystack``, and its value."""
    if haystack.size < needle.size:
        return 0, 0.0
    x, y = haystack.astype(np.float64), needle.astype(np.float64)
    n = 1 << (x.size + y.size).bit_length()
    corr = np.fft.irfft(np.fft.rfft(x, n) * np.conj(np.fft.rfft(y, n)), n)[: x.size - y.size + 1]
    energy = np.concatenate([[0.0], np.cumsum(x * x)])
    norm = np.sqrt(np.maximum(energy[y.size :] - energy[: x.size - y.size + 1], 1e-9)) * (
        np.linalg.norm(y) + 1e-9
    )
    at = int(np.argmax(corr / norm))
    return at, float((corr / norm)[at])


def _through_opus(pcm24: np.ndarray) -> np.ndarray:
    """``pcm24`` through what the call does to it, offline: the engine's 48 kHz frames and Opus
    encoder, aiortc's decoder, the client's 24 kHz frames. Opus keeps the waveform of voiced speech
    but only the spectral envelope of noise-like sounds (fricatives): there even a perfect path
    matches the original at a normalized correlation of ~0.75, so each block is judged against this."""
    from aiortc.codecs.opus import OpusDecoder
    from aiortc.jitterbuffer import JitterFrame

    from realtime_nb.client.rtc_media import FrameDownsampler, frame_to_mono
    from realtime_nb.engine.rtc_media import OpusPackets, WireFrames

    wire, encoder, decoder = WireFrames(), OpusPackets(), OpusDecoder()
    x = np.concatenate([pcm24, np.zeros(10 * FRAME_24 - pcm24.size % FRAME_24, np.int16)])
    decoded = []
    for i, lo in enumerate(range(0, x.size, FRAME_24)):
        packet = encoder.encode(wire.push(x[lo : lo + FRAME_24]), i * FRAME)
        decoded += [frame_to_mono(f) for f in decoder.decode(JitterFrame(bytes(packet), i * FRAME))]
    down = FrameDownsampler()
    parts = down.feed(np.concatenate(decoded), None) + down.flush()
    return np.concatenate([pcm for _, pcm in parts])


def _received_track(session: RealtimeSession, rid: str) -> np.ndarray:
    """The track audio the client recorded for ``rid`` or for no response, in arrival order."""
    received = session.log._rec.track.received  # the log's received chunks (no public accessor yet)
    keep = [i for i in range(len(received)) if received.keys[received.key[i]] in (rid, None)]
    return np.concatenate([received.samples(i) for i in keep])


def _locate_in_order(sent: np.ndarray, heard: np.ndarray) -> int:
    """Find each audible 100 ms block of ``sent`` in ``heard``, in order (silence may have been
    inserted between blocks: an underrun is not item audio), each as similar as Opus itself leaves it
    (`_through_opus`, less 0.1); return where the end of ``sent`` lies in ``heard``. A lost frame
    fails: the blocks after it are no longer where the search for them starts."""
    coded = _through_opus(sent)
    pos, end_sent, end_heard, found = 0, 0, 0, False
    # The receiver drops a response's leading quiet frames (rtc_media): start a frame past the first
    # audible sample, so no block straddles audio the client was right not to keep.
    first = int(np.flatnonzero(np.abs(sent.astype(np.int32)) > AUDIBLE)[0])
    for lo in range((first // FRAME_24 + 1) * FRAME_24, sent.size - BLOCK // 2, BLOCK):
        piece = sent[lo : lo + BLOCK]
        if _rms(piece) < 300:
            continue  # a pause of the reply itself: nothing to locate
        _, codec_best = _best_match(piece, coded[lo : lo + BLOCK + 2 * FRAME_24])
        window = heard[pos : (heard.size if not found else pos + 3 * PCM_RATE) + piece.size]
        if 0 < piece.size - window.size <= FRAME_24:
            # The last block at the truncation point: the codec and resamplers delay the content a few
            # ms, so its final samples ride in the next frame, which is silence after the cut and which
            # the receiver rightly drops. Up to one 20 ms frame short is the tolerance; more fails.
            piece = piece[: window.size]
        at, similarity = _best_match(piece, window)
        assert similarity > codec_best - 0.1, (
            f"sent audio at {lo / PCM_RATE:.2f} s was not received in order "
            f"({similarity:.2f}; Opus alone leaves {codec_best:.2f})"
        )
        pos = pos + at + piece.size
        end_sent, end_heard, found = lo + piece.size, pos, True
    assert found, "nothing audible was sent"
    return end_heard + (sent.size - end_sent)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_barge_in_clears_the_buffer_and_truncates_the_item(
    engine, dialect, first_turn_wav, turns, validate
):
    async with _session(engine, dialect) as s:
        await asyncio.wait_for(s.stream_file(first_turn_wav), SLOW)
        _, started = await _expect(s, "output_audio_buffer.started")
        rid = started["response_id"]
        await asyncio.sleep(1.2)  # let the answer play a while
        second = turns.segments[1]
        await s.append_audio(turns.audio[second.start - PCM_RATE // 10 : second.start + PCM_RATE], PCM_RATE)
        cleared_seq, _ = await _expect(s, "output_audio_buffer.cleared", response_id=rid)
        truncated_seq, truncated = await _expect(s, "conversation.item.truncated")
        assert cleared_seq < truncated_seq
        assert _first(s, "output_audio_buffer.stopped", response_id=rid) is None
        await asyncio.sleep(1.0)  # frames pulled before the clear are still in flight (jitter buffer)
        end_ms = truncated["audio_end_ms"]
        # what the engine sent of the item (it returns assistant audio on retrieve, unlike the services)
        item = await s.retrieve(truncated["item_id"])
        assert item["audio_pcm"].size == end_ms * PCM_RATE // 1000
        sent = item["audio_pcm"]
        heard = _received_track(s, rid)
        # The engine's copy is what left on the track. The client's copy holds the same audio plus
        # any silence the track sent while synthesis lagged: locate the copy in order, block by block.
        end = _locate_in_order(sent, heard)
        assert end <= heard.size + FRAME_24, "the end of the item's audio never reached the client"
        # Past that point the client received nothing audible of the reply, save one 20 ms frame
        # (Opus's 6.5 ms look-ahead and the resamplers' ~1 ms each smear a cut across a frame edge):
        # the truncation point is the audio the client received, within one frame.
        after = heard[end:]
        frames = after[: after.size // FRAME_24 * FRAME_24].reshape(-1, FRAME_24)
        loud = np.flatnonzero(np.abs(frames.astype(np.int32)).max(axis=1) > AUDIBLE) if frames.size else []
        extra_ms = (int(loud[-1]) + 1) * FRAME_MS if len(loud) else 0
        assert extra_ms <= FRAME_MS, (extra_ms, end_ms)
        # the interrupting turn gets its own answer, which plays out and stops under its own id
        _, next_done = await _expect(s, "response.done", timeout=SLOW)
        if next_done["response"]["id"] == rid:
            next_done = (
                await _until(
                    lambda: [
                        e
                        for _, e in _received(s)
                        if e["type"] == "response.done" and e["response"]["id"] != rid
                    ],
                    SLOW,
                    "the next response",
                )
            )[0]
        await _expect(s, "output_audio_buffer.stopped", response_id=next_done["response"]["id"])
        _check_wire_events(s, validate)


# --------------------------------------------------------------------------------------------------
# d. hangup frees the call; a sideband session sees its events


async def test_hangup_frees_the_call_and_a_sideband_sees_its_events(engine, first_turn_wav, validate):
    # A preview call of an earlier test has no id to hang up (as on the services): it ends when its
    # peer connection closes, which the engine learns a moment after the client left.
    await _until(lambda: engine.stats()["calls_calls"] == 0, 20, "earlier calls to end")
    s = _session(engine, "ga")
    await s.connect()
    try:
        assert engine.stats()["calls_calls"] == 1
        # an open call keeps the engine busy: wait_idle (what stopping and the tests wait on) waits
        assert not await asyncio.to_thread(engine.wait_idle, 0.3)
        side = RealtimeSession(Endpoint.local(engine.url).sideband(s.call_id), timeout=SLOW)
        async with side:
            assert side.call_id == s.call_id and side.transport_name == "websocket"
            config = await side.update_session(instructions="Answer from the sideband.")
            assert config.instructions == "Answer from the sideband."
            await _expect(s, "session.updated")  # the call's own channel sees the sideband's update
            await asyncio.wait_for(s.stream_file(first_turn_wav), SLOW)
            await _expect(side, "response.done")  # ... and the sideband sees the call's turn
            await _expect(s, "response.done")
            side_types = [e["type"] for _, e in _received(side)]
            assert "input_audio_buffer.speech_started" in side_types
            for seq in side.log.frame().query("direction == 'received'")["seq"]:
                validate(side.log.event_json(int(seq)), Dialect.GA)
    finally:
        await s.hangup()
    assert s.closed
    await _until(lambda: engine.stats()["calls_calls"] == 0, 20, "the call to be freed")
    stats = engine.stats()
    assert stats["calls_peer_connections"] == 0 and stats["calls_tasks"] == 0, stats
    assert await asyncio.to_thread(engine.wait_idle, 20.0)  # ... and its end wakes the waiter
