"""`EventLog`: every sent and received event of a session, on two clocks, with the audio stripped out.

Frame columns (`EventLog.frame()`, one row per recorded event, in recording order):

================  ======================  ==============================================================
column            dtype                   meaning
================  ======================  ==============================================================
seq               int64                   row number, 0-based; stable id of the row
t                 float64                 seconds since the log started (monotonic clock)
wall              datetime64[ns, UTC]     wall time: the log's wall-clock start + the monotonic offset
direction         category                ``sent`` | ``received`` (from the recorder's point of view)
type              category                canonical (GA) event type; problems are ``realtime_nb.*``
wire_type         category                the type exactly as on the wire (<NA> if it was not a string)
dialect           category                ``ga`` | ``preview``
family            category                session, input_audio_buffer, conversation, response,
                                          transcription, rate_limits, error, problem, other
event_id          object (str | None)     the event's own event_id
item_id           object (str | None)     ``item_id``, else ``item.id``
response_id       object (str | None)     ``response_id``, else ``response.id``
previous_item_id  object (str | None)
call_id           object (str | None)     ``call_id``, else ``item.call_id``
output_index      Int64
content_index     Int64
audio_start_ms    Int64                   audio clock, as reported (speech_started, timeout_triggered)
audio_end_ms      Int64                   audio clock, as reported (speech_stopped, truncate(d), ...)
audio_ms          float64                 ms of audio the event carried (NaN: none)
size_bytes        Int64                   ``wire_bytes`` if given, else the compact JSON length
text              object (str | None)     text delta, transcript, output text or call arguments
error_type        object (str | None)     ``error.type`` (also a failed response's status error)
error_code        object (str | None)     ``error.code``; for problems the kind's code (close code)
error_message     object (str | None)
error_param       object (str | None)
error_event_id    object (str | None)     the client event_id an error refers to
issue             object (str | None)     what the log could not read in this event, if anything
================  ======================  ==============================================================

Base64 audio never stays in a row: appends go to the input stream (on the audio clock), output audio
deltas to a per-item/response store, `conversation.item.retrieved` audio to a per-item store and
client-created audio items to theirs. Appends and deltas keep no payload at all: `event_json` rebuilds
them from the columns.
"""

from __future__ import annotations

import binascii
import html
import json
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from realtime_nb.protocol import Dialect, canonical_type
from realtime_nb.timeline import analysis, persist
from realtime_nb.timeline.columns import DIALECTS, DIRECTIONS, Columns
from realtime_nb.timeline.fields import (
    APPEND_TYPE,
    AUDIO_DELTA_TYPE,
    FAMILIES,
    TEXT_DELTA_TYPES,
    clean_payload,
    extract,
    family_of,
    redact_text,
)
from realtime_nb.timeline.session_state import (
    SESSION_TYPES,
    SessionAudio,
    apply_session,
    response_output_format,
)
from realtime_nb.timeline.stores import OUT_RATE, AudioStore, InputStream

PROBLEM_KINDS: frozenset[str] = frozenset({"protocol_error", "unknown_event", "connection_closed"})
_DIRECTION_CODE = {name: i for i, name in enumerate(DIRECTIONS)}
_DIALECT_CODE = {name: i for i, name in enumerate(DIALECTS)}
_FAMILY_CODE = {name: i for i, name in enumerate(FAMILIES)}
_WIDTH = {"pcm16": 2, "g711_ulaw": 1, "g711_alaw": 1}
_MS_PER_BYTE = {"pcm16": 1 / 48, "g711_ulaw": 1 / 8, "g711_alaw": 1 / 8}
_SCALARS = (str, int, float, bool, type(None))
_STR_KEYS = frozenset({"event_id", "response_id", "item_id", "call_id", "previous_item_id"})
_INT_KEYS = frozenset({"output_index", "content_index"})
_RAW_LIMIT = 4096  # characters of a malformed frame kept for the bug report
_COMPACT_KINDS = {APPEND_TYPE: "append", AUDIO_DELTA_TYPE: "audio"} | dict.fromkeys(TEXT_DELTA_TYPES, "text")
_JSON_SEPARATORS = (",", ":")


def audio_placeholder(ms: float) -> str:
    """What stands in a payload where base64 audio was."""
    return f"<audio stripped: {ms:.3f} ms>"


class Shape:
    """The key order of a compact (payload-free) row; interned, so rows share one instance."""

    __slots__ = ("keys",)

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = keys


class _TypeInfo:
    __slots__ = ("canonical", "compact", "family")

    def __init__(self, canonical: str) -> None:
        self.canonical = canonical
        self.family = _FAMILY_CODE[family_of(canonical)]
        self.compact = _COMPACT_KINDS.get(canonical)


class EventLog:
    """Every event of a session as rows, with the audio kept as PCM beside them.

    `start_ns` fixes the monotonic origin of the `t` column (default: the first recorded event);
    `wall_start_ns` the wall time of that origin (default: `time.time_ns()` at the first event).
    """

    def __init__(self, *, start_ns: int | None = None, wall_start_ns: int | None = None) -> None:
        self._cols = Columns()
        self._start_ns = start_ns
        self._wall_start_ns = wall_start_ns
        self._input = InputStream()
        self._response_audio = AudioStore()
        self._retrieved = AudioStore()
        self._items = AudioStore()
        self._item_alias: dict[str, str] = {}  # server-assigned item id -> key of unnamed created audio
        self._unnamed_items: list[str] = []
        self._committed: set[str] = set()
        self._state = SessionAudio()
        self._create_format: str | None = None
        self._response_format: dict[str, str] = {}
        self._types: dict[tuple[str, int], _TypeInfo] = {}
        self._shapes: dict[tuple[str, ...], Shape] = {}
        self._lock = threading.RLock()
        self._subscribers: list[list[Callable[[int], object]]] = []
        self._reported: set[int] = set()

    # --- recording ---------------------------------------------------------------------------

    def record(
        self,
        direction: str,
        event: Any,
        dialect: Dialect | str,
        *,
        t_ns: int | None = None,
        wire_bytes: int | None = None,
    ) -> int:
        """Record one wire event (either dialect); returns its seq. Never raises on event content."""
        d_code = _code(_DIRECTION_CODE, direction, "direction")
        l_code = _code(_DIALECT_CODE, dialect, "dialect")
        t_ns = time.monotonic_ns() if t_ns is None else _check_ns(t_ns)
        if wire_bytes is not None and (type(wire_bytes) is not int or wire_bytes < 0):
            raise ValueError(f"wire_bytes must be a non-negative int, got {wire_bytes!r}")
        with self._lock:
            self._begin(t_ns)
            seq = None
            if type(event) is dict and type(event.get("type")) is str:
                info = self._type_info(event["type"], l_code)
                if info.compact is not None:
                    seq = self._record_compact(info, d_code, l_code, event, t_ns, wire_bytes)
                if seq is None:
                    seq = self._record_event(info, d_code, l_code, event, t_ns, wire_bytes)
            elif type(event) is dict:
                message = (
                    "event has no type"
                    if "type" not in event
                    else (f"event type is not a string ({type(event['type']).__name__})")
                )
                info = self._type_info("realtime_nb.protocol_error", l_code)
                seq = self._record_event(info, d_code, l_code, event, t_ns, wire_bytes, issue=message)
            else:
                message = f"event is not a JSON object (got {type(event).__name__})"
                seq = self._problem(d_code, l_code, "protocol_error", message, event, t_ns, {})
        self._notify(seq)
        return seq

    def record_problem(
        self,
        direction: str,
        kind: str,
        message: str,
        raw: str | bytes | None = None,
        t_ns: int | None = None,
        *,
        code: int | str | None = None,
        reason: str | None = None,
        dialect: Dialect | str = Dialect.GA,
    ) -> int:
        """Record something that is not a well-formed event: a malformed frame (`protocol_error`), an
        event type the peer does not know (`unknown_event`), or the socket closing
        (`connection_closed`, with its close `code` and `reason`). Returns the row's seq."""
        if kind not in PROBLEM_KINDS:
            raise ValueError(f"unknown problem kind {kind!r}; expected one of {sorted(PROBLEM_KINDS)}")
        d_code = _code(_DIRECTION_CODE, direction, "direction")
        l_code = _code(_DIALECT_CODE, dialect, "dialect")
        t_ns = time.monotonic_ns() if t_ns is None else _check_ns(t_ns)
        extra = {"code": None if code is None else str(code), "reason": reason}
        with self._lock:
            self._begin(t_ns)
            seq = self._problem(d_code, l_code, kind, str(message), raw, t_ns, extra)
        self._notify(seq)
        return seq

    def _begin(self, t_ns: int) -> None:
        if self._start_ns is None:
            self._start_ns = t_ns
        if self._wall_start_ns is None:
            self._wall_start_ns = time.time_ns() - (t_ns - self._start_ns)

    def _type_info(self, wire: str, dialect_code: int) -> _TypeInfo:
        info = self._types.get((wire, dialect_code))
        if info is None:
            canonical = canonical_type(wire, Dialect(DIALECTS[dialect_code]))
            info = self._types[(wire, dialect_code)] = _TypeInfo(canonical)
        return info

    def _shape(self, keys: tuple[str, ...]) -> Shape:
        shape = self._shapes.get(keys)
        if shape is None:
            shape = self._shapes[keys] = Shape(keys)
        return shape

    def _record_compact(
        self, info: _TypeInfo, d: int, dl: int, event: dict, t_ns: int, wire_bytes: int | None
    ) -> int | None:
        """Appends and deltas: every key a column or a scalar extra, so no payload is kept.
        Returns None when the event does not fit (the general path then records it)."""
        ids: dict[str, str | None] = {}
        ints: dict[str, int] = {}
        extras: list[Any] = []
        body_key = "audio" if info.compact == "append" else "delta"
        body = event.get(body_key)
        if type(body) is not str:
            return None
        for key, value in event.items():
            if key == "type" or key == body_key:
                continue
            if key in _STR_KEYS:
                if value is not None and type(value) is not str:
                    return None
                ids[key] = value
            elif key in _INT_KEYS:
                if type(value) is not int or not -(2**63) < value < 2**63:
                    return None
                ints[key] = value
            elif type(value) in _SCALARS:
                extras.append(value)
            else:
                return None
        audio_ms = float("nan")
        raw = b""
        fmt = ""
        text = None
        if info.compact == "text":
            text = body
        else:
            try:
                raw = binascii.a2b_base64(body, strict_mode=True)
            except (binascii.Error, ValueError):
                return None
            if info.compact == "append":
                fmt = self._state.input_format
            else:
                response_id = ids.get("response_id")
                fmt = self._response_format.get(response_id, self._state.output_format)  # type: ignore[arg-type]
            if len(raw) % _WIDTH[fmt]:
                return None
            audio_ms = len(raw) * _MS_PER_BYTE[fmt]
        shape = self._shape(tuple(event))
        payload = shape if not extras else (shape, tuple(extras))
        if wire_bytes is None:
            wire_bytes = _json_size({k: ("" if k == body_key and raw else v) for k, v in event.items()})
            if raw:
                wire_bytes += len(body)
        sparse = None
        if text is not None or "previous_item_id" in ids or "call_id" in ids:
            sparse = {
                "text": text,
                "previous_item_id": ids.get("previous_item_id"),
                "call_id": ids.get("call_id"),
            }
        seq = self._cols.append(
            t_ns, d, dl, info.family, info.canonical, event["type"],
            (ids.get("event_id"), ids.get("item_id"), ids.get("response_id")),
            (ints.get("output_index"), ints.get("content_index"), None, None, wire_bytes),
            audio_ms, sparse, payload,
        )  # fmt: skip
        if info.compact == "append":
            self._input.add(seq, None, fmt, raw)
        elif info.compact == "audio":
            key = ids.get("item_id") or ids.get("response_id")
            self._response_audio.add(seq, key, fmt, raw)
        return seq

    def _record_event(
        self,
        info: _TypeInfo,
        d: int,
        dl: int,
        event: dict,
        t_ns: int,
        wire_bytes: int | None,
        issue: str | None = None,
    ) -> int:
        seq = len(self._cols)
        canonical = info.canonical
        issues: list[str] = [issue] if issue else []
        audio: _AudioCollector | None = None
        try:
            fields, more = extract(event, canonical)
            issues += more
            audio = _AudioCollector(self, seq, canonical, fields, issues)
            payload = clean_payload(event, audio.take, issues)
            if wire_bytes is None:
                wire_bytes = _json_size(payload) + audio.size_delta
            self._follow(canonical, event, fields, issues)
        except Exception as exc:  # a bug here must not cost the row: keep what is known
            fields, payload = {}, {"type": event.get("type") if type(event.get("type")) is str else None}
            issues.append(f"internal error while reading the event: {exc!r}")
        fields["issue"] = "; ".join(issues) or None
        wire = event.get("type") if type(event.get("type")) is str else None
        self._cols.append(
            t_ns, d, dl, info.family, canonical, wire,
            (fields.get("event_id"), fields.get("item_id"), fields.get("response_id")),
            (fields.get("output_index"), fields.get("content_index"), fields.get("audio_start_ms"),
             fields.get("audio_end_ms"), wire_bytes),
            audio.total_ms if audio and audio.count else float("nan"), fields, payload,
        )  # fmt: skip
        if audio is not None:
            audio.flush()
        return seq

    def _follow(self, canonical: str, event: dict, fields: dict, issues: list[str]) -> None:
        """Keep the state needed to decode audio that comes later."""
        if canonical in SESSION_TYPES:
            self._state = apply_session(self._state, event.get("session"), issues)
        elif canonical == "response.create":
            self._create_format = response_output_format(event.get("response"))
        elif canonical == "response.created" and fields.get("response_id"):
            fmt = response_output_format(event.get("response")) or self._create_format
            self._response_format[fields["response_id"]] = fmt or self._state.output_format
            self._create_format = None
        elif canonical == "input_audio_buffer.committed" and fields.get("item_id"):
            self._committed.add(fields["item_id"])
        elif canonical == "conversation.item.added" and self._unnamed_items:
            item = event.get("item")
            item_id = fields.get("item_id")
            known = item_id in self._committed or self._items.has(item_id)
            if item_id and not known and _is_audio_message(item):
                self._item_alias[item_id] = self._unnamed_items.pop(0)

    def _problem(
        self, d: int, dl: int, kind: str, message: str, raw: Any, t_ns: int, extra: dict[str, Any]
    ) -> int:
        if isinstance(raw, bytes | bytearray):
            raw_text: str | None = bytes(raw[:_RAW_LIMIT]).decode("utf-8", "replace")
            total = len(raw)
        elif raw is None:
            raw_text, total = None, 0
        else:
            raw_text = raw if isinstance(raw, str) else repr(raw)
            total = len(raw_text)
            raw_text = raw_text[:_RAW_LIMIT]
        payload: dict[str, Any] = {"kind": kind, "message": redact_text(message), **extra}
        if raw_text is not None:
            payload["raw"] = redact_text(raw_text)
            if total > _RAW_LIMIT:
                payload["raw_length"] = total
        wire = None
        if kind == "unknown_event" and raw_text is not None:
            try:
                parsed = json.loads(raw_text)
                wire = (
                    parsed.get("type")
                    if isinstance(parsed, dict) and type(parsed.get("type")) is str
                    else None
                )
            except ValueError:
                wire = None
        name = f"realtime_nb.{kind}"
        size = total or None
        sparse = {"error_code": extra.get("code"), "error_message": payload["message"]}
        if kind == "protocol_error":
            sparse["issue"] = payload["message"]
        return self._cols.append(
            t_ns, d, dl, _FAMILY_CODE["problem"], name, wire or name, (None, None, None),
            (None, None, None, None, size), float("nan"), sparse, payload,
        )  # fmt: skip

    # --- live consumers ----------------------------------------------------------------------

    def subscribe(self, callback: Callable[[int], object]) -> Callable[[], None]:
        """Call `callback(seq)` after each new row; returns a function that unsubscribes.
        A callback that raises is reported once (RuntimeWarning) and keeps being called."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        entry = [callback]
        self._subscribers.append(entry)

        def unsubscribe() -> None:
            if entry in self._subscribers:
                self._subscribers.remove(entry)

        return unsubscribe

    def _notify(self, seq: int) -> None:
        for entry in tuple(self._subscribers):
            try:
                entry[0](seq)
            except Exception as exc:
                if id(entry) not in self._reported:
                    self._reported.add(id(entry))
                    warnings.warn(
                        f"EventLog subscriber {entry[0]!r} raised {exc!r}; recording goes on "
                        "(further errors from it are not reported)",
                        RuntimeWarning,
                        stacklevel=3,
                    )

    def rows_since(self, seq: int = -1) -> list[dict[str, Any]]:
        """Rows with a seq greater than `seq`, as dicts of the frame's columns (None for missing)."""
        if type(seq) is not int:
            raise TypeError(f"seq must be an int, got {type(seq).__name__}")
        with self._lock:
            n = len(self._cols)
            return [
                self._cols.row(i, self._start_ns or 0, self._wall_start_ns or 0)
                for i in range(max(seq + 1, 0), n)
            ]

    # --- tables ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._cols)

    def frame(self) -> pd.DataFrame:
        """One row per event; columns and dtypes as in the module docstring."""
        with self._lock:
            return self._cols.frame(self._start_ns or 0, self._wall_start_ns or 0)

    def turns(self, *, audible_dbfs: float = -40.0) -> pd.DataFrame:
        """One row per user turn with its latencies (see `realtime_nb.timeline.analysis`).
        A response audio delta counts as audible when its peak reaches `audible_dbfs`."""
        with self._lock:
            return analysis.turns(self._view(), audible_dbfs=audible_dbfs)

    def responses(self) -> pd.DataFrame:
        """One row per response (see `realtime_nb.timeline.analysis`)."""
        with self._lock:
            return analysis.responses(self._view())

    def _view(self) -> analysis.LogView:
        return analysis.LogView(self._cols, self._start_ns or 0, self._input, self._response_audio)

    def event_json(self, seq: int) -> dict[str, Any]:
        """The recorded event as a JSON-able dict (audio replaced by a placeholder, secrets redacted)."""
        with self._lock:
            if type(seq) is not int or not 0 <= seq < len(self._cols):
                raise IndexError(f"no row with seq {seq!r} (the log has {len(self._cols)} rows)")
            payload = self._cols.payload[seq]
            if isinstance(payload, dict):
                return json.loads(json.dumps(payload))
            shape, extras = (payload, ()) if isinstance(payload, Shape) else payload
            return self._rebuild(seq, shape, iter(extras))

    def _rebuild(self, seq: int, shape: Shape, extras: Any) -> dict[str, Any]:
        cols = self._cols
        out: dict[str, Any] = {}
        audio_ms = cols.audio_ms[seq]
        for key in shape.keys:
            if key == "type":
                out[key] = cols.wire_type_at(seq)
            elif key in _STR_KEYS:
                out[key] = cols.id_at(key, seq)
            elif key in _INT_KEYS:
                out[key] = cols.int_at(key, seq)
            elif key in ("audio", "delta"):
                out[key] = audio_placeholder(audio_ms) if audio_ms == audio_ms else cols.id_at("text", seq)
            else:
                out[key] = next(extras)
        return out

    # --- audio -------------------------------------------------------------------------------

    def sent_audio(self, start_ms: float | None = None, end_ms: float | None = None) -> np.ndarray:
        """Appended input audio, int16 at 24 kHz, on the audio clock (ms since the first append);
        zeros wherever nothing was appended. Defaults: the whole stream."""
        with self._lock:
            start = 0 if start_ms is None else _ms_to_samples(start_ms, "start_ms")
            stop = self._input.end if end_ms is None else _ms_to_samples(end_ms, "end_ms")
            if stop < start:
                raise ValueError(f"end_ms ({end_ms}) is before start_ms ({start_ms})")
            return self._input.window(start, stop)

    def response_audio(self, response_or_item_id: str) -> np.ndarray:
        """All output audio of a response (or of one output item), int16 at 24 kHz."""
        with self._lock:
            store = self._response_audio
            parts = [
                seg.pcm()
                for seg in store.segments
                if seg.key == response_or_item_id
                or self._cols.id_at("response_id", seg.seq) == response_or_item_id
            ]
            if not parts:
                raise KeyError(f"no response audio recorded for {response_or_item_id!r}")
            return np.concatenate(parts)

    def retrieved_audio(self, item_id: str) -> np.ndarray:
        """Audio of the latest `conversation.item.retrieved` of `item_id` (the service's processed copy)."""
        with self._lock:
            if not self._retrieved.has(item_id):
                raise KeyError(f"no retrieved audio for item {item_id!r} (send conversation.item.retrieve)")
            return self._retrieved.pcm(item_id, last_event_only=True)

    def item_audio(self, item_id: str) -> np.ndarray:
        """Audio of a user item: the client-created one (`conversation.item.create`), or else the
        appended audio over a committed item's span (see `item_span`)."""
        with self._lock:
            key = self._item_alias.get(item_id, item_id)
            if self._items.has(key):
                return self._items.pcm(key, last_event_only=True)
        start, end = self.item_span(item_id)
        return self.sent_audio(start, end)

    def item_span(self, item_id: str) -> tuple[float, float]:
        """(audio_start_ms, audio_end_ms) of a committed input item on the audio clock: as reported by
        VAD events, or for a manual commit the buffer span the log computed from the appends."""
        with self._lock:
            span = analysis.item_span(self._view(), item_id)
        if span is None:
            raise KeyError(f"no audio-clock span known for item {item_id!r}")
        return span

    # --- persistence and display -------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the whole log (rows and audio) to one zip file; returns its path."""
        with self._lock:
            return persist.save(self, Path(path))

    @classmethod
    def load(cls, path: str | Path) -> EventLog:
        """Read a file written by `save` (raises `LogFormatError` for unreadable or newer files)."""
        return persist.load(cls, Path(path))

    def __repr__(self) -> str:
        n = len(self._cols)
        duration = self._duration_s()
        return f"EventLog({n} events, {duration:.1f} s)"

    def _duration_s(self) -> float:
        if not len(self._cols):
            return 0.0
        t = np.frombuffer(self._cols.t_ns, np.int64)
        return float(t.max() - t.min()) / 1e9

    def _repr_html_(self) -> str:
        with self._lock:
            n = len(self._cols)
            counts = np.bincount(np.frombuffer(self._cols.family, np.int8), minlength=len(FAMILIES))
            turns = analysis.turns(self._view()) if n else None
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td style='text-align:right'>{count}</td></tr>"
            for name, count in zip(FAMILIES, counts, strict=True)
            if count
        )
        n_turns = 0 if turns is None else len(turns)
        headline = ""
        if turns is not None and turns["stop_to_first_audio_ms"].notna().any():
            median = float(turns["stop_to_first_audio_ms"].median())
            headline = f"; median end of speech → first audio {median:.0f} ms"
        return (
            f"<div><b>EventLog</b>: {n} events over {self._duration_s():.1f} s, {n_turns} turns"
            f"{html.escape(headline)}, {self._input.end / OUT_RATE:.1f} s of input audio"
            f"<table><tr><th>family</th><th>events</th></tr>{rows}</table></div>"
        )


class _AudioCollector:
    """Routes the audio strings of one general-path event to the right store (see `clean_payload`).
    Chunks reach the stores only once the row exists (`flush`), so a failure loses nothing."""

    def __init__(self, log: EventLog, seq: int, canonical: str, fields: dict, issues: list[str]) -> None:
        self.log, self.seq, self.canonical, self.issues = log, seq, canonical, issues
        self.response_id = fields.get("response_id")
        self.count = 0
        self.total_ms = 0.0
        self.size_delta = 0
        self.pending: list[tuple[AudioStore, str | None, str, bytes]] = []

    def take(self, b64: str, item_id: str | None, part_type: str | None) -> str:
        log, canonical, state = self.log, self.canonical, self.log._state
        try:
            raw = binascii.a2b_base64(b64, strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            self.issues.append(f"audio is not valid base64 ({exc})")
            text = f"<invalid base64 audio stripped: {len(b64)} characters>"
            self.size_delta += len(b64) - len(text)
            return text
        store: AudioStore
        if canonical == AUDIO_DELTA_TYPE:
            store, key = log._response_audio, item_id or self.response_id
            fmt = log._response_format.get(self.response_id or "", state.output_format)
        elif canonical == APPEND_TYPE:
            store, key, fmt = log._input, None, state.input_format
        elif canonical == "conversation.item.retrieved":
            store, key = log._retrieved, item_id
            fmt = state.input_format if part_type == "input_audio" else state.output_format
        else:  # conversation.item.create, response.create input items, anything unexpected
            store, key = log._items, item_id
            fmt = state.input_format if part_type in ("input_audio", None) else state.output_format
            if key is None:
                key = f"unnamed:{self.seq}:{len(self.pending)}"
                if canonical == "conversation.item.create":
                    log._unnamed_items.append(key)
        if len(raw) % _WIDTH[fmt]:
            self.issues.append(f"{fmt} audio has an odd byte count ({len(raw)}); the last byte was dropped")
            raw = raw[:-1]
        ms = len(raw) * _MS_PER_BYTE[fmt]
        self.pending.append((store, key, fmt, raw))
        self.count += 1
        self.total_ms += ms
        text = audio_placeholder(ms)
        self.size_delta += len(b64) - len(text)
        return text

    def flush(self) -> None:
        opened: set[tuple[int, str | None]] = set()
        for store, key, fmt, raw in self.pending:
            # retrievals and created items start a segment per event, so the latest stays addressable
            fresh = store is self.log._retrieved or store is self.log._items
            store.add(self.seq, key, fmt, raw, new_segment=fresh and (id(store), key) not in opened)
            opened.add((id(store), key))


def _is_audio_message(item: Any) -> bool:
    content = item.get("content") if isinstance(item, dict) else None
    return isinstance(content, list) and any(
        isinstance(part, dict) and part.get("type") == "input_audio" for part in content
    )


def _code(table: dict[str, int], value: Any, what: str) -> int:
    code = table.get(value) if isinstance(value, str) else None
    if code is None:
        raise ValueError(f"{what} must be one of {', '.join(table)}, got {value!r}")
    return code


def _check_ns(t_ns: Any) -> int:
    if isinstance(t_ns, bool) or not isinstance(t_ns, int | np.integer):
        raise ValueError(f"t_ns must be an int (monotonic nanoseconds), got {t_ns!r}")
    return int(t_ns)


def _ms_to_samples(ms: Any, what: str) -> int:
    if (
        isinstance(ms, bool)
        or not isinstance(ms, int | float | np.integer | np.floating)
        or not np.isfinite(ms)
    ):
        raise ValueError(f"{what} must be a finite number of ms, got {ms!r}")
    return round(float(ms) * OUT_RATE / 1000)


def _json_size(obj: Any) -> int:
    text = json.dumps(obj, separators=_JSON_SEPARATORS, ensure_ascii=False, default=repr)
    return len(text.encode("utf-8")) if not text.isascii() else len(text)
