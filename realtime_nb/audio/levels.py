"""Levels that make a raw-vs-processed comparison a number, not an impression.

All figures are in dBFS (0 dB = a full-scale int16 sine's peak, so silence is very negative) and are
computed on 20 ms frames: the noise floor is a low percentile of the frame levels (robust to a few
loud clicks), and speech / non-speech levels use a mask on the same frames, taken from the VAD marks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

FRAME_MS = 20.0
_FLOOR_DB = -120.0


def frame_levels(samples: np.ndarray, rate: int, frame_ms: float = FRAME_MS) -> np.ndarray:
    """RMS level of each whole frame in dBFS (a trailing partial frame is ignored)."""
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError(f"audio must be mono (1-D), got shape {x.shape}")
    scale = 32768.0 if x.dtype == np.int16 else 1.0
    n = max(1, int(rate * frame_ms / 1000))
    whole = (x.size // n) * n
    if whole == 0:
        return np.zeros(0)
    frames = x[:whole].astype(np.float64).reshape(-1, n) / scale
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    return np.maximum(20 * np.log10(np.maximum(rms, 1e-12)), _FLOOR_DB)


def speech_mask(
    n_frames: int, segments_ms: list[tuple[float, float]], frame_ms: float = FRAME_MS
) -> np.ndarray:
    """Boolean per frame: True where the frame's centre lies inside a (start_ms, end_ms) segment."""
    centres = (np.arange(n_frames) + 0.5) * frame_ms
    mask = np.zeros(n_frames, dtype=bool)
    for start, end in segments_ms:
        mask |= (centres >= start) & (centres < end)
    return mask


@dataclass(frozen=True)
class Levels:
    """Summary levels of one signal (dBFS); NaN where a part (speech / non-speech) is empty."""

    noise_floor_db: float
    speech_db: float
    non_speech_db: float
    overall_db: float

    @property
    def speech_to_noise_db(self) -> float:
        return self.speech_db - self.non_speech_db

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "speech_to_noise_db": self.speech_to_noise_db}


def _power_mean_db(levels_db: np.ndarray) -> float:
    if levels_db.size == 0:
        return float("nan")
    return float(10 * np.log10(np.mean(10 ** (levels_db / 10))))


def levels(
    samples: np.ndarray,
    rate: int,
    segments_ms: list[tuple[float, float]] | None = None,
    *,
    floor_percentile: float = 10.0,
) -> Levels:
    """Noise floor, speech and non-speech RMS of `samples`; segments are speech on its own time axis."""
    db = frame_levels(samples, rate)
    if db.size == 0:
        raise ValueError("audio shorter than one 20 ms frame")
    mask = speech_mask(db.size, segments_ms or [])
    return Levels(
        noise_floor_db=float(np.percentile(db, floor_percentile)),
        speech_db=_power_mean_db(db[mask]),
        non_speech_db=_power_mean_db(db[~mask]),
        overall_db=_power_mean_db(db),
    )


def compare_levels(
    raw: np.ndarray,
    processed: np.ndarray,
    rate: int,
    segments_ms: list[tuple[float, float]] | None = None,
) -> dict[str, dict[str, float]]:
    """Levels of the raw and the processed signal side by side, plus the change (processed - raw)."""
    before, after = levels(raw, rate, segments_ms).as_dict(), levels(processed, rate, segments_ms).as_dict()
    return {"raw": before, "processed": after, "change": {k: after[k] - before[k] for k in before}}
