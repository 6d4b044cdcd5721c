import numpy as np
import pytest

from realtime_nb import samples
from realtime_nb.engine.models import KINDS, Models
from realtime_nb.engine.models.denoise import Denoiser


def _db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-12)


def _lag(out: np.ndarray, clean: np.ndarray, start: int, max_lag: int = 480) -> int:
    """Lag (samples) at which `out` best matches 1 s of `clean` from `start`; 0 = aligned."""
    core = clean[start : start + 24000].astype(np.float64)
    x = out[start - max_lag : start + 24000 + max_lag].astype(np.float64)
    return int(np.argmax(np.correlate(x, core, mode="valid"))) - max_lag


@pytest.fixture(scope="module")
def noisy():
    return samples.load("noisy_0db")


@pytest.fixture(scope="module")
def outputs(noisy):
    """Each setting run over the noisy sample in uneven chunks, as audio arrives in a session."""
    result = {}
    for kind in KINDS:
        stream = Models.shared().denoiser(kind).stream()
        parts = [stream.process(p) for p in np.array_split(noisy.audio, 37)]
        result[kind] = np.concatenate([*parts, stream.flush()])
    return result


def test_output_has_input_length_and_dtype(noisy, outputs):
    for out in outputs.values():
        assert out.dtype == np.int16 and out.size == noisy.audio.size


def test_noise_floor_drops_and_far_field_more(noisy, outputs):
    gaps = ~noisy.speech_mask()
    before = _db(noisy.audio[gaps])
    near, far = _db(outputs["near_field"][gaps]), _db(outputs["far_field"][gaps])
    assert before - near > 8  # capped attenuation: about 12 dB
    assert before - far > 25
    assert far < near


def test_speech_snr_improves(noisy, outputs):
    speech = noisy.speech_mask()
    clean = noisy.clean.astype(np.float64)

    def snr(x: np.ndarray) -> float:
        return _db(clean[speech]) - _db(x[speech].astype(np.float64) - clean[speech])

    assert snr(outputs["far_field"]) > snr(noisy.audio) + 5
    assert snr(outputs["near_field"]) > snr(noisy.audio) + 3


def test_output_stays_aligned_with_the_input_clock(noisy, outputs):
    for out in outputs.values():
        for segment in noisy.segments:  # early and late speech alike
            assert _lag(out, noisy.clean, segment.start) == 0


def test_chunking_does_not_change_the_result(noisy, outputs):
    d = Models.shared().denoiser("far_field")
    n = noisy.segments[0].end  # the first utterance is enough
    whole = d.process(noisy.audio[:n])
    diff = whole.astype(np.int32) - outputs["far_field"][:n]
    assert np.sqrt(np.mean(diff.astype(np.float64) ** 2)) < 20  # rounding-level, vs ~2000 RMS speech


def test_float_in_float_out_and_stream_lifecycle():
    d = Models.shared().denoiser("near_field")
    s = d.stream()
    x = np.zeros(2400, np.float32)
    out = s.process(x)
    assert out.dtype == np.float32 and out.size < x.size  # the model's look-ahead holds some back
    with pytest.raises(ValueError, match="dtype"):
        s.process(np.zeros(10, np.int16))
    tail = s.flush()
    assert out.size + tail.size == x.size
    with pytest.raises(ValueError, match="flushed"):
        s.process(x)


def test_bad_input():
    with pytest.raises(ValueError, match="unknown noise reduction"):
        Denoiser("studio")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown noise reduction"):
        Models.shared().denoiser("studio")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mono"):
        Models.shared().denoiser("far_field").stream().process(np.zeros((2, 100), np.int16))


def test_streams_get_their_own_state_and_a_spare_is_rebuilt():
    d = Denoiser("near_field")
    first = d.stream()
    d._refill_thread.join()  # the spare is rebuilt off the caller's path
    assert len(d._spare) == 1
    second = d.stream()
    assert second._state not in (None, first._state)
    first.close()
    second.close()
    assert first._state is None


def test_holds_back_little_audio_while_streaming():
    s = Models.shared().denoiser("near_field").stream()
    held = []
    for _ in range(100):  # 10 ms appends, as a browser microphone sends them
        s.process(np.zeros(240, np.int16))
        held.append(s.samples_in - s.samples_out)
    # 30 ms look-ahead + two 11 ms resamplers + frame filling; soxr releases output in blocks
    assert np.median(held[20:]) <= 60 * 24 and max(held) <= 90 * 24
