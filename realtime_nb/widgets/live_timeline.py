"""``LiveTimeline``: a session's events drawn as they arrive, cheaply enough to leave running.

The kernel does little per event: the EventLog subscription only notes the newest row and arms one
timer; at most `max_hz` times a second, and only when rows were added, the new rows go to the page in
one compact message. The page (``live_timeline.js``, a canvas, no build step) keeps its copy and
redraws on arrival. Clicking an event asks the kernel for its JSON, which the EventLog rebuilds
(appends and deltas keep no payload). Lanes and the streaming types drawn as ticks are the
timeline's own (`realtime_nb.timeline.lanes.LANES`, `realtime_nb.timeline.STREAMING_TYPES`). Pure
parts (`compact_rows`, `Throttle`) are testable without a page.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from pathlib import Path
from typing import Any

import anywidget
import pandas as pd
import traitlets

from realtime_nb.timeline import EventLog
from realtime_nb.timeline.fields import STREAMING_TYPES
from realtime_nb.timeline.lanes import LANES, lane_of, lanes_of
from realtime_nb.widgets._audio_comm import _current_loop
from realtime_nb.widgets._disconnect import on_disconnect, release_listeners
from realtime_nb.widgets._session import SessionLike
from realtime_nb.widgets.esm import page_module

__all__ = ["LiveTimeline", "Throttle", "compact_frame", "compact_rows"]

_HISTORY_CHUNK = 20000  # rows per message when a new view asks for everything so far


def _empty() -> dict[str, list[Any]]:
    # "name" (the event type), not "type": the message itself is {"type": "rows", ...}.
    return {"seq": [], "t": [], "lane": [], "sent": [], "bulk": [], "name": []}


def compact_rows(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows of `EventLog.rows_since` -> the columns the page draws (times rounded to 0.1 ms)."""
    out = _empty()
    for row in rows:
        kind = row["type"] or ""
        out["seq"].append(row["seq"])
        out["t"].append(round(row["t"], 4))
        out["lane"].append(lane_of(kind))
        out["sent"].append(1 if row["direction"] == "sent" else 0)
        out["bulk"].append(1 if kind in STREAMING_TYPES else 0)
        out["name"].append(kind)
    return out


def compact_frame(frame: pd.DataFrame) -> dict[str, list[Any]]:
    """The same columns from a whole `EventLog.frame()` (vectorised: a late view of a long session)."""
    if frame.empty:
        return _empty()
    kinds = frame["type"].astype(object).where(frame["type"].notna(), "")
    return {
        "seq": frame["seq"].astype(int).tolist(),
        "t": frame["t"].round(4).tolist(),
        "lane": lanes_of(frame["type"]).tolist(),
        "sent": (frame["direction"].astype(str) == "sent").astype(int).tolist(),
        "bulk": kinds.isin(STREAMING_TYPES).astype(int).tolist(),
        "name": kinds.tolist(),
    }


class Throttle:
    """At most one push per `1 / max_hz` seconds, and only when rows were added since the last."""

    def __init__(self, max_hz: float) -> None:
        if (
            isinstance(max_hz, bool)
            or not isinstance(max_hz, int | float)
            or not (math.isfinite(max_hz) and max_hz > 0)
        ):
            raise ValueError(f"max_hz must be a positive number of redraws per second, got {max_hz!r}")
        self.interval = 1.0 / max_hz
        self.latest = -1  # newest seq noted
        self.sent_upto = -1  # newest seq pushed
        self.last_push = -math.inf

    @property
    def pending(self) -> bool:
        return self.latest > self.sent_upto

    def note(self, seq: int) -> None:
        if seq > self.latest:
            self.latest = seq

    def next_push_at(self) -> float | None:
        """When the next push may happen, or None when there is nothing new."""
        return self.last_push + self.interval if self.pending else None

    def pushed(self, now: float, upto: int) -> None:
        self.last_push = now
        self.sent_upto = max(self.sent_upto, upto)


class LiveTimeline(anywidget.AnyWidget):
    """Follow a session's EventLog live: the timeline's lanes (`realtime_nb.timeline.lanes`) on one
    time axis; click an event to see its JSON.

    >>> tl = LiveTimeline(session)    # or LiveTimeline(session.log); display it
    >>> tl.frame()                    # the log's DataFrame

    `max_hz`: pushes (and so page redraws) per second at most. `window_s`: seconds shown while
    following the newest events (uncheck "follow" in the page to zoom and pan).
    """

    _esm = page_module("live_timeline.js")
    _css = Path(__file__).with_name("live_timeline.css")

    lanes = traitlets.List(list(LANES)).tag(sync=True)
    window_s = traitlets.Float(30.0).tag(sync=True)
    # Written by the kernel: the clicked event and its JSON, and why the session is gone (if it is).
    selected = traitlets.Int(-1).tag(sync=True)
    selected_json = traitlets.Unicode("").tag(sync=True)
    disconnected = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self, source: SessionLike | EventLog, *, max_hz: float = 4.0, window_s: float = 30.0, **kwargs: Any
    ) -> None:
        event_log = getattr(source, "log", source)
        if not (hasattr(event_log, "subscribe") and hasattr(event_log, "rows_since")):
            raise TypeError(
                f"LiveTimeline needs a RealtimeSession or an EventLog, got {type(source).__name__}"
            )
        if not window_s > 0:
            raise ValueError(f"window_s must be positive, got {window_s!r}")
        super().__init__(window_s=float(window_s), **kwargs)
        self._event_log = event_log
        self._throttle = Throttle(max_hz)
        self._loop = _current_loop()
        self._loop_thread: int | None = None
        self._timer: Any = None
        self._armed = False
        self.pushes = 0
        self.rows_pushed = 0
        self.on_msg(self._on_front_end_msg)
        self._offs = [event_log.subscribe(self._on_row)]
        if event_log is not source:
            self._offs.append(on_disconnect(source, self.set_disconnected))
        # Rows recorded before now reach a view when it renders (it asks for the history).
        self._throttle.pushed(-math.inf, len(event_log) - 1)
        self._throttle.note(len(event_log) - 1)

    # ------------------------------------------------------------------------------- public API
    @property
    def event_log(self) -> EventLog:
        return self._event_log

    def frame(self) -> pd.DataFrame:
        """Every recorded event, one row each (`EventLog.frame()`); readable after a disconnect."""
        return self._event_log.frame()

    def event_json(self, seq: int) -> dict[str, Any]:
        """The recorded event with row `seq`, rebuilt by the log (audio replaced by a placeholder)."""
        return self._event_log.event_json(seq)

    def select(self, seq: int) -> dict[str, Any]:
        """Show event `seq`'s JSON in the page (what a click does); returns it."""
        event = self.event_json(seq)
        self.selected_json = json.dumps(event, indent=2, ensure_ascii=False)
        self.selected = seq
        return event

    def flush(self) -> None:
        """Push new rows now, regardless of the throttle."""
        self._push()

    def set_disconnected(self, reason: str) -> None:
        """Show why the session is gone; the recorded events stay drawn and clickable."""
        self.disconnected = reason or "disconnected"
        self._push()  # the connection_closed row, without waiting for the timer

    def close(self) -> None:
        release_listeners(self)
        super().close()

    # ------------------------------------------------------------------------------- internals
    def _on_row(self, seq: int) -> None:
        """EventLog subscriber: runs for every event, so it only notes and maybe arms a timer."""
        self._throttle.note(seq)
        if self._armed:
            return
        self._armed = True
        if self._loop_thread is None or threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self._arm)
        else:
            self._arm()

    def _arm(self) -> None:
        self._loop_thread = threading.get_ident()
        due = self._throttle.next_push_at()
        if due is None:
            self._armed = False
            return
        self._timer = self._loop.call_at(max(due, self._loop.time()), self._push)

    def _push(self) -> None:
        self._timer = None
        self._armed = False
        rows = self._event_log.rows_since(self._throttle.sent_upto)
        now = self._loop.time()
        if not rows:
            return
        self.send({"type": "rows", **compact_rows(rows)})
        self.pushes += 1
        self.rows_pushed += len(rows)
        self._throttle.pushed(now, rows[-1]["seq"])
        if self._throttle.pending:  # rows noted while this push was built
            self._armed = True
            self._arm()

    def _send_history(self) -> None:
        """Everything so far, for a view that just rendered (each view starts empty)."""
        frame = self._event_log.frame()
        cols = compact_frame(frame)
        n = len(cols["seq"])
        if n == 0:
            self.send({"type": "rows", "reset": True, **cols})
        for start in range(0, n, _HISTORY_CHUNK):
            part = {k: v[start : start + _HISTORY_CHUNK] for k, v in cols.items()}
            self.send({"type": "rows", "reset": start == 0, **part})
        if n:
            self._throttle.pushed(self._loop.time(), cols["seq"][-1])

    def _on_front_end_msg(self, _widget: Any, content: Any, _buffers: list[Any]) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "hello":
            self._send_history()
        elif kind == "select":
            seq = content.get("seq")
            if isinstance(seq, int) and not isinstance(seq, bool):
                with contextlib.suppress(IndexError):  # a row of another log (a stale page)
                    self.select(seq)
