"""Waveforms on the audio clock: raw vs processed, with speech marks and VAD segments.

Long audio is drawn from min/max envelopes (a few thousand strokes), so a 60 s item draws in well under
a second; the spectrogram row is optional because it is the slow part, and it is computed here in numpy
with its columns pooled to about the figure's width (a pixel cannot show more) instead of handing
matplotlib a 5000-column image to resample.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from realtime_nb.audio import envelope
from realtime_nb.plots._mpl import pyplot
from realtime_nb.protocol import PCM_RATE

_BINS = 4000
SPEC_NFFT = 512  # 21 ms at 24 kHz: 47 Hz bins, short enough to show syllables
SPEC_COLUMNS = 1200  # about the plot's width in pixels at the default size and dpi
SPEC_RANGE_DB = 80.0  # dynamic range shown below the loudest bin


def _draw_wave(ax: Any, samples: np.ndarray, rate: int, offset_ms: float, color: str, label: str) -> None:
    x = np.asarray(samples)
    if x.size == 0:
        ax.text(0.5, 0.5, f"{label}: no audio", transform=ax.transAxes, ha="center")
        return
    env = envelope(x, _BINS)  # on the raw samples: only the few thousand extremes get scaled
    scale = 32768.0 if x.dtype == np.int16 else 1.0
    t_ms = offset_ms + env.starts * 1000.0 / rate
    ax.fill_between(t_ms, env.mins / scale, env.maxs / scale, color=color, lw=0.6, label=label, step="post")
    ax.set_ylim(-1, 1)
    ax.set_ylabel(label)


def _draw_marks(ax: Any, marks: dict[str, float] | None) -> None:
    for name, ms in (marks or {}).items():
        if ms is None or not np.isfinite(ms):
            continue
        ax.axvline(ms, color="crimson", ls="--", lw=1)
        ax.annotate(
            name,
            (ms, 0.92),
            xycoords=("data", "axes fraction"),
            fontsize="small",
            color="crimson",
            rotation=90,
            ha="right",
            va="top",
        )


def spectrogram_db(
    samples: np.ndarray, rate: int, *, nfft: int = SPEC_NFFT, max_columns: int = SPEC_COLUMNS
) -> tuple[np.ndarray, float]:
    """Power spectrogram in dB, shape (nfft // 2 + 1, columns), and the ms each column spans.

    Hann frames with 50 % overlap; when there are more frames than ``max_columns`` neighbouring frames
    are averaged in power, so every sample still counts (a strided hop would skip short events).
    """
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError(f"audio must be mono (1-D), got shape {x.shape}")
    if x.size < nfft:
        raise ValueError(f"audio shorter than one {nfft}-sample spectrogram frame ({x.size} samples)")
    scale = 32768.0 if x.dtype == np.int16 else 1.0
    hop = nfft // 2
    frames = np.lib.stride_tricks.sliding_window_view(x, nfft)[::hop]
    power = np.abs(np.fft.rfft(frames * (np.hanning(nfft) / scale), axis=1)) ** 2
    group = max(1, -(-len(power) // max_columns))
    if group > 1:
        starts = np.arange(0, len(power), group)
        counts = np.diff(np.append(starts, len(power)))
        power = np.add.reduceat(power, starts, axis=0) / counts[:, None]
    db = 10 * np.log10(np.maximum(power, 1e-20))
    return db.T, group * hop * 1000.0 / rate


def _draw_spectrogram(
    ax: Any, spec: tuple[np.ndarray, float] | None, offset_ms: float, rate: int, label: str, top_db: float
) -> None:
    ax.set_ylabel(f"{label}\nkHz")
    if spec is None:
        ax.text(0.5, 0.5, f"{label}: too short for a spectrogram", transform=ax.transAxes, ha="center")
        return
    db, col_ms = spec
    ax.imshow(
        db,
        origin="lower",
        aspect="auto",
        cmap="magma",
        interpolation="nearest",
        vmin=top_db - SPEC_RANGE_DB,
        vmax=top_db,
        extent=(offset_ms, offset_ms + db.shape[1] * col_ms, 0.0, rate / 2000.0),
    )


def plot_waveform_compare(
    raw: np.ndarray,
    processed: np.ndarray,
    rate: int = PCM_RATE,
    *,
    raw_offset_ms: float = 0.0,
    processed_offset_ms: float = 0.0,
    marks: dict[str, float] | None = None,
    spectrogram: bool = False,
    title: str | None = None,
    speech_ms: tuple[float, float] | None = None,
    fig: Any = None,
) -> Any:
    """Raw (client-side truth) above processed (what the server kept), aligned on the audio clock.

    Offsets place each signal on the session's audio clock (ms); `marks` (name -> ms) draws lines such
    as speech start / stop; `speech_ms` shades the span counted as speech in level tables. `fig`: an
    empty Figure to draw into (e.g. a ``matplotlib.figure.Figure`` that pyplot does not track, so a
    widget's figure is not shown a second time by the inline backend). Returns the Figure.
    """
    rows = 4 if spectrogram else 2
    if fig is None:
        fig = pyplot().figure(figsize=(11, 1.9 * rows), layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    _draw_wave(axes[0], raw, rate, raw_offset_ms, "tab:blue", "raw (sent)")
    _draw_wave(axes[1], processed, rate, processed_offset_ms, "tab:green", "processed (retrieved)")
    if spectrogram:
        specs = [
            spectrogram_db(x, rate) if np.asarray(x).size >= SPEC_NFFT else None for x in (raw, processed)
        ]
        # One colour scale for both rows, so what noise reduction removed shows as darker, not rescaled.
        top = max((float(s[0].max()) for s in specs if s is not None), default=0.0)
        _draw_spectrogram(axes[2], specs[0], raw_offset_ms, rate, "raw", top)
        _draw_spectrogram(axes[3], specs[1], processed_offset_ms, rate, "processed", top)
    for ax in axes:
        _draw_marks(ax, marks)
    if speech_ms is not None:
        for ax in axes[:2]:
            ax.axvspan(*speech_ms, color="gold", alpha=0.15, lw=0)
    spans = [
        (off, off + np.asarray(x).size * 1000.0 / rate)
        for x, off in ((raw, raw_offset_ms), (processed, processed_offset_ms))
        if np.asarray(x).size
    ]
    if spans:  # imshow pins the limits to its own extent; show both signals whole, marks at the edges too
        lo, hi = min(a for a, _ in spans), max(b for _, b in spans)
        pad = 0.01 * (hi - lo)
        axes[0].set_xlim(lo - pad, hi + pad)
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
