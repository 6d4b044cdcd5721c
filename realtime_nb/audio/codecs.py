"""Wire audio formats: PCM16 little-endian and G.711 mu-law / A-law, plus base64 helpers.

G.711 goes through lookup tables built once at import (256 entries to decode, 65536 to encode), so a
whole buffer converts in one numpy indexing operation. The tables follow the ITU-T G.711 segment
rules exactly (mu-law: 14-bit magnitude with bias 33; A-law: 13-bit with sign-magnitude segments).
"""

from __future__ import annotations

import base64
import binascii
from typing import get_args

import numpy as np

# the protocol layer owns the format names, their native rates and sample widths
from realtime_nb.protocol import AUDIO_RATES, AudioFormat
from realtime_nb.protocol.formats import SAMPLE_BYTES

_FORMATS: tuple[str, ...] = get_args(AudioFormat)


def _check_format(fmt: str) -> str:
    if fmt not in _FORMATS:
        raise ValueError(f"unknown audio format {fmt!r}; expected one of {', '.join(_FORMATS)}")
    return fmt


def _check_int16(samples: np.ndarray, what: str = "samples") -> np.ndarray:
    samples = np.asarray(samples)
    if samples.dtype != np.int16:
        raise ValueError(f"{what} must be int16 PCM, got dtype {samples.dtype}")
    if samples.ndim != 1:
        raise ValueError(f"{what} must be mono (1-D), got shape {samples.shape}")
    return samples


# --- G.711 tables ------------------------------------------------------------------------------


def _ulaw_decode_table() -> np.ndarray:
    code = ~np.arange(256, dtype=np.int32) & 0xFF  # codes are transmitted inverted
    mantissa = code & 0x0F
    exponent = (code >> 4) & 0x07
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(code & 0x80, -magnitude, magnitude).astype(np.int16)


def _ulaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2  # mu-law works on 14 bits
    negative = pcm < 0
    magnitude = np.minimum(np.where(negative, -pcm, pcm), 8159) + 33
    # segment = position of the highest set bit above bit 5 (magnitude is in [33, 8192])
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 5
    mantissa = (magnitude >> (exponent + 1)) & 0x0F
    # full-scale magnitudes land one past the last segment: they take the largest code
    code = np.where(exponent > 7, 0x7F, (exponent << 4) | mantissa)
    return (np.where(negative, code ^ 0x7F, code ^ 0xFF)).astype(np.uint8)


def _alaw_decode_table() -> np.ndarray:
    code = np.arange(256, dtype=np.int32) ^ 0x55  # even bits are transmitted inverted
    mantissa = (code & 0x0F) << 4
    segment = (code >> 4) & 0x07
    magnitude = np.where(
        segment == 0, mantissa + 8, (mantissa + 0x108) << np.maximum(segment - 1, 0)
    )
    return np.where(code & 0x80, magnitude, -magnitude).astype(np.int16)


def _alaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 3  # A-law works on 13 bits
    negative = pcm < 0
    magnitude = np.where(negative, -pcm - 1, pcm)  # in [0, 4095]
    segment = np.where(magnitude < 32, 0, np.floor(np.log2(np.maximum(magnitude, 1))).astype(np.int32) - 4)
    shift = np.where(segment < 2, 1, segment)
    code = (segment << 4) | ((magnitude >> shift) & 0x0F)
    return np.where(negative, code ^ 0x55, code ^ 0xD5).astype(np.uint8)


_ULAW_DECODE = _ulaw_decode_table()
_ULAW_ENCODE = _ulaw_encode_table()
_ALAW_DECODE = _alaw_decode_table()
_ALAW_ENCODE = _alaw_encode_table()
_DECODE_TABLES = {"g711_ulaw": _ULAW_DECODE, "g711_alaw": _ALAW_DECODE}
_ENCODE_TABLES = {"g711_ulaw": _ULAW_ENCODE, "g711_alaw": _ALAW_ENCODE}
_PCM16_LE = np.dtype("<i2")


# --- public API ----------------------------------------------------------------------------------


def decode(data: bytes | bytearray | memoryview, fmt: AudioFormat = "pcm16") -> np.ndarray:
    """Wire bytes -> int16 samples at the format's native rate (see `AUDIO_RATES`)."""
    _check_format(fmt)
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValueError(f"audio data must be bytes, got {type(data).__name__}")
    if fmt == "pcm16":
        if len(data) % 2:
            raise ValueError(f"pcm16 audio needs an even number of bytes, got {len(data)}")
        out = np.frombuffer(data, dtype=_PCM16_LE).astype(np.int16)  # copy: owns its memory
        return out
    return _DECODE_TABLES[fmt][np.frombuffer(data, dtype=np.uint8)]


def encode(samples: np.ndarray, fmt: AudioFormat = "pcm16") -> bytes:
    """int16 mono samples -> wire bytes (no resampling: give samples at the format's rate)."""
    _check_format(fmt)
    samples = _check_int16(samples)
    if fmt == "pcm16":
        return samples.astype(_PCM16_LE, copy=False).tobytes()
    # int16 -> table index 0..65535 (index 0 is -32768)
    return _ENCODE_TABLES[fmt][samples.astype(np.int32) + 32768].tobytes()


def b64_to_pcm(b64: str, fmt: AudioFormat = "pcm16") -> np.ndarray:
    """A base64 `audio` field -> int16 samples."""
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValueError(f"audio is not valid base64: {exc}") from None
    return decode(raw, fmt)


def pcm_to_b64(samples: np.ndarray, fmt: AudioFormat = "pcm16") -> str:
    """int16 samples -> base64 text for an `audio` field."""
    return base64.b64encode(encode(samples, fmt)).decode("ascii")


def duration_ms(nbytes: int, fmt: AudioFormat = "pcm16") -> float:
    """Playback length in ms of `nbytes` of audio in `fmt` at its native rate."""
    _check_format(fmt)
    if nbytes < 0:
        raise ValueError(f"byte count must be >= 0, got {nbytes}")
    return nbytes / SAMPLE_BYTES[fmt] / AUDIO_RATES[fmt] * 1000.0


def float_to_int16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] -> int16 (clipped; 1.0 maps to 32767)."""
    samples = np.asarray(samples)
    if samples.dtype.kind != "f":
        raise ValueError(f"expected float samples, got dtype {samples.dtype}")
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)


def int16_to_float(samples: np.ndarray) -> np.ndarray:
    """int16 -> float32 in [-1, 1)."""
    return _check_int16(samples).astype(np.float32) / np.float32(32768.0)


