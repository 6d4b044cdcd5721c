"""The engine's server: one `EngineSession` per WebSocket, WebRTC signalling beside it, one port.

Everything protocol-shaped lives in the sans-I/O `EngineSession`; the adapter only moves bytes. It is
small modules: `handshake` (routing and auth, sans-I/O), `connection` (one socket's loop: frames in,
events out in order, heavy jobs onto the shared thread pool, a timer that calls `tick()`),
`front_door` (WebSocket upgrades to websockets, every other request to the sans-I/O `http_api`:
ephemeral keys, calls, CORS), `outbox` (each connection's bounded output), `scheduler` (the pool's
lanes: setup, short jobs, synthesis) and this one (listening, the pool, the call registry), with
`protocol.redaction` keeping credentials out of the logs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextlib
import dataclasses
import gc
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from realtime_nb.engine.connection import Connection, SessionFactory, SessionLike, clip_reason
from realtime_nb.engine.ephemeral_keys import KeyStore
from realtime_nb.engine.front_door import CallRegistryLike, FrontDoor, FrontDoorConnection, HttpLimits
from realtime_nb.engine.handshake import (
    HEALTH_TEXT,
    PREVIEW_API_VERSIONS,
    Refusal,
    Route,
    check_call,
    check_credentials,
    check_origin,
    route_request,
    screen_handshake,
)
from realtime_nb.engine.http_api import HttpApi
from realtime_nb.engine.memory import trim
from realtime_nb.engine.origins import OriginPolicy
from realtime_nb.engine.outbox import Backpressure
from realtime_nb.engine.priority import yield_to_loop
from realtime_nb.engine.scheduler import FairPool
from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.limits import MAX_FRAME_BYTES
from realtime_nb.protocol.redaction import RedactingLogger

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "PREVIEW_API_VERSIONS",
    "Backpressure",
    "CallRegistryLike",
    "EngineServer",
    "HttpLimits",
    "KeyStore",
    "Refusal",
    "Route",
    "SessionFactory",
    "check_credentials",
    "route_request",
]

log = logging.getLogger("realtime_nb.engine")

# An append may carry 15 MiB of base64 audio; the frame around it must still reach the session so it
# can answer with an `error` event. Anything past this cap is closed with 1009 by websockets.
DEFAULT_MAX_MESSAGE_BYTES = MAX_FRAME_BYTES
DEFAULT_TICK_INTERVAL_S = 0.02
TRIM_AFTER_S = 1.0  # heap pages go back to the OS this long after the last session ended
TRIM_EVERY_S = 30.0  # and this often while sessions run (their audio and voice buffers churn)


def _default_session_factory(options: Mapping[str, Any]) -> SessionFactory:
    """Build EngineSessions on the shared models; imported late so `import realtime_nb.engine` stays light."""
    from realtime_nb.engine.models import Models
    from realtime_nb.engine.options import EngineOptions
    from realtime_nb.engine.session import EngineSession

    known = [f.name for f in dataclasses.fields(EngineOptions)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(f"unknown engine option(s) {', '.join(unknown)}; the options are {', '.join(known)}")
    base = EngineOptions(**options)  # validates values (ValueError naming the option)
    models = Models.shared()

    def factory(route: Route, now: float, **session: Any) -> SessionLike:
        # The model (Azure: deployment) the client asked for is what session.created reports.
        # ``session``: more EngineSession arguments (a WebRTC call passes transport and config).
        session_options = dataclasses.replace(base, model=route.session_model)
        session.setdefault("session_type", route.session_type)
        return EngineSession(
            models, route.dialect, now=now, options=session_options, api_version=route.api_version, **session
        )

    return factory


class EngineServer:
    """The engine's server on the current event loop (see `runner.start_engine` for a thread).

    `token`: when set, every client must present it (see `check_credentials`), and minting an
    ephemeral key or a unified-form call needs it too; it is never logged. `options`: passed to
    `EngineOptions` for every session. `session_factory` replaces the default (shared `Models` +
    `EngineSession`) and exists for tests of the adapter alone.

    WebRTC signalling (same port): `allowed_origins` are the page origins trusted beside loopback
    ones (see `origins`); `calls` is the call registry (`CallRegistryLike`; None: calls answer 501
    "WebRTC calls are not available"), or a factory ``(server) -> registry`` called on the server's
    loop in `start` (a registry that needs the server's sessions, pool or loop is built there); it
    is closed with the server. `keys` replaces the ephemeral key store
    (e.g. one with an injected clock); `http_limits` bounds HTTP clients (`HttpLimits`).

    `backpressure` bounds each WebSocket's output and times out silent peers: a `Backpressure` or a
    dict of its fields (``{"max_lag_s": 30}``); see `options.Backpressure` for each limit and range.
    `workers` threads run every kind of job, plus one kept for session setup and short jobs (see
    `scheduler.FairPool`); big client frames are handled on one more thread (`input_executor`).
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        options: Mapping[str, Any] | None = None,
        session_factory: SessionFactory | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        tick_interval: float = DEFAULT_TICK_INTERVAL_S,
        workers: int | None = None,
        close_timeout: float = 5.0,
        allowed_origins: Iterable[str] | None = None,
        calls: CallRegistryLike | Callable[[EngineServer], CallRegistryLike] | None = None,
        keys: KeyStore | None = None,
        http_limits: HttpLimits | None = None,
        backpressure: Backpressure | Mapping[str, Any] | None = None,
    ) -> None:
        if token is not None and not token.strip():
            raise ValueError("token must be a non-empty string (or None for no auth)")
        if max_message_bytes < 16 * 2**20:
            raise ValueError(f"max_message_bytes={max_message_bytes} is below the 15 MiB an append may carry")
        if tick_interval <= 0:
            raise ValueError(f"tick_interval must be positive, got {tick_interval}")
        self._token = token
        self._options = dict(options or {})
        self.origins = OriginPolicy.from_names(allowed_origins)  # ValueError naming a bad origin
        self._calls_factory = calls if _is_factory(calls) else None
        self.calls: CallRegistryLike | None = None if _is_factory(calls) else calls  # type: ignore[assignment]
        self.keys = keys if keys is not None else KeyStore()
        self.http_limits = http_limits or HttpLimits()
        self._factory = session_factory
        self._uses_default_factory = False
        self.max_message_bytes = max_message_bytes
        self.tick_interval = tick_interval
        self.close_timeout = close_timeout
        self.backpressure = Backpressure.coerce(backpressure)  # ValueError naming a value's range
        self.executor = FairPool(
            workers or min(4, (os.cpu_count() or 1) + 2),
            thread_name_prefix="engine-job",
            initializer=yield_to_loop,  # model work gives way to the loop (engine/priority.py)
        )
        # Big frames (a 15 MiB append) are decoded and run through the VAD here, off the loop.
        self.input_executor = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine-input")
        self._server: Server | None = None
        self._connections: set[Connection] = set()
        self._idle: asyncio.Event | None = None  # set while `idle` (made on the loop)
        self.jobs_in_flight = 0  # submitted to the pool and not yet settled, across all connections
        self._trim_timer: asyncio.TimerHandle | None = None
        self._periodic_trim: asyncio.TimerHandle | None = None
        self._logger = RedactingLogger(log, self._token)
        self.front_door = FrontDoor(
            HttpApi(
                token=token,
                keys=self.keys,
                origins=self.origins,
                calls_available=calls is not None,
                default_model=str(self._options.get("model") or "gpt-realtime"),
            ),
            self.calls,
            self.http_limits,
            self._logger,
        )

    def __repr__(self) -> str:
        auth = "token" if self.requires_token else "open"
        return f"EngineServer(port={self.port}, auth={auth}, connections={len(self._connections)})"

    @property
    def requires_token(self) -> bool:
        return self._token is not None

    @property
    def session_factory(self) -> SessionFactory:
        if self._factory is None:
            self._factory = _default_session_factory(self._options)
            self._uses_default_factory = True
        return self._factory

    def prepare(self) -> None:
        """Build the session factory now: bad options fail here, before anything listens."""
        _ = self.session_factory

    def warm_up(self) -> None:
        """Load the shared models and build one throwaway session (blocking; run it on a thread).

        The first session of a process otherwise pays every model load and the voice's first
        synthesis (several seconds on 2 cores); after this, a session starts in well under 1 ms.
        """
        if self._factory is None or self._uses_default_factory:
            from realtime_nb.engine.models import Models

            Models.shared().preload()
        self.session_factory(Route(Dialect.GA, "warm-up"), time.monotonic())
        # What is alive now (modules, models, their tokenizers) lives as long as the process: move it
        # out of the cyclic collector's sight, so a full collection (set off by whatever thread
        # allocates, e.g. the one running a big append's VAD) no longer walks ~45 000 objects while
        # holding the GIL: ~20 ms of CPU, 50-150 ms on a busy machine, a stall of every session.
        gc.collect()
        gc.freeze()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on host:port (0 = a free port). Raises OSError as the OS reports it (e.g. in use)."""
        self.host = host  # a call registry offers only loopback ICE candidates on a loopback engine
        if self._calls_factory is not None and self.calls is None:
            self.calls = self._calls_factory(self)
            self.front_door.calls = self.calls
        self._server = await serve(
            self._handle,
            host,
            port,
            process_request=self._process_request,
            select_subprotocol=_select_subprotocol,
            max_size=self.max_message_bytes,
            # Base64 audio barely compresses and deflate costs CPU every real-time session shares.
            compression=None,
            # The connection runs its own keepalive: websockets' waits unboundedly for the ping's
            # write, so a peer that stopped reading was never timed out (see `outbox`).
            ping_interval=None,
            close_timeout=self.close_timeout,
            logger=self._logger,
            # Requests that are not WebSocket upgrades (WebRTC signalling) leave here for HTTP.
            create_connection=self.front_door.connection_class(),
        )
        self._periodic_trim = asyncio.get_running_loop().call_later(TRIM_EVERY_S, self._trim_periodically)

    @property
    def sockets(self) -> list[Any]:
        return list(self._server.sockets) if self._server is not None else []

    @property
    def port(self) -> int | None:
        sockets = self.sockets
        return sockets[0].getsockname()[1] if sockets else None

    def stats(self) -> dict[str, int]:
        """Live counters (call on the server's loop): open connections and jobs not yet fed back,
        HTTP connections, live ephemeral keys, and the call registry's counters (``calls_*``)."""
        stats = {
            "connections": len(self._connections),
            "pending_jobs": sum(c.pending_jobs for c in self._connections),
            "jobs_in_flight": self.jobs_in_flight,
            "jobs_queued": self.executor.queued(),
            "unsent_bytes": sum(c.unsent_bytes for c in self._connections),
            **self.front_door.stats(),
            "ephemeral_keys": len(self.keys),
        }
        if self.calls is not None:
            stats.update({f"calls_{k}": v for k, v in self.calls.stats().items() if isinstance(v, int)})
        return stats

    @property
    def idle(self) -> bool:
        """No connection or WebRTC call open (nor one being set up) and no job still on a worker thread
        (one of a gone socket included)."""
        calls = self.calls.stats() if self.calls is not None else {}
        open_calls = calls.get("calls", 0) or calls.get("peer_connections", 0)
        return not self._connections and not open_calls and self.jobs_in_flight == 0

    def call_ended(self) -> None:
        """A WebRTC call (or one being set up) is gone: the registry tells the server; on the loop."""
        self._note_idle()

    def job_submitted(self) -> None:
        """A job went to the pool (for a socket or a call); on the loop."""
        self.jobs_in_flight += 1

    def job_done(self) -> None:
        """A submitted job's future settled (ran, failed or was cancelled); on the loop."""
        self.jobs_in_flight -= 1
        self._note_idle()

    def _note_idle(self) -> None:
        if self.idle and self._idle is not None:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no connection is open, every connection's cleanup has run and no worker is
        still computing for one (a synthesis of a vanished client stops at its next value)."""
        if self._idle is None:
            self._idle = asyncio.Event()
        if self.idle:
            self._idle.set()
        else:
            self._idle.clear()  # set by an earlier idle moment: busy again now
        await self._idle.wait()

    async def stop(self) -> None:
        """Close every connection (1001 going away) and call, stop listening, and drop queued jobs."""
        for timer in (self._trim_timer, self._periodic_trim):
            if timer is not None:
                timer.cancel()
        if self._server is not None:
            self._server.close(close_connections=True)
            await self.front_door.close()
            await self._server.wait_closed()
            self._server = None
        if self.calls is not None:
            try:
                await self.calls.close_all()
            except Exception:
                log.exception("closing the WebRTC calls failed")
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.input_executor.shutdown(wait=False, cancel_futures=True)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        # A page from an untrusted origin is refused before anything else (the HTTP endpoints' rule).
        refused_page = check_origin(self.origins, request.headers)
        if refused_page is not None:
            return _respond(connection, refused_page.status, refused_page.body())
        if urlsplit(request.path).path in ("", "/"):
            return _respond(connection, HTTPStatus.OK, HEALTH_TEXT, "text/plain")
        refusal = screen_handshake(self._token, request.path, request.headers, self.keys.opens_session)
        if refusal is not None:
            return _respond(connection, refusal.status, refusal.body())
        route = route_request(request.path, request.headers)
        refusal = check_call(route, self.calls)  # type: ignore[arg-type]  # a Route: screened above
        if refusal is not None:
            return _respond(connection, refusal.status, refusal.body())
        if isinstance(route, Route) and route.call_id is None and isinstance(connection, FrontDoorConnection):
            connection.note_message_kinds()  # a session socket: `Connection` reads frames as bytes
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        route = route_request(ws.request.path if ws.request else "", ws.request.headers if ws.request else {})
        if isinstance(route, Refusal):  # process_request already refused it; defensive only
            await ws.close(1008, clip_reason(route.message))
            return
        if route.call_id is not None:
            from realtime_nb.engine.sideband import serve_sideband

            await serve_sideband(ws, self.calls.session_of(route.call_id) if self.calls else None)
            return
        connection = Connection(self, ws, route)
        self._connections.add(connection)
        if self._idle is not None:
            self._idle.clear()
        log.info("session opened: %s dialect, model %s", route.dialect.value, route.model)
        try:
            await connection.run()
        except Exception:
            # A fault in the core must not leave the client hanging without a reason.
            log.exception("engine session crashed")
            with contextlib.suppress(Exception):
                await ws.close(1011, "internal engine error; see the engine log")
        finally:
            self._connections.discard(connection)
            self._note_idle()
            self._trim_soon()
            log.info("session closed")

    def _trim_soon(self) -> None:
        """Once sessions stop ending for a moment, hand their freed memory back (see `memory`)."""
        loop = asyncio.get_running_loop()
        if self._trim_timer is not None:
            self._trim_timer.cancel()

        def run() -> None:
            self._trim_timer = None
            with contextlib.suppress(RuntimeError):  # the executor shut down with the server
                loop.run_in_executor(self.input_executor, trim)

        self._trim_timer = loop.call_later(TRIM_AFTER_S, run)

    def _trim_periodically(self) -> None:
        loop = asyncio.get_running_loop()
        if self._connections:
            with contextlib.suppress(RuntimeError):
                loop.run_in_executor(self.input_executor, trim)
        self._periodic_trim = loop.call_later(TRIM_EVERY_S, self._trim_periodically)


def _is_factory(calls: object) -> bool:
    """A call registry factory rather than a registry (which is not itself callable)."""
    return calls is not None and callable(calls) and not hasattr(calls, "open_call")


def _select_subprotocol(connection: ServerConnection, subprotocols: Sequence[str]) -> str | None:
    # Browsers offer "realtime" alongside the key; echo only that one so the key never comes back.
    return "realtime" if "realtime" in subprotocols else None


def _respond(
    connection: ServerConnection, status: int, body: str, content_type: str = "application/json"
) -> Response:
    response = connection.respond(status, body)
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = content_type
    return response
