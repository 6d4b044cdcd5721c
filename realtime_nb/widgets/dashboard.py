"""``dashboard(session)``: microphone, player, tuning panel and live timeline of one session.

A plain ipywidgets VBox holding the four widgets, each attached to the session on its own, plus a
status line. The parts stay reachable (``.mic``, ``.player``, ``.panel``, ``.timeline``) so a
notebook can read their figures or drive them from code.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

from realtime_nb.widgets._disconnect import on_disconnect
from realtime_nb.widgets._session import SessionLike
from realtime_nb.widgets.live_timeline import LiveTimeline
from realtime_nb.widgets.mic import Mic
from realtime_nb.widgets.panel import TuningPanel
from realtime_nb.widgets.player import Player

__all__ = ["Dashboard", "dashboard"]


class Dashboard(widgets.VBox):
    """Mic, Player, TuningPanel and LiveTimeline of one session, displayed together.

    When the session's connection drops, every part greys out and the status line says why; the
    timeline keeps what was recorded (``.timeline.frame()``).
    """

    def __init__(
        self,
        session: SessionLike,
        *,
        debounce_s: float = 0.3,
        max_hz: float = 4.0,
        window_s: float = 30.0,
        mic_mode: str = "open",
        **kwargs: Any,
    ) -> None:
        self.session = session
        self.mic = Mic(session, mode=mic_mode)
        self.player = Player(session)
        self.panel = TuningPanel(session, debounce_s=debounce_s)
        self.timeline = LiveTimeline(session, max_hz=max_hz, window_s=window_s)
        self.status = widgets.HTML()
        self.disconnected = ""
        # An anywidget's own view ignores DOM classes, so the audio pair greys out through its box
        # (the rule ships in live_timeline.css, which this dashboard always loads).
        self.audio_box = widgets.HBox([self.mic, self.player])
        super().__init__([self.status, self.audio_box, self.panel, self.timeline], **kwargs)
        self._show_status()
        self._off = on_disconnect(session, self.set_disconnected)

    @property
    def parts(self) -> tuple[Mic, Player, TuningPanel, LiveTimeline]:
        return self.mic, self.player, self.panel, self.timeline

    def set_disconnected(self, reason: str) -> None:
        """Grey out every part and show `reason` (each part also notices the drop on its own)."""
        self.disconnected = reason or "disconnected"
        for part in self.parts:
            if not part.disconnected:
                part.set_disconnected(self.disconnected)
        self.audio_box.add_class("rtnb-disconnected")
        self._show_status()

    def _show_status(self) -> None:
        session = self.session
        name = html.escape(type(session).__name__)
        if self.disconnected:
            text = f"<span style='color:#c62828'>⚠ disconnected: {html.escape(self.disconnected)}</span>"
        else:
            ident = html.escape(str(getattr(session, "session_id", "") or ""))
            dialect = html.escape(str(getattr(getattr(session, "dialect", ""), "value", "")))
            text = f"<span style='color:#2e7d32'>● connected</span> {name} {ident} {dialect}"
        self.status.value = f"<b>realtime_nb</b> · {text}"

    def close(self) -> None:
        if hasattr(self, "_off"):  # also runs from __del__ of a half-built widget
            self._off()
            for part in self.parts:
                part.close()
        super().close()


def dashboard(session: SessionLike, **options: Any) -> Dashboard:
    """Mic, Player, TuningPanel and LiveTimeline for `session` in one displayable box.

    `options`: ``debounce_s`` (panel), ``max_hz`` and ``window_s`` (timeline), ``mic_mode``
    (``"open"`` or ``"push_to_talk"``).
    """
    return Dashboard(session, **options)
