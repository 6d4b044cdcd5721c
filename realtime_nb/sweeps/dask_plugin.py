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
