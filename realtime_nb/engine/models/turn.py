"""End of turn: the smart-turn v3.2 ONNX model shipped inside the pipecat-ai wheel.

The model sees the last 8 s of the user's audio at 16 kHz as Whisper-style log-mel features and
returns P(turn complete) directly (its output is already a sigmoid). pipecat itself is never
imported (its package pulls ~450 MB of dependencies): only the file is located.

Feature recipe (the one the model was trained with, i.e. Hugging Face's Whisper feature extractor
with an 8 s chunk): left zero-pad or keep the last 128 000 samples; normalise the *waveform* to zero
mean and unit variance; centred STFT (reflect padding of n_fft/2, periodic Hann of 400, hop 160);
power spectrum onto 80 Slaney-scale mel filters (0-8 kHz, area-normalised); log10 with a 1e-10
floor; drop the last frame (801 -> 800); clamp to (max - 8); then (x + 4) / 4.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

from realtime_nb.engine.models._common import ModelUnavailableError, as_float_audio, onnx_session

SAMPLE_RATE = 16000
WINDOW_SECONDS = 8
N_FFT = 400
HOP = 160
N_MELS = 80
N_FRAMES = WINDOW_SECONDS * SAMPLE_RATE // HOP  # 800
_MODEL_FILE = "smart-turn-v3.2-cpu.onnx"


def smart_turn_model_path() -> Path:
    """The ONNX file inside the installed pipecat-ai wheel (found without importing pipecat)."""
    spec = importlib.util.find_spec("pipecat")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "the smart-turn model comes with pipecat-ai: pip install --no-deps pipecat-ai==1.14.0"
        )
    for root in spec.submodule_search_locations:
        path = Path(root) / "audio" / "turn" / "smart_turn" / "data" / _MODEL_FILE
        if path.is_file():
            return path
    raise ModelUnavailableError(f"pipecat-ai is installed but has no {_MODEL_FILE} (need version 1.14.0)")


def _slaney_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz (3 mel per 200 Hz), logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(hz < 1000.0, hz * 3.0 / 200.0, 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / log_step)


def _slaney_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(mel < 15.0, mel * 200.0 / 3.0, 1000.0 * np.exp((mel - 15.0) * log_step))


def _mel_filters() -> np.ndarray:
    """(n_fft/2 + 1, 80) matrix of triangular, area-normalised filters over 0..8 kHz."""
    edges = _slaney_hz(np.linspace(_slaney_mel(0.0), _slaney_mel(SAMPLE_RATE / 2), N_MELS + 2))
    bins = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)[:, None]
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    triangles = np.clip(np.minimum(rising, falling), 0.0, None)
    return triangles * (2.0 / (upper - lower))  # equal area per filter


_WINDOW = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
_FILTERS = _mel_filters()


def log_mel_features(audio16k: np.ndarray) -> np.ndarray:
    """The model's input for one clip: float32 (80, 800) from the last 8 s of 16 kHz audio."""
    x = as_float_audio(audio16k, "turn model input")
    n = WINDOW_SECONDS * SAMPLE_RATE
    x = x[-n:] if x.size >= n else np.concatenate([np.zeros(n - x.size, np.float32), x])
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    padded = np.pad(x.astype(np.float64), N_FFT // 2, mode="reflect")
    starts = np.arange(N_FRAMES + 1) * HOP
    frames = padded[starts[:, None] + np.arange(N_FFT)[None, :]]
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=1)) ** 2  # (801, 201)
    log_mel = np.log10(np.maximum(power @ _FILTERS, 1e-10)).T[:, :N_FRAMES]
    log_mel = np.maximum(log_mel, log_mel.max() - 8.0)
    return ((log_mel + 4.0) / 4.0).astype(np.float32)


class SmartTurn:
    """The shared end-of-turn model; `predict` is thread-safe (ONNX Runtime sessions are)."""

    sample_rate = SAMPLE_RATE

    def __init__(self, model_path: Path | None = None, threads: int = 1) -> None:
        self.model_path = model_path or smart_turn_model_path()
        self._session = onnx_session(self.model_path, threads=threads)
        self._lock = threading.Lock()  # only guards the call counter
        self.calls = 0

    def __repr__(self) -> str:
        return f"SmartTurn({self.model_path.name})"

    def predict(self, audio16k: np.ndarray) -> float:
        """P(the user finished their turn) for the audio so far (the last 8 s are used)."""
        if np.asarray(audio16k).size == 0:
            raise ValueError("turn model needs some audio, got an empty array")
        features = log_mel_features(audio16k)[None]
        (prob,) = self._session.run(None, {"input_features": features})
        with self._lock:
            self.calls += 1
        return float(np.asarray(prob).reshape(-1)[0])
