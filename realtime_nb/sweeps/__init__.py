"""Sweeps: score turn-detection and noise-reduction settings over a labelled corpus.

::

    from realtime_nb.sweeps import Corpus, sweep, summarize, best

    corpus = Corpus.builtin()                       # or Corpus.from_folder("my_corpus/")
    results = sweep(corpus, {"threshold": [0.3, 0.5, 0.7], "silence_duration_ms": [200, 500, 800]})
    summary = summarize(results)                    # one row per setting, bootstrap CIs over files
    await session.update_session(**best(results, "false_cut_rate <= 0.05"))

The parts (docs/sweeps.md): :mod:`.labels` / :mod:`.corpus` (what is true), :mod:`.trace` (the
models once per file, the engine's own ``InputPath`` replayed per setting), :mod:`.live` (real
sessions), :mod:`.metrics` (every number, defined once), :mod:`.grid` (settings, checked against the
protocol's field table), :mod:`.run` (executors, parquet parts, resume), :mod:`.dask_plugin`,
:mod:`.results` (summaries, Pareto front, operating points, ``best``), :mod:`.plots`.
"""

from typing import Any

from realtime_nb.sweeps.corpus import Corpus, Recording
from realtime_nb.sweeps.grid import DEFAULT_GRID, GridError, expand, session_options, setting_id
from realtime_nb.sweeps.labels import LabelError, Labels, Turn
from realtime_nb.sweeps.results import best, chosen_id, operating_points, pareto, setting_from, summarize
from realtime_nb.sweeps.run import read_results, sweep
from realtime_nb.sweeps.trace import DetectedTurn, Trace, TraceCache, model_pass, replay

# imported when asked for: the plots need matplotlib, the cluster the `sweeps` extra (distributed)
_LAZY = {
    "plot_file": "plots",
    "plot_heatmap": "plots",
    "plot_pareto": "plots",
    "local_cluster": "dask_plugin",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"realtime_nb.sweeps.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'realtime_nb.sweeps' has no attribute {name!r}")


__all__ = [
    "DEFAULT_GRID",
    "Corpus",
    "DetectedTurn",
    "GridError",
    "LabelError",
    "Labels",
    "Recording",
    "Trace",
    "TraceCache",
    "Turn",
    "best",
    "chosen_id",
    "expand",
    "local_cluster",
    "model_pass",
    "operating_points",
    "pareto",
    "plot_file",
    "plot_heatmap",
    "plot_pareto",
    "read_results",
    "replay",
    "session_options",
    "setting_from",
    "setting_id",
    "summarize",
    "sweep",
]
