"""``Call``: a WebRTC call held by the page, recorded and steered by the kernel.

The page (``call.js``) runs the ``RTCPeerConnection``: the microphone track (device picker and echo
cancellation toggle as on the `Mic`), the answer played in the page, the ``oai-events`` data channel.
The kernel does everything that needs a key and keeps the record:

* **the SDP exchange** (`client.rtc_exchange`, the same code the Python WebRTC client uses): the page
  sends its offer over the comm; for GA (engine, OpenAI, Azure) the kernel POSTs the unified form
  (offer + session + standard key), so no key of any kind is minted; for preview, which has no such
  form, it mints an ephemeral key and POSTs the offer with it itself. The page receives the answer
  SDP only: no key, standard or ephemeral, ever crosses the comm.
* **the record**: `log`, the EventLog of `session` (a `CallSession`, see ``call_session.py`` for what
  is logged from where), with every time on the kernel's clock;
* **the control**: `session` is a `SessionLike`, so `TuningPanel`, `LiveTimeline` and
  `WaveformCompare` work on it; its sends go down the page's data channel.

**Clocks.** Page times (``performance.now()``) become kernel times (``time.monotonic_ns``) through
`ClockSync` (``_audio_comm``): a burst of 12 comm pings when the page appears, then one every 2 s,
plus every stamped page message; the offset is the middle of the tightest interval those bound,
so it is off by at most half the fastest round trip (``clock_uncertainty_ms`` in `stats`, typically
0.5-3 ms on one machine; the ping answers also serve as the page's heartbeat).

**Failures** are reported within seconds, in the widget (``error``) and as `CallFailed` from
`connected` (and `raise_for_failure`): see `call_state.FAILURES` for each kind and its suggestion.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from realtime_nb.client.endpoints import Endpoint
from realtime_nb.client.errors import ConnectError
from realtime_nb.client.rtc_exchange import exchange_offer, server_flow
from realtime_nb.client.rtc_signalling import SignallingError, session_body
from realtime_nb.client.session import RealtimeSession
from realtime_nb.protocol import PCM_RATE, SessionConfig
from realtime_nb.timeline import EventLog
from realtime_nb.widgets._audio_comm import ClockSync
from realtime_nb.widgets.call_audio import SentTap, estimate_lag_ms
from realtime_nb.widgets.call_session import CallSession, PageTransport
from realtime_nb.widgets.call_state import ACTIVE, CallFailed, CallStateError, describe, step
from realtime_nb.widgets.esm import page_module

logger = logging.getLogger(__name__)

CLOCK_PINGS = 12
PING_EVERY_S = 2.0
# No message from the page for this long during a call: the page is gone. Time the kernel itself
# could not listen (a cell blocking the event loop) does not count: see `_watchdog`.
PAGE_SILENT_S = 15.0
_LOST = 1006


def mic_worklet_source() -> str:
    """The AudioWorklet processor source of ``mic.js`` (``rtnb-capture``), for the Call's page."""
    text = Path(__file__).with_name("mic.js").read_text(encoding="utf-8")
    start = text.index("const WORKLET_SOURCE = `") + len("const WORKLET_SOURCE = `")
    return text[start : text.index("`;", start)]


def received_audio() -> Any:
    """The Python client's played-audio attribution (`client.rtc_media.ReceivedAudio`); imported on
    first use, since that module imports aiortc (a third of a second) and most notebooks never call."""
    from realtime_nb.client.rtc_media import ReceivedAudio

    return ReceivedAudio()


def kernel_ms() -> float:
    """The kernel's clock in ms: the EventLog's (monotonic)."""
    return time.monotonic_ns() / 1e6


class CallWidget(anywidget.AnyWidget):
    """The page of a `Call`: its synced traits. (`Call` is a plain object holding one, so that
    ``call.log`` can be the EventLog: a widget's ``log`` is its Python logger.)"""

    _esm = page_module("call.js")
    _css = Path(__file__).with_name("audio.css")

    state = traitlets.Unicode("idle").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    echo_cancellation = traitlets.Bool(True).tag(sync=True)
    device_id = traitlets.Unicode("").tag(sync=True)
    pcm_rate = traitlets.Int(PCM_RATE, read_only=True).tag(sync=True)
    # The view that placed the current call (a second view of the same widget stays a spectator).
    owner_view = traitlets.Unicode("").tag(sync=True)
    # Where the endpoint is, for the page's text ("local engine", "openai", ...): never a key or URL.
    service = traitlets.Unicode("").tag(sync=True)
    # Kernel -> page: clock figures and counts shown under the controls.
    status = traitlets.Dict().tag(sync=True)
    # Page -> kernel: the page's own counters (audio played, first audible sample, ICE state, ...).
    page_stats = traitlets.Dict().tag(sync=True)
    # The Mic's capture worklet (its source lives once, in mic.js), which the page loads for its taps.
    worklet = traitlets.Unicode(read_only=True).tag(sync=True)

    @traitlets.default("worklet")
    def _worklet_source(self) -> str:
        return mic_worklet_source()


def _synced(name: str, doc: str) -> property:
    def get(self: Call) -> Any:
        return getattr(self.widget, name)

    def put(self: Call, value: Any) -> None:
        setattr(self.widget, name, value)

    return property(get, put, doc=doc)


class Call:
    """A WebRTC call in the page; see the module docstring.

    >>> call = Call()                    # the embedded engine, GA
    >>> call                             # display, then click Call (or call.start())
    >>> await call.connected(timeout=10)
    """

    state = _synced("state", '"idle" | "starting" | "connected" | "failed" | "closed" (synced)')
    error = _synced("error", 'the visible failure message, "" when none (synced)')
    owner_view = _synced("owner_view", "the page view that placed the current call")
    status = _synced("status", "kernel -> page figures")
    page_stats = _synced("page_stats", "the page's counters: played audio, first audible sample, ICE")
    echo_cancellation = _synced("echo_cancellation", "the microphone's echo cancellation (next call)")
    device_id = _synced("device_id", "the microphone's deviceId ('' = default; next call)")

    def __init__(self, endpoint: Endpoint | None = None, *, config: SessionConfig | None = None,
                 log: EventLog | None = None, timeout: float = 10.0, sideband: bool | None = None,
                 **kwargs: Any) -> None:
        if endpoint is None:
            from realtime_nb.notebook import local_engine

            endpoint = Endpoint.local(local_engine().url)
        if not isinstance(endpoint, Endpoint):
            raise TypeError(f"endpoint must be an Endpoint, got {type(endpoint).__name__}")
        endpoint.webrtc_urls(server_flow(endpoint))  # refuse an endpoint that cannot place a call
        self.widget = CallWidget(
            service="local engine" if endpoint.service == "local" else endpoint.service, **kwargs
        )
        self.endpoint = endpoint
        self.config = config
        self.timeout = float(timeout)
        self.log = log if log is not None else EventLog()
        self.clock = ClockSync()
        self.sideband = (endpoint.service != "local") if sideband is None else bool(sideband)
        """Open the call's sideband socket (``?call_id=``, GA) once connected: default for the cloud."""
        self.sideband_session: RealtimeSession | None = None
        """The sideband's own session (its own log: what the service sent, as seen by the kernel
        directly, so the record does not depend on the page); None until opened."""
        self.views: list[str] = []
        """Ids of the page views that rendered this widget (in order; a view can be gone since)."""
        self.notices: list[str] = []
        """Reports that concern a view, not the call (a second view pressing start, ...)."""
        self._session = self._new_session()
        self._transport: PageTransport | None = None
        self._opened: asyncio.Future[PageTransport] | None = None
        self._failure: CallFailed | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pings: dict[int, float] = {}
        self._next_ping = 0
        self._last_heard = kernel_ms()
        self._tap = SentTap()
        self._rx = received_audio()
        self._watch: asyncio.Task[None] | None = None
        self.audible_onsets_ns: list[int] = []
        """Kernel-clock times at which the page's played audio turned audible after a silence."""
        self.alignment: dict[str, float] = {}
        """The last `measure_alignment` result: ``lag_ms`` (tap behind the service's clock) and
        ``correlation``."""
        self.widget.on_msg(self._on_page_msg)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def send(self, content: dict[str, Any]) -> None:
        """One message to every view of the page."""
        self.widget.send(content)

    # ------------------------------------------------------------------------------ public API
    @property
    def session(self) -> CallSession:
        """The call's `SessionLike` (a new one for each call; connected while ``state`` is connected)."""
        return self._session

    def start(self) -> None:
        """Place the call from the kernel (same as the Call button in the view shown last)."""
        if not self.views:
            raise RuntimeError("the Call is not displayed: display it first (its page places the call)")
        view = self.views[-1]
        self._begin(view)
        self.send({"type": "start", "view": view})

    async def connected(self, timeout: float | None = None) -> CallSession:
        """Wait until the call is connected; `CallFailed` (with a suggestion) if it fails or times out."""
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while self.state != "connected":
            self.raise_for_failure()
            if self.state in ("closed",):
                raise CallFailed("peer_closed", "the call was hung up before it connected")
            if time.monotonic() >= deadline:
                if self.state == "idle":
                    raise CallFailed("timeout", "nothing started: display the widget and click Call")
                self._fail("timeout", f"not connected within {limit:g} s (state {self.state})")
                self.raise_for_failure()
            await asyncio.sleep(0.02)
        return self._session

    def raise_for_failure(self) -> None:
        """Raise the call's `CallFailed` once, if it failed."""
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def hangup(self) -> asyncio.Task[None] | None:
        """End the call: the page closes its peer connection, the kernel hangs up on the service.
        Returns the task doing it (await it to be sure the service let go); the log is kept."""
        if self.state not in ACTIVE:
            return None
        self.state = step(self.state, "hangup")
        return self._spawn(self._close_session())

    def sent_audio(self, item_id: str) -> np.ndarray:
        """The 24 kHz audio the page sent for a user item (its span on the service's audio clock)."""
        try:
            return self.log.item_audio(item_id)
        except KeyError:
            raise KeyError(f"item {item_id!r} has no sent audio in this call's log") from None

    async def measure_alignment(self, item_id: str) -> dict[str, float]:
        """Retrieve `item_id` and measure how far the page's tap runs from the service's audio clock."""
        await self._session.retrieve(item_id)
        start, end = self.log.item_span(item_id)
        pad = 400.0
        sent = self.log.sent_audio(max(0.0, start - pad), end + pad)
        lag, corr = estimate_lag_ms(sent, self.log.retrieved_audio(item_id), max_lag_ms=pad)
        # `sent` starts `pad` ms (or less, near 0) before the item: take that off
        lag -= start - max(0.0, start - pad)
        self.alignment = {"lag_ms": lag, "correlation": corr}
        self.status = {**self.status, "alignment_ms": round(lag, 1)}  # shown in the page
        return dict(self.alignment)

    def stats(self) -> dict[str, Any]:
        """The call's counters: clock, taps, page figures, the log's size."""
        ready = self.clock.ready
        return {
            "state": self.state,
            "clock_samples": self.clock.samples,
            "clock_offset_ms": self.clock.offset_ms if ready else None,
            "clock_uncertainty_ms": self.clock.uncertainty_ms if ready else None,
            "sent_samples": self._tap.samples,
            "sent_missing_chunks": self._tap.missing,
            "played_frames": self._rx.frames,
            "events": len(self.log),
            "page": dict(self.page_stats),
            "alignment": dict(self.alignment),
        }

    def to_kernel_ns(self, page_ms: float) -> int:
        """A page time (ms, ``performance.now()``) on the kernel's clock (monotonic ns)."""
        k = self.clock.to_kernel_ms(page_ms) if self.clock.ready else kernel_ms()
        return round(k * 1e6)

    # ------------------------------------------------------------------------------ the call
    def _new_session(self) -> CallSession:
        return CallSession(self.endpoint, self.log, self._wait_open, timeout=self.timeout)

    async def _wait_open(self) -> PageTransport:
        assert self._opened is not None
        return await asyncio.wait_for(asyncio.shield(self._opened), self.timeout)

    def _begin(self, view: str) -> None:
        self.state = step(self.state, "start")  # CallStateError for a second call while one runs
        self._failure = None
        self.error = ""
        self.owner_view = view
        if self._session.state.value != "new":
            self._session = self._new_session()  # the previous one may still be closing: its own task
        self._transport = None  # the previous call's, if any: its late messages must go nowhere
        self._opened = asyncio.get_event_loop().create_future()
        self._tap, self._rx = SentTap(), received_audio()
        self._spawn(self._connect(self._session))
        if self._watch is None or self._watch.done():
            self._watch = self._spawn(self._watchdog())

    async def _connect(self, session: CallSession) -> None:
        try:
            await session.connect()
        except CallFailed:
            return
        except Exception as exc:
            if self.state == "starting" and session is self._session:
                self._fail("timeout" if isinstance(exc, TimeoutError) else "page_error",
                           f"{type(exc).__name__}: {exc}")
            return
        for kind in ("output_audio_buffer.started", "output_audio_buffer.stopped",
                     "output_audio_buffer.cleared"):
            session.on(kind, self._rx.on_event)
        if self.state == "starting" and session is self._session:
            self.state = step(self.state, "open")
            call_id = self._transport.call_id if self._transport is not None else None
            if self.sideband and call_id:
                self._spawn(self._open_sideband(call_id))
        else:  # hung up or failed while the session was opening
            await session.close()

    async def _open_sideband(self, call_id: str) -> None:
        sideband = RealtimeSession(self.endpoint.sideband(call_id), timeout=self.timeout)
        try:
            await sideband.connect()
        except Exception as exc:  # the call goes on without it; say why
            self.notices.append(f"the sideband socket did not open: {type(exc).__name__}: {exc}")
            return
        self.sideband_session = sideband

    async def _exchange(self, sdp: str) -> None:
        opened = self._opened  # this call's: a hangup and redial during the exchange replace it
        session = session_body(self.config, self.endpoint.dialect, self.endpoint.model)
        try:
            answer = await exchange_offer(self.endpoint, sdp, session, flow=server_flow(self.endpoint),
                                          timeout=self.timeout)
        except SignallingError as exc:
            refused = exc.step == "offer" and exc.status in (401, 403)
            expired = refused and server_flow(self.endpoint) == "ephemeral"
            self._fail("key_expired" if expired else "signalling", str(exc))
            return
        except ConnectError as exc:
            self._fail("signalling", str(exc))
            return
        if self.state != "starting" or opened is not self._opened:  # hung up meanwhile: the service's
            # call must not linger
            if answer.call_id:
                from realtime_nb.client.rtc_exchange import hang_up

                with contextlib.suppress(Exception):
                    await hang_up(self.endpoint, answer.call_id, self.timeout)
            return
        self._transport = PageTransport(self.send, endpoint=self.endpoint, call_id=answer.call_id,
                                        timeout=self.timeout)
        self.send({"type": "answer", "sdp": answer.sdp})

    def _fail(self, kind: str, detail: str = "") -> None:
        """Report a failure (widget + Python), close the peer connection, keep the log."""
        if self.state not in ACTIVE:
            return
        self.state = step(self.state, "fail")
        self.error = describe(kind, detail)
        self._failure = CallFailed(kind, detail)
        with contextlib.suppress(Exception):
            self.send({"type": "fail", "message": self.error})
        self._spawn(self._close_session(f"{kind}: {detail}" if detail else kind, _LOST))

    def _close_session(self, reason: str = "hung up", code: int = 1000) -> Coroutine[Any, Any, None]:
        """End the page's connection and the session at once (so `session.closed` holds), then hang
        the call up on the service; the played-audio tap's tail goes into the log. The call's parts
        are taken *now*: a redial may replace them before the returned coroutine runs."""
        parts = (self._session, self._transport, self._opened, self._rx, self.sideband_session)
        return self._close_parts(*parts, reason=reason, code=code)

    async def _close_parts(self, session: CallSession, transport: PageTransport | None,
                           opened: asyncio.Future[PageTransport] | None, rx: Any, sideband: Any,
                           *, reason: str, code: int) -> None:
        if opened is not None and not opened.done():
            opened.set_exception(CallFailed("page_error", reason))
            opened.exception()  # retrieved: nobody may be waiting
        if session is self._session:  # not when a redial already gave the page a new call
            with contextlib.suppress(Exception):
                self.send({"type": "hangup"})
        if transport is not None:
            transport.end(code, reason)
        if session.state.value != "connecting":  # else the failed opener ends the connect
            with contextlib.suppress(Exception):
                await session.close()  # also hangs up on the service (PageTransport.close)
        if transport is not None and not session.closed:
            await transport.close()
        for chunk in rx.flush():
            self.log.record_track_audio("received", chunk.pcm, t_ns=chunk.t_ns,
                                        response_id=chunk.response_id, peak=chunk.peak)
        if sideband is not None:  # after the hangup: it saw the call to its end
            with contextlib.suppress(Exception):
                await sideband.close()

    async def _watchdog(self) -> None:
        """Pings while a call runs (clock + heartbeat); a silent page means a closed tab."""
        while self.state in ACTIVE:
            before = kernel_ms()
            await asyncio.sleep(PING_EVERY_S)
            if self.state not in ACTIVE:
                return
            if kernel_ms() - before > PING_EVERY_S * 1000 + 1000:  # the loop was blocked, not the page
                self._last_heard = kernel_ms()
            self._send_ping()
            if kernel_ms() - self._last_heard > PAGE_SILENT_S * 1000:
                self._fail("page_closed", f"nothing heard from the page for {PAGE_SILENT_S:g} s")

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_event_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _send_ping(self) -> None:
        ping_id = self._next_ping
        self._next_ping += 1
        self._pings[ping_id] = kernel_ms()
        del_before = ping_id - 50
        for old in [k for k in self._pings if k < del_before]:
            del self._pings[old]
        with contextlib.suppress(Exception):
            self.send({"type": "ping", "id": ping_id})

    def _on_page_msg(self, _widget: Any, content: Any, buffers: list[Any]) -> None:
        from realtime_nb.widgets.call_messages import handle_page_msg

        handle_page_msg(self, content, buffers or [], kernel_ms())


__all__ = ["Call", "CallFailed", "CallStateError"]

