"""The input audio path of one session, on the audio clock.

decode (done by the session) -> to 24 kHz (G.711 is 8 kHz) -> noise reduction when configured
(near_field / far_field streams) -> the *processed* 24 kHz buffer -> 16 kHz -> VAD probabilities.

The audio clock is milliseconds of input audio appended since the session started; it is never
reset by clear or commit. Processed sample n is input sample n (the resamplers and the denoiser
keep alignment), so a VAD window or a buffer slice maps to the clock exactly; the processed audio
only lags the appended audio by the filters' delay (a few ms; tens of ms with noise reduction). A manual
commit therefore takes the processed audio available at that moment, and the tail still inside the
filters starts the next buffer.

In VAD modes, audio more than ``QUIET_KEEP_MS`` before any detected speech is dropped from the
buffer (only ``prefix_padding_ms`` of it can ever reach an item), so a microphone left streaming
silence for an hour does not grow memory.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

import numpy as np

from realtime_nb.audio import AUDIO_RATES, StreamResampler, resample
from realtime_nb.engine.models.turn import SAMPLE_RATE as TURN_RATE
from realtime_nb.engine.models.vad import SAMPLE_RATE as VAD_RATE
from realtime_nb.engine.models.vad import WINDOW as VAD_WINDOW
from realtime_nb.protocol import PCM_RATE

QUIET_KEEP_MS = 10_000.0
SILENT_DB = -120.0


class PcmBuffer:
    """Append-only int16 audio with a moving start, indexed in absolute samples (no O(n^2) copies).

    A slice finds its first chunk by bisection: the turn detector reads the level of many short
    stretches near the end of a buffer that may hold minutes of 20 ms appends.
    """

    def __init__(self, start: int = 0) -> None:
        self._chunks: list[np.ndarray] = []
        self._starts: list[int] = []  # absolute index of each chunk's first sample
        self.start = start  # absolute index of the first kept sample
        self.end = start  # absolute index after the last sample

    def __len__(self) -> int:
        return self.end - self.start

    def append(self, x: np.ndarray) -> None:
        if x.size:
            self._chunks.append(x.astype(np.int16, copy=False))
            self._starts.append(self.end)
            self.end += x.size

    def slice(self, a: int, b: int) -> np.ndarray:
        """Samples [a, b) clamped to what is kept."""
        a, b = max(a, self.start), min(b, self.end)
        if b <= a:
            return np.zeros(0, np.int16)
        out = []
        for i in range(max(0, bisect_right(self._starts, a) - 1), len(self._chunks)):
            c, pos = self._chunks[i], self._starts[i]
            if pos >= b:
                break
            lo, hi = max(a, pos), min(b, pos + c.size)
            if lo < hi:
                out.append(c[lo - pos : hi - pos])
        return np.concatenate(out) if len(out) > 1 else out[0].copy()

    def drop_before(self, n: int) -> None:
        """Forget samples before absolute index ``n``."""
        n = min(max(n, self.start), self.end)
        while self._chunks and self._starts[0] + self._chunks[0].size <= n:
            self._chunks.pop(0)
            self._starts.pop(0)
        if self._chunks and n > self._starts[0]:
            self._chunks[0] = self._chunks[0][n - self._starts[0] :]
            self._starts[0] = n
        self.start = max(self.start, n)


def ms_to_samples(ms: float, rate: int = PCM_RATE) -> int:
    return round(ms * rate / 1000.0)


class InputPipeline:
    """Per-session input path; see the module docstring. ``denoiser`` is a DenoiseStream or None."""

    def __init__(self, vad_stream: Any, input_format: str = "pcm16", denoiser: Any = None) -> None:
        self._vad = vad_stream
        self._format = input_format
        self._to24 = self._resampler_for(input_format)
        self._denoiser = denoiser
        self._to16 = StreamResampler(PCM_RATE, VAD_RATE, quality="LQ")  # 11 ms less delay; VAD-equal
        self.processed = PcmBuffer()
        self._appended_native = 0.0  # ms of audio appended (the audio clock)
        self._vad_windows = 0

    @staticmethod
    def _resampler_for(fmt: str) -> StreamResampler | None:
        rate = AUDIO_RATES[fmt]
        return None if rate == PCM_RATE else StreamResampler(rate, PCM_RATE)

    # --- configuration changes ------------------------------------------------------------------

    def set_format(self, fmt: str) -> None:
        """Switch the input format between appends (the old resampler's tail is kept)."""
        if fmt == self._format:
            return
        if self._to24 is not None:
            self._process24(self._to24.flush())
        self._format = fmt
        self._to24 = self._resampler_for(fmt)

    def set_denoiser(self, denoiser: Any) -> None:
        """Switch noise reduction on (a DenoiseStream), off (None) or to another kind."""
        old, self._denoiser = self._denoiser, None
        if old is not None:
            self._store(old.flush())
            old.close()
        self._denoiser = denoiser

    def close(self) -> None:
        if self._denoiser is not None:
            self._denoiser.close()
            self._denoiser = None

    # --- clock ------------------------------------------------------------------------------------

    @property
    def clock_ms(self) -> float:
        """Milliseconds of input audio appended since the session started."""
        return self._appended_native

    @property
    def buffer_start_ms(self) -> float:
        return self.processed.start * 1000.0 / PCM_RATE

    @property
    def buffered_ms(self) -> float:
        """Appended audio not yet committed or cleared (what a manual commit would cover)."""
        return self.clock_ms - self.buffer_start_ms

    # --- audio ------------------------------------------------------------------------------------

    def append(self, native: np.ndarray) -> list[tuple[float, float, float]]:
        """Feed decoded input audio; returns the VAD frames completed: (probability, start_ms, end_ms)."""
        self._appended_native += native.size * 1000.0 / AUDIO_RATES[self._format]
        x24 = native if self._to24 is None else self._to24.process(native)
        return self._process24(x24)

    def _process24(self, x24: np.ndarray) -> list[tuple[float, float, float]]:
        if self._denoiser is not None and x24.size:
            x24 = self._denoiser.process(x24)
        return self._store(x24)

    def _store(self, x24: np.ndarray) -> list[tuple[float, float, float]]:
        if not x24.size:
            return []
        self.processed.append(x24)
        probs = self._vad.process(self._to16.process(x24))
        frames = []
        for p in probs:
            start = self._vad_windows * VAD_WINDOW * 1000.0 / VAD_RATE
            self._vad_windows += 1
            frames.append((float(p), start, start + VAD_WINDOW * 1000.0 / VAD_RATE))
        return frames

    @property
    def processed_ms(self) -> float:
        """Audio-clock time up to which processed audio exists (the clock minus the filters' delay)."""
        return self.processed.end * 1000.0 / PCM_RATE

    def level_db(self, start_ms: float, end_ms: float) -> float:
        """RMS level (dBFS) of the processed audio between two clock times; -120 where none is kept."""
        x = self.audio(start_ms, end_ms)
        if not x.size:
            return SILENT_DB
        power = float(np.mean(np.square(x, dtype=np.float64))) / 32768.0**2
        return 10.0 * np.log10(max(power, 1e-12))

    def audio(self, start_ms: float, end_ms: float) -> np.ndarray:
        """Processed 24 kHz audio between two clock times (clamped to the buffer)."""
        return self.processed.slice(ms_to_samples(start_ms), ms_to_samples(end_ms))

    def audio16(self, start_ms: float, end_ms: float) -> np.ndarray:
        """The same audio at the end-of-turn model's rate (16 kHz)."""
        return resample(self.audio(start_ms, end_ms), PCM_RATE, TURN_RATE)

    def take(self, start_ms: float, end_ms: float | None = None) -> np.ndarray:
        """Remove the buffer up to ``end_ms`` (None: all processed audio) and return [start_ms, end_ms)."""
        end = self.processed.end if end_ms is None else ms_to_samples(end_ms)
        out = self.processed.slice(ms_to_samples(start_ms), end)
        self.processed.drop_before(end)
        return out

    def keeps_after(self, end_ms: float) -> bool:
        """Whether ``take(…, end_ms)`` would leave processed audio in the buffer (a turn's tail)."""
        return self.processed.end > max(ms_to_samples(end_ms), self.processed.start)

    def clear(self) -> None:
        """Drop everything buffered (the clock keeps running)."""
        self.processed.drop_before(self.processed.end)

    def trim_quiet(self) -> None:
        """Forget audio older than QUIET_KEEP_MS (VAD modes, while nobody speaks)."""
        self.processed.drop_before(self.processed.end - ms_to_samples(QUIET_KEEP_MS))
