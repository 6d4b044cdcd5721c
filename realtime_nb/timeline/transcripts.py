"""The transcripts table: one row per committed input item and what its transcription did.

`transcripts()` columns (one row per user turn, in the order of `turns()`):

=============================  =======  ==============================================================
column                         dtype    meaning
=============================  =======  ==============================================================
item_id, kind                  object   the committed item and how its turn ended (as in `turns()`)
audio_start_ms, audio_end_ms   Int64    the item's span on the audio clock (VAD start / stop, or the
                                        buffer's span for a manual commit)
t_end                          float64  the turn's end on the log's clock: speech_stopped, the
                                        client's commit, timeout_triggered (else the commit notice)
t_speech_end                   float64  when the audio at (audio_end_ms - silence_duration_ms) was
                                        sent: the true end of speech on the wall clock (VAD turns)
t_committed                    float64  input_audio_buffer.committed
t_first_delta, t_done          float64  the first ``...input_audio_transcription.delta``, and the
                                        ``.completed`` / ``.failed`` that ended it
first_delta_ms, done_ms        float64  the headlines: t_end -> first delta, t_end -> done
speech_end_to_done_ms          float64  t_speech_end -> done: what a captions reader waits after the
                                        speaker stops (the silence window plus the transcription)
status                         object   ``completed``, ``failed``, or ``pending`` (nothing yet;
                                        None when no transcription was seen at all)
text                           object   the completed transcript (else the deltas so far)
n_deltas                       Int64    deltas received
mean_logprob                   float64  mean of the completed event's logprobs (when the session
                                        asked for them with ``include``), else NaN
error                          object   the failure's message
=============================  =======  ==============================================================

`word_error_rate(reference, hypothesis)` scores a transcript against known words (the bundled
samples' texts): word-level edit distance over the reference's word count, after lowercasing and
dropping punctuation, so "Thank you, that" and "Thank you. That" count as the same words.

Times are wall-clock, so they include the network and the transcriber's queue: on the local engine,
Whisper runs after the turn ends, so ``first_delta_ms`` is mostly the model's decoding time. The
wall clock is the one that matters for captions: how long a reader waits after speech stops.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from realtime_nb.timeline.analysis import LogView, _table, item_span, turns
from realtime_nb.timeline.recorder import Recorder

_PREFIX = "conversation.item.input_audio_transcription."
TRANSCRIPT_COLUMNS: tuple[str, ...] = (
    "item_id", "kind", "audio_start_ms", "audio_end_ms", "t_end", "t_speech_end", "t_committed",
    "t_first_delta", "t_done", "first_delta_ms", "done_ms", "speech_end_to_done_ms", "status", "text",
    "n_deltas", "mean_logprob", "error",
)  # fmt: skip
_FLOATS = (
    "t_end", "t_speech_end", "t_committed", "t_first_delta", "t_done", "first_delta_ms", "done_ms",
    "speech_end_to_done_ms", "mean_logprob",
)  # fmt: skip
_NAN = float("nan")
_NOT_A_WORD = re.compile(r"[^\w']+")


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / words of `reference`, on lowercased words with
    punctuation dropped; 0.0 for two empty texts, and inf for words against an empty reference."""
    ref, hyp = (_NOT_A_WORD.sub(" ", text.lower()).split() for text in (reference, hypothesis))
    if not ref:
        return 0.0 if not hyp else math.inf
    row = list(range(len(hyp) + 1))  # edit distances to hyp[:j] of the reference words so far
    for i, word in enumerate(ref, 1):
        diagonal, row[0] = row[0], i
        for j, heard in enumerate(hyp, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (word != heard))
    return row[-1] / len(ref)


def _events_by_item(view: LogView) -> dict[str, list[tuple[int, str]]]:
    cols = view.cols
    found: dict[str, list[tuple[int, str]]] = {}
    for kind in ("delta", "completed", "failed"):
        for s in cols.seqs_of(_PREFIX + kind):
            item_id = cols.id_at("item_id", int(s))
            if item_id is not None:
                found.setdefault(item_id, []).append((int(s), kind))
    for rows in found.values():
        rows.sort()
    return found


def _mean_logprob(payload: dict[str, Any]) -> float:
    entries = payload.get("logprobs")
    if not isinstance(entries, list):
        return _NAN
    values = [e.get("logprob") for e in entries if isinstance(e, dict)]
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return sum(numbers) / len(numbers) if numbers else _NAN


def _ms(start: float, stop: float) -> float:
    return _NAN if math.isnan(start) or math.isnan(stop) else (stop - start) * 1000


def transcripts(rec: Recorder) -> pd.DataFrame:
    """One row per committed input item; see the module docstring for the columns."""
    view = LogView(rec)
    cols = view.cols
    by_item = _events_by_item(view)
    rows = []
    for turn in turns(rec).to_dict("records"):
        item_id = turn["item_id"]
        row: dict[str, Any] = dict.fromkeys(TRANSCRIPT_COLUMNS)
        row.update(item_id=item_id, kind=turn["kind"], n_deltas=0)
        span = item_span(rec, item_id)
        if span is not None:
            row["audio_start_ms"], row["audio_end_ms"] = round(span[0]), round(span[1])
        t_committed = turn["t_committed"]
        row["t_committed"] = t_committed
        row["t_end"] = turn["t_end"] if not math.isnan(turn["t_end"]) else t_committed
        row["t_speech_end"] = turn["t_speech_end"]
        deltas: list[str] = []
        for seq, kind in by_item.get(item_id, []):
            if row["status"] in ("completed", "failed"):
                break  # anything after the end is the order checker's business
            if kind == "delta":
                deltas.append(cols.id_at("text", seq) or "")
                if row["t_first_delta"] is None:
                    row["t_first_delta"] = view.t(seq)
                continue
            row["t_done"] = view.t(seq)
            row["status"] = kind
            payload = view.payload(seq)
            if kind == "completed":
                row["text"] = cols.id_at("text", seq)
                row["mean_logprob"] = _mean_logprob(payload)
            else:
                error = payload.get("error")
                row["error"] = error.get("message") if isinstance(error, dict) else None
        row["n_deltas"] = len(deltas)
        if row["status"] is None and (deltas or by_item.get(item_id)):
            row["status"] = "pending"
        if row["text"] is None and deltas:
            row["text"] = "".join(deltas)
        for name in ("t_first_delta", "t_done"):
            row[name] = _NAN if row[name] is None else row[name]
        row["first_delta_ms"] = _ms(row["t_end"], row["t_first_delta"])
        row["done_ms"] = _ms(row["t_end"], row["t_done"])
        row["speech_end_to_done_ms"] = _ms(row["t_speech_end"], row["t_done"])
        rows.append(row)
    return _table(
        rows, TRANSCRIPT_COLUMNS, ints=("audio_start_ms", "audio_end_ms", "n_deltas"), floats=_FLOATS
    )
