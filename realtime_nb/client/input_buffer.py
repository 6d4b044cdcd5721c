"""The input audio buffer verbs: append (any rate, resampled and encoded), commit, clear, stream a file.

Audio is encoded in the session's input format by one `AudioInput` stream, kept across appends so a
sequence of small chunks resamples seamlessly; a session.updated that changes the input format starts
a new stream. `appended_ms` counts what was sent: the service's audio clock.

Over WebRTC the microphone is a media track (`rtc_media`), not events: `append_audio` and
`stream_file` queue audio for the track (which sends it in real time, silence when idle) and send no
``input_audio_buffer.append``; `commit` first lets the queued audio leave, then waits
`RTC_COMMIT_SETTLE_S` for the peer's jitter buffer, so the commit does not overtake the audio it
commits; `clear` also drops what is still queued. `appended_ms` is then the track's clock.
"""

from __future__ import annotations

import asyncio
import base64
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from realtime_nb.audio import decode, encode, read_wav
from realtime_nb.client.audio_input import AudioInput
from realtime_nb.client.core import SessionCore
from realtime_nb.client.pacing import Schedule, check_speed
from realtime_nb.protocol import new_id

if TYPE_CHECKING:
    from realtime_nb.client.rtc_media import RtcMedia

RTC_COMMIT_SETTLE_S = 0.15
"""Over WebRTC, how long a commit waits after the last queued frame left: the peer's receiver holds
audio in a jitter buffer (aiortc about 80 ms) before its input buffer sees it."""


@dataclass(frozen=True)
class StreamResult:
    """What `stream_file` sent: the audio as the peer received it, and how well pacing kept up."""

    samples: np.ndarray = field(repr=False)  # int16 at `rate`, decoded from the bytes that were sent
    rate: int
    format: str
    chunks: int
    audio_ms: float
    elapsed_s: float
    max_late_ms: float  # worst lateness of a chunk against its scheduled time


class InputBufferVerbs(SessionCore):
    """``input_audio_buffer.*`` on a session: `append_audio`, `commit`, `clear`, `stream_file`."""

    # Per-instance state, set on first use; class-level defaults keep the core's constructor the only one.
    _audio_in: AudioInput | None = None
    _appended_bytes_ms: float = 0.0
    _rtc_media: RtcMedia | None = None  # set when the session runs over WebRTC

    @property
    def appended_ms(self) -> float:
        """Milliseconds of audio appended since the session started (the service's audio clock).

        Over WebRTC: milliseconds the microphone track has sent, silence included (the peer's clock)."""
        if self._rtc_media is not None:
            return self._rtc_media.sent_ms
        return self._appended_bytes_ms

    def _config_reported(self) -> None:
        super()._config_reported()
        stale = self._audio_in is not None and self.config is not None
        if stale and self._audio_in.fmt != self.config.input_format:  # type: ignore[union-attr]
            self._audio_in = None  # a new input format: start a new resampling stream

    def _input(self) -> AudioInput:
        fmt = self.config.input_format if self.config is not None else "pcm16"
        if self._audio_in is None or self._audio_in.fmt != fmt:
            self._audio_in = AudioInput(fmt)
        return self._audio_in

    async def _append_bytes(self, data: bytes, audio_in: AudioInput) -> None:
        wire = {
            "type": "input_audio_buffer.append",
            "event_id": new_id("event"),
            "audio": base64.b64encode(data).decode("ascii"),
        }
        await self._send_wire(wire)
        self._appended_bytes_ms += audio_in.bytes_to_ms(len(data))

    async def append_audio(self, samples: np.ndarray, rate: int) -> float:
        """Append audio (int16 or float in [-1, 1], mono or (frames, channels), any rate).

        It is resampled and encoded to the session's input format; resampler state is kept across
        calls so a stream of small chunks stays seamless (`commit()` drains the tail). A payload
        over the service's 15 MiB limit is split into several appends. Returns the milliseconds of
        audio sent by this call (the resampler may hold back a few ms until the next call).

        Over WebRTC the audio is queued for the microphone track (resampled to 48 kHz) and sent in
        real time; no event is sent, and the return value is the milliseconds queued.
        """
        self._check_open()
        if self._rtc_media is not None:
            return self._rtc_media.append(samples, rate)
        audio_in = self._input()
        payloads = audio_in.feed(samples, rate)
        before = self._appended_bytes_ms
        for data in payloads:
            await self._append_bytes(data, audio_in)
        return self._appended_bytes_ms - before

    async def _flush_input(self) -> None:
        if self._audio_in is not None:
            audio_in = self._audio_in
            for data in audio_in.flush():
                await self._append_bytes(data, audio_in)

    async def commit(self, timeout: float | None = None) -> str:
        """Commit the input buffer; returns the new user item's id (``input_audio_buffer.committed``).

        With VAD on the server also commits by itself; a VAD commit arriving at the same moment
        cannot be told apart from ours.
        """
        self._check_open()
        await self._flush_input()
        if self._rtc_media is not None:
            await self._rtc_audio_sent(timeout)
        wire = self._prepare({"type": "input_audio_buffer.commit"})
        reply = await self._request(wire, "input_audio_buffer.committed", exclusive=True, timeout=timeout)
        return str(reply.get("item_id"))

    async def clear(self, timeout: float | None = None) -> None:
        """Drop the uncommitted input audio (waits for ``input_audio_buffer.cleared``)."""
        self._check_open()
        if self._audio_in is not None:
            self._audio_in.reset()
        if self._rtc_media is not None:
            self._rtc_media.clear()
        wire = self._prepare({"type": "input_audio_buffer.clear"})
        await self._request(wire, "input_audio_buffer.cleared", exclusive=True, timeout=timeout)

    async def stream_file(
        self,
        path: str | Path,
        speed: float = 1.0,
        chunk_ms: float = 40,
        tail_silence_ms: float = 0,
    ) -> StreamResult:
        """Stream a WAV file (any rate, mono or stereo) as appends paced at real time x `speed`.

        Chunk i is sent at start + i * chunk_ms / speed on the monotonic clock, so late wake-ups do
        not accumulate; ``speed=0`` sends as fast as the peer accepts. `tail_silence_ms` of silence
        is appended after the file (lets server VAD see the end of the last turn). Does not commit.

        Over WebRTC the file is queued for the microphone track, which plays it in real time in 20 ms
        frames (`chunk_ms` does not apply); a media track has one speed, so `speed` must be 1 (0, "as
        fast as the peer takes it", is the same there). Returns when the file and the tail have been
        sent; the result's samples are the file at 48 kHz, format ``"opus"``.
        """
        speed = check_speed(speed)
        if (
            isinstance(chunk_ms, bool)
            or not isinstance(chunk_ms, int | float)
            or not (math.isfinite(chunk_ms) and chunk_ms > 0)
        ):
            raise ValueError(f"chunk_ms must be a positive number, got {chunk_ms!r}")
        if (
            isinstance(tail_silence_ms, bool)
            or not isinstance(tail_silence_ms, int | float)
            or not (math.isfinite(tail_silence_ms) and tail_silence_ms >= 0)
        ):
            raise ValueError(f"tail_silence_ms must be a number >= 0, got {tail_silence_ms!r}")
        samples, rate = read_wav(path)
        self._check_open()
        if self._rtc_media is not None:
            return await self._rtc_stream(samples, rate, speed, tail_silence_ms)
        await self._flush_input()
        audio_in = self._input()
        data = audio_in.encode_whole(samples, rate)
        tail = round(audio_in.rate * tail_silence_ms / 1000)
        if tail:
            data += encode(np.zeros(tail, dtype=np.int16), audio_in.fmt)  # type: ignore[arg-type]
        sample_bytes = 2 if audio_in.fmt == "pcm16" else 1
        step = max(1, round(audio_in.rate * chunk_ms / 1000)) * sample_bytes
        loop = asyncio.get_running_loop()
        schedule = Schedule(loop.time(), step / sample_bytes / audio_in.rate, speed)
        max_late = 0.0
        chunks = 0
        for index, offset in enumerate(range(0, len(data), step)):
            delay = schedule.delay(index, loop.time())
            if delay > 0:
                await asyncio.sleep(delay)
            if speed:
                max_late = max(max_late, loop.time() - schedule.due(index))
            await self._append_bytes(data[offset : offset + step], audio_in)
            chunks += 1
        elapsed = loop.time() - schedule.start
        sent = decode(data, audio_in.fmt)  # type: ignore[arg-type]
        return StreamResult(
            samples=sent,
            rate=audio_in.rate,
            format=audio_in.fmt,
            chunks=chunks,
            audio_ms=sent.size / audio_in.rate * 1000,
            elapsed_s=elapsed,
            max_late_ms=max_late * 1000,
        )

    # --- over WebRTC: the microphone track ---------------------------------------------------------

    async def _rtc_audio_sent(self, timeout: float | None) -> None:
        """Let every queued sample leave in a frame, then the peer's jitter buffer catch up."""
        assert self._rtc_media is not None
        self._rtc_media.end_stream()
        wait = timeout or self.timeout
        try:
            await self._rtc_media.wait_sent(wait + self._rtc_media.outgoing.queued_ms / 1000)
        except TimeoutError:
            raise TimeoutError(f"the queued audio was not sent within {wait:g} s") from None
        await asyncio.sleep(RTC_COMMIT_SETTLE_S)

    async def _rtc_stream(
        self, samples: np.ndarray, rate: int, speed: float, tail_silence_ms: float
    ) -> StreamResult:
        media = self._rtc_media
        assert media is not None
        if speed not in (0.0, 1.0):
            raise ValueError(
                f"speed={speed:g}: a WebRTC microphone track plays in real time; use speed=1 "
                "(or stream over a WebSocket session to replay faster)"
            )
        from realtime_nb.audio import float_to_int16, int16_to_float, resample
        from realtime_nb.client.rtc_media import FRAME_SAMPLES, RTC_RATE

        x = samples if samples.dtype.kind == "f" else int16_to_float(samples)
        sent = float_to_int16(resample(x.astype(np.float32, copy=False), rate, RTC_RATE))
        loop = asyncio.get_running_loop()
        start = loop.time()
        media.track.pacer.max_late_s = 0.0
        media.append(samples, rate)
        media.end_stream()
        audio_s = sent.size / RTC_RATE
        try:
            await media.wait_sent(audio_s + media.outgoing.queued_ms / 1000 + self.timeout)
        except TimeoutError:
            raise TimeoutError(f"the file was not sent within {audio_s + self.timeout:g} s") from None
        self._check_open()  # a call that dropped mid-file raises, rather than report it sent
        if tail_silence_ms:
            await asyncio.sleep(tail_silence_ms / 1000)  # the idle track sends silence meanwhile
            self._check_open()
        return StreamResult(
            samples=sent,
            rate=RTC_RATE,
            format="opus",
            chunks=math.ceil(sent.size / FRAME_SAMPLES),
            audio_ms=sent.size / RTC_RATE * 1000,
            elapsed_s=loop.time() - start,
            max_late_ms=media.track.pacer.max_late_s * 1000,
        )
