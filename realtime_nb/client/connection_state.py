"""The lifecycle of a client connection, as a table of legal transitions.

Named `ConnectionState` (not SessionState) because it is the state of the *connection* beneath a
`RealtimeSession`; the engine's `SessionState` is the server-side Realtime session, another thing.
"""

from __future__ import annotations

from enum import StrEnum


class ConnectionState(StrEnum):
    NEW = "new"
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


# Legal transitions; anything else is a bug in the session core, so it raises instead of being ignored.
_TRANSITIONS: dict[ConnectionState, frozenset[ConnectionState]] = {
    ConnectionState.NEW: frozenset({ConnectionState.CONNECTING, ConnectionState.CLOSED}),
    ConnectionState.CONNECTING: frozenset({ConnectionState.OPEN, ConnectionState.CLOSED}),
    ConnectionState.OPEN: frozenset({ConnectionState.CLOSING, ConnectionState.CLOSED}),
    ConnectionState.CLOSING: frozenset({ConnectionState.CLOSED}),
    ConnectionState.CLOSED: frozenset(),
}


def transition(current: ConnectionState, new: ConnectionState) -> ConnectionState:
    """`new` if the table allows going there from `current`; RuntimeError otherwise."""
    if new not in _TRANSITIONS[current]:
        raise RuntimeError(f"session cannot go from {current} to {new}")
    return new
