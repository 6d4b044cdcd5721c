"""Audio between a call's aiortc tracks (Opus, 48 kHz) and an engine session (24 kHz mono PCM16).

Out: :class:`PlayoutTrack` is the answer's audio track. aiortc's sender awaits ``recv()`` for each
frame and encodes it to Opus; ``recv`` waits for the frame's time on the clock (20 ms apart from the
first one), pulls 20 ms from the session (``pull(now)``, i.e. ``EngineSession.output_frame``, which
is silence when nothing plays), upsamples it to 48 kHz with one :class:`StreamResampler` for the
whole call (its filter state carries over, so frame edges do not click) and returns 960 samples with
``pts`` counting samples at ``time_base`` 1/48000.

soxr hands its output out in blocks (about 1660 samples every other 20 ms at this ratio), so the
48 kHz side is a small FIFO. While it holds less than a frame the track sends silence and keeps what
it has; that happens only in the first frames of a call (the session is silent then) and leaves a
constant cushion of about 20 ms, plus the filter's own ~21 ms. Everything pulled is sent, in order:
a barge-in's truncation point (the audio pulled) is exactly what the peer receives.

If the loop falls behind (a stall, a busy machine) the late frames go out at once to catch up; past
:data:`MAX_CATCH_UP_S` the schedule restarts from now instead of sending a burst, and the lag is
counted (``PlayoutTrack.resyncs``).

In: :class:`MicrophoneReader` turns the peer's decoded frames (Opus decodes to 48 kHz stereo; any
rate, layout and sample format are accepted) into 24 kHz mono int16 with one resampler for the call.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Callable

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from realtime_nb.audio import StreamResampler
from realtime_nb.protocol.formats import PCM_RATE

WIRE_RATE = 48000  # Opus in WebRTC
FRAME_S = 0.020
WIRE_FRAME = int(WIRE_RATE * FRAME_S)  # 960 samples
TIME_BASE = fractions.Fraction(1, WIRE_RATE)
MAX_CATCH_UP_S = 0.2  # later than this, restart the schedule instead of sending a burst
# The peer's audio is what the VAD hears; soxr's LQ recipe holds back 10 ms less than HQ and is
# what the input pipeline already uses for its 16 kHz VAD feed.
MIC_QUALITY = "LQ"


class WireFrames:
    """24 kHz frames in, 960-sample 48 kHz frames out, filter state kept across frames."""

    def __init__(self) -> None:
        self._up = StreamResampler(PCM_RATE, WIRE_RATE)
        self._fifo = np.zeros(0, np.int16)
        self.underflows = 0  # frames sent as silence while the FIFO filled

    def push(self, pcm24: np.ndarray) -> np.ndarray:
        """Feed 20 ms at 24 kHz; returns the next 20 ms at 48 kHz (int16, 960 samples)."""
        out = self._up.process(pcm24)
        if out.size:
            self._fifo = np.concatenate([self._fifo, out]) if self._fifo.size else out
        if self._fifo.size < WIRE_FRAME:
            self.underflows += 1
            return np.zeros(WIRE_FRAME, np.int16)
        frame, self._fifo = self._fifo[:WIRE_FRAME], self._fifo[WIRE_FRAME:]
        return frame

    @property
    def buffered_ms(self) -> float:
        return self._fifo.size * 1000.0 / WIRE_RATE


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
        self._start: float | None = None
        self.frames = 0  # frames handed to the encoder
        self.resyncs = 0  # times the schedule restarted after a stall

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._wait_for_slot()
        if self.readyState != "live":  # stopped while waiting
            raise MediaStreamError
        samples = self._wire.push(self._pull(self._clock()))
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = WIRE_RATE
        frame.pts = self.frames * WIRE_FRAME
        frame.time_base = TIME_BASE
        self.frames += 1
        return frame

    async def _wait_for_slot(self) -> None:
        now = self._clock()
        if self._start is None:
            self._start = now
            return
        due = self._start + self.frames * FRAME_S
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > MAX_CATCH_UP_S:
            self._start = now - self.frames * FRAME_S
            self.resyncs += 1


class MicrophoneReader:
    """The peer's decoded audio frames -> 24 kHz mono int16 (resampler state kept for the call)."""

    def __init__(self) -> None:
        self._rate: int | None = None
        self._down: StreamResampler | None = None

    def convert(self, frame: AudioFrame) -> np.ndarray:
        mono = to_mono_int16(frame)
        rate = int(frame.sample_rate)
        if rate != self._rate:  # first frame, or the peer changed its rate: a new filter
            self._rate = rate
            self._down = None if rate == PCM_RATE else StreamResampler(rate, PCM_RATE, quality=MIC_QUALITY)
        return mono if self._down is None else self._down.process(mono)


def to_mono_int16(frame: AudioFrame) -> np.ndarray:
    """One channel of int16 from any decoded audio frame (channels averaged)."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        samples = data.reshape(channels, -1).astype(np.float64)
        mixed = samples.mean(axis=0)
    else:
        mixed = data.reshape(-1, channels).astype(np.float64).mean(axis=1)
    if np.issubdtype(data.dtype, np.floating):
        mixed = mixed * 32768.0
    return np.clip(np.rint(mixed), -32768, 32767).astype(np.int16)
