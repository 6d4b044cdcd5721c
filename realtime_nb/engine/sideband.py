"""A sideband WebSocket: a second connection to a WebRTC call's session.

A server that placed (or accepted) a call for a page connects to ``/v1/realtime?call_id=rtc_…`` with
its standard key, to watch the call's events and send its own client events (tool results, a
``session.update``) while the page keeps the media. The socket gets every server event the call's
data channel gets from the moment it attached (errors caused by any side included; as on the
services, no ``session.created``); its client events go to the same session as the channel's.
When the call ends the socket is closed (1000, "the call ended").
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed


async def serve_sideband(ws: ServerConnection, call: Any) -> None:
    """Attach ``ws`` to ``call`` (a `calls.Call`) until either ends."""
    if call is None:  # it ended between the handshake and now
        await ws.close(1000, "the call ended")
        return
    outbox: asyncio.Queue[str | None] = asyncio.Queue()
    detach = call.attach(outbox.put_nowait)
    writer = asyncio.create_task(_write(ws, outbox), name=f"sideband-writer-{call.id}")
    try:
        async for message in ws:
            if isinstance(message, str):
                call.receive_text(message)
            else:
                call.receive_bytes(message)
    except ConnectionClosed:
        pass
    finally:
        detach()
        if not writer.done():
            writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await writer


async def _write(ws: ServerConnection, outbox: asyncio.Queue[str | None]) -> None:
    while True:
        text = await outbox.get()
        if text is None:
            await ws.close(1000, "the call ended")
            return
        await ws.send(text)
