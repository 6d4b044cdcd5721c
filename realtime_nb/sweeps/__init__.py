"""Sweeps: score turn-detection and noise-reduction settings over a labelled corpus.

See docs/sweeps.md. The parts: :mod:`.corpus` / :mod:`.labels` (what is true), :mod:`.trace` (the
models once per file, the engine's detector replayed per setting), :mod:`.metrics` (defined once),
:mod:`.grid` (settings, checked against the protocol's field table), :mod:`.run` (executors,
resume), :mod:`.results` (summaries, operating points, ``best``), :mod:`.plots`.
"""

from realtime_nb.sweeps.corpus import Corpus, Recording
from realtime_nb.sweeps.labels import LabelError, Labels, Turn
from realtime_nb.sweeps.trace import DetectedTurn, Trace, TraceCache, model_pass, replay

__all__ = [
    "Corpus",
    "DetectedTurn",
    "LabelError",
    "Labels",
    "Recording",
    "Trace",
    "TraceCache",
    "Turn",
    "model_pass",
    "replay",
]
