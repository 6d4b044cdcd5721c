"""Run the engine on its own event loop in a background thread: one line from a notebook.

The caller's event loop (a Jupyter kernel's, say) is never touched, so `start_engine()` works from
plain scripts, from `async` cells and from tests alike, and returns once the socket listens.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import errno
import ipaddress
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Literal

from realtime_nb.engine.calls import webrtc_calls
from realtime_nb.engine.server import CallRegistryLike, EngineServer, SessionFactory

__all__ = [
    "Engine",
    "EnginePortInUseError",
    "EngineStartError",
    "explain_start_error",
    "is_loopback",
    "preload_models",
    "start_engine",
]

log = logging.getLogger("realtime_nb.engine")

_START_TIMEOUT_S = 30.0
_running: weakref.WeakSet[Engine] = weakref.WeakSet()


class EngineStartError(OSError):
    """The engine could not start listening (the message says why)."""


class EnginePortInUseError(EngineStartError):
    """The port is taken, by another engine or any other program."""


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"  # a wildcard bind is reachable on loopback too
    return f"[{host}]" if ":" in host else host


class Engine:
    """A running local engine. Use `start_engine()` to make one.

    `url` (``ws://127.0.0.1:PORT``) is what `Endpoint.local` takes; `websocket_base_url` is what
    ``AsyncOpenAI(websocket_base_url=…)`` takes; `azure_websocket_base_url` the same for
    ``AsyncAzureOpenAI``. Stop it with `stop()` or use it as a context manager.
    """

    def __init__(
        self,
        server: EngineServer,
        loop: asyncio.AbstractEventLoop,
        thread: threading.Thread,
        host: str,
        port: int,
        started_in_s: float,
    ) -> None:
        self._server = server
        self._loop = loop
        self._thread = thread
        self.host = host
        self.port = port
        self.started_in_s = started_in_s
        self._stopped = False
        self._lock = threading.Lock()
        self._ready = threading.Event()  # models warm: a first turn pays no load time

    def _warm_in_background(self) -> None:
        def _warm() -> None:
            try:
                self._server.warm_up()
            except Exception:  # a missing optional model shows up again, clearly, in the session
                log.warning("engine warm-up failed; models load on first use", exc_info=True)
            finally:
                self._ready.set()

        threading.Thread(target=_warm, name="realtime-nb-engine-warm-up", daemon=True).start()

    def wait_ready(self, timeout: float | None = 60.0) -> bool:
        """Block until the models are loaded (see `start_engine(preload=…)`); False on timeout."""
        return self._ready.wait(timeout)

    @property
    def ready(self) -> bool:
        """True once the shared models are loaded and a session starts without delay."""
        return self._ready.is_set()

    @property
    def url(self) -> str:
        return f"ws://{_url_host(self.host)}:{self.port}"

    @property
    def http_url(self) -> str:
        """``http://127.0.0.1:PORT``: the base of the WebRTC endpoints (same port as `url`)."""
        return f"http://{_url_host(self.host)}:{self.port}"

    @property
    def websocket_base_url(self) -> str:
        """For ``AsyncOpenAI(websocket_base_url=…)`` (GA, or preview via ``.beta.realtime``)."""
        return f"{self.url}/v1"

    @property
    def azure_websocket_base_url(self) -> str:
        """For ``AsyncAzureOpenAI(websocket_base_url=…, api_version=…)`` (preview-style URL)."""
        return f"{self.url}/openai"

    @property
    def running(self) -> bool:
        return not self._stopped and self._thread.is_alive()

    def stats(self, timeout: float = 5.0) -> dict[str, int]:
        """Open connections and jobs not yet fed back, read on the engine's own loop."""
        if not self.running:
            return {"connections": 0, "pending_jobs": 0, "jobs_in_flight": 0, "tasks": 0}

        async def _collect() -> dict[str, int]:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            return {**self._server.stats(), "tasks": len(tasks)}

        return asyncio.run_coroutine_threadsafe(_collect(), self._loop).result(timeout)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every session has disconnected and been cleaned up and no worker still
        computes for one; False on timeout."""
        if not self.running:
            return True

        async def _wait() -> None:
            await asyncio.wait_for(self._server.wait_idle(), timeout)

        try:
            asyncio.run_coroutine_threadsafe(_wait(), self._loop).result(timeout + 1.0)
        except TimeoutError:
            return False
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Close every session (1001 going away), stop listening and end the thread. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        _running.discard(self)
        if self._thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop)
            try:
                future.result(timeout)
            except Exception:  # still end the thread; the error is logged for whoever cares
                log.exception("engine did not stop cleanly")
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        auth = "token" if self._server.requires_token else "open"
        return f"<Engine {self.url} {state} auth={auth}>"


def start_engine(
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    *,
    preload: bool | None = None,
    session_factory: SessionFactory | None = None,
    server_options: Mapping[str, Any] | None = None,
    allowed_origins: Iterable[str] | None = None,
    calls: CallRegistryLike | Callable[[EngineServer], CallRegistryLike] | Literal["auto"] | None = "auto",
    **options: Any,
) -> Engine:
    """Start the local engine in a background thread and return once it listens.

    `port=0` picks a free port (read it from `engine.port` / `engine.url`). `token`: clients must
    present it (``Authorization: Bearer``, ``api-key`` header or query). `preload`: None (default)
    loads the models on a background thread once listening (`engine.wait_ready()` waits for it);
    True loads them before returning; False leaves them to the first session. Other keyword
    `options` go to `EngineOptions` for each
    session; `server_options` to `EngineServer` (e.g. ``tick_interval``, ``workers``,
    ``max_message_bytes``, ``keys``, ``http_limits``). Models are shared by every engine in the process.

    WebRTC signalling is served on the same port (``http://HOST:PORT/v1/realtime/client_secrets``,
    ``…/calls``, and the other flows): `allowed_origins` are page origins trusted beside loopback
    ones (``["https://lab.example.org"]``); `calls` is the call registry that answers offers, or a
    factory ``(server) -> registry`` run on the engine's loop; "auto" (the default) is the engine's own
    `CallRegistry` when the ``webrtc`` extra is installed; None: calls answer 501.
    """
    started = time.perf_counter()
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an int in 0..65535 (0 = any free port), got {port!r}")
    if not is_loopback(host):
        log.warning(
            "engine listening on %s: reachable from other machines%s", host, "" if token else ", no token"
        )
    if calls == "auto":
        calls = webrtc_calls()
    server = EngineServer(
        token=token,
        options=options,
        session_factory=session_factory,
        allowed_origins=allowed_origins,
        calls=calls,
        **(server_options or {}),
    )
    server.prepare()  # bad options fail here, in the caller's thread, with their own message
    if preload:
        server.warm_up()

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []

    def _main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start(host, port))
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            _close_loop(loop)

    thread = threading.Thread(target=_main, name=f"realtime-nb-engine-{port or 'auto'}", daemon=True)
    thread.start()
    if not ready.wait(_START_TIMEOUT_S):
        raise EngineStartError(
            f"the engine did not start listening on {host}:{port} within {_START_TIMEOUT_S:.0f} s"
        )
    if failure:
        thread.join()
        server.executor.shutdown(wait=False, cancel_futures=True)
        raise explain_start_error(failure[0], host, port) from failure[0]
    bound = server.port
    assert bound is not None
    engine = Engine(server, loop, thread, host, bound, time.perf_counter() - started)
    _running.add(engine)
    if preload is None:
        engine._warm_in_background()
    else:
        engine._ready.set()
    log.info("engine listening on %s (started in %.2f s)", engine.url, engine.started_in_s)
    return engine


def preload_models() -> dict[str, float | Exception]:
    """Load every shared model now (what `--preload` does), so the first turn pays no load time.

    Returns model name -> load seconds, or the exception of an optional model that is missing.
    """
    from realtime_nb.engine.models import Models

    return Models.shared().preload()


def explain_start_error(exc: BaseException, host: str, port: int) -> BaseException:
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return EnginePortInUseError(
            errno.EADDRINUSE,
            f"port {port} on {host} is already in use (another engine or program listens there). "
            f"Pick another with start_engine(port=N) or `realtime-nb serve --port N`, "
            f"or port=0 for any free port",
        )
    if isinstance(exc, OSError):
        return EngineStartError(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    return exc


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    with contextlib.suppress(Exception):
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


@atexit.register
def _stop_all() -> None:
    # Interpreter exit: close sockets politely rather than letting the daemon thread vanish mid-frame.
    for engine in list(_running):
        with contextlib.suppress(Exception):
            engine.stop(timeout=2.0)
