import re

import numpy as np
import pytest

from realtime_nb import samples
from realtime_nb.audio import resample
from realtime_nb.engine.models import Models, UnsupportedLanguageError, WhisperTranscriber


@pytest.fixture(scope="module")
def transcriber():
    return Models.shared().transcriber()


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


@pytest.fixture(scope="module")
def turns16k():
    s = samples.load("turns")
    return s, resample(s.audio, s.rate, 16000)


def test_transcribes_the_synthesised_sentences(transcriber, turns16k):
    sample, audio = turns16k
    segments = list(transcriber.transcribe(audio))
    assert segments and all(isinstance(t, str) and t == t.strip() for t in segments)
    heard = set(_words(" ".join(segments)))
    expected = _words(sample.text)
    assert sum(w in heard for w in expected) / len(expected) >= 0.8


def test_language_checks(transcriber, turns16k):
    _, audio = turns16k
    with pytest.raises(UnsupportedLanguageError, match="only transcribes English"):
        transcriber.transcribe(audio, language="fr")
    assert issubclass(UnsupportedLanguageError, ValueError)
    text = " ".join(transcriber.transcribe(audio[: 16000 * 3], language="en-US"))
    assert "pizza" in text.lower()


def test_prompt_reaches_the_decoder(transcriber, turns16k, monkeypatch):
    seen = {}
    real = transcriber._model.transcribe

    def spy(audio, **kwargs):
        seen.update(kwargs)
        return real(audio, **kwargs)

    monkeypatch.setattr(transcriber._model, "transcribe", spy)
    _, audio = turns16k
    text = " ".join(transcriber.transcribe(audio[: 16000 * 3], prompt="Pizza order: MUSHROOMS."))
    assert seen["initial_prompt"] == "Pizza order: MUSHROOMS." and seen["language"] == "en"
    assert "pizza" in text.lower()


def test_segments_are_yielded_lazily(transcriber):
    it = transcriber.transcribe(np.zeros(16000, np.float32))
    assert iter(it) is it  # a generator: the engine can emit a delta per segment


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"audio16k": np.zeros(0, np.float32)}, ValueError, "empty"),
        ({"audio16k": np.zeros(100, np.int32)}, ValueError, "int16 or float"),
        ({"audio16k": np.zeros(100, np.float32), "prompt": 5}, ValueError, "prompt"),
        ({"audio16k": np.zeros(100, np.float32), "language": "de-DE"}, UnsupportedLanguageError, "'de-DE'"),
    ],
)
def test_bad_input(transcriber, kwargs, error, message):
    with pytest.raises(error, match=message):
        transcriber.transcribe(**kwargs)


def test_loading_never_touches_the_hub(monkeypatch):
    import huggingface_hub
    import tokenizers

    def refuse(*args, **kwargs):
        raise AssertionError("tried to reach the Hugging Face hub")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    monkeypatch.setattr(tokenizers.Tokenizer, "from_pretrained", refuse)
    fresh = WhisperTranscriber(threads=1)
    assert fresh.model_dir.is_dir()
    assert list(fresh.transcribe(np.zeros(8000, np.float32))) is not None
