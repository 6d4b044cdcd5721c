"""Waveforms on the audio clock: raw vs processed, with speech marks and VAD segments.

Long audio is drawn from min/max envelopes (a few thousand strokes), so a 60 s item draws in well under
a second; the spectrogram row is optional because it is the slow part.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from realtime_nb.audio import envelope
from realtime_nb.plots._mpl import pyplot

_BINS = 4000


def _draw_wave(ax: Any, samples: np.ndarray, rate: int, offset_ms: float, color: str, label: str) -> None:
    x = np.asarray(samples)
    if x.size == 0:
        ax.text(0.5, 0.5, f"{label}: no audio", transform=ax.transAxes, ha="center")
        return
    env = envelope(x.astype(np.float32) / 32768.0, _BINS)
    t_ms = offset_ms + env.starts * 1000.0 / rate
    ax.fill_between(t_ms, env.mins, env.maxs, color=color, lw=0.6, label=label, step="post")
    ax.set_ylim(-1, 1)
    ax.set_ylabel(label)


def _draw_marks(ax: Any, marks: dict[str, float] | None) -> None:
    for name, ms in (marks or {}).items():
        if ms is None or not np.isfinite(ms):
            continue
        ax.axvline(ms, color="crimson", ls="--", lw=1)
        ax.annotate(name, (ms, 0.92), xycoords=("data", "axes fraction"), fontsize="small",
                    color="crimson", rotation=90, ha="right", va="top")


def plot_waveform_compare(
    raw: np.ndarray,
    processed: np.ndarray,
    rate: int = 24000,
    *,
    raw_offset_ms: float = 0.0,
    processed_offset_ms: float = 0.0,
    marks: dict[str, float] | None = None,
    spectrogram: bool = False,
    title: str | None = None,
) -> Any:
    """Raw (client-side truth) above processed (what the server kept), aligned on the audio clock.

    Offsets place each signal on the session's audio clock (ms); `marks` (name -> ms) draws lines such
    as speech start / stop. Returns the Figure.
    """
    plt = pyplot()
    rows = 4 if spectrogram else 2
    fig, axes = plt.subplots(rows, 1, figsize=(11, 1.9 * rows), sharex=True, constrained_layout=True)
    _draw_wave(axes[0], raw, rate, raw_offset_ms, "tab:blue", "raw (sent)")
    _draw_wave(axes[1], processed, rate, processed_offset_ms, "tab:green", "processed (retrieved)")
    if spectrogram:
        for ax, x, off, label in ((axes[2], raw, raw_offset_ms, "raw"),
                                  (axes[3], processed, processed_offset_ms, "processed")):
            if np.asarray(x).size >= 512:
                ax.specgram(np.asarray(x, np.float32) / 32768.0, NFFT=512, Fs=rate / 1000.0, noverlap=256,
                            xextent=(off, off + len(x) * 1000.0 / rate), cmap="magma", vmin=-140)
            ax.set_ylabel(f"{label}\nkHz")
    for ax in axes:
        _draw_marks(ax, marks)
    axes[-1].set_xlabel("audio clock (ms since the session's first append)")
    if title:
        fig.suptitle(title)
    return fig


def plot_segments(
    samples: np.ndarray,
    rate: int,
    segments_ms: Sequence[tuple[float, float]],
    *,
    truth_ms: Sequence[tuple[float, float]] = (),
    ax: Any = None,
    label: str = "",
) -> Any:
    """A waveform with detected speech segments shaded and, optionally, the true segments as bars."""
    plt = pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 1.8), constrained_layout=True)
    _draw_wave(ax, samples, rate, 0.0, "0.45", label or "audio")
    for start, end in segments_ms:
        ax.axvspan(start, end, color="tab:orange", alpha=0.3, lw=0)
    for start, end in truth_ms:
        ax.hlines(-0.92, start, end, color="black", lw=4)
    ax.set_xlabel("audio clock (ms)")
    return ax


def turn_segments(turns: Any) -> list[tuple[float, float]]:
    """(audio_start_ms, audio_end_ms) of the VAD turns of a `turns()` table, skipping incomplete rows."""
    rows = turns.dropna(subset=["audio_start_ms", "audio_end_ms"])
    return [(float(a), float(b)) for a, b in zip(rows["audio_start_ms"], rows["audio_end_ms"], strict=True)]
