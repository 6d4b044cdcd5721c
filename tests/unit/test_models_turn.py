import importlib.util
from pathlib import Path

import numpy as np
import pytest

from realtime_nb import samples
from realtime_nb.audio import resample
from realtime_nb.engine.models import Models
from realtime_nb.engine.models.turn import log_mel_features, smart_turn_model_path

# complete sentence -> the same sentence stopped mid-phrase (synthesised with continuing intonation)
PAIRS = {
    "I would like to order a large pizza with mushrooms.": "I would like to order a,",
    "Can you tell me what the weather will be like tomorrow?": "Can you tell me what the,",
    "My name is John and I live in Boston.": "My name is John and,",
    "Thank you, that is all I needed.": "Thank you, that is,",
}
TAIL_MS = 300  # silence after the speech, as when the VAD has just seen the user stop


@pytest.fixture(scope="module")
def turn():
    return Models.shared().turn()


def _speech16k(text: str, keep: float = 1.0) -> np.ndarray:
    """The utterance (or its first `keep` fraction, cut mid-word) followed by TAIL_MS of silence."""
    s = samples.utterance(text, lead_ms=300, tail_ms=0)
    seg = s.segments[0]
    end = seg.start + int((seg.end - seg.start) * keep)
    audio = np.concatenate([s.audio[:end], np.zeros(s.rate * TAIL_MS // 1000, np.int16)])
    return resample(audio, s.rate, 16000)


def _reference_features():
    """pipecat's own feature code, loaded by file path (pipecat's package is never imported)."""
    path = smart_turn_model_path().parent.parent / "_whisper_features.py"
    if not path.is_file():
        pytest.skip("pipecat's reference feature code is not present")
    spec = importlib.util.spec_from_file_location("_smart_turn_reference", Path(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.compute_whisper_log_mel_features


def test_features_match_the_reference_recipe():
    reference = _reference_features()
    rng = np.random.default_rng(7)
    for n in (16000, 128000, 200000):
        x = (rng.standard_normal(n) * 0.1).astype(np.float32)
        padded = np.pad(x, (max(0, 128000 - n), 0))[-128000:]
        ours = log_mel_features(x)
        assert ours.shape == (80, 800) and ours.dtype == np.float32
        assert np.max(np.abs(ours - reference(padded))) < 1e-4


def test_short_audio_is_left_padded_with_zeros():
    x = (np.random.default_rng(1).standard_normal(8000) * 0.1).astype(np.float32)
    longer = np.concatenate([np.zeros(5000, np.float32), x])
    assert np.array_equal(log_mel_features(x), log_mel_features(longer))


def test_complete_sentences_score_high_and_cut_ones_lower(turn):
    cut_scores = []
    for sentence, phrase in PAIRS.items():
        complete = turn.predict(_speech16k(sentence))
        cuts = [turn.predict(_speech16k(phrase))]
        cuts += [turn.predict(_speech16k(sentence, keep=k)) for k in (0.4, 0.5)]
        assert complete > 0.85, (sentence, complete)
        assert np.mean(cuts) < complete, (sentence, complete, cuts)
        cut_scores += cuts
    assert np.median(cut_scores) < 0.3, cut_scores


def test_bad_input(turn):
    with pytest.raises(ValueError, match="empty"):
        turn.predict(np.zeros(0, np.float32))
    with pytest.raises(ValueError, match="int16 or float"):
        turn.predict(np.zeros(100, np.int64))
