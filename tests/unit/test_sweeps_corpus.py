"""Label files per format, and the corpus refusing bad input with the file and line named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from realtime_nb.audio import write_wav
from realtime_nb.sweeps.corpus import Corpus
from realtime_nb.sweeps.labels import LabelError

RATE = 16000  # a corpus WAV at another rate is resampled to the engine's 24 kHz on load


def _wav(folder: Path, stem: str, seconds: float = 5.0) -> Path:
    t = np.arange(int(RATE * seconds)) / RATE
    return write_wav(folder / f"{stem}.wav", (0.1 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), RATE)


def test_rttm_audacity_json_and_uem(tmp_path: Path) -> None:
    _wav(tmp_path, "a")
    (tmp_path / "a.rttm").write_text(
        ";; a comment\n"
        "SPEAKER a 1 0.50 1.00 <NA> <NA> spk1 <NA> <NA>\n"
        "SPEAKER a 1 2.00 1.50 <NA> <NA> spk1 <NA> <NA>\n"
    )
    (tmp_path / "a.uem").write_text("a 1 0.0 4.5\nother 1 0 1\n")
    _wav(tmp_path, "b")
    (tmp_path / "b.txt").write_text("0.5\t3.0\tplease book\n\\\t100\t4000\n1.2\t1.9\tpause\n")
    _wav(tmp_path, "c")
    (tmp_path / "c.json").write_text(json.dumps({"turns": [{"start_ms": 100, "end_ms": 900}]}))
    corpus = Corpus.from_folder(tmp_path)
    assert corpus.names == ["a", "b", "c"]
    a, b, c = corpus
    assert a.audio.size == 5 * 24000  # resampled to 24 kHz
    assert [(t.start_ms, t.end_ms) for t in a.turns] == [(500, 1500), (2000, 3500)]
    assert a.scored_ms == [(0, 4500)]
    assert len(b.turns) == 1 and b.pauses_ms == [(1200, 1900)]
    assert b.speech_ms == [(500, 1200), (1900, 3000)]
    assert c.scored_ms == [(0, 5000)]


def _error(tmp_path: Path) -> str:
    with pytest.raises(LabelError) as err:
        Corpus.from_folder(tmp_path)
    return str(err.value)


def test_overlapping_turns_name_the_file_and_line(tmp_path: Path) -> None:
    _wav(tmp_path, "x")
    (tmp_path / "x.rttm").write_text(
        "SPEAKER x 1 0.5 1.0 <NA> <NA> a <NA> <NA>\nSPEAKER x 1 1.2 1.0 <NA> <NA> b <NA> <NA>\n"
    )
    message = _error(tmp_path)
    assert "x.rttm:2" in message and "overlaps" in message


def test_labels_beyond_the_audio(tmp_path: Path) -> None:
    _wav(tmp_path, "x", seconds=2.0)
    (tmp_path / "x.txt").write_text("0.5\t1.0\tok\n1.5\t2.6\ttoo long\n")
    message = _error(tmp_path)
    assert "x.txt:2" in message and "beyond the audio" in message and "2000 ms" in message


def test_no_labels_empty_labels_and_bad_numbers(tmp_path: Path) -> None:
    _wav(tmp_path, "x")
    assert "no labels" in _error(tmp_path)
    (tmp_path / "x.json").write_text(json.dumps({"turns": []}))
    assert "no speech is labelled" in _error(tmp_path)
    (tmp_path / "x.json").write_text(json.dumps({"turns": [{"start_ms": 10, "end_ms": "late"}]}))
    assert "turns[0]" in _error(tmp_path)
    (tmp_path / "x.json").unlink()
    (tmp_path / "x.txt").write_text("0.5\tabc\tword\n")
    message = _error(tmp_path)
    assert "x.txt:1" in message and "'abc'" in message


def test_pause_outside_a_turn_and_broken_json(tmp_path: Path) -> None:
    _wav(tmp_path, "x")
    (tmp_path / "x.txt").write_text("0.5\t1.0\tword\n2.0\t2.5\tpause\n")
    assert "x.txt:2" in _error(tmp_path)
    (tmp_path / "x.txt").unlink()
    (tmp_path / "x.json").write_text('{"turns": [\n{"start_ms": 1,\n')
    assert "not valid JSON" in _error(tmp_path)


def test_unreadable_wav(tmp_path: Path) -> None:
    (tmp_path / "x.wav").write_bytes(b"RIFF\x00\x00not really a wave file")
    (tmp_path / "x.json").write_text(json.dumps({"turns": [{"start_ms": 1, "end_ms": 2}]}))
    message = _error(tmp_path)
    assert "x.wav" in message and "unreadable WAV" in message


def test_folder_without_wavs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no \.wav files"):
        Corpus.from_folder(tmp_path)
