"""Detected turns held against where the speech really is (a sample's known segments).

`score_turns` matches each turn of `EventLog.turns()` to the true speech span it overlaps most;
`vad_summary` condenses that into one row per setting, for comparing turn-detection settings replayed
over the same recording. Both read the turns table only (audio-clock columns), never a live session.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from realtime_nb.timeline.log import EventLog

__all__ = ["SCORE_COLUMNS", "HasSegments", "Spans", "score_turns", "true_spans", "vad_summary"]

Spans = Sequence[tuple[float, float]]


class HasSegments(Protocol):
    """A `realtime_nb.samples.Sample` (only what the scoring needs)."""

    rate: int

    @property
    def segments(self) -> Sequence[Any]: ...


def true_spans(truth: HasSegments | Spans) -> list[tuple[float, float]]:
    """(start_ms, end_ms) spans from a Sample (its segments) or from a sequence of spans."""
    segments = getattr(truth, "segments", None)
    if segments is not None:
        rate = truth.rate  # type: ignore[union-attr]
        return [tuple(float(v) for v in s.ms(rate)) for s in segments]  # type: ignore[misc]
    spans = [(float(a), float(b)) for a, b in truth]  # type: ignore[union-attr]
    if any(not (math.isfinite(a) and math.isfinite(b) and a <= b) for a, b in spans):
        raise ValueError(f"true spans must be finite (start_ms, end_ms) with start <= end, got {spans}")
    return spans


SCORE_COLUMNS = (
    "item_id", "audio_start_ms", "audio_end_ms", "segment", "true_start_ms", "true_end_ms",
    "end_delay_ms", "early",
)  # fmt: skip


def score_turns(turns: pd.DataFrame, truth: HasSegments | Spans) -> pd.DataFrame:
    """The detected turns of `turns` (`EventLog.turns()`) held against where the speech really is.

    `truth` is a Sample (its speech segments) or (start_ms, end_ms) spans on the same audio clock.
    Each turn with an audio-clock span is matched to the true span it overlaps most (``segment``,
    1-based; <NA> for a turn over no speech: a false start). ``end_delay_ms`` = ``audio_end_ms`` -
    ``true_end_ms``: how long after the speaker really stopped the server ended the turn (it includes
    the silence window). ``early`` marks a turn that ended before its speech did: the server cut in.
    """
    spans = true_spans(truth)
    rows: list[dict[str, Any]] = []
    usable = turns.dropna(subset=["audio_start_ms", "audio_end_ms"])
    for item_id, start, end in zip(usable["item_id"], usable["audio_start_ms"], usable["audio_end_ms"],
                                   strict=True):  # fmt: skip
        start, end = float(start), float(end)
        overlaps = [min(end, b) - max(start, a) for a, b in spans]
        best = int(np.argmax(overlaps)) if overlaps and max(overlaps) > 0 else None
        row: dict[str, Any] = {"item_id": item_id, "audio_start_ms": start, "audio_end_ms": end}
        if best is None:
            row.update(segment=pd.NA, true_start_ms=math.nan, true_end_ms=math.nan,
                       end_delay_ms=math.nan, early=False)  # fmt: skip
        else:
            a, b = spans[best]
            row.update(segment=best + 1, true_start_ms=a, true_end_ms=b, end_delay_ms=end - b, early=end < b)
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(SCORE_COLUMNS))
    table["segment"] = table["segment"].astype("Int64")
    table["early"] = table["early"].astype(bool)
    return table


def vad_summary(logs: Mapping[str, EventLog], truth: HasSegments | Spans) -> pd.DataFrame:
    """One row per setting: how its turns compare with the true speech (see `score_turns`).

    Columns: ``true`` (spans of speech), ``turns`` (detected), ``cut_in`` (turns that ended before
    their speech did), ``false_starts`` (turns over no speech), ``missed`` (true spans no turn
    touched), ``end_delay_ms`` (median, over the spans that were found, of how long after the real
    end of speech their last turn ended).
    """
    spans = true_spans(truth)
    rows = {}
    for name, log in logs.items():
        scored = score_turns(log.turns(), spans)
        found = scored.dropna(subset=["segment"])
        last = found.groupby("segment")["end_delay_ms"].last()
        rows[name] = {
            "true": len(spans),
            "turns": len(scored),
            "cut_in": int(scored["early"].sum()),
            "false_starts": int(scored["segment"].isna().sum()),
            "missed": len(spans) - found["segment"].nunique(),
            "end_delay_ms": float(last.median()) if len(last) else math.nan,
        }
    return pd.DataFrame.from_dict(rows, orient="index")
