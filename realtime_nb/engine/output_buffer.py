"""The server-owned output audio buffer of a WebRTC session, sans-I/O.

Over WebRTC the service, not the client, plays the assistant's audio: it goes out on the call's
audio track, and the client learns where playback stands from ``output_audio_buffer.started`` /
``.stopped`` / ``.cleared``. This module is that buffer. The response code queues each synthesized
chunk here instead of emitting ``response.output_audio.delta``; the call adapter pulls one 20 ms
frame every 20 ms with :meth:`OutputBuffer.frame` (the only way audio leaves), so what has been
*pulled* is what the peer was sent, to the sample.

Responses play one after another, each with its own lifecycle (``PLAYBACK_TABLE`` in
``state.py``): it enters with its first chunk, ``started`` goes out when its first frame is pulled,
``stopped`` once the response is done *and* its last sample was pulled (so always after its
``response.done``), ``cleared`` when a barge-in or the client's clear drops it. Every event carries
its ``response_id``, and an ended response can never be played, stopped or cleared again: a late
``stopped`` of one reply cannot end the next.

Frames are whole: while a response is still generating, a frame is pulled only once 480 samples of
it are queued (silence meanwhile), so the audio pulled before a clear is a whole number of 20 ms
frames and the truncation point is an exact millisecond. Only a finished response's last frame may
be partial (padded with silence; the next response starts on the next frame).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from realtime_nb.engine.state import PLAYBACK_TABLE, PlaybackState, PlaybackTrigger, advance
from realtime_nb.protocol.formats import PCM_RATE

FRAME_MS = 20
FRAME_SAMPLES = PCM_RATE * FRAME_MS // 1000  # 480 samples of 24 kHz audio per pulled frame

Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Cleared:
    """A response whose queued audio a clear dropped: ``pulled`` samples of ``item_id`` had left."""

    response_id: str
    item_id: str
    pulled: int

    @property
    def pulled_ms(self) -> int:
        """The audio that left, in ms: exact, since only whole frames leave before a clear."""
        return self.pulled * 1000 // PCM_RATE


@dataclass(eq=False)
class Playback:
    """One response's audio in the buffer."""

    response_id: str
    item_id: str
    state: PlaybackState = PlaybackState.QUEUED
    chunks: deque[np.ndarray] = field(default_factory=deque)
    queued: int = 0  # samples waiting
    pulled: int = 0  # samples that left

    def advance(self, trigger: PlaybackTrigger) -> None:
        self.state = advance("output audio buffer", PLAYBACK_TABLE, self.state, trigger)

    @property
    def generating(self) -> bool:
        """More audio may still come (the response is not done)."""
        return self.state in (PlaybackState.QUEUED, PlaybackState.PLAYING)

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` queued samples (n <= queued)."""
        parts, need = [], n
        while need:
            head = self.chunks[0]
            if head.size <= need:
                parts.append(self.chunks.popleft())
                need -= head.size
            else:
                parts.append(head[:need])
                self.chunks[0] = head[need:]
                need = 0
        self.queued -= n
        self.pulled += n
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


class OutputBuffer:
    """The responses' audio waiting to leave on the track (see the module docstring).

    ``emit`` receives the canonical ``output_audio_buffer.*`` events.
    """

    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self._queue: deque[Playback] = deque()  # playing order; the head is the one leaving
        self._by_response: dict[str, Playback] = {}  # live playbacks
        self._ended: set[str] = set()  # responses whose playback stopped or was cleared
        self.last_response_id: str | None = None  # the latest response that had audio here

    # --- what the response code does ------------------------------------------------------------

    def queue(self, response_id: str, item_id: str, pcm24: np.ndarray) -> None:
        """A synthesized chunk of ``response_id``'s audio item (ignored once its playback ended)."""
        if not pcm24.size or response_id in self._ended:
            return
        playback = self._by_response.get(response_id)
        if playback is None:
            playback = Playback(response_id, item_id)
            self._queue.append(playback)
            self._by_response[response_id] = playback
            self.last_response_id = response_id
        else:
            playback.advance(PlaybackTrigger.AUDIO)
        playback.chunks.append(np.asarray(pcm24, dtype=np.int16))
        playback.queued += pcm24.size

    def generation_done(self, response_id: str) -> None:
        """The response finished generating (after its ``response.done``): what is queued is all."""
        playback = self._by_response.get(response_id)
        if playback is None:
            return  # it had no audio, or its playback already ended
        playback.advance(PlaybackTrigger.DONE)
        if playback.state is PlaybackState.DRAINING and playback.queued == 0:
            self._end(playback, PlaybackTrigger.DRAIN)

    # --- what the track does ---------------------------------------------------------------------

    def frame(self) -> np.ndarray:
        """The next 20 ms (480 int16 samples at 24 kHz): the head response's audio, or silence."""
        out = np.zeros(FRAME_SAMPLES, np.int16)
        head = self._queue[0] if self._queue else None
        if head is None:
            return out
        n = min(FRAME_SAMPLES, head.queued)
        if n == 0 or (n < FRAME_SAMPLES and head.generating):
            return out  # an underrun: wait for a whole frame rather than cut one short
        if head.state in (PlaybackState.QUEUED, PlaybackState.QUEUED_LAST):
            head.advance(PlaybackTrigger.START)
            self._emit({"type": "output_audio_buffer.started", "response_id": head.response_id})
        out[:n] = head.take(n)
        if head.state is PlaybackState.DRAINING and head.queued == 0:
            self._end(head, PlaybackTrigger.DRAIN)
        return out

    # --- barge-in and the client's clear -----------------------------------------------------------

    def clear(self) -> list[Cleared]:
        """Drop everything queued at once; ``cleared`` for each response that had audio here."""
        cleared = []
        for playback in list(self._queue):
            cleared.append(Cleared(playback.response_id, playback.item_id, playback.pulled))
            self._end(playback, PlaybackTrigger.CLEAR)
        return cleared

    # --- reading ----------------------------------------------------------------------------------

    @property
    def queued_samples(self) -> int:
        """Audio waiting to leave, all responses together."""
        return sum(p.queued for p in self._queue)

    @property
    def queued_ms(self) -> float:
        return self.queued_samples * 1000.0 / PCM_RATE

    @property
    def ready(self) -> bool:
        """The next `frame` would carry audio (a whole frame is queued, or a finished response's last)."""
        head = self._queue[0] if self._queue else None
        return head is not None and (
            head.queued >= FRAME_SAMPLES or (head.queued > 0 and not head.generating)
        )

    @property
    def empty(self) -> bool:
        return not self._queue

    def snapshot(self) -> list[tuple[str, str, int, int]]:
        """(response id, state, queued, pulled) per live playback, in playing order."""
        return [(p.response_id, p.state.value, p.queued, p.pulled) for p in self._queue]

    # --- internals --------------------------------------------------------------------------------

    def _end(self, playback: Playback, trigger: PlaybackTrigger) -> None:
        playback.advance(trigger)  # before anything changes: an illegal end leaves the buffer as it was
        self._queue.remove(playback)
        del self._by_response[playback.response_id]
        self._ended.add(playback.response_id)
        playback.chunks.clear()
        playback.queued = 0
        event = (
            "output_audio_buffer.stopped"
            if trigger is PlaybackTrigger.DRAIN
            else "output_audio_buffer.cleared"
        )
        self._emit({"type": event, "response_id": playback.response_id})
