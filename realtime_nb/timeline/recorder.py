"""`Recorder`: the data of one log (rows, audio stores, decoding state) and how an event becomes a row.

`EventLog` is the public face (locking, subscribers, tables, audio getters); this module holds what
it records into, so `persist` can save and load a log's data without knowing the `EventLog` class.

Two forms of a recorded event:

* the **wire** form (`wire_event`): the event as it was sent or received, base64 audio replaced by a
  placeholder and secrets redacted. This is what a person inspecting the protocol wants to see.
* the **canonical** form (`canonical_event`, `payload`): the same event in the GA vocabulary
  (`realtime_nb.protocol.to_canonical`), which is what every reader above the log parses, so none
  of them knows a dialect's shapes. The wire type and the dialect stay in their own columns.

Base64 audio never stays in a row: appends go to the input stream (on the audio clock), output audio
deltas to a per-item/response store, `conversation.item.retrieved` audio to a per-item store and
client-created audio items to theirs. Appends and deltas keep no payload at all: `wire_event`
rebuilds them from the columns.
"""

from __future__ import annotations

import binascii
import json
from typing import Any

from realtime_nb.protocol import AUDIO_RATES, Dialect, canonical_type, to_canonical
from realtime_nb.protocol.dialect import PREVIEW_TRANSCRIPTION_SESSION
from realtime_nb.protocol.formats import SAMPLE_BYTES
from realtime_nb.protocol.redaction import redact
from realtime_nb.timeline.columns import DIALECTS, Columns, Shape
from realtime_nb.timeline.fields import (
    APPEND_TYPE,
    AUDIO_DELTA_TYPE,
    FAMILIES,
    TEXT_DELTA_TYPES,
    clean_payload,
    extract,
    family_of,
)
from realtime_nb.timeline.session_state import (
    SESSION_EVENTS,
    SESSION_REPORTS,
    SESSION_REQUEST,
    SessionHistory,
    response_output_format,
)
from realtime_nb.timeline.stores import AudioStore, InputStream
from realtime_nb.timeline.track_audio import TrackAudio

PROBLEM_KINDS: frozenset[str] = frozenset({"protocol_error", "unknown_event", "connection_closed"})
_FAMILY_CODE = {name: i for i, name in enumerate(FAMILIES)}
_MS_PER_BYTE = {fmt: 1000 / (SAMPLE_BYTES[fmt] * rate) for fmt, rate in AUDIO_RATES.items()}
_SCALARS = (str, int, float, bool, type(None))
_STR_KEYS = frozenset({"event_id", "response_id", "item_id", "call_id", "previous_item_id"})
_INT_KEYS = frozenset({"output_index", "content_index"})
_RAW_LIMIT = 4096  # characters of a malformed frame kept for the bug report
_COMPACT_KINDS = {APPEND_TYPE: "append", AUDIO_DELTA_TYPE: "audio"} | dict.fromkeys(TEXT_DELTA_TYPES, "text")
_JSON_SEPARATORS = (",", ":")
_STORE_NAMES = ("input", "response", "retrieved", "items")


def audio_placeholder(ms: float) -> str:
    """What stands in a payload where base64 audio was."""
    return f"<audio stripped: {ms:.3f} ms>"


class _TypeInfo:
    __slots__ = ("canonical", "compact", "family")

    def __init__(self, canonical: str) -> None:
        self.canonical = canonical
        self.family = _FAMILY_CODE[family_of(canonical)]
        self.compact = _COMPACT_KINDS.get(canonical)


class Recorder:
    """The rows and audio of one log, and the state needed to decode what comes next.

    Not thread-safe on its own: `EventLog` calls it under its lock. Direction and dialect arrive as
    codes (indices into `columns.DIRECTIONS` / `DIALECTS`), already checked by the caller.
    """

    def __init__(self, start_ns: int | None = None, wall_start_ns: int | None = None) -> None:
        self.cols = Columns()
        self.start_ns = start_ns
        self.wall_start_ns = wall_start_ns
        self.input = InputStream()
        self.response_audio = AudioStore()
        self.retrieved = AudioStore()
        self.items = AudioStore()
        self.track = TrackAudio()  # WebRTC media-track audio (no row carries it)
        self.item_alias: dict[str, str] = {}  # server-assigned item id -> key of unnamed created audio
        self.unnamed_items: list[str] = []
        self.committed: set[str] = set()
        self.session = SessionHistory()
        self.create_format: str | None = None
        self.response_format: dict[str, str] = {}
        self.shapes: dict[tuple[str, ...], Shape] = {}
        self._types: dict[tuple[str, int], _TypeInfo] = {}

    def stores(self) -> dict[str, AudioStore]:
        """The audio stores by the name `persist` files them under."""
        stores = (self.input, self.response_audio, self.retrieved, self.items)
        return dict(zip(_STORE_NAMES, stores, strict=True))

    # --- recording ---------------------------------------------------------------------------

    def begin(self, t_ns: int, now_wall_ns: int) -> None:
        """Fix the clock origins at the first row (if the log was not given them)."""
        if self.start_ns is None:
            self.start_ns = t_ns
        if self.wall_start_ns is None:
            self.wall_start_ns = now_wall_ns - (t_ns - self.start_ns)

    def record(self, d: int, dl: int, event: Any, t_ns: int, wire_bytes: int | None) -> int:
        """One wire event (any value a peer may send); returns its row's seq."""
        if type(event) is dict and type(event.get("type")) is str:
            info = self._type_info(event["type"], dl)
            seq = None
            if info.compact is not None:
                seq = self._record_compact(info, d, dl, event, t_ns, wire_bytes)
            return seq if seq is not None else self._record_event(info, d, dl, event, t_ns, wire_bytes)
        if type(event) is dict:
            message = (
                "event has no type"
                if "type" not in event
                else f"event type is not a string ({type(event['type']).__name__})"
            )
            info = self._type_info("realtime_nb.protocol_error", dl)
            return self._record_event(info, d, dl, event, t_ns, wire_bytes, issue=message)
        message = f"event is not a JSON object (got {type(event).__name__})"
        return self.problem(d, dl, "protocol_error", message, event, t_ns, {})

    def _type_info(self, wire: str, dialect_code: int) -> _TypeInfo:
        info = self._types.get((wire, dialect_code))
        if info is None:
            canonical = canonical_type(wire, Dialect(DIALECTS[dialect_code]))
            info = self._types[(wire, dialect_code)] = _TypeInfo(canonical)
        return info

    def shape(self, keys: tuple[str, ...]) -> Shape:
        shape = self.shapes.get(keys)
        if shape is None:
            shape = self.shapes[keys] = Shape(keys)
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
                fmt = self.session.input_format
            else:
                response_id = ids.get("response_id")
                fmt = self.response_format.get(response_id, self.session.output_format)  # type: ignore[arg-type]
            if len(raw) % SAMPLE_BYTES[fmt]:
                return None
            audio_ms = len(raw) * _MS_PER_BYTE[fmt]
        shape = self.shape(tuple(event))
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
        seq = self.cols.append(
            t_ns, d, dl, info.family, info.canonical, event["type"],
            (ids.get("event_id"), ids.get("item_id"), ids.get("response_id")),
            (ints.get("output_index"), ints.get("content_index"), None, None, wire_bytes),
            audio_ms, sparse, payload,
        )  # fmt: skip
        if info.compact == "append":
            self.input.add(seq, None, fmt, raw)
        elif info.compact == "audio":
            key = ids.get("item_id") or ids.get("response_id")
            self.response_audio.add(seq, key, fmt, raw)
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
        seq = len(self.cols)
        canonical = info.canonical
        issues: list[str] = [issue] if issue else []
        audio: _AudioCollector | None = None
        try:
            fields, more = extract(event, canonical)
            issues += more
            audio = _AudioCollector(self, seq, canonical, fields, issues)
            payload = clean_payload(event, audio.take, issues, audio_delta=canonical == AUDIO_DELTA_TYPE)
            if wire_bytes is None:
                wire_bytes = _json_size(payload) + audio.size_delta
            self.follow(seq, canonical, event, Dialect(DIALECTS[dl]), fields, issues)
        except Exception as exc:  # a bug here must not cost the row: keep what is known
            fields, payload = {}, {"type": event.get("type") if type(event.get("type")) is str else None}
            issues.append(f"internal error while reading the event: {exc!r}")
        fields["issue"] = "; ".join(issues) or None
        wire = event.get("type") if type(event.get("type")) is str else None
        self.cols.append(
            t_ns, d, dl, info.family, canonical, wire,
            (fields.get("event_id"), fields.get("item_id"), fields.get("response_id")),
            (fields.get("output_index"), fields.get("content_index"), fields.get("audio_start_ms"),
             fields.get("audio_end_ms"), wire_bytes),
            audio.total_ms if audio and audio.count else float("nan"), fields, payload,
        )  # fmt: skip
        if audio is not None:
            audio.flush()
        return seq

    def follow(
        self, seq: int, canonical: str, event: dict, dialect: Dialect, fields: dict, issues: list[str]
    ) -> None:
        """Keep the state needed to decode audio that comes later (also replayed by `load`)."""
        # preview transcription sessions say their kind by the event's name, not in the session
        kind = "transcription" if event.get("type") in PREVIEW_TRANSCRIPTION_SESSION else None
        if canonical == SESSION_REQUEST:
            self.session.request(seq, event.get("event_id"), event.get("session"), dialect, kind)
        elif canonical in SESSION_REPORTS:
            answer = canonical == "session.updated"
            self.session.report(seq, answer, event.get("session"), dialect, issues, kind)
        elif canonical == "error" and fields.get("error_event_id"):
            self.session.refusal(seq, fields["error_event_id"])
        elif canonical == "response.create":
            self.create_format = response_output_format(event.get("response"), dialect)
        elif canonical == "response.created" and fields.get("response_id"):
            fmt = response_output_format(event.get("response"), dialect) or self.create_format
            self.response_format[fields["response_id"]] = fmt or self.session.output_format
            self.create_format = None
        elif canonical == "input_audio_buffer.committed" and fields.get("item_id"):
            self.committed.add(fields["item_id"])
        elif canonical == "conversation.item.added" and self.unnamed_items:
            item = event.get("item")
            item_id = fields.get("item_id")
            known = item_id in self.committed or self.items.has(item_id)
            if item_id and not known and _is_audio_message(item):
                self.item_alias[item_id] = self.unnamed_items.pop(0)

    def replay_session(self) -> None:
        """Rebuild the session history from the recorded rows (after `persist.load`)."""
        self.session = SessionHistory()
        cols = self.cols
        for seq in sorted(s for name in (*SESSION_EVENTS, "error") for s in cols.seqs_of(name).tolist()):
            payload = cols.payload[seq]
            if isinstance(payload, dict):
                fields = {"error_event_id": cols.id_at("error_event_id", seq)}
                dialect = Dialect(DIALECTS[cols.dialect[seq]])
                self.follow(seq, cols.type_at(seq) or "", payload, dialect, fields, [])

    def problem(
        self, d: int, dl: int, kind: str, message: str, raw: Any, t_ns: int, extra: dict[str, Any]
    ) -> int:
        """A row for something that is not a well-formed event (see `EventLog.record_problem`)."""
        if isinstance(raw, bytes | bytearray):
            raw_text: str | None = bytes(raw[:_RAW_LIMIT]).decode("utf-8", "replace")
            total = len(raw)
        elif raw is None:
            raw_text, total = None, 0
        else:
            raw_text = raw if isinstance(raw, str) else repr(raw)
            total = len(raw_text)
            raw_text = raw_text[:_RAW_LIMIT]
        payload: dict[str, Any] = {"kind": kind, "message": redact(message), **extra}
        if raw_text is not None:
            payload["raw"] = redact(raw_text)
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
        return self.cols.append(
            t_ns, d, dl, _FAMILY_CODE["problem"], name, wire or name, (None, None, None),
            (None, None, None, None, size), float("nan"), sparse, payload,
        )  # fmt: skip

    # --- reading events back -----------------------------------------------------------------

    def wire_event(self, seq: int) -> dict[str, Any]:
        """The recorded event as on the wire, as a fresh JSON-able dict (see the module docstring)."""
        payload = self.cols.payload[seq]
        if isinstance(payload, dict):
            return json.loads(json.dumps(payload))
        shape, extras = (payload, ()) if isinstance(payload, Shape) else payload
        return self._rebuild(seq, shape, iter(extras))

    def canonical_event(self, seq: int) -> dict[str, Any]:
        """The recorded event in the canonical (GA) vocabulary, as a fresh JSON-able dict."""
        return json.loads(json.dumps(self.payload(seq)))

    def payload(self, seq: int) -> dict[str, Any]:
        """The canonical event of row `seq` for readers inside the package: shares structure with
        the stored row, so it must not be modified (`canonical_event` is the copy to hand out)."""
        payload = self.cols.payload[seq]
        event = payload if isinstance(payload, dict) else self.wire_event(seq)
        if type(event.get("type")) is not str:  # problems and typeless frames: nothing to translate
            return event
        return to_canonical(event, Dialect(DIALECTS[self.cols.dialect[seq]]))

    def _rebuild(self, seq: int, shape: Shape, extras: Any) -> dict[str, Any]:
        cols = self.cols
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


class _AudioCollector:
    """Routes the audio strings of one general-path event to the right store (see `clean_payload`).
    Chunks reach the stores only once the row exists (`flush`), so a failure loses nothing."""

    def __init__(self, rec: Recorder, seq: int, canonical: str, fields: dict, issues: list[str]) -> None:
        self.rec, self.seq, self.canonical, self.issues = rec, seq, canonical, issues
        self.response_id = fields.get("response_id")
        self.count = 0
        self.total_ms = 0.0
        self.size_delta = 0
        self.pending: list[tuple[AudioStore, str | None, str, bytes]] = []

    def take(self, b64: str, item_id: str | None, part_type: str | None) -> str:
        rec, canonical, session = self.rec, self.canonical, self.rec.session
        try:
            raw = binascii.a2b_base64(b64, strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            self.issues.append(f"audio is not valid base64 ({exc})")
            text = f"<invalid base64 audio stripped: {len(b64)} characters>"
            self.size_delta += len(b64) - len(text)
            return text
        store: AudioStore
        if canonical == AUDIO_DELTA_TYPE:
            store, key = rec.response_audio, item_id or self.response_id
            fmt = rec.response_format.get(self.response_id or "", session.output_format)
        elif canonical == APPEND_TYPE:
            store, key, fmt = rec.input, None, session.input_format
        elif canonical == "conversation.item.retrieved":
            store, key = rec.retrieved, item_id
            fmt = session.input_format if part_type == "input_audio" else session.output_format
        else:  # conversation.item.create, response.create input items, anything unexpected
            store, key = rec.items, item_id
            fmt = session.input_format if part_type in ("input_audio", None) else session.output_format
            if key is None:
                key = f"unnamed:{self.seq}:{len(self.pending)}"
                if canonical == "conversation.item.create":
                    rec.unnamed_items.append(key)
        if len(raw) % SAMPLE_BYTES[fmt]:
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
            fresh = store is self.rec.retrieved or store is self.rec.items
            store.add(self.seq, key, fmt, raw, new_segment=fresh and (id(store), key) not in opened)
            opened.add((id(store), key))


def _is_audio_message(item: Any) -> bool:
    content = item.get("content") if isinstance(item, dict) else None
    return isinstance(content, list) and any(
        isinstance(part, dict) and part.get("type") == "input_audio" for part in content
    )


def _json_size(obj: Any) -> int:
    text = json.dumps(obj, separators=_JSON_SEPARATORS, ensure_ascii=False, default=repr)
    return len(text.encode("utf-8")) if not text.isascii() else len(text)
