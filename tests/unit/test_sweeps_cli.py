"""``realtime-nb sweep``: bad input refused before anything runs, a cloud sweep never sent without a
key or a confirmation, and a small run writing its files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from realtime_nb.audio import write_wav
from realtime_nb.cli import main
from realtime_nb.sweeps import Corpus, sweep
from realtime_nb.sweeps.live import CloudSweepRefused, cloud_plan

CLOUD_VARS = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT")


def test_invalid_grid_is_refused_naming_the_setting(tmp_path: Path, capsys) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text("threshold: [0.5, 0.7]\nsilence_duration_ms: {start: 100, stop: 300, step: 100}\n"
                    "prefix_padding_ms: -5\n")  # fmt: skip
    assert main(["sweep", "builtin", "--grid", str(grid), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "prefix_padding_ms=-5" in err and "integer ms >= 0" in err
    assert not (tmp_path / "out").exists()  # nothing ran


def test_bad_corpus_is_refused_naming_the_file(tmp_path: Path, capsys) -> None:
    write_wav(tmp_path / "a.wav", np.zeros(24000, np.int16), 24000)
    (tmp_path / "a.json").write_text(json.dumps({"turns": [{"start_ms": 100, "end_ms": 1500}]}))
    assert main(["sweep", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "a.json" in err and "beyond the audio" in err
    assert main(["sweep", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cloud_sweep_without_a_key(tmp_path: Path, monkeypatch, capsys) -> None:
    for name in CLOUD_VARS:
        monkeypatch.delenv(name, raising=False)
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"threshold": 0.5}))
    assert main(["sweep", "builtin", "--grid", str(grid), "--mode", "cloud", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "needs a key" in err and "OPENAI_API_KEY" in err and "nothing was sent" in err


def test_cloud_sweep_is_not_sent_without_confirmation(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-" + "test" * 6)
    corpus = Corpus.builtin(["single"])
    shown = []
    with pytest.raises(CloudSweepRefused, match="not confirmed, nothing was sent"):
        sweep(
            corpus, {"threshold": [0.5, 0.6]}, mode="cloud", confirm=lambda plan: shown.append(plan) or False
        )
    assert "2 cloud sessions" in shown[0] and "estimated cost $" in shown[0]
    with pytest.raises(CloudSweepRefused):
        sweep(corpus, {"threshold": 0.5}, mode="cloud")  # no confirm at all: refused
    plan = cloud_plan(list(corpus), [{}] * 3, repeats=2, concurrency=3, usd_per_audio_minute=1.0)
    minutes = (corpus[0].duration_ms + 1500) / 60000 * 6
    assert (
        plan.sessions == 6
        and plan.usd == pytest.approx(minutes)
        and plan.wall_minutes == pytest.approx(minutes / 3)
    )


def test_a_small_sweep_writes_results_summary_and_best(tmp_path: Path, capsys) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text("threshold: 0.5\nsilence_duration_ms: [300, 900]\n")
    out = tmp_path / "out"
    args = ["sweep", "builtin", "--grid", str(grid), "--out", str(out), "--workers", "1", "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "best under 'false_cut_rate <= 0.05': server_vad t=0.5 s=900" in printed
    results = pd.read_parquet(out / "results.parquet")
    assert (
        len(results) == 5 * 2 and (out / "summary.csv").is_file() and (out / "operating_points.csv").is_file()
    )
    assert len(list((out / "parts").glob("*.parquet"))) == 5  # one trace job per file
