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

Recorded events are read back in two forms: `event_json(seq)` is the event as it was on the wire (for
display), `canonical_event(seq)` the same event in the canonical (GA) vocabulary, which is what every
reader above the log parses. `session_config(seq)` is the session configuration in force at a row
(`realtime_nb.timeline.session_state` has the precedence rule). How an event becomes a row, and where
its audio goes, is `realtime_nb.timeline.recorder`.

A WebRTC session's audio travels on media tracks, not in events: the client hands it to
`record_track_audio` (no row is added), and `sent_audio`, `response_audio`, `item_audio`, `turns()`
and `responses()` read it where a WebSocket session's appends and deltas would be
(`realtime_nb.timeline.track_audio`).
"""

from __future__ import annotations

import html
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from realtime_nb.protocol import PCM_RATE, Dialect, OrderViolation, SessionConfig, check_order
from realtime_nb.timeline import analysis, persist
from realtime_nb.timeline.columns import DIALECTS, DIRECTIONS
from realtime_nb.timeline.fields import FAMILIES
from realtime_nb.timeline.recorder import PROBLEM_KINDS, Recorder
from realtime_nb.timeline.track_audio import DIRECTIONS as TRACK_DIRECTIONS
from realtime_nb.timeline.transcripts import transcripts as transcripts_table

__all__ = ["PROBLEM_KINDS", "EventLog"]

_DIRECTION_CODE = {name: i for i, name in enumerate(DIRECTIONS)}
_DIALECT_CODE = {name: i for i, name in enumerate(DIALECTS)}


class EventLog:
    """Every event of a session as rows, with the audio kept as PCM beside them.

    `start_ns` fixes the monotonic origin of the `t` column (default: the first recorded event);
    `wall_start_ns` the wall time of that origin (default: `time.time_ns()` at the first event).
    """

    def __init__(self, *, start_ns: int | None = None, wall_start_ns: int | None = None) -> None:
        self._rec = Recorder(start_ns, wall_start_ns)
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
            self._rec.begin(t_ns, time.time_ns())
            seq = self._rec.record(d_code, l_code, event, t_ns, wire_bytes)
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
            self._rec.begin(t_ns, time.time_ns())
            seq = self._rec.problem(d_code, l_code, kind, str(message), raw, t_ns, extra)
        self._notify(seq)
        return seq

    def record_track_audio(
        self,
        direction: str,
        samples: np.ndarray,
        *,
        t_ns: int | None = None,
        response_id: str | None = None,
        peak: int | None = None,
    ) -> None:
        """Keep audio that travelled on a WebRTC media track, where no event carries it.

        `samples`: int16 mono at 24 kHz (`protocol.PCM_RATE`), one chunk (a 20 ms frame) as it was
        sent or received at monotonic `t_ns`. ``"sent"`` chunks extend the outgoing track's stream,
        which is the input audio clock (`sent_audio`); ``"received"`` chunks go to `response_id`'s
        audio (None: audible audio outside any response, kept apart from every response).
        `peak`: the chunk's largest absolute sample measured before resampling (default: measured
        here), from which `turns()` / `responses()` date the first (audible) audio of a response.
        """
        if direction not in TRACK_DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(TRACK_DIRECTIONS)}, got {direction!r}")
        pcm = np.asarray(samples)
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise ValueError(f"track audio must be 1-D int16 at 24 kHz, got {pcm.dtype} {pcm.shape}")
        if response_id is not None and (direction == "sent" or not isinstance(response_id, str)):
            raise ValueError("response_id names a response for received audio only (a string)")
        if peak is None:
            peak = int(np.abs(pcm.astype(np.int32)).max()) if pcm.size else 0
        t_ns = time.monotonic_ns() if t_ns is None else _check_ns(t_ns)
        with self._lock:
            self._rec.begin(t_ns, time.time_ns())
            self._rec.track.add(direction, pcm, t_ns, response_id, int(peak))

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
            rec = self._rec
            n = len(rec.cols)
            start, wall = rec.start_ns or 0, rec.wall_start_ns or 0
            return [rec.cols.row(i, start, wall) for i in range(max(seq + 1, 0), n)]

    # --- tables ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._rec.cols)

    def frame(self) -> pd.DataFrame:
        """One row per event; columns and dtypes as in the module docstring."""
        with self._lock:
            return self._rec.cols.frame(self._rec.start_ns or 0, self._rec.wall_start_ns or 0)

    def turns(self, *, audible_dbfs: float = -40.0) -> pd.DataFrame:
        """One row per user turn with its latencies (see `realtime_nb.timeline.analysis`).
        A response audio delta counts as audible when its peak reaches `audible_dbfs`."""
        with self._lock:
            return analysis.turns(self._rec, audible_dbfs=audible_dbfs)

    def responses(self) -> pd.DataFrame:
        """One row per response (see `realtime_nb.timeline.analysis`)."""
        with self._lock:
            return analysis.responses(self._rec)

    def transcripts(self) -> pd.DataFrame:
        """One row per committed input item: its audio span, the wall-clock time from the turn's end
        to the first transcription delta and to completion, and the text (see
        `realtime_nb.timeline.transcripts`)."""
        with self._lock:
            return transcripts_table(self._rec)

    # --- events and the session --------------------------------------------------------------

    def event_json(self, seq: int) -> dict[str, Any]:
        """The recorded event as it was on the wire, as a JSON-able dict (audio replaced by a
        placeholder, secrets redacted): what a person inspecting the protocol wants to see."""
        with self._lock:
            return self._rec.wire_event(self._check_seq(seq))

    def canonical_event(self, seq: int) -> dict[str, Any]:
        """The recorded event in the canonical (GA) vocabulary, as a JSON-able dict: what code reads
        (the wire type stays in the frame's ``wire_type`` column, the dialect in ``dialect``)."""
        with self._lock:
            return self._rec.canonical_event(self._check_seq(seq))

    def session_config(self, seq: int | None = None) -> SessionConfig | None:
        """The session configuration in force once row `seq` was recorded (default: now), or None
        before any session event. What the server confirmed wins over what the client asked for
        (see `realtime_nb.timeline.session_state`)."""
        with self._lock:
            return self._rec.session.at(None if seq is None else self._check_seq(seq))

    def check_order(self) -> list[OrderViolation]:
        """The event-order invariants (`realtime_nb.protocol.check_order`) the received events break,
        each violation placed at its row's seq; e.g. on a session recorded against the service."""
        with self._lock:
            rec = self._rec
            cols = rec.cols
            received = [
                seq
                for seq in range(len(cols))
                if DIRECTIONS[cols.direction[seq]] == "received" and FAMILIES[cols.family[seq]] != "problem"
            ]
            dialects = {DIALECTS[cols.dialect[seq]] for seq in received}
            if len(dialects) > 1:
                raise ValueError(f"the log holds received events of both dialects ({sorted(dialects)})")
            events = [rec.payload(seq) for seq in received]
        return check_order(events, dialects.pop() if dialects else Dialect.GA, positions=received)

    def _check_seq(self, seq: Any) -> int:
        if type(seq) is not int or not 0 <= seq < len(self._rec.cols):
            raise IndexError(f"no row with seq {seq!r} (the log has {len(self._rec.cols)} rows)")
        return seq

    # --- audio -------------------------------------------------------------------------------

    def sent_audio(self, start_ms: float | None = None, end_ms: float | None = None) -> np.ndarray:
        """Appended input audio, int16 at 24 kHz, on the audio clock (ms since the first append);
        zeros wherever nothing was appended. Defaults: the whole stream.

        Over WebRTC (the log holds outgoing track audio and no appends): the outgoing track, every
        frame from the first one, which is the peer's audio clock (`track_audio` says how exact)."""
        with self._lock:
            track = self._rec.track
            use_track = track.sent_end > 0 and self._rec.input.end == 0
            start = 0 if start_ms is None else _ms_to_samples(start_ms, "start_ms")
            end = track.sent_end if use_track else self._rec.input.end
            stop = end if end_ms is None else _ms_to_samples(end_ms, "end_ms")
            if stop < start:
                raise ValueError(f"end_ms ({end_ms}) is before start_ms ({start_ms})")
            return track.sent_window(start, stop) if use_track else self._rec.input.window(start, stop)

    def response_audio(self, response_or_item_id: str) -> np.ndarray:
        """All output audio of a response (or of one output item), int16 at 24 kHz.

        Over WebRTC (no audio deltas): the incoming track's audio attributed to the response, by
        response id only (the track does not say which output item a frame belongs to)."""
        with self._lock:
            rec = self._rec
            parts = [
                seg.pcm()
                for seg in rec.response_audio.segments
                if response_or_item_id in (seg.key, rec.cols.id_at("response_id", seg.seq))
            ]
            if (
                not parts
                and isinstance(response_or_item_id, str)
                and rec.track.has_response(response_or_item_id)
            ):
                parts = [rec.track.response_pcm(response_or_item_id)]
            if not parts:
                raise KeyError(f"no response audio recorded for {response_or_item_id!r}")
            return np.concatenate(parts)

    def retrieved_audio(self, item_id: str) -> np.ndarray:
        """Audio of the latest `conversation.item.retrieved` of `item_id` (the service's processed copy)."""
        with self._lock:
            if not self._rec.retrieved.has(item_id):
                raise KeyError(f"no retrieved audio for item {item_id!r} (send conversation.item.retrieve)")
            return self._rec.retrieved.pcm(item_id, last_event_only=True)

    def item_audio(self, item_id: str) -> np.ndarray:
        """Audio of a user item: the client-created one (`conversation.item.create`), or else the
        appended audio over a committed item's span (see `item_span`)."""
        with self._lock:
            key = self._rec.item_alias.get(item_id, item_id)
            if self._rec.items.has(key):
                return self._rec.items.pcm(key, last_event_only=True)
        start, end = self.item_span(item_id)
        return self.sent_audio(start, end)

    def item_span(self, item_id: str) -> tuple[float, float]:
        """(audio_start_ms, audio_end_ms) of a committed input item on the audio clock: as reported by
        VAD events, or for a manual commit the buffer span the log computed from the appends."""
        with self._lock:
            span = analysis.item_span(self._rec, item_id)
        if span is None:
            raise KeyError(f"no audio-clock span known for item {item_id!r}")
        return span

    # --- persistence and display -------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the whole log (rows and audio) to one zip file; returns its path."""
        with self._lock:
            return persist.save(self._rec, Path(path))

    @classmethod
    def load(cls, path: str | Path) -> EventLog:
        """Read a file written by `save` (raises `LogFormatError` for unreadable or newer files)."""
        log = cls()
        log._rec = persist.load(Path(path))
        return log

    def __repr__(self) -> str:
        return f"EventLog({len(self)} events, {self._duration_s():.1f} s)"

    def _duration_s(self) -> float:
        if not len(self._rec.cols):
            return 0.0
        t = np.frombuffer(self._rec.cols.t_ns, np.int64)
        return float(t.max() - t.min()) / 1e9

    def _repr_html_(self) -> str:
        with self._lock:
            rec = self._rec
            n = len(rec.cols)
            counts = np.bincount(np.frombuffer(rec.cols.family, np.int8), minlength=len(FAMILIES))
            turns = analysis.turns(rec) if n else None
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
            f"{html.escape(headline)}, {rec.input.end / PCM_RATE:.1f} s of input audio"
            f"<table><tr><th>family</th><th>events</th></tr>{rows}</table></div>"
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
    return round(float(ms) * PCM_RATE / 1000)
