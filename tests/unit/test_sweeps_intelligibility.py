"""STOI (realtime_nb.sweeps.intelligibility) on cases with known answers, and as a sweep column."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from realtime_nb import samples
from realtime_nb.protocol import PCM_RATE
from realtime_nb.sweeps import Corpus
from realtime_nb.sweeps.corpus import Recording
from realtime_nb.sweeps.intelligibility import SEGMENT, band_matrix, stoi
from realtime_nb.sweeps.metrics import intelligibility


@pytest.fixture(scope="module")
def speech() -> samples.Sample:
    return samples.load("turns")


def test_a_signal_against_itself_scores_one(speech) -> None:
    assert stoi(speech.audio, speech.audio, PCM_RATE) == pytest.approx(1.0, abs=1e-9)


def test_a_louder_copy_scores_one_too(speech) -> None:
    # STOI normalises each 384 ms run's energy: a gain is not a loss of intelligibility
    louder = np.clip(speech.audio.astype(np.int32) * 2, -32768, 32767).astype(np.int16)
    quieter = (speech.audio // 4).astype(np.int16)
    assert stoi(speech.audio, quieter, PCM_RATE) > 0.99
    assert stoi(speech.audio, louder, PCM_RATE) > 0.97  # a few clipped peaks


def test_noise_lowers_it_and_it_rises_with_the_snr(speech) -> None:
    scores = [
        stoi(speech.audio, samples.add_noise(speech, snr, "pink", seed=3).audio, PCM_RATE)
        for snr in (-10, -5, 0, 5, 10, 20)
    ]
    assert all(a < b for a, b in itertools.pairwise(scores)), scores
    assert scores[-1] < 1.0 and scores[0] < 0.7


def test_unrelated_noise_scores_under_the_noisiest_mix(speech) -> None:
    # not 0: the clipping step bends the noise's envelope towards the reference's where the noise is
    # far louder, so some correlation is built in; but no speech at all scores under speech at -10 dB
    noise = samples.make_noise("pink", speech.audio.size, seed=5)
    noise = (noise / np.abs(noise).max() * 8000).astype(np.int16)
    worst_mix = samples.add_noise(speech, -10, "pink", seed=3).audio
    assert stoi(speech.audio, noise, PCM_RATE) < stoi(speech.audio, worst_mix, PCM_RATE) - 0.1


def test_too_short_to_score_is_nan(speech) -> None:
    short = speech.audio[: PCM_RATE // 10]  # 100 ms: fewer than 30 frames of 12.8 ms
    assert math.isnan(stoi(short, short, PCM_RATE))
    assert SEGMENT == 30


def test_the_bands_are_fifteen_third_octaves_from_150_hz() -> None:
    bands = band_matrix()
    assert bands.shape == (15, 257)
    firsts = [int(np.flatnonzero(row)[0]) for row in bands]
    assert firsts == sorted(firsts) and all(row.sum() >= 1 for row in bands)
    hz = 10_000 / 512
    assert firsts[0] * hz == pytest.approx(150 * 2 ** (-1 / 6), abs=hz)  # the lowest band's lower edge


def test_a_recording_with_its_clean_reference_gets_stoi_columns() -> None:
    corpus = Corpus.builtin(["noisy_10db", "babble_5db", "single"])
    noisy = corpus["babble_5db"]
    assert noisy.clean is not None and noisy.clean.size == noisy.audio.size
    got = intelligibility(noisy, noisy.audio)  # "processed" = unchanged input
    assert got["stoi_processed"] == pytest.approx(got["stoi_input"]) and got["stoi_change"] == pytest.approx(
        0
    )
    assert 0.5 < got["stoi_input"] < 0.95
    assert intelligibility(corpus["single"], corpus["single"].audio)["stoi_input"] == pytest.approx(1.0)
    bare = Recording("bare", noisy.audio, noisy.turns)
    assert all(math.isnan(v) for v in intelligibility(bare, noisy.audio).values())


def test_a_folder_corpus_names_its_clean_reference(tmp_path) -> None:
    from realtime_nb.audio import write_wav
    from realtime_nb.sweeps.labels import LabelError

    sample = samples.add_noise(samples.load("single"), 0.0, "pink", seed=7)
    write_wav(tmp_path / "take.wav", sample.audio, PCM_RATE)
    write_wav(tmp_path / "take.clean.wav", sample.clean, PCM_RATE)
    a, b = sample.segments[0].ms(PCM_RATE)
    (tmp_path / "take.rttm").write_text(
        f"SPEAKER take 1 {a / 1000:.3f} {(b - a) / 1000:.3f} <NA> <NA> S <NA> <NA>\n"
    )
    corpus = Corpus.from_folder(tmp_path)
    assert corpus.names == ["take"]  # the reference is not a recording of its own
    assert np.array_equal(corpus["take"].clean, sample.clean)
    write_wav(tmp_path / "take.clean.wav", sample.clean[:PCM_RATE], PCM_RATE)
    with pytest.raises(LabelError, match="clean reference"):
        Corpus.from_folder(tmp_path)


def test_a_trace_sweep_reports_what_noise_reduction_did_to_intelligibility() -> None:
    from realtime_nb.sweeps import summarize, sweep

    corpus = Corpus.builtin(["babble_5db"])
    grid = {"threshold": [0.5], "silence_duration_ms": [500], "noise_reduction": [None, "near_field"]}
    rows = sweep(corpus, grid, executor="serial", progress=False)
    off = rows[rows["noise_reduction"].isna()].iloc[0]
    on = rows[rows["noise_reduction"] == "near_field"].iloc[0]
    assert off["stoi_processed"] == pytest.approx(off["stoi_input"])  # no processing, no change
    assert on["stoi_input"] == pytest.approx(off["stoi_input"])
    assert on["stoi_change"] != 0 and 0 < on["stoi_processed"] < 1
    table = summarize(rows)
    assert table["stoi_change"].notna().all()
