"""The same sweep on a real Dask cluster (a 2-worker LocalCluster of processes): the same rows as
the local executor, the models loaded once per worker by the plugin, and a worker that dies
mid-sweep has its job rerun with nothing lost."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pandas as pd
import pytest

from realtime_nb.sweeps.corpus import Corpus
from realtime_nb.sweeps.dask_plugin import PLUGIN_NAME, local_cluster
from realtime_nb.sweeps.grid import expand
from realtime_nb.sweeps.run import Params, execute, plan_jobs, run_job, sweep

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

GRID = {"threshold": [0.4, 0.6], "silence_duration_ms": [300, 800]}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client():
    # workers are new processes: they import this checkout and the tests package like the parent
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = f"{ROOT}{os.pathsep}{before or ''}"
    try:
        cluster = local_cluster(n_workers=2)
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = before
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def test_the_sweep_cluster_runs_its_workers_without_the_profiler(client) -> None:
    import dask

    flags = client.run(lambda: dask.config.get("distributed.worker.profile.enabled"))
    assert len(flags) == 2 and not any(flags.values())


def test_dask_gives_the_local_rows(client, tmp_path) -> None:
    corpus = Corpus.builtin(["turns", "hesitation", "single"])
    local = sweep(corpus, GRID, executor="serial", progress=False)
    on_dask = sweep(corpus, GRID, executor=client, out=tmp_path, progress=False, batch=2)
    pd.testing.assert_frame_equal(on_dask, local)
    assert len(list((tmp_path / "parts").glob("*.parquet"))) == 3 * 2  # written as jobs finished
    plugins = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.worker_plugins))
    assert PLUGIN_NAME in plugins
    loaded = client.run(
        lambda: __import__("realtime_nb.engine.models", fromlist=["Models"]).Models.shared().is_loaded("vad")
    )
    assert all(loaded.values()) and len(loaded) == 2


def dies_once(marker_dir: str, job):
    marker = Path(marker_dir) / job.key
    if job.recording.name == "hesitation" and not marker.exists():
        marker.touch()
        os._exit(3)
    return run_job(job)


def test_a_dask_worker_that_dies_has_its_job_rerun(client, tmp_path) -> None:
    corpus = Corpus.builtin(["turns", "hesitation"])
    jobs = plan_jobs(corpus, expand(GRID), Params(), set(), batch=4)
    got = list(execute(jobs, functools.partial(dies_once, str(tmp_path)), executor=client))
    assert sorted(job.key for job, _ in got) == sorted(job.key for job in jobs)
    assert list(tmp_path.iterdir())
    assert sum(len(rows) for _, rows in got) == len(corpus) * 4


def _install_dying_replay(marker_dir: str) -> None:
    """On a worker: the replay task of ``hesitation`` kills its worker process, the first time only.
    Tasks name ``replay_job`` by module and name, so the worker runs this one; a restarted worker
    imports the module afresh."""
    from realtime_nb.sweeps import run as run_on_worker

    real = run_on_worker.replay_job

    def dying(job, traced):
        marker = Path(marker_dir) / "died"
        if job.recording.name == "hesitation" and not marker.exists():
            marker.touch()
            os._exit(3)
        return real(job, traced)

    run_on_worker.replay_job = dying


def test_a_worker_dying_mid_trace_sweep_loses_nothing(client, tmp_path) -> None:
    """The two-layer trace sweep (model-pass tasks, replay tasks depending on them): a worker dies
    in a replay, taking the traces it held; the scheduler computes what was lost again elsewhere and
    the rows are the local run's."""
    corpus = Corpus.builtin(["turns", "hesitation", "single"])
    markers = tmp_path / "markers"
    markers.mkdir()
    client.run(_install_dying_replay, str(markers))
    on_dask = sweep(corpus, GRID, executor=client, out=tmp_path / "out", progress=False, batch=2)
    assert (markers / "died").exists()  # a worker did die mid-sweep
    pd.testing.assert_frame_equal(on_dask, sweep(corpus, GRID, executor="serial", progress=False))
    assert len(list((tmp_path / "out" / "parts").glob("*.parquet"))) == 3 * 2
    client.wait_for_workers(2, timeout=120)
