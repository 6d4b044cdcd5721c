"""WAV files: PCM of 8/16/24/32 bits or 32/64-bit float, any rate, mono out.

Reading goes through the stdlib `wave` module; files it refuses (WAVE_FORMAT_EXTENSIBLE headers,
which many tools write for 24-bit or multichannel audio, and IEEE float) are read by a small RIFF
chunk walker here. Compressed WAVs (ADPCM, MP3-in-WAV, ...) get a clear error.
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np

from realtime_nb.audio.codecs import float_to_int16

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


def _pcm_to_int16(raw: bytes, width: int) -> np.ndarray:
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


def _downmix(samples: np.ndarray, channels: int) -> np.ndarray:
    if channels == 1:
        return samples
    mixed = samples.reshape(-1, channels).astype(np.float64).mean(axis=1)
    return np.round(mixed).astype(samples.dtype) if samples.dtype == np.int16 else mixed


def _read_riff(path: Path) -> tuple[np.ndarray, int]:
    """Fallback reader for what `wave` refuses: extensible headers and IEEE float samples."""
    data = path.read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a WAV file (no RIFF/WAVE header)")
    fmt: tuple[int, int, int, int] | None = None
    pos, payload = 12, None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8 : pos + 8 + size]
        if chunk_id == b"fmt " and len(body) >= 16:
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            if tag == _EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack_from("<H", body, 24)[0]  # first two bytes of the sub-format GUID
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            payload = body
            break
        pos += 8 + size + (size & 1)  # chunks are word-aligned
    if fmt is None or payload is None:
        raise ValueError(f"{path}: WAV file without a fmt or data chunk")
    tag, channels, rate, bits = fmt
    if channels < 1 or rate <= 0:
        raise ValueError(f"{path}: invalid WAV header ({channels} channels, {rate} Hz)")
    width = bits // 8
    payload = payload[: len(payload) - len(payload) % (width * channels or 1)]
    if tag == _PCM:
        return _downmix(_pcm_to_int16(payload, width), channels), rate
    if tag == _FLOAT and bits in (32, 64):
        x = np.frombuffer(payload, dtype="<f4" if bits == 32 else "<f8")
        return float_to_int16(np.asarray(_downmix(x, channels), dtype=np.float64)), rate
    raise ValueError(
        f"{path}: WAV sample format {tag:#06x} ({bits}-bit) is not supported; "
        "convert compressed audio to PCM or float WAV first"
    )


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a WAV file -> (int16 mono samples, rate). Multi-channel audio is averaged."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except wave.Error:
        return _read_riff(path)
    except EOFError:
        raise ValueError(f"{path}: truncated WAV header") from None
    samples = _pcm_to_int16(raw[: len(raw) - len(raw) % (width * channels)], width)
    return _downmix(samples, channels), rate


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
