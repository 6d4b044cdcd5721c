"""Lifecycles of the engine as explicit transition tables (h11 ``_state.py`` style).

Each lifecycle is a named state plus a table ``{state: {trigger: next_state}}``, and every state
change goes through :func:`advance`. A trigger that is not in the table for the current state is
illegal: :func:`advance` raises :class:`IllegalTransition` before anything changes. Requests the
service refuses are checked first (with :func:`allowed` where the table is the rule), so a client
meets a precise ``error`` event; an :class:`IllegalTransition` that still reaches the session's
router is a bug in the engine and becomes a ``server_error`` event, the session unchanged and open.
No request can therefore reach a state the service cannot be in (the open servers this engine
replaces let you, e.g., cancel twice or commit during a commit).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar


class IllegalTransition(Exception):
    """A trigger that the table does not allow in the current state."""

    def __init__(self, machine: str, state: StrEnum, trigger: StrEnum) -> None:
        super().__init__(f"{machine}: {trigger.value!r} is not allowed in state {state.value!r}")
        self.machine = machine
        self.state = state
        self.trigger = trigger


class EngineSessionState(StrEnum):
    OPEN = "open"
    EXPIRED = "expired"  # hit the maximum session length; the adapter closes the socket
    CLOSED = "closed"  # the connection is gone


class SessionTrigger(StrEnum):
    EXPIRE = "expire"
    CLOSE = "close"


SESSION_TABLE: Mapping[EngineSessionState, Mapping[SessionTrigger, EngineSessionState]] = {
    EngineSessionState.OPEN: {
        SessionTrigger.EXPIRE: EngineSessionState.EXPIRED,
        SessionTrigger.CLOSE: EngineSessionState.CLOSED,
    },
    EngineSessionState.EXPIRED: {SessionTrigger.CLOSE: EngineSessionState.CLOSED},
    EngineSessionState.CLOSED: {},
}


class BufferState(StrEnum):
    EMPTY = "empty"  # nothing since the last commit / clear
    HOLDING = "holding"  # audio, but no speech detected in it (or turn detection is off)
    SPEECH = "speech"  # speech_started was sent; waiting for the end of the turn


class BufferTrigger(StrEnum):
    APPEND = "append"
    SPEECH_START = "speech_start"  # turn detection heard speech begin
    TURN_END = "turn_end"  # turn detection ended the turn and committed it; nothing after it is buffered
    TURN_END_WITH_TAIL = "turn_end_with_tail"  # the same, and the audio after the turn's end stays
    COMMIT = "commit"  # the client committed the buffer (input_audio_buffer.commit)
    IDLE_TIMEOUT = "idle_timeout"  # server_vad's idle_timeout_ms committed the buffer, empty or not
    CLEAR = "clear"
    RESTART_DETECTION = "restart_detection"  # session.update changed turn_detection


BUFFER_TABLE: Mapping[BufferState, Mapping[BufferTrigger, BufferState]] = {
    BufferState.EMPTY: {
        BufferTrigger.APPEND: BufferState.HOLDING,
        BufferTrigger.CLEAR: BufferState.EMPTY,
        # No COMMIT: a client commit of an empty buffer is refused (input_audio_buffer_commit_empty).
        # An idle timeout may commit it (the service then sends a silent item).
        BufferTrigger.IDLE_TIMEOUT: BufferState.EMPTY,
        BufferTrigger.RESTART_DETECTION: BufferState.EMPTY,
    },
    BufferState.HOLDING: {
        BufferTrigger.APPEND: BufferState.HOLDING,
        BufferTrigger.SPEECH_START: BufferState.SPEECH,
        BufferTrigger.COMMIT: BufferState.EMPTY,
        BufferTrigger.IDLE_TIMEOUT: BufferState.EMPTY,
        BufferTrigger.CLEAR: BufferState.EMPTY,
        BufferTrigger.RESTART_DETECTION: BufferState.HOLDING,
    },
    BufferState.SPEECH: {
        BufferTrigger.APPEND: BufferState.SPEECH,
        BufferTrigger.TURN_END: BufferState.EMPTY,
        BufferTrigger.TURN_END_WITH_TAIL: BufferState.HOLDING,
        BufferTrigger.COMMIT: BufferState.EMPTY,
        # No IDLE_TIMEOUT: the user is speaking, so the session is not idle.
        BufferTrigger.CLEAR: BufferState.EMPTY,
        # Detection starts over on the audio already buffered: the speech heard so far is no turn yet.
        BufferTrigger.RESTART_DETECTION: BufferState.HOLDING,
    },
}

# After these the turn detector listens for a new turn from silence: the audio it was following has
# left the buffer, or the detection itself was replaced. The buffer resets its detector on exactly
# these, so the detector's state never has to be kept in step with the buffer's by hand.
DETECTION_RESTARTS: frozenset[BufferTrigger] = frozenset(
    {
        BufferTrigger.TURN_END,
        BufferTrigger.TURN_END_WITH_TAIL,
        BufferTrigger.COMMIT,
        BufferTrigger.IDLE_TIMEOUT,
        BufferTrigger.CLEAR,
        BufferTrigger.RESTART_DETECTION,
    }
)


class ResponseState(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    INCOMPLETE = "incomplete"
    FAILED = "failed"


class ResponseTrigger(StrEnum):
    FINISH = "finish"
    CANCEL = "cancel"
    HIT_LIMIT = "hit_limit"  # max_output_tokens reached
    FAIL = "fail"


RESPONSE_TABLE: Mapping[ResponseState, Mapping[ResponseTrigger, ResponseState]] = {
    ResponseState.IN_PROGRESS: {
        ResponseTrigger.FINISH: ResponseState.COMPLETED,
        ResponseTrigger.CANCEL: ResponseState.CANCELLED,
        ResponseTrigger.HIT_LIMIT: ResponseState.INCOMPLETE,
        ResponseTrigger.FAIL: ResponseState.FAILED,
    },
    ResponseState.COMPLETED: {},
    ResponseState.CANCELLED: {},
    ResponseState.INCOMPLETE: {},
    ResponseState.FAILED: {},
}


class ItemState(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    INCOMPLETE = "incomplete"


class ItemTrigger(StrEnum):
    FINISH = "finish"
    INTERRUPT = "interrupt"  # its response was cancelled or hit a limit
    TRUNCATE = "truncate"  # the client cut its audio at what was played


ITEM_TABLE: Mapping[ItemState, Mapping[ItemTrigger, ItemState]] = {
    ItemState.IN_PROGRESS: {
        ItemTrigger.FINISH: ItemState.COMPLETED,
        ItemTrigger.INTERRUPT: ItemState.INCOMPLETE,
    },
    # Truncation keeps the status: the service reports a truncated item as it was.
    ItemState.COMPLETED: {ItemTrigger.TRUNCATE: ItemState.COMPLETED},
    ItemState.INCOMPLETE: {ItemTrigger.TRUNCATE: ItemState.INCOMPLETE},
}


class VadState(StrEnum):
    """The turn detector's acoustic state (``turn_detection``); the buffer resets it (see above)."""

    QUIET = "quiet"  # no speech (a candidate run may be building up)
    SPEAKING = "speaking"
    PAUSED = "paused"  # speech_started sent, currently below the release threshold


class VadTrigger(StrEnum):
    SPEECH = "speech"  # the probability stayed over the threshold for min_speech_ms (dated at its rise)
    PAUSE = "pause"  # it fell under the release threshold
    RESUME = "resume"  # over the threshold again before the turn ended
    RESET = "reset"  # the turn ended, or the buffer started detection over


VAD_TABLE: Mapping[VadState, Mapping[VadTrigger, VadState]] = {
    VadState.QUIET: {VadTrigger.SPEECH: VadState.SPEAKING, VadTrigger.RESET: VadState.QUIET},
    VadState.SPEAKING: {VadTrigger.PAUSE: VadState.PAUSED, VadTrigger.RESET: VadState.QUIET},
    VadState.PAUSED: {VadTrigger.RESUME: VadState.SPEAKING, VadTrigger.RESET: VadState.QUIET},
}


class RunPhase(StrEnum):
    """Where a response's work stands (the protocol state lives in ``ResponseState``)."""

    HEARING = "hearing"  # waiting for transcripts of user audio in its context
    RESPONDING = "responding"  # the responder job runs
    SPEAKING = "speaking"  # the synthesis job streams audio
    DONE = "done"


class RunTrigger(StrEnum):
    HEARD = "heard"  # nothing in its context is still being transcribed: ask the responder
    SPEAK = "speak"  # the reply has words to say aloud: synthesize them
    END = "end"  # the response finished (completed, cancelled, incomplete or failed)


RUN_TABLE: Mapping[RunPhase, Mapping[RunTrigger, RunPhase]] = {
    RunPhase.HEARING: {RunTrigger.HEARD: RunPhase.RESPONDING, RunTrigger.END: RunPhase.DONE},
    RunPhase.RESPONDING: {RunTrigger.SPEAK: RunPhase.SPEAKING, RunTrigger.END: RunPhase.DONE},
    RunPhase.SPEAKING: {RunTrigger.END: RunPhase.DONE},
    RunPhase.DONE: {},
}


class PlaybackState(StrEnum):
    """Where one response's audio stands in the WebRTC output buffer (``OutputBuffer``).

    The buffer plays responses one after another; a response enters it with its first audio chunk.
    ``started`` is sent on START, ``stopped`` on DRAIN, ``cleared`` on CLEAR.
    """

    QUEUED = "queued"  # audio waiting, none has left yet; the response is still generating
    QUEUED_LAST = "queued_last"  # the same, but the response is done: what is queued is all there is
    PLAYING = "playing"  # its audio is leaving; the response is still generating (more may come)
    DRAINING = "draining"  # the response is done; the rest of its audio is leaving
    STOPPED = "stopped"  # all of it left (output_audio_buffer.stopped was sent)
    CLEARED = "cleared"  # dropped by a barge-in or the client's clear (output_audio_buffer.cleared)


class PlaybackTrigger(StrEnum):
    AUDIO = "audio"  # a synthesized chunk of the response was queued
    START = "start"  # its first frame left (output_audio_buffer.started)
    DONE = "done"  # the response finished generating (response.done was sent)
    DRAIN = "drain"  # the last queued sample of a finished response left
    CLEAR = "clear"  # barge-in or output_audio_buffer.clear: everything queued is dropped at once


PLAYBACK_TABLE: Mapping[PlaybackState, Mapping[PlaybackTrigger, PlaybackState]] = {
    PlaybackState.QUEUED: {
        PlaybackTrigger.AUDIO: PlaybackState.QUEUED,
        PlaybackTrigger.START: PlaybackState.PLAYING,
        PlaybackTrigger.DONE: PlaybackState.QUEUED_LAST,
        PlaybackTrigger.CLEAR: PlaybackState.CLEARED,
    },
    PlaybackState.QUEUED_LAST: {
        PlaybackTrigger.START: PlaybackState.DRAINING,
        PlaybackTrigger.CLEAR: PlaybackState.CLEARED,
    },
    PlaybackState.PLAYING: {
        PlaybackTrigger.AUDIO: PlaybackState.PLAYING,
        # an underrun (synthesis slower than playback) is not a state: frames are silence meanwhile
        PlaybackTrigger.DONE: PlaybackState.DRAINING,
        PlaybackTrigger.CLEAR: PlaybackState.CLEARED,
    },
    PlaybackState.DRAINING: {
        PlaybackTrigger.DRAIN: PlaybackState.STOPPED,
        PlaybackTrigger.CLEAR: PlaybackState.CLEARED,
    },
    # No way out: a late chunk of a cleared response is dropped, a late stopped cannot happen.
    PlaybackState.STOPPED: {},
    PlaybackState.CLEARED: {},
}


class CallState(StrEnum):
    """One WebRTC call of the engine (``engine/calls.py``)."""

    CONNECTING = "connecting"  # answered; waiting for the peer's data channel to open
    OPEN = "open"  # the data channel is open: events flow (media may flow before)
    CLOSED = "closed"  # hung up, timed out, failed or the engine stopped; everything is freed


class CallTrigger(StrEnum):
    CHANNEL_OPEN = "channel_open"
    CLOSE = "close"


CALL_TABLE: Mapping[CallState, Mapping[CallTrigger, CallState]] = {
    CallState.CONNECTING: {CallTrigger.CHANNEL_OPEN: CallState.OPEN, CallTrigger.CLOSE: CallState.CLOSED},
    CallState.OPEN: {CallTrigger.CLOSE: CallState.CLOSED},
    CallState.CLOSED: {},
}

_S = TypeVar("_S", bound=StrEnum)
_T = TypeVar("_T", bound=StrEnum)


def allowed(table: Mapping[_S, Mapping[_T, _S]], state: _S, trigger: _T) -> bool:
    """Whether ``trigger`` is legal in ``state`` (for checks before anything is mutated)."""
    return trigger in table[state]


def advance(machine: str, table: Mapping[_S, Mapping[_T, _S]], state: _S, trigger: _T) -> _S:
    """The next state, or :class:`IllegalTransition` if the table has no such edge."""
    try:
        return table[state][trigger]
    except KeyError:
        raise IllegalTransition(machine, state, trigger) from None
