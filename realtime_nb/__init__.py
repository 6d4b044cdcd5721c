"""realtime_nb: explore and tune speech-to-speech Realtime API sessions from a notebook.

The public names below resolve lazily (PEP 562): ``import realtime_nb`` stays fast and works without
the optional extras; a name whose extra is missing raises an ImportError that names the extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from realtime_nb._lazy import lazy_getattr
from realtime_nb._version import __version__

if TYPE_CHECKING:
    from realtime_nb.client import (
        ConnectionClosedError,
        Endpoint,
        ProtocolError,
        RealtimeSession,
        ServerError,
        SignallingError,
    )
    from realtime_nb.engine import Engine, start_engine
    from realtime_nb.protocol import (
        ConfigError,
        Dialect,
        OrderViolation,
        SemanticVad,
        ServerVad,
        SessionConfig,
        Transcription,
        check_order,
    )
    from realtime_nb.timeline import (
        EventLog,
        event_table,
        item_levels,
        processed_audio,
        score_turns,
        vad_summary,
    )

_EXPORTS: dict[str, str] = {
    "ConfigError": "realtime_nb.protocol",
    "Dialect": "realtime_nb.protocol",
    "SemanticVad": "realtime_nb.protocol",
    "ServerVad": "realtime_nb.protocol",
    "SessionConfig": "realtime_nb.protocol",
    "Transcription": "realtime_nb.protocol",
    "OrderViolation": "realtime_nb.protocol",
    "check_order": "realtime_nb.protocol",
    "ConnectionClosedError": "realtime_nb.client",
    "Endpoint": "realtime_nb.client",
    "ProtocolError": "realtime_nb.client",
    "RealtimeSession": "realtime_nb.client",
    "ServerError": "realtime_nb.client",
    "SignallingError": "realtime_nb.client",
    "EventLog": "realtime_nb.timeline",
    "event_table": "realtime_nb.timeline",
    "item_levels": "realtime_nb.timeline",
    "processed_audio": "realtime_nb.timeline",
    "score_turns": "realtime_nb.timeline",
    "vad_summary": "realtime_nb.timeline",
    "Engine": "realtime_nb.engine",
    "start_engine": "realtime_nb.engine",
}
_EXTRA_OF = {"realtime_nb.engine": "engine"}

__all__ = [
    "ConfigError",
    "ConnectionClosedError",
    "Dialect",
    "Endpoint",
    "Engine",
    "EventLog",
    "OrderViolation",
    "ProtocolError",
    "RealtimeSession",
    "SemanticVad",
    "ServerError",
    "ServerVad",
    "SessionConfig",
    "SignallingError",
    "Transcription",
    "__version__",
    "check_order",
    "event_table",
    "item_levels",
    "processed_audio",
    "score_turns",
    "start_engine",
    "vad_summary",
]


__getattr__ = lazy_getattr(globals(), _EXPORTS, _EXTRA_OF)


def __dir__() -> list[str]:
    return __all__
