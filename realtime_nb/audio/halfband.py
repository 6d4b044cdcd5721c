"""Exact 2x up- and downsampling with a short linear-phase FIR: about 1 ms of delay instead of soxr's 20-40.

WebRTC carries Opus at 48 kHz and the engine works at half that rate, so every frame of a call crosses
a factor of two, once each way. `StreamResampler` (soxr, "HQ") does that with a long filter and hands
its output out in blocks: it holds back 4-38 ms (21 ms on average) and a 20 ms frame consumer must keep
another frame in reserve to ride out the blocks. On a live call that is 40 ms added to the answer's
latency and ~10-20 ms to the turn detection's, for no audible benefit: the audio goes through Opus next.

These classes do the one ratio with a 95-tap Kaiser-windowed half-band low-pass (cut-off at a quarter
of the high rate; ripple and stopband about -70 dB; flat to ~0.45 of the low rate, the transition
above that). Each call returns exactly twice / half as many samples as it was given (a 20 ms frame in
is a 20 ms frame out, no reserve needed), with the filter state carried across calls so frame edges do
not click. The delay is the filter's group delay, 47 samples at the high rate (~1 ms at 48 kHz):

* `Upsampler2x`: output sample ``2k`` is input sample ``k`` delayed by that amount (the tail of the
  last input still sits in the filter until more input, silence included, pushes it out);
* `Downsampler2x`: trims the delay at the start (the first output samples are dropped), so output
  sample ``k`` lines up with input sample ``2k`` as `StreamResampler`'s output does; its output count
  therefore trails ``n / 2`` by that many samples (about 1 ms).

int16 in, int16 out (rounded and clipped); float32 in [-1, 1] works too. Silence into a filter that
holds only silence is answered without filtering: an idle WebRTC call sends and receives 50 silent
frames a second each way, and they cost nothing but the check.
"""

from __future__ import annotations

import numpy as np

TAPS = 95  # odd: a symmetric filter with a whole-sample group delay
KAISER_BETA = 7.0  # ~70 dB stopband
DELAY_HIGH = (TAPS - 1) // 2  # group delay in samples at the high rate (47)
DELAY_LOW = DELAY_HIGH // 2  # ... at the low rate, as the downsampler trims it (23)


def _design() -> np.ndarray:
    n = np.arange(TAPS) - DELAY_HIGH
    h = 0.5 * np.sinc(0.5 * n) * np.kaiser(TAPS, KAISER_BETA)  # cut-off at fs_high / 4
    return h / h.sum()  # unity gain at DC


_H = _design()
_H_EVEN = 2.0 * _H[0::2]  # upsampling: the polyphase branches, each with the zero-stuffing gain of 2
_H_ODD = 2.0 * _H[1::2]


def _as_float(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {x.shape}")
    if x.dtype == np.int16:
        return x.astype(np.float64)
    if x.dtype.kind == "f":
        return x.astype(np.float64) * 32768.0
    raise ValueError(f"expected int16 or float samples, got {x.dtype}")


def _like(y: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype == np.int16:
        return np.clip(np.rint(y), -32768, 32767).astype(np.int16)
    return (y / 32768.0).astype(dtype)


class Upsampler2x:
    """n samples in, 2n out, ~1 ms of delay, state kept across calls (see the module docstring)."""

    def __init__(self) -> None:
        self._even = np.zeros(_H_EVEN.size - 1)  # the input history each branch still needs
        self._odd = np.zeros(_H_ODD.size - 1)

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if self._quiet and not x.any():
            _as_float(x[:0])  # the same checks on shape and dtype
            return np.zeros(2 * x.size, x.dtype)
        f = _as_float(x)
        out = np.empty(2 * f.size)
        if f.size:
            even = np.concatenate([self._even, f])
            odd = np.concatenate([self._odd, f])
            out[0::2] = np.convolve(even, _H_EVEN, "valid")
            out[1::2] = np.convolve(odd, _H_ODD, "valid")
            self._even = even[-(_H_EVEN.size - 1) :]
            self._odd = odd[-(_H_ODD.size - 1) :]
        return _like(out, x.dtype)

    @property
    def _quiet(self) -> bool:
        return not (self._even.any() or self._odd.any())


class Downsampler2x:
    """n samples in, n / 2 out (an odd sample carries over to the next call), aligned with the input."""

    def __init__(self) -> None:
        self._history = np.zeros(TAPS - 1)
        self._phase = 0  # 0: the next input sample is an even one (an output lines up with it)
        self._trim = DELAY_LOW  # output samples still to drop so the output lines up with the input

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if not x.any() and not self._history.any():
            _as_float(x[:0])  # the same checks on shape and dtype
            count = (x.size + (self._phase + DELAY_HIGH + 1) % 2) // 2  # the even positions in x
            self._phase = (self._phase + x.size) % 2
            dropped = min(self._trim, count)
            self._trim -= dropped
            return np.zeros(count - dropped, x.dtype)
        f = _as_float(x)
        if not f.size:
            return _like(np.zeros(0), x.dtype)
        full = np.concatenate([self._history, f])
        filtered = np.convolve(full, _H, "valid")  # filtered[i] ends at input sample i of `f`
        # Keep the samples whose position, delay included, is even in the overall stream.
        start = (self._phase + DELAY_HIGH) % 2
        kept = filtered[start::2]
        self._phase = (self._phase + f.size) % 2
        self._history = full[-(TAPS - 1) :]
        if self._trim:
            dropped = min(self._trim, kept.size)
            kept = kept[dropped:]
            self._trim -= dropped
        return _like(kept, x.dtype)
