"""The WebRTC connection beneath a `RealtimeSession`: a peer connection whose data channel carries events.

Everything specific to aiortc and httpx lives here; the requests themselves are built and read by
`rtc_signalling` and the media by `rtc_media`. Placing a call (`open_webrtc`):

1. an ``RTCPeerConnection(RTCConfiguration(iceServers=[]))`` (no public STUN server is contacted),
   the microphone track added (send and receive audio), the data channel ``oai-events`` created
   *before* the offer, as the services expect;
2. the offer with every candidate gathered (aiortc does not trickle); when the service is on this
   machine, host candidates are 127.0.0.1 only (`realtime_nb._rtc_loopback`), and the SCTP chunk size
   is lowered so large events do not stall on 1280-byte paths;
3. the HTTP steps with one ``httpx.AsyncClient`` (`timeout` per request; no proxy from the environment
   for a loopback service): mint a key (flow ``"ephemeral"``) and POST the offer, or POST the
   unified form;
4. the answer set, then a bounded wait for the channel to open.

Then `frames()` yields each data-channel message (one event per message) and `send()` sends one.
`close()` hangs up (``POST .../calls/{id}/hangup`` when the answer named a call; 404 is fine) and
closes the peer connection.

**A dropped connection** ends `frames()` with code 1006 and a reason, which the session core turns
into `ConnectionClosedError` for every waiter and a ``connection_closed`` row in the log: at once when
aiortc reports the connection ``failed`` (ICE or DTLS) or closed by the peer (close code 1000 then);
and after `disconnect_grace_s` of silence. aiortc has no ``disconnected`` state (it only fails once
ICE consent has been missing for ~30 s), so this transport defines one as browsers do: nothing heard
from the peer. Media and data-channel messages count as heard; when neither has arrived for a second,
a STUN binding request on the selected candidate pair (what ICE consent checks send) asks the peer's
ICE agent directly, so a peer that is quiet but alive is never dropped. When the answers stay
missing for the whole grace period, the peer is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from realtime_nb._rtc_loopback import fit_sctp_to_small_mtu, loopback_candidates_only, pass_audio_through
from realtime_nb.client.core import InvalidEventError
from realtime_nb.client.endpoints import Endpoint, Flow
from realtime_nb.client.errors import ConnectError, ConnectionClosedError
from realtime_nb.client.rtc_exchange import exchange_offer, hang_up
from realtime_nb.client.rtc_media import INSTALL_HINT, RtcMedia
from realtime_nb.client.rtc_signalling import SignallingError, session_body
from realtime_nb.protocol import SessionConfig

logger = logging.getLogger(__name__)

CHANNEL_LABEL = "oai-events"
DISCONNECT_GRACE_S = 5.0
PROBE_AFTER_S = 1.0  # quiet this long: ask the peer's ICE agent whether it is still there
_WATCH_EVERY_S = 0.25
_PROBE_TIMEOUT_S = 0.5
_CLEAN = 1000
_LOST = 1006


class WebRTCTransport:
    """A `Transport` over one aiortc peer connection and its ``oai-events`` data channel."""

    name = "webrtc"

    def __init__(
        self,
        pc: Any,
        channel: Any,
        media: RtcMedia,
        *,
        endpoint: Endpoint,
        call_id: str | None,
        flow: Flow,
        timeout: float,
        disconnect_grace_s: float | None = DISCONNECT_GRACE_S,
    ) -> None:
        self._pc = pc
        self._channel = channel
        self.media = media
        self.endpoint = endpoint
        self.call_id = call_id
        self.flow = flow
        self.timeout = timeout
        self.grace_s = disconnect_grace_s
        self.close_code: int | None = None
        self.close_reason = ""
        self.hangup_error: SignallingError | ConnectError | None = None
        self._queue: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self._ended = False
        self._closing = False
        self._last_heard = time.monotonic()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._torn_down: asyncio.Task[None] | None = None

    # --- wiring (called by open_webrtc before the offer) -----------------------------------------

    def _attach(self) -> None:
        channel, pc = self._channel, self._pc
        channel.on("message", self._on_message)
        channel.on("close", self._on_channel_close)
        pc.on("connectionstatechange", self._on_state)
        pc.on("track", self._on_track)

    def _on_message(self, message: str | bytes) -> None:
        self._heard()
        if not self._ended:
            self._queue.put_nowait(message)

    def _on_track(self, track: Any) -> None:
        if track.kind == "audio":
            self._spawn(self.media.consume(track, self._heard), "incoming audio")

    def _on_channel_close(self) -> None:
        if not self._closing:  # our own close also closes the channel: not the peer's doing
            self._end(_CLEAN, "the peer closed the data channel")

    def _on_state(self) -> None:
        state = self._pc.connectionState
        if state == "failed":
            self._end(_LOST, "the WebRTC connection failed (ICE or DTLS)")
        elif state == "closed" and not self._closing:
            self._end(_CLEAN, "the peer closed the connection")

    def _heard(self) -> None:
        self._last_heard = time.monotonic()

    def _spawn(self, coro: Any, what: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"realtime_nb webrtc {what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- Transport ---------------------------------------------------------------------------------

    async def frames(self) -> AsyncIterator[str | bytes]:
        while (frame := await self._queue.get()) is not None:
            yield frame

    async def send(self, text: str) -> None:
        if self._ended or self._channel.readyState != "open":
            raise ConnectionClosedError(self.close_code, self.close_reason or "the data channel is not open")
        try:
            self._channel.send(text)
        except ValueError as exc:  # over the peer's max-message-size: this event, not the call, failed
            raise InvalidEventError(f"not sent on the data channel: {exc}") from None
        except Exception as exc:  # aiortc's InvalidStateError: the channel went away under us
            self._end(_LOST, f"data channel send failed: {type(exc).__name__} {exc}".strip())
            raise ConnectionClosedError(self.close_code, self.close_reason) from None

    async def close(self) -> None:
        """Hang up (when the call has an id), close the peer connection, end `frames()`."""
        if self._closing:
            if self._torn_down is not None:
                await asyncio.shield(self._torn_down)
            return
        self._closing = True
        if self.call_id is not None and not self._ended:
            try:
                await hang_up(self.endpoint, self.call_id, self.timeout)
            except (SignallingError, ConnectError) as exc:
                self.hangup_error = exc
                logger.warning("hanging up call %s failed: %s", self.call_id, exc)
        self._end(_CLEAN, "")
        await self._teardown_once()

    # --- ending ------------------------------------------------------------------------------------

    def _end(self, code: int, reason: str) -> None:
        """End `frames()` once, with how the connection ended; tear the peer down in the background."""
        if self._ended:
            return
        self._ended = True
        self.close_code, self.close_reason = code, reason
        self._queue.put_nowait(None)
        if not self._closing:
            self._closing = True
            self._torn_down = asyncio.get_running_loop().create_task(self._teardown())

    async def _teardown_once(self) -> None:
        if self._torn_down is None:
            self._torn_down = asyncio.get_running_loop().create_task(self._teardown())
        await asyncio.shield(self._torn_down)

    async def _teardown(self) -> None:
        try:
            await asyncio.wait_for(self._pc.close(), self.timeout)
        except Exception as exc:  # closing must not raise; the call is over either way
            logger.debug("closing the peer connection: %r", exc)
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        for task in list(self._tasks):
            if task is not current:
                with contextlib.suppress(BaseException):
                    await task
        self.media.finish()

    # --- liveness ----------------------------------------------------------------------------------

    def _start_watchdog(self) -> None:
        if self.grace_s is not None:
            self._spawn(self._watch(), "watchdog")

    async def _watch(self) -> None:
        assert self.grace_s is not None
        while not self._ended:
            await asyncio.sleep(_WATCH_EVERY_S)
            quiet = time.monotonic() - self._last_heard
            if quiet < PROBE_AFTER_S:
                continue
            alive = await _probe_ice(self._pc)
            if alive:
                self._heard()
            elif time.monotonic() - self._last_heard >= self.grace_s:
                self._end(_LOST, f"nothing heard from the peer for {self.grace_s:g} s (connection lost)")


async def _probe_ice(pc: Any) -> bool | None:
    """One STUN binding request on the selected pair: True if the peer's ICE agent answered.

    None when aiortc / aioice do not expose what this needs (then only media and messages count).
    This reaches into aioice's connection the way its own consent checks (RFC 7675) do.
    """
    try:
        from aioice import stun

        connection = pc.sctp.transport.transport._connection
        pairs = list(connection._nominated.values())
        password = connection.remote_password
    except AttributeError:
        return None
    if not pairs or password is None:
        return None
    pair = pairs[0]
    try:
        request = connection.build_request(pair, nominate=False)
        await asyncio.wait_for(
            pair.protocol.request(
                request, pair.remote_addr, integrity_key=password.encode("utf8"), retransmissions=0
            ),
            _PROBE_TIMEOUT_S * 2,
        )
    except (stun.TransactionError, TimeoutError, OSError, ConnectionError):
        return False
    except Exception as exc:  # an aioice change: do not guess
        logger.debug("ICE probe unavailable: %r", exc)
        return None
    return True


# --- placing a call -------------------------------------------------------------------------------------


async def open_webrtc(
    endpoint: Endpoint,
    media: RtcMedia,
    *,
    flow: Flow = "ephemeral",
    config: SessionConfig | None = None,
    timeout: float = 10.0,
    key_ttl_s: int | None = None,
    disconnect_grace_s: float | None = DISCONNECT_GRACE_S,
) -> WebRTCTransport:
    """Place a WebRTC call to `endpoint` (see the module docstring); returns the open transport.

    Raises `SignallingError` when the service refuses a step (status and error body), `ConnectError`
    when it cannot be reached, `TimeoutError` when the channel does not open within `timeout`.
    """
    try:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    endpoint.webrtc_urls(flow)  # refuses what cannot work before anything is opened
    session = session_body(config, endpoint.dialect, endpoint.model)
    fit_sctp_to_small_mtu()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    transport: WebRTCTransport | None = None
    try:
        pc.addTrack(media.track)
        if endpoint.is_loopback:
            pass_audio_through(pc)  # no 80 ms reordering wait on a path that cannot reorder
        channel = pc.createDataChannel(CHANNEL_LABEL)
        transport = WebRTCTransport(
            pc,
            channel,
            media,
            endpoint=endpoint,
            call_id=None,
            flow=flow,
            timeout=timeout,
            disconnect_grace_s=disconnect_grace_s,
        )
        transport._attach()
        offer = await pc.createOffer()
        if endpoint.is_loopback:
            with loopback_candidates_only():
                await pc.setLocalDescription(offer)
        else:
            await pc.setLocalDescription(offer)
        answer = await exchange_offer(
            endpoint, pc.localDescription.sdp, session, flow=flow, timeout=timeout, key_ttl_s=key_ttl_s
        )
        transport.call_id = answer.call_id
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))
        await _wait_open(channel, pc, timeout, endpoint)
    except BaseException:
        if transport is not None and transport.call_id is not None:
            with contextlib.suppress(Exception):
                await hang_up(endpoint, transport.call_id, timeout)  # a half-open call costs money
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pc.close(), timeout)
        media.finish()
        raise
    transport._heard()
    transport._start_watchdog()
    return transport


async def _wait_open(channel: Any, pc: Any, timeout: float, endpoint: Endpoint) -> None:
    """Until the data channel is open; the connection failing or `timeout` passing ends the wait."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while channel.readyState != "open":
        if pc.connectionState in ("failed", "closed") or channel.readyState == "closed":
            state = pc.connectionState
            raise ConnectError(
                endpoint.http_base,
                f"the WebRTC connection {state} before the data channel opened",
                kind="network",
            )
        if loop.time() >= deadline:
            raise TimeoutError(
                f"the data channel to {endpoint.http_base} did not open within {timeout:g} s "
                f"(connection {pc.connectionState}, ICE {pc.iceConnectionState})"
            )
        await asyncio.sleep(0.02)
