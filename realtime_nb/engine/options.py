"""Per-engine knobs that are not part of the protocol's session configuration.

`EngineOptions` is per session; `Backpressure` per WebSocket connection (the outbox's limits). The
allowed range of every backpressure and pacing knob is written once, in `RANGES`, and checked by
`check_range`, which `Backpressure`, `EngineOptions` and the ``realtime-nb serve`` flags all use, so a
bad value is refused with the same message, naming the range, wherever it was given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from realtime_nb.protocol.dialect import Dialect

KiB = 2**10
MiB = 2**20
GiB = 2**30


@dataclass(frozen=True)
class Range:
    """Allowed values of one knob: ``low`` to ``high`` inclusive, in ``unit`` ("bytes", "s" or "ms");
    ``none`` says what None means where None is allowed."""

    low: float
    high: float
    unit: str
    none: str | None = None

    def describe(self, none_word: str = "None") -> str:
        """"16 KiB to 1 GiB"; with what None means where allowed (``none_word`` names it: a command
        line spells it 'off')."""
        text = f"{amount(self.low, self.unit)} to {amount(self.high, self.unit)}"
        return text + (f", or {none_word} ({self.none})" if self.none else "")


RANGES: dict[str, Range] = {
    # Backpressure (per WebSocket connection)
    "send_ahead_bytes": Range(16 * KiB, 1 * GiB, "bytes"),
    "max_unsent_bytes": Range(16 * KiB, 1 * GiB, "bytes"),
    "max_lag_s": Range(0.1, 3600.0, "s"),
    "ping_interval_s": Range(0.1, 3600.0, "s", none="no keepalive pings"),
    "ping_timeout_s": Range(0.1, 3600.0, "s"),
    "offload_bytes": Range(1 * KiB, 64 * MiB, "bytes"),
    # EngineOptions (per session)
    "stream_ahead_ms": Range(100, 600_000, "ms", none="as fast as the voice goes"),
}


def check_range(name: str, value: Any, *, none_word: str = "None") -> None:
    """ValueError naming the knob, its allowed range and the value, unless ``value`` is within
    ``RANGES[name]`` (None only where the range allows it, spelled ``none_word`` in the message)."""
    allowed = RANGES[name]
    if value is None and allowed.none is not None:
        return
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and math.isfinite(value) and allowed.low <= value <= allowed.high:
        return
    shown = amount(value, allowed.unit) if number else repr(value)
    raise ValueError(f"{name} must be {allowed.describe(none_word)}, got {shown}")


def amount(value: float, unit: str) -> str:
    """``value`` in ``unit`` for a person: bytes as KiB / MiB / GiB, others as ``'10 s'``."""
    if unit != "bytes":
        return f"{value:g} {unit}"
    for size, name in ((GiB, "GiB"), (MiB, "MiB"), (KiB, "KiB")):
        if abs(value) >= size:
            return f"{value / size:g} {name}"
    return f"{value:g} bytes"


@dataclass(frozen=True)
class Backpressure:
    """Limits of one WebSocket connection's output (see `realtime_nb.engine.outbox`); the allowed
    ranges are in `RANGES`, and docs/limits.md lists them with the ``realtime-nb serve`` flags.

    * ``send_ahead_bytes``: speech synthesis pauses while this much of the connection's events wait
      for the socket (so speech is made only a bounded distance ahead of what the client read).
    * ``max_unsent_bytes`` / ``max_lag_s``: a reader this many bytes behind, or whose oldest unsent
      event has waited this long, is disconnected (close code 1008 and the reason).
    * ``ping_interval_s`` / ``ping_timeout_s``: the engine's keepalive; a peer that does not answer a
      ping within the timeout (the time to write the ping counted) is closed with 1011.
    * ``offload_bytes``: a client frame at least this large (a big ``input_audio_buffer.append``) is
      handled on a worker thread, so its decoding, resampling and VAD never block the event loop
      other sessions share; that session's own events stay in order.
    """

    send_ahead_bytes: int = 1 * MiB
    max_unsent_bytes: int = 16 * MiB
    max_lag_s: float = 10.0
    ping_interval_s: float | None = 10.0
    ping_timeout_s: float = 10.0
    offload_bytes: int = 1 * MiB

    def __post_init__(self) -> None:
        for field in fields(self):
            check_range(field.name, getattr(self, field.name))
        if self.max_unsent_bytes < self.send_ahead_bytes:
            raise ValueError(
                f"max_unsent_bytes ({amount(self.max_unsent_bytes, 'bytes')}) must be at least "
                f"send_ahead_bytes ({amount(self.send_ahead_bytes, 'bytes')})"
            )

    @classmethod
    def coerce(cls, value: Backpressure | Mapping[str, Any] | None) -> Backpressure:
        """A `Backpressure` from itself, a mapping of its fields (unknown names refused, naming the
        known ones) or None (the defaults)."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f"backpressure must be a Backpressure or a dict, got {type(value).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise TypeError(
                f"unknown backpressure option(s) {', '.join(unknown)}; the options are {', '.join(known)}"
            )
        return cls(**value)


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
        check_range("stream_ahead_ms", self.stream_ahead_ms)
        if self.audio_retention_s is not None and not self.audio_retention_s > 0:
            raise ValueError(f"audio_retention_s must be positive or None, got {self.audio_retention_s!r}")
        if self.truncate_transcript not in ("drop", "proportional"):
            raise ValueError(
                f"truncate_transcript must be 'drop' or 'proportional', got {self.truncate_transcript!r}"
            )

    def session_length_s(self, dialect: Dialect) -> float:
        """The maximum session length in seconds for ``dialect``."""
        return self.max_session_s if self.max_session_s is not None else DEFAULT_MAX_SESSION_S[dialect]
