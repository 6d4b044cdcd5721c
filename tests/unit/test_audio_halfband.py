"""The 2x resamplers of a WebRTC call: exact lengths, ~1 ms of delay, state across chunks, a clean band."""

from __future__ import annotations

import numpy as np
import pytest

from realtime_nb.audio.halfband import _H, DELAY_HIGH, TAPS, Downsampler2x, Upsampler2x
from realtime_nb.protocol import PCM_RATE

RNG = np.random.default_rng(7)


def _speechlike(n: int) -> np.ndarray:
    x = (RNG.standard_normal(n) * 4000).astype(np.int16)
    x[n // 5 : n // 2] = 0  # silences inside, to cross the silence shortcut both ways
    x[-n // 6 :] = 0
    return x


@pytest.mark.parametrize("cls", [Upsampler2x, Downsampler2x])
@pytest.mark.parametrize("sizes", [[480] * 60, [961] * 40, [1, 2, 3, 480, 960, 7] * 30])
def test_chunking_does_not_change_the_output(cls, sizes):
    x = _speechlike(PCM_RATE)
    whole = cls().process(x)
    r, parts, at = cls(), [], 0
    for n in sizes:
        parts.append(r.process(x[at : at + n]))
        at += n
    got = np.concatenate(parts)
    assert at >= x.size and np.array_equal(got, whole)


def test_lengths_are_exact_and_the_delay_about_a_millisecond():
    up, down = Upsampler2x(), Downsampler2x()
    frames = [up.process(np.full(480, 1000, np.int16)) for _ in range(3)]
    assert [f.size for f in frames] == [960] * 3  # a 20 ms frame in is a 20 ms frame out
    step = np.concatenate([np.zeros(480, np.int16), np.full(480, 8000, np.int16)])
    y = Upsampler2x().process(step)
    half = int(np.flatnonzero(y >= 4000)[0])  # the step's midpoint
    assert half - 2 * 480 == pytest.approx(DELAY_HIGH, abs=1) and DELAY_HIGH < 48  # < 1 ms at 48 kHz
    # the downsampler trims its own delay: its output lines up with its input, ~1 ms short
    z = down.process(np.repeat(step, 2))
    assert step.size - z.size == DELAY_HIGH // 2
    mid = int(np.flatnonzero(z >= 4000)[0])
    assert abs(mid - 480) <= 1


def test_the_band_is_flat_and_the_images_are_gone():
    response = 20 * np.log10(np.abs(np.fft.rfft(_H, 1 << 14)) + 1e-12)
    hz = np.fft.rfftfreq(1 << 14, 1 / 48000)
    assert np.max(np.abs(response[hz <= 10000])) < 0.01  # flat through the speech band
    assert np.max(response[hz >= 13300]) < -65  # images of the 24 kHz spectrum suppressed
    assert TAPS % 2 == 1
    # a 3 kHz tone up and back down comes out as itself, bar the ~1 ms delay
    t = np.arange(PCM_RATE)
    x = (np.sin(2 * np.pi * 3000 * t / PCM_RATE) * 10000).astype(np.int16)
    back = Downsampler2x().process(Upsampler2x().process(x))
    late = DELAY_HIGH / 2  # the upsampler's delay at 24 kHz (the downsampler trims its own)
    ideal = np.sin(2 * np.pi * 3000 * (t[: back.size] - late) / PCM_RATE) * 10000
    assert np.max(np.abs(back[200:] - ideal[200:])) < 40  # within -48 dB of the tone


def test_silence_costs_nothing_and_stays_exact():
    up = Upsampler2x()
    assert not up.process(np.zeros(480, np.int16)).any()
    up.process(np.full(480, 5000, np.int16))
    tail = up.process(np.zeros(480, np.int16))
    assert tail[: DELAY_HIGH + 2].any() and not tail[2 * DELAY_HIGH + 2 :].any()


@pytest.mark.parametrize("bad", [np.zeros((2, 480), np.int16), np.zeros(480, np.int32)])
def test_bad_input_is_named(bad):
    with pytest.raises(ValueError, match=r"mono|int16"):
        Upsampler2x().process(bad)
    with pytest.raises(ValueError, match=r"mono|int16"):
        Downsampler2x().process(bad)


def test_float_in_float_out():
    y = Upsampler2x().process(np.full(480, 0.25, np.float32))
    assert y.dtype == np.float32 and y[-100:] == pytest.approx(0.25, abs=1e-3)
