"""Kernel side of the ``Call`` widget with a fake front end sending real comm messages (no browser,
no engine): the state table, the failure reports (widget + `CallFailed` + suggestion), the clock, the
sent-audio tap, and that no key reaches the page's traits or messages. `choose_path` too.

The real WebRTC path (an aiortc peer playing the page against the engine) is in
tests/integration/test_call_widget_peer.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import comm
import numpy as np
import pytest
from comm.base_comm import BaseComm

from realtime_nb.client import Endpoint
from realtime_nb.protocol import PCM_RATE
from realtime_nb.talk import choose_path
from realtime_nb.widgets import Call, CallFailed
from realtime_nb.widgets.call_audio import SentTap, estimate_lag_ms
from realtime_nb.widgets.call_state import FAILURES, STATES, TRANSITIONS, CallStateError, step

KEY = "sk-" + "unit-standard-key-0123456789"  # fake, split for the secret scan


class FakeFrontEnd(BaseComm):
    def __init__(self, **kwargs: Any) -> None:
        self.published: list[tuple[str, Any, list]] = []
        super().__init__(**kwargs)

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None,
                    **keys: Any) -> None:
        self.published.append((msg_type, data, list(buffers or [])))

    def custom(self, kind: str | None = None) -> list[dict]:
        out = [d["content"] for t, d, _ in self.published if t == "comm_msg" and d.get("method") == "custom"]
        return [m for m in out if kind is None or m.get("type") == kind]

    def deliver(self, content: dict, buffers: list | None = None) -> None:
        data = {"method": "custom", "content": content}
        views = [memoryview(b) for b in buffers or []]
        self.handle_msg({"content": {"comm_id": self.comm_id, "data": data}, "buffers": views})


@pytest.fixture(autouse=True)
def fake_front_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(comm, "create_comm", lambda **kw: FakeFrontEnd(**kw))


def _call(endpoint: Endpoint | None = None, **kw: Any) -> tuple[Call, FakeFrontEnd]:
    call = Call(endpoint or Endpoint.local("ws://127.0.0.1:9", token=KEY), timeout=5, **kw)
    fe = call.widget.comm
    fe.deliver({"type": "hello", "view": "v1", "t_page": 1000.0})
    return call, fe


# --- the table ----------------------------------------------------------------------------------------


def test_the_table_names_only_known_states_and_refuses_a_second_start() -> None:
    assert {s for s, _ in TRANSITIONS} | set(TRANSITIONS.values()) <= set(STATES)
    assert step("idle", "start") == "starting" and step("starting", "open") == "connected"
    for running in ("starting", "connected"):
        with pytest.raises(CallStateError, match="already has a call"):
            step(running, "start")
    with pytest.raises(CallStateError):
        step("idle", "open")


# --- failures reported by the page ----------------------------------------------------------------------


PAGE_FAILURES = ["insecure_origin", "no_media_devices", "no_microphone", "permission_denied"]


@pytest.mark.parametrize("kind", PAGE_FAILURES)
async def test_a_page_failure_shows_in_the_widget_and_raises_with_its_suggestion(kind: str) -> None:
    call, fe = _call()
    fe.deliver({"type": "start", "view": "v1", "t_page": 1001.0})
    assert call.state == "starting" and call.owner_view == "v1"
    fe.deliver({"type": "error", "kind": kind, "message": "NotAllowedError: denied", "t_page": 1002.0})
    assert call.state == "failed"
    assert FAILURES[kind].suggestion in call.error  # the visible message carries the suggestion
    with pytest.raises(CallFailed) as failed:
        await call.connected(timeout=2)
    assert failed.value.kind == kind and failed.value.suggestion == FAILURES[kind].suggestion
    await _until(lambda: fe.custom("fail") and fe.custom("hangup") and call.session.closed)
    # the page is told, and its connection closed


async def test_an_ice_failure_to_the_local_engine_suggests_the_comm_mic() -> None:
    call, fe = _call()
    fe.deliver({"type": "start", "view": "v1", "t_page": 1001.0})
    fe.deliver({"type": "connection", "state": "failed", "ice": "failed", "reached": False, "t_page": 1002.0})
    with pytest.raises(CallFailed) as failed:
        await call.connected(timeout=2)
    assert failed.value.kind == "engine_unreachable"
    assert "talk_to_it(webrtc=False)" in call.error and "Binder" in call.error


async def test_an_unreachable_service_fails_the_exchange_within_seconds() -> None:
    call, fe = _call()  # port 9: nothing listens
    fe.deliver({"type": "start", "view": "v1", "t_page": 1001.0})
    fe.deliver({"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n", "t_page": 1002.0})
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(CallFailed) as failed:
        await call.connected(timeout=8)
    assert loop.time() - t0 < 8 and failed.value.kind == "signalling"
    assert KEY not in call.error and KEY not in str(failed.value)


async def test_nothing_displayed_times_out_with_a_hint() -> None:
    call = Call(Endpoint.local("ws://127.0.0.1:9"), timeout=5)
    with pytest.raises(CallFailed, match="display the widget"):
        await call.connected(timeout=0.2)
    with pytest.raises(RuntimeError, match="not displayed"):
        call.start()


async def test_a_second_view_is_refused_and_told_so() -> None:
    call, fe = _call()
    fe.deliver({"type": "hello", "view": "v2", "t_page": 1000.5})
    fe.deliver({"type": "start", "view": "v1", "t_page": 1001.0})
    fe.deliver({"type": "start", "view": "v2", "t_page": 1001.5})
    [refused] = fe.custom("refused")
    assert refused["view"] == "v2" and "another view" in refused["message"]
    assert call.state == "starting" and call.owner_view == "v1" and call.notices
    call.hangup()
    await _until(lambda: call.state == "closed")


# --- no key reaches the page ------------------------------------------------------------------------------


async def test_no_key_in_the_traits_or_anything_sent_to_the_page() -> None:
    endpoint = Endpoint.openai(api_key=KEY)  # a cloud endpoint: the page is told "openai", nothing else
    call, fe = _call(endpoint)
    fe.deliver({"type": "start", "view": "v1", "t_page": 1001.0})
    for i in range(3):
        fe.deliver({"type": "pong", "id": i, "t_page": 1001.0 + i})
    call.hangup()
    await asyncio.sleep(0.05)
    state = json.dumps(call.widget.get_state(), default=str)
    traffic = json.dumps([(t, d) for t, d, _ in fe.published], default=str)
    assert KEY not in state and KEY not in traffic and "Bearer" not in traffic
    assert "********" not in traffic  # not even a masked credential: the page gets no endpoint at all


# --- clock and taps ---------------------------------------------------------------------------------


def test_pongs_reconcile_the_page_clock() -> None:
    call, fe = _call()
    pings = fe.custom("ping")
    assert pings  # the hello started the burst
    from realtime_nb.widgets.call import kernel_ms

    offset = 5000.0
    for _ in range(12):
        ping = fe.custom("ping")[-1]
        fe.deliver({"type": "pong", "id": ping["id"], "t_page": kernel_ms() + offset})
    assert call.clock.samples == 12
    assert abs(call.clock.offset_ms - offset) <= call.clock.uncertainty_ms + 1e-6
    assert call.clock.uncertainty_ms < 50
    assert abs(call.to_kernel_ns(kernel_ms() + offset) / 1e6 - kernel_ms()) < 50


def test_the_sent_tap_fills_lost_chunks_with_silence_and_drops_late_ones() -> None:
    tap = SentTap()
    a = np.ones(480, np.int16)
    assert tap.take(0, a).size == 480
    filled = tap.take(3, a)
    assert filled.size == 3 * 480 and tap.missing == 2  # two lost chunks of silence, then chunk 3
    assert not filled[: 2 * 480].any() and filled[2 * 480 :].all()
    assert tap.take(1, a) is None and tap.late == 1


def test_estimate_lag_finds_a_known_shift() -> None:
    rng = np.random.default_rng(3)
    ref = (rng.standard_normal(PCM_RATE) * 3000).astype(np.int16)
    shift = int(0.025 * PCM_RATE)
    late = np.concatenate([np.zeros(shift, np.int16), ref])[: ref.size]
    lag, corr = estimate_lag_ms(late, ref)
    assert lag == pytest.approx(25.0, abs=0.1) and corr > 0.9
    early, _ = estimate_lag_ms(ref[shift:], ref)
    assert early == pytest.approx(-25.0, abs=0.1)


# --- which path talk_to_it takes ----------------------------------------------------------------------


def test_choose_path_reads_the_front_end() -> None:
    local = Endpoint.local("ws://127.0.0.1:8765")
    assert choose_path(local, env={}, modules={}).kind == "webrtc"
    binder = choose_path(local, env={"BINDER_LAUNCH_HOST": "https://mybinder.org"}, modules={})
    assert binder.kind == "comm" and "Binder" in binder.reason
    assert choose_path(local, env={"JUPYTERHUB_API_URL": "http://hub"}, modules={}).kind == "comm"
    assert choose_path(local, env={"VSCODE_PID": "1"}, modules={}).kind == "comm"
    assert choose_path(local, env={}, modules={"google.colab": object()}).kind == "comm"


# --- composition ---------------------------------------------------------------------------------------


async def test_call_dashboard_puts_the_panel_and_timeline_on_the_calls_session() -> None:
    from realtime_nb.widgets import LiveTimeline, TuningPanel, call_dashboard

    call, _ = _call()
    board = call_dashboard(call)
    assert board.children[0] is call.widget
    assert isinstance(board.panel, TuningPanel) and isinstance(board.timeline, LiveTimeline)
    assert board.session is call.session
    from realtime_nb.widgets import SessionLike

    assert isinstance(call.session, SessionLike)  # what every widget takes
    with pytest.raises(TypeError, match="dashboard"):
        call_dashboard(call.session)  # type: ignore[arg-type]


async def test_the_stop_buttons_events_are_logged_as_sent_at_the_pages_time() -> None:
    from realtime_nb.widgets.call import kernel_ms

    call, fe = _call()
    for _ in range(12):  # reconcile: the page runs 2 s ahead
        fe.deliver({"type": "pong", "id": fe.custom("ping")[-1]["id"], "t_page": kernel_ms() + 2000.0})
    t_page = kernel_ms() + 2000.0 - 50.0  # sent 50 ms ago, by the page's clock
    for kind in ("response.cancel", "output_audio_buffer.clear"):
        fe.deliver({"type": "page_sent", "data": json.dumps({"type": kind, "event_id": f"evt_{kind}"}),
                    "t_page": t_page})
    frame = call.log.frame()
    sent = frame[frame["direction"] == "sent"]
    assert list(sent["type"]) == ["response.cancel", "output_audio_buffer.clear"]
    assert call.log.event_json(int(sent["seq"].iloc[0]))["event_id"] == "evt_response.cancel"


async def test_a_key_that_expired_before_the_offer_is_reported_as_such(monkeypatch) -> None:
    from realtime_nb.client.rtc_signalling import SignallingError
    from realtime_nb.widgets import call as call_module

    async def expired(*_a: Any, **_k: Any) -> Any:
        raise SignallingError("offer", "http://127.0.0.1:9/v1/realtime", 401, "ephemeral key expired",
                              code="invalid_api_key")

    monkeypatch.setattr(call_module, "exchange_offer", expired)
    call, fe = _call(Endpoint.local("ws://127.0.0.1:9", dialect="preview", token=KEY))
    fe.deliver({"type": "start", "view": "v1", "t_page": 1001.0})
    fe.deliver({"type": "offer", "sdp": "v=0\r\n", "t_page": 1002.0})
    with pytest.raises(CallFailed) as failed:
        await call.connected(timeout=3)
    assert failed.value.kind == "key_expired" and "a new key is minted" in call.error
    await _until(lambda: fe.custom("hangup") and call.session.closed)


async def test_a_new_call_after_a_failure_gets_a_new_session_and_the_same_log() -> None:
    call, fe = _call()
    fe.deliver({"type": "start", "view": "v1", "t_page": 1001.0})
    first = call.session
    fe.deliver({"type": "error", "kind": "permission_denied", "message": "denied", "t_page": 1002.0})
    await _until(lambda: first.closed)  # the failed call's session ends (its close is logged too)
    with pytest.raises(CallFailed):
        call.raise_for_failure()
    call.log.record("received", {"type": "session.created", "event_id": "e1", "session": {}}, "ga")
    kept = len(call.log)
    fe.deliver({"type": "start", "view": "v1", "t_page": 1003.0})
    assert call.state == "starting" and call.error == ""
    assert call.session is not first and call.session.log is call.log and len(call.log) == kept >= 1
    call.hangup()
    await _until(lambda: call.state == "closed")


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    """Poll `predicate` on the loop: the call's teardown runs in tasks, late on a loaded machine."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_redial_right_after_hangup_is_not_refused() -> None:
    """hangup() returns at once and closes the session in a task: a Call pressed again before that
    task ends gets a new session (the old one still closes), not 'the previous session is open'."""
    call, fe = _call()
    fe.deliver({"type": "start", "view": "v1", "t_page": 1001.0})
    first = call.session
    await _until(lambda: first.state.value == "connecting")  # waiting for the page's data channel
    call.hangup()
    fe.deliver({"type": "start", "view": "v1", "t_page": 1002.0})
    assert call.state == "starting" and call.session is not first and call.session.log is call.log
    await _until(lambda: first.closed)
    call.hangup()
    await _until(lambda: call.state == "closed")
