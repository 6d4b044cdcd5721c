"""Turning sample arrays into what the wire and the plots want: encoded bytes, chunks, envelopes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from realtime_nb.audio.codecs import AUDIO_RATES, AudioFormat, _check_format, encode, float_to_int16
from realtime_nb.audio.resample import resample


def to_format(samples: np.ndarray, rate: int, fmt: AudioFormat = "pcm16") -> bytes:
    """Resample mono int16/float audio to `fmt`'s rate and encode it (what `append` sends)."""
    _check_format(fmt)
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise ValueError(f"audio must be mono (1-D), got shape {samples.shape}")
    if samples.dtype.kind == "f":
        samples = float_to_int16(samples)
    elif samples.dtype != np.int16:
        raise ValueError(f"audio must be int16 or float, got dtype {samples.dtype}")
    return encode(resample(samples, rate, AUDIO_RATES[fmt]), fmt)


def chunk(samples: np.ndarray, rate: int, ms: float) -> Iterator[np.ndarray]:
    """Consecutive views of `ms` milliseconds; the last one may be shorter."""
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise ValueError(f"audio must be mono (1-D), got shape {samples.shape}")
    if rate <= 0 or ms <= 0:
        raise ValueError(f"rate and ms must be positive, got rate={rate!r}, ms={ms!r}")
    size = round(rate * ms / 1000)
    if size < 1:
        raise ValueError(f"{ms} ms at {rate} Hz is less than one sample")
    for start in range(0, samples.size, size):
        yield samples[start : start + size]


class Envelope(NamedTuple):
    """Per-bin minima and maxima; bin i covers samples [starts[i], starts[i+1])."""

    mins: np.ndarray
    maxs: np.ndarray
    starts: np.ndarray


def envelope(samples: np.ndarray, n_bins: int) -> Envelope:
    """Min/max per bin so hours of audio plot as `n_bins` vertical strokes.

    With fewer samples than bins, every sample is its own bin.
    """
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise ValueError(f"audio must be mono (1-D), got shape {samples.shape}")
    if samples.size == 0:
        raise ValueError("envelope of empty audio")
    if not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    n = min(int(n_bins), samples.size)
    starts = (np.arange(n, dtype=np.int64) * samples.size) // n  # strictly increasing since n <= size
    return Envelope(np.minimum.reduceat(samples, starts), np.maximum.reduceat(samples, starts), starts)
