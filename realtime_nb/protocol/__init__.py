"""Sans-I/O protocol layer: both dialects, translation, session configuration, ids.

No sockets, no asyncio, no numpy here: everything is pure functions and dataclasses.
"""

from realtime_nb.protocol.config import (
    AUDIO_FORMATS,
    AUDIO_RATES,
    EAGERNESS_VALUES,
    NOISE_REDUCTION_VALUES,
    SERVER_VAD_RANGES,
    TOOL_CHOICE_MODES,
    TRANSCRIPTION_MODELS,
    VOICES,
    AudioFormat,
    ConfigError,
    CustomVoice,
    FunctionChoice,
    FunctionTool,
    NoiseReduction,
    SemanticVad,
    ServerVad,
    SessionConfig,
    Transcription,
    TurnDetection,
    apply_session_update,
)
from realtime_nb.protocol.dialect import GA_ONLY, Dialect, canonical_type, wire_type
from realtime_nb.protocol.ids import new_id
from realtime_nb.protocol.translate import to_canonical, to_wire

__all__ = [
    "AUDIO_FORMATS",
    "AUDIO_RATES",
    "EAGERNESS_VALUES",
    "GA_ONLY",
    "NOISE_REDUCTION_VALUES",
    "SERVER_VAD_RANGES",
    "TOOL_CHOICE_MODES",
    "TRANSCRIPTION_MODELS",
    "VOICES",
    "AudioFormat",
    "ConfigError",
    "CustomVoice",
    "Dialect",
    "FunctionChoice",
    "FunctionTool",
    "NoiseReduction",
    "SemanticVad",
    "ServerVad",
    "SessionConfig",
    "Transcription",
    "TurnDetection",
    "apply_session_update",
    "canonical_type",
    "new_id",
    "to_canonical",
    "to_wire",
    "wire_type",
]
