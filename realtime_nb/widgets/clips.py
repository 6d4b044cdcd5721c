"""Whole recorded clips as a push-to-talk source (ipywebrtc ``AudioRecorder``), decoded with PyAV.

An ipywebrtc ``AudioRecorder`` is accepted as a push-to-talk source: press its record button, speak,
press stop, and the finished clip becomes one turn. It suits notebooks that already use ipywebrtc,
and collecting clips without a session (they are then kept, decoded, in ``source.clips``)::

    recorder = AudioRecorder(stream=CameraStream(constraints={"audio": True, "video": False}))
    source = Mic.from_recorder(recorder, session)   # display(recorder); each clip -> one turn

Limit: **whole clips, no streaming.** ipywebrtc records the entire clip in the browser (WebM/Opus in
Chromium) and hands it to the kernel only when recording stops. So nothing reaches the session while the
user speaks: the clip is decoded to 24 kHz PCM16, appended in 200 ms slices in one burst, then
committed, and (``respond=True``) a response is requested. Consequences: the turn's latency includes the
whole clip's upload and decode; the server's VAD sees the clip at burst speed (use turn detection
``None`` with clip sources, or it may split or commit the clip on its own); there are no per-chunk
latency figures; speaking over the assistant cannot interrupt it (the server hears nothing until the
clip ends); a clip shorter than 100 ms is refused by the service. Use :class:`~realtime_nb.widgets.Mic`
(``mode="push_to_talk"`` for the same hold-to-talk behaviour) for streaming and latency work.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from realtime_nb.protocol import PCM_RATE
from realtime_nb.widgets._audio_comm import SessionPump, maybe_await
from realtime_nb.widgets._session import SessionLike

_APPEND_MS = 200  # clip slices per append: keeps each event well under the service's size limit


def decode_clip(data: bytes | bytearray | memoryview) -> np.ndarray:
    """Decode a recorded clip (WebM/Opus, Ogg, WAV, ... anything FFmpeg reads) to 24 kHz mono int16."""
    import av  # optional dependency (the ``notebook`` extra)

    raw = bytes(data)
    if not raw:
        raise ValueError("the clip is empty: nothing was recorded")
    try:
        container = av.open(io.BytesIO(raw), "r")
    except av.error.FFmpegError as exc:
        raise ValueError(f"cannot read the clip ({len(raw)} bytes) as audio: {exc}") from exc
    with container:
        if not container.streams.audio:
            raise ValueError("the clip has no audio stream")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=PCM_RATE)
        parts: list[np.ndarray] = []
        try:
            for frame in container.decode(audio=0):
                parts.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
        except av.error.FFmpegError as exc:
            raise ValueError(f"the clip is damaged after {sum(map(len, parts))} samples: {exc}") from exc
        parts.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    return np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, np.int16)


async def push_clip(
    session: SessionLike, data: bytes | bytearray | memoryview, *, respond: bool = True
) -> np.ndarray:
    """Append a recorded clip to ``session``, commit it and (``respond``) ask for a response.

    Returns the decoded 24 kHz samples that were sent.
    """
    samples = decode_clip(data)
    if len(samples) == 0:
        raise ValueError("the clip decodes to no audio")
    step = PCM_RATE * _APPEND_MS // 1000
    for i in range(0, len(samples), step):
        await maybe_await(session.append_audio(samples[i : i + step], PCM_RATE))
    await maybe_await(session.commit())
    if respond:
        await maybe_await(session.create_response())
    return samples


class ClipSource:
    """Pushes each clip an ipywebrtc ``AudioRecorder`` finishes into the attached session.

    Built by :meth:`Mic.from_recorder`. The recorder's ``audio`` widget gets a new ``value`` when
    recording stops; that clip becomes one push-to-talk turn.
    """

    def __init__(self, recorder: Any, session: SessionLike | None = None, *, respond: bool = True) -> None:
        audio = getattr(recorder, "audio", None)
        if audio is None or not hasattr(audio, "observe"):
            kind = type(recorder).__name__
            raise TypeError(f"expected an ipywebrtc AudioRecorder (with an .audio widget), got {kind}")
        self.recorder = recorder
        self.respond = respond
        self.session = session
        self.clips: list[np.ndarray] = []
        self._pump: SessionPump | None = None
        audio.observe(self._on_value, names="value")

    @property
    def errors(self) -> list[BaseException]:
        return list(self._pump.errors) if self._pump else []

    def attach(self, session: SessionLike | None) -> ClipSource:
        self.session = session
        return self

    def _on_value(self, change: dict[str, Any]) -> None:
        data = change.get("new")
        if not data:
            return
        if self.session is None:
            self.clips.append(decode_clip(data))  # nowhere to send: keep it for the notebook
            return
        if self._pump is None:
            self._pump = SessionPump()
        session, respond = self.session, self.respond

        async def _push() -> None:
            self.clips.append(await push_clip(session, data, respond=respond))

        self._pump.submit(_push)

    def close(self) -> None:
        self.recorder.audio.unobserve(self._on_value, names="value")
        if self._pump is not None:
            self._pump.close()
