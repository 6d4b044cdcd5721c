"""The incoming side of a WebRTC call's media, and what the EventLog keeps of track audio.

`ReceivedAudio` decides which response each received frame belongs to from the data channel's
``output_audio_buffer.*`` events; the log then answers `response_audio`, `sent_audio`, `turns()` and
`responses()` for a WebRTC session as for a WebSocket one, and saves / loads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from realtime_nb.client.rtc_media import (
    DRAIN_MAX_FRAMES,
    HOLD_FRAMES,
    PAUSE_MAX_FRAMES,
    ReceivedAudio,
    TrackChunk,
)
from realtime_nb.protocol import Dialect, SessionConfig, session_update
from realtime_nb.timeline import EventLog
from realtime_nb.timeline.track_audio import SILENT_PEAK

MS = 1_000_000  # ns


def _tone(amplitude: int = 8000, n: int = 960, freq: float = 500.0, rate: int = 48000) -> np.ndarray:
    return np.round(amplitude * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.int16)


SILENCE = np.zeros(960, np.int16)
TONE = _tone()


class Feed:
    """Drives a `ReceivedAudio` frame by frame (20 ms apart) and collects what it releases."""

    def __init__(self) -> None:
        self.rx = ReceivedAudio()
        self.t = 0
        self.out: list[TrackChunk] = []

    def frames(self, pcm: np.ndarray, count: int = 1) -> None:
        for _ in range(count):
            self.t += 20 * MS
            self.out += self.rx.feed(pcm, self.t)

    def event(self, kind: str, rid: str) -> None:
        self.rx.on_event({"type": f"output_audio_buffer.{kind}", "response_id": rid})

    def done(self) -> list[TrackChunk]:
        self.out += self.rx.flush()
        return self.out

    def keys(self) -> list[str | None]:
        return [c.response_id for c in self.done()]


def test_idle_silence_is_dropped_and_a_response_keeps_only_its_audio() -> None:
    feed = Feed()
    feed.frames(SILENCE, 5)  # the peer's idle stream
    feed.event("started", "resp_1")
    feed.frames(SILENCE, 3)  # still in flight: sent before the response's audio
    feed.frames(TONE, 10)
    feed.frames(SILENCE, 2)  # a pause inside the response is the response's
    feed.frames(TONE, 5)
    feed.event("stopped", "resp_1")
    feed.frames(TONE, 2)  # the jitter buffer's last frames
    feed.frames(SILENCE, 6)
    chunks = feed.done()
    assert [c.response_id for c in chunks] == ["resp_1"] * 19
    assert all(c.pcm.size == 480 and c.pcm.dtype == np.int16 for c in chunks)
    assert chunks[0].t_ns == 9 * 20 * MS and chunks[0].peak == np.abs(TONE).max()  # first tone frame
    assert [c.peak <= SILENT_PEAK for c in chunks].count(True) == 2
    assert feed.rx.state == "idle" and feed.rx.dropped_silent == 5 + 3 + 6


def test_cleared_drains_like_stopped_and_a_late_stopped_is_ignored() -> None:
    feed = Feed()
    feed.event("started", "resp_1")
    feed.frames(TONE, 3)
    feed.event("started", "resp_2")  # the next reply starts before resp_1's late `stopped`
    feed.event("stopped", "resp_1")
    feed.frames(TONE, 3)
    feed.event("cleared", "resp_2")  # barge-in
    feed.frames(TONE, 1)
    feed.frames(SILENCE, 1)
    feed.frames(TONE, 1)  # after the drain: not resp_2's any more
    assert feed.keys() == ["resp_1"] * 3 + ["resp_2"] * 4 + [None]


def test_audio_before_started_waits_for_it_briefly() -> None:
    feed = Feed()
    feed.frames(TONE, 2)  # the track outran the data channel
    feed.event("started", "resp_1")
    feed.frames(TONE, 2)
    feed.event("stopped", "resp_1")
    feed.frames(SILENCE, 1)
    assert feed.keys() == ["resp_1"] * 4


def test_audible_frames_outside_any_response_are_kept_apart() -> None:
    feed = Feed()
    feed.frames(TONE, HOLD_FRAMES + 3)  # no `started` ever comes (a peer without output_audio_buffer)
    feed.frames(SILENCE, HOLD_FRAMES)
    chunks = feed.done()
    assert [c.response_id for c in chunks] == [None] * (HOLD_FRAMES + 3)
    assert [c.t_ns for c in chunks] == [i * 20 * MS for i in range(1, HOLD_FRAMES + 4)]


def test_a_lone_click_outside_responses_does_not_hold_up_later_frames() -> None:
    feed = Feed()
    feed.frames(TONE, 1)
    feed.frames(SILENCE, HOLD_FRAMES + 2)
    feed.event("started", "resp_1")
    feed.frames(TONE, 4)
    released = list(feed.out)  # before any flush
    assert [c.response_id for c in released][:1] == [None]
    assert feed.keys() == [None] + ["resp_1"] * 4


def test_silence_before_a_late_stopped_is_not_the_response_s() -> None:
    """Under load the data channel's `stopped` came 200 ms after the track's last audible frame, and
    the idle stream in between was recorded as the end of the reply (the call test's 400 ms tone
    came back as 600 ms)."""
    feed = Feed()
    feed.event("started", "resp_1")
    feed.frames(TONE, 5)
    feed.frames(SILENCE, 10)  # the reply is over; its `stopped` is late
    feed.event("stopped", "resp_1")
    feed.frames(SILENCE, 2)
    feed.event("started", "resp_2")
    feed.frames(TONE, 3)
    feed.frames(SILENCE, 4)  # the track ends before resp_2's `stopped`
    chunks = feed.done()
    assert [c.response_id for c in chunks] == ["resp_1"] * 5 + ["resp_2"] * 3
    assert all(c.peak > SILENT_PEAK for c in chunks)
    assert feed.rx.dropped_silent == 10 + 2 + 4


def test_silence_before_a_barge_in_is_the_cut_reply_s() -> None:
    """A `cleared` cuts a reply mid-way: its quiet frames before the cut were pulled from the reply's
    audio (the engine truncates the item after them), so they stay the reply's."""
    feed = Feed()
    feed.event("started", "resp_1")
    feed.frames(TONE, 5)
    feed.frames(SILENCE, 3)  # a pause in the reply, then the user barges in
    feed.event("cleared", "resp_1")
    feed.frames(SILENCE, 2)  # the idle stream after the cut
    assert feed.keys() == ["resp_1"] * 8
    assert feed.rx.dropped_silent == 2


def test_a_long_pause_inside_a_response_is_kept_without_waiting_for_its_end() -> None:
    feed = Feed()
    feed.event("started", "resp_1")
    feed.frames(TONE, 2)
    feed.frames(SILENCE, PAUSE_MAX_FRAMES + 1)
    released = [c.response_id for c in feed.out]  # before any later frame or flush
    # (the resampler keeps the newest frame or two back)
    assert set(released) == {"resp_1"} and len(released) >= PAUSE_MAX_FRAMES
    feed.frames(TONE, 2)
    feed.event("stopped", "resp_1")
    feed.frames(SILENCE, 1)
    assert feed.keys() == ["resp_1"] * (2 + PAUSE_MAX_FRAMES + 1 + 2)


def test_draining_is_bounded() -> None:
    feed = Feed()
    feed.event("started", "resp_1")
    feed.frames(TONE, 1)
    feed.event("stopped", "resp_1")
    feed.frames(TONE, DRAIN_MAX_FRAMES + 5)  # a peer that never goes quiet
    keys = feed.keys()
    assert keys.count("resp_1") == 1 + DRAIN_MAX_FRAMES and None in keys


# --- the log: track audio in, tables and audio out --------------------------------------------------------


def _created(rid: str) -> dict[str, Any]:
    return {
        "type": "response.created",
        "event_id": f"e_{rid}",
        "response": {"id": rid, "status": "in_progress"},
    }


def _webrtc_log() -> tuple[EventLog, dict[str, Any]]:
    """A WebRTC session's log as the client records it: events on the channel, audio on the tracks.

    Sent track: 1 s of silence, 600 ms of speech, 500 ms of silence (then the peer's VAD stops at
    1100 + 500 = 1600 ms on its clock, with a 500 ms silence window). Received: 200 ms of idle, then
    resp_1's audio, whose first frame is silent (dropped by the recorder, never reaches the log)."""
    log = EventLog(start_ns=0)
    created = {**session_update(SessionConfig(), Dialect.GA)["session"], "id": "sess_1"}
    log.record(
        "received", {"type": "session.created", "event_id": "e0", "session": created}, "ga", t_ns=1 * MS
    )
    t = 10 * MS
    speech = _tone(9000, 480, rate=24000)
    for i in range(105):  # 2.1 s of 20 ms frames, sent every 20 ms
        pcm = speech if 50 <= i < 80 else np.zeros(480, np.int16)
        log.record_track_audio("sent", pcm, t_ns=t + i * 20 * MS)
    events = [
        (1030, {"type": "input_audio_buffer.speech_started", "audio_start_ms": 1000, "item_id": "item_1"}),
        (2150, {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 2100, "item_id": "item_1"}),
        (2160, {"type": "input_audio_buffer.committed", "item_id": "item_1", "previous_item_id": None}),
        (2170, _created("resp_1")),
        (2180, {"type": "output_audio_buffer.started", "response_id": "resp_1"}),
    ]
    for ms, event in events:
        log.record("received", {"event_id": f"e{ms}", **event}, "ga", t_ns=ms * MS)
    quiet = _tone(200, 480, rate=24000)  # under the -40 dBFS "audible" threshold, above silence
    for i, pcm in enumerate([quiet] * 2 + [_tone(12000, 480, rate=24000)] * 10):
        log.record_track_audio("received", pcm, t_ns=(2300 + 20 * i) * MS, response_id="resp_1", peak=None)
    log.record_track_audio("received", _tone(3000, 480, rate=24000), t_ns=2600 * MS)  # outside responses
    done = {
        "type": "response.done",
        "event_id": "e_done",
        "response": {"id": "resp_1", "status": "completed"},
    }
    log.record("received", done, "ga", t_ns=2550 * MS)
    log.record(
        "received",
        {"type": "output_audio_buffer.stopped", "event_id": "e_st", "response_id": "resp_1"},
        "ga",
        t_ns=2560 * MS,
    )
    return log, {"speech": speech, "quiet": quiet}


def test_sent_track_audio_is_the_input_audio_clock() -> None:
    log, parts = _webrtc_log()
    sent = log.sent_audio()
    assert sent.size == 105 * 480
    loud = np.flatnonzero(sent)
    assert loud[0] - 1000 * 24 <= 1 and loud[-1] < 1600 * 24  # speech where the peer's clock puts it
    assert np.array_equal(log.sent_audio(1000, 1020), parts["speech"])
    assert not log.sent_audio(0, 1000).any()  # idle silence: stored as nothing, read back as zeros
    assert np.array_equal(log.item_audio("item_1"), log.sent_audio(1000, 2100))
    assert log._rec.track.sent.data.__len__() == 30 * 480 * 2  # only the speech frames hold bytes


def test_response_audio_and_tables_of_a_webrtc_session() -> None:
    log, parts = _webrtc_log()
    audio = log.response_audio("resp_1")
    assert audio.size == 12 * 480 and np.array_equal(audio[:480], parts["quiet"])
    with pytest.raises(KeyError):
        log.response_audio("resp_unknown")
    [response] = log.responses().to_dict("records")
    assert response["t_first_audio"] == pytest.approx(2.300)  # first non-silent frame
    assert response["audio_s"] == pytest.approx(0.24) and response["n_audio_deltas"] == 0
    [turn] = log.turns().to_dict("records")
    assert turn["response_id"] == "resp_1" and turn["kind"] == "vad"
    assert turn["t_first_audio"] == pytest.approx(2.300)
    assert turn["t_first_audible"] == pytest.approx(2.340)  # the quiet frames are below -40 dBFS
    assert turn["stop_to_first_audio_ms"] == pytest.approx(150)
    # the true end of speech: the sent frame holding 2100 - 500 ms (the last speech frame, sent at 1590 ms)
    assert turn["t_speech_end"] == pytest.approx(0.010 + 79 * 0.020)


def test_track_audio_survives_save_and_load(tmp_path: Path) -> None:
    log, _ = _webrtc_log()
    loaded = EventLog.load(log.save(tmp_path / "call.rtlog"))
    assert np.array_equal(loaded.sent_audio(), log.sent_audio())
    assert np.array_equal(loaded.response_audio("resp_1"), log.response_audio("resp_1"))
    assert loaded.turns().equals(log.turns()) and loaded.responses().equals(log.responses())


def test_a_log_without_track_audio_saves_as_before(tmp_path: Path) -> None:
    import zipfile

    log = EventLog()
    log.record("sent", {"type": "input_audio_buffer.clear", "event_id": "e1"}, "ga")
    with zipfile.ZipFile(log.save(tmp_path / "plain.rtlog")) as zf:
        assert not [n for n in zf.namelist() if "track" in n]
    assert EventLog.load(tmp_path / "plain.rtlog").sent_audio().size == 0


def test_record_track_audio_refuses_what_it_cannot_keep() -> None:
    log = EventLog()
    with pytest.raises(ValueError, match="direction"):
        log.record_track_audio("both", np.zeros(480, np.int16))
    with pytest.raises(ValueError, match="int16"):
        log.record_track_audio("sent", np.zeros(480, np.float32))
    with pytest.raises(ValueError, match="received audio only"):
        log.record_track_audio("sent", np.zeros(480, np.int16), response_id="resp_1")
    assert len(log) == 0  # track audio adds no row


def test_the_first_audible_sample_is_dated_by_its_frame_and_its_place_in_it() -> None:
    log, _ = _webrtc_log()
    track = log._rec.track
    level = 32768 * 10 ** (-40 / 20)
    # the two quiet frames never reach -40 dBFS; the third frame's first sample at or above it does
    frame_at = 2340 * MS
    loud = np.flatnonzero(np.abs(_tone(12000, 480, rate=24000).astype(np.int32)) >= level)
    assert track.first_t_ns("resp_1", level) == frame_at
    assert track.first_sample_t_ns("resp_1", level) == frame_at + round(int(loud[0]) * 1e9 / 24000)
    assert track.first_sample_t_ns("resp_1", 40000) is None  # nothing that loud
    assert track.first_sample_t_ns("resp_unknown", level) is None
