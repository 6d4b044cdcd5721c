import json

import numpy as np
import pytest

from realtime_nb import samples
from realtime_nb.audio import read_wav


def test_utterance_has_exact_boundaries_with_silence_around():
    s = samples.utterance("Good morning.", lead_ms=250, tail_ms=400)
    (seg,) = s.segments
    assert s.rate == 24000 and s.audio.dtype == np.int16
    assert seg.start == 6000 and s.audio.size - seg.end == 9600
    assert not s.audio[: seg.start].any() and not s.audio[seg.end :].any()
    # the energy rule: the first and last 10 ms inside the segment are within 40 dB of the peak frame
    start, end = samples.trim_bounds(s.audio[seg.start : seg.end])
    assert (start, end) == (0, seg.end - seg.start)


def test_with_pauses_places_each_utterance():
    s = samples.with_pauses(["One.", "Two.", "Three."], [700, 1200], lead_ms=100, tail_ms=100)
    a, b, c = s.segments
    assert b.start - a.end == 700 * 24 and c.start - b.end == 1200 * 24
    assert [x.text for x in s.segments] == ["One.", "Two.", "Three."]
    assert s.speech_mask().sum() == sum(x.end - x.start for x in s.segments)


def test_synthesis_is_reproducible():
    a = samples.utterance("Reproducible speech.")
    b = samples.utterance("Reproducible speech.")
    assert np.array_equal(a.audio, b.audio) and a.segments == b.segments


@pytest.mark.parametrize("kind", samples.NOISE_KINDS)
@pytest.mark.parametrize("snr_db", [0.0, 10.0])
def test_add_noise_hits_the_requested_snr(kind, snr_db):
    base = samples.load("single")
    noisy = samples.add_noise(base, snr_db, kind, seed=4)
    mask = noisy.speech_mask()
    noise = noisy.audio.astype(np.float64) - noisy.clean
    speech_power = np.mean(noisy.clean[mask].astype(np.float64) ** 2)
    measured = 10 * np.log10(speech_power / np.mean(noise**2))
    assert measured == pytest.approx(snr_db, abs=0.1)
    again = samples.add_noise(base, snr_db, kind, seed=4)
    assert np.array_equal(again.audio, noisy.audio)
    assert not np.array_equal(samples.add_noise(base, snr_db, kind, seed=5).audio, noisy.audio)


def test_pink_noise_falls_3db_per_octave():
    x = samples.make_noise("pink", 2**18, seed=1)
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / 24000)
    band = lambda lo: power[(freqs >= lo) & (freqs < 2 * lo)].mean()  # noqa: E731
    assert 10 * np.log10(band(500) / band(1000)) == pytest.approx(3.0, abs=0.5)


def test_named_samples_are_cached_with_their_boundaries(tmp_path, monkeypatch):
    path = samples.ensure("hesitation")
    meta = json.loads(path.with_suffix(".json").read_text())
    audio, rate = read_wav(path)
    assert rate == 24000 and meta["samples"] == audio.size
    first, second = meta["segments"]
    assert second["start"] - first["end"] == 700 * 24
    loaded = samples.load("hesitation")
    assert np.array_equal(loaded.audio, audio)
    mtime = path.stat().st_mtime_ns
    assert samples.ensure("hesitation") == path and path.stat().st_mtime_ns == mtime  # not rebuilt
    monkeypatch.setenv("REALTIME_NB_SAMPLES", str(tmp_path))
    assert samples.cache_dir() == tmp_path


def test_noisy_named_sample_keeps_its_clean_speech():
    noisy, turns = samples.load("noisy_10db"), samples.load("turns")
    assert noisy.segments == turns.segments and noisy.noise["snr_db"] == 10.0
    corr = np.corrcoef(noisy.clean.astype(np.float64), turns.audio.astype(np.float64))[0, 1]
    assert corr > 0.9999


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: samples.with_pauses([]), "non-empty"),
        (lambda: samples.with_pauses(["a.", "b."], [100, 200]), "need 1 pauses"),
        (lambda: samples.utterance("Hi.", lead_ms=-5), ">= 0"),
        (lambda: samples.ensure("nope"), "unknown sample"),
        (lambda: samples.make_noise("brown", 100), "unknown noise kind"),
        (lambda: samples.trim_bounds(np.zeros(2400, np.int16)), "silent"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
