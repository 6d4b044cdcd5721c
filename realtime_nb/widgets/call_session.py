"""The kernel's session of a call held by the page: a `RealtimeSession` whose transport is the comm.

The page owns the peer connection and its ``oai-events`` data channel; the kernel owns the record and
the control. `PageTransport` is the `client.transport.Transport` seam filled by the comm: each
data-channel message the page received arrives as a frame (with the page's receipt time already on the
kernel's clock), and each kernel send goes to the page, which sends it on the channel. So the
`CallSession` on top is the client's own session core: the EventLog, waiters, listeners,
`update_session`, `create_response`, `retrieve`, `cancel_response`, `clear_output_audio` all work
unchanged, and TuningPanel / LiveTimeline / WaveformCompare take it as any `SessionLike`.

What is logged from where:

* events the page **received** on the data channel: forwarded by the page with its receipt time
  (`performance.now()`), recorded at that time converted to the kernel's clock;
* events the **kernel** sent: recorded by the session core when it hands them to the comm (the page
  puts them on the channel a comm hop later: ~1-5 ms on one machine);
* events the **page** sent by itself (the stop button's ``response.cancel`` and
  ``output_audio_buffer.clear``): forwarded with the page's send time, recorded as sent;
* the microphone audio the page sent and the answer audio it played: tapped in the page and recorded
  as track audio (`EventLog.record_track_audio`), as the Python WebRTC client records its tracks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import numpy as np

from realtime_nb.client.core import InvalidEventError
from realtime_nb.client.endpoints import Endpoint
from realtime_nb.client.errors import ConnectError, ConnectionClosedError
from realtime_nb.client.rtc_exchange import hang_up, server_flow
from realtime_nb.client.session import RealtimeSession
from realtime_nb.timeline import EventLog

logger = logging.getLogger(__name__)

_CLEAN = 1000
_LOST = 1006


class PageTransport:
    """A `Transport` whose frames come from the page's data channel over the comm (module docstring)."""

    name = "webrtc-page"

    def __init__(self, send_to_page: Callable[[dict[str, Any]], None], *, endpoint: Endpoint,
                 call_id: str | None, timeout: float) -> None:
        self._send_to_page = send_to_page
        self.endpoint = endpoint
        self.call_id = call_id
        self.timeout = timeout
        self.close_code: int | None = None
        self.close_reason = ""
        self.hangup_error: Exception | None = None
        self.frame_t_ns: int | None = None
        """The kernel-clock time of the frame `frames()` yielded last (the page's receipt time)."""
        self._queue: asyncio.Queue[tuple[str, int] | None] = asyncio.Queue()
        self.ended = False
        self._hung_up = False

    def feed(self, text: str, t_ns: int) -> None:
        """A data-channel message the page received at kernel-clock time `t_ns`."""
        if not self.ended:
            self._queue.put_nowait((text, t_ns))

    def end(self, code: int, reason: str) -> None:
        """The call is over (the page hung up, the connection failed, the tab went away)."""
        if self.ended:
            return
        self.ended = True
        self.close_code, self.close_reason = code, reason
        self._queue.put_nowait(None)

    async def frames(self) -> AsyncIterator[str]:
        while (item := await self._queue.get()) is not None:
            self.frame_t_ns = item[1]
            yield item[0]

    async def send(self, text: str) -> None:
        if self.ended:
            raise ConnectionClosedError(self.close_code, self.close_reason or "the call is over")
        self._send_to_page({"type": "send", "data": text})

    async def close(self) -> None:
        """Ask the page to close its peer connection, end `frames()`, hang the call up on the service
        (once: a call whose page already went away must still end on the service)."""
        if not self.ended:
            self._send_to_page({"type": "hangup"})
            self.end(_CLEAN, "hung up")
        if self.call_id is not None and not self._hung_up:
            self._hung_up = True
            try:
                await hang_up(self.endpoint, self.call_id, self.timeout)
            except ConnectError as exc:  # the page's close ends the call on the service too
                self.hangup_error = exc
                logger.warning("hanging up call %s failed: %s", self.call_id, exc)


class CallSession(RealtimeSession):
    """The `RealtimeSession` of a page's call (module docstring). Made by `Call`; connected when the
    page's data channel opens (`opener` returns the transport then)."""

    def __init__(self, endpoint: Endpoint, log: EventLog, opener: Callable[[], Awaitable[PageTransport]],
                 *, timeout: float) -> None:
        super().__init__(endpoint, log, transport="webrtc", flow=server_flow(endpoint), timeout=timeout,
                         response_timeout=max(timeout, 120.0))
        self._opener = opener

    async def _open_transport(self) -> PageTransport:  # type: ignore[override]
        return await self._opener()

    def _handle_frame(self, frame: str | bytes, t_ns: int) -> None:
        # The page stamped the frame when its data channel delivered it: that is the event's time, not
        # the moment the comm brought it here.
        page_t = getattr(self._transport, "frame_t_ns", None)
        super()._handle_frame(frame, page_t if page_t is not None else t_ns)

    async def append_audio(self, samples: np.ndarray, rate: int) -> float:
        raise InvalidEventError(
            "a call's input is the page's microphone track: audio cannot be appended from the kernel "
            "(use a RealtimeSession(..., transport='webrtc') to stream a file)"
        )
