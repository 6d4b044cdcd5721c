"""LiveTimeline and the dashboard: pure row shaping and throttling, the widget against a fake page
(what the kernel pushes, what a click returns), and both following a real session to the engine."""

from __future__ import annotations

import asyncio
import base64
import math
from collections.abc import Iterator
from typing import Any

import comm
import numpy as np
import pytest
from comm.base_comm import BaseComm

from realtime_nb.client import Endpoint, RealtimeSession
from realtime_nb.protocol import Dialect, ServerVad
from realtime_nb.timeline import EventLog
from realtime_nb.timeline.lanes import LANES, lane_of
from realtime_nb.widgets import Dashboard, LiveTimeline, dashboard
from realtime_nb.widgets.live_timeline import Throttle, compact_frame, compact_rows


class FakePage(BaseComm):
    """The far end of the widget's comm: keeps the custom messages the kernel sends."""

    def publish_msg(
        self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any
    ) -> None:
        if msg_type == "comm_msg" and data and data.get("method") == "custom":
            self.__dict__.setdefault("custom", []).append(data["content"])

    def pushes(self) -> list[dict[str, Any]]:
        return [m for m in self.__dict__.get("custom", []) if m.get("type") == "rows"]

    def deliver(self, content: dict[str, Any]) -> None:
        data = {"method": "custom", "content": content}
        self.handle_msg({"content": {"comm_id": self.comm_id, "data": data}, "buffers": []})


@pytest.fixture(autouse=True)
def fake_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(comm, "create_comm", lambda **kw: FakePage(**kw))


def _page(widget: Any) -> FakePage:
    assert isinstance(widget.comm, FakePage)
    return widget.comm


_B64_40MS = base64.b64encode(np.zeros(960, np.int16).tobytes()).decode()


def _event(i: int) -> tuple[str, dict[str, Any]]:
    """A realistic mix: mostly appends and deltas, now and then a turn's landmarks."""
    kind = i % 10
    if kind < 5:
        return "sent", {"type": "input_audio_buffer.append", "event_id": f"e{i}", "audio": _B64_40MS}
    if kind < 8:
        return "received", {
            "type": "response.output_audio.delta",
            "event_id": f"s{i}",
            "response_id": "r1",
            "item_id": "i1",
            "output_index": 0,
            "content_index": 0,
            "delta": _B64_40MS,
        }
    if kind == 8:
        return "received", {
            "type": "input_audio_buffer.speech_started",
            "event_id": f"s{i}",
            "audio_start_ms": i,
            "item_id": f"u{i}",
        }
    return "received", {
        "type": "error",
        "event_id": f"s{i}",
        "error": {"type": "invalid_request_error", "code": "x", "message": "bad"},
    }


def _record(log: EventLog, start: int, n: int) -> None:
    for i in range(start, start + n):
        direction, event = _event(i)
        log.record(direction, event, Dialect.GA)


# ------------------------------------------------------------------------------------- pure logic
def test_lanes_by_event_type() -> None:
    assert [
        LANES[lane_of(t)]
        for t in (
            "input_audio_buffer.speech_started",
            "conversation.item.added",
            "response.created",
            "conversation.item.input_audio_transcription.delta",
        )
    ] == ["input buffer", "conversation", "response", "transcription"]
    assert LANES[lane_of("session.updated")] == LANES[lane_of("rate_limits.updated")] == "session"
    assert LANES[lane_of("error")] == LANES[lane_of("realtime_nb.connection_closed")] == "errors"
    # the audio going out has its own lane, WebRTC's output buffer included; its transcript does not
    assert LANES[lane_of("response.output_audio.delta")] == "audio out"
    assert LANES[lane_of("output_audio_buffer.stopped")] == "output buffer"  # a call's barge-in lane
    assert LANES[lane_of("response.output_audio_transcript.delta")] == "response"
    assert lane_of("something.new") == 0


async def test_the_widget_draws_the_timeline_lanes() -> None:
    assert LiveTimeline(EventLog()).lanes == list(LANES)


def test_compact_rows_and_compact_frame_agree_on_a_real_log() -> None:
    log = EventLog()
    _record(log, 0, 40)
    log.record_problem("received", "connection_closed", "gone", code=1006, reason="lost")
    rows = compact_rows(log.rows_since(-1))
    assert rows == compact_frame(log.frame())
    assert rows["seq"] == list(range(41))
    assert rows["sent"][:5] == [1] * 5 and rows["sent"][5] == 0
    assert rows["bulk"][0] == 1 and rows["bulk"][8] == 0  # appends are bulk, speech_started is not
    assert LANES[rows["lane"][9]] == "errors" and LANES[rows["lane"][40]] == "errors"
    assert rows["name"][40] == "realtime_nb.connection_closed"
    assert all(b >= a for a, b in zip(rows["t"], rows["t"][1:], strict=False))
    assert compact_frame(EventLog().frame()) == compact_rows([])


def test_throttle_pushes_at_most_max_hz_and_only_new_rows() -> None:
    th = Throttle(4.0)
    assert th.next_push_at() is None  # nothing noted: no push, no timer
    th.note(0)
    assert th.next_push_at() == -math.inf  # first push: at once
    th.pushed(10.0, 0)
    assert th.next_push_at() is None
    th.note(5)
    th.note(3)  # out of order notes never move it back
    assert th.latest == 5 and th.next_push_at() == pytest.approx(10.25)
    th.pushed(10.25, 5)
    assert not th.pending
    with pytest.raises(ValueError, match="max_hz"):
        Throttle(0)


# ------------------------------------------------------------------------------- widget, fake page
async def test_a_burst_becomes_one_push_and_nothing_is_pushed_without_new_events() -> None:
    log = EventLog()
    timeline = LiveTimeline(log, max_hz=20)
    page = _page(timeline)
    _record(log, 0, 100)
    assert page.pushes() == []  # not per event
    await asyncio.sleep(0.15)
    pushes = page.pushes()
    assert len(pushes) == 1 and pushes[0]["seq"] == list(range(100))
    await asyncio.sleep(0.2)
    assert len(page.pushes()) == 1  # idle log: no redraws
    _record(log, 100, 3)
    await asyncio.sleep(0.15)
    assert [p["seq"] for p in page.pushes()[1:]] == [[100, 101, 102]]
    timeline.close()


async def test_pushes_never_outpace_max_hz_while_events_stream() -> None:
    log = EventLog()
    timeline = LiveTimeline(log, max_hz=5)
    page = _page(timeline)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(120):  # ~200 events/s for ~0.6 s
        _record(log, i * 2, 2)
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)
    elapsed = loop.time() - start
    pushes = page.pushes()
    assert sum(len(p["seq"]) for p in pushes) == 240  # every row exactly once, in order
    assert [s for p in pushes for s in p["seq"]] == list(range(240))
    assert len(pushes) <= math.floor(elapsed * 5) + 1  # spaced by >= 1 / max_hz
    assert timeline.pushes == len(pushes) and timeline.rows_pushed == 240
    timeline.close()


async def test_a_new_view_gets_the_history_and_a_click_gets_the_event_json() -> None:
    log = EventLog()
    _record(log, 0, 10)
    timeline = LiveTimeline(log)
    page = _page(timeline)
    page.deliver({"type": "hello"})
    history = page.pushes()
    assert len(history) == 1 and history[0]["reset"] is True and history[0]["seq"] == list(range(10))
    page.deliver({"type": "select", "seq": 0})  # an append: its payload is rebuilt by the log
    assert timeline.selected == 0
    assert '"type": "input_audio_buffer.append"' in timeline.selected_json
    assert "audio stripped: 40.000 ms" in timeline.selected_json
    page.deliver({"type": "select", "seq": 9})
    assert '"message": "bad"' in timeline.selected_json
    page.deliver({"type": "select", "seq": 999})  # a stale page: ignored
    assert timeline.selected == 9
    assert timeline.frame().equals(log.frame()) and len(timeline.frame()) == 10
    with pytest.raises(TypeError, match="EventLog"):
        LiveTimeline(object())
    timeline.close()


async def test_rows_recorded_from_another_thread_reach_the_page() -> None:
    log = EventLog()
    timeline = LiveTimeline(log, max_hz=20)
    page = _page(timeline)
    await asyncio.get_running_loop().run_in_executor(None, _record, log, 0, 50)
    await asyncio.sleep(0.2)
    assert [s for p in page.pushes() for s in p["seq"]] == list(range(50))
    timeline.close()


# ------------------------------------------------------------------------------- real engine
@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    from realtime_nb import start_engine

    with start_engine() as running:
        yield running


async def test_follows_a_live_session_and_stays_readable_after_the_drop() -> None:
    from realtime_nb import start_engine

    engine = start_engine()
    session = RealtimeSession(Endpoint.local(engine.url), timeout=60)
    await session.connect()
    timeline = LiveTimeline(session, max_hz=20)
    page = _page(timeline)
    await session.update_session(turn_detection=ServerVad(threshold=0.6))
    await session.append_audio(np.zeros(2400, np.int16), 24000)
    await asyncio.sleep(0.2)
    pushed = [t for p in page.pushes() for t in p["name"]]
    assert pushed == ["session.update", "session.updated", "input_audio_buffer.append"]
    await asyncio.get_running_loop().run_in_executor(None, engine.stop)
    for _ in range(200):
        if timeline.disconnected:
            break
        await asyncio.sleep(0.02)
    assert "connection closed (code 1001)" in timeline.disconnected
    assert page.pushes()[-1]["name"][-1] == "realtime_nb.connection_closed"  # pushed at once
    frame = timeline.frame()
    assert list(frame["type"])[:3] == ["session.created", "session.update", "session.updated"]
    page.deliver({"type": "select", "seq": 1})  # still clickable
    assert '"threshold": 0.6' in timeline.selected_json


async def test_dashboard_holds_the_four_parts_and_greys_them_out_on_a_drop() -> None:
    from realtime_nb import start_engine

    engine = start_engine()
    session = RealtimeSession(Endpoint.local(engine.url), timeout=60)
    await session.connect()
    board = dashboard(session, debounce_s=0.05, max_hz=10)
    assert isinstance(board, Dashboard)
    assert board.children[2] is board.panel and board.children[3] is board.timeline
    assert board.mic.session is session and board.player.session is session
    assert "connected" in board.status.value
    board.panel.set(threshold=0.65)
    await board.panel.settled()
    assert session.config.turn_detection.threshold == 0.65
    await asyncio.get_running_loop().run_in_executor(None, engine.stop)
    for _ in range(200):
        if board.disconnected:
            break
        await asyncio.sleep(0.02)
    reason = board.disconnected
    assert "connection closed" in reason and reason in board.status.value
    assert board.mic.disconnected == board.player.disconnected == board.panel.disconnected == reason
    assert board.timeline.disconnected == reason
    assert "rtnb-disconnected" in board.audio_box._dom_classes and board.audio_box is board.children[1]
    assert board.mic._pump is None  # no more appends into a closed socket
    assert all(c.disabled for c in board.panel.controls.values())
    assert "realtime_nb.connection_closed" in set(board.timeline.frame()["type"])
