"""The VAD's probability trace against the threshold, with the turns a detector made of it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from realtime_nb.plots._mpl import pyplot


def plot_vad_trace(
    trace: pd.DataFrame,
    *,
    threshold: float = 0.5,
    release_delta: float | None = 0.15,
    segments_ms: Sequence[tuple[float, float]] = (),
    truth_ms: Sequence[tuple[float, float]] = (),
    onsets_ms: Sequence[float] = (),
    ax: Any = None,
    label: str = "P(speech)",
) -> Any:
    """Speech probability per window (a ``vad_trace`` table) as steps on the audio clock.

    Draws ``threshold`` (speech starts above it), the release level ``threshold - release_delta``
    the embedded engine's server_vad uses to confirm a pause (None: not drawn), detected turns
    (``segments_ms``, e.g. ``turn_segments(log.turns())``) shaded, true speech as bars, and where
    the detector dated the start of speech (``onsets_ms``: ``audio_start_ms + prefix_padding_ms``)
    as green lines: the embedded engine dates it from the audio's level, so a line stands where the
    sound rises, usually a window before the probability crosses the threshold.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")
    missing = {"start_ms", "end_ms", "probability"} - set(trace.columns)
    if missing:
        raise ValueError(f"trace lacks column(s) {', '.join(sorted(missing))}: pass a vad_trace() table")
    plt = pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 1.8), constrained_layout=True)
    for start, end in segments_ms:
        ax.axvspan(start, end, color="tab:orange", alpha=0.25, lw=0)
    if len(trace):
        edges = [*trace["start_ms"], float(trace["end_ms"].iloc[-1])]
        ax.stairs(trace["probability"].to_numpy(), edges, color="tab:blue", lw=1, label=label)
    ax.axhline(threshold, color="tab:red", ls="--", lw=1, label=f"threshold {threshold:g}")
    if release_delta is not None and threshold - release_delta > 0:
        ax.axhline(threshold - release_delta, color="tab:red", ls=":", lw=1, label="release")
    for start, end in truth_ms:
        ax.hlines(-0.06, start, end, color="black", lw=4)
    for i, onset in enumerate(onsets_ms):
        ax.axvline(onset, color="tab:green", lw=1.5, label=None if i else "dated onset")
    ax.set_ylim(-0.1, 1.05)
    ax.set_ylabel("P(speech)")
    ax.set_xlabel("audio clock (ms)")
    ax.legend(loc="upper right", fontsize="x-small", ncol=3, frameon=False)
    return ax
