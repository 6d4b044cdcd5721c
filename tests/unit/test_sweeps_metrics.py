"""Every sweep metric on hand-made segments with answers worked out by hand (and, where it is
installed, pyannote.metrics on the same segments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from realtime_nb.sweeps.corpus import Recording
from realtime_nb.sweeps.intervals import intersect, subtract, union
from realtime_nb.sweeps.labels import Turn
from realtime_nb.sweeps.metrics import Padding, detected_speech, detection, rates, score_file, turn_taking
from realtime_nb.sweeps.trace import DetectedTurn

SERVER = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500}


def test_interval_arithmetic() -> None:
    assert union([(5, 8), (0, 2), (1, 3), (8, 9), (4, 4)]) == [(0, 3), (5, 9)]
    assert intersect([(0, 3), (5, 9)], [(2, 6)]) == [(2, 3), (5, 6)]
    assert subtract([(0, 10)], [(2, 3), (5, 6), (9, 12)]) == [(0, 2), (3, 5), (6, 9)]


def test_detection_without_collar() -> None:
    # speech 2000 ms; detected 2000 ms of which 1000 over speech
    got = detection([(0, 1000), (2000, 3000)], [(500, 2500)], [(0, 4000)], collar_ms=0)
    assert got["speech_ms"] == 2000 and got["detected_ms"] == 2000
    assert got["miss_ms"] == 1000 and got["false_alarm_ms"] == 1000
    assert got["der"] == 1.0 and got["precision"] == got["recall"] == got["f1"] == 0.5


def test_collar_is_a_total_width_centred_on_reference_boundaries() -> None:
    # 100 ms each side of 0, 1000, 2000, 3000 leaves [100,900] [1100,1900] [2100,2900] [3100,4000]
    got = detection([(0, 1000), (2000, 3000)], [(500, 2500)], [(0, 4000)], collar_ms=200)
    assert got["speech_ms"] == 1600 and got["detected_ms"] == 1600
    assert got["miss_ms"] == 800 and got["false_alarm_ms"] == 800


def test_uem_limits_what_is_scored() -> None:
    got = detection([(0, 1000)], [(0, 1000), (3000, 4000)], [(0, 2000)], collar_ms=0)
    assert got["false_alarm_ms"] == 0 and got["der"] == 0.0


def test_rates_on_empty_parts_follow_pyannote() -> None:
    nothing = {"speech_ms": 0.0, "detected_ms": 0.0, "miss_ms": 0.0, "false_alarm_ms": 0.0}
    assert rates(nothing) == {"der": 0.0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    alarm = nothing | {"detected_ms": 10.0, "false_alarm_ms": 10.0}
    assert rates(alarm)["der"] == 1.0 and rates(alarm)["precision"] == 0.0


def test_detection_equals_pyannote_metrics() -> None:
    core = pytest.importorskip("pyannote.core")
    det = pytest.importorskip("pyannote.metrics.detection")
    rng = np.random.default_rng(3)
    for _ in range(20):
        edges = np.sort(rng.uniform(0, 20_000, 8))
        ref = [(edges[i], edges[i + 1]) for i in range(0, 8, 2)]
        edges = np.sort(rng.uniform(0, 20_000, 6))
        hyp = [(edges[i], edges[i + 1]) for i in range(0, 6, 2)]
        uem = [(500.0, 19_000.0)]
        ours = detection(ref, hyp, uem, collar_ms=250)

        def annotation(spans):
            a = core.Annotation()
            for s, e in spans:
                a[core.Segment(s / 1000, e / 1000)] = "speech"
            return a

        timeline = core.Timeline([core.Segment(500 / 1000, 19_000 / 1000)])
        theirs = det.DetectionErrorRate(collar=0.25)(annotation(ref), annotation(hyp), uem=timeline)
        prf = det.DetectionPrecisionRecallFMeasure(collar=0.25)(
            annotation(ref), annotation(hyp), uem=timeline
        )
        assert ours["der"] == pytest.approx(theirs, abs=1e-9)
        assert ours["f1"] == pytest.approx(prf, abs=1e-9)


def _recording(turns, duration_ms=6000.0) -> Recording:
    return Recording("r", np.zeros(int(duration_ms * 24), np.int16), tuple(turns))


def test_padding_is_taken_off_detected_speech() -> None:
    turns = [DetectedTurn(700, 2200), DetectedTurn(4700, math.nan)]
    assert detected_speech(turns, Padding.of(SERVER), 6000) == [(1000, 1700), (5000, 6000)]
    semantic = Padding.of({"type": "semantic_vad", "eagerness": "low"})
    assert semantic == Padding(300, 0)


def test_turn_taking_cut_in_a_pause_latency_and_false_start() -> None:
    rec = _recording([Turn(1000, 3000, ((1800, 2300),))])
    # A ends at 2200: inside the turn (a false cut) and inside its labelled pause;
    # B ends 500 ms after the true end; C's speech (5000-5300) is over no speech: a false start
    detected = [DetectedTurn(700, 2200), DetectedTurn(2000, 3500), DetectedTurn(4700, 5800)]
    got = turn_taking(rec, detected, Padding.of(SERVER), 7500)
    assert got["turns"] == 1 and got["detected_turns"] == 3
    assert got["turns_cut"] == got["false_cuts"] == got["false_cuts_in_pauses"] == got["pause_cuts"] == 1
    assert got["eot_latencies_ms"] == [500] and got["eot_latency_ms"] == 500
    assert got["onset_delays_ms"] == [0] and got["false_starts"] == 1
    assert got["missed_turns"] == got["unended_turns"] == 0


def test_a_turn_merged_into_the_next_is_unended_and_a_silent_turn_missed() -> None:
    rec = _recording([Turn(500, 1500), Turn(2000, 3000), Turn(4000, 4500)])
    # one detected turn covers the first two (ends 3500: 500 ms after the second); the third is missed
    got = turn_taking(rec, [DetectedTurn(200, 3500)], Padding.of(SERVER), 6000)
    assert got["unended_turns"] == 2 and got["eot_latencies_ms"] == [500]
    assert got["missed_turns"] == 1 and got["turns_cut"] == 0
    assert got["onset_delays_ms"] == [0, -1500]  # the detected speech (from 500) was already on


def test_score_file_row_has_detection_and_turn_columns() -> None:
    rec = _recording([Turn(1000, 3000)])
    row = score_file(rec, [DetectedTurn(700, 3500)], SERVER, stream_end_ms=7500, collar_ms=0)
    assert row["der"] == 0.0 and row["f1"] == 1.0 and row["eot_latency_ms"] == 500
    assert row["audio_ms"] == 6000 and row["turn_ends_ms"] == [3500]


def test_level_changes_measure_noise_floor_and_speech_separately() -> None:
    from realtime_nb.sweeps.metrics import level_changes

    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(24 * 4000) * 1000).astype(np.int16)  # 4 s; speech labelled 1-2 s
    rec = Recording("r", audio, (Turn(1000, 2000),))
    processed = audio.copy()
    quiet = np.ones(audio.size, bool)
    quiet[24 * 800 : 24 * 2200] = False  # 200 ms margins around the speech are not noise floor
    processed[quiet] = (audio[quiet] / 10).astype(np.int16)  # -20 dB on the noise
    got = level_changes(rec, processed)
    assert got["noise_floor_change_db"] == pytest.approx(-20, abs=0.1)
    assert got["speech_level_change_db"] == 0.0
