"""Level metrics on signals of known level, and the figures drawn from arrays and frames."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from realtime_nb.audio.levels import compare_levels, frame_levels, levels, speech_mask
from realtime_nb.plots import plot_segments, plot_timeline, plot_waveform_compare, turn_segments
from realtime_nb.timeline.lanes import LANES

RATE = 24000


def _tone(seconds: float, amplitude: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return amplitude * np.sin(2 * np.pi * 400 * t)  # whole cycles per 20 ms frame


def test_frame_level_of_a_full_scale_sine_is_minus_3_db():
    db = frame_levels((_tone(1.0, 0.999) * 32767).astype(np.int16), RATE)
    assert db.size == 50
    assert np.allclose(db, -3.01, atol=0.05)


def test_speech_and_noise_levels_are_separated_by_the_mask():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, 3 * RATE)  # -40 dBFS RMS
    signal = noise.copy()
    signal[RATE : 2 * RATE] += _tone(1.0, 0.5)  # speech-like tone at -9 dBFS in the middle second
    result = levels(signal, RATE, [(1000.0, 2000.0)])
    assert result.non_speech_db == pytest.approx(-40.0, abs=0.5)
    assert result.speech_db == pytest.approx(-9.0, abs=0.5)
    assert result.noise_floor_db == pytest.approx(-40.0, abs=1.5)
    assert result.speech_to_noise_db == pytest.approx(31.0, abs=1.0)


def test_compare_levels_reports_the_change_a_denoiser_makes():
    rng = np.random.default_rng(1)
    speech = np.zeros(2 * RATE)
    speech[RATE // 2 : RATE] = _tone(0.5, 0.3)
    raw = speech + rng.normal(0, 0.03, speech.size)
    processed = speech + rng.normal(0, 0.003, speech.size)  # 20 dB less noise
    change = compare_levels(raw, processed, RATE, [(500.0, 1000.0)])["change"]
    assert change["non_speech_db"] == pytest.approx(-20.0, abs=1.0)
    assert abs(change["speech_db"]) < 1.0


def test_mask_and_bad_input():
    assert speech_mask(5, [(20.0, 60.0)]).tolist() == [False, True, True, False, False]
    with pytest.raises(ValueError, match="20 ms"):
        levels(np.zeros(10), RATE)
    with pytest.raises(ValueError, match="mono"):
        frame_levels(np.zeros((2, 100)), RATE)


def test_waveform_compare_places_both_signals_on_the_audio_clock():
    raw = (_tone(2.0, 0.2) * 32767).astype(np.int16)
    processed = raw[RATE // 2 :]
    fig = plot_waveform_compare(raw, processed, RATE, raw_offset_ms=1000, processed_offset_ms=1500,
                                marks={"speech_started": 1600.0}, spectrogram=True)
    assert len(fig.axes) == 4
    lo, hi = fig.axes[0].get_xlim()
    assert lo <= 1000 and hi >= 3000
    lines = [ln for ln in fig.axes[1].get_lines() if ln.get_xdata()[0] == 1600.0]
    assert lines, "the speech_started mark is drawn"


def test_plot_segments_and_turn_segments_from_a_turns_table():
    turns = pd.DataFrame({"audio_start_ms": pd.array([100, 900, None], dtype="Int64"),
                          "audio_end_ms": pd.array([600, 1500, None], dtype="Int64")})
    segs = turn_segments(turns)
    assert segs == [(100.0, 600.0), (900.0, 1500.0)]
    ax = plot_segments(np.zeros(RATE * 2, np.int16), RATE, segs, truth_ms=[(150, 500)])
    assert len(ax.patches) >= 2


def test_timeline_draws_the_shared_lanes():
    frame = pd.DataFrame({
        "t": [0.0, 0.1, 0.2, 0.3],
        "type": ["session.created", "input_audio_buffer.append", "input_audio_buffer.speech_started",
                 "response.done"],
        "direction": ["received", "sent", "received", "received"],
        "family": pd.Categorical(["session", "input_audio_buffer", "input_audio_buffer", "response"]),
    })
    ax = plot_timeline(frame)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "response" in labels and "session" in labels
    assert labels == list(LANES)  # the LiveTimeline's lanes, top to bottom
    offsets = np.concatenate([c.get_offsets() for c in ax.collections if len(c.get_offsets())])
    assert 0.1 not in offsets[:, 0], "appends are drawn as a span, not as points"


def test_audio_spans_break_at_gaps_between_responses():
    from realtime_nb.plots.timeline import _spans

    assert _spans(np.array([0.0, 0.1, 0.2, 3.0, 3.1])) == [(0.0, 0.2), (3.0, 3.1)]
    assert _spans(np.array([])) == []
