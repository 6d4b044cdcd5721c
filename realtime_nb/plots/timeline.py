"""The event timeline as lanes: one lane per event family, sent and received told apart."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from realtime_nb.plots._mpl import pyplot

LANES: tuple[str, ...] = (
    "session", "input_audio_buffer", "conversation", "response", "transcription",
    "rate_limits", "error", "problem",
)  # fmt: skip
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
    """Scatter every event of `frame` (from `EventLog.frame()`) on its family's lane against `t`.

    Appends and audio deltas are many and say little one by one, so `hide_audio` drops them and draws
    their span as a thin bar instead. Returns the Axes.
    """
    plt = pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 3.2), constrained_layout=True)
    lanes = {name: i for i, name in enumerate(reversed(LANES))}
    bulky = frame["type"].isin(["input_audio_buffer.append", "response.output_audio.delta"])
    shown = frame[~bulky] if hide_audio else frame
    for direction, marker in _MARKERS.items():
        part = shown[shown["direction"] == direction]
        y = part["family"].astype(str).map(lanes)
        ax.scatter(part["t"], y, marker=marker, s=22, label=direction, alpha=0.8)
    if hide_audio:
        for kind, lane, label in (("input_audio_buffer.append", "input_audio_buffer", "audio appends"),
                                  ("response.output_audio.delta", "response", "audio deltas")):
            t = frame.loc[frame["type"] == kind, "t"].to_numpy()
            for i, (start, end) in enumerate(_spans(t)):
                ax.hlines(lanes[lane] - 0.25, start, end, lw=3, alpha=0.35, color="C2" if "append" in kind
                          else "C3", label=label if i == 0 else None)
    ax.set_yticks(list(lanes.values()), list(lanes.keys()))
    ax.set_xlabel("seconds since the session started (wall clock)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    return ax
