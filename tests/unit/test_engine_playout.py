"""Server-owned playback (WebRTC mode of EngineSession): the output buffer, its events and barge-in.

Sans-I/O with injected time: the test pulls ``output_frame`` every 20 ms as a call's track would and
runs jobs inline in between, so every point (first frame, drain, clear) is exact. Real models (the
Piper voice, Silero for the barge-in). Every event is validated against the openai SDK server union
of its dialect, and the §0 order invariants hold for every session (the ``driver`` fixture).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import test_engine_session as _session_tests
from test_engine_session import DIALECTS, Driver, types

from realtime_nb import samples
from realtime_nb.engine.models import Models
from realtime_nb.engine.options import EngineOptions
from realtime_nb.engine.output_buffer import FRAME_SAMPLES, OutputBuffer
from realtime_nb.engine.session import EngineSession
from realtime_nb.engine.state import (
    PLAYBACK_TABLE,
    IllegalTransition,
    PlaybackState,
    PlaybackTrigger,
)
from realtime_nb.protocol import Dialect
from realtime_nb.protocol.dialect import wire_type
from realtime_nb.protocol.formats import PCM_RATE
from realtime_nb.protocol.ordering import assert_order

models = _session_tests.models

LONG_REPLY = (
    "Hello there. This answer has several sentences, so that it takes a while to say. "
    "It keeps going for some time, long enough to fill the output buffer. And then it ends."
)


def long_reply(context: Any) -> str:
    return LONG_REPLY


class RtcDriver(Driver):
    """A Driver whose session runs in WebRTC mode; pulls frames as a track would."""

    def __init__(self, models: Models, dialect: Dialect, adapters: Any, **options: Any) -> None:
        self.dialect = dialect
        self.now = 0.0
        self.session = EngineSession(
            models, dialect, now=0.0, options=EngineOptions(**options), transport="webrtc"
        )
        self._adapter = adapters[(dialect, "server")]
        self.events = []
        self.check_order = True
        self.frames: list[tuple[int, np.ndarray]] = []  # (events seen before the pull, frame)
        self._collect()

    def pull(self, n: int = 1) -> list[dict[str, Any]]:
        """``n`` frames, 20 ms apart, running jobs between them (a fast worker)."""
        start = len(self.events)
        for _ in range(n):
            self.now += 0.02
            self.session.run_jobs_inline(self.now)
            self._collect()
            before = len(self.events)
            frame = self.session.output_frame(self.now)
            assert frame.dtype == np.int16 and frame.shape == (FRAME_SAMPLES,)
            self.frames.append((before, frame))
            self._collect()
        return self.events[start:]

    def pull_until(self, type_: str, limit: int = 3000) -> dict[str, Any]:
        for _ in range(limit):
            for event in self.pull():
                if event["type"] == type_:
                    return event
        raise AssertionError(f"no {type_} within {limit} frames")

    def of(self, type_: str) -> list[dict[str, Any]]:
        """Events of a canonical type, by its name in this dialect."""
        name = wire_type(type_, self.dialect)
        return [e for e in self.events if e["type"] == name]

    def name(self, type_: str) -> str:
        wire = wire_type(type_, self.dialect)
        assert wire is not None
        return wire

    def of_prefix(self, prefix: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"].startswith(prefix)]

    def pulled(self, since: dict[str, Any], until: int | None = None) -> np.ndarray:
        """The frames pulled from the one that emitted ``since`` (an output_audio_buffer.started) up
        to event index ``until`` (default: all)."""
        first = self.events.index(since)
        end = len(self.events) if until is None else until
        frames = [f for seen, f in self.frames if first <= seen <= end]
        return np.concatenate(frames) if frames else np.zeros(0, np.int16)

    def speak(self, pcm24: np.ndarray) -> list[dict[str, Any]]:
        """Feed microphone audio in 20 ms pieces, one pulled frame per piece (real time)."""
        start = len(self.events)
        for lo in range(0, len(pcm24), FRAME_SAMPLES):
            self.session.receive_audio(pcm24[lo : lo + FRAME_SAMPLES], self.now)
            self._collect()
            self.pull()
        return self.events[start:]


@pytest.fixture
def rtc(models: Models, sdk_adapters: Any):
    made: list[RtcDriver] = []

    def make(dialect: Dialect = Dialect.GA, **options: Any) -> RtcDriver:
        d = RtcDriver(models, dialect, sdk_adapters, **options)
        made.append(d)
        return d

    yield make
    for d in made:
        if d.check_order:
            assert_order(d.events, d.dialect)


def ask(d: RtcDriver, text: str = "hi") -> None:
    d.user_text(text)
    d.send("response.create")


def index_of(events: list[dict[str, Any]], type_: str, **where: Any) -> int:
    for i, e in enumerate(events):
        if e["type"] == type_ and all(e.get(k) == v for k, v in where.items()):
            return i
    raise AssertionError(f"no {type_} {where} in {types(events)}")


# --- the table --------------------------------------------------------------------------------------


def test_playback_table_ends_are_final_and_every_live_state_can_be_cleared():
    for state in (PlaybackState.STOPPED, PlaybackState.CLEARED):
        assert PLAYBACK_TABLE[state] == {}
    for state, edges in PLAYBACK_TABLE.items():
        if state not in (PlaybackState.STOPPED, PlaybackState.CLEARED):
            assert edges[PlaybackTrigger.CLEAR] is PlaybackState.CLEARED
    # only a finished response drains; only a generating one takes more audio
    assert [s for s, e in PLAYBACK_TABLE.items() if PlaybackTrigger.DRAIN in e] == [PlaybackState.DRAINING]
    assert {s for s, e in PLAYBACK_TABLE.items() if PlaybackTrigger.AUDIO in e} == {
        PlaybackState.QUEUED,
        PlaybackState.PLAYING,
    }


def test_output_buffer_whole_frames_then_a_partial_last_one():
    events: list[dict[str, Any]] = []
    buf = OutputBuffer(events.append)
    assert not np.any(buf.frame())  # idle: silence
    buf.queue("resp_1", "item_1", np.ones(700, np.int16))
    first = buf.frame()
    assert np.all(first == 1) and events == [{"type": "output_audio_buffer.started", "response_id": "resp_1"}]
    # 220 samples left while still generating: wait for a whole frame rather than cut one short
    assert not np.any(buf.frame()) and buf.queued_samples == 220
    buf.generation_done("resp_1")  # now the rest may go, padded with silence
    last = buf.frame()
    assert np.all(last[:220] == 1) and not np.any(last[220:])
    assert events[-1] == {"type": "output_audio_buffer.stopped", "response_id": "resp_1"}
    assert buf.empty
    buf.queue("resp_1", "item_1", np.ones(480, np.int16))  # a late chunk of an ended reply is dropped
    assert buf.empty


def test_output_buffer_done_before_the_first_frame_and_an_illegal_late_chunk():
    events: list[dict[str, Any]] = []
    buf = OutputBuffer(events.append)
    buf.queue("resp_1", "item_1", np.ones(300, np.int16))
    buf.generation_done("resp_1")  # QUEUED_LAST: started still comes with its first frame
    assert buf.snapshot() == [("resp_1", "queued_last", 300, 0)]
    with pytest.raises(IllegalTransition):  # a done response cannot queue more: an engine bug
        buf.queue("resp_1", "item_1", np.ones(10, np.int16))
    assert buf.snapshot() == [("resp_1", "queued_last", 300, 0)]
    buf.frame()
    assert [e["type"] for e in events] == ["output_audio_buffer.started", "output_audio_buffer.stopped"]


# --- started / stopped ------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_started_after_the_content_part_and_with_the_first_audio_frame(rtc, dialect):
    d = rtc(dialect, responder=long_reply)
    ask(d)
    d.run()
    part = index_of(d.events, "response.content_part.added")
    assert not d.of("output_audio_buffer.started")
    assert not d.of("response.output_audio.delta")  # the audio is on the track
    assert d.of("response.output_audio_transcript.delta")  # the words are not
    before = len(d.events)
    d.pull()
    started = index_of(d.events, "output_audio_buffer.started")
    assert started == before > part  # emitted by the very pull that returned the first audio
    assert np.any(d.frames[-1][1])
    response_id = d.of("response.created")[0]["response"]["id"]
    assert d.events[started]["response_id"] == response_id
    d.pull_until("output_audio_buffer.stopped")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_stopped_after_response_done_once_every_sample_left(rtc, dialect):
    d = rtc(dialect, responder=long_reply)
    ask(d)
    stopped = d.pull_until("output_audio_buffer.stopped")
    done = d.of("response.done")[0]
    assert done["response"]["status"] == "completed"
    assert d.events.index(done) < d.events.index(stopped)
    assert stopped["response_id"] == done["response"]["id"]
    item_id = done["response"]["output"][0]["id"]
    audio = d.session.conversation.get(item_id).audio[0]
    started = d.of("output_audio_buffer.started")[0]
    played = d.pulled(started)
    # every sample of the reply left, in order, then silence; nothing left before started
    assert np.array_equal(played[: audio.size], audio)
    assert not np.any(played[audio.size :])
    assert not any(np.any(f) for seen, f in d.frames if seen < d.events.index(started))
    assert not d.of("response.output_audio.delta")
    assert len(d.of("output_audio_buffer.started")) == len(d.of("output_audio_buffer.stopped")) == 1
    assert d.session.output.empty


def test_synthesis_waits_for_the_track_within_the_bound(rtc):
    d = rtc(Dialect.GA, responder=long_reply, playout_ahead_ms=500)
    ask(d)
    d.run()
    # synthesis paused with the first sentence(s) queued: not the whole reply
    queued = d.session.output.queued_ms
    assert 500 <= queued < 500 + 4000
    assert d.session.jobs.parked == 1 and not d.of("response.done")
    queued_ms = []
    while not d.of("response.done"):
        d.pull()
        queued_ms.append(d.session.output.queued_ms)
    d.pull_until("output_audio_buffer.stopped")
    item = d.session.conversation.get(d.of("response.done")[0]["response"]["output"][0]["id"])
    assert item.audio_ms(0) > 5000  # the whole reply played: several seconds
    assert d.pulled(d.of("output_audio_buffer.started")[0]).size >= item.audio[0].size
    # the buffer never ran further ahead than the bound plus the chunk that crossed it
    longest_chunk_ms = max(b - a for a, b, _ in item.spans)
    assert max(queued_ms) < 500 + longest_chunk_ms


def test_a_late_stopped_never_ends_the_next_reply(rtc):
    d = rtc(Dialect.GA, responder=long_reply)
    ask(d, "first")
    first = d.pull_until("response.done")["response"]["id"]
    assert not d.of("output_audio_buffer.stopped")  # done generating, still playing
    d.send("response.create")  # the next reply is made while the first one still plays
    d.run()
    second = d.of("response.created")[1]["response"]["id"]
    for _ in range(3000):
        if len(d.of("output_audio_buffer.stopped")) == 2:
            break
        d.pull()
    buffer_events = [
        (e["type"].rsplit(".", 1)[1], e["response_id"]) for e in d.of_prefix("output_audio_buffer.")
    ]
    assert buffer_events == [("started", first), ("stopped", first), ("started", second), ("stopped", second)]
    # each stopped follows its own response.done, and the second reply played after the first
    for rid, stopped in ((first, 0), (second, 1)):
        done = next(e for e in d.of("response.done") if e["response"]["id"] == rid)
        assert d.events.index(done) < d.events.index(d.of("output_audio_buffer.stopped")[stopped])


# --- barge-in and clear -----------------------------------------------------------------------------


def server_vad_session(d: RtcDriver) -> None:
    td = {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "create_response": True,
        "interrupt_response": True,
    }
    session = (
        {"type": "realtime", "audio": {"input": {"turn_detection": td}}}
        if d.dialect is Dialect.GA
        else {"turn_detection": td}
    )
    assert d.send("session.update", session=session)[0]["type"] == "session.updated"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_barge_in_clears_at_once_and_truncates_at_the_audio_pulled(rtc, dialect):
    turns = samples.load("turns")
    d = rtc(dialect)
    server_vad_session(d)
    d.speak(turns.audio[: int(PCM_RATE * 4.0)])  # the first turn ends: the echo reply starts playing
    assert d.of("output_audio_buffer.started") and not d.of("output_audio_buffer.stopped")
    response_id = d.of("response.created")[0]["response"]["id"]
    item_id = d.of("response.output_item.added")[0]["item"]["id"]
    start = len(d.events)
    d.speak(turns.audio[int(PCM_RATE * 4.0) : int(PCM_RATE * 5.5)])  # the user speaks again
    names = types(d.events[start:])
    speech = names.index("input_audio_buffer.speech_started")
    cleared = names.index("output_audio_buffer.cleared")
    truncated = names.index("conversation.item.truncated")
    assert speech < cleared < truncated
    assert d.events[start + cleared]["response_id"] == response_id
    # still generating at the barge-in (synthesis waits for the track): cancelled after the clear
    assert cleared < names.index(d.name("response.done")) < truncated
    done = d.of("response.done")[0]["response"]
    assert done["id"] == response_id
    assert (done["status"], done["status_details"]["reason"]) == ("cancelled", "turn_detected")
    # the audio pulled for this reply: every frame from the started one to the clearing one
    at_clear = start + cleared
    pulled = d.pulled(d.of("output_audio_buffer.started")[0], at_clear)
    event = d.events[start + truncated]
    assert (event["item_id"], event["content_index"]) == (item_id, 0)
    assert event["audio_end_ms"] * PCM_RATE // 1000 == pulled.size  # to the sample
    item = d.session.conversation.get(item_id)
    assert np.array_equal(item.audio[0], pulled)  # the item keeps exactly what the user heard
    # nothing queued may still play: the frames after the clear carry none of the reply
    after = [f for seen, f in d.frames if seen > at_clear]
    assert after and not any(np.any(f) for f in after[:10])
    assert len(d.of("conversation.item.truncated")) == 1
    assert len(d.of("output_audio_buffer.cleared")) == 1
    d.send("conversation.item.retrieve", item_id=item_id)  # assistant audio stays retrievable
    assert d.events[-1]["type"] == "conversation.item.retrieved"
    assert d.events[-1]["item"]["content"][0]["audio"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_clear_after_cancel_drops_the_rest_and_truncates(rtc, dialect):
    d = rtc(dialect, responder=long_reply)
    ask(d)
    d.pull(10)
    d.send("response.cancel")
    done = d.of("response.done")[0]["response"]
    assert done["status"] == "cancelled"
    assert not d.of("output_audio_buffer.stopped")
    d.pull(5)  # cancelled generation, but what was queued still plays until the client clears it
    assert all(np.any(f) for _, f in d.frames[-5:])
    out = d.send("output_audio_buffer.clear", event_id="evt_clear")
    assert types(out) == ["output_audio_buffer.cleared", "conversation.item.truncated"]
    assert out[0]["response_id"] == done["id"]
    pulled = d.pulled(d.of("output_audio_buffer.started")[0])
    assert pulled.size == 15 * FRAME_SAMPLES
    assert out[1]["audio_end_ms"] == 15 * 20
    item = d.session.conversation.get(out[1]["item_id"])
    assert np.array_equal(item.audio[0], pulled)
    d.pull(10)
    assert not any(np.any(f) for _, f in d.frames[-10:])
    assert d.session.output.empty
    # a second clear has nothing to drop: acknowledged for the latest reply, nothing truncated
    out = d.send("output_audio_buffer.clear")
    assert types(out) == ["output_audio_buffer.cleared"] and out[0]["response_id"] == done["id"]


def test_clear_while_generating_cancels_the_reply_first(rtc):
    d = rtc(Dialect.GA, responder=long_reply)
    ask(d)
    d.pull(5)
    out = d.send("output_audio_buffer.clear")
    names = types(out)
    assert names[0] == "output_audio_buffer.cleared"
    assert names.index("response.done") < names.index("conversation.item.truncated")
    assert d.of("response.done")[0]["response"]["status_details"]["reason"] == "client_cancelled"
    assert out[-1]["audio_end_ms"] == 5 * 20


def test_clear_before_any_reply_is_refused_and_changes_nothing(rtc):
    d = rtc(Dialect.GA)
    before = d.session.snapshot()
    err = d.send("output_audio_buffer.clear", event_id="evt_1")[0]
    assert err["type"] == "error" and err["error"]["code"] == "output_audio_buffer_empty"
    assert err["error"]["event_id"] == "evt_1"
    assert d.session.snapshot() == before


# --- input over WebRTC ------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_append_is_refused_over_webrtc_and_changes_nothing(rtc, dialect):
    d = rtc(dialect)
    before = d.session.snapshot()
    audio = "AAAA"
    err = d.send("input_audio_buffer.append", audio=audio, event_id="evt_app")[0]
    assert err["type"] == "error"
    assert err["error"]["code"] == "unsupported_over_webrtc"
    assert err["error"]["param"] == "type" and err["error"]["event_id"] == "evt_app"
    assert "track" in err["error"]["message"]
    assert d.session.snapshot() == before
    # push-to-talk still works: track audio, commit, response.create
    d.session.receive_audio(np.full(PCM_RATE // 5, 1000, np.int16), d.now)
    assert types(d.send("input_audio_buffer.commit"))[0] == "input_audio_buffer.committed"


def test_track_audio_makes_the_same_turn_decisions_as_appends(models, sdk_adapters):
    turns = samples.load("turns")

    def decisions(session: EngineSession, feed) -> list[tuple[str, int]]:
        td = {"type": "server_vad", "create_response": False, "silence_duration_ms": 500}
        session.receive_text(
            json.dumps(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "audio": {"input": {"turn_detection": td}}},
                }
            ),
            0.0,
        )
        for lo in range(0, turns.audio.size, 960):
            feed(session, turns.audio[lo : lo + 960])
        return [
            (e["type"], e.get("audio_start_ms", e.get("audio_end_ms")))
            for e in session.events_to_send()
            if e["type"].startswith("input_audio_buffer.speech")
        ]

    import base64

    def append(s: EngineSession, pcm: np.ndarray) -> None:
        s.receive_text(
            json.dumps(
                {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm.tobytes()).decode()}
            ),
            0.0,
        )

    ws = decisions(EngineSession(models, Dialect.GA, now=0.0), append)
    rtc_session = EngineSession(models, Dialect.GA, now=0.0, transport="webrtc")
    webrtc = decisions(rtc_session, lambda s, pcm: s.receive_audio(pcm, 0.0))
    assert ws == webrtc and len(ws) == 6


def test_transport_mismatches_are_programming_errors(models):
    ws = EngineSession(models, Dialect.GA, now=0.0)
    with pytest.raises(RuntimeError):
        ws.output_frame(0.0)
    with pytest.raises(RuntimeError):
        ws.receive_audio(np.zeros(480, np.int16), 0.0)
    with pytest.raises(ValueError, match="transport"):
        EngineSession(models, Dialect.GA, now=0.0, transport="sip")  # type: ignore[arg-type]


def test_closed_session_pulls_silence(rtc):
    d = rtc(Dialect.GA, responder=long_reply)
    ask(d)
    d.pull(3)
    d.session.close(d.now)
    assert not np.any(d.session.output_frame(d.now + 0.02))
    d.check_order = False  # the reply never finished: the connection went away
