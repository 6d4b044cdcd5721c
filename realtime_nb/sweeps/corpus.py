"""A labelled corpus: recordings with where the speech, the turns and the pauses inside them are.

``Corpus.from_folder(path)`` pairs every ``<stem>.wav`` with ``<stem>.json`` / ``.rttm`` / ``.txt``
(see :mod:`~realtime_nb.sweeps.labels`) and an optional ``<stem>.uem``; a WAV without labels, an
unreadable WAV or labels that do not fit the audio stop the load with a message naming the file.
A ``<stem>.clean.wav`` beside a recording is its clean reference (the same take without the noise),
from which noise reduction's STOI is measured.
``Corpus.builtin()`` is the bundled samples (``realtime_nb.samples``, generated on first use with
the voice extra), whose boundaries are exact by construction. ``Corpus.from_logs`` scores recorded
sessions whose truth you know.

Audio is held as 24 kHz mono int16 (the engine's rate), so sample n is audio-clock ms n / 24.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from realtime_nb.audio import read_wav, resample
from realtime_nb.protocol import PCM_RATE
from realtime_nb.sweeps.intervals import Span, union
from realtime_nb.sweeps.labels import (
    LABEL_SUFFIXES,
    LabelError,
    Labels,
    Turn,
    check_turns,
    read_labels,
    read_uem,
)

BUILTIN_SAMPLES = ("single", "turns", "hesitation", "noisy_10db", "babble_5db")
CLEAN_SUFFIX = ".clean.wav"  # <stem>.clean.wav: the clean reference of <stem>.wav (not a recording)
ONE_TURN_SAMPLES = frozenset({"hesitation"})  # its segments are one sentence with a pause inside


@dataclass(frozen=True, eq=False)
class Recording:
    """One labelled file: 24 kHz int16 ``audio`` and its ``turns`` (ms on the audio clock); ``clean``,
    where known, is the same speech without the noise, sample-aligned (the reference of STOI)."""

    name: str
    audio: np.ndarray = field(repr=False)
    turns: tuple[Turn, ...]
    uem_ms: tuple[Span, ...] | None = None
    source: str | None = None
    clean: np.ndarray | None = field(default=None, repr=False)

    @property
    def duration_ms(self) -> float:
        return self.audio.size * 1000.0 / PCM_RATE

    @property
    def speech_ms(self) -> list[Span]:
        """Where someone speaks: the turns minus their pauses."""
        return union(s for t in self.turns for s in t.speech_ms)

    @property
    def pauses_ms(self) -> list[Span]:
        return union(p for t in self.turns for p in t.pauses_ms)

    @property
    def scored_ms(self) -> list[Span]:
        """The UEM, or the whole file."""
        return union(self.uem_ms) if self.uem_ms else [(0.0, self.duration_ms)]

    @functools.cached_property
    def digest(self) -> str:
        """Identifies the audio (caches of the model pass are keyed by it); computed once."""
        return hashlib.sha1(np.ascontiguousarray(self.audio).tobytes()).hexdigest()[:16]


def _read_audio(wav: Path) -> np.ndarray:
    try:
        audio, rate = read_wav(wav)
    except (ValueError, OSError, EOFError) as exc:
        raise LabelError(wav, None, f"unreadable WAV ({exc})") from None
    if audio.size == 0:
        raise LabelError(wav, None, "the WAV holds no audio")
    return audio if rate == PCM_RATE else resample(audio, rate, PCM_RATE)


def _clean_reference(wav: Path, samples: int) -> np.ndarray | None:
    """``<stem>.clean.wav`` beside ``<stem>.wav``: the same speech without the noise, same length."""
    path = wav.with_name(wav.stem + CLEAN_SUFFIX)
    if not path.is_file():
        return None
    clean = _read_audio(path)
    if abs(clean.size - samples) > PCM_RATE // 100:
        raise LabelError(
            path,
            None,
            f"the clean reference lasts {clean.size / PCM_RATE:.2f} s, its recording "
            f"{samples / PCM_RATE:.2f} s: they must be the same take, sample-aligned",
        )
    return clean


def _label_file(wav: Path) -> Path | None:
    for suffix in LABEL_SUFFIXES:
        candidate = wav.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


class Corpus(Sequence[Recording]):
    """Labelled recordings, checked on load (see the module docstring)."""

    def __init__(self, recordings: Iterable[Recording], name: str = "corpus") -> None:
        self.recordings = tuple(recordings)
        self.name = name
        if not self.recordings:
            raise ValueError(f"{name}: no labelled recordings")
        names = [r.name for r in self.recordings]
        if len(set(names)) != len(names):
            raise ValueError(f"{name}: recording names must be unique, got {names}")

    def __repr__(self) -> str:
        minutes = sum(r.duration_ms for r in self.recordings) / 60000.0
        turns = sum(len(r.turns) for r in self.recordings)
        return f"Corpus({self.name!r}, {len(self)} files, {minutes:.1f} min, {turns} turns)"

    def __len__(self) -> int:
        return len(self.recordings)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            for r in self.recordings:
                if r.name == key:
                    return r
            raise KeyError(f"no recording {key!r} in {self.name}; have {', '.join(self.names)}")
        return self.recordings[key]

    def __iter__(self) -> Iterator[Recording]:
        return iter(self.recordings)

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.recordings]

    @property
    def duration_ms(self) -> float:
        return sum(r.duration_ms for r in self.recordings)

    def subset(self, names: Iterable[str]) -> Corpus:
        return Corpus([self[n] for n in names], self.name)

    # --- sources ----------------------------------------------------------------------------------

    @classmethod
    def from_folder(cls, folder: str | Path) -> Corpus:
        """Every ``*.wav`` in ``folder`` (not recursive) with its labels; see the module docstring."""
        root = Path(folder)
        if not root.is_dir():
            raise FileNotFoundError(f"corpus folder {root} does not exist")
        wavs = sorted(w for w in root.glob("*.wav") if not w.name.endswith(CLEAN_SUFFIX))
        if not wavs:
            raise ValueError(f"{root}: no .wav files")
        recordings = []
        for wav in wavs:
            label_path = _label_file(wav)
            if label_path is None:
                raise LabelError(
                    wav, None, f"no labels (looked for {', '.join(wav.stem + s for s in LABEL_SUFFIXES)})"
                )
            audio = _read_audio(wav)
            labels = read_labels(label_path)
            uem_path = wav.with_suffix(".uem")
            if uem_path.is_file():
                labels = Labels(labels.turns, read_uem(uem_path, wav.stem))
            recording = Recording(
                wav.stem,
                audio,
                tuple(sorted(labels.turns, key=lambda t: t.start_ms)),
                labels.uem_ms,
                str(wav),
                _clean_reference(wav, audio.size),
            )
            check_turns(labels, recording.duration_ms, label_path)
            recordings.append(recording)
        return cls(recordings, root.name)

    @classmethod
    def builtin(cls, names: Sequence[str] = BUILTIN_SAMPLES) -> Corpus:
        """The bundled samples (exact boundaries; ``hesitation`` is one turn with a 700 ms pause)."""
        from realtime_nb import samples

        recordings = []
        for name in names:
            sample = samples.load(name)
            spans = [seg.ms(sample.rate) for seg in sample.segments]
            base = samples.NAMED[name].get("base", name)
            if base in ONE_TURN_SAMPLES:
                pauses = tuple((a[1], b[0]) for a, b in itertools.pairwise(spans))
                turns: tuple[Turn, ...] = (Turn(spans[0][0], spans[-1][1], pauses, "segments"),)
            else:
                turns = tuple(Turn(a, b, (), f"segments[{i}]") for i, (a, b) in enumerate(spans))
            audio = sample.audio if sample.rate == PCM_RATE else resample(sample.audio, sample.rate, PCM_RATE)
            clean = sample.clean
            if clean is not None and sample.rate != PCM_RATE:
                clean = resample(clean, sample.rate, PCM_RATE)
            recordings.append(Recording(name, audio, turns, None, f"realtime_nb.samples:{name}", clean))
        return cls(recordings, "builtin")

    @classmethod
    def from_logs(cls, logs: Mapping[str, Any], labels: Mapping[str, Labels | Sequence[Turn]]) -> Corpus:
        """Recorded sessions (``EventLog``, keyed by name) with their known turns: the audio sent is
        the recording (its sample 0 is the session's first appended sample)."""
        recordings = []
        for name, log in logs.items():
            known = labels[name]
            lab = known if isinstance(known, Labels) else Labels(tuple(known))
            rec = Recording(
                name, np.asarray(log.sent_audio(), dtype=np.int16), lab.turns, lab.uem_ms, "EventLog"
            )
            check_turns(lab, rec.duration_ms, Path(name))
            recordings.append(rec)
        return cls(recordings, "sessions")
