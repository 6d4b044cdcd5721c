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


class ModelsPlugin(WorkerPlugin):
    """Loads ``models`` into the worker process's shared ``Models`` when the worker starts."""

    def __init__(self, models: Sequence[str] = ("vad",)) -> None:
        self.models = tuple(models)

    def setup(self, worker: Any) -> None:
        from realtime_nb.engine.models import Models
        from realtime_nb.sweeps.run import worker_cache

        Models.shared().preload(self.models, parallel=False, strict=True)
        worker_cache()


def ensure_plugin(client: Any, models: Sequence[str] = ("vad",)) -> None:
    """Register the plugin once per client (registering again would reload nothing, but costs a
    round trip to every worker)."""
    if getattr(client, "_realtime_nb_plugin", None) == tuple(models):
        return
    client.register_plugin(ModelsPlugin(models), name=PLUGIN_NAME)
    client._realtime_nb_plugin = tuple(models)
