"""`SessionLike`: what the widgets use of a session, and nothing more.

`realtime_nb.client.RealtimeSession` satisfies it (a unit test checks). Naming the surface keeps the
widgets honest about their dependency on the client and lets a test hand them a small stand-in.
Stand-ins may implement only the part a widget calls (a Player's fake needs ``on`` and ``truncate``):
the widgets look members up where a stand-in might lack them (``on``, ``log``, ``closed``) and fall
back (iterating the session for events, recording the microphone locally, never greying out).

Who uses what:

=====================================  ==============================================================
member                                 used by
=====================================  ==============================================================
``log``                                LiveTimeline, WaveformCompare, Mic (what it sent, per item)
``dialect``, ``config``                TuningPanel (parameter names, the server's last answer),
                                       Dashboard (status line, with ``session_id``)
``active_response_id``                 Mic (push-to-talk barge-in cancels only a running response)
``closed``, ``close_code``,            every widget (a dropped connection greys it out), via
``close_reason``, ``on``               ``_disconnect.on_disconnect``; ``on`` also feeds Player and
                                       TuningPanel their events (``_audio_comm.subscribe``)
``append_audio``, ``commit``,          Mic, ClipSource
``create_response``,
``cancel_response``
``truncate``                           Player (barge-in: where the listener stopped hearing)
``update_session``                     TuningPanel
``retrieve``                           WaveformCompare (the processed copy of an item)
=====================================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from realtime_nb.protocol import Dialect, SessionConfig
    from realtime_nb.timeline import EventLog

__all__ = ["SessionLike"]


@runtime_checkable
class SessionLike(Protocol):
    """The part of a Realtime session the widgets use (see the module docstring)."""

    log: EventLog
    config: SessionConfig | None
    session_id: str | None
    active_response_id: str | None
    close_code: int | None
    close_reason: str | None

    @property
    def dialect(self) -> Dialect: ...

    @property
    def closed(self) -> bool: ...

    def on(self, event_type: str, callback: Callable[[dict[str, Any]], Any]) -> Callable[[], None]: ...

    async def append_audio(self, samples: np.ndarray, rate: int) -> Any: ...

    async def commit(self) -> Any: ...

    async def create_response(self) -> Any: ...

    async def cancel_response(self) -> Any: ...

    async def truncate(self, item_id: str, audio_end_ms: float, content_index: int = 0) -> Any: ...

    async def update_session(
        self, config: SessionConfig | None = None, *, with_turn_detection: bool = False
    ) -> SessionConfig: ...

    async def retrieve(self, item_id: str) -> dict[str, Any]: ...
