"""``Player``: play response audio in the browser as it streams, and truncate on barge-in.

The kernel sends each 24 kHz PCM16 chunk as a binary comm buffer; the page schedules one
AudioBufferSource per chunk on a play head and reports back, per item, how many milliseconds the
listener has actually heard (periodically while playing, and once more when playback stops). When the
session reports ``input_audio_buffer.speech_started`` during playback, the player stops the page,
waits briefly for that final report, and sends ``conversation.item.truncate`` at
:func:`truncate_point` of what was played and what was received.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from realtime_nb.client.items import truncate_point
from realtime_nb.protocol import PCM_RATE
from realtime_nb.timeline.fields import AUDIO_DELTA_TYPE
from realtime_nb.widgets._audio_comm import maybe_await, pcm16_from_buffer, subscribe
from realtime_nb.widgets._disconnect import on_disconnect
from realtime_nb.widgets._session import SessionLike
from realtime_nb.widgets.esm import page_module

SPEECH_STARTED = "input_audio_buffer.speech_started"
RESPONSE_DONE = "response.done"


def _was_cancelled(event: dict[str, Any]) -> bool:
    return (event.get("response") or {}).get("status") == "cancelled"
_STOP_REPORT_TIMEOUT_S = 1.0  # how long barge-in waits for the page's final played-ms report


def _as_pcm16(pcm16: Any) -> np.ndarray:
    if isinstance(pcm16, bytes | bytearray | memoryview):
        return pcm16_from_buffer(pcm16)
    arr = np.asarray(pcm16)
    if arr.dtype != np.int16:
        raise ValueError(f"feed() needs int16 PCM at {PCM_RATE} Hz (or its bytes), got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"feed() needs mono PCM (a 1-D array), got shape {arr.shape}")
    return arr


class Player(anywidget.AnyWidget):
    """Streams response audio to the page; barge-in stops it and truncates at what was heard.

    >>> player = Player(session)      # display it; deltas of the session play as they arrive
    >>> player.feed("item_1", pcm16)  # or feed it yourself (24 kHz int16)
    """

    _esm = page_module("player.js")
    _css = Path(__file__).with_name("audio.css")

    # Kernel-side totals for the page's counters (the page adds its own played figures).
    received_ms = traitlets.Float(0.0).tag(sync=True)
    # The rate of the chunks the kernel sends: the protocol's, told to the page so it is written once.
    pcm_rate = traitlets.Int(PCM_RATE, read_only=True).tag(sync=True)
    # Written by the page: whether audio is queued / sounding, and the AudioContext state.
    playing = traitlets.Bool(False).tag(sync=True)
    # Why the attached session's connection dropped ("" while it is up): the page greys out and says so.
    disconnected = traitlets.Unicode("").tag(sync=True)

    def __init__(self, session: SessionLike | None = None, *, barge_in: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.barge_in = barge_in
        self.stop_report_timeout_s = _STOP_REPORT_TIMEOUT_S
        self._session: SessionLike | None = None
        self._unsubscribe: Any = None
        self._received: dict[str, int] = {}  # item -> samples received
        self._played_ms: dict[str, float] = {}  # item -> ms heard, as the page last reported
        self._current: str | None = None
        self._active = False  # page has audio scheduled (set on feed, cleared by the page's report)
        self._muted: set[str] = set()  # items whose remaining deltas must not play (stopped)
        self._cut: set[str] = set()  # items already truncated at what was heard (cut once)
        self._stop_waiters: list[asyncio.Future[None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._seq = 0
        self.truncations: list[dict[str, Any]] = []
        self.errors: list[BaseException] = []
        self._off_disconnect: Any = None
        self.on_msg(self._on_front_end_msg)
        if session is not None:
            self.attach(session)

    # ----------------------------------------------------------------------------- public API
    @property
    def session(self) -> SessionLike | None:
        return self._session

    def attach(self, session: SessionLike | None) -> Player:
        """Play ``session``'s response audio and truncate its items on barge-in (``None`` detaches)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._off_disconnect is not None:
            self._off_disconnect()
            self._off_disconnect = None
        self._session = session
        if session is not None:
            kinds = (AUDIO_DELTA_TYPE, SPEECH_STARTED, RESPONSE_DONE)  # sessions deliver canonical events
            self._unsubscribe = subscribe(session, kinds, self.handle_event)
            self._off_disconnect = on_disconnect(session, self.set_disconnected)
        return self

    def set_disconnected(self, reason: str) -> None:
        """The session's connection dropped: stop playback. The page greys out its controls and
        shows the reason."""
        self.disconnected = reason or "disconnected"
        if self._active:
            self.stop()

    def feed(self, item_id: str, pcm16: Any) -> None:
        """Queue 24 kHz mono PCM16 (int16 array or little-endian bytes) of ``item_id`` for playback."""
        if not isinstance(item_id, str) or not item_id:
            raise ValueError(f"item_id must be a non-empty string, got {item_id!r}")
        samples = _as_pcm16(pcm16)
        self._count_received(item_id, len(samples))
        self._muted.discard(item_id)
        self._cut.discard(item_id)
        self._send_audio(item_id, samples)

    def stop(self) -> None:
        """Stop playback now; further session audio of the current item is not played."""
        if self._current is not None:
            self._muted.add(self._current)
        self.send({"type": "stop"})

    async def interrupt(self) -> int | None:
        """Stop playback and truncate the playing item at what was heard; return ``audio_end_ms``.

        Returns ``None`` when nothing was playing. Without a session the truncation point is still
        computed and recorded in ``truncations``.
        """
        item = self._current
        if item is None or not self._active or item in self._cut:
            return None
        self._cut.add(item)  # at once: a cancelled response.done can follow barge-in's speech_started
        waiter = asyncio.get_running_loop().create_future()
        self._stop_waiters.append(waiter)
        self.stop()
        # If the page does not answer in time, its last periodic report stands.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter, self.stop_report_timeout_s)
        played = self._played_ms.get(item, 0.0)
        received = self.received_ms_of(item)
        point = truncate_point(played, received)
        record = {"item_id": item, "played_ms": played, "received_ms": received, "audio_end_ms": point}
        self.truncations.append(record)
        if self._session is not None:
            await maybe_await(self._session.truncate(item_id=item, content_index=0, audio_end_ms=point))
        return point

    def received_ms_of(self, item_id: str) -> float:
        return self._received.get(item_id, 0) * 1000.0 / PCM_RATE

    def played_ms_of(self, item_id: str) -> float:
        return self._played_ms.get(item_id, 0.0)

    def handle_event(self, event: dict[str, Any]) -> None:
        """Session event hook: play audio deltas; stop and truncate on ``speech_started`` during
        playback (barge-in) and on a cancelled ``response.done``."""
        kind = event.get("type")
        if kind == AUDIO_DELTA_TYPE:
            item = event.get("item_id")
            try:
                samples = pcm16_from_buffer(base64.b64decode(event.get("delta", ""), validate=True))
            except (binascii.Error, ValueError) as exc:
                self.errors.append(ValueError(f"bad audio delta for item {item!r}: {exc}"))
                return
            self._count_received(item, len(samples))
            if item not in self._muted:
                self._send_audio(item, samples)
        elif kind == SPEECH_STARTED and self.barge_in and self._active:
            self._spawn(self.interrupt())
        elif kind == RESPONSE_DONE and self.barge_in and self._active and _was_cancelled(event):
            # Cancelled by the client (push-to-talk press, response.cancel): what is still queued
            # must not play, and the item is cut at what was heard (once: barge-in may have done it).
            self._spawn(self.interrupt())

    # ----------------------------------------------------------------------------- internals
    def _count_received(self, item_id: str, n: int) -> None:
        self._received[item_id] = self._received.get(item_id, 0) + n
        self.received_ms = self.received_ms + n * 1000.0 / PCM_RATE

    def _send_audio(self, item_id: str, samples: np.ndarray) -> None:
        if len(samples) == 0:
            return
        self._current = item_id
        self._active = True
        payload = samples.astype("<i2").tobytes()
        self.send({"type": "audio", "item": item_id, "seq": self._seq}, buffers=[payload])
        self._seq += 1

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors.append(task.exception())

    def _on_front_end_msg(self, _widget: Any, content: Any, buffers: list[Any]) -> None:
        handle_msg(self, content)


def handle_msg(player: Player, content: Any) -> None:
    """Apply one page report to ``player``."""
    if not isinstance(content, dict) or "type" not in content:
        raise ValueError(f"Player front-end message must be a dict with a 'type', got {content!r}")
    if content["type"] != "played":
        raise ValueError(f"unknown Player front-end message type {content['type']!r}")
    for item, ms in (content.get("played") or {}).items():
        # Reports can cross in flight; the heard time of an item never goes back.
        player._played_ms[item] = max(player._played_ms.get(item, 0.0), float(ms))
    # A chunk sent after the page wrote this report is still on its way: playback is then active.
    last_seen = content.get("seq", -1)
    in_flight = isinstance(last_seen, int) and last_seen < player._seq - 1
    player._active = bool(content.get("active")) or in_flight
    if content.get("final"):
        waiters, player._stop_waiters = player._stop_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
