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

Over WebRTC (``transport="webrtc"``, set by the call adapter for each call) the session plays the
assistant's audio itself (the server-owned playback of the services)::

    s.receive_audio(pcm24, now)     # the microphone track, 24 kHz mono int16 (instead of appends)
    s.output_frame(now) -> 480 int16 samples   # every 20 ms: the only way assistant audio leaves
    s.job_is_held(job)              # True while a synthesis job should pause (playout is ahead)

``input_audio_buffer.append`` is then refused (the track is the input); ``response.output_audio.delta``
is not sent (the audio is on the track); ``output_audio_buffer.started`` / ``.stopped`` / ``.cleared``
are, and ``output_audio_buffer.clear`` works. See :mod:`realtime_nb.engine.output_buffer`.

Events are built in the canonical (GA) vocabulary and translated with ``protocol.to_wire`` at the
edge; events the dialect does not have (``conversation.item.done``, ``timeout_triggered`` in preview)
are dropped there. Every refused request leaves the session unchanged: handlers validate first and
mutate last, and :meth:`snapshot` lets tests check it.

The session itself is the router (event type -> the part that handles it), the clock, the emitter
and the owner of the jobs; the protocol lives in its parts: :class:`InputBuffer` (over the
offline-capable :class:`InputPath`), :class:`ItemRequests`, :class:`ResponseRuns` and
:class:`Transcriptions`. An :class:`IllegalTransition` that reaches the router is an engine bug: it
becomes a ``server_error`` event and the session stays open.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

import numpy as np

from realtime_nb.engine import api_versions, big_frames
from realtime_nb.engine.conversation import Conversation, Item
from realtime_nb.engine.errors import RequestError, client_faults
from realtime_nb.engine.host import Host
from realtime_nb.engine.input_buffer import IdleTimer, InputBuffer
from realtime_nb.engine.input_path import InputPath
from realtime_nb.engine.items import ItemRequests
from realtime_nb.engine.jobs import Job, JobKind, JobLedger
from realtime_nb.engine.options import EngineOptions
from realtime_nb.engine.output_buffer import FRAME_SAMPLES, OutputBuffer
from realtime_nb.engine.response_request import input_items, spec_from_request
from realtime_nb.engine.runs import ResponseRuns
from realtime_nb.engine.session_kind import check_request
from realtime_nb.engine.speech import speech_for
from realtime_nb.engine.state import (
    SESSION_TABLE,
    EngineSessionState,
    IllegalTransition,
    SessionTrigger,
    advance,
)
from realtime_nb.engine.transcription import Transcriptions
from realtime_nb.protocol.catalog import check_client_event
from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.errors import ConfigError
from realtime_nb.protocol.fields import SESSION_TYPES, wire_param
from realtime_nb.protocol.formats import PCM_RATE
from realtime_nb.protocol.ids import new_id
from realtime_nb.protocol.limits import MAX_EVENT_ID_CHARS
from realtime_nb.protocol.response_params import ResponseParams
from realtime_nb.protocol.session_config import SessionConfig, apply_session_update
from realtime_nb.protocol.translate import to_canonical, to_wire
from realtime_nb.protocol.wire_json import WireJsonError, loads_client_event

Transport = Literal["websocket", "webrtc"]
TRANSPORTS: tuple[str, ...] = ("websocket", "webrtc")


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
        transport: Transport = "websocket",
        session_type: str = "realtime",
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}")
        if session_type not in SESSION_TYPES:
            raise ValueError(f"session_type must be one of {', '.join(SESSION_TYPES)}, got {session_type!r}")
        self.transport = transport
        self.dialect = Dialect(dialect)
        self.api_version = api_version  # Azure preview only: 2024-10 refuses what came with 2025-04
        self.options = options or EngineOptions()
        self.id = new_id("sess")
        if config is None:  # a transcription session reports no model (see session_kind)
            transcribing = session_type == "transcription"
            config = (
                SessionConfig.for_transcription() if transcribing else SessionConfig(model=self.options.model)
            )
        self.config = config
        self.state = EngineSessionState.OPEN
        self.close_reason: str | None = None
        self._started = now
        self._now = now
        self._expires_at_unix = int(time.time() + self.options.session_length_s(self.dialect))
        self._out: list[dict[str, Any]] = []
        self.jobs = JobLedger()
        self.conversation = Conversation()
        host = Host(
            emit=self._emit,
            add_job=self.jobs.add,
            drop_job=self.jobs.drop,
            now=lambda: self._now,
            config=lambda: self.config,
        )
        self.idle = IdleTimer(host.config)
        self.transcriptions = Transcriptions(host, models, self.conversation, self._find_item)
        self.input_path = InputPath.for_config(models, self._path_config(self.config), self.options)
        # WebRTC: the server plays the audio out (None over WebSocket, where the client does)
        self.output = OutputBuffer(self._emit) if transport == "webrtc" else None
        self.runs = ResponseRuns(
            host,
            self.conversation,
            self.options,
            speech_for(models),
            self.transcriptions,
            self.idle,
            output=self.output,
        )
        self.items = ItemRequests(host, self.conversation, self.options)
        self.buffer = InputBuffer(
            host, self.input_path, self.conversation, self.transcriptions, self.runs, self.idle, self.dialect
        )
        self._emit({"type": "session.created", "session": self._session_object()})
        if self.dialect is Dialect.PREVIEW and not self.config.transcribes_only:
            self._emit(
                {
                    "type": "conversation.created",
                    "conversation": {"id": self.conversation.id, "object": "realtime.conversation"},
                }
            )

    # --- public I/O surface -------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.state is not EngineSessionState.OPEN

    @property
    def webrtc(self) -> bool:
        return self.output is not None

    @property
    def audio_clock_ms(self) -> float:
        """Milliseconds of input audio appended since the session started."""
        return self.input_path.clock_ms

    def receive_text(self, text: str, now: float) -> None:
        """Handle one client text frame."""
        with self._engine_faults():
            self._advance_clock(now)
        event_id: str | None = None
        with self._engine_faults(lambda: event_id), client_faults(self._emit, lambda: event_id):
            try:
                try:
                    # big_frames.loads: json.loads, kinder to the loop on a 15 MiB append
                    event = loads_client_event(text, decode=big_frames.loads)
                except WireJsonError as exc:
                    event_id = exc.event_id
                    raise RequestError(exc.code, exc.message) from None
                if not isinstance(event, dict):
                    raise RequestError(
                        "invalid_event", f"An event must be a JSON object, got {type(event).__name__}."
                    )
                raw_id = event.get("event_id")
                event_id = raw_id if isinstance(raw_id, str) and len(raw_id) <= MAX_EVENT_ID_CHARS else None
                if self.state is not EngineSessionState.OPEN:
                    raise self._closed_error()
                self._check_event(event)
                _ROUTES[event["type"]](self, event, to_canonical(event, self.dialect))
            except RequestError as err:
                self._emit({"type": "error", "error": err.to_error(event_id)})
        self._retain_audio()

    def receive_bytes(self, data: bytes, now: float) -> None:
        """A binary frame: not part of the protocol, answered with an error."""
        with self._engine_faults():
            self._advance_clock(now)
        self._emit({"type": "error", "error": _binary_frame_error(len(data), self.webrtc).to_error(None)})

    def receive_audio(self, pcm24: np.ndarray, now: float) -> None:
        """WebRTC: microphone audio from the call's track (24 kHz mono int16), through the same
        input path an ``input_audio_buffer.append`` takes, so the turn decisions are the same."""
        if not self.webrtc:
            raise RuntimeError("receive_audio is for WebRTC sessions; over WebSocket audio comes in appends")
        with self._engine_faults():
            self._advance_clock(now)
            if self.state is EngineSessionState.OPEN:
                self.buffer.track_audio(pcm24)
        self._retain_audio()

    def output_frame(self, now: float) -> np.ndarray:
        """WebRTC: the next 20 ms of assistant audio (480 int16 samples at 24 kHz; silence when
        nothing is queued). Pull one every 20 ms: what is pulled is what the peer is sent, so it is
        the point a barge-in truncates at."""
        if self.output is None:
            raise RuntimeError("output_frame is for WebRTC sessions; over WebSocket audio leaves in deltas")
        self._now = max(self._now, now)
        if self.state is not EngineSessionState.OPEN:
            return np.zeros(FRAME_SAMPLES, np.int16)
        with self._engine_faults():
            return self.output.frame()
        return np.zeros(FRAME_SAMPLES, np.int16)  # an engine fault was reported; the track goes on

    def job_is_held(self, job: Job) -> bool:
        """True while ``job`` should pause before its next value: a synthesis whose audio would only
        pile up (WebRTC: ``playout_ahead_ms`` queued; WebSocket: ``stream_ahead_ms`` ahead of real
        time, so long replies cost real-time voice work, not all the CPU). The adapter parks it
        without holding a worker and asks again on every tick."""
        if job.kind is not JobKind.SYNTHESIZE:
            return False
        if self.output is not None:
            return self.output.queued_ms >= self.options.playout_ahead_ms
        lead = self.options.stream_ahead_ms
        return lead is not None and self.runs.ahead_ms(job.owner, self._now) >= lead

    def tick(self, now: float) -> None:
        """Run the timers (idle timeout, session expiry)."""
        with self._engine_faults():
            self._advance_clock(now)

    def events_to_send(self) -> list[dict[str, Any]]:
        out, self._out = self._out, []
        return out

    def jobs_to_run(self) -> list[Job]:
        return self.jobs.take_new()

    def job_is_live(self, job: Job) -> bool:
        """False once nobody wants the job's output (response cancelled, session closed): stop early."""
        return self.jobs.wanted(job) and self.state is not EngineSessionState.CLOSED

    def job_output(self, job: Job, value: Any, now: float) -> None:
        """A value a job yielded; dropped if the job's session, response or item is gone."""
        self._now = max(self._now, now)
        if not self.jobs.wanted(job) or self.state is EngineSessionState.CLOSED:
            return
        handler = {
            JobKind.TRANSCRIBE: self.transcriptions.piece,
            JobKind.HEAR: self.transcriptions.piece,
            JobKind.RESPOND: self.runs.reply_ready,
            JobKind.SYNTHESIZE: self.runs.audio_chunk,
        }[job.kind]
        with self._engine_faults():
            handler(job, value)
        self._retain_audio()

    def job_finished(self, job: Job, now: float, error: BaseException | None = None) -> None:
        """A job ended (``error`` = what it raised); stale jobs are ignored."""
        self._now = max(self._now, now)
        if not self.jobs.settle(job) or self.state is EngineSessionState.CLOSED:
            return
        with self._engine_faults():
            if job.kind in (JobKind.TRANSCRIBE, JobKind.HEAR):
                self.transcriptions.done(job, error)
                self.runs.maybe_respond_all()  # a response may have waited for this transcript
            elif job.kind is JobKind.RESPOND:
                if error is not None:
                    self.runs.fail(job.owner, "responder_error", f"The responder failed: {error}")
            else:
                self.runs.speech_done(job, error)

    def job_result(self, job: Job, result: Any, now: float) -> None:
        """Contract form: one result, then the job is finished."""
        if result is not None:
            self.job_output(job, result, now)
        self.job_finished(job, now)

    def run_jobs_inline(self, now: float | None = None) -> None:
        """Run every pending job (and the jobs they cause) to completion on this thread; a job that
        :meth:`job_is_held` pauses waits for a later call (see ``JobLedger.run_inline``)."""
        when = self._now if now is None else now
        self.jobs.run_inline(
            lambda job, value: self.job_output(job, value, when),
            lambda job, error: self.job_finished(job, when, error),
            self.job_is_held,
        )

    def close(self, now: float, reason: str = "connection closed") -> None:
        """The connection is gone: stop timers and drop every job still out."""
        self._now = max(self._now, now)
        if self.state is EngineSessionState.CLOSED:
            return
        self.state = advance("session", SESSION_TABLE, self.state, SessionTrigger.CLOSE)
        self.close_reason = self.close_reason or reason
        self.jobs.clear()
        self.input_path.close()

    def snapshot(self) -> dict[str, Any]:
        """Everything a request may change, in comparable form (tests: refused == unchanged)."""
        path = self.input_path
        vad = path.vad_state
        speech = path.status.speech
        default = self.runs.default
        return {
            "session": self.state.value,
            "config": self.config,
            "buffer": path.state.value,
            "buffered_samples": path.buffered_samples,
            "clock_ms": path.clock_ms,
            "vad": None if vad is None else vad.value,
            "speech_item": None if speech is None else speech.item_id,
            "conversation": self.conversation.snapshot(),
            "responses": self.runs.snapshot(),
            "default_response": None if default is None else default.id,
            "jobs": self.jobs.live_ids,
            "voice_used": self.runs.voice_used,
            "output": None if self.output is None else self.output.snapshot(),
        }

    # --- plumbing -------------------------------------------------------------------------------

    def _emit(self, event: dict[str, Any]) -> None:
        event = {"event_id": new_id("event"), **event}
        wire = to_wire(event, self.dialect)
        if wire is not None:
            self._out.append(wire)

    @contextlib.contextmanager
    def _engine_faults(self, event_id: Callable[[], str | None] = lambda: None) -> Iterator[None]:
        """An IllegalTransition is the engine's own fault, not the client's: a ``server_error``
        event naming the machine, state and trigger (and the client event that hit it), and the
        session goes on (the transition was refused before anything changed)."""
        try:
            yield
        except IllegalTransition as exc:
            error = RequestError("illegal_state", f"Internal engine error: {exc}.", type="server_error")
            self._emit({"type": "error", "error": error.to_error(event_id())})

    def _retain_audio(self) -> None:
        """Keep the conversation's audio within ``options.audio_retention_s`` (newest kept)."""
        keep_s = self.options.audio_retention_s
        if keep_s is not None:
            self.conversation.release_audio(int(keep_s * PCM_RATE))

    def _find_item(self, item_id: str) -> Item | None:
        if item_id in self.conversation:
            return self.conversation.get(item_id)
        return self.runs.find_item(item_id)

    def _path_config(self, config: SessionConfig) -> SessionConfig:
        """What the input path runs on: over WebRTC the track's audio is always 24 kHz PCM, whatever
        ``input_audio_format`` says (it still decides how retrieved user audio is encoded)."""
        return config.replace(input_format="pcm16") if self.transport == "webrtc" else config

    def _session_object(self) -> dict[str, Any]:
        session = self.config.to_wire(Dialect.GA)
        kind = "realtime.transcription_session" if self.config.transcribes_only else "realtime.session"
        if not self.config.transcribes_only:
            session.setdefault("model", self.options.model)
        return {"id": self.id, "object": kind, "expires_at": self._expires_at_unix, **session}

    # --- the clock --------------------------------------------------------------------------------

    def _advance_clock(self, now: float) -> None:
        self._now = max(self._now, now)
        if self.state is not EngineSessionState.OPEN:
            return
        if self._now - self._started >= self.options.session_length_s(self.dialect):
            self._expire()
            return
        self.buffer.check_idle_timeout(self._now)

    def _closed_error(self) -> RequestError:
        if self.state is EngineSessionState.EXPIRED:
            return RequestError("session_expired", self._expiry_message())
        return RequestError("session_closed", "The session is closed; open a new connection.")

    def _expiry_message(self) -> str:
        minutes = self.options.session_length_s(self.dialect) / 60
        return f"Your session hit the maximum duration of {minutes:g} minutes."

    def _expire(self) -> None:
        expired = advance("session", SESSION_TABLE, self.state, SessionTrigger.EXPIRE)
        self.runs.fail_all(
            {
                "type": "failed",
                "error": {
                    "type": "invalid_request_error",
                    "code": "session_expired",
                    "message": self._expiry_message(),
                },
            }
        )
        self._emit(
            {"type": "error", "error": RequestError("session_expired", self._expiry_message()).to_error(None)}
        )
        self.state = expired
        self.close_reason = "session_expired"
        self.jobs.clear()

    # --- routing ----------------------------------------------------------------------------------

    def _check_event(self, event: dict[str, Any]) -> None:
        etype = event.get("type")
        if not isinstance(etype, str):
            raise RequestError("missing_required_parameter", "The event has no 'type' string.", "type")
        issue = check_client_event(event, self.dialect)
        if issue is not None:
            raise RequestError(issue.code, issue.message, issue.param)
        if etype not in _ROUTES:
            raise RequestError(
                "invalid_value", f"Invalid value: '{etype}' is not a supported client event type.", "type"
            )
        api_versions.check_event_type(self.api_version, etype)
        check_request(self.config, self.dialect, etype)

    def _on_session_update(self, event: dict[str, Any]) -> None:
        new = updated_config(self.config, event.get("session"), self.dialect, self.api_version)
        if new.voice != self.config.voice and self.runs.voice_used:
            raise RequestError(
                "cannot_update_voice",
                "Cannot update the voice: the assistant has already produced audio in this session.",
                wire_param("voice", self.dialect),
            )
        changed_nr = new.noise_reduction != self.config.noise_reduction
        denoiser = self.input_path.denoiser_for(new.noise_reduction) if changed_nr else None
        # -- everything is valid: apply
        self.input_path.reconfigure(
            input_format=self._path_config(new).input_format,
            noise_reduction=new.noise_reduction,
            denoiser=denoiser,
            turn_detection=new.turn_detection,
        )
        old, self.config = self.config, new
        if new.turn_detection != old.turn_detection and self.idle.timeout_ms() is None:
            self.idle.disarm()
        self._emit({"type": "session.updated", "session": self._session_object()})

    def _on_append(self, event: dict[str, Any]) -> None:
        if self.webrtc:
            raise RequestError(
                "unsupported_over_webrtc",
                "input_audio_buffer.append is not used over WebRTC: the call's microphone track is the "
                "input. input_audio_buffer.commit / .clear and response.create still work (push-to-talk).",
                "type",
            )
        self.buffer.append(event)

    def _on_output_clear(self) -> None:
        if not self.webrtc:
            _refuse_output_clear()
        self.runs.clear_output()

    def _on_response_create(self, event: dict[str, Any]) -> None:
        # Read as sent, not translated: ResponseParams refuses other-dialect keys (GA temperature)
        # and names each bad option by the dialect's own path, as the service would.
        try:
            params = ResponseParams.from_wire(event.get("response"), self.dialect)
        except ConfigError as exc:
            raise RequestError(exc.code, exc.message, exc.param) from None
        spec = spec_from_request(
            params,
            self.config,
            lambda entries: input_items(entries, self.conversation, self.items.decode_audio),
        )
        self.runs.create(spec)


def updated_config(
    config: SessionConfig, raw: object, dialect: Dialect, api_version: str | None = None
) -> SessionConfig:
    """``config`` with a wire ``session`` object applied, as ``session.update`` does it: strictly,
    in ``dialect``, within what the Azure ``api_version`` offers. RequestError (code and param as
    the service's error) when refused. A call's initial configuration is read here too."""
    try:
        new = apply_session_update(config, raw, dialect)  # type: ignore[arg-type]
        new.to_wire(dialect)  # also checks what the dialect can express
        api_versions.check_config(api_version, new)
    except ConfigError as exc:
        err = exc.in_dialect(dialect)
        raise RequestError(err.code, err.message, err.param) from None
    return new


def _binary_frame_error(size: int, webrtc: bool) -> RequestError:
    hint = (
        "message, with audio on the call's audio track"
        if webrtc
        else "frame, with audio as base64 in input_audio_buffer.append"
    )
    return RequestError(
        "invalid_event",
        f"Binary frames ({size} bytes) are not part of the Realtime protocol: send each event as a "
        f"JSON text {hint}.",
    )


def _refuse_output_clear() -> None:
    raise RequestError(
        "unsupported_over_websocket",
        "output_audio_buffer.clear applies to WebRTC/SIP calls only; "
        "over WebSocket stop playback locally and send conversation.item.truncate.",
    )


# event type -> handler(session, event as sent, event in canonical form)
_ROUTES: dict[str, Callable[[EngineSession, dict[str, Any], dict[str, Any]], None]] = {
    "session.update": lambda s, event, canonical: s._on_session_update(event),
    "transcription_session.update": lambda s, event, canonical: s._on_session_update(event),
    "input_audio_buffer.append": lambda s, event, canonical: s._on_append(event),
    "input_audio_buffer.commit": lambda s, event, canonical: s.buffer.commit(),
    "input_audio_buffer.clear": lambda s, event, canonical: s.buffer.clear(),
    "output_audio_buffer.clear": lambda s, event, canonical: s._on_output_clear(),
    "conversation.item.create": lambda s, event, canonical: s.items.create(canonical),
    "conversation.item.retrieve": lambda s, event, canonical: s.items.retrieve(canonical),
    "conversation.item.truncate": lambda s, event, canonical: s.items.truncate(canonical),
    "conversation.item.delete": lambda s, event, canonical: s.items.delete(canonical),
    "response.create": lambda s, event, canonical: s._on_response_create(event),
    "response.cancel": lambda s, event, canonical: s.runs.cancel(canonical.get("response_id")),
}
