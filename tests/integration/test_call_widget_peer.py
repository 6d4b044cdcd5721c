"""The kernel side of the `Call` widget, proven without a browser: the page is played by a real
aiortc peer driven from Python that speaks the widget's comm protocol (``call_messages``), against the
real engine over loopback WebRTC.

The comm is replaced by a fake (messages go through the real ipywidgets dispatch with memoryview
buffers; what the kernel publishes is captured), so everything between the comm and the engine is
the real thing: the kernel's SDP exchange (unified form with the engine's token), the CallSession
over the page transport, the clock reconciliation, the taps, the hangup. The fake page's clock is
``time.monotonic()`` shifted by a known offset, so the reconciled offset can be checked exactly.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

import comm
import numpy as np
import pytest
from comm.base_comm import BaseComm

pytest.importorskip("aiortc")

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from realtime_nb import samples
from realtime_nb._rtc_loopback import fit_sctp_to_small_mtu, loopback_candidates_only
from realtime_nb.audio import resample
from realtime_nb.client import Endpoint
from realtime_nb.client.rtc_media import frame_to_mono
from realtime_nb.protocol import PCM_RATE, ServerVad, SessionConfig
from realtime_nb.widgets import Call, CallFailed, WaveformCompare

TOKEN = "tok-call-" + "0123456789abcdef"
PAGE_OFFSET_MS = 123_456.789  # the fake page's clock runs this far ahead of the kernel's
SLOW = 90.0
WIRE, FRAME = 48000, 960
VAD = ServerVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500)


def page_now() -> float:
    return time.monotonic() * 1000 + PAGE_OFFSET_MS


class FakeComm(BaseComm):
    """The comm: what the kernel publishes is recorded and handed to the page; the page's messages
    enter through the real dispatch."""

    def __init__(self, **kwargs: Any) -> None:
        self.published: list[tuple[str, Any, list]] = []
        self.page: FakePage | None = None
        super().__init__(**kwargs)

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None,
                    **keys: Any) -> None:
        self.published.append((msg_type, data, list(buffers or [])))
        if data and data.get("method") == "custom" and self.page is not None:
            self.page.on_kernel(data["content"])

    def deliver(self, content: dict, buffers: list | None = None) -> None:
        data = {"method": "custom", "content": content}
        views = [memoryview(b) for b in buffers or []]
        self.handle_msg({"content": {"comm_id": self.comm_id, "data": data}, "buffers": views})


@pytest.fixture(autouse=True)
def fake_comm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(comm, "create_comm", lambda **kw: FakeComm(**kw))


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    from realtime_nb.engine import start_engine

    with start_engine(token=TOKEN) as running:
        assert running.wait_ready(SLOW)
        yield running


@pytest.fixture(scope="module")
def turn() -> np.ndarray:
    s = samples.load("turns")
    return s.audio[: s.segments[0].end + int(1.5 * s.rate)]  # the first utterance, then silence


class Microphone(MediaStreamTrack):  # type: ignore[misc]
    """The page's microphone: 20 ms frames at 48 kHz paced by the clock; `tap` gets the 24 kHz
    samples of each frame sent (what the page's AudioWorklet tap forwards)."""

    kind = "audio"

    def __init__(self, tap: Callable[[np.ndarray], None]) -> None:
        super().__init__()
        self.q48 = np.zeros(0, np.int16)
        self.q24 = np.zeros(0, np.int16)
        self.tap = tap
        self._start: float | None = None
        self._n = 0

    def play(self, pcm24: np.ndarray) -> None:
        self.q48 = np.concatenate([self.q48, resample(pcm24, PCM_RATE, WIRE)])
        self.q24 = np.concatenate([self.q24, pcm24])

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._n * FRAME / WIRE
        if due > time.monotonic():
            await asyncio.sleep(due - time.monotonic())
        chunk, self.q48 = self.q48[:FRAME], self.q48[FRAME:]
        chunk = np.concatenate([chunk, np.zeros(FRAME - chunk.size, np.int16)])
        c24, self.q24 = self.q24[: FRAME // 2], self.q24[FRAME // 2 :]
        self.tap(np.concatenate([c24, np.zeros(FRAME // 2 - c24.size, np.int16)]))
        frame = AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = WIRE, self._n * FRAME, Fraction(1, WIRE)
        self._n += 1
        return frame


class FakePage:
    """call.js played by aiortc: hello, start, offer, answer, data channel, taps, pongs, hangup."""

    def __init__(self, call: Call, *, answer_pings: bool = True) -> None:
        self.call = call
        self.comm: FakeComm = call.widget.comm
        self.comm.page = self
        self.view = "view-a"
        self.answer_pings = answer_pings
        self.pc: RTCPeerConnection | None = None
        self.dc: Any = None
        self.mic = Microphone(self._tap)
        self.connected = False
        self.gone = False
        self.tx_seq = 0
        self.received: list[str] = []
        self.tasks: set[asyncio.Task[Any]] = set()

    def send(self, msg: dict[str, Any], buffers: list | None = None) -> None:
        if self.gone:
            return
        self.comm.deliver({**msg, "t_page": page_now()}, buffers)

    def on_kernel(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "ping" and self.answer_pings:
            self.comm.deliver({"type": "pong", "id": msg["id"], "t_page": page_now()})
        elif kind == "answer":
            self._spawn(self._answer(msg["sdp"]))
        elif kind == "send" and self.dc is not None and self.dc.readyState == "open":
            self.dc.send(msg["data"])
        elif kind in ("hangup", "fail") and self.pc is not None:
            self._spawn(self.pc.close())
        elif kind == "start" and msg.get("view") == self.view:
            self._spawn(self._start())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def hello(self) -> None:
        self.send({"type": "hello", "view": self.view})

    def click_call(self) -> None:
        self.send({"type": "start", "view": self.view})
        self._spawn(self._start())

    async def _start(self) -> None:
        fit_sctp_to_small_mtu()
        pc = self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTrack(self.mic)
        self.dc = pc.createDataChannel("oai-events")
        self.dc.on("open", lambda: self.send({"type": "open"}))
        self.dc.on("message", self._on_dc)
        pc.on("track", lambda track: self._spawn(self._play(track)))
        pc.on("connectionstatechange", self._on_state)
        with loopback_candidates_only():
            await pc.setLocalDescription(await pc.createOffer())
        self.send({"type": "offer", "sdp": pc.localDescription.sdp})

    async def _answer(self, sdp: str) -> None:
        assert self.pc is not None
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    def _on_state(self) -> None:
        assert self.pc is not None
        state = self.pc.connectionState
        self.connected = self.connected or state == "connected"
        self.send({"type": "connection", "state": state, "ice": self.pc.iceConnectionState,
                   "reached": self.connected})

    def _on_dc(self, message: str) -> None:
        self.received.append(message)
        self.send({"type": "dc", "data": message})

    def _tap(self, pcm24: np.ndarray) -> None:
        if self.connected:
            self.send({"type": "tx", "seq": self.tx_seq, "t_capture": page_now(), "rate": PCM_RATE,
                       "level": 0.0}, [pcm24.tobytes()])
            self.tx_seq += 1

    async def _play(self, track: Any) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            pcm = frame_to_mono(frame)
            for i in range(0, pcm.size - FRAME + 1, FRAME):
                self.send({"type": "rx"}, [pcm[i : i + FRAME].tobytes()])

    def close_tab(self) -> None:
        """The tab goes away: no message at all any more, the peer connection dies with it."""
        self.answer_pings = False
        self.gone = True
        self.comm.page = None
        if self.pc is not None:
            self._spawn(self.pc.close())


async def until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.05)
    return value


def received_of(call: Call, kind: str) -> list[dict[str, Any]]:
    frame = call.log.frame()
    rows = frame[(frame["direction"] == "received") & (frame["type"] == kind)]
    return [call.log.canonical_event(int(s)) for s in rows["seq"]]


def calls_open(engine: Any) -> int:
    return engine.stats().get("calls_calls", 0)


def new_call(engine: Any, **kw: Any) -> tuple[Call, FakePage]:
    call = Call(Endpoint.local(engine.url, token=TOKEN), config=SessionConfig(turn_detection=VAD),
                timeout=SLOW, **kw)
    page = FakePage(call)
    page.hello()
    return call, page


async def test_a_page_call_connects_records_a_turn_and_hangs_up(engine, turn):
    call, page = new_call(engine)
    page.click_call()
    session = await call.connected(timeout=SLOW)
    assert call.state == "connected" and calls_open(engine) == 1
    # the clock: the page runs PAGE_OFFSET_MS ahead; the estimate holds it within its own bound
    stats = call.stats()
    assert stats["clock_samples"] >= 5
    assert abs(stats["clock_offset_ms"] - PAGE_OFFSET_MS) <= stats["clock_uncertainty_ms"] + 0.5
    assert stats["clock_uncertainty_ms"] < 20

    # the kernel steers: session.update goes down the page's data channel and comes back updated
    updated = await session.update_session(instructions="Answer in one short sentence.")
    assert updated.instructions == "Answer in one short sentence."
    to_page = [d["content"] for t, d, _ in page.comm.published
               if t == "comm_msg" and d.get("method") == "custom"]
    assert any('"session.update"' in m.get("data", "") for m in to_page if m["type"] == "send")

    page.mic.play(turn)
    done = await until(lambda: received_of(call, "response.done"), SLOW, "response.done")
    rid = done[0]["response"]["id"]
    await until(lambda: [e for e in received_of(call, "output_audio_buffer.stopped")
                         if e["response_id"] == rid], SLOW, "output_audio_buffer.stopped")
    [started] = received_of(call, "input_audio_buffer.speech_started")[:1]
    item_id = started["item_id"]
    assert call.sent_audio(item_id).size > PCM_RATE // 2  # the tap, over the item's span

    # every data-channel event the page saw is in the kernel's log, in the same order
    frame = call.log.frame()
    got = frame[(frame["direction"] == "received") & (frame["family"] != "problem")]
    assert [json.loads(m)["type"] for m in page.received] == [
        call.log.event_json(int(s))["type"] for s in got["seq"]]
    assert call.log.check_order() == []

    # the played-audio tap reaches the log, attributed to the response
    await asyncio.sleep(0.5)
    assert call.log.response_audio(rid).size > PCM_RATE // 4
    [row] = call.log.turns().to_dict("records")
    assert row["response_id"] == rid and row["stop_to_first_audio_ms"] > 0

    # the tap against the service's processed copy: measured alignment of the two audio clocks
    alignment = await call.measure_alignment(item_id)
    assert alignment["correlation"] > 0.5, alignment
    assert abs(alignment["lag_ms"]) < 60, alignment
    print("clock", stats, "alignment", alignment)
    compare = WaveformCompare(session, item_id)  # sent (the page's tap) vs retrieved, as on a WebSocket
    assert compare is not None

    task = call.hangup()
    assert task is not None
    await task
    assert call.state == "closed"
    await until(lambda: calls_open(engine) == 0, 10, "the engine's call to end")
    assert len(call.log) == len(frame) or len(call.log) >= len(got)  # the log stays
    assert session.closed


async def test_no_key_reaches_the_page(engine):
    call, page = new_call(engine)
    page.click_call()
    await call.connected(timeout=SLOW)
    await call.session.create_response()
    await until(lambda: received_of(call, "response.done"), SLOW, "response.done")
    await call.hangup()
    text = json.dumps([(t, d) for t, d, _ in page.comm.published], default=str)
    assert TOKEN not in text and "Bearer" not in text
    assert "ek_" not in text  # no ephemeral key either (GA: the unified form mints none)
    assert all(TOKEN.encode() not in bytes(b) for _, _, bufs in page.comm.published for b in bufs)
    state = json.dumps(call.widget.get_state(), default=str)
    assert TOKEN not in state
    assert any(t == "comm_msg" and d.get("method") == "custom" and d["content"].get("type") == "answer"
               for t, d, _ in page.comm.published)  # the traffic checked did include the exchange
    await until(lambda: calls_open(engine) == 0, 10, "the engine's call to end")


async def test_a_second_call_on_a_running_widget_is_refused(engine):
    call, page = new_call(engine)
    page.click_call()
    await call.connected(timeout=SLOW)
    page.send({"type": "start", "view": "view-b"})  # a second view presses Call
    refused = [d["content"] for t, d, _ in page.comm.published
               if t == "comm_msg" and d.get("method") == "custom" and d["content"].get("type") == "refused"]
    assert refused and refused[-1]["view"] == "view-b" and call.notices
    with pytest.raises(RuntimeError, match="already has a call"):
        call.start()
    assert call.state == "connected" and calls_open(engine) == 1
    await call.hangup()
    await until(lambda: calls_open(engine) == 0, 10, "the engine's call to end")


async def test_a_closed_tab_fails_the_call_and_ends_it_on_the_engine(engine, monkeypatch):
    from realtime_nb.widgets import call as call_module

    monkeypatch.setattr(call_module, "PAGE_SILENT_S", 1.5)
    monkeypatch.setattr(call_module, "PING_EVERY_S", 0.5)
    call, page = new_call(engine)
    page.click_call()
    await call.connected(timeout=SLOW)
    before = len(call.log)
    page.close_tab()
    await until(lambda: call.state == "failed", 10, "the call to fail")
    assert "page" in call.error and "Suggestion" in call.error
    with pytest.raises(CallFailed) as failed:
        call.raise_for_failure()
    assert failed.value.kind == "page_closed"
    await until(lambda: calls_open(engine) == 0, 15, "the engine's call to end")
    assert len(call.log) >= before  # the record stays
    assert call.session.closed


async def test_a_refused_exchange_fails_within_seconds(engine):
    call = Call(Endpoint.local(engine.url, token="wrong-" + "token"), timeout=SLOW)
    page = FakePage(call)
    page.hello()
    t0 = time.monotonic()
    page.click_call()
    with pytest.raises(CallFailed) as failed:
        await call.connected(timeout=SLOW)
    assert time.monotonic() - t0 < 10
    assert failed.value.kind == "signalling" and "401" in str(failed.value)
    assert call.state == "failed" and "Suggestion" in call.error
    assert "wrong-token" not in call.error
    await until(lambda: calls_open(engine) == 0, 10, "no call left on the engine")


async def test_a_preview_call_is_placed_with_a_key_the_kernel_mints_and_keeps(engine):
    call = Call(Endpoint.local(engine.url, dialect="preview", token=TOKEN), timeout=SLOW)
    page = FakePage(call)
    page.hello()
    page.click_call()
    session = await call.connected(timeout=SLOW)
    assert session.flow == "ephemeral" and session.dialect.value == "preview"
    assert received_of(call, "session.created")
    await call.hangup()
    text = json.dumps([(t, d) for t, d, _ in page.comm.published], default=str)
    assert TOKEN not in text and "ek_" not in text and "client_secret" not in text
    await until(lambda: calls_open(engine) == 0, 10, "the engine's call to end")
