"""Session configuration, re-exported from the modules that now hold it (kept for old imports).

The field table is `fields`; the value objects `values`; `SessionConfig` is `session_config`;
reading wire objects is `wire_reader`, rendering them `render`; `ConfigError` is `errors`; audio
formats are `formats`.
"""

from __future__ import annotations

from realtime_nb.protocol.errors import ConfigError, ErrorCode
from realtime_nb.protocol.fields import (
    EAGERNESS_VALUES,
    ISO_639_1,
    NOISE_REDUCTION_VALUES,
    SERVER_VAD_RANGES,
    TOOL_CHOICE_MODES,
    TRANSCRIPTION_MODELS,
    VOICES,
    wire_param,
)
from realtime_nb.protocol.formats import AUDIO_FORMATS, AUDIO_RATES, PCM_RATE, AudioFormat
from realtime_nb.protocol.session_config import SessionConfig, apply_session_update
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
    "EAGERNESS_VALUES",
    "ISO_639_1",
    "NOISE_REDUCTION_VALUES",
    "PCM_RATE",
    "SERVER_VAD_RANGES",
    "TOOL_CHOICE_MODES",
    "TRANSCRIPTION_MODELS",
    "VOICES",
    "AudioFormat",
    "ConfigError",
    "CustomVoice",
    "ErrorCode",
    "FunctionChoice",
    "FunctionTool",
    "NoiseReduction",
    "SemanticVad",
    "ServerVad",
    "SessionConfig",
    "Transcription",
    "TurnDetection",
    "apply_session_update",
    "wire_param",
]
