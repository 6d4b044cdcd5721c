"""The event timeline as lanes (the shared scheme of `realtime_nb.timeline.lanes`), sent and received
told apart."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from realtime_nb.plots._mpl import pyplot
from realtime_nb.timeline.fields import APPEND_TYPE, AUDIO_DELTA_TYPE, AUDIO_STREAM_TYPES
from realtime_nb.timeline.lanes import LANES, lane_of, lanes_of

_MARKERS = {"sent": ">", "received": "o"}
_GAP_S = 0.5  # audio events further apart than this are drawn as separate spans


def _spans(t: np.ndarray) -> list[tuple[float, float]]:
    """Contiguous runs of event times: a new span wherever the gap exceeds `_GAP_S`."""
    if t.size == 0:
        return []
    t = np.sort(t)
    breaks = np.flatnonzero(np.diff(t) > _GAP_S)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [t.size - 1]])
    return [(float(t[a]), float(t[b])) for a, b in zip(starts, ends, strict=True)]


def plot_timeline(frame: pd.DataFrame, ax: Any = None, *, hide_audio: bool = True) -> Any:
    """Scatter every event of `frame` (from `EventLog.frame()`) on its lane against `t`.

    Appends and audio deltas are many and say little one by one, so `hide_audio` drops them and draws
    their span as a thin bar instead. Returns the Axes.
    """
    plt = pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 3.4), constrained_layout=True)
    top = len(LANES) - 1  # the first lane is drawn on top
    shown = frame[~frame["type"].isin(AUDIO_STREAM_TYPES)] if hide_audio else frame
    for direction, marker in _MARKERS.items():
        part = shown[shown["direction"] == direction]
        ax.scatter(part["t"], top - lanes_of(part["type"]), marker=marker, s=22, label=direction, alpha=0.8)
    if hide_audio:
        bars = ((APPEND_TYPE, "audio appends", "C2"), (AUDIO_DELTA_TYPE, "audio deltas", "C3"))
        for kind, label, color in bars:
            t = frame.loc[frame["type"] == kind, "t"].to_numpy()
            y = top - lane_of(kind)
            for i, (start, end) in enumerate(_spans(t)):
                ax.hlines(y - 0.25, start, end, lw=3, alpha=0.35, color=color, label=None if i else label)
    ax.set_yticks([top - i for i in range(len(LANES))], list(LANES))
    ax.set_xlabel("seconds since the session started (wall clock)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    return ax
