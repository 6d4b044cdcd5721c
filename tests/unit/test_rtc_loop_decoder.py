"""Received audio decoded on the loop (`_rtc_loopback.LoopDecoder`): the same frames aiortc's decoder
thread gives, in order, and the end of the call still ends the track through aiortc's own thread."""

from __future__ import annotations

import asyncio
import threading

import aiortc
import numpy as np
import pytest
from aiortc.codecs.opus import OpusDecoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import RemoteStreamTrack, decoder_worker

from realtime_nb._rtc_loopback import LoopDecoder, decode_audio_on_loop
from realtime_nb.engine.rtc_media import WIRE_FRAME, OpusPackets, to_mono_int16

OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)


class FakeReceiver:
    def __init__(self) -> None:
        self.track = RemoteStreamTrack(kind="audio")


def _packets(n: int) -> list[JitterFrame]:
    t = np.arange(n * WIRE_FRAME) / 48000
    x = (np.sin(2 * np.pi * 440 * t) * 6000).astype(np.int16)
    encoder = OpusPackets()
    return [
        JitterFrame(
            bytes(encoder.encode(x[i * WIRE_FRAME : (i + 1) * WIRE_FRAME], i * WIRE_FRAME)), i * WIRE_FRAME
        )
        for i in range(n)
    ]


async def test_frames_are_decoded_at_once_as_aiortc_decodes_them_and_the_thread_still_ends_the_track():
    receiver = FakeReceiver()
    loop_decoder = LoopDecoder(receiver)
    # aiortc's own worker function, on a thread, reading the stand-in queue (what the receiver starts)
    thread = threading.Thread(
        target=decoder_worker,
        args=(asyncio.get_running_loop(), loop_decoder, receiver.track._queue, threading.Event()),
    )
    thread.start()
    frames = _packets(10)
    reference = OpusDecoder()
    expected = [to_mono_int16(f) for jf in frames for f in reference.decode(jf)]
    for jf in frames:
        loop_decoder.put((OPUS, jf))
        assert receiver.track._queue.qsize() == 1  # decoded in put, on the loop: nothing waits on a thread
        got = to_mono_int16(await receiver.track.recv())
        assert np.array_equal(got, expected.pop(0))
    assert loop_decoder.decoded == 10
    loop_decoder.put((OPUS, JitterFrame(b"", 0)))  # an empty payload decodes to nothing: skipped
    loop_decoder.put(None)  # the receiver stops: the thread wakes and ends the track, as in aiortc
    thread.join(5)
    assert not thread.is_alive()
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(receiver.track.recv(), 5)


async def test_only_audio_receivers_not_yet_started_get_it():
    pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("audio")
        pc.addTransceiver("video")
        assert decode_audio_on_loop(pc) == 1  # the audio receiver only
        assert decode_audio_on_loop(pc) == 0  # idempotent
        audio = next(t for t in pc.getTransceivers() if t.kind == "audio")
        assert isinstance(audio.receiver._RTCRtpReceiver__decoder_queue, LoopDecoder)
        video = next(t for t in pc.getTransceivers() if t.kind == "video")
        assert not isinstance(video.receiver._RTCRtpReceiver__decoder_queue, LoopDecoder)
    finally:
        await pc.close()
    started = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
    try:
        started.addTransceiver("audio")
        receiver = started.getTransceivers()[0].receiver
        receiver._RTCRtpReceiver__decoder_thread = object()  # as if receive() had started it
        assert decode_audio_on_loop(started) == 0  # a running thread reads the old queue: left alone
    finally:
        receiver._RTCRtpReceiver__decoder_thread = None
        await started.close()
