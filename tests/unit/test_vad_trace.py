"""The engine's VAD over recorded audio (vad_trace) and its plot against the threshold."""

from __future__ import annotations

import numpy as np
import pytest

from realtime_nb import samples
from realtime_nb.audio import resample
from realtime_nb.engine import vad_trace
from realtime_nb.engine.vad_trace import above
from realtime_nb.plots import plot_vad_trace, turn_segments


@pytest.fixture(scope="module")
def single() -> samples.Sample:
    return samples.load("single")


def test_windows_tile_the_audio_clock_from_zero(single: samples.Sample) -> None:
    trace = vad_trace(single.audio)
    assert list(trace.columns) == ["start_ms", "end_ms", "probability"]
    assert trace["start_ms"].iloc[0] == 0.0
    np.testing.assert_allclose(trace["end_ms"] - trace["start_ms"], 32.0)
    np.testing.assert_allclose(trace["start_ms"].iloc[1:].to_numpy(), trace["end_ms"].iloc[:-1].to_numpy())
    assert trace["end_ms"].iloc[-1] == pytest.approx(single.duration_s * 1000, abs=32)
    assert trace["probability"].between(0, 1).all()


def test_the_probability_is_high_over_the_speech_and_low_around_it(single: samples.Sample) -> None:
    trace = vad_trace(single.audio)
    [(start, end)] = above(trace, 0.5)
    [(true_start, true_end)] = [seg.ms() for seg in single.segments]
    assert abs(start - true_start) <= 100 and abs(end - true_end) <= 100


def test_another_rate_lands_on_the_same_clock(single: samples.Sample) -> None:
    at16 = vad_trace(resample(single.audio, 24000, 16000), rate=16000)
    at24 = vad_trace(single.audio)
    assert abs(len(at16) - len(at24)) <= 1
    assert above(at16, 0.5)[0][0] == pytest.approx(above(at24, 0.5)[0][0], abs=64)


def test_far_field_lowers_the_probability_in_noise_between_turns() -> None:
    noisy = samples.load("noisy_0db")
    gaps = ~noisy.speech_mask()

    def in_gaps(trace):
        centre = ((trace["start_ms"] + trace["end_ms"]) / 2 * 24).astype(int).clip(0, gaps.size - 1)
        return trace["probability"][gaps[centre.to_numpy()]]

    raw, cleaned = vad_trace(noisy.audio), vad_trace(noisy.audio, noise_reduction="far_field")
    assert in_gaps(cleaned).mean() < in_gaps(raw).mean()


@pytest.mark.parametrize(
    ("audio", "kwargs", "problem"),
    [
        (np.zeros((2, 480), np.int16), {}, "mono int16"),
        (np.zeros(480, np.float32), {}, "mono int16"),
        (np.zeros(480, np.int16), {"noise_reduction": "strong"}, "noise_reduction must be one of"),
        (np.zeros(480, np.int16), {"rate": 0}, "rate must be"),
    ],
)
def test_bad_input_is_refused_naming_the_problem(audio: np.ndarray, kwargs: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        vad_trace(audio, **kwargs)


def test_the_plot_draws_the_trace_the_threshold_and_the_turns(single: samples.Sample) -> None:
    import pandas as pd

    trace = vad_trace(single.audio)
    turns = pd.DataFrame({"audio_start_ms": [212.0, None], "audio_end_ms": [3436.0, 5000.0]})
    ax = plot_vad_trace(trace, threshold=0.6, segments_ms=turn_segments(turns), truth_ms=[(500, 2930)])
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["P(speech)", "threshold 0.6", "release"]
    levels = sorted(line.get_ydata()[0] for line in ax.get_lines())
    assert levels == pytest.approx([0.45, 0.6])
    assert len(ax.patches) == 2  # the trace's steps and one shaded (complete) turn
    with pytest.raises(ValueError, match="threshold"):
        plot_vad_trace(trace, threshold=1.5)
    with pytest.raises(ValueError, match="probability"):
        plot_vad_trace(trace.drop(columns="probability"))


def test_the_dated_onset_stands_before_the_probability_crosses_the_threshold(single: samples.Sample) -> None:
    from realtime_nb.engine.input_path import InputPath, SpeechStart
    from realtime_nb.engine.models import Models
    from realtime_nb.protocol import ServerVad

    trace = vad_trace(single.audio)
    path = InputPath(Models.shared(), turn_detection=ServerVad())
    try:
        [start] = [d for d in path.feed(single.audio) if isinstance(d, SpeechStart)]
    finally:
        path.close()
    onset = start.audio_start_ms + 300  # the default prefix_padding_ms
    [(crossing, _)] = above(trace, 0.5)
    true_start = single.segments[0].ms()[0]
    assert abs(onset - true_start) <= 30 and onset < crossing

    ax = plot_vad_trace(trace, truth_ms=[(true_start, 3000.0)], onsets_ms=[onset])
    assert ax.get_legend_handles_labels()[1][-1] == "dated onset"
    [line] = [ln for ln in ax.get_lines() if ln.get_label() == "dated onset"]
    assert line.get_xdata()[0] == onset
