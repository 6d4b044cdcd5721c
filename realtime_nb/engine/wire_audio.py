"""Base64 audio in client events -> samples, refused with the error the service gives."""

from __future__ import annotations

import binascii

import numpy as np

from realtime_nb.audio import AUDIO_RATES, decode, resample
from realtime_nb.engine import big_frames
from realtime_nb.engine.errors import RequestError
from realtime_nb.protocol import PCM_RATE


def decode_b64_audio(b64: str, fmt: str, param: str) -> np.ndarray:
    """Samples at ``fmt``'s own rate; RequestError naming ``param`` for bad base64 or bad audio."""
    try:
        raw = big_frames.b64decode(b64)  # base64.b64decode(validate=True), in slices when big
    except (binascii.Error, ValueError) as exc:
        raise RequestError("invalid_value", f"Invalid base64 audio in '{param}': {exc}", param) from None
    try:
        return decode(raw, fmt)  # type: ignore[arg-type]
    except ValueError as exc:
        raise RequestError("invalid_value", f"Invalid {fmt} audio in '{param}': {exc}", param) from None


def decode_item_audio(b64: str, fmt: str, param: str) -> np.ndarray:
    """Audio of a client item (``input_audio`` part) as the 24 kHz PCM16 items keep."""
    return resample(decode_b64_audio(b64, fmt, param), AUDIO_RATES[fmt], PCM_RATE)
