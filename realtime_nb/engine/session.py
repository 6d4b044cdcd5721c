"""The sans-I/O engine session: client events in, server events and jobs out.

API note for the adapter (server.py), python-websockets style::

    s = EngineSession(models, dialect, now=t, options=EngineOptions())
    s.receive_text(frame, now)      # one client text frame
    s.receive_bytes(frame, now)     # binary frame -> an error event (the protocol is JSON text)
    s.tick(now)                     # timers: idle timeout, session expiry (call every ~100 ms)
    s.events_to_send() -> list[dict]   # wire events in the session's dialect, in order
    s.jobs_to_run() -> list[Job]       # run each on a worker thread:
        for value in job.run(): s.job_output(job, value, now)      (on the loop thread)
        s.job_finished(job, now, error=None | exc)
    s.job_result(job, result, now)  # the architecture.md form: one output, then finished
    s.job_is_live(job)              # False once the output is unwanted: the worker may stop iterating
    s.close(now)                    # the connection is gone: late job results are dropped
    s.closed / s.close_reason       # True once expired or closed; close the socket after sending
    s.run_jobs_inline(now)          # tests: run every job to completion, deterministically

Events are built in the canonical (GA) vocabulary and translated with ``protocol.to_wire`` at the
edge; events the dialect does not have (``conversation.item.done``, ``timeout_triggered`` in preview)
are dropped there. Every refused request leaves the session unchanged: handlers validate first and
mutate last, and :meth:`snapshot` lets tests check it.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from realtime_nb.audio import AUDIO_RATES, decode, encode, resample
from realtime_nb.engine import api_versions
from realtime_nb.engine.conversation import Conversation, Item, item_from_client, user_audio_item
from realtime_nb.engine.errors import RequestError
from realtime_nb.engine.input_pipeline import RATE, InputPipeline
from realtime_nb.engine.jobs import Job, JobKind
from realtime_nb.engine.options import EngineOptions
from realtime_nb.engine.responder import EchoResponder, Reply, ResponderContext, call_responder
from realtime_nb.engine.responses import Response, ResponseSpec
from realtime_nb.engine.speech import speech_for
from realtime_nb.engine.state import (
    BUFFER_TABLE,
    SESSION_TABLE,
    BufferState,
    BufferTrigger,
    ItemState,
    ItemTrigger,
    ResponseTrigger,
    SessionState,
    SessionTrigger,
    advance,
)
from realtime_nb.engine.turn_detection import (
    Decision,
    Detector,
    SemanticVadDetector,
    ServerVadDetector,
    SpeechStarted,
    TurnEnded,
    VadState,
)
from realtime_nb.protocol.catalog import check_client_event
from realtime_nb.protocol.config import (
    ConfigError,
    SemanticVad,
    ServerVad,
    SessionConfig,
    apply_session_update,
)
from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.ids import new_id
from realtime_nb.protocol.translate import to_canonical, to_wire

MIN_COMMIT_MS = 100.0
MAX_APPEND_BYTES = 15 * 1024 * 1024  # of base64 text per input_audio_buffer.append
SEMANTIC_PREFIX_PADDING_MS = 300  # semantic_vad has no prefix_padding_ms; the service keeps 300 ms
_TURN_MODEL_WINDOW_MS = 8000.0


class _Phase(StrEnum):
    """Where a response's work stands (internal; the protocol state lives in Response.state)."""

    HEARING = "hearing"  # waiting for transcripts of user audio in its context
    RESPONDING = "responding"  # the responder job runs
    SPEAKING = "speaking"  # the synthesis job streams audio
    DONE = "done"


@dataclass(eq=False)
class _Run:
    response: Response
    context: list[Item]
    opening: str | None = None
    phase: _Phase = _Phase.HEARING
    reply: Reply | None = None
    jobs: set[str] = field(default_factory=set)


class EngineSession:
    """One Realtime session of the local engine (see the module docstring)."""

    def __init__(
        self,
        models: Any,
        dialect: Dialect | str,
        *,
        now: float,
        options: EngineOptions | None = None,
        config: SessionConfig | None = None,
        api_version: str | None = None,
    ) -> None:
        self.dialect = Dialect(dialect)
        self.api_version = api_version  # Azure preview only: 2024-10 refuses what came with 2025-04
        self.options = options or EngineOptions()
        self.id = new_id("sess")
        self._models = models
        self.config = config or SessionConfig(model=self.options.model)
        self.state = SessionState.OPEN
        self.close_reason: str | None = None
        self._started = now
        self._now = now
        self._expires_at_unix = int(time.time() + self.options.session_length_s(self.dialect))
        self._out: list[dict[str, Any]] = []
        self.conversation = Conversation()
        self.buffer_state = BufferState.EMPTY
        self._pipeline = InputPipeline(
            models.vad().stream(), self.config.input_format, self._denoiser_for(self.config)
        )
        self._detector: Detector | None = self._detector_for(self.config)
        self._speech_item_id: str | None = None
        self._speech_start_ms = 0.0
        self._runs: dict[str, _Run] = {}
        self._default_response: Response | None = None
        self._jobs: list[Job] = []
        self._live_jobs: dict[str, Job] = {}
        self._job_state: dict[str, Any] = {}
        self._hearing: set[str] = set()  # item ids with a transcription in flight
        self._idle_from: float | None = None  # wall clock when the last response's audio ends
        self._voice_used = False
        self._speech = speech_for(models)
        self._responder = self.options.responder or EchoResponder()
        if self.options.responder is None:
            self._speech.cached(_opening_phrase(), self.config.speed)  # warm once per process
        session = self._session_object()
        self._emit({"type": "session.created", "session": session})
        if self.dialect is Dialect.PREVIEW:
            self._emit(
                {
                    "type": "conversation.created",
                    "conversation": {"id": self.conversation.id, "object": "realtime.conversation"},
                }
            )

    # --- public I/O surface -------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.state is not SessionState.OPEN

    @property
    def audio_clock_ms(self) -> float:
        """Milliseconds of input audio appended since the session started."""
        return self._pipeline.clock_ms

    def receive_text(self, text: str, now: float) -> None:
        """Handle one client text frame."""
        self._advance_clock(now)
        event_id: str | None = None
        try:
            try:
                event = json.loads(text)
            except (json.JSONDecodeError, TypeError) as exc:
                raise RequestError("invalid_json", f"The event is not valid JSON: {exc}") from None
            if not isinstance(event, dict):
                raise RequestError(
                    "invalid_event", f"An event must be a JSON object, got {type(event).__name__}."
                )
            raw_id = event.get("event_id")
            event_id = raw_id if isinstance(raw_id, str) else None
            if self.state is not SessionState.OPEN:
                raise self._closed_error()
            self._check_event(event)
            self._dispatch(event)
        except RequestError as err:
            self._emit({"type": "error", "error": err.to_error(event_id)})

    def receive_bytes(self, data: bytes, now: float) -> None:
        """A binary frame: not part of the protocol, answered with an error."""
        self._advance_clock(now)
        self._emit(
            {
                "type": "error",
                "error": RequestError(
                    "invalid_event",
                    f"Binary frames ({len(data)} bytes) are not part of the Realtime protocol: send each "
                    "event as a JSON text frame, with audio as base64 in input_audio_buffer.append.",
                ).to_error(None),
            }
        )

    def tick(self, now: float) -> None:
        """Run the timers (idle timeout, session expiry)."""
        self._advance_clock(now)

    def events_to_send(self) -> list[dict[str, Any]]:
        out, self._out = self._out, []
        return out

    def jobs_to_run(self) -> list[Job]:
        jobs, self._jobs = self._jobs, []
        return jobs

    def job_is_live(self, job: Job) -> bool:
        """False once nobody wants the job's output (response cancelled, session closed): stop early."""
        return job.id in self._live_jobs and self.state is not SessionState.CLOSED

    def job_output(self, job: Job, value: Any, now: float) -> None:
        """A value a job yielded; dropped if the job's session, response or item is gone."""
        self._now = max(self._now, now)
        if job.id not in self._live_jobs or self.state is SessionState.CLOSED:
            return
        handler = {
            JobKind.TRANSCRIBE: self._transcript_piece,
            JobKind.HEAR: self._transcript_piece,
            JobKind.RESPOND: self._reply_ready,
            JobKind.SYNTHESIZE: self._audio_chunk,
        }[job.kind]
        handler(job, value)

    def job_finished(self, job: Job, now: float, error: BaseException | None = None) -> None:
        """A job ended (``error`` = what it raised); stale jobs are ignored."""
        self._now = max(self._now, now)
        if self._live_jobs.pop(job.id, None) is None or self.state is SessionState.CLOSED:
            return
        if job.kind in (JobKind.TRANSCRIBE, JobKind.HEAR):
            self._transcription_done(job, error)
        elif job.kind is JobKind.RESPOND:
            if error is not None:
                self._fail_run(job.owner, "responder_error", f"The responder failed: {error}")
        else:
            self._speech_done(job, error)

    def job_result(self, job: Job, result: Any, now: float) -> None:
        """Contract form: one result, then the job is finished."""
        if result is not None:
            self.job_output(job, result, now)
        self.job_finished(job, now)

    def run_jobs_inline(self, now: float | None = None) -> None:
        """Run every pending job (and the jobs they cause) to completion on this thread."""
        when = self._now if now is None else now
        while self._jobs:
            for job in self.jobs_to_run():
                try:
                    for value in job.run():
                        if job.id not in self._live_jobs:
                            break
                        self.job_output(job, value, when)
                except Exception as exc:
                    self.job_finished(job, when, exc)
                else:
                    self.job_finished(job, when)

    def close(self, now: float, reason: str = "connection closed") -> None:
        """The connection is gone: stop timers and drop every job still out."""
        self._now = max(self._now, now)
        if self.state is SessionState.CLOSED:
            return
        self.state = advance("session", SESSION_TABLE, self.state, SessionTrigger.CLOSE)
        self.close_reason = self.close_reason or reason
        self._live_jobs.clear()
        self._jobs.clear()
        self._pipeline.close()

    def snapshot(self) -> dict[str, Any]:
        """Everything a request may change, in comparable form (tests: refused == unchanged)."""
        return {
            "session": self.state.value,
            "config": self.config,
            "buffer": self.buffer_state.value,
            "buffered_samples": (self._pipeline.processed.start, self._pipeline.processed.end),
            "clock_ms": self._pipeline.clock_ms,
            "vad": None if self._detector is None else self._detector.state.value,
            "speech_item": self._speech_item_id,
            "conversation": self.conversation.snapshot(),
            "responses": {rid: (r.response.state.value, r.phase.value) for rid, r in self._runs.items()},
            "default_response": None if self._default_response is None else self._default_response.id,
            "jobs": sorted(self._live_jobs),
            "voice_used": self._voice_used,
        }

    # --- plumbing -------------------------------------------------------------------------------

    def _emit(self, event: dict[str, Any]) -> None:
        event = {"event_id": new_id("event"), **event}
        wire = to_wire(event, self.dialect)
        if wire is not None:
            self._out.append(wire)

    def _advance_clock(self, now: float) -> None:
        self._now = max(self._now, now)
        if self.state is not SessionState.OPEN:
            return
        if self._now - self._started >= self.options.session_length_s(self.dialect):
            self._expire()
            return
        self._check_idle_timeout()

    def _closed_error(self) -> RequestError:
        if self.state is SessionState.EXPIRED:
            return RequestError("session_expired", self._expiry_message())
        return RequestError("session_closed", "The session is closed; open a new connection.")

    def _expiry_message(self) -> str:
        minutes = self.options.session_length_s(self.dialect) / 60
        return f"Your session hit the maximum duration of {minutes:g} minutes."

    def _expire(self) -> None:
        for run in list(self._runs.values()):
            if run.response.active:
                self._finish_run(
                    run,
                    ResponseTrigger.FAIL,
                    {
                        "type": "failed",
                        "error": {
                            "type": "invalid_request_error",
                            "code": "session_expired",
                            "message": self._expiry_message(),
                        },
                    },
                )
        self._emit(
            {"type": "error", "error": RequestError("session_expired", self._expiry_message()).to_error(None)}
        )
        self.state = advance("session", SESSION_TABLE, self.state, SessionTrigger.EXPIRE)
        self.close_reason = "session_expired"
        self._live_jobs.clear()
        self._jobs.clear()

    def _check_event(self, event: dict[str, Any]) -> None:
        etype = event.get("type")
        if not isinstance(etype, str):
            raise RequestError("missing_required_parameter", "The event has no 'type' string.", "type")
        issue = check_client_event(event, self.dialect)
        if issue is not None:
            raise RequestError(issue.code, issue.message, issue.param)
        if etype not in _HANDLERS:
            raise RequestError(
                "invalid_value", f"Invalid value: '{etype}' is not a supported client event type.", "type"
            )
        api_versions.check_event_type(self.api_version, etype)

    def _dispatch(self, event: dict[str, Any]) -> None:
        canonical = to_canonical(event, self.dialect)
        _HANDLERS[event["type"]](self, event, canonical)

    def _add_job(self, kind: JobKind, owner: str, work: Callable[[], Iterator[Any]]) -> Job:
        job = Job(kind, owner, work)
        self._jobs.append(job)
        self._live_jobs[job.id] = job
        return job

    def _session_object(self) -> dict[str, Any]:
        session = self.config.to_wire(Dialect.GA)
        session.setdefault("model", self.options.model)
        return {"id": self.id, "object": "realtime.session", "expires_at": self._expires_at_unix, **session}

    # --- configuration --------------------------------------------------------------------------

    def _denoiser_for(self, config: SessionConfig) -> Any:
        return (
            None if config.noise_reduction is None else self._models.denoiser(config.noise_reduction).stream()
        )

    def _detector_for(self, config: SessionConfig) -> Detector | None:
        td = config.turn_detection
        opts = {
            "release_delta": self.options.release_delta,
            "min_speech_ms": self.options.min_speech_ms,
            "level": self._pipeline.level_db,
        }
        if isinstance(td, ServerVad):
            return ServerVadDetector(td, **opts)
        if isinstance(td, SemanticVad):
            return SemanticVadDetector(td, self._ask_turn_model, **opts)
        return None

    def _ask_turn_model(self, now_ms: float) -> float:
        """P(turn complete) for the current turn's audio up to ``now_ms`` (last 8 s, 16 kHz).

        Runs inline on the audio path: about 30 ms, at most once per 500 ms of silence.
        """
        start = max(self._speech_start_ms, now_ms - _TURN_MODEL_WINDOW_MS)
        audio = self._pipeline.audio16(start, now_ms)
        return self._models.turn().predict(audio) if audio.size else 0.0

    def _on_session_update(self, event: dict[str, Any], canonical: dict[str, Any]) -> None:
        raw = event.get("session")
        try:
            new = apply_session_update(self.config, raw, self.dialect)  # type: ignore[arg-type]
            session = new.to_wire(self.dialect)  # also checks what the dialect can express
            api_versions.check_config(self.api_version, new)
        except ConfigError as exc:
            err = exc.in_dialect(self.dialect)
            raise RequestError(err.code, err.message, err.param) from None
        del session
        if new.voice != self.config.voice and self._voice_used:
            param = "session.audio.output.voice" if self.dialect is Dialect.GA else "session.voice"
            raise RequestError(
                "cannot_update_voice",
                "Cannot update the voice: the assistant has already produced audio in this session.",
                param,
            )
        denoiser = self._denoiser_for(new) if new.noise_reduction != self.config.noise_reduction else None
        # -- everything is valid: apply
        old, self.config = self.config, new
        if new.input_format != old.input_format:
            self._pipeline.set_format(new.input_format)
        if new.noise_reduction != old.noise_reduction:
            self._pipeline.set_denoiser(denoiser)
        if new.turn_detection != old.turn_detection:
            self._detector = self._detector_for(new)
            if self.buffer_state is BufferState.SPEECH:  # detection starts over on the buffered audio
                self.buffer_state = BufferState.HOLDING
                self._speech_item_id = None
            if not isinstance(new.turn_detection, ServerVad) or new.turn_detection.idle_timeout_ms is None:
                self._idle_from = None
        self._emit({"type": "session.updated", "session": self._session_object()})

    # --- input audio buffer ---------------------------------------------------------------------

    def _decode_b64(self, b64: str, fmt: str, param: str) -> np.ndarray:
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RequestError("invalid_value", f"Invalid base64 audio in '{param}': {exc}", param) from None
        try:
            return decode(raw, fmt)  # type: ignore[arg-type]
        except ValueError as exc:
            raise RequestError("invalid_value", f"Invalid {fmt} audio in '{param}': {exc}", param) from None

    def _decode_item_audio(self, b64: str, param: str) -> np.ndarray:
        native = self._decode_b64(b64, self.config.input_format, param)
        return resample(native, AUDIO_RATES[self.config.input_format], RATE)

    def _on_append(self, event: dict[str, Any], canonical: dict[str, Any]) -> None:
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
        native = self._decode_b64(audio, self.config.input_format, "audio")
        if not native.size:
            return
        self.buffer_state = advance("input buffer", BUFFER_TABLE, self.buffer_state, BufferTrigger.APPEND)
        for prob, start, end in self._pipeline.append(native):
            if self._detector is None:
                continue
            self._decide(self._detector.feed(prob, start, end))
        if self._detector is not None:
            self._decide(self._detector.advance(self._pipeline.processed_ms))
            if self._detector.state is VadState.QUIET:
                self._pipeline.trim_quiet()

    def _decide(self, decisions: list[Decision]) -> None:
        for decision in decisions:
            if isinstance(decision, SpeechStarted):
                self._speech_started(decision.start_ms)
            elif self.buffer_state is BufferState.SPEECH:
                self._turn_ended(decision)

    def _speech_started(self, detected_ms: float) -> None:
        td = self.config.turn_detection
        padding = td.prefix_padding_ms if isinstance(td, ServerVad) else SEMANTIC_PREFIX_PADDING_MS
        self._speech_start_ms = max(self._pipeline.buffer_start_ms, detected_ms - padding)
        self._speech_item_id = new_id("item")
        self.buffer_state = advance(
            "input buffer", BUFFER_TABLE, self.buffer_state, BufferTrigger.SPEECH_START
        )
        self._idle_from = None
        self._emit(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": round(self._speech_start_ms),
                "item_id": self._speech_item_id,
            }
        )
        active = self._default_response
        if active is not None and active.active and td is not None and td.interrupt_response:
            self._finish_run(
                self._runs[active.id],
                ResponseTrigger.CANCEL,
                {"type": "cancelled", "reason": "turn_detected"},
            )

    def _turn_ended(self, ended: TurnEnded) -> None:
        item_id = self._speech_item_id or new_id("item")
        end_ms = round(ended.end_ms)
        self._emit({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": end_ms, "item_id": item_id})
        self._commit(item_id, self._speech_start_ms, ended.end_ms)
        td = self.config.turn_detection
        if td is not None and td.create_response:
            self._auto_response()

    def _auto_response(self) -> None:
        """A response started by turn detection (skipped while one is active: interrupt_response off)."""
        if self._default_response is not None and self._default_response.active:
            return
        self._start_response(self._spec_from_session())

    def _commit(self, item_id: str, start_ms: float, end_ms: float | None) -> Item:
        pcm = self._pipeline.take(start_ms, end_ms)
        item = user_audio_item(item_id, pcm)
        previous = self.conversation.insert(item)
        self.buffer_state = advance("input buffer", BUFFER_TABLE, self.buffer_state, BufferTrigger.COMMIT)
        if len(self._pipeline.processed):
            self.buffer_state = advance("input buffer", BUFFER_TABLE, self.buffer_state, BufferTrigger.APPEND)
        self._speech_item_id = None
        if self._detector is not None:
            self._detector.reset()
        self._emit({"type": "input_audio_buffer.committed", "previous_item_id": previous, "item_id": item_id})
        self._emit({"type": "conversation.item.added", "previous_item_id": previous, "item": item.render()})
        self._emit({"type": "conversation.item.done", "previous_item_id": previous, "item": item.render()})
        if self.config.transcription is not None:
            self._start_transcription(item, JobKind.TRANSCRIBE)
        return item

    def _on_commit(self, event: dict[str, Any], canonical: dict[str, Any]) -> None:
        buffered = self._pipeline.buffered_ms
        if self.buffer_state is BufferState.EMPTY or buffered < MIN_COMMIT_MS:
            raise RequestError(
                "input_audio_buffer_commit_empty",
                f"Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS:g}ms of audio, but buffer only has {buffered:.2f}ms of audio.",
            )
        start = (
            self._speech_start_ms
            if self.buffer_state is BufferState.SPEECH
            else self._pipeline.buffer_start_ms
        )
        self._commit(self._speech_item_id or new_id("item"), start, None)

    def _on_clear(self, event: dict[str, Any], canonical: dict[str, Any]) -> None:
        self.buffer_state = advance("input buffer", BUFFER_TABLE, self.buffer_state, BufferTrigger.CLEAR)
        self._pipeline.clear()
        self._speech_item_id = None
        if self._detector is not None:
            self._detector.reset()
        self._emit({"type": "input_audio_buffer.cleared"})

    def _on_output_clear(self, event: dict[str, Any], canonical: dict[str, Any]) -> None:
        raise RequestError(
            "unsupported_over_websocket",
            "output_audio_buffer.clear applies to WebRTC/SIP calls only; "
            "over WebSocket stop playback locally and send conversation.item.truncate.",
        )

    def _check_idle_timeout(self) -> None:
        td = self.config.turn_detection
        if (
            self._idle_from is None
            or self.dialect is not Dialect.GA
            or not isinstance(td, ServerVad)
            or td.idle_timeout_ms is None
            or self.buffer_state is BufferState.SPEECH
        ):
            return
        if self._default_response is not None and self._default_response.active:
            return
        if (self._now - self._idle_from) * 1000.0 < td.idle_timeout_ms - 1e-6:  # float-safe
            return
        self._idle_from = None
        item_id = new_id("item")
        start = self._pipeline.buffer_start_ms
        self._emit(
            {
                "type": "input_audio_buffer.timeout_triggered",
                "audio_start_ms": round(start),
                "audio_end_ms": round(self._pipeline.clock_ms),
                "item_id": item_id,
            }
        )
        if self.buffer_state is BufferState.EMPTY:
            self.buffer_state = advance("input buffer", BUFFER_TABLE, self.buffer_state, BufferTrigger.APPEND)
        self._commit(item_id, start, None)
        self._start_response(self._spec_from_session())

    # --- items ------------------------------------------------------------------------------------

    def _on_item_create(self, event: dict[str, Any], canonical: dict[str, Any]) -> None:
        item = item_from_client(canonical.get("item"), self._decode_item_audio)
        previous_id = canonical.get("previous_item_id")
        if previous_id is not None and not isinstance(previous_id, str):
            raise RequestError("invalid_type", "'previous_item_id' must be a string.", "previous_item_id")
        self.conversation.check_insert(item, previous_id)
        if item.type == "function_call_output" and not any(
            it.type == "function_call" and it.call_id == item.call_id for it in self.conversation
        ):
            raise RequestError(
                "invalid_value",
                f"No function_call item with call_id '{item.call_id}' in the conversation.",
                "item.call_id",
            )
        previous = self.conversation.insert(item, previous_id)
        self._emit({"type": "conversation.item.added", "previous_item_id": previous, "item": item.render()})
        self._emit({"type": "conversation.item.done", "previous_item_id": previous, "item": item.render()})

    def _audio_b64_for(self, item: Item) -> Callable[[np.ndarray], str]:
        if item.role == "assistant":
            fmt = item.audio_format or self.config.output_format
        else:
            fmt = self.config.input_format

        def render(pcm24: np.ndarray) -> str:
            native = resample(pcm24, RATE, AUDIO_RATES[fmt]) if AUDIO_RATES[fmt] != RATE else pcm24
            return base64.b64encode(encode(native, fmt)).decode("ascii")  # type: ignore[arg-type]

        return render

    def _on_item_retrieve(self, event: dict[str, Any], canonical: dict[str, Any]) -> None:
        item = self.conversation.get(canonical.get("item_id"))
        self._emit(
            {"type": "conversation.item.retrieved", "item": item.render(audio_b64=self._audio_b64_for(item))}
        )

    def _on_item_delete(self, event: dict[str, Any], canonical: dict[str, Any]) -> None:
        item = self.conversation.get(canonical.get("item_id"))
        if item.status is ItemState.IN_PROGRESS:
            raise RequestError(
                "item_in_progress",
                f"Item {item.id} is still being generated; cancel the response first.",
                "item_id",
            )
        self.conversation.remove(item.id)
        self._emit({"type": "conversation.item.deleted", "item_id": item.id})

    def _on_item_truncate(self, event: dict[str, Any], canonical: dict[str, Any]) -> None:
        item = self.conversation.get(canonical.get("item_id"))
        if item.type != "message" or item.role != "assistant":
            raise RequestError(
                "invalid_value",
                f"Only assistant messages can be truncated; item {item.id} is a "
                f"{item.role or item.type} {item.type}.",
                "item_id",
            )
        index, end_ms = canonical.get("content_index"), canonical.get("audio_end_ms")
        if not _is_int(index) or not 0 <= index < len(item.content):
            raise RequestError(
                "invalid_value",
                f"Invalid content_index {index!r}: item {item.id} has {len(item.content)} content part(s).",
                "content_index",
            )
        if item.content[index]["type"] != "output_audio":
            raise RequestError(
                "invalid_value",
                f"Content part {index} of item {item.id} has no audio to truncate.",
                "content_index",
            )
        if not _is_int(end_ms) or end_ms < 0:
            raise RequestError(
                "invalid_value",
                f"'audio_end_ms' must be a non-negative integer, got {end_ms!r}.",
                "audio_end_ms",
            )
        if item.status is ItemState.IN_PROGRESS:
            raise RequestError(
                "item_in_progress",
                f"Item {item.id} is still being generated; cancel the response "
                "first, then truncate at the playback position.",
                "item_id",
            )
        have = item.audio_ms(index)
        if end_ms > have:
            raise RequestError(
                "invalid_value",
                f"Audio content of {have:.0f}ms is already shorter than {end_ms}ms",
                "audio_end_ms",
            )
        pcm = item.audio.get(index, np.zeros(0, np.int16))
        item.audio[index] = pcm[: int(end_ms * RATE / 1000)]
        item.content[index]["transcript"] = self._truncated_transcript(item, float(end_ms))
        item.spans = [(a, min(b, end_ms), t) for a, b, t in item.spans if a < end_ms]
        item.advance(ItemTrigger.TRUNCATE)
        self._emit(
            {
                "type": "conversation.item.truncated",
                "item_id": item.id,
                "content_index": index,
                "audio_end_ms": end_ms,
            }
        )

    def _truncated_transcript(self, item: Item, end_ms: float) -> str:
        """``"drop"``: empty (the service); ``"proportional"``: chunks played + words in proportion."""
        if self.options.truncate_transcript == "drop":
            return ""
        kept = []
        for a, b, text in item.spans:
            if b <= end_ms:
                kept.append(text)
            elif a < end_ms:
                words = text.split()
                kept.append(
                    (" " if text[:1].isspace() else "")
                    + " ".join(words[: int(len(words) * (end_ms - a) / (b - a))])
                )
        return "".join(kept).rstrip()

    # --- responses ------------------------------------------------------------------------------

    def _spec_from_session(self) -> ResponseSpec:
        c = self.config
        return ResponseSpec(
            output_modalities=tuple(c.output_modalities),
            instructions=c.instructions,
            voice=_voice_name(c.voice),
            speed=c.speed,
            output_format=c.output_format,
            tools=tuple(t.to_wire() for t in c.tools),
            tool_choice=_tool_choice_wire(c.tool_choice),
            max_output_tokens=c.max_output_tokens,
            temperature=c.temperature,
        )

    def _on_response_create(self, event: dict[str, Any], canonical: dict[str, Any]) -> None:
        spec = self._spec_from_request(canonical.get("response"))
        if spec.in_conversation and self._default_response is not None and self._default_response.active:
            raise RequestError(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {self._default_response.id}. "
                "Wait until the response is finished before creating a new one.",
            )
        self._start_response(spec)

    def _spec_from_request(self, params: object) -> ResponseSpec:
        spec = self._spec_from_session()
        if params is None:
            return spec
        if not isinstance(params, dict):
            raise RequestError("invalid_type", "'response' must be an object.", "response")
        if "output_modalities" in params:
            mods = params["output_modalities"]
            if not isinstance(mods, list) or not mods or not set(mods) <= {"text", "audio"}:
                raise RequestError(
                    "invalid_value",
                    f"Invalid output modalities {mods!r}: use ['audio'] or ['text'].",
                    "response.output_modalities",
                )
            spec.output_modalities = ("audio",) if "audio" in mods else ("text",)
        if "instructions" in params:
            spec.instructions = _str_param(params, "instructions")
        output = (params.get("audio") or {}).get("output") if isinstance(params.get("audio"), dict) else None
        if isinstance(output, dict):
            if "voice" in output:
                spec.voice = _voice_name(output["voice"])
            if "format" in output:
                spec.output_format = _format_param(output["format"])
        if "tools" in params:
            if not isinstance(params["tools"], list):
                raise RequestError("invalid_type", "'response.tools' must be an array.", "response.tools")
            spec.tools = tuple(params["tools"])
        if "tool_choice" in params:
            spec.tool_choice = params["tool_choice"]
        if "max_output_tokens" in params:
            limit = params["max_output_tokens"]
            if limit != "inf" and not (_is_int(limit) and 1 <= limit <= 4096):
                raise RequestError(
                    "invalid_value",
                    f"Invalid max_output_tokens {limit!r}: an integer 1-4096 or 'inf'.",
                    "response.max_output_tokens",
                )
            spec.max_output_tokens = limit
        if "conversation" in params:
            conv = params["conversation"]
            if conv not in ("auto", "none"):
                raise RequestError(
                    "invalid_value",
                    f"Invalid conversation {conv!r}: 'auto' or 'none'.",
                    "response.conversation",
                )
            spec.conversation = conv
        if "metadata" in params and params["metadata"] is not None:
            spec.metadata = _metadata_param(params["metadata"])
        if "temperature" in params:
            spec.temperature = params["temperature"]
        if "input" in params:
            spec.input = self._input_items(params["input"])
        return spec

    def _input_items(self, raw: object) -> list[Item]:
        if not isinstance(raw, list):
            raise RequestError(
                "invalid_type", "'response.input' must be an array of items.", "response.input"
            )
        items = []
        for i, entry in enumerate(raw):
            where = f"response.input[{i}]"
            if isinstance(entry, dict) and entry.get("type") == "item_reference":
                items.append(self.conversation.get(entry.get("id"), f"{where}.id"))
            else:
                items.append(item_from_client(entry, self._decode_item_audio, where))
        return items

    def _start_response(self, spec: ResponseSpec) -> None:
        response = Response(spec, self._emit, self.conversation, self.options.audio_delta_ms)
        context = list(spec.input) if spec.input is not None else list(self.conversation)
        run = _Run(response, context)
        self._runs[response.id] = run
        if spec.in_conversation:
            self._default_response = response
        self._idle_from = None
        response.open(context)
        self._emit({"type": "rate_limits.updated", "rate_limits": self._rate_limits(response)})
        if isinstance(self._responder, EchoResponder) and spec.audio:
            run.opening = self._responder.opening(self._context_dicts(context))
            if run.opening is not None:
                response.begin_message()
                self._voice_used = True
                if not response.add_audio(
                    run.opening, self._speech.cached(run.opening, spec.speed), self._now
                ):
                    self._finish_run(run, ResponseTrigger.HIT_LIMIT, _LIMIT_DETAILS)
                    return
        for item in context:
            if item.role == "user" and item.heard is None and item.id not in self._hearing and item.audio:
                self._start_transcription(item, JobKind.HEAR)
        self._maybe_respond(run)

    def _rate_limits(self, response: Response) -> list[dict[str, Any]]:
        spent = sum(r.response.usage.input_text + r.response.usage.input_audio for r in self._runs.values())
        return [
            {
                "name": "requests",
                "limit": self.options.rate_limit_requests,
                "remaining": max(0, self.options.rate_limit_requests - len(self._runs)),
                "reset_seconds": 60.0,
            },
            {
                "name": "tokens",
                "limit": self.options.rate_limit_tokens,
                "remaining": max(0, self.options.rate_limit_tokens - spent),
                "reset_seconds": 60.0,
            },
        ]

    def _context_dicts(self, context: list[Item]) -> list[dict[str, Any]]:
        out = []
        for item in context:
            d = item.render()
            if item.role == "user" and item.audio:
                d["heard"] = item.heard
            out.append(d)
        return out

    def _maybe_respond(self, run: _Run) -> None:
        if run.phase is not _Phase.HEARING or not run.response.active:
            return
        if any(item.id in self._hearing for item in run.context):
            return
        run.phase = _Phase.RESPONDING
        spec = run.response.spec
        ctx = ResponderContext(
            items=self._context_dicts(run.context),
            instructions=spec.instructions,
            tools=spec.tools,
            tool_choice=spec.tool_choice,
            output_modalities=spec.output_modalities,
            metadata=spec.metadata,
        )
        responder = self._responder
        job = self._add_job(JobKind.RESPOND, run.response.id, lambda: iter([call_responder(responder, ctx)]))
        run.jobs.add(job.id)

    def _reply_ready(self, job: Job, reply: Reply) -> None:
        run = self._runs.get(job.owner)
        if run is None or not run.response.active or run.phase is not _Phase.RESPONDING:
            return
        run.reply = reply
        response, spec = run.response, run.response.spec
        text = reply.text
        if run.opening is not None and text.startswith(run.opening):
            text = text[len(run.opening) :]
        if text.strip() and spec.audio:
            if not response.message_open:
                response.begin_message()
            run.phase = _Phase.SPEAKING
            speech, voice, speed = self._speech, spec.voice, spec.speed
            synth = self._add_job(
                JobKind.SYNTHESIZE, response.id, lambda: speech.chunks(text, voice=voice, speed=speed)
            )
            run.jobs.add(synth.id)
            return
        if text.strip():
            if not response.message_open:
                response.begin_message()
            for piece in _word_pieces(text):
                if not response.add_text(piece):
                    self._finish_run(run, ResponseTrigger.HIT_LIMIT, _LIMIT_DETAILS)
                    return
        self._complete_run(run)

    def _audio_chunk(self, job: Job, value: tuple[str, np.ndarray]) -> None:
        run = self._runs.get(job.owner)
        if run is None or not run.response.active:
            return
        text, pcm = value
        self._voice_used = True
        if not run.response.add_audio(text, pcm, self._now):
            self._finish_run(run, ResponseTrigger.HIT_LIMIT, _LIMIT_DETAILS)

    def _speech_done(self, job: Job, error: BaseException | None) -> None:
        run = self._runs.get(job.owner)
        if run is None or not run.response.active:
            return
        if error is not None:
            self._fail_run(job.owner, "synthesis_error", f"Speech synthesis failed: {error}")
            return
        self._complete_run(run)

    def _complete_run(self, run: _Run) -> None:
        """End the message, emit the tool calls, close the response."""
        response = run.response
        if response.message_open:
            response.end_message()
        for call in run.reply.tool_calls if run.reply else ():
            response.function_call(call.name, call.arguments_json(), call.call_id)
        self._finish_run(run, ResponseTrigger.FINISH, None)

    def _fail_run(self, response_id: str, code: str, message: str) -> None:
        run = self._runs.get(response_id)
        if run is not None and run.response.active:
            self._finish_run(
                run,
                ResponseTrigger.FAIL,
                {"type": "failed", "error": {"type": "server_error", "code": code, "message": message}},
            )

    def _finish_run(self, run: _Run, trigger: ResponseTrigger, details: dict[str, Any] | None) -> None:
        run.response.finish(trigger, details)
        run.phase = _Phase.DONE
        for job_id in run.jobs:
            self._live_jobs.pop(job_id, None)
        if run.response is self._default_response:
            td = self.config.turn_detection
            if isinstance(td, ServerVad) and td.idle_timeout_ms is not None:
                # the audio would finish playing this long after response.done
                self._idle_from = self._now + run.response.audio_ms / 1000.0

    def _on_response_cancel(self, event: dict[str, Any], canonical: dict[str, Any]) -> None:
        wanted = canonical.get("response_id")
        if wanted is not None:
            run = self._runs.get(wanted) if isinstance(wanted, str) else None
            if run is None or not run.response.active:
                raise RequestError(
                    "response_cancel_not_active",
                    f"Cannot cancel response {wanted}: it is not active.",
                    "response_id",
                )
        else:
            active = [r for r in self._runs.values() if r.response.active]
            default = [r for r in active if r.response is self._default_response]
            if not active:
                raise RequestError(
                    "response_cancel_not_active", "Cancellation failed: no active response found."
                )
            run = (default or active)[-1]
        self._finish_run(run, ResponseTrigger.CANCEL, {"type": "cancelled", "reason": "client_cancelled"})

    # --- transcription --------------------------------------------------------------------------

    def _start_transcription(self, item: Item, kind: JobKind) -> None:
        pcm = item.audio.get(0)
        if pcm is None or pcm.size == 0:
            self._finish_transcript(item, kind, "", None)
            return
        audio16 = resample(pcm, RATE, 16000)
        models = self._models  # the transcriber is fetched (maybe loaded) on the worker thread
        t = self.config.transcription
        language, prompt = (
            (t.language, t.prompt) if (t is not None and kind is JobKind.TRANSCRIBE) else (None, None)
        )
        self._hearing.add(item.id)
        job = self._add_job(
            kind, item.id, lambda: models.transcriber().transcribe(audio16, language=language, prompt=prompt)
        )
        self._job_state[job.id] = []

    def _transcript_piece(self, job: Job, segment: str) -> None:
        pieces: list[str] = self._job_state.setdefault(job.id, [])
        delta = segment if not pieces else " " + segment
        pieces.append(delta)
        if job.kind is JobKind.TRANSCRIBE and job.owner in self.conversation:
            self._emit(
                {
                    "type": "conversation.item.input_audio_transcription.delta",
                    "item_id": job.owner,
                    "content_index": 0,
                    "delta": delta,
                }
            )

    def _transcription_done(self, job: Job, error: BaseException | None) -> None:
        text = "".join(self._job_state.pop(job.id, []))
        item = self._find_item(job.owner)
        self._hearing.discard(job.owner)
        if item is not None:
            self._finish_transcript(item, job.kind, text, error)
        for run in list(self._runs.values()):
            self._maybe_respond(run)

    def _finish_transcript(self, item: Item, kind: JobKind, text: str, error: BaseException | None) -> None:
        item.heard = "" if error is not None else text
        if kind is not JobKind.TRANSCRIBE or item.id not in self.conversation:
            return
        if error is not None:
            self._emit(
                {
                    "type": "conversation.item.input_audio_transcription.failed",
                    "item_id": item.id,
                    "content_index": 0,
                    "error": {
                        "type": "transcription_error",
                        "code": "transcription_failed",
                        "message": str(error),
                        "param": None,
                    },
                }
            )
            return
        item.content[0]["transcript"] = text
        seconds = item.audio_ms(0) / 1000.0
        self._emit(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item.id,
                "content_index": 0,
                "transcript": text,
                "usage": {"type": "duration", "seconds": seconds},
            }
        )

    def _find_item(self, item_id: str) -> Item | None:
        if item_id in self.conversation:
            return self.conversation.get(item_id)
        for run in self._runs.values():  # items given inline in response.create input[]
            for item in run.context:
                if item.id == item_id:
                    return item
        return None


_LIMIT_DETAILS = {"type": "incomplete", "reason": "max_output_tokens"}


def _opening_phrase() -> str:
    from realtime_nb.engine.responder import ECHO_OPENING

    return ECHO_OPENING


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _voice_name(voice: object) -> str:
    if isinstance(voice, str):
        return voice
    vid = getattr(voice, "id", None) or (voice.get("id") if isinstance(voice, dict) else None)
    if isinstance(vid, str):
        return vid
    raise RequestError("invalid_value", f"Invalid voice {voice!r}.", "response.audio.output.voice")


def _tool_choice_wire(choice: object) -> object:
    name = getattr(choice, "name", None)
    return {"type": "function", "name": name} if name is not None else choice


def _format_param(fmt: object) -> str:
    short = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
    if isinstance(fmt, dict) and fmt.get("type") in short:
        return short[fmt["type"]]
    if fmt in AUDIO_RATES:
        return str(fmt)
    raise RequestError(
        "invalid_value", f"Invalid output audio format {fmt!r}.", "response.audio.output.format"
    )


def _str_param(params: dict[str, Any], key: str) -> str:
    value = params[key]
    if not isinstance(value, str):
        raise RequestError("invalid_type", f"'response.{key}' must be a string.", f"response.{key}")
    return value


def _metadata_param(raw: object) -> dict[str, str]:
    if not isinstance(raw, dict) or len(raw) > 16:
        raise RequestError(
            "invalid_value",
            "'response.metadata' must be an object of at most 16 string pairs.",
            "response.metadata",
        )
    for k, v in raw.items():
        if not isinstance(v, str) or len(k) > 64 or len(v) > 512:
            raise RequestError(
                "invalid_value",
                f"Invalid metadata entry {k!r}: keys up to 64 characters, string values up to 512.",
                f"response.metadata.{k}",
            )
    return dict(raw)


def _word_pieces(text: str) -> Iterator[str]:
    """Text deltas of a few words each, as a model streams them."""
    words = text.split(" ")
    for i in range(0, len(words), 3):
        yield (" " if i else "") + " ".join(words[i : i + 3])


_HANDLERS: dict[str, Callable[[EngineSession, dict[str, Any], dict[str, Any]], None]] = {
    "session.update": EngineSession._on_session_update,
    "input_audio_buffer.append": EngineSession._on_append,
    "input_audio_buffer.commit": EngineSession._on_commit,
    "input_audio_buffer.clear": EngineSession._on_clear,
    "output_audio_buffer.clear": EngineSession._on_output_clear,
    "conversation.item.create": EngineSession._on_item_create,
    "conversation.item.retrieve": EngineSession._on_item_retrieve,
    "conversation.item.truncate": EngineSession._on_item_truncate,
    "conversation.item.delete": EngineSession._on_item_delete,
    "response.create": EngineSession._on_response_create,
    "response.cancel": EngineSession._on_response_cancel,
}
