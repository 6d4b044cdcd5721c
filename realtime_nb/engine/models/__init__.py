"""The engine's local models, loaded once per process and shared by every session.

Each adapter is a small module: the heavy model object is shared (thread-safe inference) and hands
out per-session *stream* objects that hold state. `Models` loads each one lazily, exactly once, even
when several sessions ask at the same moment; `preload()` loads them in parallel at engine start.
`python -m realtime_nb.engine.models --check` loads everything and prints what it found.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from realtime_nb.engine.models._common import ModelUnavailableError
from realtime_nb.engine.models.denoise import KINDS, DenoiseKind, Denoiser, DenoiseStream
from realtime_nb.engine.models.transcribe import UnsupportedLanguageError, WhisperTranscriber
from realtime_nb.engine.models.turn import SmartTurn
from realtime_nb.engine.models.vad import SileroVad, VadStream
from realtime_nb.engine.models.voice import PiperVoice

MODEL_NAMES = ("vad", "turn", "near_field", "far_field", "transcriber", "voice")


class Models:
    """Lazily loaded, process-wide model objects (see the module docstring)."""

    _shared: ClassVar[Models | None] = None
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._loaded: dict[str, Any] = {}
        self.load_seconds: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"Models(loaded={sorted(self._loaded)})"

    @classmethod
    def shared(cls) -> Models:
        """The process-wide instance the engine's sessions use."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def _get(self, key: str, factory: Callable[[], Any]) -> Any:
        model = self._loaded.get(key)
        if model is not None:
            return model
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # other models keep loading in parallel; this one loads once
            model = self._loaded.get(key)
            if model is None:
                start = time.perf_counter()
                model = factory()
                self.load_seconds[key] = time.perf_counter() - start
                self._loaded[key] = model
        return model

    def is_loaded(self, name: str) -> bool:
        return name in self._loaded

    def vad(self) -> SileroVad:
        return self._get("vad", SileroVad)

    def turn(self) -> SmartTurn:
        return self._get("turn", SmartTurn)

    def denoiser(self, kind: DenoiseKind) -> Denoiser:
        if kind not in KINDS:
            raise ValueError(f"unknown noise reduction {kind!r}; expected one of {', '.join(KINDS)}")
        return self._get(kind, lambda: Denoiser(kind))

    def transcriber(self) -> WhisperTranscriber:
        return self._get("transcriber", WhisperTranscriber)

    def voice(self) -> PiperVoice:
        return self._get("voice", PiperVoice)

    def load(self, name: str) -> Any:
        """Load one model by its name in `MODEL_NAMES`."""
        if name in KINDS:
            return self.denoiser(name)  # type: ignore[arg-type]
        if name not in MODEL_NAMES:
            raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODEL_NAMES)}")
        return getattr(self, name)()

    def preload(
        self, names: Iterable[str] = MODEL_NAMES, *, parallel: bool = True, strict: bool = False
    ) -> dict[str, float | Exception]:
        """Load the named models (in threads: ONNX/CTranslate2 loading releases the GIL).

        Returns name -> load seconds, or the exception for a model that could not load (only
        `ModelUnavailableError`, e.g. the optional voice extra, unless `strict`).
        """
        names = list(names)
        for name in names:
            if name not in MODEL_NAMES:
                raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODEL_NAMES)}")

        def one(name: str) -> float | Exception:
            try:
                self.load(name)
            except ModelUnavailableError as exc:
                if strict:
                    raise
                return exc
            return self.load_seconds.get(name, 0.0)

        if not parallel:
            return {name: one(name) for name in names}
        # the voice and the transcriber dominate; start them first
        order = sorted(names, key=lambda n: n not in ("voice", "transcriber"))
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="model-load") as pool:
            futures = {name: pool.submit(one, name) for name in order}
            return {name: futures[name].result() for name in names}


__all__ = [
    "KINDS",
    "MODEL_NAMES",
    "DenoiseKind",
    "DenoiseStream",
    "Denoiser",
    "ModelUnavailableError",
    "Models",
    "PiperVoice",
    "SileroVad",
    "SmartTurn",
    "UnsupportedLanguageError",
    "VadStream",
    "WhisperTranscriber",
]
