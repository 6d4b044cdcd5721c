"""Kernel side of ``Mic`` and ``Player`` driven by a fake front end.

The fake replaces only the comm (what the browser would be): messages go in through the real
ipywidgets dispatch (``comm.handle_msg`` with the Jupyter message shape and memoryview buffers), and
what the widget sends is captured. The Realtime session is a recording stand-in.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import comm
import numpy as np
import pytest
import traitlets
from comm.base_comm import BaseComm

from realtime_nb.widgets import PCM_RATE, Mic, MicError, Player
from realtime_nb.widgets import mic as mic_module


class FakeFrontEnd(BaseComm):
    """A comm whose far end is this test: records what the kernel publishes, delivers page messages."""

    def __init__(self, **kwargs: Any) -> None:
        self.published: list[tuple[str, dict, list]] = []
        self.responder: Callable[[dict], None] | None = None
        super().__init__(**kwargs)

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None,
                    **keys: Any) -> None:
        self.published.append((msg_type, data or {}, list(buffers or [])))
        if data and data.get("method") == "custom" and self.responder is not None:
            self.responder(data["content"])

    def custom(self, kind: str | None = None) -> list[tuple[dict, list]]:
        out = [(d["content"], b) for t, d, b in self.published
               if t == "comm_msg" and d.get("method") == "custom"]
        return [m for m in out if kind is None or m[0].get("type") == kind]

    def deliver(self, content: dict, buffers: list | None = None) -> None:
        data = {"method": "custom", "content": content}
        self.handle_msg({"content": {"comm_id": self.comm_id, "data": data}, "buffers": buffers or []})


@pytest.fixture(autouse=True)
def fake_front_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(comm, "create_comm", lambda **kw: FakeFrontEnd(**kw))


def _fe(widget: Any) -> FakeFrontEnd:
    assert isinstance(widget.comm, FakeFrontEnd)
    return widget.comm


def _pcm(n: int, start: int = 0) -> np.ndarray:
    return ((np.arange(start, start + n) * 37) % 20000 - 10000).astype(np.int16)


def _send_chunk(mic: Mic, seq: int, samples: np.ndarray, t: float = 1000.0) -> None:
    _fe(mic).deliver({"type": "chunk", "seq": seq, "t_capture": t, "rate": PCM_RATE, "level": 0.2},
                     [memoryview(samples.tobytes())])


class RecordingSession:
    """Stand-in Realtime session: records calls; ``log.sent_audio`` mirrors what was appended."""

    def __init__(self, with_log: bool = True) -> None:
        self.calls: list[tuple] = []
        self.appended: list[np.ndarray] = []
        self.handlers: dict[str, list] = {}
        if with_log:
            self.log = type("Log", (), {"sent_audio": lambda _self: np.concatenate(self.appended)})()

    async def append_audio(self, samples: np.ndarray, rate: int) -> None:
        await asyncio.sleep(0)
        self.appended.append(samples)
        self.calls.append(("append", len(samples), rate))

    async def commit(self) -> None:
        self.calls.append(("commit",))

    async def create_response(self) -> None:
        self.calls.append(("response",))

    async def truncate(self, item_id: str, content_index: int = 0, audio_end_ms: int = 0) -> None:
        self.calls.append(("truncate", item_id, content_index, audio_end_ms))

    active_response_id: str | None = None

    async def cancel_response(self) -> None:
        self.calls.append(("cancel", self.active_response_id))
        self.active_response_id = None

    def on(self, kind: str, cb: Callable[[dict], Any]) -> None:
        self.handlers.setdefault(kind, []).append(cb)

    def emit(self, event: dict) -> None:
        for cb in self.handlers.get(event["type"], []):
            cb(event)


# ----------------------------------------------------------------------------------------------- Mic
def test_mic_counts_and_records_chunks_without_a_session() -> None:
    mic = Mic(record_seconds=1.0)
    chunks = [_pcm(960, 960 * i) for i in range(3)]
    for i, c in enumerate(chunks):
        _send_chunk(mic, i, c)
    assert (mic.chunks_received, mic.ms_received, mic.dropped) == (3, 120.0, 0)
    np.testing.assert_array_equal(mic.recorded(), np.concatenate(chunks))


def test_mic_fills_lost_chunks_with_silence_and_counts_them() -> None:
    mic = Mic()
    _send_chunk(mic, 0, _pcm(480))
    _send_chunk(mic, 3, _pcm(480, 5))  # 1 and 2 never arrived
    rec = mic.recorded()
    assert mic.dropped == 2 and mic.stats()["dropped"] == 2
    assert len(rec) == 4 * 480
    assert not rec[480:1440].any()
    np.testing.assert_array_equal(rec[1440:], _pcm(480, 5))


def test_a_new_capture_counts_from_its_own_first_chunk_whenever_started_arrives() -> None:
    mic = Mic()
    fe = _fe(mic)
    started = {"type": "started", "context_rate": 48000, "rate": 24000, "chunk_samples": 480}
    for seq in range(3):  # a first capture
        _send_chunk(mic, seq, _pcm(480))
    fe.deliver(started)  # a second one, announced before its chunks ...
    for seq in range(2):
        _send_chunk(mic, seq, _pcm(480))
    _send_chunk(mic, 0, _pcm(480))  # ... and a third whose chunk 0 overtook its announcement
    fe.deliver(started)
    _send_chunk(mic, 1, _pcm(480))
    assert (mic.dropped, mic.stats()["late"], mic.chunks_received) == (0, 0, 7)


def test_mic_recording_is_bounded() -> None:
    mic = Mic(record_seconds=0.1)  # 2400 samples
    for i in range(5):
        _send_chunk(mic, i, _pcm(960, 960 * i))
    assert len(mic.recorded()) == 2400
    np.testing.assert_array_equal(mic.recorded(), _pcm(2400, 5 * 960 - 2400))


def test_mic_measures_latency_with_the_ping_clock() -> None:
    mic = Mic()
    fe = _fe(mic)
    offset = 70_000.0  # page clock = kernel clock + offset
    mic_module.handle_msg(mic, {"type": "started", "context_rate": 48000}, None, 0.0)
    for _ in range(30):
        pings = fe.custom("ping")
        ping = pings[-1][0]
        if ping["id"] not in mic._pending_pings:
            break
        sent = mic._pending_pings[ping["id"]]
        # the page answers 1 ms after the ping left; the answer takes 1 ms back
        pong = {"type": "pong", "id": ping["id"], "t_page": sent + 1.0 + offset}
        mic_module.handle_msg(mic, pong, None, sent + 2.0)
    assert mic.stats()["clock_samples"] == 12  # stops pinging after enough samples
    assert len(fe.custom("ping")) == 12
    assert mic.stats()["clock_uncertainty_ms"] == pytest.approx(1.0)
    pcm = memoryview(_pcm(960).tobytes())
    for seq, (captured_k, received_k) in enumerate([(100.0, 104.0), (140.0, 147.0), (180.0, 182.0)]):
        msg = {"type": "chunk", "seq": seq, "t_capture": captured_k + offset, "rate": PCM_RATE}
        mic_module.handle_msg(mic, msg, [pcm], received_k)
    np.testing.assert_allclose(mic.latencies_ms(), [4.0, 7.0, 2.0])
    np.testing.assert_allclose(mic.latencies_ms(offset_ms=offset + 1.5), [5.5, 8.5, 3.5])
    assert mic.stats()["latency_ms"]["median"] == pytest.approx(4.0)
    assert mic.capture_info["context_rate"] == 48000


async def test_open_mic_appends_every_chunk_to_the_session_in_order() -> None:
    session = RecordingSession()
    mic = Mic(session)
    chunks = [_pcm(960, 960 * i) for i in range(5)]
    for i, c in enumerate(chunks):
        _send_chunk(mic, i, c)
    await mic.flush()
    assert session.calls == [("append", 960, PCM_RATE)] * 5
    np.testing.assert_array_equal(mic.recorded(), np.concatenate(chunks))  # from the session's log
    assert mic._recorder.total_samples == 0  # no second copy kept in the widget


async def test_push_to_talk_appends_while_held_then_commits_and_asks_for_a_response() -> None:
    session = RecordingSession()
    mic = Mic(session, mode="push_to_talk")
    fe = _fe(mic)
    _send_chunk(mic, 0, _pcm(480))  # in flight before the button went down: not sent
    fe.deliver({"type": "ptt", "down": True})
    _send_chunk(mic, 1, _pcm(480))
    _send_chunk(mic, 2, _pcm(200))  # the partial chunk flushed at release
    fe.deliver({"type": "ptt", "down": False})
    _send_chunk(mic, 3, _pcm(480))  # after release: not sent
    await mic.flush()
    assert session.calls == [("append", 480, PCM_RATE), ("append", 200, PCM_RATE), ("commit",), ("response",)]
    assert mic.turns_committed == 1
    assert mic.chunks_received == 4


async def test_a_push_to_talk_press_cancels_a_running_answer_first() -> None:
    session = RecordingSession()
    mic = Mic(session, mode="push_to_talk")
    fe = _fe(mic)
    fe.deliver({"type": "ptt", "down": True})  # nothing running: nothing to cancel
    fe.deliver({"type": "ptt", "down": False})
    await mic.flush()
    session.active_response_id = "resp_1"  # the answer to that turn is playing
    fe.deliver({"type": "ptt", "down": True})
    _send_chunk(mic, 0, _pcm(480))
    fe.deliver({"type": "ptt", "down": False})
    await mic.flush()
    first_turn, second_turn = session.calls[:2], session.calls[2:]
    assert first_turn == [("commit",), ("response",)]
    assert second_turn == [("cancel", "resp_1"), ("append", 480, PCM_RATE), ("commit",), ("response",)]


async def test_mic_without_session_log_keeps_a_bounded_copy() -> None:
    session = RecordingSession(with_log=False)
    mic = Mic(session, record_seconds=1.0)
    _send_chunk(mic, 0, _pcm(960))
    await mic.flush()
    np.testing.assert_array_equal(mic.recorded(), _pcm(960))


def test_browser_error_is_raised_once_on_the_next_call() -> None:
    mic = Mic()
    _fe(mic).deliver({"type": "error", "name": "NotAllowedError", "message": "microphone permission denied"})
    with pytest.raises(MicError, match="NotAllowedError: microphone permission denied") as info:
        mic.stats()
    assert info.value.name == "NotAllowedError"
    assert mic.stats()["chunks_received"] == 0  # consumed: the widget keeps working


def test_on_chunk_callbacks_get_samples_and_their_errors_are_kept() -> None:
    mic = Mic()
    seen: list[tuple[int, int]] = []

    @mic.on_chunk
    def _first(samples: np.ndarray, chunk: Any) -> None:
        seen.append((chunk.seq, len(samples)))

    mic.on_chunk(lambda samples, chunk: 1 / 0)
    _send_chunk(mic, 0, _pcm(960))
    _send_chunk(mic, 1, _pcm(960))
    assert seen == [(0, 960), (1, 960)]
    assert [type(e) for e in mic.callback_errors] == [ZeroDivisionError] * 2
    with pytest.raises(TypeError, match="callable"):
        mic.on_chunk("nope")  # type: ignore[arg-type]


def test_bad_front_end_messages_are_rejected_and_lose_nothing() -> None:
    mic = Mic()
    _send_chunk(mic, 0, _pcm(960))
    with pytest.raises(ValueError, match="odd number of bytes"):
        mic_module.handle_msg(mic, {"type": "chunk", "seq": 1, "t_capture": 1.0, "rate": PCM_RATE},
                              [memoryview(b"\x00\x01\x02")], 0.0)
    with pytest.raises(ValueError, match="unknown Mic front-end message type 'bogus'"):
        mic_module.handle_msg(mic, {"type": "bogus"}, None, 0.0)
    with pytest.raises(ValueError, match="must be a dict"):
        mic_module.handle_msg(mic, ["chunk"], None, 0.0)
    assert mic.chunks_received == 1
    np.testing.assert_array_equal(mic.recorded(), _pcm(960))


def test_mic_traits_are_validated() -> None:
    with pytest.raises(traitlets.TraitError, match="mode must be one of"):
        Mic(mode="walkie-talkie")
    mic = Mic()
    with pytest.raises(traitlets.TraitError, match="between 20 and 40"):
        mic.chunk_ms = 100
    with pytest.raises(ValueError, match="record_seconds"):
        Mic(record_seconds=0)


# -------------------------------------------------------------------------------------------- Player
def test_player_feed_sends_the_exact_pcm_as_a_binary_buffer() -> None:
    player = Player()
    pcm = _pcm(2400)
    player.feed("item_a", pcm)
    player.feed("item_a", pcm[:240].tobytes())
    (msg1, bufs1), (msg2, bufs2) = _fe(player).custom("audio")
    assert msg1 == {"type": "audio", "item": "item_a", "seq": 0} and msg2["seq"] == 1
    assert bytes(bufs1[0]) == pcm.astype("<i2").tobytes()
    assert len(bytes(bufs2[0])) == 480
    assert player.received_ms_of("item_a") == pytest.approx(110.0)
    assert player.received_ms == pytest.approx(110.0)


@pytest.mark.parametrize(
    ("item", "pcm", "problem"),
    [("", np.zeros(10, np.int16), "item_id"), ("i", np.zeros(10, np.float32), "int16"),
     ("i", np.zeros((2, 10), np.int16), "mono"), ("i", b"\x00", "odd number of bytes")],
)
def test_player_feed_rejects_bad_input_and_sends_nothing(item: str, pcm: Any, problem: str) -> None:
    player = Player()
    with pytest.raises(ValueError, match=problem):
        player.feed(item, pcm)
    assert _fe(player).custom("audio") == [] and player.received_ms == 0


def test_played_reports_never_go_back() -> None:
    player = Player()
    fe = _fe(player)
    fe.deliver({"type": "played", "played": {"i": 300.0}, "active": True, "final": False, "seq": 0})
    fe.deliver({"type": "played", "played": {"i": 250.0}, "active": True, "final": False, "seq": 0})
    assert player.played_ms_of("i") == 300.0


async def test_barge_in_stops_playback_and_truncates_at_what_was_heard() -> None:
    session = RecordingSession()
    player = Player(session)
    fe = _fe(player)
    delta = base64.b64encode(_pcm(24000).tobytes()).decode()  # 1 s per delta
    for _ in range(3):
        session.emit({"type": "response.output_audio.delta", "item_id": "item_bot", "delta": delta})
    assert len(fe.custom("audio")) == 3
    fe.deliver({"type": "played", "played": {"item_bot": 900.0}, "active": True, "final": False, "seq": 2})
    # The page answers a stop with its final figure for the item.
    final = {"type": "played", "played": {"item_bot": 1234.6}, "active": False, "final": True, "seq": 2}
    fe.responder = lambda m: m["type"] == "stop" and asyncio.get_running_loop().call_soon(fe.deliver, final)
    session.emit({"type": "input_audio_buffer.speech_started", "audio_start_ms": 5000, "item_id": "item_u"})
    await asyncio.wait_for(asyncio.gather(*player._tasks), 5)
    assert session.calls == [("truncate", "item_bot", 0, 1234)]
    assert player.truncations[0]["received_ms"] == pytest.approx(3000.0)
    # The rest of the cancelled response does not play, but still counts as received.
    session.emit({"type": "response.output_audio.delta", "item_id": "item_bot", "delta": delta})
    assert len(fe.custom("audio")) == 3
    assert player.received_ms_of("item_bot") == pytest.approx(4000.0)


async def test_a_cancelled_response_stops_playback_and_truncates_once() -> None:
    session = RecordingSession()
    player = Player(session)
    fe = _fe(player)
    delta = base64.b64encode(_pcm(24000).tobytes()).decode()
    session.emit({"type": "response.output_audio.delta", "item_id": "item_bot", "delta": delta})
    fe.deliver({"type": "played", "played": {"item_bot": 400.0}, "active": True, "final": False, "seq": 0})
    player.stop_report_timeout_s = 0.0
    done = {"type": "response.done", "response": {"id": "r", "status": "completed"}}
    session.emit(done)  # a finished answer plays on
    assert player._tasks == set() and fe.custom("stop") == []
    # barge-in, then the server's cancelled response.done: one stop-and-truncate, not two
    session.emit({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": "u"})
    session.emit({"type": "response.done", "response": {"id": "r", "status": "cancelled"}})
    await asyncio.wait_for(asyncio.gather(*player._tasks), 5)
    assert session.calls == [("truncate", "item_bot", 0, 400)]


async def test_a_client_cancel_alone_also_cuts_at_what_was_heard() -> None:
    session = RecordingSession()
    player = Player(session)
    fe = _fe(player)
    player.stop_report_timeout_s = 0.0
    player.feed("item_c", _pcm(24000))
    fe.deliver({"type": "played", "played": {"item_c": 250.0}, "active": True, "final": False, "seq": 0})
    session.emit({"type": "response.done", "response": {"id": "r", "status": "cancelled"}})
    await asyncio.wait_for(asyncio.gather(*player._tasks), 5)
    assert session.calls == [("truncate", "item_c", 0, 250)] and len(fe.custom("stop")) == 1


async def test_truncation_never_exceeds_the_audio_received() -> None:
    player = Player()
    fe = _fe(player)
    player.feed("item_b", _pcm(12000))  # 500 ms
    fe.responder = lambda m: m["type"] == "stop" and fe.deliver(
        {"type": "played", "played": {"item_b": 520.0}, "active": False, "final": True, "seq": 0})
    assert await player.interrupt() == 500


async def test_interrupt_falls_back_to_the_last_report_when_the_page_is_silent() -> None:
    session = RecordingSession()
    player = Player(session)
    player.stop_report_timeout_s = 0.0
    player.feed("item_c", _pcm(24000))
    report = {"type": "played", "played": {"item_c": 410.0}, "active": True, "final": False, "seq": 0}
    _fe(player).deliver(report)
    assert await player.interrupt() == 410
    assert session.calls == [("truncate", "item_c", 0, 410)]


async def test_speech_started_when_nothing_plays_does_not_truncate() -> None:
    session = RecordingSession()
    player = Player(session)
    fe = _fe(player)
    player.feed("item_d", _pcm(2400))
    fe.deliver({"type": "played", "played": {"item_d": 100.0}, "active": False, "final": False, "seq": 0})
    session.emit({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": "u"})
    assert player._tasks == set() and session.calls == []
    assert fe.custom("stop") == []


def test_a_report_older_than_the_last_chunk_keeps_playback_active() -> None:
    player = Player()
    fe = _fe(player)
    player.feed("i", _pcm(240))
    player.feed("i", _pcm(240))
    fe.deliver({"type": "played", "played": {"i": 10.0}, "active": False, "final": False, "seq": 0})
    assert player._active  # chunk 1 was still on its way when the page wrote this
    fe.deliver({"type": "played", "played": {"i": 20.0}, "active": False, "final": False, "seq": 1})
    assert not player._active


def test_bad_audio_delta_is_recorded_not_played() -> None:
    player = Player()
    player.handle_event({"type": "response.output_audio.delta", "item_id": "x", "delta": "not base64!"})
    assert _fe(player).custom("audio") == []
    assert "bad audio delta for item 'x'" in str(player.errors[0])
