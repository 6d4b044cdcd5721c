"""What an Azure preview ``api-version`` allows, so the engine refuses what an old deployment would.

``2024-10-01-preview`` predates semantic VAD, input noise reduction, ``conversation.item.retrieve``, the
gpt-4o transcription models and five of the eight voices; all came with ``2025-04-01-preview``
(../shared/protocol/README.md). A notebook written against an older deployment therefore meets the
same refusals here as there. Everything else (OpenAI URLs, Azure GA, 2025-04) allows all of it.
"""

from __future__ import annotations

from realtime_nb.engine.errors import RequestError
from realtime_nb.protocol import ConfigError, SemanticVad, SessionConfig

OLDEST_PREVIEW = "2024-10-01-preview"
NEWER_PREVIEW = "2025-04-01-preview"
OLDEST_PREVIEW_VOICES = ("alloy", "echo", "shimmer")
OLDEST_PREVIEW_TRANSCRIBERS = ("whisper-1",)
NEWER_EVENTS = frozenset({"conversation.item.retrieve"})


def _needs_newer(what: str) -> str:
    return f"{what} needs api-version={NEWER_PREVIEW}; this session uses api-version={OLDEST_PREVIEW}"


def check_event_type(api_version: str | None, event_type: str) -> None:
    """Raise the service's error for a client event the api-version does not know."""
    if api_version == OLDEST_PREVIEW and event_type in NEWER_EVENTS:
        raise RequestError("invalid_value", _needs_newer(f"The client event '{event_type}'") + ".", "type")


def check_config(api_version: str | None, config: SessionConfig) -> None:
    """Raise the `ConfigError` the service gives for a setting the api-version does not offer; the
    session renders it as an error event like any other invalid setting."""
    if api_version != OLDEST_PREVIEW:
        return
    if isinstance(config.voice, str) and config.voice not in OLDEST_PREVIEW_VOICES:
        allowed = ", ".join(OLDEST_PREVIEW_VOICES)
        raise ConfigError("voice", config.voice, f"{allowed} ({_needs_newer('any other voice')})")
    if isinstance(config.turn_detection, SemanticVad):
        allowed = f"server_vad ({_needs_newer('semantic_vad')})"
        raise ConfigError("turn_detection.type", "semantic_vad", allowed)
    if config.noise_reduction is not None:
        needs = _needs_newer("noise reduction")
        raise ConfigError("noise_reduction", config.noise_reduction, needs, code="unknown_parameter")
    model = config.transcription.model if config.transcription is not None else None
    if model is not None and model not in OLDEST_PREVIEW_TRANSCRIBERS:
        allowed = ", ".join(OLDEST_PREVIEW_TRANSCRIBERS)
        raise ConfigError("transcription.model", model, f"{allowed} ({_needs_newer(repr(model))})")
