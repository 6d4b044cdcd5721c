"""Trace mode against live sessions on the embedded engine: the same speech_started / speech_stopped
(= commit) times, file by file and setting by setting, on the bundled corpus.

Live mode streams each file into a real engine session over a WebSocket (the client's
``stream_file``, 40 ms chunks, as fast as the engine takes it) and reads the turns off the session's
events; trace mode runs the models once per file and noise setting and replays the engine's
``InputPath`` per setting. Equal times are what makes a trace sweep's numbers a live session's.
"""

from __future__ import annotations

import pandas as pd
import pytest

from realtime_nb.sweeps.corpus import Corpus
from realtime_nb.sweeps.run import sweep

pytestmark = pytest.mark.slow

GRID = [
    {"threshold": 0.5, "silence_duration_ms": 200},
    {"threshold": 0.8, "silence_duration_ms": 500, "prefix_padding_ms": 100},
    {"threshold": 0.3, "silence_duration_ms": 700},
    {"type": "semantic_vad", "eagerness": "high"},
]
COMPARED = [
    "file",
    "setting_id",
    "turn_starts_ms",
    "turn_ends_ms",
    "turns_cut",
    "eot_latency_ms",
    "der",
    "f1",
]


def _same(trace: pd.DataFrame, live: pd.DataFrame) -> None:
    assert len(trace) == len(live) > 0
    for (_, t), (_, v) in zip(trace[COMPARED].iterrows(), live[COMPARED].iterrows(), strict=True):
        assert (t["file"], t["setting_id"]) == (v["file"], v["setting_id"])
        assert list(t["turn_starts_ms"]) == list(v["turn_starts_ms"]), (t["file"], t["setting_id"])
        ends_t = [e for e in t["turn_ends_ms"] if e == e]
        ends_v = [e for e in v["turn_ends_ms"] if e == e]
        assert ends_t == ends_v, (t["file"], t["setting_id"])
        assert t["der"] == pytest.approx(v["der"]) and t["turns_cut"] == v["turns_cut"]


def test_trace_and_live_give_the_same_turns_on_the_builtin_corpus() -> None:
    corpus = Corpus.builtin()
    trace = sweep(corpus, GRID, mode="trace", executor="serial", progress=False)
    live = sweep(corpus, GRID, mode="live", executor="serial", progress=False)
    _same(trace, live)
    assert trace["detected_turns"].sum() >= 2 * len(trace)  # the files have speech and it was found


def test_trace_and_live_agree_with_noise_reduction() -> None:
    corpus = Corpus.builtin(["noisy_10db", "hesitation"])
    grid = {"threshold": [0.5, 0.7], "silence_duration_ms": 400, "noise_reduction": "near_field"}
    _same(sweep(corpus, grid, mode="trace", executor="serial", progress=False),
          sweep(corpus, grid, mode="live", executor="serial", progress=False))  # fmt: skip


async def test_live_mode_runs_from_inside_an_event_loop() -> None:
    """As in a notebook cell: ``sweep(mode="live")`` called while a loop is running."""
    corpus = Corpus.builtin(["single"])
    grid = {"threshold": 0.5, "silence_duration_ms": 500}
    live = sweep(corpus, grid, mode="live", executor="serial", progress=False)
    _same(sweep(corpus, grid, mode="trace", executor="serial", progress=False), live)


def test_a_live_sweep_with_responses_times_the_first_response_audio() -> None:
    """``responses=True``: the engine answers every turn end; true end of turn -> first response audio
    is measured per answered turn on the wall clock (the audio goes at real time)."""
    from realtime_nb.sweeps import summarize

    corpus = Corpus.builtin(["turns"])
    grid = {"threshold": 0.5, "silence_duration_ms": 400}
    rows = sweep(corpus, grid, mode="live", executor="serial", progress=False, responses=True)
    row = rows.iloc[0]
    latencies = list(row["response_latencies_ms"])
    assert row["turns_answered"] == len(latencies) >= 2 and bool(row["responses"])
    # the answer cannot start before the silence window has passed after the true end of speech
    # (less a little: the labelled end and the detected end differ by a frame or two)
    assert all(400 - 100 <= lat < 60_000 for lat in latencies), latencies
    eot = list(row["eot_latencies_ms"])
    assert min(latencies) >= min(eot) - 100  # first audio comes after the commit that caused it
    assert summarize(rows)["response_latency_ms"].iloc[0] == pytest.approx(row["response_latency_ms"])


def test_responses_need_live_mode() -> None:
    with pytest.raises(ValueError, match="responses=True needs mode='live'"):
        sweep(Corpus.builtin(["single"]), None, mode="trace", responses=True, progress=False)
