"""Grids (checked against the protocol's rules before anything runs) and the results layer
(summaries over files, bootstrap intervals, Pareto front, operating points, best)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import realtime_nb as rt
from realtime_nb.sweeps.grid import DEFAULT_GRID, GridError, expand, session_options, setting_id
from realtime_nb.sweeps.results import best, operating_points, pareto, setting_from, summarize


def test_ranges_lists_and_defaults_expand() -> None:
    settings = expand(
        {"threshold": [0.4, 0.6], "silence_duration_ms": {"start": 200, "stop": 600, "step": 200}}
    )
    assert len(settings) == 6
    assert settings[0] == {"type": "server_vad", "threshold": 0.4, "prefix_padding_ms": 300,
                           "silence_duration_ms": 200, "noise_reduction": None}  # fmt: skip
    assert [s["silence_duration_ms"] for s in settings[:3]] == [200, 400, 600]  # stop included
    assert len(expand(DEFAULT_GRID)) == 6 * 9
    both = expand(
        [{"threshold": 0.5}, {"type": "semantic_vad", "eagerness": ["low", "high"]}, {"threshold": 0.5}]
    )
    assert [s["type"] for s in both] == ["server_vad", "semantic_vad", "semantic_vad"]  # duplicates dropped
    assert expand({"threshold": {"start": 0.1, "stop": 0.3, "step": 0.1}})[2]["threshold"] == 0.3


@pytest.mark.parametrize(
    ("grid", "named"),
    [
        ({"threshold": [0.5, 1.5]}, ["threshold=1.5", "0.0 to 1.0"]),
        ({"silence_duration_ms": [200, -1]}, ["silence_duration_ms=-1", "integer ms >= 0"]),
        ({"prefix_padding_ms": 12.5}, ["prefix_padding_ms=12.5", "integer ms"]),
        ({"type": "semantic_vad", "eagerness": "eager"}, ["eagerness='eager'", "auto"]),
        ({"noise_reduction": "studio"}, ["noise_reduction='studio'", "near_field"]),
        ({"type": "semantic_vad", "threshold": 0.5}, ["threshold cannot be swept for semantic_vad"]),
        ({"type": "vad"}, ["type='vad'"]),
        ({"threshold": {"start": 0.5, "stop": 0.1, "step": 0.1}}, ["stop >= start"]),
    ],
)
def test_invalid_grids_are_refused_naming_the_setting(grid, named) -> None:
    with pytest.raises(GridError) as err:
        expand(grid)
    for text in named:
        assert text in str(err.value)


def test_session_options_are_ready_for_update_session() -> None:
    setting = expand({"threshold": 0.7, "silence_duration_ms": 800, "noise_reduction": "near_field"})[0]
    options = session_options(setting)
    assert options == {
        "turn_detection": rt.ServerVad(threshold=0.7, silence_duration_ms=800),
        "noise_reduction": "near_field",
    }
    assert setting_id(setting) == setting_id(dict(reversed(setting.items())))


def _rows() -> pd.DataFrame:
    """Two settings x three files, with known sums."""
    fast = expand({"threshold": 0.5, "silence_duration_ms": 200})[0]
    slow = expand({"threshold": 0.5, "silence_duration_ms": 800})[0]
    rows = []
    for setting, cuts, lat in ((fast, (1, 1, 0), 250.0), (slow, (0, 0, 0), 850.0)):
        for k, (name, turns) in enumerate((("a", 2), ("b", 4), ("c", 4))):
            rows.append({
                "file": name, "setting_id": setting_id(setting), **setting, "eagerness": None,
                "turns": turns, "turns_cut": cuts[k], "pauses": 1, "pause_cuts": cuts[k], "unended_turns": 0,
                "missed_turns": 0, "false_starts": k, "audio_ms": 60000.0, "eot_latencies_ms": [lat] * turns,
                "onset_delays_ms": [10.0] * turns, "speech_ms": 1000.0, "detected_ms": 1000.0,
                "miss_ms": 100.0 * k, "false_alarm_ms": 100.0 * k,
            })  # fmt: skip
    return pd.DataFrame(rows)


def test_summary_is_ratios_of_sums_with_intervals_around_them() -> None:
    summary = summarize(_rows(), n_boot=500)
    fast = summary.loc[setting_id(expand({"silence_duration_ms": 200})[0])]
    assert fast["false_cut_rate"] == pytest.approx(2 / 10)  # not the mean of 1/2, 1/4, 0/4
    assert fast["false_cut_rate_lo"] <= fast["false_cut_rate"] <= fast["false_cut_rate_hi"]
    assert fast["false_cut_rate_lo"] < fast["false_cut_rate_hi"]
    assert fast["pause_cut_rate"] == pytest.approx(2 / 3)
    assert fast["false_starts_per_min"] == pytest.approx(3 / 3)
    assert fast["der"] == pytest.approx(600 / 3000) and fast["eot_latency_ms"] == 250
    assert fast["label"] == "server_vad t=0.5 s=200 p=300"
    assert summarize(_rows(), n_boot=500).equals(summary)  # seeded


def test_pareto_operating_points_and_best() -> None:
    summary = summarize(_rows(), n_boot=50)
    assert list(pareto(summary)["silence_duration_ms"]) == [200, 800]
    points = operating_points(summary).loc["server_vad"]
    assert points["baseline"] and points["false_cut_rate@300ms"] == pytest.approx(0.2)
    assert points["false_cut_rate@600ms"] == pytest.approx(0.2) and points["eot_latency_ms@5%"] == 850
    assert math.isnan(operating_points(summary, latencies_ms=[100])["false_cut_rate@100ms"].iloc[0])
    chosen = best(_rows(), "false_cut_rate <= 0.05")
    assert chosen["turn_detection"] == rt.ServerVad(threshold=0.5, silence_duration_ms=800)
    assert best(summary, "false_cut_rate <= 0.5")["turn_detection"].silence_duration_ms == 200
    with pytest.raises(ValueError, match="no setting meets"):
        best(summary, "false_cut_rate < 0")
    with pytest.raises(ValueError, match="cannot be evaluated"):
        best(summary, "nonsense_column < 1")


def test_setting_from_a_float_column_gives_back_integer_ms() -> None:
    row = pd.Series({"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300.0,
                     "silence_duration_ms": 500.0, "noise_reduction": float("nan")})  # fmt: skip
    assert setting_from(row) == expand({"threshold": 0.5})[0]
