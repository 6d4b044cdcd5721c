import numpy as np
import pytest

from realtime_nb.audio import StreamResampler, resample


def _tone(rate: int, seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _dominant_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize(("src", "dst"), [(24000, 16000), (16000, 24000), (22050, 24000), (8000, 24000)])
def test_resample_keeps_length_pitch_and_dtype(src, dst):
    x = _tone(src, 1.0)
    y = resample(x, src, dst)
    assert y.dtype == np.float32
    assert abs(y.size - dst) <= 1
    assert _dominant_hz(y, dst) == pytest.approx(440.0, abs=2.0)
    yi = resample((x * 32767).astype(np.int16), src, dst)
    assert yi.dtype == np.int16
    assert np.max(np.abs(yi.astype(np.float32) / 32767 - y)) < 2e-3


def test_resample_same_rate_is_a_copy():
    x = np.arange(10, dtype=np.int16)
    y = resample(x, 16000, 16000)
    assert np.array_equal(x, y) and y is not x


@pytest.mark.parametrize("dtype", [np.float32, np.int16])
@pytest.mark.parametrize("chunk", [1, 160, 441, 4800])
def test_stream_resampler_matches_one_shot(dtype, chunk):
    x = _tone(24000, 0.75, 300.0) + _tone(24000, 0.75, 2900.0) * 0.3
    if dtype is np.int16:
        x = (x * 30000).astype(np.int16)
    one_shot = resample(x, 24000, 16000)
    s = StreamResampler(24000, 16000)
    parts = [s.process(x[i : i + chunk]) for i in range(0, x.size, chunk)]
    streamed = np.concatenate([*parts, s.flush()])
    assert streamed.dtype == one_shot.dtype
    assert abs(streamed.size - one_shot.size) <= 1
    n = min(streamed.size, one_shot.size)
    tol = 2 if dtype is np.int16 else 1e-4
    assert np.max(np.abs(streamed[:n].astype(np.float64) - one_shot[:n])) <= tol


def test_stream_resampler_bad_use():
    s = StreamResampler(24000, 16000)
    s.process(np.zeros(10, np.int16))
    with pytest.raises(ValueError, match="dtype"):
        s.process(np.zeros(10, np.float32))
    s.flush()
    with pytest.raises(ValueError, match="flushed"):
        s.process(np.zeros(10, np.int16))
    with pytest.raises(ValueError, match="src_rate"):
        StreamResampler(0, 16000)


@pytest.mark.parametrize(
    ("x", "message"),
    [(np.zeros(4, np.int32), "int16 or float"), (np.zeros((2, 4), np.float32), "mono")],
)
def test_resample_bad_input(x, message):
    with pytest.raises(ValueError, match=message):
        resample(x, 24000, 16000)


def test_quality_choice_and_bad_quality():
    x = _tone(24000, 0.5)
    assert np.max(np.abs(resample(x, 24000, 16000, quality="LQ") - resample(x, 24000, 16000))) < 0.01
    with pytest.raises(ValueError, match="quality"):
        resample(x, 24000, 16000, quality="best")
    with pytest.raises(ValueError, match="quality"):
        StreamResampler(24000, 16000, quality="best")


@pytest.mark.parametrize("quality", ["LQ", "HQ"])
def test_int16_streams_are_deterministic(quality):
    # libsoxr's streams dither int16 output from a seed of the clock and the stream's address, so two
    # streams over the same audio used to differ by 1-2 LSB: the engine's VAD then heard different
    # audio live and offline. Streams resample int16 in float32 and round, the same every time; the
    # one-shot call's dither is the same on every call.
    x = (np.random.default_rng(0).standard_normal(24000) * 3000).astype(np.int16)
    streams = [StreamResampler(24000, 16000, quality=quality) for _ in range(3)]
    outs: list[list[np.ndarray]] = [[], [], []]
    for i in range(0, x.size, 480):
        for s, out in zip(streams, outs, strict=True):
            out.append(s.process(x[i : i + 480]))
    first, *others = [np.concatenate(out) for out in outs]
    assert first.dtype == np.int16 and first.size > 15000
    for other in others:
        assert np.array_equal(first, other)
    assert np.array_equal(resample(x, 24000, 16000, quality), resample(x, 24000, 16000, quality))
