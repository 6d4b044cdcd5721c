"""Figures of a sweep: the trade-off (Pareto front), one metric over two settings (heatmap), and one
file under one setting (its turns over the waveform, with the existing ``plot_segments``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from realtime_nb.plots._mpl import pyplot
from realtime_nb.plots.waveform import plot_segments
from realtime_nb.protocol import PCM_RATE
from realtime_nb.sweeps.corpus import Corpus
from realtime_nb.sweeps.results import _summary, pareto


def plot_pareto(
    results: pd.DataFrame,
    chosen: str | None = None,
    *,
    x: str = "eot_latency_ms",
    y: str = "false_cut_rate",
    ax: Any = None,
) -> Any:
    """Every setting as a point (``x`` vs ``y``, one colour per turn-detection type), the Pareto
    front as a line, and ``chosen`` (a ``setting_id``) as a star with its label."""
    plt = pyplot()
    table = _summary(results)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
    for kind, group in table.groupby("type"):
        ax.scatter(group[x], group[y], s=14, alpha=0.45, label=kind)
    front = pareto(table, x, y)
    ax.step(front[x], front[y], where="post", color="black", lw=1.2, label="Pareto front")
    if chosen is not None and chosen in table.index:
        point = table.loc[chosen]
        ax.scatter([point[x]], [point[y]], marker="*", s=220, color="crimson", zorder=5, label="chosen")
        ax.annotate(
            str(point.get("label", chosen)),
            (point[x], point[y]),
            xytext=(8, 8),
            textcoords="offset points",
            fontsize="small",
        )
    ax.set_xlabel("end-of-turn latency, median (ms)" if x == "eot_latency_ms" else x)
    ax.set_ylabel("false-cut rate (turns cut)" if y == "false_cut_rate" else y)
    ax.legend(fontsize="small")
    return ax


def plot_heatmap(
    results: pd.DataFrame,
    value: str = "false_cut_rate",
    *,
    x: str = "silence_duration_ms",
    y: str = "threshold",
    ax: Any = None,
    fmt: str = "{:.2f}",
) -> Any:
    """``value`` over two swept settings (other settings: the best value of ``value`` is shown)."""
    plt = pyplot()
    table = _summary(results).dropna(subset=[x, y])
    grid = table.pivot_table(index=y, columns=x, values=value, aggfunc="min").sort_index(ascending=False)
    if ax is None:
        _, ax = plt.subplots(
            figsize=(min(12, 1 + 0.5 * grid.shape[1]), 1 + 0.4 * grid.shape[0]), constrained_layout=True
        )
    image = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap="viridis")
    rotation = 90 if grid.shape[1] > 12 else 0
    ax.set_xticks(range(grid.shape[1]), [f"{v:g}" for v in grid.columns], rotation=rotation)
    ax.set_yticks(range(grid.shape[0]), [f"{v:g}" for v in grid.index])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if grid.size <= 150:
        for (i, j), v in np.ndenumerate(grid.to_numpy(dtype=float)):
            if not math.isnan(v):
                ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize="x-small", color="white")
    ax.figure.colorbar(image, ax=ax, label=value)
    return ax


def plot_file(corpus: Corpus, results: pd.DataFrame, file: str, setting_id: str, *, ax: Any = None) -> Any:
    """One file under one setting: the detected turns (shaded, ``audio_start_ms`` to
    ``audio_end_ms``) over the waveform, the true speech as black bars, each decision as a red line."""
    rows = results[(results["file"] == file) & (results["setting_id"] == setting_id)]
    if rows.empty:
        raise ValueError(f"no result for file {file!r} and setting {setting_id!r}")
    row = rows.iloc[0]
    recording = corpus[file]
    ends = [float(e) for e in row["turn_ends_ms"]]
    stream_end = recording.duration_ms + float(row["tail_ms"])
    starts = [float(s) for s in row["turn_starts_ms"]]
    spans = [(s, stream_end if math.isnan(e) else e) for s, e in zip(starts, ends, strict=True)]
    ax = plot_segments(recording.audio, PCM_RATE, spans, truth_ms=recording.speech_ms, ax=ax, label=file)
    ax.vlines([e for e in ends if not math.isnan(e)], -1, 1, color="crimson", lw=1)
    for a, b in recording.pauses_ms:
        ax.axvspan(a, b, ymin=0, ymax=0.08, color="tab:blue", alpha=0.6, lw=0)
    return ax
