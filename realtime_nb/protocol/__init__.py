"""Sans-I/O protocol layer: both dialects, translation, session configuration, ids.

No sockets, no asyncio, no numpy here: everything is pure functions and dataclasses.
"""

from realtime_nb.protocol.catalog import (
    CLIENT_EVENTS,
    LEFT_OUT,
    SERVER_EVENTS,
    EventSpec,
    ProtocolIssue,
    check_client_event,
)
from realtime_nb.protocol.client_events import response_create, session_update
from realtime_nb.protocol.dialect import GA_ONLY, Dialect, canonical_type, wire_type
from realtime_nb.protocol.errors import ConfigError
from realtime_nb.protocol.fields import (
    EAGERNESS_VALUES,
    NOISE_REDUCTION_VALUES,
    RESPONSE_FIELDS,
    SERVER_VAD_RANGES,
    SESSION_FIELDS,
    TOOL_CHOICE_MODES,
    TRANSCRIPTION_MODELS,
    TURN_DETECTION_TYPES,
    VOICES,
    Field,
    FieldTable,
)
from realtime_nb.protocol.formats import AUDIO_FORMATS, AUDIO_RATES, PCM_RATE, AudioFormat
from realtime_nb.protocol.ids import new_id
from realtime_nb.protocol.ordering import OrderViolation, assert_order, check_order, order_violations
from realtime_nb.protocol.response_params import ResponseParams
from realtime_nb.protocol.session_config import SessionConfig, apply_session_update
from realtime_nb.protocol.translate import to_canonical, to_wire
from realtime_nb.protocol.values import (
    CustomVoice,
    FunctionChoice,
    FunctionTool,
    NoiseReduction,
    SemanticVad,
    ServerVad,
    Transcription,
    TurnDetection,
)

__all__ = [
    "AUDIO_FORMATS",
    "AUDIO_RATES",
    "CLIENT_EVENTS",
    "EAGERNESS_VALUES",
    "GA_ONLY",
    "LEFT_OUT",
    "NOISE_REDUCTION_VALUES",
    "PCM_RATE",
    "RESPONSE_FIELDS",
    "SERVER_EVENTS",
    "SERVER_VAD_RANGES",
    "SESSION_FIELDS",
    "TOOL_CHOICE_MODES",
    "TRANSCRIPTION_MODELS",
    "TURN_DETECTION_TYPES",
    "VOICES",
    "AudioFormat",
    "ConfigError",
    "CustomVoice",
    "Dialect",
    "EventSpec",
    "Field",
    "FieldTable",
    "FunctionChoice",
    "FunctionTool",
    "NoiseReduction",
    "OrderViolation",
    "ProtocolIssue",
    "ResponseParams",
    "SemanticVad",
    "ServerVad",
    "SessionConfig",
    "Transcription",
    "TurnDetection",
    "apply_session_update",
    "assert_order",
    "canonical_type",
    "check_client_event",
    "check_order",
    "new_id",
    "order_violations",
    "response_create",
    "session_update",
    "to_canonical",
    "to_wire",
    "wire_type",
]
