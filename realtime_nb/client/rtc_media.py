"""The media of a WebRTC call: the microphone track we send, and recording the answer track we receive.

Over WebRTC the audio is not in events: the microphone is an Opus track paced in real time, the answer
comes back on another. This module keeps the media logic sans-I/O and testable without a network:

* `OutgoingAudio`: caller audio (any rate, any chunking; `append_audio` / `stream_file`) becomes 20 ms
  frames at 48 kHz. One resampler per source lasts across chunks, so a microphone's small chunks join
  without a click. A frame is either all audio or all silence (a partial frame waits for the next
  chunk) except the last one of a stream (`end_stream`), which is padded.
* `Pacer`: frame ``i`` is due at ``start + i * 20 ms`` on the clock it is given, so late wake-ups do
  not accumulate; a stall longer than `max_lag_s` re-anchors the schedule instead of bursting frames
  (a burst would only overflow the peer's jitter buffer).
* `MicTrack` (an aiortc ``MediaStreamTrack``): pulls one frame per due time, silence when idle, with
  ``pts`` counting samples at ``time_base`` 1/48000, and reports every frame it sends. It hands aiortc
  Opus packets it encoded itself (`realtime_nb.audio.opus`, as the engine's track does: no per-frame
  Python level loop, stereo upmix or thread hop in aiortc's encoder; idle silence is not re-encoded).
* `ReceivedAudio`: decides which response each received frame belongs to, from the data channel's
  ``output_audio_buffer.*`` events (below), and resamples 48 kHz -> 24 kHz (`protocol.PCM_RATE`).
* `FrameDownsampler`: a 48 -> 24 kHz stream resampler whose output is handed back frame by frame,
  exactly aligned with the input frames (soxr releases output in bursts and with a delay).
* `RtcMedia`: the three above wired to a session's `EventLog`, plus the task that consumes the
  incoming track. It plays nothing.

**What the log gets** (`EventLog.record_track_audio`):

* *sent*: every frame the track sends, from the first one, idle silence included, at 24 kHz. The
  peer's audio clock (``audio_start_ms`` ...) counts the audio it receives from its first frame, so
  sample ``k`` of the log's sent audio is ``k / 24`` ms on the peer's clock, exactly on a loss-free
  path (loopback); each packet lost in the network moves the peer's clock 20 ms behind ours. Opus's
  look-ahead and the two resamplers shift content by a few ms, the same on both sides' copies.
* *received*: each frame, with its arrival time and its peak (measured at 48 kHz, before resampling),
  under the response whose ``output_audio_buffer.started`` came last and has not yet been followed by
  its ``stopped`` / ``cleared``. The audio lags the events by the network and the receiver's jitter
  buffer (about 80 ms on aiortc), so silent frames after ``started`` and before the response's first
  audible one are the idle stream still in flight and are dropped (a response's own leading digital
  silence cannot be told apart and goes too), and frames still arriving after ``stopped`` /
  ``cleared`` stay with that response until the first silent one. Silent frames after a response's
  audible ones wait (up to ``PAUSE_MAX_FRAMES``) for what follows: more of its audio makes them a
  pause inside it, its ``stopped`` drops them (under load that event can come hundreds of ms after
  the track's last audible frame, and the idle stream in between was recorded as the end of the
  reply), and a ``cleared`` keeps them (a reply cut mid-way had them pulled from its audio before
  the cut). Outside any response, silent frames (the peer's idle stream) are dropped; an audible
  frame is held up to `HOLD_FRAMES` for a
  ``started`` that the data channel may deliver a little after the audio, and is otherwise kept
  under no response (key None), never in a response's audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from realtime_nb.audio import StreamResampler, float_to_int16, int16_to_float
from realtime_nb.client.audio_input import as_mono, check_rate
from realtime_nb.protocol import PCM_RATE
from realtime_nb.timeline import EventLog
from realtime_nb.timeline.track_audio import SILENT_PEAK

try:
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
except ImportError:  # the `webrtc` extra is not installed: the sans-I/O parts still work
    MediaStreamTrack = object
    MediaStreamError = EOFError
    AIORTC_MISSING = True
else:
    AIORTC_MISSING = False

INSTALL_HINT = "WebRTC needs aiortc: pip install 'realtime-nb[webrtc]'"

logger = logging.getLogger(__name__)

RTC_RATE = 48000
"""Opus on WebRTC runs at 48 kHz."""
FRAME_S = 0.02
FRAME_SAMPLES = 960  # 20 ms at 48 kHz
TIME_BASE = Fraction(1, RTC_RATE)
HOLD_FRAMES = 10
"""Audible frames outside any response wait this many frames (200 ms) for an ``output_audio_buffer.
started`` before they are kept as audio of no response."""
DRAIN_MAX_FRAMES = 50
"""After ``stopped`` / ``cleared``, frames go on counting for that response at most this long (1 s)."""
PAUSE_MAX_FRAMES = 50
"""Silent frames after a response's audible ones wait this long (1 s) to learn whether they are a
pause inside it (more of its audio follows) or the idle stream after it (its ``stopped`` comes
first); past that they are a pause, and kept."""


def _peak(pcm: np.ndarray) -> int:
    return int(np.abs(pcm.astype(np.int32)).max()) if pcm.size else 0


# --- outgoing: caller audio -> 20 ms frames ------------------------------------------------------------


class OutgoingAudio:
    """Caller audio queued for the microphone track, at 48 kHz mono int16 (see the module docstring)."""

    def __init__(self) -> None:
        self._chunks: deque[np.ndarray] = deque()
        self._queued = 0  # samples in `_chunks`
        self._resampler: StreamResampler | None = None
        self._src_rate: int | None = None
        self._pad_tail = False  # the queue ends a stream: its last partial frame goes out padded
        self.frames_sent = 0
        self.audio_frames_sent = 0

    @property
    def queued_ms(self) -> float:
        """Audio waiting to be sent (not counting what the resampler still holds)."""
        return self._queued / RTC_RATE * 1000

    @property
    def idle(self) -> bool:
        """Nothing left to send: the next frame will be silence."""
        return self._queued == 0 or (self._queued < FRAME_SAMPLES and not self._pad_tail)

    def append(self, samples: np.ndarray, rate: int) -> float:
        """Queue audio (int16 or float in [-1, 1], mono or (frames, channels), any rate); returns the
        milliseconds queued by this call at 48 kHz (the resampler may hold a few ms until the next)."""
        x = as_mono(samples)
        rate = check_rate(rate)
        f = x if x.dtype.kind == "f" else int16_to_float(x)
        before = self._queued
        if rate != self._src_rate:
            self._drain_resampler()  # a new source rate: finish the old stream first
            self._src_rate = rate
        if rate == RTC_RATE:
            self._push(float_to_int16(f.astype(np.float32, copy=False)))
        else:
            if self._resampler is None:
                self._resampler = StreamResampler(rate, RTC_RATE)
            self._push(float_to_int16(self._resampler.process(f.astype(np.float32, copy=False))))
        self._pad_tail = False
        return (self._queued - before) / RTC_RATE * 1000

    def end_stream(self) -> None:
        """The caller's stream ends here (a file's end, a commit): drain the resampler's tail and send
        the last partial frame padded with silence instead of waiting for more audio."""
        self._drain_resampler()
        self._pad_tail = self._queued > 0

    def clear(self) -> float:
        """Drop everything not yet sent (``input_audio_buffer.clear``); returns the ms dropped."""
        dropped = self.queued_ms
        self._chunks.clear()
        self._queued = 0
        self._resampler = None
        self._src_rate = None
        self._pad_tail = False
        return dropped

    def next_frame(self) -> tuple[np.ndarray, bool]:
        """The next 20 ms frame and whether it carries caller audio (False: silence)."""
        self.frames_sent += 1
        if self._queued >= FRAME_SAMPLES or (self._pad_tail and self._queued):
            frame = self._take(min(FRAME_SAMPLES, self._queued))
            if frame.size < FRAME_SAMPLES:
                frame = np.concatenate([frame, np.zeros(FRAME_SAMPLES - frame.size, np.int16)])
            if self._queued == 0:
                self._pad_tail = False
            self.audio_frames_sent += 1
            return frame, True
        return np.zeros(FRAME_SAMPLES, np.int16), False

    def _drain_resampler(self) -> None:
        if self._resampler is not None:
            self._push(float_to_int16(self._resampler.flush()))
            self._resampler = None

    def _push(self, pcm: np.ndarray) -> None:
        if pcm.size:
            self._chunks.append(pcm)
            self._queued += pcm.size

    def _take(self, n: int) -> np.ndarray:
        parts = []
        while n:
            head = self._chunks[0]
            if head.size <= n:
                parts.append(self._chunks.popleft())
                n -= head.size
                self._queued -= head.size
            else:
                parts.append(head[:n])
                self._chunks[0] = head[n:]
                self._queued -= n
                n = 0
        return np.concatenate(parts) if len(parts) > 1 else parts[0]


class Pacer:
    """When each frame is due: ``start + index * frame_s`` on the caller's clock (seconds)."""

    def __init__(self, frame_s: float = FRAME_S, max_lag_s: float = 0.2) -> None:
        if not (frame_s > 0 and max_lag_s >= frame_s):
            raise ValueError("frame_s must be > 0 and max_lag_s at least one frame")
        self.frame_s = frame_s
        self.max_lag_s = max_lag_s
        self.start: float | None = None
        self.index = 0  # frames handed out since `start`
        self.reanchors = 0
        self.max_late_s = 0.0

    def delay(self, now: float) -> float:
        """Seconds to wait before the next frame is due (0: send it now)."""
        if self.start is None:
            self.start = now
        due = self.start + self.index * self.frame_s
        if now - due > self.max_lag_s:  # a long stall: start a new schedule from now
            self.start, self.index = now, 0
            self.reanchors += 1
            return 0.0
        return max(0.0, due - now)

    def sent(self, now: float) -> float:
        """Count one frame as sent at `now`; returns how late it was (seconds, >= 0)."""
        assert self.start is not None, "delay() first"
        late = max(0.0, now - (self.start + self.index * self.frame_s))
        self.max_late_s = max(self.max_late_s, late)
        self.index += 1
        return late


class MicTrack(MediaStreamTrack):  # type: ignore[misc,valid-type]
    """The outgoing audio track: 20 ms frames from an `OutgoingAudio`, paced by `Pacer`.

    `on_frame(pcm48, carries_audio, t_ns)` is called for every frame as it is handed to aiortc.
    `clock` / `sleep` are injectable for tests (seconds, monotonic).
    """

    kind = "audio"

    def __init__(
        self,
        source: OutgoingAudio,
        on_frame: Callable[[np.ndarray, bool, int], None] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        if AIORTC_MISSING:
            raise ImportError(INSTALL_HINT)
        super().__init__()
        self.source = source
        self.pacer = Pacer()
        self._on_frame = on_frame
        self._clock = clock
        self._sleep = sleep
        self._pts = 0
        from realtime_nb.audio.opus import OpusPackets

        self._opus = OpusPackets()

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        delay = self.pacer.delay(self._clock())
        if delay > 0:
            await self._sleep(delay)
        if self.readyState != "live":
            raise MediaStreamError
        pcm, carries_audio = self.source.next_frame()
        self.pacer.sent(self._clock())
        packet = self._opus.encode(pcm, self._pts)
        self._pts += pcm.size
        if self._on_frame is not None:
            try:
                self._on_frame(pcm, carries_audio, time.monotonic_ns())
            except Exception:  # recording must never stop the microphone
                logger.exception("recording a sent frame failed")
        return packet


# --- 48 kHz frames -> 24 kHz, frame by frame -------------------------------------------------------------


class FrameDownsampler:
    """48 kHz int16 frames in, each frame's 24 kHz samples out (with the frame's tag) once complete.

    One soxr stream (float, so silence stays exactly silent) keeps its state across frames; its output
    is aligned with its input's start, so the ``i``-th input sample maps to output ``i / 2``. Output
    comes in bursts and late; this hands it back per input frame, in order.
    """

    def __init__(self) -> None:
        self._resampler = StreamResampler(RTC_RATE, PCM_RATE)
        self._pending: deque[list[Any]] = deque()  # [tag, samples still needed, parts]
        self._in = 0

    def feed(self, pcm48: np.ndarray, tag: Any) -> list[tuple[Any, np.ndarray]]:
        need = (self._in + pcm48.size) // 2 - self._in // 2
        self._in += pcm48.size
        self._pending.append([tag, need, []])
        return self._distribute(self._resampler.process(int16_to_float(pcm48)))

    def flush(self) -> list[tuple[Any, np.ndarray]]:
        done = self._distribute(self._resampler.flush())
        while self._pending:  # soxr may return a sample or two fewer than the exact ratio
            tag, need, parts = self._pending.popleft()
            parts.append(np.zeros(need, np.float32))
            done.append((tag, float_to_int16(np.concatenate(parts))))
        return done

    def _distribute(self, out: np.ndarray) -> list[tuple[Any, np.ndarray]]:
        done: list[tuple[Any, np.ndarray]] = []
        pos = 0
        while self._pending and pos < out.size:
            entry = self._pending[0]
            take = min(entry[1], out.size - pos)
            entry[2].append(out[pos : pos + take])
            entry[1] -= take
            pos += take
            if entry[1] == 0:
                self._pending.popleft()
                done.append((entry[0], float_to_int16(np.concatenate(entry[2]))))
        while self._pending and self._pending[0][1] == 0:  # zero-length frames
            tag = self._pending.popleft()[0]
            done.append((tag, np.zeros(0, np.int16)))
        return done


# --- incoming: which response each received frame belongs to --------------------------------------------


@dataclass
class _Frame:
    """One received frame on its way to the log; `key` is decided when `decided` is set."""

    t_ns: int
    peak: int
    index: int
    key: str | None = None
    decided: bool = False
    keep: bool = False


@dataclass(frozen=True)
class TrackChunk:
    """A received frame ready for `EventLog.record_track_audio`."""

    response_id: str | None
    pcm: np.ndarray
    t_ns: int
    peak: int


class ReceivedAudio:
    """The incoming track's attribution state machine (see the module docstring), sans-I/O.

    States: ``idle`` (no response playing), ``playing`` (between a response's ``started`` and its
    ``stopped`` / ``cleared``), ``draining`` (after that, until the first silent frame).
    """

    def __init__(self) -> None:
        self.state = "idle"
        self.response_id: str | None = None
        self._drained = 0
        self._audible = False  # the current response's first audible frame has arrived
        self._held: list[_Frame] = []
        self._quiet: list[_Frame] = []  # silence after the response's audible frames (PAUSE_MAX_FRAMES)
        self._order: deque[tuple[_Frame, np.ndarray | None]] = deque()  # frames in arrival order
        self._down = FrameDownsampler()
        self.frames = 0
        self.dropped_silent = 0

    def on_event(self, event: dict[str, Any]) -> None:
        """Follow the data channel's ``output_audio_buffer.*`` events (canonical form)."""
        kind = event.get("type")
        rid = event.get("response_id")
        if kind == "output_audio_buffer.started" and isinstance(rid, str):
            self._end_quiet(keep=False)  # the previous response's trailing silence
            for frame in self._held:
                frame.key, frame.keep, frame.decided = rid, True, True
            self._held.clear()
            self.state, self.response_id, self._drained = "playing", rid, 0
            self._audible = False
        elif (
            kind in ("output_audio_buffer.stopped", "output_audio_buffer.cleared")
            and self.state == "playing"
            and rid == self.response_id  # a late `stopped` of an earlier response must not end this one
        ):
            if kind == "output_audio_buffer.cleared":
                # cut mid-reply: the quiet frames before the cut were pulled from the reply's audio
                # (the engine truncates the item after them), so they are the reply's
                self._end_quiet(keep=True)
            self.state, self._drained = "draining", 0

    def feed(self, pcm48: np.ndarray, t_ns: int) -> list[TrackChunk]:
        """One received 48 kHz mono frame; returns the chunks now ready for the log, in order."""
        self.frames += 1
        frame = _Frame(t_ns, _peak(pcm48), self.frames)
        silent = frame.peak <= SILENT_PEAK
        if self.state == "draining":
            self._drained += 1
            if silent or self._drained > DRAIN_MAX_FRAMES:
                self.state, self.response_id = "idle", None
                self._end_quiet(keep=False)
        if self.state in ("playing", "draining") and not silent:
            self._audible = True
            self._end_quiet(keep=True)  # a pause inside the response
            frame.key, frame.keep, frame.decided = self.response_id, True, True
        elif self.state in ("playing", "draining") and self._audible:
            frame.key = self.response_id
            self._quiet.append(frame)  # decided by what follows
            if len(self._quiet) > PAUSE_MAX_FRAMES:
                self._end_quiet(keep=True)
        elif self.state in ("playing", "draining"):
            frame.decided = True  # the idle stream still in flight after `started`: not the response's
            self.dropped_silent += 1
        elif silent:
            frame.decided = True  # idle silence: not kept
            self.dropped_silent += 1
        else:
            self._held.append(frame)
        while self._held and self.frames - self._held[0].index >= HOLD_FRAMES:
            oldest = self._held.pop(0)  # no response claimed it in time: audio of no response
            oldest.key, oldest.keep, oldest.decided = None, True, True
        for tag, pcm24 in self._down.feed(pcm48, frame):
            self._ready(tag, pcm24)
        return self._emit()

    def _end_quiet(self, *, keep: bool) -> None:
        """Decide the silent frames waiting after a response's audio: kept as a pause inside it, or
        dropped as the idle stream after it."""
        for frame in self._quiet:
            frame.keep, frame.decided = keep, True
        if not keep:
            self.dropped_silent += len(self._quiet)
        self._quiet.clear()

    def flush(self) -> list[TrackChunk]:
        """The end of the track: everything still held or in the resampler goes out."""
        self._end_quiet(keep=False)
        for frame in self._held:
            frame.key, frame.keep, frame.decided = None, True, True
        self._held.clear()
        for tag, pcm24 in self._down.flush():
            self._ready(tag, pcm24)
        return self._emit()

    def _ready(self, frame: _Frame, pcm24: np.ndarray) -> None:
        self._order.append((frame, pcm24))

    def _emit(self) -> list[TrackChunk]:
        out: list[TrackChunk] = []
        while self._order and self._order[0][0].decided:
            frame, pcm24 = self._order.popleft()
            if frame.keep and pcm24 is not None:
                out.append(TrackChunk(frame.key, pcm24, frame.t_ns, frame.peak))
        return out


class SentAudio:
    """The microphone's frames, downsampled to 24 kHz for the log's sent audio, each with its time."""

    def __init__(self) -> None:
        self._down = FrameDownsampler()

    def feed(self, pcm48: np.ndarray, t_ns: int) -> list[tuple[int, np.ndarray]]:
        return self._down.feed(pcm48, t_ns)

    def flush(self) -> list[tuple[int, np.ndarray]]:
        return self._down.flush()


def frame_to_mono(frame: Any) -> np.ndarray:
    """An av ``AudioFrame`` (s16 / fltp / ..., mono or stereo, any layout) -> int16 mono samples."""
    array = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if array.dtype.kind == "f":
        array = float_to_int16(np.clip(array, -1.0, 1.0))
    data = array.reshape(channels, -1) if frame.format.is_planar else array.reshape(-1, channels).T
    if channels == 1:
        return data[0].astype(np.int16, copy=False)
    return np.round(data.astype(np.int32).mean(axis=0)).astype(np.int16)


# --- the media of one call, wired to a log ----------------------------------------------------------------


class RtcMedia:
    """The outgoing track, the incoming recorder and their log; what `WebRTCTransport` carries."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.outgoing = OutgoingAudio()
        self.track = MicTrack(self.outgoing, self._sent_frame)
        self.received = ReceivedAudio()
        self._sent = SentAudio()
        self._drained = asyncio.Event()
        self._drained.set()
        self.last_rx_ns: int | None = None
        """When the last incoming frame arrived (monotonic ns); None before the first."""
        self._finished = False

    # the microphone

    @property
    def sent_ms(self) -> float:
        """Milliseconds the track has sent (every frame, silence included): the peer's audio clock."""
        return self.outgoing.frames_sent * FRAME_S * 1000

    def append(self, samples: np.ndarray, rate: int) -> float:
        ms = self.outgoing.append(samples, rate)
        if not self.outgoing.idle:
            self._drained.clear()
        return ms

    def end_stream(self) -> None:
        self.outgoing.end_stream()
        if not self.outgoing.idle:
            self._drained.clear()

    def clear(self) -> float:
        dropped = self.outgoing.clear()
        self._drained.set()
        return dropped

    async def wait_sent(self, timeout: float) -> None:
        """Until every queued sample has left in a frame (bounded by `timeout`, then TimeoutError)."""
        await asyncio.wait_for(self._drained.wait(), timeout)

    def _sent_frame(self, pcm48: np.ndarray, carries_audio: bool, t_ns: int) -> None:
        if self.outgoing.idle:
            self._drained.set()
        if self._finished:
            return
        for t, pcm24 in self._sent.feed(pcm48, t_ns):
            self.log.record_track_audio("sent", pcm24, t_ns=t)

    # the answer

    def on_event(self, event: dict[str, Any]) -> None:
        self.received.on_event(event)

    async def consume(self, track: Any, on_frame: Callable[[], None] | None = None) -> None:
        """Read the incoming track until it ends, recording each frame (the task `RtcMedia` runs)."""
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                break
            t_ns = time.monotonic_ns()
            self.last_rx_ns = t_ns
            if on_frame is not None:
                on_frame()
            pcm = frame_to_mono(frame)
            if frame.sample_rate != RTC_RATE:  # not what Opus decodes to; resample rather than refuse
                pcm = _resample_to(pcm, frame.sample_rate, RTC_RATE)
            self._record(self.received.feed(pcm, t_ns))

    def finish(self) -> None:
        """Flush both resamplers into the log (at the end of the call). Idempotent."""
        if self._finished:
            return
        self._finished = True
        with contextlib.suppress(Exception):
            for t, pcm24 in self._sent.flush():
                self.log.record_track_audio("sent", pcm24, t_ns=t)
        with contextlib.suppress(Exception):
            self._record(self.received.flush())
        self.track.stop()
        self._drained.set()

    def _record(self, chunks: list[TrackChunk]) -> None:
        for chunk in chunks:
            self.log.record_track_audio(
                "received", chunk.pcm, t_ns=chunk.t_ns, response_id=chunk.response_id, peak=chunk.peak
            )


def _resample_to(pcm: np.ndarray, src: int, dst: int) -> np.ndarray:
    from realtime_nb.audio import resample

    out = float_to_int16(resample(int16_to_float(pcm), src, dst))
    want = math.floor(pcm.size * dst / src)
    return out[:want] if out.size >= want else np.concatenate([out, np.zeros(want - out.size, np.int16)])
