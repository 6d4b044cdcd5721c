"""Speech starts dated where the speech begins, on real audio with known boundaries (real models).

Clean speech: the bundled samples, and utterances placed at several offsets from the VAD's 32 ms
grid, bare and over a quiet room floor. Noisy speech: the same turns as the VAD's own start rule
(``date_onset=False``, the rule before), so no new false starts. Offsets stay where they were.
The bounds are generous; ``benchmarks/bench_onset.py`` quotes the figures.
"""

from __future__ import annotations

import numpy as np
import pytest

from realtime_nb import samples
from realtime_nb.engine.input_path import InputPath, SpeechStart, SpeechStop
from realtime_nb.engine.input_pipeline import PcmBuffer
from realtime_nb.engine.models import Models
from realtime_nb.protocol import ServerVad, SessionConfig

RATE = 24000
CHUNK = RATE * 20 // 1000
VAD = ServerVad(create_response=False)  # threshold 0.5, prefix 300 ms, silence 500 ms


@pytest.fixture(scope="module")
def models() -> Models:
    return Models.shared()


class VadDatedPath(InputPath):
    """The input path with the start rule before: the first VAD frame over the threshold."""

    def _detector_for(self, td):
        detector = super()._detector_for(td)
        if detector is not None:
            detector.date_onset = False
        return detector


def _run(models, sample: samples.Sample, cls: type[InputPath] = InputPath):
    path = cls.for_config(models, SessionConfig(turn_detection=VAD))
    try:
        audio = sample.audio
        decisions = [d for lo in range(0, audio.size, CHUNK) for d in path.feed(audio[lo : lo + CHUNK])]
    finally:
        path.close()
    starts = [d for d in decisions if isinstance(d, SpeechStart)]
    stops = [d for d in decisions if isinstance(d, SpeechStop)]
    return starts, stops


def _onset_errors(sample: samples.Sample, starts: list[SpeechStart]) -> list[float]:
    """Dated start minus true start, per true segment (one start per segment is asserted)."""
    assert len(starts) == len(sample.segments), [s.detected_ms for s in starts]
    return [s.detected_ms - seg.ms()[0] for s, seg in zip(starts, sample.segments, strict=True)]


@pytest.fixture(scope="module")
def clean() -> list[samples.Sample]:
    """Clean speech with known starts: bundled, and four sentences whose starts fall 0, 8, 16 and
    24 ms past the VAD's window grid; the latter again over a pink floor 40 dB under the speech."""
    placed = samples.with_pauses(
        [samples.TURNS[0], "So, what time does the train leave?", "Please stop.", "Where is the station?"],
        [1508.0, 1508.0, 1508.0],
        lead_ms=512.0,
    )
    offsets = [(seg.start / 24 - 512) % 32 for seg in placed.segments]
    assert len(set(np.round(offsets))) == 4  # the starts land at four phases of the grid
    floor = samples.add_noise(placed, 40.0, "pink", seed=3)
    return [samples.load("single"), samples.load("turns"), samples.load("hesitation"), placed, floor]


@pytest.fixture(scope="module")
def dated(models, clean):
    return [(sample, _run(models, sample), _run(models, sample, VadDatedPath)) for sample in clean]


def test_clean_speech_starts_are_dated_where_the_speech_begins(dated):
    errors = [e for sample, (starts, _), _ in dated for e in _onset_errors(sample, starts)]
    assert len(errors) >= 12
    assert float(np.median(np.abs(errors))) < 30.0 and max(np.abs(errors)) < 120.0, errors


def test_the_dated_start_is_nearer_the_truth_than_the_vad_window(dated):
    new = [abs(e) for sample, (starts, _), _ in dated for e in _onset_errors(sample, starts)]
    old = [abs(e) for sample, _, (starts, _) in dated for e in _onset_errors(sample, starts)]
    assert np.median(new) < np.median(old) - 5.0, (np.median(new), np.median(old))


def test_audio_start_ms_is_the_dated_start_less_the_prefix_padding(dated):
    for _, (starts, stops), _ in dated:
        first, *later = starts
        assert first.audio_start_ms == first.detected_ms - VAD.prefix_padding_ms  # 500 ms of lead: no clamp
        for start in later:  # clamped to the buffer's start where the previous turn's audio left it
            assert start.detected_ms - VAD.prefix_padding_ms <= start.audio_start_ms <= start.detected_ms
        assert [s.audio_start_ms for s in stops] == [s.audio_start_ms for s in starts]


def test_offsets_do_not_move(dated):
    for _, (_, stops), (_, before) in dated:
        assert len(stops) == len(before)
        for new, old in zip(stops, before, strict=True):
            assert abs(new.audio_end_ms - old.audio_end_ms) <= 32.0


@pytest.mark.parametrize("name", ["noisy_10db", "noisy_0db", "babble_5db"])
def test_noise_gets_no_new_false_starts_and_no_later_starts(models, name):
    sample = samples.load(name)
    (starts, stops), (before, stops_before) = _run(models, sample), _run(models, sample, VadDatedPath)
    assert len(starts) == len(before) == len(sample.segments)
    for new, old in zip(starts, before, strict=True):
        assert old.detected_ms - 128.0 <= new.detected_ms <= old.detected_ms
    assert [round(s.audio_end_ms) for s in stops] == [round(s.audio_end_ms) for s in stops_before]


def test_pcm_buffer_slices_like_an_array():
    rng = np.random.default_rng(7)
    buf, ref, ref_start = PcmBuffer(), np.zeros(0, np.int16), 0
    for _ in range(300):
        chunk = rng.integers(-30000, 30000, int(rng.integers(0, 700)), dtype=np.int16)
        buf.append(chunk)
        ref = np.concatenate([ref, chunk])
        if rng.random() < 0.2:
            n = int(rng.integers(ref_start, ref.size + 1))
            buf.drop_before(n)
            ref_start = max(ref_start, n)
        a = int(rng.integers(0, ref.size + 50))
        b = int(rng.integers(a, ref.size + 100))
        assert (buf.start, buf.end) == (ref_start, ref.size)
        assert np.array_equal(buf.slice(a, b), ref[max(a, ref_start) : min(b, ref.size)])


def test_the_same_audio_gets_the_same_vad_frames_in_two_paths_at_once(models):
    # Two paths alive at the same time (as a live session and its offline replay): before streams
    # resampled int16 without libsoxr's clock-seeded dither, their 16 kHz audio differed by 1-2 LSB.
    audio = samples.load("noisy_0db").audio[: RATE * 3]
    paths = [InputPath(models, record_vad=True) for _ in range(2)]
    try:
        for lo in range(0, audio.size, CHUNK):
            for path in paths:
                path.feed(audio[lo : lo + CHUNK])
        first, second = (path.vad_frames for path in paths)
    finally:
        for path in paths:
            path.close()
    assert first is not None and len(first) > 80
    assert first == second
