"""The session's ``input_audio_buffer``: appends, commits, clears, turns and the idle timeout.

The audio and its turn decisions live in :class:`~realtime_nb.engine.input_path.InputPath` (usable
without a session); this part speaks the protocol around it: it validates the client's requests,
emits ``speech_started`` / ``speech_stopped`` / ``committed`` / ``cleared`` /
``timeout_triggered``, makes each committed turn a user item, and tells the response runs when the
user barges in or a turn should be answered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from realtime_nb.engine.conversation import Conversation, user_audio_item
from realtime_nb.engine.errors import RequestError
from realtime_nb.engine.host import Host
from realtime_nb.engine.input_path import InputDecision, InputPath, SpeechStart, SpeechStop
from realtime_nb.engine.jobs import JobKind
from realtime_nb.engine.response_request import spec_from_session
from realtime_nb.engine.runs import ResponseRuns
from realtime_nb.engine.state import BUFFER_TABLE, BufferTrigger, allowed
from realtime_nb.engine.transcription import Transcriptions
from realtime_nb.engine.wire_audio import decode_b64_audio
from realtime_nb.protocol import ServerVad, SessionConfig
from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.ids import new_id
from realtime_nb.protocol.limits import MAX_APPEND_B64_BYTES

MIN_COMMIT_MS = 100.0
MAX_APPEND_BYTES = MAX_APPEND_B64_BYTES  # of base64 text per input_audio_buffer.append


class IdleTimer:
    """server_vad's ``idle_timeout_ms``: counts from when the default response's audio would have
    finished playing; disarmed by speech, a new response, or a change of turn detection."""

    def __init__(self, config: Callable[[], SessionConfig]) -> None:
        self._config = config
        self.since: float | None = None  # session clock (seconds) the idle time counts from

    def timeout_ms(self) -> float | None:
        td = self._config().turn_detection
        return td.idle_timeout_ms if isinstance(td, ServerVad) else None

    def response_done(self, playback_end: float) -> None:
        """The default response ended; its audio plays until ``playback_end``."""
        if self.timeout_ms() is not None:
            self.since = playback_end

    def disarm(self) -> None:
        self.since = None


class InputBuffer:
    """``input_audio_buffer.*`` of one session (see the module docstring)."""

    def __init__(
        self,
        host: Host,
        path: InputPath,
        conversation: Conversation,
        transcriptions: Transcriptions,
        runs: ResponseRuns,
        idle: IdleTimer,
        dialect: Dialect,
    ) -> None:
        self._host = host
        self._path = path
        self._conversation = conversation
        self._transcriptions = transcriptions
        self._runs = runs
        self._idle = idle
        self._dialect = dialect

    # --- client requests ------------------------------------------------------------------------

    def append(self, event: dict[str, Any]) -> None:
        audio = event.get("audio")
        if not isinstance(audio, str):
            raise RequestError("invalid_type", "'audio' must be a base64 string.", "audio")
        if len(audio) > MAX_APPEND_BYTES:
            raise RequestError(
                "invalid_value",
                f"Audio of {len(audio)} base64 bytes exceeds the 15 MiB limit of one "
                "input_audio_buffer.append; send it in smaller pieces.",
                "audio",
            )
        native = decode_b64_audio(audio, self._host.config().input_format, "audio")
        self._path.append(native, self._decide)

    def track_audio(self, pcm24: np.ndarray) -> None:
        """WebRTC: audio of the microphone track (24 kHz int16; the path runs at pcm16 then)."""
        self._path.append(pcm24, self._decide)

    def commit(self) -> None:
        buffered = self._path.buffered_ms
        if not allowed(BUFFER_TABLE, self._path.state, BufferTrigger.COMMIT) or buffered < MIN_COMMIT_MS:
            raise RequestError(
                "input_audio_buffer_commit_empty",
                f"Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS:g}ms of audio, but buffer only has {buffered:.2f}ms of audio.",
            )
        committed = self._path.commit()
        self._committed(committed.item_id, committed.audio)

    def clear(self) -> None:
        self._path.clear()
        self._host.emit({"type": "input_audio_buffer.cleared"})

    # --- turn detection ---------------------------------------------------------------------------

    def _decide(self, decision: InputDecision) -> None:
        if isinstance(decision, SpeechStart):
            self._speech_started(decision)
        else:
            self._speech_stopped(decision)

    def _speech_started(self, start: SpeechStart) -> None:
        self._idle.disarm()
        self._host.emit(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": round(start.audio_start_ms),
                "item_id": start.item_id,
            }
        )
        td = self._host.config().turn_detection
        if td is not None and td.interrupt_response:
            self._runs.barge_in()

    def _speech_stopped(self, stop: SpeechStop) -> None:
        self._host.emit(
            {
                "type": "input_audio_buffer.speech_stopped",
                "audio_end_ms": round(stop.audio_end_ms),
                "item_id": stop.item_id,
            }
        )
        self._committed(stop.item_id, stop.audio)
        td = self._host.config().turn_detection
        if td is not None and td.create_response:
            self._runs.auto_response()

    def _committed(self, item_id: str, pcm: np.ndarray) -> None:
        """Audio left the buffer: it becomes a user item (transcribed when the session asks for it)."""
        item = user_audio_item(item_id, pcm)
        previous = self._conversation.insert(item)
        emit = self._host.emit
        emit({"type": "input_audio_buffer.committed", "previous_item_id": previous, "item_id": item_id})
        emit({"type": "conversation.item.added", "previous_item_id": previous, "item": item.render()})
        emit({"type": "conversation.item.done", "previous_item_id": previous, "item": item.render()})
        if self._host.config().transcription is not None:
            self._transcriptions.start(item, JobKind.TRANSCRIBE)

    # --- the idle timeout -------------------------------------------------------------------------

    def check_idle_timeout(self, now: float) -> None:
        """Commit (even an empty buffer) and respond once the session was idle for ``idle_timeout_ms``."""
        since, timeout = self._idle.since, self._idle.timeout_ms()
        if (
            since is None
            or timeout is None
            or self._dialect is not Dialect.GA
            or not allowed(BUFFER_TABLE, self._path.state, BufferTrigger.IDLE_TIMEOUT)
        ):
            return
        if self._runs.default_active:
            return
        if (now - since) * 1000.0 < timeout - 1e-6:  # float-safe
            return
        self._idle.disarm()
        item_id = new_id("item")
        self._host.emit(
            {
                "type": "input_audio_buffer.timeout_triggered",
                "audio_start_ms": round(self._path.buffer_start_ms),
                "audio_end_ms": round(self._path.clock_ms),
                "item_id": item_id,
            }
        )
        committed = self._path.commit_idle(item_id)
        self._committed(committed.item_id, committed.audio)
        self._runs.start(spec_from_session(self._host.config()))
