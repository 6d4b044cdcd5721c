"""Text -> 24 kHz speech for responses: the Piper voice, or a documented placeholder.

Without the GPL voice extra (``pip install 'realtime-nb[voice]'``) audio responses still work: each
sentence becomes a soft 220 Hz tone (-20 dBFS, 10 ms fades) lasting 60 ms per character, so the
audio length follows the text the way speech would, and the transcript deltas are the real words.
A RuntimeWarning says so once per process.

Chunks are ``(text, pcm24)`` pairs: the text of a sentence travels with its first audio chunk, so a
transcript delta is never ahead of the audio it belongs to. The opening phrase of the echo responder
is synthesized once per voice and speed and cached, so a response can start speaking at once.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from realtime_nb.engine.models import ModelUnavailableError
from realtime_nb.protocol import PCM_RATE

TONE_MS_PER_CHAR = 60.0
_TONE_HZ = 220.0
_TONE_AMPLITUDE = 3277  # -20 dBFS
_SENTENCES = re.compile(r"(?<=[.!?:;])\s+")
_warned = False
_warn_lock = threading.Lock()


def split_sentences(text: str) -> list[str]:
    """Sentences (and clauses ending in ':' or ';'), whitespace-normalised, none empty."""
    return [s for s in _SENTENCES.split(" ".join(text.split())) if s]


def tone_for(text: str) -> np.ndarray:
    """The placeholder audio of ``text``: a tone whose length follows the number of characters."""
    n = max(1, int(len(text) * TONE_MS_PER_CHAR * PCM_RATE / 1000))
    t = np.arange(n) / PCM_RATE
    wave = np.sin(2 * np.pi * _TONE_HZ * t)
    fade = min(n // 2, PCM_RATE // 100)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        wave[:fade] *= ramp
        wave[-fade:] *= ramp[::-1]
    return (wave * _TONE_AMPLITUDE).astype(np.int16)


def _warn_placeholder(reason: str) -> None:
    global _warned
    with _warn_lock:
        if _warned:
            return
        _warned = True
    warnings.warn(
        f"realtime_nb engine: no speech synthesis ({reason}); audio responses are a placeholder tone whose "
        "length follows the text. Install the GPL voice extra for speech: pip install 'realtime-nb[voice]'",
        RuntimeWarning,
        stacklevel=3,
    )


class Speech:
    """Sentence-streamed synthesis with the shared voice model, or the tone placeholder."""

    def __init__(self, models: Any) -> None:
        self._models = models
        self._voice: Any = None
        self.placeholder = False
        self._cache: dict[tuple[str, float], np.ndarray] = {}
        self._lock = threading.Lock()

    def _get_voice(self) -> Any:
        if self._voice is None and not self.placeholder:
            try:
                self._voice = self._models.voice()
            except ModelUnavailableError as exc:
                self.placeholder = True
                _warn_placeholder(str(exc))
        return self._voice

    def chunks(
        self, text: str, *, voice: str = "alloy", speed: float = 1.0
    ) -> Iterator[tuple[str, np.ndarray]]:
        """``(text, pcm24)`` per synthesized chunk; call on a worker thread."""
        model = self._get_voice()
        name = voice if model is not None and voice in getattr(model, "voices", ()) else "alloy"
        for i, sentence in enumerate(split_sentences(text)):
            words = sentence if i == 0 and not text[:1].isspace() else " " + sentence
            if model is None:
                yield words, tone_for(sentence)
                continue
            first = True
            for pcm in model.synthesize(sentence, voice=name, speed=speed):
                yield (words if first else ""), pcm
                first = False

    def cached(self, phrase: str, speed: float = 1.0) -> np.ndarray:
        """The audio of a fixed phrase, synthesized once (thread-safe)."""
        key = (phrase, float(speed))
        with self._lock:
            hit = self._cache.get(key)
        if hit is None:
            hit = np.concatenate([pcm for _, pcm in self.chunks(phrase, speed=speed)])
            with self._lock:
                self._cache[key] = hit
        return hit


_SHARED: dict[int, Speech] = {}
_SHARED_LOCK = threading.Lock()


def speech_for(models: Any) -> Speech:
    """One Speech per Models object, so the opening-phrase cache is shared by all sessions."""
    with _SHARED_LOCK:
        sp = _SHARED.get(id(models))
        if sp is None or sp._models is not models:
            sp = _SHARED[id(models)] = Speech(models)
        return sp
