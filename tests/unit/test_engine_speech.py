"""Speech for replies: sentence chunks with their words, and the placeholder without the voice extra."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from realtime_nb.engine import speech as speech_module
from realtime_nb.engine.models import Models, ModelUnavailableError
from realtime_nb.engine.speech import TONE_MS_PER_CHAR, Speech, split_sentences


class _NoVoice:
    """Models without the GPL voice extra installed."""

    def voice(self):
        raise ModelUnavailableError("speech synthesis needs the voice extra")


def test_placeholder_tone_follows_the_text_and_warns_once(monkeypatch):
    monkeypatch.setattr(speech_module, "_warned", False)
    sp = Speech(_NoVoice())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chunks = list(sp.chunks("Short. A much longer second sentence here."))
        list(Speech(_NoVoice()).chunks("Again."))
    assert sum("placeholder tone" in str(w.message) for w in caught) == 1
    assert sp.placeholder
    assert [t for t, _ in chunks] == ["Short.", " A much longer second sentence here."]
    for text, pcm in chunks:
        assert len(pcm) == pytest.approx(len(text.strip()) * TONE_MS_PER_CHAR * 24, abs=1)
        assert np.abs(pcm).max() > 1000


def test_piper_chunks_carry_their_words():
    sp = Speech(Models.shared())
    chunks = list(sp.chunks("Hello there. How are you today?"))
    assert "".join(t for t, _ in chunks) == "Hello there. How are you today?"
    assert all(len(pcm) > 2400 for _, pcm in chunks if _)  # real speech, >100 ms per sentence
    assert sp.cached("You said:") is sp.cached("You said:")


def test_split_sentences():
    assert split_sentences("  One.  Two?\nThree: four ") == ["One.", "Two?", "Three:", "four"]
    assert split_sentences("   ") == []
