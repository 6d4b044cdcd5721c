import numpy as np
import pytest

from realtime_nb.audio import chunk, decode, envelope, resample, to_format


def test_to_format_resamples_and_encodes():
    x = (np.sin(np.arange(16000) / 5) * 10000).astype(np.int16)
    data = to_format(x, 16000, "pcm16")
    assert len(data) == 24000 * 2
    ulaw = to_format(x, 16000, "g711_ulaw")
    assert len(ulaw) == 8000
    expected = resample(x, 16000, 8000)
    err = np.abs(decode(ulaw, "g711_ulaw").astype(int) - expected)
    assert np.max(err) <= np.max(np.abs(expected)) * 0.07


def test_to_format_accepts_float_and_rejects_other_dtypes():
    assert len(to_format(np.zeros(240, np.float32), 24000)) == 480
    with pytest.raises(ValueError, match="int16 or float"):
        to_format(np.zeros(10, np.int64), 24000)
    with pytest.raises(ValueError, match="unknown audio format"):
        to_format(np.zeros(10, np.int16), 24000, "opus")


def test_chunk_splits_without_loss():
    x = np.arange(2500, dtype=np.int16)
    parts = list(chunk(x, 24000, 40))  # 960 samples each
    assert [p.size for p in parts] == [960, 960, 580]
    assert np.array_equal(np.concatenate(parts), x)
    with pytest.raises(ValueError, match="positive"):
        list(chunk(x, 24000, 0))
    with pytest.raises(ValueError, match="less than one sample"):
        list(chunk(x, 8000, 0.01))


def test_envelope_min_max_per_bin():
    x = np.array([0, 5, -3, 2, 9, -8, 1, 1, 4, -1], np.int16)
    env = envelope(x, 3)
    assert env.starts.tolist() == [0, 3, 6]
    assert env.mins.tolist() == [-3, -8, -1]
    assert env.maxs.tolist() == [5, 9, 4]


def test_envelope_of_long_audio_keeps_extremes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=240_000).astype(np.float32)
    x[123_456] = 50.0
    env = envelope(x, 1000)
    assert env.mins.size == 1000 and env.maxs.max() == 50.0 and env.mins.min() == x.min()


def test_envelope_with_fewer_samples_than_bins_and_bad_input():
    env = envelope(np.array([3, -4], np.int16), 100)
    assert env.mins.tolist() == [3, -4] and env.maxs.tolist() == [3, -4]
    with pytest.raises(ValueError, match="empty"):
        envelope(np.zeros(0, np.int16), 10)
    with pytest.raises(ValueError, match="n_bins"):
        envelope(np.zeros(5, np.int16), 0)
