import sys
import threading

import numpy as np
import pytest

from realtime_nb.engine.models import Models, ModelUnavailableError, PiperVoice
from realtime_nb.engine.models.voice import _split_first_sentence


@pytest.fixture(scope="module")
def voice():
    return Models.shared().voice()


def test_audio_is_24k_int16_one_chunk_per_sentence(voice):
    chunks = list(voice.synthesize("Hello there. How are you today? I am fine."))
    assert len(chunks) == 3
    assert all(c.dtype == np.int16 and c.ndim == 1 for c in chunks)
    seconds = sum(c.size for c in chunks) / voice.sample_rate
    assert 1.5 < seconds < 6.0  # 9 words at 2-5 words per second, plus Piper's short pauses
    assert max(np.abs(c).max() for c in chunks) > 3000  # audible speech, not silence


def test_long_first_sentence_is_split_for_a_fast_start(voice):
    text = "I would like to tell you about the many different kinds of pizza that we bake every day here."
    chunks = list(voice.synthesize(text))
    assert len(chunks) == 2 and chunks[0].size < chunks[1].size
    assert _split_first_sentence("Well, that is it.") == ["Well, that is it."]
    text = "First of all, we need to decide what we want to do about it today. Yes."
    lead, rest = _split_first_sentence(text)
    assert lead == "First of all," and rest.endswith("today. Yes.")


def test_speed_changes_the_length(voice):
    text = "The weather will be sunny tomorrow."
    normal = voice.render(text, variation=False)
    fast = voice.render(text, speed=1.5, variation=False)
    assert fast.size < normal.size * 0.8


def test_render_without_variation_is_reproducible(voice):
    a = voice.render("Reproducible audio, please.", variation=False)
    assert np.array_equal(a, voice.render("Reproducible audio, please.", variation=False))


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("   ", {}, "empty"),
        ("Hello.", {"voice": "robot"}, "unknown voice"),
        ("Hello.", {"speed": 3.0}, "speed"),
        ("Hello.", {"speed": True}, "speed"),
    ],
)
def test_bad_input(voice, text, kwargs, message):
    with pytest.raises(ValueError, match=message):
        voice.synthesize(text, **kwargs)


def test_missing_piper_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "piper", None)  # makes `import piper` fail
    with pytest.raises(ModelUnavailableError, match=r"realtime-nb\[voice\]"):
        PiperVoice()


def test_parallel_synthesis_matches_sequential(voice):
    texts = ["The first caller wants a pizza.", "The second caller asks about the weather today."]
    expected = [voice.render(t, variation=False) for t in texts]
    results: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        for _ in range(3):
            results[i] = voice.render(texts[i], variation=False)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(results[i], expected[i]) for i in range(2))


def test_the_voice_keeps_no_memory_plan_per_sentence_length(voice):
    """Every sentence is a new input length; ONNX Runtime's memory pattern keeps a plan per length,
    which grew a long-running engine without end. The voice runs without it (fixed-shape models
    such as the VAD keep it)."""
    from realtime_nb.engine.models.vad import SileroVad

    assert voice._piper.session.get_session_options().enable_mem_pattern is False
    assert SileroVad()._session.get_session_options().enable_mem_pattern is True
