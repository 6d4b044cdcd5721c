"""Lifecycles of the engine as explicit transition tables (h11 ``_state.py`` style).

Each lifecycle is a named state plus a table ``{state: {trigger: next_state}}``. A trigger that is
not in the table for the current state is illegal: :func:`advance` raises :class:`IllegalTransition`
and the caller turns it into an ``error`` event, so no request can reach a state the service cannot
be in (the open servers this engine replaces let you, e.g., cancel twice or commit during a commit).
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


class SessionState(StrEnum):
    OPEN = "open"
    EXPIRED = "expired"  # hit the maximum session length; the adapter closes the socket
    CLOSED = "closed"  # the connection is gone


class SessionTrigger(StrEnum):
    EXPIRE = "expire"
    CLOSE = "close"


SESSION_TABLE: Mapping[SessionState, Mapping[SessionTrigger, SessionState]] = {
    SessionState.OPEN: {
        SessionTrigger.EXPIRE: SessionState.EXPIRED,
        SessionTrigger.CLOSE: SessionState.CLOSED,
    },
    SessionState.EXPIRED: {SessionTrigger.CLOSE: SessionState.CLOSED},
    SessionState.CLOSED: {},
}


class BufferState(StrEnum):
    EMPTY = "empty"  # nothing since the last commit / clear
    HOLDING = "holding"  # audio, but no speech detected in it (or turn detection is off)
    SPEECH = "speech"  # speech_started was sent; waiting for the end of the turn


class BufferTrigger(StrEnum):
    APPEND = "append"
    SPEECH_START = "speech_start"
    COMMIT = "commit"  # client commit, VAD end of turn, idle timeout
    CLEAR = "clear"


BUFFER_TABLE: Mapping[BufferState, Mapping[BufferTrigger, BufferState]] = {
    BufferState.EMPTY: {
        BufferTrigger.APPEND: BufferState.HOLDING,
        BufferTrigger.CLEAR: BufferState.EMPTY,
        # An idle timeout may commit an empty buffer (the service sends a silent item); a client
        # commit of an empty buffer is refused before it gets here (commit_empty).
        BufferTrigger.COMMIT: BufferState.EMPTY,
    },
    BufferState.HOLDING: {
        BufferTrigger.APPEND: BufferState.HOLDING,
        BufferTrigger.SPEECH_START: BufferState.SPEECH,
        BufferTrigger.COMMIT: BufferState.EMPTY,
        BufferTrigger.CLEAR: BufferState.EMPTY,
    },
    BufferState.SPEECH: {
        BufferTrigger.APPEND: BufferState.SPEECH,
        BufferTrigger.COMMIT: BufferState.EMPTY,
        BufferTrigger.CLEAR: BufferState.EMPTY,
    },
}


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
