"""The outgoing side of a WebRTC call's media, without a network: caller audio -> 20 ms frames, pacing
by an injected clock, the aiortc track's frames, the loopback / SCTP patches."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import numpy as np
import pytest

from realtime_nb.audio import float_to_int16, int16_to_float, resample
from realtime_nb.client.rtc_media import (
    FRAME_SAMPLES,
    FrameDownsampler,
    MicTrack,
    OutgoingAudio,
    Pacer,
    frame_to_mono,
)


def _sine(ms: float, rate: int, freq: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(ms * rate / 1000)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _drain(source: OutgoingAudio, frames: int) -> tuple[np.ndarray, list[bool]]:
    got = [source.next_frame() for _ in range(frames)]
    return np.concatenate([f for f, _ in got]), [a for _, a in got]


# --- OutgoingAudio ---------------------------------------------------------------------------------------


def test_idle_source_sends_whole_frames_of_silence() -> None:
    source = OutgoingAudio()
    frame, carries = source.next_frame()
    assert frame.shape == (FRAME_SAMPLES,) and frame.dtype == np.int16 and not frame.any() and not carries
    assert source.idle and source.frames_sent == 1 and source.audio_frames_sent == 0


def test_frames_are_all_audio_or_all_silence_until_the_stream_ends() -> None:
    source = OutgoingAudio()
    source.append(float_to_int16(_sine(50, 48000)), 48000)  # 2.5 frames, no resampling at 48 kHz
    _, carries = _drain(source, 3)
    assert carries == [True, True, False]  # the half frame waits for more audio
    assert source.queued_ms == pytest.approx(10)
    source.end_stream()
    frame, carries_now = source.next_frame()
    assert carries_now and frame[:480].any() and not frame[480:].any()  # the tail, padded
    assert source.idle and source.next_frame()[1] is False


def test_a_microphone_in_odd_chunks_resamples_without_a_click() -> None:
    """Chunk edges must not show: the stream's output matches resampling the whole at once."""
    rate = 24000
    signal = _sine(1000, rate, 440.0)
    rng = np.random.default_rng(7)
    source = OutgoingAudio()
    pos = 0
    while pos < signal.size:
        step = int(rng.integers(7, 400))
        source.append(float_to_int16(signal[pos : pos + step]), rate)
        pos += step
    source.end_stream()
    streamed, carries = _drain(source, 52)
    whole = float_to_int16(resample(int16_to_float(float_to_int16(signal)), rate, 48000))
    n = whole.size
    assert sum(carries) == 50  # 1 s of audio in 20 ms frames
    assert np.abs(streamed[:n].astype(np.int32) - whole.astype(np.int32)).max() <= 3
    # no click: past the onset's ringing, steps never exceed the sine's own (440 Hz at 48 kHz, 0.5)
    steps = np.abs(np.diff(streamed[200 : n - 200].astype(np.int32)))
    assert steps.max() <= 2 * np.pi * 440 / 48000 * 0.5 * 32768 * 1.05


def test_float_stereo_and_a_new_rate_each_start_cleanly() -> None:
    source = OutgoingAudio()
    stereo = np.stack([_sine(100, 16000), _sine(100, 16000)], axis=1)
    ms = source.append(stereo, 16000)
    assert 0 < ms <= 100
    source.append(float_to_int16(_sine(100, 48000)), 48000)  # new rate: the 16 kHz tail is drained first
    source.end_stream()
    _, carries = _drain(source, 12)
    assert sum(carries) == 10
    with pytest.raises(ValueError, match="rate"):
        source.append(np.zeros(10, np.int16), 0)
    with pytest.raises(ValueError, match="dtype"):
        source.append(np.zeros(10, np.int32), 16000)


def test_clear_drops_what_was_not_sent() -> None:
    source = OutgoingAudio()
    source.append(float_to_int16(_sine(200, 48000)), 48000)
    source.next_frame()
    assert source.clear() == pytest.approx(180)
    assert source.idle and source.next_frame()[1] is False


# --- pacing --------------------------------------------------------------------------------------------


def test_pacer_schedule_does_not_drift_with_late_wakeups() -> None:
    pacer = Pacer()
    now = 100.0
    sent = 0
    while now < 101.0:  # one second on a clock that wakes 3 ms late every time
        delay = pacer.delay(now)
        now += delay + (0.003 if delay else 0)
        pacer.sent(now)
        sent += 1
    assert 50 <= sent <= 51
    assert pacer.max_late_s == pytest.approx(0.003) and pacer.reanchors == 0


def test_pacer_catches_up_a_short_stall_and_reanchors_after_a_long_one() -> None:
    pacer = Pacer(max_lag_s=0.2)
    pacer.delay(0.0)
    pacer.sent(0.0)
    # 100 ms stall: the 5 overdue frames go at once, then the schedule holds
    assert [pacer.delay(0.1) for _ in range(1)] == [0.0]
    for _ in range(5):
        assert pacer.delay(0.1) == 0.0
        pacer.sent(0.1)
    assert pacer.delay(0.1) == pytest.approx(0.02)
    # 1 s stall: no burst of 50 frames, a new schedule from now
    assert pacer.delay(1.2) == 0.0 and pacer.reanchors == 1
    pacer.sent(1.2)
    assert pacer.delay(1.2) == pytest.approx(0.02)


# --- the aiortc track -------------------------------------------------------------------------------------


async def test_mic_track_frames_have_consistent_pts_and_follow_the_clock() -> None:
    clock = [50.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    source = OutgoingAudio()
    seen: list[tuple[int, bool]] = []
    track = MicTrack(
        source, lambda pcm, audio, t: seen.append((pcm.size, audio)), clock=lambda: clock[0], sleep=sleep
    )
    frames = [await track.recv()]
    source.append(float_to_int16(_sine(100, 48000)), 48000)
    frames += [await track.recv() for _ in range(99)]
    assert clock[0] - 50.0 == pytest.approx(99 * 0.02)  # 100 frames span 99 frame intervals
    # Opus packets the track encoded itself (aiortc's sender only wraps them in RTP), on its clock
    assert [f.pts for f in frames] == [i * FRAME_SAMPLES for i in range(100)]
    assert all(f.time_base == Fraction(1, 48000) for f in frames)
    assert [a for _, a in seen] == [False] + [True] * 5 + [False] * 94  # silence when idle
    from aiortc.codecs.opus import OpusDecoder
    from aiortc.jitterbuffer import JitterFrame

    decoder = OpusDecoder()
    decoded = [decoder.decode(JitterFrame(bytes(p), int(p.pts))) for p in frames]
    assert {(f.sample_rate, f.samples) for [f] in decoded} == {(48000, 960)}
    first_audio = decoded[1][0].to_ndarray()
    assert np.abs(first_audio).max() > 10000
    assert len(bytes(frames[-1])) <= 3 and track._opus.repeated > 70  # idle silence is not re-encoded
    track.stop()
    with pytest.raises(Exception):  # noqa: B017  (aiortc's MediaStreamError)
        await track.recv()


async def test_mic_track_sleeps_in_real_time_on_the_real_clock() -> None:
    track = MicTrack(OutgoingAudio())
    loop = asyncio.get_running_loop()
    await track.recv()
    start = loop.time()
    for _ in range(5):
        await track.recv()
    assert loop.time() - start >= 0.08  # 5 frames cannot leave in less than 4 intervals
    track.stop()


# --- 48 -> 24 kHz, frame by frame ---------------------------------------------------------------------------


def test_frame_downsampler_hands_back_each_frame_aligned() -> None:
    signal = float_to_int16(_sine(400, 48000, 300.0))
    down = FrameDownsampler()
    out = []
    for i in range(0, signal.size, FRAME_SAMPLES):
        out += down.feed(signal[i : i + FRAME_SAMPLES], i // FRAME_SAMPLES)
    assert len(out) < 20  # soxr holds some back
    out += down.flush()
    assert [tag for tag, _ in out] == list(range(20))
    assert {pcm.size for _, pcm in out} == {480}
    joined = np.concatenate([pcm for _, pcm in out])
    whole = float_to_int16(resample(int16_to_float(signal), 48000, 24000))
    assert np.abs(joined[: whole.size].astype(np.int32) - whole.astype(np.int32)).max() <= 2


def test_frame_to_mono_reads_packed_and_planar_frames() -> None:
    av = pytest.importorskip("av")
    left = np.arange(960, dtype=np.int16)
    stereo = np.stack([left, -left], axis=1).reshape(1, -1)  # packed s16: L R L R ...
    frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
    assert not frame_to_mono(frame).any()  # (L + R) / 2
    planar = np.stack([np.full(960, 0.5, np.float32), np.full(960, 0.25, np.float32)])
    frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout="stereo")
    assert np.all(frame_to_mono(frame) == round(0.375 * 32768))
    mono = av.AudioFrame.from_ndarray(left.reshape(1, -1), format="s16", layout="mono")
    assert np.array_equal(frame_to_mono(mono), left)


# --- the loopback and SCTP patches ---------------------------------------------------------------------


def test_loopback_candidates_patch_is_idempotent_and_scoped() -> None:
    import aioice.ice

    from realtime_nb._rtc_loopback import (
        allow_loopback_candidates,
        is_loopback_host,
        loopback_candidates_only,
    )

    allow_loopback_candidates()
    patched = aioice.ice.get_host_addresses
    allow_loopback_candidates()
    assert aioice.ice.get_host_addresses is patched  # not wrapped twice
    with loopback_candidates_only():
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1"]
        assert aioice.ice.get_host_addresses(use_ipv4=False, use_ipv6=True) == []
    outside = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
    assert outside and all(":" not in a for a in outside)  # the machine's own IPv4 list, or 127.0.0.1
    assert is_loopback_host("127.0.0.2") and is_loopback_host("localhost") and is_loopback_host("[::1]")
    assert not is_loopback_host("10.0.0.1") and not is_loopback_host("127.example.com")


async def test_loopback_only_gathering_offers_127_0_0_1_alone() -> None:
    aiortc = pytest.importorskip("aiortc")

    from realtime_nb._rtc_loopback import loopback_candidates_only

    pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
    try:
        pc.createDataChannel("oai-events")
        with loopback_candidates_only():
            await pc.setLocalDescription(await pc.createOffer())
        candidates = [line for line in pc.localDescription.sdp.splitlines() if line.startswith("a=candidate")]
        assert candidates and all(" 127.0.0.1 " in c for c in candidates)
    finally:
        await pc.close()


def test_sctp_chunk_size_is_lowered_once_and_never_raised() -> None:
    import aiortc.rtcsctptransport as sctp

    from realtime_nb._rtc_loopback import fit_sctp_to_small_mtu

    original = sctp.USERDATA_MAX_LENGTH
    try:
        assert fit_sctp_to_small_mtu() == 1100 == sctp.USERDATA_MAX_LENGTH
        assert fit_sctp_to_small_mtu() == 1100  # idempotent
        assert fit_sctp_to_small_mtu(1152) == 1100  # never raised
        assert fit_sctp_to_small_mtu(1000) == 1000
        with pytest.raises(ValueError, match="multiple of 4"):
            fit_sctp_to_small_mtu(1101)
        # the worst DTLS record aiortc may negotiate (CBC: 13 + 16 + 20 + 16) still fits 1280 bytes
        assert 1100 + 16 + 12 + (13 + 16 + 20 + 16) + 8 + 40 <= 1280
    finally:
        sctp.USERDATA_MAX_LENGTH = original


async def test_loopback_audio_receivers_pass_packets_through_without_waiting() -> None:
    aiortc = pytest.importorskip("aiortc")
    from aiortc.jitterbuffer import JitterBuffer
    from aiortc.rtp import RtpPacket

    from realtime_nb._rtc_loopback import PassThroughAudioBuffer, pass_audio_through

    def packet(seq: int) -> RtpPacket:
        p = RtpPacket(payload_type=111, sequence_number=seq % 65536, timestamp=seq * 960)
        p._data = bytes([seq % 256])  # type: ignore[attr-defined]  # what the receiver depayloads
        return p

    # aiortc's own buffer holds each packet until four later ones arrived (80 ms of Opus)...
    aiortc_buffer = JitterBuffer(capacity=16, prefetch=4)
    assert [aiortc_buffer.add(packet(s))[1] is not None for s in range(6)] == [False] * 4 + [True] * 2
    # ...the pass-through one releases each at once, across the sequence wrap, and drops stragglers
    buffer = PassThroughAudioBuffer()
    released = [buffer.add(packet(s))[1] for s in (65534, 65535, 0, 1, 3)]
    assert [f.data for f in released] == [bytes([s % 256]) for s in (65534, 65535, 0, 1, 3)]
    assert [f.timestamp for f in released] == [s * 960 for s in (65534, 65535, 0, 1, 3)]
    assert buffer.add(packet(2)) == (False, None) and buffer.add(packet(3)) == (False, None)
    assert buffer.dropped == 2
    assert buffer.add(packet(4))[1] is not None

    pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("audio")
        pc.addTransceiver("video")
        assert pass_audio_through(pc) == 1  # the audio receiver only
        assert pass_audio_through(pc) == 0  # idempotent
        audio = next(t for t in pc.getTransceivers() if t.kind == "audio")
        assert isinstance(audio.receiver._RTCRtpReceiver__jitter_buffer, PassThroughAudioBuffer)
    finally:
        await pc.close()
