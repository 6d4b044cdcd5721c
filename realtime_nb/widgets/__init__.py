"""Notebook widgets: a WebRTC call held by the page (``Call``), microphone, player, tuning panel,
live timeline, a dashboard of those four, and the raw-vs-processed ``WaveformCompare``.

``Mic``, ``Player`` and ``LiveTimeline`` are anywidgets (ES modules beside the Python, no build
step) exchanging binary comm buffers or compact row batches with the kernel; ``TuningPanel`` and
``Dashboard`` are plain ipywidgets. Each takes a session typed as ``SessionLike``: exactly what the
widgets use of a `realtime_nb.client.RealtimeSession`.
"""

from realtime_nb.client.items import truncate_point
from realtime_nb.protocol import PCM_RATE
from realtime_nb.widgets._audio_comm import MicError
from realtime_nb.widgets._session import SessionLike
from realtime_nb.widgets.call import Call
from realtime_nb.widgets.call_dashboard import CallDashboard, call_dashboard
from realtime_nb.widgets.call_state import CallFailed, CallStateError
from realtime_nb.widgets.clips import ClipSource, decode_clip, push_clip
from realtime_nb.widgets.dashboard import Dashboard, dashboard
from realtime_nb.widgets.live_timeline import LiveTimeline
from realtime_nb.widgets.mic import Mic
from realtime_nb.widgets.panel import TuningPanel
from realtime_nb.widgets.panel_logic import PanelValues
from realtime_nb.widgets.player import Player
from realtime_nb.widgets.waveform import ItemError, WaveformCompare

__all__ = [
    "PCM_RATE",
    "Call",
    "CallDashboard",
    "CallFailed",
    "CallStateError",
    "ClipSource",
    "Dashboard",
    "ItemError",
    "LiveTimeline",
    "Mic",
    "MicError",
    "PanelValues",
    "Player",
    "SessionLike",
    "TuningPanel",
    "WaveformCompare",
    "call_dashboard",
    "dashboard",
    "decode_clip",
    "push_clip",
    "truncate_point",
]
