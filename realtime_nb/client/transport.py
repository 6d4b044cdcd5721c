"""The seam between a session and the connection beneath it.

A Realtime session is the same conversation of JSON events whatever carries them: a WebSocket today
(`websocket_transport`), a WebRTC data channel next. The session core (`core.SessionCore`) owns
everything protocol-shaped -- event ids, the EventLog, waiters, listeners, state -- and talks to its
connection only through this interface. A transport knows nothing of events: it moves text frames and
reports how the connection ended.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol


class Transport(Protocol):
    """One open connection carrying Realtime events as JSON text frames.

    `frames()` is iterated once, by the session's reader. It yields every received frame in order
    (``str`` for text; ``bytes`` if the peer sent a binary frame, which the core reports as a protocol
    error) and ends -- normally, never by raising -- when the connection is closed by either side.
    After it ends, `close_code` and `close_reason` say how (None / "" when the transport knows
    nothing: the core then reports 1006, "connection lost").
    """

    name: str
    """What carries the events ("websocket"); written into the log's connection_closed row."""
    close_code: int | None
    close_reason: str

    def frames(self) -> AsyncIterator[str | bytes]: ...

    async def send(self, text: str) -> None:
        """Send one text frame. Raises `ConnectionClosedError` if the connection is already closed."""
        ...

    async def close(self) -> None:
        """Close the connection (a clean close where the transport has one); `frames()` then ends."""
        ...
