"""The call's audio adapters: 20 ms frames paced by the clock out, any decoded frame in."""

from __future__ import annotations

import asyncio
import fractions

import numpy as np
import pytest
from aiortc.codecs.opus import OpusDecoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, Packet

from realtime_nb.engine.rtc_media import (
    FRAME_S,
    WIRE_FRAME,
    WIRE_RATE,
    MicrophoneReader,
    OpusPackets,
    PlayoutTrack,
    WireFrames,
    frames_ready,
    to_mono_int16,
)
from realtime_nb.protocol.formats import PCM_RATE


def tone(rate: int, seconds: float, hz: float = 1000.0, amplitude: float = 8000.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * hz * t) * amplitude).astype(np.int16)


def test_wire_frames_are_whole_continuous_and_start_at_once():
    wire = WireFrames()
    x = tone(PCM_RATE, 10.0)
    out = [wire.push(x[lo : lo + 480]) for lo in range(0, x.size, 480)]
    assert all(f.shape == (WIRE_FRAME,) and f.dtype == np.int16 for f in out)
    # no frame in reserve: the first 20 ms in is the first 20 ms out (bar the filter's ~1 ms)
    first = int(np.flatnonzero(np.abs(out[0].astype(np.int32)) > 100)[0])
    assert first <= WIRE_RATE // 1000 * 2, first  # within 2 ms
    y = np.concatenate(out).astype(np.float64)
    # one unbroken 1 kHz tone (the filter state carried across frames: no clicks at frame edges)
    y = y[WIRE_RATE // 10 : -WIRE_RATE // 10]
    fitted = np.sin(2 * np.pi * 1000 * np.arange(y.size) / WIRE_RATE)
    phase = np.arctan2(np.dot(y, np.cos(2 * np.pi * 1000 * np.arange(y.size) / WIRE_RATE)), np.dot(y, fitted))
    clean = 8000 * np.sin(2 * np.pi * 1000 * np.arange(y.size) / WIRE_RATE + phase)
    assert np.max(np.abs(y - clean)) < 80  # under -40 dB of the tone anywhere, frame edges included
    # the tail the filter holds leaves in the next (silent) frame, then silence is silence
    tail = wire.push(np.zeros(480, np.int16))
    assert np.any(tail[:100]) and not np.any(tail[200:])
    assert not np.any(wire.push(np.zeros(480, np.int16)))
    with pytest.raises(ValueError, match="480"):
        wire.push(np.zeros(479, np.int16))


def test_decoded_frames_of_any_layout_become_24k_mono():
    stereo = np.stack([np.full(960, 1000, np.int16), np.full(960, 3000, np.int16)], axis=1)
    packed = AudioFrame.from_ndarray(stereo.reshape(1, -1), format="s16", layout="stereo")
    assert np.all(to_mono_int16(packed) == 2000)
    planar = AudioFrame.from_ndarray(
        np.stack([np.full(960, 0.25, np.float32), np.full(960, -0.25, np.float32)]),
        format="fltp",
        layout="stereo",
    )
    assert np.all(to_mono_int16(planar) == 0)
    mono = AudioFrame.from_ndarray(np.full((1, 960), -7, np.int16), format="s16", layout="mono")
    assert np.all(to_mono_int16(mono) == -7)

    reader = MicrophoneReader()
    x = tone(WIRE_RATE, 2.0, hz=440)
    got = []
    for lo in range(0, x.size, 960):
        frame = AudioFrame.from_ndarray(
            np.repeat(x[lo : lo + 960], 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = WIRE_RATE
        got.append(reader.convert(frame))
    y = np.concatenate(got)
    assert 0 <= x.size // 2 - y.size <= 24  # 24 kHz, less the filter's ~1 ms
    spectrum = np.abs(np.fft.rfft(y[2400:-2400]))
    assert np.argmax(spectrum) * PCM_RATE / (y.size - 4800) == pytest.approx(440, abs=3)


_DECODER: list[OpusDecoder] = []


def _decode(packet: Packet) -> np.ndarray:
    """One packet through aiortc's Opus decoder (as a peer decodes it), mono int16 at 48 kHz."""
    if not _DECODER:
        _DECODER.append(OpusDecoder())
    [frame] = _DECODER[0].decode(JitterFrame(bytes(packet), int(packet.pts)))
    return to_mono_int16(frame)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_playout_track_paces_by_the_clock_with_consistent_pts(monkeypatch):
    clock = FakeClock()
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    pulls: list[float] = []

    def pull(now: float) -> np.ndarray:
        pulls.append(now)
        return tone(PCM_RATE, 0.02)  # 20 whole periods of 1 kHz: a continuous tone frame after frame

    track = PlayoutTrack(pull, clock=clock)
    packets = [await track.recv() for _ in range(5)]
    # Opus packets the track encoded itself (aiortc's sender only wraps them in RTP), on its clock
    assert all(isinstance(p, Packet) for p in packets)
    assert [p.pts for p in packets] == [0, 960, 1920, 2880, 3840]
    assert all(p.time_base == fractions.Fraction(1, WIRE_RATE) for p in packets)
    decoded = [_decode(p) for p in packets]
    assert all(d.size == WIRE_FRAME for d in decoded)
    assert 7000 < np.abs(decoded[-1]).max() < 9000  # the 8000-peak tone comes through (Opus is lossy)
    assert slept == pytest.approx([FRAME_S] * 4)
    assert np.diff(pulls) == pytest.approx([FRAME_S] * 4)
    # a stall of 1 s: no burst of 50 frames, the schedule starts over from now
    clock.now += 1.0
    slept.clear()
    await track.recv()
    await track.recv()
    assert track.resyncs == 1 and slept == pytest.approx([FRAME_S])
    # a short stall is caught up at once (no sleeping), keeping the 20 ms grid
    clock.now += 0.05
    slept.clear()
    await track.recv()
    await track.recv()
    assert slept == [] and track.resyncs == 1
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()


async def test_an_idle_track_sends_the_first_frame_of_an_answer_at_once(monkeypatch):
    clock = FakeClock()
    queued: list[np.ndarray] = []

    def pull(now: float) -> np.ndarray:
        return queued.pop(0) if queued else np.zeros(480, np.int16)

    track = PlayoutTrack(pull, clock=clock)
    await track.recv()  # the first frame goes at once and starts the grid
    await track.recv()  # idle: waits its slot
    # The fake clock does not move by itself (the idle wait ran on the loop's timer): set it so the
    # next slot is 10 s away, then queue audio while the track waits for it: the frame goes at once.
    clock.now = 90.0
    waiting = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0.005)
    assert not waiting.done()
    clock.now += 0.005
    queued.append(np.full(480, 1000, np.int16))
    track.wake()
    packet = await asyncio.wait_for(waiting, 1.0)
    assert track.wakes == 1 and np.abs(_decode(packet)).max() > 100
    assert packet.pts == 2 * WIRE_FRAME  # the timestamps stay contiguous
    # the grid now runs from the woken frame: the next is due 20 ms after it, and a track that is
    # playing ignores wake (it never sends early while audio flows)
    queued.append(np.full(480, 1000, np.int16))
    track.wake()
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    await track.recv()
    assert slept == pytest.approx([FRAME_S]) and track.wakes == 1
    track.stop()


def _snr_after(x: np.ndarray, start: int, packets: list[Packet]) -> float:
    """dB of the input over the error of the decoded stream from sample ``start`` on (best lag: the
    codec delays its output by a few ms)."""
    decoder = OpusDecoder()
    y = np.concatenate(
        [to_mono_int16(f) for p in packets for f in decoder.decode(JitterFrame(bytes(p), int(p.pts)))]
    ).astype(np.float64)
    best = -np.inf
    for lag in range(0, 400):
        a = x[start : x.size - lag].astype(np.float64)
        err = a - y[start + lag :]
        best = max(best, 10 * np.log10(np.sum(a**2) / np.sum(err**2)))
    return best


def test_idle_silence_repeats_the_settled_packet_instead_of_encoding_it():
    t = np.arange(WIRE_RATE) / WIRE_RATE
    speech = (np.sin(2 * np.pi * 300 * t) * np.sin(2 * np.pi * 3 * t) * 9000).astype(np.int16)
    silence = np.zeros(WIRE_RATE, np.int16)
    x = np.concatenate([speech, silence, speech])
    frames = x.reshape(-1, WIRE_FRAME)
    every = OpusPackets()
    reference = []
    for i, f in enumerate(frames):  # an encoder run on every frame (the repeat path never taken)
        every._silence = None
        reference.append(every.encode(f, i * WIRE_FRAME))
    cached = OpusPackets()
    packets = [cached.encode(f, i * WIRE_FRAME) for i, f in enumerate(frames)]
    assert [p.pts for p in packets] == [i * WIRE_FRAME for i in range(len(frames))]
    assert all(p.time_base == fractions.Fraction(1, WIRE_RATE) for p in packets)
    # up to the pause and through it, the very same bytes (the repeated packet is libopus's own)
    pause_end = 2 * WIRE_RATE // WIRE_FRAME
    assert [bytes(p) for p in packets[:pause_end]] == [bytes(p) for p in reference[:pause_end]]
    assert {bytes(p) for p in packets[55:pause_end]} == {bytes(reference[-1 + pause_end])}
    assert len(bytes(packets[pause_end - 1])) <= 3
    # most of the 1 s of silence was repeated, not encoded; every frame with sound was encoded
    assert cached.repeated >= 45 and cached.encoded + cached.repeated == len(frames)
    assert cached.encoded == every.encoded - cached.repeated
    # after the pause the bits differ (the encoder missed the silent frames' bookkeeping), the sound not
    ours, theirs = _snr_after(x, 2 * WIRE_RATE, packets), _snr_after(x, 2 * WIRE_RATE, reference)
    assert ours > 20 and abs(ours - theirs) < 1.0, (ours, theirs)


async def test_queued_microphone_frames_are_taken_and_converted_together():
    from aiortc.rtcrtpreceiver import RemoteStreamTrack

    x = tone(WIRE_RATE, 0.2, hz=440)
    frames = []
    for lo in range(0, x.size, WIRE_FRAME):
        frame = AudioFrame.from_ndarray(
            np.repeat(x[lo : lo + WIRE_FRAME], 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = WIRE_RATE
        frames.append(frame)
    one_by_one = MicrophoneReader()
    expected = np.concatenate([one_by_one.convert(f) for f in frames])
    track = RemoteStreamTrack(kind="audio")
    track._queue.put_nowait(frames[0])
    got, ended = await frames_ready(track)  # one waiting: one taken
    assert got == [frames[0]] and not ended
    for f in frames[1:]:
        track._queue.put_nowait(f)
    track._queue.put_nowait(None)  # the end, queued behind them
    got, ended = await frames_ready(track)
    assert got == frames[1:] and ended and track.readyState == "ended"
    together = MicrophoneReader()
    assert np.array_equal(
        np.concatenate([together.convert_all(frames[:1]), together.convert_all(got)]), expected
    )
    with pytest.raises(MediaStreamError):
        await frames_ready(track)
    # a rate change inside a batch starts a new filter there, as frame-by-frame conversion does
    odd = AudioFrame.from_ndarray(np.full((1, 320), 500, np.int16), format="s16", layout="mono")
    odd.sample_rate = 16000
    mixed = [frames[0], odd, frames[1]]
    a, b = MicrophoneReader(), MicrophoneReader()
    assert np.array_equal(a.convert_all(mixed), np.concatenate([b.convert(f) for f in mixed]))
