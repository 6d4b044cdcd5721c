"""Per-engine knobs that are not part of the protocol's session configuration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from realtime_nb.protocol.dialect import Dialect

# The service's maximum session lengths.
DEFAULT_MAX_SESSION_S: dict[Dialect, float] = {Dialect.PREVIEW: 30 * 60.0, Dialect.GA: 60 * 60.0}


@dataclass(frozen=True)
class EngineOptions:
    """Engine behaviour a notebook may want to change; defaults mirror the service.

    * ``max_session_s``: session length before ``session_expired`` (None: 30 min preview, 60 min GA).
    * ``responder``: ``callable(context) -> str | ToolCall | Reply`` (sync or async); None = echo
      responder ("You said: …"). See :mod:`realtime_nb.engine.responder`.
    * ``min_speech_ms``: how long the speech probability must stay above the threshold before
      ``speech_started`` (3 VAD frames: a single 32 ms frame never starts speech).
    * ``release_delta``: speech ends only below ``threshold - release_delta`` (hysteresis against
      flapping around the threshold).
    * ``audio_delta_ms``: size of each ``response.output_audio.delta``.
    * ``truncate_transcript``: what ``conversation.item.truncate`` does to the assistant transcript:
      ``"drop"`` (the service: no words the user never heard) or ``"proportional"`` (keep the
      sentences played plus the words of the cut sentence in proportion to the audio kept).
    * ``model``: reported in ``session.created`` when the client named none.
    * ``playout_ahead_ms``: WebRTC only: speech synthesis pauses while this much audio waits in the
      output buffer, so a barge-in drops at most this (plus the sentence or two a worker was already
      making) and no voice time is spent on audio nobody hears. Over WebSocket synthesis runs ahead
      at most ``stream_ahead_ms`` ahead of real time (below).
    * ``stream_ahead_ms``: WebSocket only: a reply's synthesis pauses while its audio runs this far
      ahead of real time since its first audio (None: as fast as the voice can go). Replies shorter
      than this stream at full speed; longer ones keep this lead while they play. Independently,
      the server's ``Backpressure`` pauses it while the socket has not taken what was sent.
    * ``audio_retention_s``: conversation audio kept per session, newest first (None: all of it,
      for the session's lifetime, which ``max_session_s`` bounds). Older items keep their
      transcripts and place; retrieving their audio gives an ``item_audio_unavailable`` error.
    """

    max_session_s: float | None = None
    responder: Callable[[Any], Any] | None = None
    min_speech_ms: int = 96
    release_delta: float = 0.15
    audio_delta_ms: int = 200
    truncate_transcript: Literal["drop", "proportional"] = "drop"
    model: str = "gpt-realtime"
    rate_limit_requests: int = 5000
    rate_limit_tokens: int = 40000
    playout_ahead_ms: int = 2000
    stream_ahead_ms: int | None = 10_000
    audio_retention_s: float | None = 300.0

    def __post_init__(self) -> None:
        if self.max_session_s is not None and self.max_session_s <= 0:
            raise ValueError(f"max_session_s must be positive, got {self.max_session_s!r}")
        if self.min_speech_ms < 0:
            raise ValueError(f"min_speech_ms must be >= 0, got {self.min_speech_ms!r}")
        if not 0 <= self.release_delta < 1:
            raise ValueError(f"release_delta must be in [0, 1), got {self.release_delta!r}")
        if self.audio_delta_ms <= 0:
            raise ValueError(f"audio_delta_ms must be positive, got {self.audio_delta_ms!r}")
        if self.playout_ahead_ms <= 0:
            raise ValueError(f"playout_ahead_ms must be positive, got {self.playout_ahead_ms!r}")
        if self.stream_ahead_ms is not None and self.stream_ahead_ms <= 0:
            raise ValueError(f"stream_ahead_ms must be positive or None, got {self.stream_ahead_ms!r}")
        if self.audio_retention_s is not None and not self.audio_retention_s > 0:
            raise ValueError(f"audio_retention_s must be positive or None, got {self.audio_retention_s!r}")
        if self.truncate_transcript not in ("drop", "proportional"):
            raise ValueError(
                f"truncate_transcript must be 'drop' or 'proportional', got {self.truncate_transcript!r}"
            )

    def session_length_s(self, dialect: Dialect) -> float:
        """The maximum session length in seconds for ``dialect``."""
        return self.max_session_s if self.max_session_s is not None else DEFAULT_MAX_SESSION_S[dialect]
