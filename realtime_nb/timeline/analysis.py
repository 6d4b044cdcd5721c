"""Turn and response tables computed from the rows (no sockets, no live state).

`turns()` columns (one row per user turn, in order of the turn's first event):

=============================  =======  ==============================================================
column                         dtype    meaning
=============================  =======  ==============================================================
item_id                        object   the user item the turn committed
kind                           object   ``vad`` (speech_started/stopped), ``idle_timeout``
                                        (timeout_triggered), ``manual`` (a client commit), ``server``
                                        (committed with neither)
audio_start_ms, audio_end_ms   Int64    VAD speech start / stop on the audio clock, as reported
silence_duration_ms            Int64    server_vad silence window in force at speech_stopped
t_speech_started, t_speech_stopped, t_committed
                               float64  seconds on the log's clock (`t` of the frame)
t_end                          float64  the turn's "stop": speech_stopped, timeout_triggered, or the
                                        client's commit for manual turns
t_speech_end                   float64  when the audio at (audio_end_ms - silence_duration_ms) was
                                        *sent* (the true end of speech, on the wall clock)
response_id                    object   first non-out-of-band response created after the commit
t_response_created, t_first_audio, t_first_audible, t_response_done
                               float64  first audible = first delta whose peak reaches the threshold
response_status, status_reason
                               object   e.g. ``cancelled`` / ``turn_detected``
was_interrupted                bool     the response was cancelled with reason ``turn_detected``
transcript                     object   input_audio_transcription.completed
stop_to_first_audio_ms         float64  the headline: t_end -> first audio delta
stop_to_first_audible_ms       float64
stop_to_committed_ms, committed_to_created_ms, created_to_first_audio_ms
                               float64
speech_end_to_first_audio_ms, speech_end_to_first_audible_ms
                               float64  from t_speech_end
=============================  =======  ==============================================================

`responses()` columns: response_id, status, status_reason, output_modalities (comma-joined),
conversation (``auto`` | ``none``, from the matching client `response.create`), initiator
(``client`` when a sent `response.create` matches it, else ``server``), t_created, t_done,
duration_ms, n_audio_deltas, audio_s, t_first_audio, first_audio_ms (from created), transcript,
text, input_tokens, output_tokens, total_tokens, cached_tokens (Int64), metadata (dict or None).

Over WebRTC the audio is on a media track, not in deltas: a response's ``t_first_audio`` is then the
arrival of its first non-silent track frame, ``t_first_audible`` of the first reaching the threshold,
``audio_s`` the track audio attributed to it (``n_audio_deltas`` stays 0), and ``t_speech_end`` the
time the outgoing track sent that sample (`realtime_nb.timeline.track_audio`).

A `response.create` matches the first later `response.created` carrying the same metadata, unless an
`error` named the create's event_id. A create that the service answers after a VAD response started
can therefore be matched to the wrong one; metadata makes matching exact.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from realtime_nb.protocol import PCM_RATE, ServerVad
from realtime_nb.timeline.columns import objects
from realtime_nb.timeline.recorder import Recorder
from realtime_nb.timeline.track_audio import SILENT_PEAK

_NAN = float("nan")
_TURN_INTS = ("audio_start_ms", "audio_end_ms", "silence_duration_ms")
_TURN_TIMES = (
    "t_speech_started", "t_speech_stopped", "t_committed", "t_end", "t_speech_end",
    "t_response_created", "t_first_audio", "t_first_audible", "t_response_done",
)  # fmt: skip
_LATENCIES = {
    "stop_to_first_audio_ms": ("t_end", "t_first_audio"),
    "stop_to_first_audible_ms": ("t_end", "t_first_audible"),
    "stop_to_committed_ms": ("t_end", "t_committed"),
    "committed_to_created_ms": ("t_committed", "t_response_created"),
    "created_to_first_audio_ms": ("t_response_created", "t_first_audio"),
    "speech_end_to_first_audio_ms": ("t_speech_end", "t_first_audio"),
    "speech_end_to_first_audible_ms": ("t_speech_end", "t_first_audible"),
}
TURN_COLUMNS: tuple[str, ...] = (
    "item_id", "kind", "audio_start_ms", "audio_end_ms", "silence_duration_ms",
    "t_speech_started", "t_speech_stopped", "t_committed", "t_end", "t_speech_end",
    "response_id", "t_response_created", "t_first_audio", "t_first_audible", "t_response_done",
    "response_status", "status_reason", "was_interrupted", "transcript", *_LATENCIES,
)  # fmt: skip
RESPONSE_COLUMNS: tuple[str, ...] = (
    "response_id", "status", "status_reason", "output_modalities", "conversation", "initiator",
    "t_created", "t_done", "duration_ms", "n_audio_deltas", "audio_s", "t_first_audio",
    "first_audio_ms", "transcript", "text", "input_tokens", "output_tokens", "total_tokens",
    "cached_tokens", "metadata",
)  # fmt: skip
_RESPONSE_INTS = ("n_audio_deltas", "input_tokens", "output_tokens", "total_tokens", "cached_tokens")
_RESPONSE_FLOATS = ("t_created", "t_done", "duration_ms", "audio_s", "t_first_audio", "first_audio_ms")


class LogView:
    """What the tables read of a log's data: the rows, their times and their canonical payloads."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.cols = rec.cols
        self.start_ns = rec.start_ns or 0
        self.input = rec.input
        self.response_audio = rec.response_audio
        self.track = rec.track

    def t(self, seq: int | None) -> float:
        return _NAN if seq is None else (self.cols.t_ns[seq] - self.start_ns) / 1e9

    def t_of_ns(self, t_ns: int | None) -> float:
        return _NAN if t_ns is None else (t_ns - self.start_ns) / 1e9

    def sent_t(self, sample: int) -> float:
        """When input-clock position `sample` was sent: by its append, else by the outgoing track."""
        if self.input.end == 0 and self.track.sent_end > 0:
            return self.t_of_ns(self.track.sent_t_ns(sample))
        return self.t(self.input.seq_at(sample))

    def first_audio_t(self, summary: dict[str, Any], min_peak: float | None = None) -> float:
        """The first audio delta (reaching `min_peak`, if given) of a response; over WebRTC, with no
        deltas, its first track frame above silence (or reaching `min_peak`)."""
        deltas = summary["deltas"]
        if deltas:
            if min_peak is None:
                return self.t(deltas[0])
            return self.t(next((s for s in deltas if (self.response_audio.peak(s) or 0) >= min_peak), None))
        rid = summary["response_id"]
        if min_peak is None:
            return self.t_of_ns(self.track.first_t_ns(rid))
        return self.t_of_ns(self.track.first_t_ns(rid, max(min_peak, SILENT_PEAK + 1)))

    def payload(self, seq: int) -> dict:
        """The canonical (GA) event of row `seq`; read-only."""
        return self.rec.payload(seq)


def _obj(payload: dict, key: str) -> dict:
    value = payload.get(key)
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


# --- responses -------------------------------------------------------------------------------


def _summaries(view: LogView) -> dict[str, dict[str, Any]]:
    """Per response id, everything both tables need, in order of response.created."""
    cols = view.cols
    out: dict[str, dict[str, Any]] = {}
    rejected = {cols.id_at("error_event_id", int(s)) for s in cols.seqs_of("error")} - {None}
    creates = [
        int(s) for s in cols.seqs_of("response.create") if cols.id_at("event_id", int(s)) not in rejected
    ]
    pending: list[int] = []
    next_create = 0
    for s in cols.seqs_of("response.created"):
        seq = int(s)
        rid = cols.id_at("response_id", seq)
        if rid is None or rid in out:
            continue
        while next_create < len(creates) and creates[next_create] < seq:
            pending.append(creates[next_create])
            next_create += 1
        response = _obj(view.payload(seq), "response")
        metadata = response.get("metadata")
        match = next(
            (c for c in pending if _obj(view.payload(c), "response").get("metadata") == metadata), None
        )
        conversation = "auto"
        if match is not None:
            pending.remove(match)
            conversation = (
                "none" if _obj(view.payload(match), "response").get("conversation") == "none" else "auto"
            )
        out[rid] = {
            "response_id": rid,
            "created_seq": seq,
            "response": response,
            "conversation": conversation,
            "initiator": "server" if match is None else "client",
            "metadata": metadata if isinstance(metadata, dict) else None,
            "done_seq": None,
            "deltas": [],
            "audio_ms": 0.0,
            "transcript_done": [],
            "transcript_delta": [],
            "text_done": [],
            "text_delta": [],
        }
    for s in cols.seqs_of("response.done"):
        summary = out.get(cols.id_at("response_id", int(s)))  # type: ignore[arg-type]
        if summary is not None:
            summary["done_seq"] = int(s)
    audio_ms = cols.audio_ms
    for s in cols.seqs_of("response.output_audio.delta"):
        summary = out.get(cols.id_at("response_id", int(s)))  # type: ignore[arg-type]
        if summary is not None:
            summary["deltas"].append(int(s))
            if audio_ms[s] == audio_ms[s]:
                summary["audio_ms"] += audio_ms[s]
    for type_name, key in (
        ("response.output_audio_transcript.done", "transcript_done"),
        ("response.output_audio_transcript.delta", "transcript_delta"),
        ("response.output_text.done", "text_done"),
        ("response.output_text.delta", "text_delta"),
    ):
        for s in cols.seqs_of(type_name):
            summary = out.get(cols.id_at("response_id", int(s)))  # type: ignore[arg-type]
            text = cols.id_at("text", int(s))
            if summary is not None and text is not None:
                summary[key].append(text)
    return out


def _joined(summary: dict[str, Any], kind: str) -> str | None:
    done, deltas = summary[kind + "_done"], summary[kind + "_delta"]
    if done:
        return "\n".join(done)
    return "".join(deltas) if deltas else None


def responses(rec: Recorder) -> pd.DataFrame:
    """One row per response; see the module docstring for the columns."""
    view = LogView(rec)
    rows: list[dict[str, Any]] = []
    for summary in _summaries(view).values():
        created = summary["response"]
        final = _obj(view.payload(summary["done_seq"]), "response") if summary["done_seq"] is not None else {}
        body = final or created
        modalities = body.get("output_modalities")
        usage = _obj(final, "usage")
        t_created, t_done = view.t(summary["created_seq"]), view.t(summary["done_seq"])
        t_first = view.first_audio_t(summary)
        status = body.get("status")
        rows.append(
            {
                "response_id": summary["response_id"],
                "status": status if isinstance(status, str) else None,
                "status_reason": _reason(body),
                "output_modalities": ",".join(m for m in modalities if isinstance(m, str))
                if isinstance(modalities, list)
                else None,
                "conversation": summary["conversation"],
                "initiator": summary["initiator"],
                "t_created": t_created,
                "t_done": t_done,
                "duration_ms": (t_done - t_created) * 1000,
                "n_audio_deltas": len(summary["deltas"]),
                "audio_s": (summary["audio_ms"] + view.track.response_ms(summary["response_id"])) / 1000,
                "t_first_audio": t_first,
                "first_audio_ms": (t_first - t_created) * 1000,
                "transcript": _joined(summary, "transcript"),
                "text": _joined(summary, "text"),
                "input_tokens": _int(usage.get("input_tokens")),
                "output_tokens": _int(usage.get("output_tokens")),
                "total_tokens": _int(usage.get("total_tokens")),
                "cached_tokens": _int(_obj(usage, "input_token_details").get("cached_tokens")),
                "metadata": summary["metadata"],
            }
        )
    return _table(rows, RESPONSE_COLUMNS, ints=_RESPONSE_INTS, floats=_RESPONSE_FLOATS)


def _reason(response: dict) -> str | None:
    reason = _obj(response, "status_details").get("reason")
    return reason if isinstance(reason, str) else None


# --- turns -----------------------------------------------------------------------------------

_TURN_EVENTS = (
    "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped",
    "input_audio_buffer.timeout_triggered",
    "input_audio_buffer.committed",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "response.created",
    "conversation.item.input_audio_transcription.completed",
)


def _silence_ms(view: LogView, seq: int) -> int | None:
    """The server_vad silence window in force at row `seq` (None: unknown, or no such window)."""
    td = getattr(view.rec.session.at(seq), "turn_detection", None)
    return td.silence_duration_ms if isinstance(td, ServerVad) else None


def _new_turn(item_id: str, kind: str) -> dict[str, Any]:
    turn: dict[str, Any] = dict.fromkeys(TURN_COLUMNS)
    turn.update(item_id=item_id, kind=kind, was_interrupted=False)
    return turn


def turns(rec: Recorder, *, audible_dbfs: float = -40.0) -> pd.DataFrame:
    """One row per user turn; see the module docstring for the columns."""
    view = LogView(rec)
    if not isinstance(audible_dbfs, int | float) or math.isnan(audible_dbfs):
        raise ValueError(f"audible_dbfs must be a number of dBFS, got {audible_dbfs!r}")
    cols = view.cols
    threshold = 32768 * 10 ** (audible_dbfs / 20)
    summaries = _summaries(view)
    seqs = np.sort(np.concatenate([cols.seqs_of(name) for name in _TURN_EVENTS]))
    found: dict[str, dict[str, Any]] = {}
    awaiting: list[dict[str, Any]] = []
    commit_t: float | None = None
    for s in seqs:
        seq = int(s)
        kind = cols.type_at(seq)
        item_id = cols.id_at("item_id", seq)
        if kind == "input_audio_buffer.commit":
            commit_t = view.t(seq)
            continue
        if kind == "input_audio_buffer.clear":
            commit_t = None
            continue
        if kind == "response.created":
            summary = summaries.get(cols.id_at("response_id", seq))  # type: ignore[arg-type]
            if summary is not None and summary["conversation"] != "none":
                for turn in awaiting:
                    _attach(view, turn, summary, threshold)
                awaiting = []
            continue
        if item_id is None:
            continue
        turn = found.get(item_id)
        if kind == "input_audio_buffer.speech_started":
            turn = found.setdefault(item_id, _new_turn(item_id, "vad"))
            turn["t_speech_started"] = view.t(seq)
            turn["audio_start_ms"] = cols.int_at("audio_start_ms", seq)
        elif kind == "input_audio_buffer.speech_stopped":
            turn = found.setdefault(item_id, _new_turn(item_id, "vad"))
            turn["t_speech_stopped"] = turn["t_end"] = view.t(seq)
            turn["audio_end_ms"] = end_ms = cols.int_at("audio_end_ms", seq)
            turn["silence_duration_ms"] = silence = _silence_ms(view, seq)
            if end_ms is not None and silence is not None:
                sample = round((end_ms - silence) * PCM_RATE / 1000) - 1
                turn["t_speech_end"] = view.sent_t(max(sample, 0))
        elif kind == "input_audio_buffer.timeout_triggered":
            turn = found.setdefault(item_id, _new_turn(item_id, "idle_timeout"))
            turn["audio_start_ms"] = cols.int_at("audio_start_ms", seq)
            turn["audio_end_ms"] = cols.int_at("audio_end_ms", seq)
            turn["t_end"] = view.t(seq)
        elif kind == "input_audio_buffer.committed":
            if turn is None:
                turn = found[item_id] = _new_turn(item_id, "manual" if commit_t is not None else "server")
                turn["t_end"] = commit_t if commit_t is not None else _NAN
            commit_t = None
            if turn["t_committed"] is None:
                turn["t_committed"] = view.t(seq)
                awaiting.append(turn)
        elif kind == "conversation.item.input_audio_transcription.completed" and turn is not None:
            turn["transcript"] = cols.id_at("text", seq)
    rows = list(found.values())
    for turn in rows:
        for name, (a, b) in _LATENCIES.items():
            start, stop = turn[a], turn[b]
            turn[name] = _NAN if start is None or stop is None else (stop - start) * 1000
    return _table(
        rows,
        TURN_COLUMNS,
        ints=_TURN_INTS,
        floats=_TURN_TIMES + tuple(_LATENCIES),
        bools=("was_interrupted",),
    )


def _attach(view: LogView, turn: dict[str, Any], summary: dict[str, Any], threshold: float) -> None:
    final = _obj(view.payload(summary["done_seq"]), "response") if summary["done_seq"] is not None else {}
    turn["response_id"] = summary["response_id"]
    turn["t_response_created"] = view.t(summary["created_seq"])
    turn["t_response_done"] = view.t(summary["done_seq"])
    turn["t_first_audio"] = view.first_audio_t(summary)
    turn["t_first_audible"] = view.first_audio_t(summary, threshold)
    status = final.get("status")
    turn["response_status"] = status if isinstance(status, str) else None
    turn["status_reason"] = _reason(final)
    turn["was_interrupted"] = status == "cancelled" and turn["status_reason"] == "turn_detected"


def _table(
    rows: list[dict[str, Any]],
    columns: tuple[str, ...],
    *,
    ints: tuple[str, ...] = (),
    floats: tuple[str, ...] = (),
    bools: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Column-wise DataFrame with fixed dtypes (also when there are no rows)."""
    data: dict[str, Any] = {}
    for name in columns:
        values = [row[name] for row in rows]
        if name in ints:
            data[name] = pd.array(values, dtype="Int64")
        elif name in floats:
            data[name] = np.array([_NAN if v is None else v for v in values], dtype=np.float64)
        elif name in bools:
            data[name] = np.array(values, dtype=bool)
        else:
            data[name] = objects(values)
    return pd.DataFrame(data, columns=list(columns))


# --- spans -----------------------------------------------------------------------------------


def item_span(rec: Recorder, item_id: str) -> tuple[float, float] | None:
    """(start_ms, end_ms) of a committed input item on the audio clock, or None if unknown."""
    view = LogView(rec)
    cols = view.cols
    start = end = None
    for name, field, is_start in (
        ("input_audio_buffer.speech_started", "audio_start_ms", True),
        ("input_audio_buffer.speech_stopped", "audio_end_ms", False),
        ("input_audio_buffer.timeout_triggered", "audio_start_ms", True),
        ("input_audio_buffer.timeout_triggered", "audio_end_ms", False),
    ):
        for s in cols.seqs_of(name):
            if cols.id_at("item_id", int(s)) == item_id:
                value = cols.int_at(field, int(s))
                if is_start:
                    start = value
                else:
                    end = value
    if start is not None and end is not None:
        return float(start), float(end)
    committed = next((int(s) for s in cols.seqs_of("input_audio_buffer.committed")
                      if cols.id_at("item_id", int(s)) == item_id), None)  # fmt: skip
    if committed is None:
        return None
    boundaries = np.sort(np.concatenate([cols.seqs_of("input_audio_buffer.commit"),
                                         cols.seqs_of("input_audio_buffer.clear")]))  # fmt: skip
    before = boundaries[boundaries < committed]
    if not before.size or cols.type_at(int(before[-1])) != "input_audio_buffer.commit":
        return None
    stop = view.input.end_before(int(before[-1]))
    begin = view.input.end_before(int(before[-2])) if before.size > 1 else 0
    return begin * 1000 / PCM_RATE, stop * 1000 / PCM_RATE
