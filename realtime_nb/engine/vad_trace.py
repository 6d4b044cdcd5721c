"""The VAD's view of some audio: Silero's speech probability per 32 ms window, on the audio clock.

Researchers tuning ``threshold`` want to see the probability the threshold cuts, not guess it. This
runs the embedded engine's own input path (``InputPath``: optional noise reduction -> 16 kHz ->
Silero VAD) over audio you already have, typically ``log.sent_audio()``, whose sample 0 is the
session's first appended sample: the windows then line up with ``audio_start_ms`` /
``audio_end_ms``. Against a cloud session it shows what a Silero VAD hears in the same audio, which
is a guide, not the service's own VAD. Needs the ``engine`` extra (the models come from PyPI wheels).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from realtime_nb.audio.resample import resample
from realtime_nb.engine.input_path import InputPath
from realtime_nb.engine.models import Models
from realtime_nb.protocol import NOISE_REDUCTION_VALUES, PCM_RATE


def vad_trace(audio: np.ndarray, rate: int = PCM_RATE, *, noise_reduction: str | None = None) -> pd.DataFrame:
    """One row per 32 ms VAD window: ``start_ms``, ``end_ms`` (audio clock) and ``probability``.

    ``audio``: mono int16 at ``rate`` Hz. ``noise_reduction``: None, "near_field" or "far_field",
    applied first exactly as the engine does when the session asks for it.
    """
    if noise_reduction not in NOISE_REDUCTION_VALUES:
        allowed = ", ".join(repr(n) for n in NOISE_REDUCTION_VALUES)
        raise ValueError(f"noise_reduction must be one of {allowed}, got {noise_reduction!r}")
    samples = np.asarray(audio)
    if samples.ndim != 1 or samples.dtype != np.int16:
        raise ValueError(f"audio must be mono int16 samples, got {samples.dtype} with shape {samples.shape}")
    if not isinstance(rate, int) or rate <= 0:
        raise ValueError(f"rate must be a positive number of Hz, got {rate!r}")
    path = InputPath(Models.shared(), noise_reduction=noise_reduction, record_vad=True)
    try:
        path.feed(samples if rate == PCM_RATE else resample(samples, rate, PCM_RATE))
    finally:
        path.close()
    table = pd.DataFrame(path.vad_frames, columns=["probability", "start_ms", "end_ms"])
    return table[["start_ms", "end_ms", "probability"]].astype("float64")


def above(trace: pd.DataFrame, threshold: float) -> list[tuple[float, float]]:
    """Spans (ms) where the probability is at or above ``threshold``: the raw material of a turn,
    before the detector's minimum speech length, hysteresis and silence window."""
    spans: list[tuple[float, float]] = []
    for start, end, p in trace[["start_ms", "end_ms", "probability"]].itertuples(index=False):
        if p < threshold:
            continue
        if spans and spans[-1][1] == start:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans
