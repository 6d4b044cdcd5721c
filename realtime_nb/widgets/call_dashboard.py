"""``call_dashboard(call)``: the Call in place of Mic + Player, with the TuningPanel and LiveTimeline
of its session.

The same composition as `dashboard(session)`: the panel's changes go out as ``session.update`` on the
page's data channel, the timeline follows the call's EventLog (output-buffer events on their own
lane). One dashboard per call: a new call on the same `Call` (after a hangup) has a new session, so
build a new dashboard for it. `WaveformCompare(call.session, item_id)` compares what the page sent
with the service's processed copy of an item.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from realtime_nb.widgets.call import Call
from realtime_nb.widgets.live_timeline import LiveTimeline
from realtime_nb.widgets.panel import TuningPanel

__all__ = ["CallDashboard", "call_dashboard"]


class CallDashboard(widgets.VBox):
    """The Call's page, the TuningPanel and the LiveTimeline of its session (``.call``, ``.panel``,
    ``.timeline``)."""

    def __init__(self, call: Call, *, debounce_s: float = 0.3, max_hz: float = 4.0,
                 window_s: float = 30.0, **kwargs: Any) -> None:
        self.call = call
        self.session = call.session
        self.panel = TuningPanel(call.session, debounce_s=debounce_s)
        self.timeline = LiveTimeline(call.session, max_hz=max_hz, window_s=window_s)
        super().__init__([call.widget, self.panel, self.timeline], **kwargs)


def call_dashboard(call: Call, **options: Any) -> CallDashboard:
    """`call`'s page with a TuningPanel and a LiveTimeline of its session, in one displayable box.

    `options`: ``debounce_s`` (panel), ``max_hz`` and ``window_s`` (timeline).
    """
    if not isinstance(call, Call):
        raise TypeError(f"call_dashboard needs a Call, got {type(call).__name__} (use dashboard(session))")
    return CallDashboard(call, **options)
