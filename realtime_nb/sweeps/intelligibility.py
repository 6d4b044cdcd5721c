"""Short-Time Objective Intelligibility (STOI), written from its published definition.

Taal, Hendriks, Heusdens and Jensen, "An Algorithm for Intelligibility Prediction of Time-Frequency
Weighted Noisy Speech", IEEE TASLP 19(7), 2011. STOI compares a degraded signal with its clean
reference and predicts how intelligible the degraded one is: about 1 for the reference itself,
falling as noise or processing destroys the slow envelope of speech in each band. It is what the
noise-reduction literature reports beside level changes, and it needs the clean speech, so it is
measured only for recordings that carry one (``Recording.clean``).

The steps, with the paper's constants:

1. both signals at 10 kHz;
2. frames of 256 samples (Hann window, half overlap); frames whose clean energy is more than 40 dB
   under the loudest clean frame are dropped from *both* signals (the measure is about speech, not
   the silences around it), and the rest are overlap-added back;
3. a 512-point DFT of 256-sample Hann frames, half overlap; per frame, the energy in 15 one-third
   octave bands from 150 Hz (centre frequencies 150 * 2^(k/3)), square-rooted: band envelopes;
4. for every band and every run of 30 consecutive frames (384 ms): the degraded envelope is scaled
   to the clean one's energy and clipped at the clean one times (1 + 10^(15/20)) (a signal-to-
   distortion floor of -15 dB), then correlated with the clean envelope;
5. STOI is the mean of those correlations over bands and runs.

A recording shorter than 30 kept frames has no run to score: the result is NaN.
"""

from __future__ import annotations

import math

import numpy as np

STOI_RATE = 10_000
FRAME = 256
NFFT = 512
BANDS = 15
LOWEST_CENTRE_HZ = 150.0
SEGMENT = 30  # frames per correlation run: 384 ms at 10 kHz with a 128-sample hop
BETA_DB = -15.0  # lower bound of the signal-to-distortion ratio
DYNAMIC_RANGE_DB = 40.0


def _frames(x: np.ndarray) -> np.ndarray:
    """Windowed frames of ``FRAME`` samples with half overlap (the last partial frame dropped)."""
    hop = FRAME // 2
    count = 1 + (x.size - FRAME) // hop if x.size >= FRAME else 0
    index = np.arange(FRAME)[None, :] + hop * np.arange(count)[:, None]
    return x[index] * _window()[None, :]


def _window() -> np.ndarray:
    # the periodic-free Hann of FRAME + 2 points without its zero ends, so no frame sample is zeroed
    return np.hanning(FRAME + 2)[1:-1]


def _overlap_add(frames: np.ndarray) -> np.ndarray:
    hop = FRAME // 2
    out = np.zeros(hop * (len(frames) - 1) + FRAME if len(frames) else 0)
    for k, frame in enumerate(frames):
        out[k * hop : k * hop + FRAME] += frame
    return out


def drop_silent_frames(clean: np.ndarray, degraded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step 2: both signals without the frames where the clean one is 40 dB under its loudest."""
    fx, fy = _frames(clean), _frames(degraded)
    if not len(fx):
        return clean[:0], degraded[:0]
    energy = 20.0 * np.log10(np.linalg.norm(fx, axis=1) + np.finfo(float).eps)
    keep = energy > energy.max() - DYNAMIC_RANGE_DB
    return _overlap_add(fx[keep]), _overlap_add(fy[keep])


def band_matrix() -> np.ndarray:
    """(15, 257): which DFT bins each one-third octave band sums (step 3)."""
    freqs = np.arange(NFFT // 2 + 1) * STOI_RATE / NFFT
    centres = LOWEST_CENTRE_HZ * 2.0 ** (np.arange(BANDS) / 3.0)
    low, high = centres * 2.0 ** (-1 / 6), centres * 2.0 ** (1 / 6)
    bands = np.zeros((BANDS, freqs.size))
    for j in range(BANDS):
        a = int(np.argmin(np.abs(freqs - low[j])))
        b = int(np.argmin(np.abs(freqs - high[j])))
        bands[j, a:b] = 1.0
    return bands


def band_envelopes(x: np.ndarray) -> np.ndarray:
    """(15, frames): the square root of each band's energy per frame (step 3)."""
    spectrum = np.abs(np.fft.rfft(_frames(x), NFFT, axis=1)) ** 2
    return np.sqrt(band_matrix() @ spectrum.T)


def stoi_from_envelopes(x: np.ndarray, y: np.ndarray) -> float:
    """Steps 4 and 5 on band envelopes of the clean (``x``) and degraded (``y``) signal."""
    frames = x.shape[1]
    if frames < SEGMENT:
        return math.nan
    # every run of SEGMENT frames, all bands at once: (bands, runs, SEGMENT)
    runs = np.lib.stride_tricks.sliding_window_view(x, SEGMENT, axis=1)
    yruns = np.lib.stride_tricks.sliding_window_view(y, SEGMENT, axis=1)
    eps = np.finfo(float).eps
    scale = np.linalg.norm(runs, axis=2, keepdims=True) / (np.linalg.norm(yruns, axis=2, keepdims=True) + eps)
    clipped = np.minimum(yruns * scale, runs * (1.0 + 10.0 ** (-BETA_DB / 20.0)))
    xc = runs - runs.mean(axis=2, keepdims=True)
    yc = clipped - clipped.mean(axis=2, keepdims=True)
    corr = (xc * yc).sum(axis=2) / (np.linalg.norm(xc, axis=2) * np.linalg.norm(yc, axis=2) + eps)
    return float(corr.mean())


def _at_stoi_rate(x: np.ndarray, rate: int) -> np.ndarray:
    from realtime_nb.audio import resample

    x = np.asarray(x)
    if rate != STOI_RATE:
        x = resample(x, rate, STOI_RATE)
    return x.astype(np.float64) / (32768.0 if np.issubdtype(x.dtype, np.integer) else 1.0)


def stoi(clean: np.ndarray, degraded: np.ndarray, rate: int) -> float:
    """STOI of ``degraded`` against its ``clean`` reference, both mono at ``rate`` Hz, sample-aligned
    (the longer is cut to the shorter). About 1: as intelligible as the reference; it falls with
    noise and distortion (the bundled voice in pink noise: about 0.94 at 10 dB SNR, 0.78 at 0 dB,
    0.54 at -10 dB)."""
    n = min(len(clean), len(degraded))
    x = _at_stoi_rate(np.asarray(clean)[:n], rate)
    y = _at_stoi_rate(np.asarray(degraded)[:n], rate)
    n = min(x.size, y.size)
    x, y = drop_silent_frames(x[:n], y[:n])
    return stoi_from_envelopes(band_envelopes(x), band_envelopes(y))
