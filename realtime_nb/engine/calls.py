"""WebRTC calls of the engine: an aiortc peer connection per call around one `EngineSession`.

The HTTP layer (the ``/realtime/calls`` endpoints and keys) hands an SDP offer to
:meth:`CallRegistry.open_call` and returns the answer; everything after that lives here:

* the media: the answer's audio track plays the session's output (``rtc_media.PlayoutTrack`` pulls
  ``EngineSession.output_frame`` every 20 ms), the peer's microphone track feeds
  ``EngineSession.receive_audio`` (48 kHz Opus -> 24 kHz mono);
* the events: the data channel the peer opened (the services use the label ``oai-events``; any is
  accepted) carries one JSON event per message. ``session.created`` goes out when it opens (what the
  session said before that waits), each message goes to ``receive_text``, and every server event is
  also fanned out to the call's sideband sockets (``sideband.py``);
* the work: the session's jobs run on the engine's shared pool through the same
  :class:`~realtime_nb.engine.job_runner.JobRunner` the WebSocket connections use; ``tick()`` runs
  on the track's 20 ms clock, just before each frame is pulled; all session calls happen on the
  engine's event loop;
* the end (``CALL_TABLE``): ``hangup``, a data channel that does not open within
  ``channel_timeout_s``, a peer connection that fails or closes, a peer whose audio stopped for
  ``disconnect_grace_s`` (aiortc has no "disconnected" state: a live sender transmits a frame every
  20 ms, silence included), the session's own end (expiry), or ``close_all`` at engine stop. Each
  closes the peer connection, stops the jobs and timers and forgets the call.

Loopback works with no STUN server and no interface but ``lo`` (``RTCConfiguration(iceServers=[])``
and ``_rtc_loopback``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from http import HTTPStatus
from typing import Any

import numpy as np

from realtime_nb._rtc_loopback import (
    allow_loopback_candidates,
    decode_audio_on_loop,
    fit_sctp_to_small_mtu,
    is_loopback_host,
    loopback_candidates_only,
    pass_audio_through,
)
from realtime_nb.engine.call_offers import CallRefused, OpenedCall, check_offer_text
from realtime_nb.engine.channel_oversize import RetrieveLedger, too_large_error
from realtime_nb.engine.errors import RequestError
from realtime_nb.engine.handshake import Route
from realtime_nb.engine.job_runner import JobRunner
from realtime_nb.engine.output_buffer import FRAME_SAMPLES
from realtime_nb.engine.state import CALL_TABLE, CallState, CallTrigger, advance
from realtime_nb.engine.webrtc_filter import passes
from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.ids import new_id
from realtime_nb.protocol.session_config import SessionConfig

__all__ = [
    "DEFAULT_CHANNEL_TIMEOUT_S",
    "DEFAULT_DISCONNECT_GRACE_S",
    "Call",
    "CallRefused",
    "CallRegistry",
    "OpenedCall",
]

log = logging.getLogger("realtime_nb.engine")

DEFAULT_CHANNEL_TIMEOUT_S = 15.0  # answered, but no data channel yet: the peer never connected
DEFAULT_DISCONNECT_GRACE_S = 10.0  # no audio from a peer that was sending: it is gone
_PC_CLOSE_TIMEOUT_S = 5.0
_DRAIN_TIMEOUT_S = 1.0  # at close, how long queued events may take to leave

# (route, now, transport=..., config=...) -> EngineSession: EngineServer.session_factory's shape
CallSessionFactory = Callable[..., Any]


class Call:
    """One live call (see the module docstring). All methods run on the registry's event loop."""

    def __init__(
        self,
        registry: CallRegistry,
        call_id: str,
        pc: Any,
        session: Any,
        dialect: Dialect,
        *,
        filtered: bool = False,
    ) -> None:
        from realtime_nb.engine.rtc_media import PlayoutTrack

        self.id = call_id
        self.dialect = dialect
        self.session = session
        self.filtered = filtered  # ?webrtcfilter=on: the channel carries webrtc_filter.PASSED only
        self.state = CallState.CONNECTING
        self.close_reason: str | None = None
        self.closed = asyncio.Event()
        self._registry = registry
        self._pc = pc
        self._channel: Any = None
        self._backlog: list[str] = []  # events before the data channel opened
        self._sinks: list[Callable[[str | None], None]] = []  # sideband sockets (None: the call ended)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._jobs = JobRunner(
            registry.executor,
            registry.loop,
            output=self._job_output,
            finished=self._job_finished,
            on_submit=registry.on_job_submit,
            on_settle=registry.on_job_settle,
        )
        self.track = PlayoutTrack(self._pull)
        self._closer: asyncio.Future[None] | None = None  # a close started from a callback
        self._retrieves = RetrieveLedger()  # so an event too large for the channel names its asker
        self._heard_at: float | None = None  # when the peer's last audio frame came (monotonic)

    def __repr__(self) -> str:
        return f"<Call {self.id} {self.state.value} {self.dialect.value}>"

    # --- what the sideband and the tests use ----------------------------------------------------

    def receive_text(self, text: str) -> None:
        """A client event (from the data channel or a sideband socket)."""
        if self.state is CallState.CLOSED:
            return
        self.session.receive_text(text, time.monotonic())
        self._pump()

    def receive_bytes(self, data: bytes) -> None:
        if self.state is CallState.CLOSED:
            return
        self.session.receive_bytes(data, time.monotonic())
        self._pump()

    def attach(self, sink: Callable[[str | None], None]) -> Callable[[], None]:
        """Fan the call's server events out to ``sink`` from now on (a sideband socket); ``sink(None)``
        when the call ends. As on the services, nothing is replayed (no ``session.created``): the
        sideband sees what happens after it attached. Returns the function that detaches it."""
        if self.state is CallState.CLOSED:
            sink(None)
            return lambda: None
        self._sinks.append(sink)

        def detach() -> None:
            with contextlib.suppress(ValueError):
                self._sinks.remove(sink)

        return detach

    @property
    def tasks(self) -> int:
        return sum(1 for t in self._tasks if not t.done())

    @property
    def pending_jobs(self) -> int:
        return self._jobs.pending

    # --- wiring (open_call) ------------------------------------------------------------------------

    def start(self, microphones: list[Any]) -> None:
        pc = self._pc
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", self._on_connection_state)
        for track in microphones:
            self._spawn(self._read_microphone(track), "rtc-microphone")
        self._spawn(self._channel_deadline(), "rtc-channel-deadline")
        self._pump()

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(f"{name}-{self.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_datachannel(self, channel: Any) -> None:
        if self._channel is not None or self.state is CallState.CLOSED:
            log.info("call %s: ignoring a second data channel %r", self.id, channel.label)
            return
        self._channel = channel
        channel.on("message", self._on_message)
        channel.on("close", lambda: self._close_soon("the data channel closed"))
        if channel.readyState == "open":
            self._on_channel_open()
        else:
            channel.on("open", self._on_channel_open)

    def _on_channel_open(self) -> None:
        if self.state is not CallState.CONNECTING:
            return
        self.state = advance("call", CALL_TABLE, self.state, CallTrigger.CHANNEL_OPEN)
        backlog, self._backlog = self._backlog, []
        for text in backlog:  # session.created first
            self._send(text)
        self._pump()

    def _on_message(self, message: str | bytes) -> None:
        if isinstance(message, str):
            self._retrieves.note(message)
            self.receive_text(message)
        else:
            self.receive_bytes(message)

    def _on_connection_state(self) -> None:
        state = self._pc.connectionState
        if state in ("failed", "closed"):
            self._close_soon(f"the peer connection {state}")

    # --- the session loop ----------------------------------------------------------------------------

    def _pull(self, now: float) -> np.ndarray:
        """The track's 20 ms (see rtc_media.PlayoutTrack), and the session's timers on the same
        clock: a call needs no timer of its own (until the media flows there is nothing to time but
        the channel deadline, and a call whose media stopped is closed)."""
        if self.state is CallState.CLOSED:
            return np.zeros(FRAME_SAMPLES, np.int16)
        self.session.tick(now)
        pcm = self.session.output_frame(now)
        self._pump()
        return pcm

    async def _read_microphone(self, track: Any) -> None:
        """The peer's audio into the session. Frames that queued up while the loop was busy are
        converted and fed as one chunk (`rtc_media.frames_ready`): one pass of the input path instead
        of one per 20 ms frame, so a loop that fell behind catches up at less cost per frame."""
        from aiortc.mediastreams import MediaStreamError

        from realtime_nb.engine.rtc_media import MicrophoneReader, frames_ready

        reader = MicrophoneReader()
        while self.state is not CallState.CLOSED:
            try:
                frames, ended = await frames_ready(track)
            except MediaStreamError:
                return  # the track ended: the peer connection is closing
            if self._heard_at is None:
                self._spawn(self._watch_microphone(), "rtc-microphone-watch")
            self._heard_at = time.monotonic()
            pcm = reader.convert_all(frames)
            if pcm.size and self.state is not CallState.CLOSED:
                self.session.receive_audio(pcm, time.monotonic())
                self._pump()
            if ended:
                return

    async def _watch_microphone(self) -> None:
        """A peer whose audio stopped for the grace period is gone (before its first frame it may
        still be connecting: the channel deadline covers that). One timer per call, not one per
        frame."""
        grace = self._registry.disconnect_grace_s
        while self.state is not CallState.CLOSED:
            await asyncio.sleep(min(grace / 4, 1.0))
            if self._heard_at is not None and time.monotonic() - self._heard_at > grace:
                self._close_soon(f"no audio from the peer for {grace:g} s: the connection is gone")
                return

    async def _channel_deadline(self) -> None:
        timeout = self._registry.channel_timeout_s
        await asyncio.sleep(timeout)
        if self.state is CallState.CONNECTING:
            self._close_soon(f"the peer opened no data channel within {timeout:g} s")

    def _pump(self) -> None:
        """Events to the channel and the sidebands, jobs to the pool, the end if the session ended."""
        if self.state is CallState.CLOSED:
            return
        session = self.session
        for event in session.events_to_send():
            self._deliver(_encode(event), to_channel=not self.filtered or passes(event.get("type", "")))
        for job in session.jobs_to_run():
            self._jobs.submit(job)
        self._jobs.review(session)
        if session.output is not None and session.output.ready:
            self.track.wake()  # an answer's first frame leaves now, not at the next 20 ms tick
        if session.closed:
            self._close_soon(session.close_reason or "the session ended")

    def _deliver(self, text: str, *, to_channel: bool = True) -> None:
        if not to_channel:
            pass  # filtered out of the page's channel; the sidebands below still get it
        elif self.state is CallState.OPEN:
            self._send(text)
        else:
            self._backlog.append(text)
        for sink in list(self._sinks):
            sink(text)

    def _send(self, text: str) -> None:
        channel = self._channel
        try:
            channel.send(text)
        except ValueError as exc:  # larger than the peer's max-message-size: say so instead
            channel.send(_encode(too_large_error(text, exc, self.id, self._retrieves)))
        except Exception as exc:  # the channel is closing under us
            log.info("call %s: data channel send failed: %s", self.id, exc)
            self._close_soon("the data channel closed")

    def _job_output(self, job: Any, value: Any) -> None:
        if self.state is not CallState.CLOSED:
            self.session.job_output(job, value, time.monotonic())
            self._pump()

    def _job_finished(self, job: Any, error: BaseException | None) -> None:
        if self.state is not CallState.CLOSED:
            self.session.job_finished(job, time.monotonic(), error)
            self._pump()

    # --- the end -------------------------------------------------------------------------------------

    def _close_soon(self, reason: str) -> None:
        if self.state is not CallState.CLOSED and self.close_reason is None:
            self.close_reason = reason
            self._closer = asyncio.ensure_future(self.close(reason))

    async def _drain_channel(self) -> None:
        channel = self._channel
        deadline = time.monotonic() + _DRAIN_TIMEOUT_S
        while (
            channel is not None
            and channel.readyState == "open"
            and channel.bufferedAmount > 0
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.02)

    async def close(self, reason: str) -> None:
        """End the call and free everything it holds (idempotent)."""
        if self.state is CallState.CLOSED:
            await self.closed.wait()
            return
        self.state = advance("call", CALL_TABLE, self.state, CallTrigger.CLOSE)
        self.close_reason = self.close_reason or reason
        log.info("call %s closed: %s", self.id, self.close_reason)
        self._jobs.release()
        self.session.close(time.monotonic(), self.close_reason)
        self.track.stop()
        for sink in list(self._sinks):
            sink(None)
        self._sinks.clear()
        self._backlog.clear()
        await self._drain_channel()  # the last events (an expiry's error, say) still reach the peer
        current = asyncio.current_task()
        others = [t for t in self._tasks if t is not current]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await self._registry._close_pc(self._pc)
        self._registry._forget(self)
        self.closed.set()


class CallRegistry:
    """Every WebRTC call of one engine server; runs on that server's event loop.

    ``executor`` is the engine's job pool; ``session_factory(route, now, transport=, config=)``
    builds the call's session (``EngineServer.session_factory``: shared models and the engine's
    options). ``for_server(server)`` wires both, the server's job accounting and its idleness
    (``on_call_end``: open calls keep ``EngineServer.idle`` false).
    ``channel_timeout_s`` / ``disconnect_grace_s``: see the module docstring.
    """

    def __init__(
        self,
        *,
        executor: cf.Executor,
        session_factory: CallSessionFactory,
        channel_timeout_s: float = DEFAULT_CHANNEL_TIMEOUT_S,
        disconnect_grace_s: float = DEFAULT_DISCONNECT_GRACE_S,
        on_job_submit: Callable[[], None] | None = None,
        on_job_settle: Callable[[], None] | None = None,
        on_call_end: Callable[[], None] | None = None,
        loopback_only: bool = True,
    ) -> None:
        if channel_timeout_s <= 0 or disconnect_grace_s <= 0:
            raise ValueError("channel_timeout_s and disconnect_grace_s must be positive")
        self.executor = executor
        self.session_factory = session_factory
        self.channel_timeout_s = channel_timeout_s
        self.disconnect_grace_s = disconnect_grace_s
        self.on_job_submit = on_job_submit
        self.on_job_settle = on_job_settle
        self.on_call_end = on_call_end  # a call or a peer connection being set up is gone (idleness)
        # An engine listening on loopback answers with 127.0.0.1 candidates only: its peers are on
        # this machine, and ICE checks must never go to the machine's other addresses.
        self.loopback_only = loopback_only
        self._calls: dict[str, Call] = {}
        self._pcs: set[Any] = set()  # every peer connection not yet closed, calls being set up included
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    @classmethod
    def for_server(cls, server: Any, **options: Any) -> CallRegistry:
        """A registry sharing ``server``'s pool, session factory and job accounting."""
        return cls(
            executor=server.executor,
            session_factory=server.session_factory,
            on_job_submit=server.job_submitted,
            on_job_settle=server.job_done,
            on_call_end=getattr(server, "call_ended", None),
            **{"loopback_only": is_loopback_host(getattr(server, "host", "127.0.0.1")), **options},
        )

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def __repr__(self) -> str:
        return f"<CallRegistry calls={len(self._calls)}>"

    # --- the agreed interface ---------------------------------------------------------------------------

    async def open_call(
        self,
        offer_sdp: str,
        *,
        dialect: Dialect | str,
        model: str | None,
        session: dict[str, Any] | None,
        api_version: str | None = None,
        webrtc_filter: bool = False,
    ) -> OpenedCall:
        """Answer ``offer_sdp``; ``session`` (the wire session object, in ``dialect``) is the call's
        initial configuration; ``webrtc_filter``: the data channel carries only the events of
        ``webrtc_filter.PASSED`` (Azure's ``?webrtcfilter=on``; the sideband still sees all).
        CallRefused(400) for a malformed SDP, an offer without audio or a
        session object the dialect refuses (its param named as in a ``session.update`` error)."""
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        _ = self.loop
        if self._closing:
            raise CallRefused(HTTPStatus.SERVICE_UNAVAILABLE, "engine_stopping", "The engine is stopping.")
        dialect = Dialect(dialect)
        route, config = self._configuration(dialect, model, session, api_version)
        check_offer_text(offer_sdp)
        allow_loopback_candidates()
        fit_sctp_to_small_mtu()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._pcs.add(pc)
        engine_session: Any = None
        try:
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            except Exception as exc:
                raise CallRefused(
                    HTTPStatus.BAD_REQUEST, "invalid_sdp", f"The SDP offer could not be read: {exc}", "sdp"
                ) from None
            audio = [t for t in pc.getTransceivers() if t.kind == "audio"]
            if audio and self.loopback_only:
                pass_audio_through(pc)  # the peer is on this machine: no 80 ms reordering wait
            decode_audio_on_loop(pc)  # no thread round trip per received frame
            if not audio:
                raise CallRefused(
                    HTTPStatus.BAD_REQUEST,
                    "invalid_sdp",
                    "The SDP offer has no audio m-line: a Realtime call needs one audio track (the "
                    "microphone in, the assistant out) besides the data channel.",
                    "sdp",
                )
            now = time.monotonic()
            # Building a session may load models (seconds, once per process): on the pool.
            engine_session = await self.loop.run_in_executor(
                self.executor,
                lambda: self.session_factory(route, now, transport="webrtc", config=config),
            )
            call = Call(self, new_id("rtc"), pc, engine_session, dialect, filtered=webrtc_filter)
            pc.addTrack(call.track)
            microphones = [t.receiver.track for t in audio if t.receiver.track is not None]
            with loopback_candidates_only() if self.loopback_only else contextlib.nullcontext():
                await pc.setLocalDescription(await pc.createAnswer())  # gathers every candidate
        except BaseException:
            if engine_session is not None:
                engine_session.close(time.monotonic(), "the call could not be set up")
            await self._close_pc(pc)
            raise
        if self._closing:
            engine_session.close(time.monotonic(), "the engine stopped")
            await self._close_pc(pc)
            raise CallRefused(HTTPStatus.SERVICE_UNAVAILABLE, "engine_stopping", "The engine is stopping.")
        self._calls[call.id] = call
        call.start(microphones)
        log.info("call %s answered (%s, model %s)", call.id, dialect.value, route.session_model)
        return OpenedCall(call.id, pc.localDescription.sdp)

    async def hangup(self, call_id: str) -> bool:
        """End the call; False if there is no such call (never opened, or already ended)."""
        call = self._calls.get(call_id)
        if call is None:
            return False
        await call.close("hung up")
        return True

    def session_of(self, call_id: str) -> Call | None:
        """The live call (its ``receive_text`` / ``attach`` serve a sideband socket), or None."""
        return self._calls.get(call_id)

    async def close_all(self) -> None:
        """End every call (engine stop); calls being set up are refused."""
        self._closing = True
        await asyncio.gather(*(c.close("the engine stopped") for c in list(self._calls.values())))
        await asyncio.gather(*(self._close_pc(pc) for pc in list(self._pcs)))

    def stats(self) -> dict[str, int]:
        """Live counters for leak tests: open calls, their tasks and jobs, unclosed peer connections."""
        return {
            "calls": len(self._calls),
            "connecting": sum(1 for c in self._calls.values() if c.state is CallState.CONNECTING),
            "tasks": sum(c.tasks for c in self._calls.values()),
            "pending_jobs": sum(c.pending_jobs for c in self._calls.values()),
            "peer_connections": len(self._pcs),
        }

    # --- internals ---------------------------------------------------------------------------------------

    def _configuration(
        self,
        dialect: Dialect,
        model: str | None,
        session: Mapping[str, Any] | None,
        api_version: str | None,
    ) -> tuple[Route, SessionConfig]:
        """The route (dialect, reported model) and the initial SessionConfig, read as a
        ``session.update`` is (strict; the bad param named in the dialect's spelling)."""
        from realtime_nb.engine.session import updated_config

        if session is not None and not isinstance(session, Mapping):
            raise CallRefused(
                HTTPStatus.BAD_REQUEST, "invalid_type", "'session' must be an object.", "session"
            )
        named = session.get("model") if session is not None else None
        wanted = model or (named if isinstance(named, str) and named else None) or _default_model(dialect)
        # A preview deployment name is not a preview model name: report the model behind it, as the
        # WebSocket route does (Route.session_model).
        route = Route(dialect, wanted, azure=dialect is Dialect.PREVIEW, api_version=api_version)
        config = SessionConfig(model=route.session_model)
        if session:
            try:
                config = updated_config(config, dict(session), dialect, api_version)
            except RequestError as err:
                raise CallRefused(
                    HTTPStatus.BAD_REQUEST, err.code or "invalid_value", err.message, err.param
                ) from None
            config = config.replace(model=route.session_model)
        return route, config

    async def _close_pc(self, pc: Any) -> None:
        try:
            await asyncio.wait_for(pc.close(), _PC_CLOSE_TIMEOUT_S)
        except Exception as exc:
            log.warning("closing a peer connection failed: %s", exc)
        self._pcs.discard(pc)
        self._ended()

    def _forget(self, call: Call) -> None:
        if self._calls.get(call.id) is call:
            del self._calls[call.id]
        self._ended()

    def _ended(self) -> None:
        if self.on_call_end is not None:
            self.on_call_end()


def _default_model(dialect: Dialect) -> str:
    return "gpt-4o-realtime-preview" if dialect is Dialect.PREVIEW else "gpt-realtime"


def _encode(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"))


def webrtc_calls() -> Callable[[Any], CallRegistry] | None:
    """The registry factory an engine answers WebRTC calls with by default, or None without the
    ``webrtc`` extra (aiortc, h11): then the signalling endpoints answer 501 naming the extra."""
    try:
        import aiortc  # noqa: F401
        import h11  # noqa: F401
    except ImportError:
        return None
    return CallRegistry.for_server
