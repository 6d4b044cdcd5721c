"""Caller audio (numpy, any rate, int16 or float, mono or multi-channel) -> append payloads.

Sans-I/O: the session feeds arrays in and sends what comes out. A stream resampler is kept across
calls so that audio arriving in small chunks (a microphone) is resampled without a click at every
chunk edge; `flush()` drains its filter tail before a commit.
"""

from __future__ import annotations

import numpy as np

from realtime_nb.audio import AUDIO_RATES, StreamResampler, duration_ms, encode, float_to_int16, resample
from realtime_nb.protocol.formats import SAMPLE_BYTES
from realtime_nb.protocol.limits import MAX_APPEND_B64_BYTES

# The services accept at most 15 MiB of base64 per `input_audio_buffer.append`. Base64 turns 3 bytes
# into 4, so 15 MiB of text holds 11.25 MiB of audio; that bound is a multiple of 2 (whole samples).
MAX_APPEND_B64 = MAX_APPEND_B64_BYTES
MAX_APPEND_BYTES = MAX_APPEND_B64 // 4 * 3

_MAX_CHANNELS = 16


def as_mono(samples: np.ndarray) -> np.ndarray:
    """Validate caller audio and return it mono: int16 stays int16, float stays float."""
    x = np.asarray(samples)
    if x.dtype != np.int16 and x.dtype.kind != "f":
        raise ValueError(f"audio must be int16 or float samples, got dtype {x.dtype}")
    if x.ndim == 2 and 1 <= x.shape[1] <= _MAX_CHANNELS:
        # (frames, channels), the layout of soundfile / sounddevice: average the channels.
        x = x.mean(axis=1) if x.dtype.kind == "f" else np.round(x.mean(axis=1)).astype(np.int16)
    elif x.ndim != 1:
        raise ValueError(f"audio must be 1-D (mono) or (frames, channels), got shape {x.shape}")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise ValueError("float audio contains NaN or infinite samples")
    return x


def check_rate(rate: object) -> int:
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer) or rate <= 0:
        raise ValueError(f"rate must be a positive integer number of Hz, got {rate!r}")
    return int(rate)


def split_payload(data: bytes, limit: int = MAX_APPEND_BYTES) -> list[bytes]:
    """Cut encoded audio into pieces of at most `limit` bytes (each a whole number of samples)."""
    if limit < 2 or limit % 2:
        raise ValueError(f"limit must be an even number of bytes >= 2, got {limit}")
    return [data[i : i + limit] for i in range(0, len(data), limit)]


class AudioInput:
    """Turns caller audio into encoded bytes in the session's input format, split under the limit."""

    def __init__(self, fmt: str = "pcm16", limit: int = MAX_APPEND_BYTES) -> None:
        if fmt not in AUDIO_RATES:
            raise ValueError(f"unknown input audio format {fmt!r}")
        self.fmt = fmt
        self.limit = limit
        self._resampler: StreamResampler | None = None
        self._src_rate: int | None = None

    @property
    def rate(self) -> int:
        """The wire rate of the input format (24 kHz for pcm16, 8 kHz for G.711)."""
        return AUDIO_RATES[self.fmt]

    def bytes_to_ms(self, nbytes: int) -> float:
        return duration_ms(nbytes, self.fmt)  # type: ignore[arg-type]

    def feed(self, samples: np.ndarray, rate: int) -> list[bytes]:
        """Audio at `rate` -> zero or more payloads ready for `input_audio_buffer.append`."""
        x = as_mono(samples)
        rate = check_rate(rate)
        if x.dtype.kind == "f":
            x = float_to_int16(x)
        out: list[bytes] = []
        if rate != self._src_rate:
            out += self.flush()  # a new source rate: finish the old stream first
            self._src_rate = rate
        if rate == self.rate:
            converted = x
        else:
            if self._resampler is None:
                self._resampler = StreamResampler(rate, self.rate)
            converted = self._resampler.process(x)
        if converted.size:
            out += split_payload(encode(converted, self.fmt), self._limit_for_format())
        return out

    def flush(self) -> list[bytes]:
        """Drain the resampler's tail (before a commit); the next `feed` starts a fresh stream."""
        if self._resampler is None:
            return []
        tail = self._resampler.flush()
        self._resampler = None
        return split_payload(encode(tail, self.fmt), self._limit_for_format()) if tail.size else []

    def reset(self) -> None:
        """Forget buffered resampler state (after `input_audio_buffer.clear`)."""
        self._resampler = None
        self._src_rate = None

    def encode_whole(self, samples: np.ndarray, rate: int) -> bytes:
        """One-shot conversion of a whole recording (no stream state), for `stream_file`."""
        x = as_mono(samples)
        rate = check_rate(rate)
        if x.dtype.kind == "f":
            x = float_to_int16(x)
        return encode(resample(x, rate, self.rate), self.fmt)

    def _limit_for_format(self) -> int:
        return self.limit - self.limit % SAMPLE_BYTES[self.fmt]
