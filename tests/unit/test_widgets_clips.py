"""Recorded clips (ipywebrtc AudioRecorder) as a push-to-talk source, decoded with PyAV."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest

from realtime_nb.widgets import Mic, decode_clip, push_clip

av = pytest.importorskip("av")


def _webm_opus(seconds: float = 1.0, rate: int = 48000, freq: float = 440.0, layout: str = "mono") -> bytes:
    """A clip as Chromium's MediaRecorder makes it: Opus in WebM."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="webm") as container:
        stream = container.add_stream("libopus", rate=rate)
        stream.layout = layout
        channels = 2 if layout == "stereo" else 1
        t = np.arange(int(seconds * rate)) / rate
        pcm = (0.3 * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16)
        for i in range(0, len(pcm), 960):
            block = np.repeat(pcm[None, i : i + 960], channels, axis=0).T.reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="s16", layout=layout)
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def _dominant_hz(x: np.ndarray, rate: int = 24000) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(float) * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize("layout", ["mono", "stereo"])
def test_decode_clip_gives_24k_mono_pcm16(layout: str) -> None:
    samples = decode_clip(_webm_opus(1.0, freq=440.0, layout=layout))
    assert samples.dtype == np.int16 and samples.ndim == 1
    assert abs(len(samples) - 24000) < 24000 * 0.03  # Opus pre-skip / padding: a few ms
    assert _dominant_hz(samples) == pytest.approx(440.0, abs=2.0)
    assert 0.15 < np.sqrt(np.mean((samples / 32768.0) ** 2)) < 0.3


@pytest.mark.parametrize(
    ("data", "problem"), [(b"", "empty"), (b"\x1a\x45\xdf\xa3garbage" * 10, "cannot read")]
)
def test_decode_clip_names_the_problem(data: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        decode_clip(data)


class _StandInSession:
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.audio: list[np.ndarray] = []

    async def append_audio(self, samples: np.ndarray, rate: int) -> None:
        self.audio.append(samples)
        self.calls.append(("append", rate))

    async def commit(self) -> None:
        self.calls.append(("commit",))

    async def create_response(self) -> None:
        self.calls.append(("response",))


async def test_push_clip_appends_commits_and_asks_for_a_response() -> None:
    session = _StandInSession()
    sent = await push_clip(session, _webm_opus(1.0))
    assert session.calls[-2:] == [("commit",), ("response",)]
    assert {c for c in session.calls[:-2]} == {("append", 24000)}
    np.testing.assert_array_equal(np.concatenate(session.audio), sent)
    assert max(len(a) for a in session.audio) <= 4800  # sliced into 200 ms appends


async def test_recorder_clip_becomes_one_turn() -> None:
    ipywebrtc = pytest.importorskip("ipywebrtc")
    recorder = ipywebrtc.AudioRecorder()
    session = _StandInSession()
    source = Mic.from_recorder(recorder, session)
    done = asyncio.Event()
    recorder.audio.value = _webm_opus(0.5)  # what the front end sets when recording stops
    assert source._pump is not None
    source._pump.submit(done.set)
    await asyncio.wait_for(done.wait(), 10)
    assert session.calls[-2:] == [("commit",), ("response",)]
    assert len(source.clips) == 1 and abs(len(source.clips[0]) - 12000) < 500
    source.close()
    recorder.audio.value = _webm_opus(0.5)
    assert len(source.clips) == 1  # closed: no longer listening


def test_from_recorder_rejects_something_else() -> None:
    with pytest.raises(TypeError, match="AudioRecorder"):
        Mic.from_recorder(object())


async def test_clips_do_not_stream_each_finished_clip_is_one_whole_turn() -> None:
    """The documented limit: nothing is sent while recording; a clip arrives whole, once, when it ends."""
    ipywebrtc = pytest.importorskip("ipywebrtc")
    recorder = ipywebrtc.AudioRecorder()
    session = _StandInSession()
    source = Mic.from_recorder(recorder, session, respond=False)
    recorder.recording = True  # the page records: the kernel has no audio yet
    await asyncio.sleep(0.05)
    assert session.calls == [] and source._pump is None
    recorder.audio.value = b""  # a reset value (new recording started) is not a clip
    assert source._pump is None
    recorder.recording = False
    first, second = _webm_opus(0.5, freq=300.0), _webm_opus(0.3, freq=600.0)
    recorder.audio.value = first
    recorder.audio.value = second
    done = asyncio.Event()
    source._pump.submit(done.set)
    await asyncio.wait_for(done.wait(), 10)
    append = ("append", 24000)
    # Each clip whole, in order: its 200 ms slices, then its commit; respond=False asks for no answer.
    assert session.calls == [append] * 3 + [("commit",)] + [append] * 2 + [("commit",)]
    assert [round(_dominant_hz(c), -1) for c in source.clips] == [300.0, 600.0]
    source.close()
