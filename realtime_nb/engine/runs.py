"""Response runs: the work behind each response, from ``response.create`` to ``response.done``.

A :class:`Run` pairs a :class:`~realtime_nb.engine.responses.Response` (the protocol object and the
order of its events) with the work that fills it, in phases (``RUN_TABLE``): HEARING until every user
audio item of its context is transcribed, RESPONDING while the responder job runs, SPEAKING while the
synthesis job streams audio, DONE once ``response.done`` went out. Jobs of a finished run are
dropped, so a late result of a cancelled response changes nothing.

The default echo responder starts speaking at once: its opening words ("You said:") are synthesized
once per process and streamed while the user's turn is still being transcribed.

Over WebRTC the runs also own what the services do with the audio they play out (the session's
:class:`~realtime_nb.engine.output_buffer.OutputBuffer`): a response's playback learns when it is done
generating, and a barge-in or the client's ``output_audio_buffer.clear`` drops everything queued at
once, cancels the replies whose audio was dropped and truncates each at the audio the track sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from realtime_nb.engine.conversation import Conversation, Item
from realtime_nb.engine.errors import RequestError
from realtime_nb.engine.host import Host
from realtime_nb.engine.items import truncate_item
from realtime_nb.engine.jobs import Job, JobKind
from realtime_nb.engine.options import EngineOptions
from realtime_nb.engine.output_buffer import Cleared, OutputBuffer
from realtime_nb.engine.responder import ECHO_OPENING, EchoResponder, Reply, ResponderContext, call_responder
from realtime_nb.engine.response_request import spec_from_session
from realtime_nb.engine.responses import Response, ResponseSpec
from realtime_nb.engine.state import RUN_TABLE, ResponseTrigger, RunPhase, RunTrigger, advance, allowed

if TYPE_CHECKING:
    from realtime_nb.engine.input_buffer import IdleTimer
    from realtime_nb.engine.speech import Speech
    from realtime_nb.engine.transcription import Transcriptions

LIMIT_DETAILS = {"type": "incomplete", "reason": "max_output_tokens"}


@dataclass(eq=False)
class Run:
    """One response and the work filling it."""

    response: Response
    context: list[Item]
    opening: str | None = None
    phase: RunPhase = RunPhase.HEARING
    reply: Reply | None = None
    jobs: set[str] = field(default_factory=set)

    def advance(self, trigger: RunTrigger) -> None:
        self.phase = advance("response run", RUN_TABLE, self.phase, trigger)


class ResponseRuns:
    """Every response of one session; at most one active in the default conversation."""

    def __init__(
        self,
        host: Host,
        conversation: Conversation,
        options: EngineOptions,
        speech: Speech,
        transcriptions: Transcriptions,
        idle: IdleTimer,
        output: OutputBuffer | None = None,
    ) -> None:
        self._host = host
        self.output = output  # WebRTC: the server-owned playback; None over WebSocket
        self._conversation = conversation
        self._options = options
        self._speech = speech
        self._responder = options.responder or EchoResponder()
        self._transcriptions = transcriptions
        self._idle = idle
        self._runs: dict[str, Run] = {}  # unfinished runs only: a finished one is retired (below)
        self._retired = 0  # responses finished in this session
        self._retired_tokens = 0  # their input tokens (the rate_limits.updated figures count them)
        self.default: Response | None = None  # the latest response in the default conversation
        self.voice_used = False  # the assistant has produced audio: the voice is fixed from now on
        if options.responder is None:
            speech.cached(ECHO_OPENING, host.config().speed)  # warm once per process

    @property
    def default_active(self) -> bool:
        return self.default is not None and self.default.active

    def get(self, response_id: str) -> Run | None:
        """The run of an unfinished response (a finished one is forgotten)."""
        return self._runs.get(response_id)

    def snapshot(self) -> dict[str, tuple[str, str]]:
        return {rid: (r.response.state.value, r.phase.value) for rid, r in self._runs.items()}

    def ahead_ms(self, response_id: str, now: float) -> float:
        """How far ``response_id``'s audio runs ahead of real time since its first audio: what a
        client playing it as it arrives has yet to play (0 before any audio, or once it is gone)."""
        run = self._runs.get(response_id)
        if run is None or run.response.started_at is None:
            return 0.0
        return run.response.audio_ms - (now - run.response.started_at) * 1000.0

    def find_item(self, item_id: str) -> Item | None:
        """An item given inline to an unfinished response (``response.create`` ``input``), by id."""
        for run in self._runs.values():
            for item in run.context:
                if item.id == item_id:
                    return item
        return None

    # --- starting -------------------------------------------------------------------------------

    def create(self, spec: ResponseSpec) -> None:
        """``response.create``: refused while the default conversation has an active response."""
        if spec.in_conversation and self.default_active:
            assert self.default is not None
            raise RequestError(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {self.default.id}. "
                "Wait until the response is finished before creating a new one.",
            )
        self.start(spec)

    def auto_response(self) -> None:
        """A response started by turn detection (skipped while one is active: interrupt_response off)."""
        if self.default_active:
            return
        self.start(spec_from_session(self._host.config()))

    def start(self, spec: ResponseSpec) -> None:
        response = Response(
            spec, self._host.emit, self._conversation, self._options.audio_delta_ms, playout=self.output
        )
        context = list(spec.input) if spec.input is not None else list(self._conversation)
        run = Run(response, context)
        self._runs[response.id] = run
        if spec.in_conversation:
            self.default = response
        self._idle.disarm()
        response.open(context)
        self._host.emit({"type": "rate_limits.updated", "rate_limits": self._rate_limits()})
        if isinstance(self._responder, EchoResponder) and spec.audio:
            run.opening = self._responder.opening(_context_dicts(context))
            if run.opening is not None:
                response.begin_message()
                self.voice_used = True
                if not response.add_audio(
                    run.opening, self._speech.cached(run.opening, spec.speed), self._host.now()
                ):
                    self._finish(run, ResponseTrigger.HIT_LIMIT, LIMIT_DETAILS)
                    return
        for item in context:
            if (
                item.role == "user"
                and item.heard is None
                and not self._transcriptions.in_flight(item.id)
                and item.audio
            ):
                self._transcriptions.start(item, JobKind.HEAR)
        self.maybe_respond(run)

    def _rate_limits(self) -> list[dict[str, Any]]:
        spent = self._retired_tokens + sum(_input_tokens(r) for r in self._runs.values())
        started = self._retired + len(self._runs)
        return [
            {
                "name": "requests",
                "limit": self._options.rate_limit_requests,
                "remaining": max(0, self._options.rate_limit_requests - started),
                "reset_seconds": 60.0,
            },
            {
                "name": "tokens",
                "limit": self._options.rate_limit_tokens,
                "remaining": max(0, self._options.rate_limit_tokens - spent),
                "reset_seconds": 60.0,
            },
        ]

    # --- the work -------------------------------------------------------------------------------

    def maybe_respond_all(self) -> None:
        """A transcription finished: runs that waited for it may ask the responder now."""
        for run in list(self._runs.values()):
            self.maybe_respond(run)

    def maybe_respond(self, run: Run) -> None:
        if not allowed(RUN_TABLE, run.phase, RunTrigger.HEARD):
            return
        if any(self._transcriptions.in_flight(item.id) for item in run.context):
            return
        run.advance(RunTrigger.HEARD)
        spec = run.response.spec
        ctx = ResponderContext(
            items=_context_dicts(run.context),
            instructions=spec.instructions,
            tools=spec.tools,
            tool_choice=spec.tool_choice,
            output_modalities=spec.output_modalities,
            metadata=spec.metadata,
        )
        responder = self._responder
        job = self._host.add_job(
            JobKind.RESPOND, run.response.id, lambda: iter([call_responder(responder, ctx)])
        )
        run.jobs.add(job.id)

    def reply_ready(self, job: Job, reply: Reply) -> None:
        """The responder answered (a RESPOND job's output): speak it, write it, or call tools."""
        run = self._runs.get(job.owner)
        if run is None or run.phase is not RunPhase.RESPONDING:
            return
        response, spec = run.response, run.response.spec
        text = reply.text
        if run.opening is not None and text.startswith(run.opening):
            text = text[len(run.opening) :]
        if text.strip() and spec.audio:
            run.advance(RunTrigger.SPEAK)  # first: a refused move leaves the run as it was
            run.reply = reply
            if not response.message_open:
                response.begin_message()
            speech, voice, speed = self._speech, spec.voice, spec.speed
            synth = self._host.add_job(
                JobKind.SYNTHESIZE, response.id, lambda: speech.chunks(text, voice=voice, speed=speed)
            )
            run.jobs.add(synth.id)
            return
        run.reply = reply
        if text.strip():
            if not response.message_open:
                response.begin_message()
            for piece in _word_pieces(text):
                if not response.add_text(piece):
                    self._finish(run, ResponseTrigger.HIT_LIMIT, LIMIT_DETAILS)
                    return
        self._complete(run)

    def audio_chunk(self, job: Job, value: tuple[str, np.ndarray]) -> None:
        """One synthesized chunk (a SYNTHESIZE job's output)."""
        run = self._runs.get(job.owner)
        if run is None or not run.response.active:
            return
        text, pcm = value
        self.voice_used = True
        if not run.response.add_audio(text, pcm, self._host.now()):
            self._finish(run, ResponseTrigger.HIT_LIMIT, LIMIT_DETAILS)

    def speech_done(self, job: Job, error: BaseException | None) -> None:
        """The synthesis job ended: the response completes, or fails with what the voice raised."""
        run = self._runs.get(job.owner)
        if run is None or not run.response.active:
            return
        if error is not None:
            self.fail(job.owner, "synthesis_error", f"Speech synthesis failed: {error}")
            return
        self._complete(run)

    # --- ending ---------------------------------------------------------------------------------

    def _complete(self, run: Run) -> None:
        """End the message, emit the tool calls, close the response."""
        response = run.response
        if response.message_open:
            response.end_message()
        for call in run.reply.tool_calls if run.reply else ():
            response.function_call(call.name, call.arguments_json(), call.call_id)
        self._finish(run, ResponseTrigger.FINISH, None)

    def fail(self, response_id: str, code: str, message: str) -> None:
        """The response fails with a ``server_error`` (a job raised), if it is still active."""
        run = self._runs.get(response_id)
        if run is not None and run.response.active:
            self._finish(
                run,
                ResponseTrigger.FAIL,
                {"type": "failed", "error": {"type": "server_error", "code": code, "message": message}},
            )

    def fail_all(self, details: dict[str, Any]) -> None:
        """Every active response fails with ``details`` (the session expired)."""
        for run in list(self._runs.values()):
            if run.response.active:
                self._finish(run, ResponseTrigger.FAIL, details)

    def barge_in(self) -> None:
        """The user started speaking: the default response, if active, is cancelled.

        Over WebRTC the audio queued or playing is dropped first (``output_audio_buffer.cleared``,
        as the services order it), and each dropped reply is truncated at what the track sent.
        """
        details = {"type": "cancelled", "reason": "turn_detected"}
        cleared = self.output.clear() if self.output is not None else []
        if self.default is not None and self.default.active:
            self._finish(self._runs[self.default.id], ResponseTrigger.CANCEL, details)
        self._settle_cleared(cleared, details)

    def clear_output(self) -> None:
        """``output_audio_buffer.clear`` (WebRTC): drop the queued audio, as on a barge-in.

        The client should cancel first (``response.cancel``); a reply still generating is cancelled
        here, since audio nobody will hear is not worth making. With nothing queued the clear is
        still acknowledged for the latest reply that played; before any reply, it is refused.
        """
        assert self.output is not None, "clear_output is for WebRTC sessions"
        last = self.output.last_response_id
        if self.output.empty and last is None:
            raise RequestError(
                "output_audio_buffer_empty",
                "output_audio_buffer.clear: no response has played audio in this session yet.",
            )
        cleared = self.output.clear()
        if not cleared:
            assert last is not None
            self._host.emit({"type": "output_audio_buffer.cleared", "response_id": last})
            return
        self._settle_cleared(cleared, {"type": "cancelled", "reason": "client_cancelled"})

    def _settle_cleared(self, cleared: list[Cleared], details: dict[str, Any]) -> None:
        """After a clear: cancel the dropped replies still generating, then truncate each item at
        the audio that left (once: a playback is cleared only once)."""
        for gone in cleared:
            run = self._runs.get(gone.response_id)
            if run is not None and run.response.active:
                self._finish(run, ResponseTrigger.CANCEL, details)
        for gone in cleared:
            if gone.item_id not in self._conversation:
                continue  # deleted meanwhile, or an out-of-band reply: no conversation item to cut
            item = self._conversation.get(gone.item_id)
            if gone.pulled_ms > item.audio_ms(0):
                continue  # the client cut it shorter itself (conversation.item.truncate) meanwhile
            truncate_item(self._host, item, 0, gone.pulled_ms, self._options)

    def cancel(self, wanted: object) -> None:
        """``response.cancel``: the named response, else the default one, else the latest active."""
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
            default = [r for r in active if r.response is self.default]
            if not active:
                raise RequestError(
                    "response_cancel_not_active", "Cancellation failed: no active response found."
                )
            run = (default or active)[-1]
        self._finish(run, ResponseTrigger.CANCEL, {"type": "cancelled", "reason": "client_cancelled"})

    def _finish(self, run: Run, trigger: ResponseTrigger, details: dict[str, Any] | None) -> None:
        done = advance("response run", RUN_TABLE, run.phase, RunTrigger.END)  # before anything changes
        run.response.finish(trigger, details)
        run.phase = done
        if self.output is not None:  # after response.done: its playback may now drain and stop
            self.output.generation_done(run.response.id)
        for job_id in run.jobs:
            self._host.drop_job(job_id)
        if run.response is self.default:
            # server_vad's idle timeout counts from when this audio would finish playing
            self._idle.response_done(self._host.now() + run.response.audio_ms / 1000.0)
        self._retire(run)

    def _retire(self, run: Run) -> None:
        """Forget a finished run. Each run holds its context, a copy of the conversation's item list
        when it started, so keeping every run made a session's memory grow with the square of its
        turns, and an out-of-band reply's audio (in no conversation, so no retention) was never
        freed. Nothing needs a finished run: its jobs were dropped, a late job result or a
        ``response.cancel`` naming it finds no active run either way, and its items live on in the
        conversation."""
        del self._runs[run.response.id]
        self._retired += 1
        self._retired_tokens += _input_tokens(run)


def _input_tokens(run: Run) -> int:
    return run.response.usage.input_text + run.response.usage.input_audio


def _context_dicts(context: list[Item]) -> list[dict[str, Any]]:
    out = []
    for item in context:
        d = item.render()
        if item.role == "user" and item.audio:
            d["heard"] = item.heard
        out.append(d)
    return out


def _word_pieces(text: str) -> Iterator[str]:
    """Text deltas of a few words each, as a model streams them."""
    words = text.split(" ")
    for i in range(0, len(words), 3):
        yield (" " if i else "") + " ".join(words[i : i + 3])
