"""Where the speech really is: label files in the formats people have, read and checked.

Every format becomes a list of :class:`Turn` (a user turn, with the pauses inside it) on the
audio clock in milliseconds:

RTTM (``<stem>.rttm``)
    ``SPEAKER <file> <chan> <onset s> <duration s> ...``: each line is one turn; other line types and
    ``;;`` comments are skipped. One speaker talking to the system is the use case: overlapping
    lines are an error.
Audacity label track (``<stem>.txt``, File > Export > Labels)
    ``<start s>\\t<end s>\\t<text>``: each label is a turn, except labels named ``pause`` (or
    ``hold``), which mark a pause inside the turn around them. Lines starting with ``\\`` (a label's
    frequency range) are skipped.
JSON of our own (``<stem>.json``)
    ``{"turns": [{"start_ms": 500, "end_ms": 3200, "pauses_ms": [[1400, 2100]]}], "uem_ms": [[0, 5000]]}``;
    ``pauses_ms`` and ``uem_ms`` are optional. A file written by ``realtime_nb.samples.Sample.save``
    (``rate`` + ``segments`` in samples) is read too, one turn per segment.
UEM (``<stem>.uem``, optional)
    ``<file> <chan> <start s> <end s>``: the scored region; without one the whole file is scored.

Everything is checked on load (:func:`check_turns`): no labels, a span that ends before it starts,
a span beyond the audio, overlapping turns, a pause outside its turn. The error names the file and
the line (or, in JSON, the entry), so a corpus of hundreds of files can be fixed from the message.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

from realtime_nb.sweeps.intervals import Span, subtract, union

LABEL_SUFFIXES = (".json", ".rttm", ".txt")
PAUSE_NAMES = frozenset({"pause", "hold"})
BEYOND_AUDIO_TOLERANCE_MS = 10.0  # labels rounded to the centisecond may end a hair after the audio


class LabelError(ValueError):
    """A label file that cannot be used; ``str()`` names the file and the line or entry."""

    def __init__(self, path: Path | str, where: int | str | None, problem: str) -> None:
        self.path, self.where, self.problem = Path(path), where, problem
        place = (
            f"{self.path}"
            if where is None
            else f"{self.path}:{where}"
            if isinstance(where, int)
            else f"{self.path} ({where})"
        )
        super().__init__(f"{place}: {problem}")


@dataclass(frozen=True)
class Turn:
    """One user turn: ``start_ms`` to ``end_ms``, with the pauses inside it (hold points)."""

    start_ms: float
    end_ms: float
    pauses_ms: tuple[Span, ...] = ()
    where: int | str | None = None  # line or entry it came from, for error messages

    @property
    def speech_ms(self) -> list[Span]:
        """The turn minus its pauses."""
        return subtract([(self.start_ms, self.end_ms)], union(self.pauses_ms))


@dataclass(frozen=True)
class Labels:
    turns: tuple[Turn, ...]
    uem_ms: tuple[Span, ...] | None = None


def _seconds(text: str, path: Path, line: int, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise LabelError(path, line, f"{what} {text!r} is not a number of seconds") from None
    if not math.isfinite(value):
        raise LabelError(path, line, f"{what} {text!r} is not a finite number of seconds")
    return value * 1000.0


def read_rttm(path: Path) -> Labels:
    turns = []
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        fields = raw.split()
        if not fields or fields[0].startswith(";;") or fields[0] != "SPEAKER":
            continue
        if len(fields) < 5:
            raise LabelError(
                path, n, "an RTTM SPEAKER line needs at least 5 fields (onset, duration 4th/5th)"
            )
        onset = _seconds(fields[3], path, n, "onset")
        duration = _seconds(fields[4], path, n, "duration")
        turns.append(Turn(onset, onset + duration, (), n))
    return Labels(tuple(turns))


def read_audacity(path: Path) -> Labels:
    spans: list[tuple[float, float, str, int]] = []
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        if not raw.strip() or raw.startswith("\\"):
            continue
        fields = raw.split("\t")
        if len(fields) < 2:
            raise LabelError(path, n, "an Audacity label line is <start>\\t<end>[\\t<text>]")
        start = _seconds(fields[0], path, n, "start")
        end = _seconds(fields[1], path, n, "end")
        spans.append((start, end, (fields[2] if len(fields) > 2 else "").strip().lower(), n))
    pauses = [(a, b, n) for a, b, text, n in spans if text in PAUSE_NAMES]
    turns = []
    for a, b, text, n in spans:
        if text in PAUSE_NAMES:
            continue
        inside = tuple((pa, pb) for pa, pb, _ in pauses if pa < b and pb > a)
        turns.append(Turn(a, b, inside, n))
    for pa, pb, n in pauses:
        if not any(t.start_ms <= pa and pb <= t.end_ms for t in turns):
            raise LabelError(path, n, f"pause {pa / 1000:g}-{pb / 1000:g} s is not inside a turn label")
    return Labels(tuple(turns))


def _pair(value: object, path: Path, where: str) -> Span:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    ):
        raise LabelError(path, where, f"expected [start_ms, end_ms], got {value!r}")
    return float(value[0]), float(value[1])


def read_json(path: Path) -> Labels:
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        raise LabelError(path, line, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise LabelError(path, None, "expected an object with a 'turns' list")
    if "segments" in data and "turns" not in data:  # realtime_nb.samples' own format, in samples
        rate = data.get("rate")
        if not isinstance(rate, int) or rate <= 0:
            raise LabelError(
                path, "rate", f"'segments' in samples need a positive integer 'rate', got {rate!r}"
            )
        turns = []
        for i, seg in enumerate(data["segments"]):
            s = _pair(
                [seg.get("start"), seg.get("end")] if isinstance(seg, dict) else seg, path, f"segments[{i}]"
            )
            turns.append(Turn(s[0] * 1000.0 / rate, s[1] * 1000.0 / rate, (), f"segments[{i}]"))
        return Labels(tuple(turns))
    raw_turns = data.get("turns")
    if not isinstance(raw_turns, list):
        raise LabelError(path, "turns", "expected a 'turns' list of {start_ms, end_ms, pauses_ms}")
    turns = []
    for i, t in enumerate(raw_turns):
        where = f"turns[{i}]"
        if not isinstance(t, dict):
            raise LabelError(path, where, f"expected an object, got {t!r}")
        start, end = _pair([t.get("start_ms"), t.get("end_ms")], path, where)
        pauses = tuple(
            _pair(p, path, f"{where}.pauses_ms[{j}]") for j, p in enumerate(t.get("pauses_ms", []))
        )
        turns.append(Turn(start, end, pauses, where))
    uem = data.get("uem_ms")
    uem_spans = None if uem is None else tuple(_pair(u, path, f"uem_ms[{k}]") for k, u in enumerate(uem))
    return Labels(tuple(turns), uem_spans)


def read_uem(path: Path, uri: str) -> tuple[Span, ...]:
    """The scored spans of ``uri`` in a UEM file (a file may hold several recordings)."""
    spans = []
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        fields = raw.split()
        if not fields or fields[0].startswith(";;"):
            continue
        if len(fields) < 4:
            raise LabelError(path, n, "a UEM line is <file> <channel> <start s> <end s>")
        if fields[0] != uri:
            continue
        a, b = _seconds(fields[2], path, n, "start"), _seconds(fields[3], path, n, "end")
        if b <= a:
            raise LabelError(
                path, n, f"the scored region ends ({b / 1000:g} s) before it starts ({a / 1000:g} s)"
            )
        spans.append((a, b))
    if not spans:
        raise LabelError(path, None, f"no line for {uri!r}")
    return tuple(spans)


READERS = {".json": read_json, ".rttm": read_rttm, ".txt": read_audacity}


def read_labels(path: Path) -> Labels:
    """The labels in ``path`` by its suffix (see the module docstring)."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise LabelError(path, None, f"unknown label format; expected one of {', '.join(LABEL_SUFFIXES)}")
    try:
        return reader(path)
    except UnicodeDecodeError:
        raise LabelError(path, None, "not a text file") from None


def check_turns(labels: Labels, duration_ms: float, path: Path) -> None:
    """Refuse labels a sweep could not score honestly (see the module docstring)."""
    if not labels.turns:
        raise LabelError(path, None, "no speech is labelled")
    limit = duration_ms + BEYOND_AUDIO_TOLERANCE_MS
    ordered = sorted(labels.turns, key=lambda t: t.start_ms)
    for t in ordered:
        if t.start_ms < 0 or t.end_ms <= t.start_ms:
            raise LabelError(path, t.where, f"span {t.start_ms:g}-{t.end_ms:g} ms is empty or negative")
        if t.end_ms > limit:
            raise LabelError(
                path, t.where, f"span ends at {t.end_ms:g} ms, beyond the audio ({duration_ms:g} ms long)"
            )
        for a, b in t.pauses_ms:
            if not t.start_ms < a < b < t.end_ms:
                raise LabelError(path, t.where, f"pause {a:g}-{b:g} ms is not strictly inside its turn")
    for prev, nxt in itertools.pairwise(ordered):
        if nxt.start_ms < prev.end_ms:
            raise LabelError(
                path, nxt.where, f"turn {nxt.start_ms:g}-{nxt.end_ms:g} ms overlaps the turn at {prev.where}"
            )
    for a, b in labels.uem_ms or ():
        if a < 0 or b <= a or b > limit:
            raise LabelError(path, "uem", f"scored region {a:g}-{b:g} ms is empty or beyond the audio")
