"""Running sweeps in trace mode: the same rows however they run, parquet parts written as jobs finish,
resume after an interruption, and a local worker that dies mid-sweep."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pandas as pd
import pytest

from realtime_nb.sweeps import run as run_module
from realtime_nb.sweeps.corpus import Corpus
from realtime_nb.sweeps.grid import expand
from realtime_nb.sweeps.run import Params, execute, plan_jobs, read_results, run_job, sweep

GRID = {"threshold": [0.5, 0.8], "silence_duration_ms": [200, 500, 900]}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus.builtin(["turns", "hesitation", "single"])


@pytest.fixture(scope="module")
def serial(corpus: Corpus) -> pd.DataFrame:
    return sweep(corpus, GRID, executor="serial", progress=False)


def test_rows_are_tidy_and_meaningful(serial: pd.DataFrame, corpus: Corpus) -> None:
    assert len(serial) == len(corpus) * 6
    assert list(serial["file"].unique()) == sorted(corpus.names)
    hesitation = serial[serial["file"] == "hesitation"].set_index("silence_duration_ms")
    # the sample's 700 ms pause splits the turn under 200 / 500 ms of silence, not under 900 ms
    assert (hesitation.loc[[200, 500], "turns_cut"] == 1).all()
    assert (hesitation.loc[900, "turns_cut"] == 0).all()
    lat = serial.groupby("silence_duration_ms")["eot_latency_ms"].median()
    assert lat[200] < lat[500] < lat[900]


def test_worker_processes_give_the_same_rows(serial: pd.DataFrame, corpus: Corpus, monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    local = sweep(corpus, GRID, executor=2, progress=False, batch=2)
    pd.testing.assert_frame_equal(local, serial)


def test_an_interrupted_sweep_resumes_from_what_was_written(serial, corpus, tmp_path, monkeypatch) -> None:
    calls = []

    def interrupted(job):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(job.key)
        return run_job(job)

    monkeypatch.setattr(run_module, "run_job", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sweep(corpus, GRID, executor="serial", out=tmp_path, progress=False, batch=3)
    written = read_results(tmp_path)
    assert len(written) == 2 * 3 and len(list((tmp_path / "parts").glob("*.parquet"))) == 2

    ran = []
    monkeypatch.setattr(run_module, "run_job", lambda job: ran.append(job) or run_job(job))
    resumed = sweep(corpus, GRID, executor="serial", out=tmp_path, progress=False, batch=3)
    assert sum(len(job.settings) for job in ran) == len(serial) - 6  # only what was missing
    pd.testing.assert_frame_equal(resumed, serial)
    monkeypatch.setattr(run_module, "run_job", lambda job: pytest.fail("nothing should run again"))
    pd.testing.assert_frame_equal(
        sweep(corpus, GRID, executor="serial", out=tmp_path, progress=False), serial
    )


def dies_once(marker_dir: str, job):
    """Kills its worker process the first time it sees the hesitation file."""
    marker = Path(marker_dir) / job.key
    if job.recording.name == "hesitation" and not marker.exists():
        marker.touch()
        os._exit(3)
    return run_job(job)


def test_a_worker_that_dies_has_its_jobs_rerun(corpus, tmp_path, monkeypatch, serial) -> None:
    monkeypatch.setenv("PYTHONPATH", f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    jobs = plan_jobs(corpus, expand(GRID), Params(), set(), batch=3)
    got = list(execute(jobs, functools.partial(dies_once, str(tmp_path)), executor=2))
    assert sorted(job.key for job, _ in got) == sorted(job.key for job in jobs)
    assert list(tmp_path.iterdir())  # a worker really died
    rows = pd.DataFrame([row for _, rows in got for row in rows])
    assert len(rows) == len(serial)


def test_bad_executor_and_mode() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        sweep(Corpus.builtin(["single"]), GRID, mode="fast")
    with pytest.raises(ValueError, match="executor must be"):
        list(execute(plan_jobs(Corpus.builtin(["single"]), expand(GRID), Params(), set()), executor="gpu"))


def test_traces_cached_on_disk_replay_the_same(corpus, tmp_path) -> None:
    from realtime_nb.sweeps.grid import turn_detection
    from realtime_nb.sweeps.trace import TraceCache, replay

    rec = corpus["hesitation"]
    made = TraceCache(tmp_path).get(rec.audio, rec.digest, None, 40.0, 1500.0)
    [saved] = tmp_path.glob("trace-*.npz")
    loaded = TraceCache(tmp_path).get(rec.audio, rec.digest, None, 40.0, 1500.0)  # from disk, no models
    assert loaded is not made and loaded.chunks == made.chunks
    for setting in expand(GRID):
        td = turn_detection(setting)
        assert replay(loaded, td) == replay(made, td)
    saved.write_bytes(b"damaged")
    assert TraceCache(tmp_path).get(rec.audio, rec.digest, None, 40.0, 1500.0).chunks == made.chunks


def test_a_corpus_from_recorded_sessions(corpus) -> None:
    from realtime_nb.sweeps.labels import Turn

    class Log:  # what Corpus.from_logs reads of an EventLog
        def sent_audio(self):
            return corpus["single"].audio

    logs = Corpus.from_logs({"call-1": Log()}, {"call-1": [Turn(500, 2500)]})
    assert logs.names == ["call-1"] and logs[0].turns[0].end_ms == 2500
    with pytest.raises(ValueError, match="beyond the audio"):
        Corpus.from_logs({"call-1": Log()}, {"call-1": [Turn(500, 99_000)]})


def test_trace_jobs_run_each_model_pass_once_when_files_are_enough() -> None:
    from realtime_nb.sweeps.run import trace_batch

    assert trace_batch(1000, files=10, workers=2) == 1000  # one job per file
    assert trace_batch(1000, files=1, workers=2) == 250  # one file: split to keep 2 workers busy
    assert trace_batch(3, files=1, workers=8) == 1


def test_the_traced_level_is_the_live_pipelines_to_the_last_bit(corpus) -> None:
    import numpy as np

    from realtime_nb.engine.input_pipeline import InputPipeline
    from realtime_nb.sweeps.trace import TracedPipeline, model_pass

    rec = corpus["turns"]
    trace = model_pass(rec.audio)
    live = InputPipeline(vad_stream=None)
    live.processed.append(trace.processed)  # what the live buffer holds before any turn is taken
    traced = TracedPipeline(trace)
    traced.processed.end = live.processed.end
    rng = np.random.default_rng(1)
    for start in rng.uniform(-50, trace.duration_ms, 500):
        end = start + rng.choice([4.0, 8.0, 32.0, 256.0, 1000.0])
        assert traced.level_db(start, end) == live.level_db(start, end)
    live.processed.drop_before(24000)  # a turn was taken: audio before it is gone for both
    traced.processed.drop_before(24000)
    assert traced.level_db(900, 1100) == live.level_db(900, 1100)
    assert traced.level_db(0, 900) == live.level_db(0, 900) == -120.0


def test_joined_stretches_decide_as_chunk_by_chunk_feeding() -> None:
    """The replay appends stretches whole where chunking cannot matter (quiet, speech, and server_vad
    pauses with every frame under the threshold); it must decide exactly as feeding every chunk on
    its own does, over noisy and clean files, short and long silence windows and noise reduction."""
    from realtime_nb.sweeps.grid import turn_detection
    from realtime_nb.sweeps.run import worker_cache
    from realtime_nb.sweeps.trace import replay

    grid = [
        {"threshold": [0.2, 0.35, 0.5, 0.65, 0.8, 0.95], "silence_duration_ms": [100, 180, 340, 600, 1300]},
        {"threshold": [0.5], "prefix_padding_ms": [0, 600], "silence_duration_ms": [220, 2000]},
        {"type": "semantic_vad", "eagerness": ["low", "high"]},
    ]
    compared = 0
    for rec in Corpus.builtin():
        for nr in (None, "far_field"):
            trace = worker_cache().get(rec.audio, rec.digest, nr, 40.0, 1500.0)
            for setting in expand(grid):
                td = turn_detection(setting)
                joined, single = _plain(replay(trace, td)), _plain(replay(trace, td, join=False))
                assert joined == single, (rec.name, nr, setting)
                compared += len(single)
    assert compared > 500  # turns were found to compare


def _plain(turns) -> list[tuple[float, float | None]]:
    """Turns as comparable tuples (an open turn's NaN end as None: NaN equals nothing)."""
    return [(t.start_ms, None if t.end_ms != t.end_ms else t.end_ms) for t in turns]
