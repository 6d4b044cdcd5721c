"""WAV files through the standard library: PCM of 8/16/24/32 bits, any rate, mono out."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from realtime_nb.audio.codecs import float_to_int16


def _to_int16(raw: bytes, width: int) -> np.ndarray:
    """Interleaved little-endian PCM of `width` bytes per sample -> int16 (top 16 bits kept)."""
    if width == 1:  # 8-bit WAV is unsigned
        return ((np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    if width == 2:
        return np.frombuffer(raw, dtype="<i2").astype(np.int16)
    if width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        # the two most significant bytes are already the int16 value
        return (b[:, 1].astype(np.uint16) | (b[:, 2].astype(np.uint16) << 8)).view(np.int16)
    if width == 4:
        return (np.frombuffer(raw, dtype="<i4") >> 16).astype(np.int16)
    raise ValueError(f"unsupported WAV sample width: {width * 8} bits (expected 8, 16, 24 or 32)")


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a PCM WAV file -> (int16 mono samples, rate). Multi-channel audio is averaged."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except wave.Error as exc:
        raise ValueError(
            f"{path}: not a PCM WAV file this reader supports ({exc}); "
            "float or compressed WAV must be converted to integer PCM first"
        ) from None
    except EOFError:
        raise ValueError(f"{path}: truncated WAV header") from None
    samples = _to_int16(raw[: len(raw) - len(raw) % (width * channels)], width)
    if channels > 1:
        mixed = samples.reshape(-1, channels).astype(np.int32).sum(axis=1) / channels
        samples = np.round(mixed).astype(np.int16)
    return samples, rate


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> Path:
    """Write mono 16-bit PCM (float input in [-1, 1] is converted). Returns the path."""
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise ValueError(f"write_wav takes mono (1-D) audio, got shape {samples.shape}")
    if samples.size == 0:
        raise ValueError("write_wav got no samples")
    if samples.dtype.kind == "f":
        samples = float_to_int16(samples)
    elif samples.dtype != np.int16:
        raise ValueError(f"write_wav takes int16 or float samples, got dtype {samples.dtype}")
    if not isinstance(rate, int) or rate <= 0:
        raise ValueError(f"rate must be a positive integer, got {rate!r}")
    path = Path(path)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2", copy=False).tobytes())
    return path
