"""Dask: the models loaded once per worker, by a worker plugin.

``sweep(..., executor=client)`` registers :class:`ModelsPlugin` with ``Client.register_plugin``
(``register_worker_plugin`` is gone from distributed), so every worker, including one that joins or
restarts later, loads the VAD (and what else ``models`` names) before its first task, and keeps
them with its trace cache for the whole sweep. On a real cluster, point a ``Client`` at the
scheduler's address (``Client("tcp://scheduler:8786")``); dask-jobqueue (SLURM, PBS) or
dask-kubernetes start the workers. Workers need realtime_nb with the ``engine`` extra installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from distributed import WorkerPlugin

PLUGIN_NAME = "realtime_nb-models"

# Dask's workers sample the running task's stack every 10 ms for the dashboard's profile page. A
# replay is a deep pure-Python loop, so the sampler walks a deep stack 100 times a second: measured,
# the same sweep took 11.9 s of worker CPU with it and 10.2 s without (local executor: 10.3 s).
SWEEP_WORKER_CONFIG = {"distributed.worker.profile.enabled": False}


class ModelsPlugin(WorkerPlugin):
    """Loads ``models`` (``run.models_needed``) into the worker process when the worker starts."""

    def __init__(self, models: Sequence[str] = ("vad",)) -> None:
        self.models = tuple(models)

    def setup(self, worker: Any) -> None:
        from realtime_nb.sweeps.run import prepare_worker

        prepare_worker(self.models)


def ensure_plugin(client: Any, models: Sequence[str] = ("vad",)) -> None:
    """Register the plugin for ``models`` (again only when a sweep needs other models: each
    registration runs ``setup`` on every worker)."""
    if getattr(client, "_realtime_nb_plugin", None) == tuple(models):
        return
    client.register_plugin(ModelsPlugin(models), name=PLUGIN_NAME)
    client._realtime_nb_plugin = tuple(models)


def local_cluster(n_workers: int = 2, **options: Any) -> Any:
    """A `distributed.LocalCluster` set up for sweeps: one process per worker with one thread (the
    models are not shared between threads), no dashboard, and the workers' statistical profiler off
    (``SWEEP_WORKER_CONFIG``). On a cluster of your own, set the same in its Dask configuration
    (``distributed.worker.profile.enabled: false``) for the same saving."""
    import dask
    from distributed import LocalCluster

    settings: dict[str, Any] = {"threads_per_worker": 1, "processes": True, "dashboard_address": None,
                                "silence_logs": 40, **options}
    with dask.config.set(SWEEP_WORKER_CONFIG):  # read when the worker processes start
        return LocalCluster(n_workers=n_workers, **settings)
