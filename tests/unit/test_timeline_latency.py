"""End of speech -> first audible sample: the same figure from a WebSocket log and a WebRTC log.

Two logs of one made-up turn, recorded as each client records them: the same microphone audio sent
20 ms at a time (appends / outgoing track frames), the same VAD events, and the same answer audio
arriving at the same times (one 60 ms audio delta / three 20 ms track frames), whose first audible
sample lies 40 ms plus a few samples into the answer. The helper must date it identically on both.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from realtime_nb.protocol import Dialect, ServerVad, SessionConfig, session_update
from realtime_nb.timeline import EventLog, first_audible_sample_t, speech_end_latencies

MS = 1_000_000  # ns
FRAME = 480  # 20 ms at 24 kHz
LEVEL = 32768 * 10 ** (-40 / 20)


def _tone(amplitude: int, n: int = FRAME, freq: float = 500.0) -> np.ndarray:
    return np.round(amplitude * np.sin(2 * np.pi * freq * np.arange(n) / 24000)).astype(np.int16)


QUIET = _tone(200)  # below -40 dBFS, above silence: the reply's leading near-silence
LOUD = _tone(12000)
FIRST_LOUD = int(np.flatnonzero(np.abs(LOUD.astype(np.int32)) >= LEVEL)[0])  # a few samples in


def _events(log: EventLog, rid: str | None = "resp_1") -> None:
    session = session_update(SessionConfig(turn_detection=ServerVad(silence_duration_ms=500)), Dialect.GA)
    created = {"type": "session.created", "event_id": "e0", "session": {**session["session"], "id": "s"}}
    log.record("received", created, "ga", t_ns=1 * MS)
    events = [
        (1030, {"type": "input_audio_buffer.speech_started", "audio_start_ms": 700, "item_id": "item_1"}),
        (2150, {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 2100, "item_id": "item_1"}),
        (2160, {"type": "input_audio_buffer.committed", "item_id": "item_1", "previous_item_id": None}),
    ]
    if rid is not None:
        response = {"id": rid, "object": "realtime.response", "status": "in_progress", "output": []}
        events.append((2170, {"type": "response.created", "response": response}))
    for ms, event in events:
        log.record("received", {"event_id": f"e{ms}", **event}, "ga", t_ns=ms * MS)


def _microphone() -> list[np.ndarray]:
    """105 frames (2.1 s): silence, speech from 1000 to 1600 ms, silence."""
    return [LOUD if 50 <= i < 80 else np.zeros(FRAME, np.int16) for i in range(105)]


def _websocket_log(rid: str | None = "resp_1") -> EventLog:
    log = EventLog(start_ns=0)
    for i, pcm in enumerate(_microphone()):
        audio = base64.b64encode(pcm.astype("<i2").tobytes()).decode()
        log.record(
            "sent", {"type": "input_audio_buffer.append", "audio": audio}, "ga", t_ns=(10 + 20 * i) * MS
        )
    _events(log, rid)
    if rid is not None:
        answer = np.concatenate([QUIET, QUIET, LOUD])  # one delta, 60 ms of audio
        delta = {
            "type": "response.output_audio.delta", "event_id": "e_d", "response_id": rid,
            "item_id": "item_2", "output_index": 0, "content_index": 0,
            "delta": base64.b64encode(answer.astype("<i2").tobytes()).decode(),
        }  # fmt: skip
        log.record("received", delta, "ga", t_ns=2300 * MS)
    return log


def _webrtc_log() -> EventLog:
    log = EventLog(start_ns=0)
    for i, pcm in enumerate(_microphone()):
        log.record_track_audio("sent", pcm, t_ns=(10 + 20 * i) * MS)
    _events(log)
    log.record(
        "received", {"type": "output_audio_buffer.started", "response_id": "resp_1"}, "ga", t_ns=2180 * MS
    )
    for i, pcm in enumerate((QUIET, QUIET, LOUD)):  # the same answer, one 20 ms frame at a time
        log.record_track_audio("received", pcm, t_ns=(2300 + 20 * i) * MS, response_id="resp_1")
    return log


# the end of speech: the frame holding audio_end_ms - silence = 1600 ms (frame 79, sent at 1590 ms)
SPEECH_END_S = 0.010 + 79 * 0.020
FIRST_AUDIBLE_S = 2.300 + (2 * FRAME + FIRST_LOUD) / 24000


@pytest.mark.parametrize("make", [_websocket_log, _webrtc_log], ids=["websocket", "webrtc"])
def test_the_first_audible_sample_is_dated_by_its_packet_and_its_place_in_it(make) -> None:
    log = make()
    assert first_audible_sample_t(log, "resp_1") == pytest.approx(FIRST_AUDIBLE_S, abs=1e-9)
    # the packet-level figure of turns() is later over WebRTC (frame) than over a WebSocket (delta)
    [row] = speech_end_latencies(log).to_dict("records")
    assert row["item_id"] == "item_1" and row["response_id"] == "resp_1" and row["silence_ms"] == 500
    assert row["speech_stopped_ms"] == pytest.approx((2.150 - SPEECH_END_S) * 1000)
    assert row["first_audible_ms"] == pytest.approx((FIRST_AUDIBLE_S - SPEECH_END_S) * 1000)


def test_the_two_transports_give_the_same_figures_where_turns_differs() -> None:
    ws, rtc = speech_end_latencies(_websocket_log()), speech_end_latencies(_webrtc_log())
    pd.testing.assert_frame_equal(ws, rtc, rtol=0, atol=1e-6)  # ms: the clocks' ns-to-s rounding only
    # what the packet-level measure would have said: the delta's arrival vs the loud frame's arrival
    assert _websocket_log().turns()["t_first_audible"][0] == pytest.approx(2.300)
    assert _webrtc_log().turns()["t_first_audible"][0] == pytest.approx(2.340)


def test_beyond_silence_subtracts_the_window_from_both_figures() -> None:
    plain = speech_end_latencies(_webrtc_log())
    beyond = speech_end_latencies(_webrtc_log(), beyond_silence=True)
    for name in ("speech_stopped_ms", "first_audible_ms"):
        assert beyond[name][0] == pytest.approx(plain[name][0] - 500)


def test_a_stricter_level_finds_a_later_sample_or_none() -> None:
    log = _websocket_log()
    quiet_first = int(np.flatnonzero(np.abs(QUIET.astype(np.int32)) >= 32768 * 10 ** (-60 / 20))[0])
    expected = 2.300 + quiet_first / 24000  # the leading near-silence counts at -60 dBFS
    assert first_audible_sample_t(log, "resp_1", audible_dbfs=-60.0) == pytest.approx(expected, abs=1e-9)
    assert math.isnan(first_audible_sample_t(log, "resp_1", audible_dbfs=0.0))  # nothing at full scale
    assert math.isnan(first_audible_sample_t(log, "resp_unknown"))
    with pytest.raises(ValueError, match="audible_dbfs"):
        speech_end_latencies(log, audible_dbfs=float("nan"))


def test_a_turn_without_an_answer_keeps_its_row_with_no_audio_figure() -> None:
    [row] = speech_end_latencies(_websocket_log(rid=None)).to_dict("records")
    assert row["response_id"] is None and math.isnan(row["first_audible_ms"])
    assert math.isfinite(row["speech_stopped_ms"])


def test_an_empty_log_gives_an_empty_table_with_the_columns() -> None:
    table = speech_end_latencies(EventLog())
    assert table.empty and list(table.columns) == [
        "item_id", "response_id", "silence_ms", "speech_stopped_ms", "first_audible_ms",
    ]  # fmt: skip


@pytest.mark.parametrize("make", [_websocket_log, _webrtc_log], ids=["websocket", "webrtc"])
def test_the_figures_survive_save_and_load(make, tmp_path: Path) -> None:
    log = make()
    loaded = EventLog.load(log.save(tmp_path / "turn.rtlog"))
    assert speech_end_latencies(loaded).equals(speech_end_latencies(log))
