"""Audio between a call's aiortc tracks (Opus, 48 kHz) and an engine session (24 kHz mono PCM16).

Out: :class:`PlayoutTrack` is the answer's audio track. aiortc's sender awaits ``recv()`` for each
frame and encodes it to Opus; ``recv`` waits for the frame's time on the clock (20 ms apart from the
first one), pulls 20 ms from the session (``pull(now)``, i.e. ``EngineSession.output_frame``, which
is silence when nothing plays), upsamples it to 48 kHz with one `Upsampler2x` for the whole call (its
filter state carries over, so frame edges do not click) and returns 960 samples with ``pts`` counting
samples at ``time_base`` 1/48000.

The upsampler is the short half-band filter of `realtime_nb.audio.halfband`: 480 samples in are
exactly 960 out, delayed by ~1 ms. soxr (`StreamResampler`), used here before, held back 21 ms on
average and released its output in blocks, so the track had to keep another 20 ms frame in reserve:
40 ms on every answer's latency. Everything pulled is sent, in order: a barge-in's truncation point
(the audio pulled) is what the peer receives, the last ~1 ms of it in the next (silent) frame.

**Opus packets, not frames.** `PlayoutTrack.recv` hands aiortc's sender a packet it encoded itself
(`realtime_nb.audio.opus.OpusPackets`: mono, 64 kbit/s, low-delay mode; that module says what it
saves), which the sender only wraps in RTP. Idle silence is not re-encoded: once the encoder has
settled on its 3-byte silence packet, further silent frames repeat it (the encoder was a third of the
engine loop's time with eight calls, most of it on silence).

**The first frame of an answer is not left waiting for the next tick.** While the track sends
silence, the call adapter calls `PlayoutTrack.wake` as soon as audio is queued: the frame that was
due up to 20 ms later goes out now and the 20 ms grid continues from it (one idle interval is
shortened; the RTP timestamps stay contiguous, and a receiver sees no more than 20 ms of jitter).

If the loop falls behind (a stall, a busy machine) the late frames go out at once to catch up; past
:data:`MAX_CATCH_UP_S` the schedule restarts from now instead of sending a burst, and the lag is
counted (``PlayoutTrack.resyncs``).

In: :class:`MicrophoneReader` turns the peer's decoded frames (Opus decodes to 48 kHz stereo; any
rate, layout and sample format are accepted) into 24 kHz mono int16 with one resampler for the call:
`Downsampler2x` for 48 kHz (~1 ms, output aligned with the input as `StreamResampler`'s is), soxr
for any other rate. Frames that queued while the loop was busy are taken together (`frames_ready`)
and converted in one pass (`MicrophoneReader.convert_all`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, Packet

from realtime_nb.audio import StreamResampler
from realtime_nb.audio.halfband import Downsampler2x, Upsampler2x
from realtime_nb.audio.opus import WIRE_FRAME, WIRE_RATE, OpusPackets
from realtime_nb.protocol.formats import PCM_RATE

__all__ = ["MicrophoneReader", "OpusPackets", "PlayoutTrack", "WireFrames", "frames_ready", "to_mono_int16"]

FRAME_S = 0.020
MAX_CATCH_UP_S = 0.2  # later than this, restart the schedule instead of sending a burst
# A peer sending a rate other than 48 kHz (not Opus as WebRTC has it): soxr's LQ recipe, the one the
# input pipeline uses for its 16 kHz VAD feed.
MIC_QUALITY = "LQ"


class WireFrames:
    """24 kHz frames in, 960-sample 48 kHz frames out, filter state kept across frames (an idle
    call's silence costs no filtering: see `Upsampler2x`)."""

    def __init__(self) -> None:
        self._up = Upsampler2x()

    def push(self, pcm24: np.ndarray) -> np.ndarray:
        """Feed 20 ms at 24 kHz; returns the same 20 ms at 48 kHz (int16, 960 samples)."""
        if pcm24.size * 2 != WIRE_FRAME:
            raise ValueError(f"expected {WIRE_FRAME // 2} samples (20 ms at 24 kHz), got {pcm24.size}")
        return self._up.process(pcm24)


class PlayoutTrack(MediaStreamTrack):
    """The call's outgoing audio: 20 ms frames paced by the clock (see the module docstring)."""

    kind = "audio"

    def __init__(
        self, pull: Callable[[float], np.ndarray], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._pull = pull
        self._clock = clock
        self._wire = WireFrames()
        self._opus = OpusPackets()
        self._start: float | None = None
        self._idle = True  # the last frame pulled was silence
        self._woken = False  # wake() came while idle: the next frame goes now
        self._waiter: asyncio.Future[None] | None = None  # the idle wait wake() cuts short
        self.frames = 0  # frames handed to the encoder
        self.resyncs = 0  # times the schedule restarted after a stall
        self.wakes = 0  # idle waits cut short because audio was queued

    def wake(self) -> None:
        """Audio is ready to leave: if the track is idle, send the next frame now rather than at its
        slot (see the module docstring). Call it only when a whole frame is queued."""
        if self._idle:
            self._woken = True
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(None)

    async def recv(self) -> Packet | AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._wait_for_slot()
        if self.readyState != "live":  # stopped while waiting
            raise MediaStreamError
        pcm24 = self._pull(self._clock())
        self._idle = not pcm24.any()
        if not self._idle:
            self._woken = False
        pts = self.frames * WIRE_FRAME
        self.frames += 1
        return self._opus.encode(self._wire.push(pcm24), pts)

    async def _wait_for_slot(self) -> None:
        now = self._clock()
        if self._start is None:
            self._start = now
            return
        due = self._start + self.frames * FRAME_S
        if due > now and self._idle:
            if not self._woken:
                await self._idle_wait(due - now)
            if self._woken:  # audio was queued: this frame goes now, the grid follows it
                self._woken = False
                self._start = self._clock() - self.frames * FRAME_S
                self.wakes += 1
        elif due > now:
            await asyncio.sleep(due - now)
        elif now - due > MAX_CATCH_UP_S:
            self._start = now - self.frames * FRAME_S
            self.resyncs += 1

    async def _idle_wait(self, seconds: float) -> None:
        """Sleep `seconds` unless `wake` comes first: a future and a timer, as cheap as asyncio.sleep
        (no task per frame: every idle call waits here 50 times a second)."""
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = loop.call_later(seconds, _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class MicrophoneReader:
    """The peer's decoded audio frames -> 24 kHz mono int16 (resampler state kept for the call)."""

    def __init__(self) -> None:
        self._rate: int | None = None
        self._down: Downsampler2x | StreamResampler | None = None

    def convert(self, frame: AudioFrame) -> np.ndarray:
        return self._resample(to_mono_int16(frame), int(frame.sample_rate))

    def convert_all(self, frames: list[AudioFrame]) -> np.ndarray:
        """Several frames in order, through the resampler in one pass (the same samples as one
        `convert` per frame)."""
        if len(frames) == 1:
            return self.convert(frames[0])
        out: list[np.ndarray] = []
        run: list[np.ndarray] = []
        rate = None
        for frame in frames:
            if run and int(frame.sample_rate) != rate:
                out.append(self._resample(np.concatenate(run), rate))
                run = []
            rate = int(frame.sample_rate)
            run.append(to_mono_int16(frame))
        out.append(self._resample(np.concatenate(run), rate))
        return np.concatenate(out)

    def _resample(self, mono: np.ndarray, rate: int | None) -> np.ndarray:
        if rate != self._rate:  # first frame, or the peer changed its rate: a new filter
            self._rate = rate
            self._down = (
                None
                if rate == PCM_RATE
                else Downsampler2x()
                if rate == 2 * PCM_RATE
                else StreamResampler(int(rate or WIRE_RATE), PCM_RATE, quality=MIC_QUALITY)
            )
        return mono if self._down is None else self._down.process(mono)


async def frames_ready(track: MediaStreamTrack) -> tuple[list[AudioFrame], bool]:
    """The track's next frame (awaited) and every frame already queued behind it, and whether the
    track ended behind them. aiortc's remote track keeps decoded frames in an ``asyncio.Queue``
    (``_queue``, with ``None`` for its end); when the loop was busy several are waiting, and taking
    them together lets the input path handle them in one pass. Another kind of track gives one frame
    at a time. Raises MediaStreamError when the track has ended."""
    frames = [await track.recv()]
    queue = getattr(track, "_queue", None)
    if isinstance(queue, asyncio.Queue):
        while not queue.empty():
            frame = queue.get_nowait()
            if frame is None:  # the end, as RemoteStreamTrack.recv would have seen it
                track.stop()
                return frames, True
            frames.append(frame)
    return frames, False


def to_mono_int16(frame: AudioFrame) -> np.ndarray:
    """One channel of int16 from any decoded audio frame (channels averaged)."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if data.dtype == np.int16:  # what aiortc's Opus decoder gives: integer averaging, no float pass
        per_channel = data.reshape(channels, -1) if frame.format.is_planar else data.reshape(-1, channels).T
        if channels == 1:
            return per_channel[0].copy()
        return (per_channel.sum(axis=0, dtype=np.int32) // channels).astype(np.int16)
    if frame.format.is_planar:
        samples = data.reshape(channels, -1).astype(np.float64)
        mixed = samples.mean(axis=0)
    else:
        mixed = data.reshape(-1, channels).astype(np.float64).mean(axis=1)
    if np.issubdtype(data.dtype, np.floating):
        mixed = mixed * 32768.0
    return np.clip(np.rint(mixed), -32768, 32767).astype(np.int16)
