"""``Mic``: stream the browser microphone into the kernel as 24 kHz mono PCM16 chunks.

The page captures with an AudioWorklet that downsamples to 24 kHz whatever rate the AudioContext runs
at and sends 20-40 ms chunks as binary comm buffers, each with a sequence number and the page time
(``performance.now()``) at which it was complete. The kernel side forwards them to an attached
Realtime session (open mic: straight to ``append_audio``, the server's turn detection decides;
push-to-talk: append while the button is held, then commit and ask for a response) and keeps counters,
latency figures and, only when no session holds the audio, a bounded recording.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from realtime_nb.protocol import PCM_RATE
from realtime_nb.widgets._audio_comm import (
    Chunk,
    ClockSync,
    LatencyLog,
    MicError,
    RingRecorder,
    SequenceTracker,
    SessionPump,
    maybe_await,
    parse_chunk,
    summarize,
)
from realtime_nb.widgets._disconnect import on_disconnect
from realtime_nb.widgets._session import SessionLike
from realtime_nb.widgets.clips import ClipSource
from realtime_nb.widgets.esm import page_module

MODES = ("open", "push_to_talk")
_CLOCK_PINGS = 12  # enough to find one undisturbed round trip; each costs one comm message each way
_STATUS_EVERY = 10  # chunks between kernel -> page status updates (keeps the return channel quiet)
# After the first burst, one more ping every this many chunks: a later quiet moment often gives a
# shorter round trip (a tighter offset) than the busy start of a capture.
_PING_EVERY = 25

ChunkCallback = Callable[[np.ndarray, Chunk], Any]


def _kernel_ms() -> float:
    return time.perf_counter_ns() / 1e6


class Mic(anywidget.AnyWidget):
    """Browser microphone -> kernel (-> Realtime session), with counters and latency figures.

    >>> mic = Mic(session)            # display it, click Start
    >>> mic.stats()["chunks_received"]

    Errors the browser reports (no microphone, permission denied, insecure origin) are shown in the
    widget and raised as :class:`MicError` by the next call to a public method (once per error).
    """

    _esm = page_module("mic.js")
    _css = Path(__file__).with_name("audio.css")

    mode = traitlets.Unicode("open").tag(sync=True)
    chunk_ms = traitlets.Int(40).tag(sync=True)
    echo_cancellation = traitlets.Bool(True).tag(sync=True)
    device_id = traitlets.Unicode("").tag(sync=True)
    # 0 = the browser's default rate. Tests force 44100 / 48000 to check the worklet's resampling.
    context_rate = traitlets.Int(0).tag(sync=True)
    # The rate the page resamples to and sends: the protocol's, told to the page so it is written once.
    pcm_rate = traitlets.Int(PCM_RATE, read_only=True).tag(sync=True)
    # Written by the page: whether capture runs, and the last error text shown in the widget.
    running = traitlets.Bool(False).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    # Written by the kernel, shown by the page.
    status = traitlets.Dict().tag(sync=True)
    # Why the attached session's connection dropped ("" while it is up): the page greys out and says so.
    disconnected = traitlets.Unicode("").tag(sync=True)

    def __init__(self, session: SessionLike | None = None, *, mode: str = "open",
                 record_seconds: float = 60.0, **kwargs: Any) -> None:
        super().__init__(mode=mode, **kwargs)
        if record_seconds <= 0:
            raise ValueError(f"record_seconds must be positive, got {record_seconds}")
        self._session: SessionLike | None = None
        self._pump: SessionPump | None = None
        self._callbacks: list[ChunkCallback] = []
        self._callback_errors: list[BaseException] = []
        self._recorder = RingRecorder(round(record_seconds * PCM_RATE))
        self._seq = SequenceTracker()
        self._clock = ClockSync()
        self._latency = LatencyLog()
        self._pending_pings: dict[int, float] = {}
        self._next_ping = 0
        self._pending_error: MicError | None = None
        self._ptt_down = False
        self.chunks_received = 0
        self.samples_received = 0
        self.dropped = 0
        self.turns_committed = 0
        self.capture_info: dict[str, Any] = {}
        self._off_disconnect: Callable[[], None] | None = None
        self.on_msg(self._on_front_end_msg)
        if session is not None:
            self.attach(session)

    # ----------------------------------------------------------------------------- validation
    @traitlets.validate("mode")
    def _check_mode(self, proposal: dict[str, Any]) -> str:
        if proposal["value"] not in MODES:
            raise traitlets.TraitError(f"mode must be one of {MODES}, got {proposal['value']!r}")
        return proposal["value"]

    @traitlets.validate("chunk_ms")
    def _check_chunk_ms(self, proposal: dict[str, Any]) -> int:
        if not 20 <= proposal["value"] <= 40:
            raise traitlets.TraitError(f"chunk_ms must be between 20 and 40, got {proposal['value']}")
        return proposal["value"]

    # ----------------------------------------------------------------------------- public API
    @staticmethod
    def from_recorder(
        recorder: Any, session: SessionLike | None = None, *, respond: bool = True
    ) -> ClipSource:
        """An ipywebrtc ``AudioRecorder`` as a push-to-talk source: each finished clip is one turn.

        Whole clips only (no streaming, no latency figures); see :mod:`realtime_nb.widgets.clips`.
        """
        return ClipSource(recorder, session, respond=respond)

    @property
    def session(self) -> SessionLike | None:
        return self._session

    def attach(self, session: SessionLike | None) -> Mic:
        """Send the audio to ``session`` from now on (``None`` detaches and records locally)."""
        self._raise_pending()
        if self._pump is not None:
            self._pump.close()
            self._pump = None
        if self._off_disconnect is not None:
            self._off_disconnect()
            self._off_disconnect = None
        self._session = session
        if session is not None:
            self._pump = SessionPump()
            self._off_disconnect = on_disconnect(session, self.set_disconnected)
        return self

    def set_disconnected(self, reason: str) -> None:
        """The session's connection dropped: stop forwarding; later chunks are recorded locally, as
        without a session. The page greys out its controls and shows the reason."""
        self.disconnected = reason or "disconnected"
        if self._pump is not None:
            self._pump.close()
            self._pump = None

    def on_chunk(self, callback: ChunkCallback) -> ChunkCallback:
        """Call ``callback(samples, chunk)`` for every chunk, in the kernel; usable as a decorator.

        Exceptions from the callback are kept in ``callback_errors`` and do not stop the stream.
        """
        self._raise_pending()
        if not callable(callback):
            raise TypeError(f"on_chunk needs a callable, got {type(callback).__name__}")
        self._callbacks.append(callback)
        return callback

    @property
    def ms_received(self) -> float:
        return self.samples_received * 1000.0 / PCM_RATE

    @property
    def callback_errors(self) -> list[BaseException]:
        return list(self._callback_errors)

    @property
    def send_errors(self) -> list[BaseException]:
        return list(self._pump.errors) if self._pump else []

    def stats(self) -> dict[str, Any]:
        """Counters and microphone -> kernel latency (ms, kernel receipt minus page capture time)."""
        self._raise_pending()
        return self._stats()

    def _stats(self) -> dict[str, Any]:
        lat = self._latency.latencies_ms(self._clock)
        bounds = None
        if lat.size:
            # The offset lies in [lo, hi], so every latency lies in [x + lo, x + hi] with
            # x = receipt - capture; the median moves the same way.
            lo, hi = self._clock.bounds_ms
            mid = float(np.median(lat))
            bounds = [mid - (self._clock.offset_ms - lo), mid + (hi - self._clock.offset_ms)]
        return {
            "chunks_received": self.chunks_received,
            "ms_received": self.ms_received,
            "dropped": self.dropped,
            "late": self._seq.late,
            "turns_committed": self.turns_committed,
            "send_errors": len(self.send_errors),
            "clock_samples": self._clock.samples,
            "clock_uncertainty_ms": self._clock.uncertainty_ms if self._clock.ready else None,
            "latency_ms": summarize(lat),
            "latency_median_bounds_ms": bounds,
            "capture": dict(self.capture_info),
        }

    def latencies_ms(self, offset_ms: float | None = None) -> np.ndarray:
        """Per chunk microphone -> kernel latency in ms (empty until the page answered a ping).

        ``offset_ms`` (page clock minus kernel clock) overrides the ping estimate, e.g. with one
        derived from a clock both sides share.
        """
        self._raise_pending()
        return self._latency.latencies_ms(self._clock, offset_ms)

    def sent_audio(self, item_id: str) -> np.ndarray:
        """The raw 24 kHz audio this microphone's session sent for a user item: the client-side truth
        that `WaveformCompare` sets against the retrieved (processed) audio. The session's EventLog
        keeps it, on the audio clock, over the item's span (prefix padding included)."""
        self._raise_pending()
        log = getattr(self._session, "log", None)
        if log is None:
            raise RuntimeError("no session with an event log is attached: use recorded() instead")
        try:
            return log.item_audio(item_id)
        except KeyError:
            raise KeyError(f"item {item_id!r} has no audio in this session's log") from None

    def recorded(self) -> np.ndarray:
        """The audio captured, 24 kHz int16, on the capture clock (lost chunks become silence).

        With a session attached the session's EventLog holds what was sent, so this returns
        ``session.log.sent_audio()``; otherwise the last ``record_seconds`` kept by the widget.
        """
        self._raise_pending()
        log = getattr(self._session, "log", None)
        if log is not None and hasattr(log, "sent_audio"):
            return log.sent_audio()
        return self._recorder.array()

    def sync_clock(self) -> None:
        """Measure the page <-> kernel clock offset again (answers arrive asynchronously)."""
        self._raise_pending()
        self._clock = ClockSync()
        self._send_ping()

    async def flush(self) -> None:
        """Wait until every chunk received so far has been handed to the session."""
        self._raise_pending()
        if self._pump is not None:
            await self._pump.drain()

    # ----------------------------------------------------------------------------- messages
    def _raise_pending(self) -> None:
        if self._pending_error is not None:
            err, self._pending_error = self._pending_error, None
            raise err

    def _on_front_end_msg(self, _widget: Any, content: Any, buffers: list[Any]) -> None:
        handle_msg(self, content, buffers, _kernel_ms())

    def _send_ping(self) -> None:
        ping_id = self._next_ping
        self._next_ping += 1
        self._pending_pings[ping_id] = _kernel_ms()
        self.send({"type": "ping", "id": ping_id})

    def _forward(self, samples: np.ndarray) -> None:
        session = self._session
        if self._pump is None or session is None:
            self._recorder.append(samples)
            return
        if not hasattr(getattr(session, "log", None), "sent_audio"):
            self._recorder.append(samples)  # this session keeps no copy, so keep a bounded one
        self._pump.submit(lambda: session.append_audio(samples, PCM_RATE))

    def _end_turn(self) -> None:
        """Push-to-talk release: commit what was appended, then ask for a response.

        Both in one pump step, so a refused commit (a tap too short to hold the service's 100 ms
        minimum) asks for no answer: the error lands in ``send_errors`` and the turn is not counted.
        """
        session = self._session
        if self._pump is None or session is None:
            return

        async def _turn() -> None:
            await maybe_await(session.commit())
            self.turns_committed += 1
            await maybe_await(session.create_response())

        self._pump.submit(_turn)

    def _barge_in(self) -> None:
        """Push-to-talk press while an answer is running: cancel it, as speaking over it does with
        server VAD (the Player stops and truncates at what was heard when the cancel lands)."""
        session = self._session
        if self._pump is None or session is None or not getattr(session, "active_response_id", None):
            return

        async def _cancel() -> None:
            if getattr(session, "active_response_id", None):  # it may have finished meanwhile
                await maybe_await(session.cancel_response())

        self._pump.submit(_cancel)


def handle_msg(mic: Mic, content: Any, buffers: list[Any] | None, now_ms: float) -> None:
    """Apply one front-end message to ``mic`` (``now_ms``: kernel receipt time, explicit for tests)."""
    if not isinstance(content, dict) or "type" not in content:
        raise ValueError(f"Mic front-end message must be a dict with a 'type', got {content!r}")
    kind = content["type"]
    if kind == "chunk":
        _on_chunk(mic, parse_chunk(content, buffers), now_ms)
    elif kind == "pong":
        sent = mic._pending_pings.pop(content.get("id"), None)
        if sent is None:
            return  # an answer to a ping from an earlier sync round
        mic._clock.add(sent, float(content["t_page"]), now_ms)
        if mic._clock.samples < _CLOCK_PINGS:
            mic._send_ping()
    elif kind == "started":
        mic._pending_error = None
        mic._ptt_down = False
        mic.capture_info = {k: v for k, v in content.items() if k != "type"}
        # Wall clock minus the kernel clock: with the page's timeOrigin this gives a second, same-machine
        # estimate of the offset (benchmarks check the ping estimate against it).
        mic.capture_info["kernel_wall_minus_clock_ms"] = time.time() * 1000.0 - _kernel_ms()
        mic._clock = ClockSync()
        mic._pending_pings.clear()
        mic._send_ping()
    elif kind == "stopped":
        if mic._ptt_down:  # stop while held: the turn still ends
            mic._ptt_down = False
            mic._end_turn()
        mic.capture_info["chunks_sent"] = content.get("chunks_sent")
        _publish_status(mic)
    elif kind == "ptt":
        down = bool(content.get("down"))
        if mic._ptt_down and not down:
            mic._end_turn()
        elif down and not mic._ptt_down:
            mic._barge_in()
        mic._ptt_down = down
    elif kind == "error":
        mic._pending_error = MicError(str(content.get("name", "")), str(content.get("message", "")))
    else:
        raise ValueError(f"unknown Mic front-end message type {kind!r}")


def _on_chunk(mic: Mic, chunk: Chunk, now_ms: float) -> None:
    if chunk.seq == 0:  # each capture's worklet numbers from 0: its first chunk starts the count over
        mic._seq.reset()
    gap = mic._seq.observe(chunk.seq)
    if gap:
        mic.dropped += gap
        if mic._session is None or not hasattr(getattr(mic._session, "log", None), "sent_audio"):
            mic._recorder.append_silence(gap * len(chunk.samples))
    mic.chunks_received += 1
    mic.samples_received += len(chunk.samples)
    mic._latency.add(chunk.t_capture_ms, now_ms)
    mic._clock.add_to_kernel(chunk.t_capture_ms, now_ms)
    # Push-to-talk gates in the kernel too: a chunk in flight when the button came up is not sent.
    if mic.mode == "open" or mic._ptt_down:
        mic._forward(chunk.samples)
    for callback in mic._callbacks:
        try:
            callback(chunk.samples, chunk)
        except Exception as exc:
            mic._callback_errors.append(exc)
            del mic._callback_errors[:-100]
    if mic.chunks_received % _STATUS_EVERY == 0:
        _publish_status(mic)
    burst_done = mic._clock.samples >= _CLOCK_PINGS and not mic._pending_pings
    if burst_done and mic.chunks_received % _PING_EVERY == 0:
        mic._send_ping()


def _publish_status(mic: Mic) -> None:
    lat = mic._latency.latencies_ms(mic._clock)
    mic.status = {
        "chunks": mic.chunks_received,
        "ms": round(mic.ms_received),
        "dropped": mic.dropped,
        "latency_ms": round(float(np.median(lat[-50:])), 1) if lat.size else None,
    }

