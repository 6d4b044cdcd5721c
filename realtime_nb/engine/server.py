"""The engine's WebSocket adapter: handshake routing, auth, and one `EngineSession` per socket.

Everything protocol-shaped lives in the sans-I/O `EngineSession`; this module only moves bytes:
frames in (stamped with `time.monotonic()`), events out in order, heavy jobs onto a shared thread
pool (their results come back through the event loop, so one session's transcription or synthesis
never stalls another's audio), and a timer that calls `tick()`.

URL forms accepted (what the OpenAI SDK 3.52.0 builds for each client; see protocol/ga.md §1):

* ``/v1/realtime?model=M``                      OpenAI; GA, or preview with ``OpenAI-Beta: realtime=v1``
* ``/openai/v1/realtime?model=DEP``             Azure GA (an ``api-version`` here is refused with 401)
* ``/openai/realtime?api-version=V&deployment=DEP``   Azure preview, V in `PREVIEW_API_VERSIONS`
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextlib
import dataclasses
import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.redaction import RedactingLogger

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "PREVIEW_API_VERSIONS",
    "EngineServer",
    "Refusal",
    "Route",
    "check_credentials",
    "route_request",
]

log = logging.getLogger("realtime_nb.engine")

PREVIEW_API_VERSIONS: tuple[str, ...] = ("2024-10-01-preview", "2025-04-01-preview")

# An append may carry 15 MiB of base64 audio; the frame around it must still reach the session so it
# can answer with an `error` event. Anything past this cap is closed with 1009 by websockets.
DEFAULT_MAX_MESSAGE_BYTES = 64 * 2**20
DEFAULT_TICK_INTERVAL_S = 0.02

# The preview models (openai SDK 3.52.0 `beta.realtime` session `model` literal).
_PREVIEW_MODELS = (
    "gpt-4o-realtime-preview",
    "gpt-4o-realtime-preview-2024-10-01",
    "gpt-4o-realtime-preview-2024-12-17",
    "gpt-4o-realtime-preview-2025-06-03",
    "gpt-4o-mini-realtime-preview",
    "gpt-4o-mini-realtime-preview-2024-12-17",
)
_BROWSER_KEY_PREFIX = "openai-insecure-api-key."
_BROWSER_BETA_SUBPROTOCOL = "openai-beta.realtime-v1"
_MAX_CLOSE_REASON_BYTES = 123  # RFC 6455: a close reason fits in a 125-byte control frame

_HELP_URLS = (
    "ws://HOST:PORT/v1/realtime?model=M (OpenAI GA; preview with the header OpenAI-Beta: realtime=v1), "
    "ws://HOST:PORT/openai/v1/realtime?model=DEPLOYMENT (Azure GA), "
    "ws://HOST:PORT/openai/realtime?api-version=2025-04-01-preview&deployment=DEPLOYMENT (Azure preview)"
)


# --------------------------------------------------------------------------------------------------
# Handshake: sans-I/O routing and auth


@dataclass(frozen=True)
class Route:
    """What a handshake asked for: the dialect to speak and the model (or Azure deployment) name."""

    dialect: Dialect
    model: str
    azure: bool = False
    api_version: str | None = None

    @property
    def session_model(self) -> str:
        """The model `session.created` reports.

        An Azure preview deployment name is not a model name (the preview session object types
        `model` as one of the preview models), so the engine reports the model behind it, as Azure
        does; elsewhere the name the client gave is reported back.
        """
        if self.azure and self.dialect is Dialect.PREVIEW and self.model not in _PREVIEW_MODELS:
            return _PREVIEW_MODELS[0]
        return self.model


@dataclass(frozen=True)
class Refusal:
    """A handshake answered with an HTTP error instead of an upgrade."""

    status: int
    code: str
    message: str

    def body(self) -> str:
        """The body in the service's error shape, so SDK users can read it from the exception."""
        error = {"type": "invalid_request_error", "code": self.code, "message": self.message}
        return json.dumps({"error": error}) + "\n"


def _offered_subprotocols(headers: Headers | Mapping[str, str]) -> list[str]:
    values = (
        headers.get_all("Sec-WebSocket-Protocol")
        if isinstance(headers, Headers)
        else [headers.get("Sec-WebSocket-Protocol", "")]
    )
    return [p.strip() for value in values for p in value.split(",") if p.strip()]


def _first(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _wants_beta(headers: Headers | Mapping[str, str], subprotocols: Sequence[str]) -> bool:
    beta = headers.get("OpenAI-Beta") or ""
    flags = {part.strip().lower() for part in beta.split(",")}
    return "realtime=v1" in flags or _BROWSER_BETA_SUBPROTOCOL in subprotocols


def route_request(path: str, headers: Headers | Mapping[str, str]) -> Route | Refusal:
    """Decide dialect and model from a handshake's request target and headers (auth is separate).

    Unknown path -> 404; missing model / deployment or unknown api-version -> 400; an api-version on
    the Azure v1 path -> 401, as Azure answers it.
    """
    split = urlsplit(path)
    route_path = split.path.rstrip("/") or "/"
    query = parse_qs(split.query, keep_blank_values=True)
    subprotocols = _offered_subprotocols(headers)
    preview = _wants_beta(headers, subprotocols)

    if route_path in ("/v1/realtime", "/openai/v1/realtime"):
        azure = route_path.startswith("/openai")
        if azure and "api-version" in query:
            return Refusal(
                HTTPStatus.UNAUTHORIZED,
                "invalid_api_version",
                f"api-version={_first(query, 'api-version')!r} is not accepted on {route_path} "
                "(the GA path takes none, as on Azure); drop it, or use "
                "/openai/realtime?api-version=2025-04-01-preview&deployment=… for the preview protocol",
            )
        if "call_id" in query and "model" not in query:
            return Refusal(
                HTTPStatus.BAD_REQUEST,
                "unsupported_call_id",
                "call_id sideband sockets attach to WebRTC/SIP calls, which the local engine does not serve; "
                "connect with ?model=… instead",
            )
        model = (_first(query, "model") or "").strip()
        if not model:
            what = "deployment name" if azure else "model name"
            return Refusal(
                HTTPStatus.BAD_REQUEST,
                "missing_model",
                f"{route_path} needs the {what} as a query parameter: {route_path}?model=…",
            )
        return Route(Dialect.PREVIEW if preview else Dialect.GA, model, azure=azure)

    if route_path == "/openai/realtime":
        version = _first(query, "api-version")
        if not version:
            return Refusal(
                HTTPStatus.BAD_REQUEST,
                "missing_api_version",
                "/openai/realtime needs ?api-version= (one of "
                + ", ".join(PREVIEW_API_VERSIONS)
                + "); for the "
                "GA protocol use /openai/v1/realtime?model=… without an api-version",
            )
        if version not in PREVIEW_API_VERSIONS:
            return Refusal(
                HTTPStatus.BAD_REQUEST,
                "unsupported_api_version",
                f"api-version {version!r} is not served on /openai/realtime; use one of "
                + ", ".join(PREVIEW_API_VERSIONS)
                + ", or the GA path /openai/v1/realtime?model=… "
                "(AsyncOpenAI(websocket_base_url='ws://HOST:PORT/openai/v1'))",
            )
        deployment = (_first(query, "deployment") or "").strip()
        if not deployment:
            return Refusal(
                HTTPStatus.BAD_REQUEST,
                "missing_deployment",
                "/openai/realtime needs the deployment name: ?api-version=…&deployment=…",
            )
        return Route(Dialect.PREVIEW, deployment, azure=True, api_version=version)

    return Refusal(
        HTTPStatus.NOT_FOUND,
        "not_found",
        f"no realtime endpoint at {route_path!r}; this engine serves {_HELP_URLS}",
    )


def check_credentials(token: str | None, path: str, headers: Headers | Mapping[str, str]) -> bool:
    """True when no token is configured, or the request presents it in any form a client may use.

    Accepted: ``Authorization: Bearer T`` (OpenAI SDK, Entra style), ``api-key: T`` (Azure SDK), the
    ``api-key`` query parameter and the ``openai-insecure-api-key.T`` subprotocol (browsers).
    """
    if token is None:
        return True
    expected = token.encode()
    presented: list[str] = []
    auth = headers.get("Authorization") or ""
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer":
        presented.append(value.strip())
    if headers.get("api-key"):
        presented.append(headers.get("api-key", "").strip())
    presented.extend(parse_qs(urlsplit(path).query, keep_blank_values=True).get("api-key", []))
    presented.extend(
        p[len(_BROWSER_KEY_PREFIX) :]
        for p in _offered_subprotocols(headers)
        if p.startswith(_BROWSER_KEY_PREFIX)
    )
    # compare_digest on every candidate: timing does not reveal which form or how much matched.
    return any([hmac.compare_digest(p.encode(), expected) for p in presented])


# --------------------------------------------------------------------------------------------------
# What the adapter needs from the core (see docs/architecture.md, `realtime_nb.engine`)


class SessionLike(Protocol):
    closed: bool
    close_reason: str | None

    def receive_text(self, text: str, now: float) -> None: ...
    def receive_bytes(self, data: bytes, now: float) -> None: ...
    def tick(self, now: float) -> None: ...
    def events_to_send(self) -> list[dict[str, Any]]: ...
    def jobs_to_run(self) -> list[Any]: ...
    def job_output(self, job: Any, value: Any, now: float) -> None: ...
    def job_finished(self, job: Any, now: float, error: BaseException | None) -> None: ...

    # Optional: ``job_is_live(job) -> bool``; False makes the job's worker stop at its next value.


SessionFactory = Callable[[Route, float], SessionLike]


class _Close:
    """Queue marker: close the socket once everything before it has been sent."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


def _clip_reason(reason: str) -> str:
    data = reason.encode()[:_MAX_CLOSE_REASON_BYTES]
    return data.decode(errors="ignore")


class _Connection:
    """Drives one `EngineSession` from one socket. All session calls happen on the event loop thread."""

    def __init__(self, server: EngineServer, ws: ServerConnection, route: Route) -> None:
        self._server = server
        self._ws = ws
        self._route = route
        self._loop = asyncio.get_running_loop()
        self._outbox: asyncio.Queue[str | _Close] = asyncio.Queue()
        self._jobs: dict[cf.Future[Any], Any] = {}
        self._closing = False  # a _Close has been queued
        self._gone = False  # socket finished: late job results are dropped
        self._stop_jobs = threading.Event()  # tells running jobs on worker threads to stop early
        # ids of running jobs whose output the session no longer wants (a cancelled response): their
        # workers stop at the next value. Written on the loop, read by workers (set ops are atomic).
        self._unwanted: set[str] = set()
        self._session: SessionLike | None = None

    async def run(self) -> None:
        # A session's construction may load models or synthesize its first phrase (seconds, once per
        # process): build it on the pool so other sessions' audio keeps flowing meanwhile.
        now = time.monotonic()
        self._session = await self._loop.run_in_executor(
            self._server.executor, self._server.session_factory, self._route, now
        )
        self._pump()
        writer = asyncio.create_task(self._write_loop(), name="engine-writer")
        ticker = asyncio.create_task(self._tick_loop(), name="engine-ticker")
        try:
            await self._read_loop()
            if self._closing:  # let the writer finish the close it started
                with contextlib.suppress(asyncio.TimeoutError, ConnectionClosed):
                    await asyncio.wait_for(asyncio.shield(writer), self._server.close_timeout)
        finally:
            self._release()
            for task in (ticker, writer):
                task.cancel()
            await asyncio.gather(ticker, writer, return_exceptions=True)

    async def _read_loop(self) -> None:
        ws = self._ws
        while True:
            try:
                message = await ws.recv()
            except ConnectionClosed:
                return
            now = time.monotonic()
            session = self._session
            if session is None or self._closing:
                continue  # the session has ended; frames racing the close are dropped
            if isinstance(message, str):
                session.receive_text(message, now)
            else:
                session.receive_bytes(message, now)
            self._pump()

    async def _write_loop(self) -> None:
        ws = self._ws
        while True:
            item = await self._outbox.get()
            if isinstance(item, _Close):
                await ws.close(item.code, item.reason)
                return
            try:
                await ws.send(item)
            except ConnectionClosed:
                return

    async def _tick_loop(self) -> None:
        interval = self._server.tick_interval
        while True:
            await asyncio.sleep(interval)
            if self._session is None or self._closing:
                return
            self._session.tick(time.monotonic())
            self._pump()

    def _pump(self) -> None:
        """Move what the session produced: events to the writer, jobs to the pool, a close if it ended."""
        session = self._session
        if session is None:
            return
        for event in session.events_to_send():
            self._outbox.put_nowait(json.dumps(event, separators=(",", ":")))
        for job in session.jobs_to_run():
            self._submit(job)
        is_live = getattr(session, "job_is_live", None)
        if is_live is not None:
            for job in self._jobs.values():
                if not is_live(job):
                    self._unwanted.add(job.id)
        if session.closed and not self._closing:
            self._closing = True
            reason = session.close_reason or "session closed"
            log.info("closing session socket: %s", reason)
            self._outbox.put_nowait(_Close(1000, _clip_reason(reason)))

    def _submit(self, job: Any) -> None:
        future = self._server.executor.submit(self._drive_job, job)
        self._jobs[future] = job
        self._server.jobs_in_flight += 1
        future.add_done_callback(self._forget_job_threadsafe)

    def _drive_job(self, job: Any) -> None:
        """Worker thread: iterate the job, handing each value back to the loop as it comes (streaming)."""
        error: BaseException | None = None
        try:
            iterator = job.run()
            try:
                for value in iterator:
                    if self._stop_jobs.is_set():  # socket gone: stop computing for nobody
                        return
                    if job.id in self._unwanted:  # e.g. its response was cancelled: say it ended
                        break
                    self._to_loop(self._job_output, job, value)
            finally:
                close = getattr(iterator, "close", None)
                if callable(close):
                    close()
        except Exception as exc:  # the session reports it (failed transcription / response); socket lives on
            log.warning("engine job %r failed: %s", job, exc, exc_info=True)
            error = exc
        if not self._stop_jobs.is_set():
            self._to_loop(self._job_finished, job, error)

    def _to_loop(self, callback: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # loop already closed at engine shutdown
            self._loop.call_soon_threadsafe(callback, *args)

    def _forget_job_threadsafe(self, future: cf.Future[Any]) -> None:
        self._to_loop(self._forget_job, future)

    def _forget_job(self, future: cf.Future[Any]) -> None:
        job = self._jobs.pop(future, None)
        if job is not None:
            self._unwanted.discard(job.id)
        self._server.job_done()

    def _job_output(self, job: Any, value: Any) -> None:
        if self._gone or self._session is None:
            return
        self._session.job_output(job, value, time.monotonic())
        self._pump()

    def _job_finished(self, job: Any, error: BaseException | None) -> None:
        if self._gone or self._session is None:
            return
        self._session.job_finished(job, time.monotonic(), error)
        self._pump()

    def _release(self) -> None:
        """Free everything the socket held: queued jobs are cancelled, running ones are told to stop."""
        self._gone = True
        self._stop_jobs.set()
        for future in list(self._jobs):
            future.cancel()
        self._jobs.clear()
        close = getattr(self._session, "close", None)
        if callable(close):  # the core stops its timers and forgets its jobs
            with contextlib.suppress(Exception):
                close(time.monotonic())
        self._session = None
        while not self._outbox.empty():
            self._outbox.get_nowait()

    @property
    def pending_jobs(self) -> int:
        return len(self._jobs)


# --------------------------------------------------------------------------------------------------
# The server


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

    def factory(route: Route, now: float) -> SessionLike:
        # The model (Azure: deployment) the client asked for is what session.created reports.
        session_options = dataclasses.replace(base, model=route.session_model)
        return EngineSession(
            models, route.dialect, now=now, options=session_options, api_version=route.api_version
        )

    return factory


class EngineServer:
    """The engine's WebSocket server on the current event loop (see `runner.start_engine` for a thread).

    `token`: when set, every client must present it (see `check_credentials`); it is never logged.
    `options`: passed to `EngineOptions` for every session. `session_factory` replaces the default
    (shared `Models` + `EngineSession`) and exists for tests of the adapter alone.
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
    ) -> None:
        if token is not None and not token.strip():
            raise ValueError("token must be a non-empty string (or None for no auth)")
        if max_message_bytes < 16 * 2**20:
            raise ValueError(f"max_message_bytes={max_message_bytes} is below the 15 MiB an append may carry")
        if tick_interval <= 0:
            raise ValueError(f"tick_interval must be positive, got {tick_interval}")
        self._token = token
        self._options = dict(options or {})
        self._factory = session_factory
        self._uses_default_factory = False
        self.max_message_bytes = max_message_bytes
        self.tick_interval = tick_interval
        self.close_timeout = close_timeout
        self.executor = cf.ThreadPoolExecutor(
            max_workers=workers or min(4, (os.cpu_count() or 1) + 2), thread_name_prefix="engine-job"
        )
        self._server: Server | None = None
        self._connections: set[_Connection] = set()
        self._idle: asyncio.Event | None = None  # set while `idle` (made on the loop)
        self.jobs_in_flight = 0  # submitted to the pool and not yet settled, across all connections

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

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on host:port (0 = a free port). Raises OSError as the OS reports it (e.g. in use)."""
        self._server = await serve(
            self._handle,
            host,
            port,
            process_request=self._process_request,
            select_subprotocol=_select_subprotocol,
            max_size=self.max_message_bytes,
            # Base64 audio barely compresses and deflate costs CPU every real-time session shares.
            compression=None,
            close_timeout=self.close_timeout,
            logger=RedactingLogger(log, self._token),
        )

    @property
    def sockets(self) -> list[Any]:
        return list(self._server.sockets) if self._server is not None else []

    @property
    def port(self) -> int | None:
        sockets = self.sockets
        return sockets[0].getsockname()[1] if sockets else None

    def stats(self) -> dict[str, int]:
        """Live counters (call on the server's loop): open connections and jobs not yet fed back."""
        return {
            "connections": len(self._connections),
            "pending_jobs": sum(c.pending_jobs for c in self._connections),
            "jobs_in_flight": self.jobs_in_flight,
        }

    @property
    def idle(self) -> bool:
        """No connection open and no job still on a worker thread (one of a gone socket included)."""
        return not self._connections and self.jobs_in_flight == 0

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
        await self._idle.wait()

    async def stop(self) -> None:
        """Close every connection (1001 going away), stop listening, and drop queued jobs."""
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
            self._server = None
        self.executor.shutdown(wait=False, cancel_futures=True)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path in ("", "/"):
            return _respond(
                connection, HTTPStatus.OK, f"realtime_nb engine. Connect to {_HELP_URLS}\n", "text/plain"
            )
        route = route_request(request.path, request.headers)
        if isinstance(route, Refusal) and route.status == HTTPStatus.NOT_FOUND:
            return _respond(connection, route.status, route.body())
        if not check_credentials(self._token, request.path, request.headers):
            refusal = Refusal(
                HTTPStatus.UNAUTHORIZED,
                "invalid_api_key",
                "this engine needs its token: send 'Authorization: Bearer <token>', 'api-key: <token>' "
                "or ?api-key=<token>",
            )
            return _respond(connection, refusal.status, refusal.body())
        if isinstance(route, Refusal):
            return _respond(connection, route.status, route.body())
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        route = route_request(ws.request.path if ws.request else "", ws.request.headers if ws.request else {})
        if isinstance(route, Refusal):  # process_request already refused it; defensive only
            await ws.close(1008, _clip_reason(route.message))
            return
        connection = _Connection(self, ws, route)
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
            log.info("session closed")


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
