"""The embedded local engine: a Realtime-protocol server with local models.

``from realtime_nb.engine import start_engine`` is all a notebook needs. Names resolve lazily (PEP
562) so importing this package loads neither websockets nor numpy nor any model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from realtime_nb._lazy import lazy_getattr

if TYPE_CHECKING:
    from realtime_nb.engine.calls import CallRefused, CallRegistry, OpenedCall
    from realtime_nb.engine.handshake import Refusal, Route, check_credentials, route_request
    from realtime_nb.engine.input_path import InputPath, SpeechStart, SpeechStop
    from realtime_nb.engine.models import Models
    from realtime_nb.engine.options import Backpressure, EngineOptions
    from realtime_nb.engine.runner import (
        Engine,
        EnginePortInUseError,
        EngineStartError,
        preload_models,
        start_engine,
    )
    from realtime_nb.engine.server import EngineServer
    from realtime_nb.engine.session import EngineSession
    from realtime_nb.engine.vad_trace import vad_trace

_EXPORTS: dict[str, str] = {
    "CallRefused": "realtime_nb.engine.calls",
    "CallRegistry": "realtime_nb.engine.calls",
    "OpenedCall": "realtime_nb.engine.calls",
    "start_engine": "realtime_nb.engine.runner",
    "Engine": "realtime_nb.engine.runner",
    "EngineStartError": "realtime_nb.engine.runner",
    "EnginePortInUseError": "realtime_nb.engine.runner",
    "preload_models": "realtime_nb.engine.runner",
    "EngineServer": "realtime_nb.engine.server",
    "Route": "realtime_nb.engine.handshake",
    "Refusal": "realtime_nb.engine.handshake",
    "route_request": "realtime_nb.engine.handshake",
    "check_credentials": "realtime_nb.engine.handshake",
    "EngineOptions": "realtime_nb.engine.options",
    "Backpressure": "realtime_nb.engine.options",
    "InputPath": "realtime_nb.engine.input_path",
    "SpeechStart": "realtime_nb.engine.input_path",
    "SpeechStop": "realtime_nb.engine.input_path",
    "EngineSession": "realtime_nb.engine.session",
    "Models": "realtime_nb.engine.models",
    "vad_trace": "realtime_nb.engine.vad_trace",
}

__all__ = [
    "Backpressure",
    "CallRefused",
    "CallRegistry",
    "Engine",
    "EngineOptions",
    "EnginePortInUseError",
    "EngineServer",
    "EngineSession",
    "EngineStartError",
    "InputPath",
    "Models",
    "OpenedCall",
    "Refusal",
    "Route",
    "SpeechStart",
    "SpeechStop",
    "check_credentials",
    "preload_models",
    "route_request",
    "start_engine",
    "vad_trace",
]


__getattr__ = lazy_getattr(globals(), _EXPORTS)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
