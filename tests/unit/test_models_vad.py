import numpy as np
import pytest

from realtime_nb import samples
from realtime_nb.audio import resample
from realtime_nb.engine.models import Models
from realtime_nb.engine.models.vad import WINDOW


@pytest.fixture(scope="module")
def vad():
    return Models.shared().vad()


def _at16k(sample: samples.Sample) -> tuple[np.ndarray, np.ndarray]:
    """16 kHz float audio and the per-window truth (window mostly inside speech)."""
    audio = resample(sample.audio, sample.rate, 16000).astype(np.float32) / 32768
    mask24 = sample.speech_mask().astype(np.float32)
    mask16 = np.interp(np.arange(audio.size) * 1.5, np.arange(mask24.size), mask24)
    n = audio.size // WINDOW
    truth = mask16[: n * WINDOW].reshape(n, WINDOW).mean(axis=1) > 0.5
    return audio, truth


def _accuracy(probs: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean((probs > 0.5) == truth[: probs.size]))


@pytest.mark.parametrize(("name", "floor"), [("turns", 0.93), ("noisy_10db", 0.9), ("noisy_0db", 0.85)])
def test_frame_accuracy_against_known_boundaries(vad, name, floor):
    audio, truth = _at16k(samples.load(name))
    probs = vad.stream().process(audio)
    assert probs.dtype == np.float32 and probs.size == audio.size // WINDOW
    assert _accuracy(probs, truth) >= floor


def test_silence_and_noise_are_not_speech(vad):
    assert vad.stream().process(np.zeros(16000, np.float32)).max() < 0.1
    noise = samples.make_noise("white", 32000, seed=3) * 0.05
    probs = vad.stream().process(noise.astype(np.float32))
    assert np.mean(probs > 0.5) < 0.05


def test_chunked_input_gives_the_same_probabilities(vad):
    audio, _ = _at16k(samples.load("single"))
    whole = vad.stream().process(audio)
    s = vad.stream()
    rng = np.random.default_rng(0)
    cuts = np.sort(rng.integers(0, audio.size, 40))
    parts = [s.process(p) for p in np.split(audio, cuts)]
    assert np.allclose(np.concatenate(parts), whole, atol=1e-6)
    assert s.pending_samples == audio.size % WINDOW


def test_int16_input_and_interleaved_streams_are_independent(vad):
    sample = samples.load("single")
    audio16 = resample(sample.audio, sample.rate, 16000)
    a, b = vad.stream(), vad.stream()
    pa, pb = [], []
    for part in np.array_split(audio16, 20):
        pa.append(a.process(part))
        pb.append(b.process(np.zeros(part.size, np.int16)))
    assert np.allclose(np.concatenate(pa), vad.stream().process(audio16), atol=1e-6)
    assert np.concatenate(pb).max() < 0.1


def test_reset_forgets_state(vad):
    audio, _ = _at16k(samples.load("single"))
    s = vad.stream()
    first = s.process(audio[:20000])
    s.process(audio[20000:20100])
    s.reset()
    assert s.pending_samples == 0
    assert np.allclose(s.process(audio[:20000]), first, atol=1e-6)


@pytest.mark.parametrize(
    ("x", "message"), [(np.zeros(512, np.int32), "int16 or float"), (np.zeros((2, 512), np.float32), "mono")]
)
def test_bad_input(vad, x, message):
    with pytest.raises(ValueError, match=message):
        vad.stream().process(x)
