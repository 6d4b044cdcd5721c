"""One socket's connection loop: frames into an `EngineSession`, its events and jobs out.

All session calls happen on the event loop thread: frames as they arrive (stamped with
`time.monotonic()`), a timer's `tick()`, and job results, which workers of the server's shared pool
hand back through the loop (`job_runner.JobRunner`, shared with the WebRTC calls, so one session's
transcription or synthesis never stalls another's audio). Events leave in order through one writer
task; a session that ended gets its socket closed after everything before the close was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from realtime_nb.engine.handshake import Route
from realtime_nb.engine.job_runner import JobRunner

if TYPE_CHECKING:
    from realtime_nb.engine.server import EngineServer

log = logging.getLogger("realtime_nb.engine")

_MAX_CLOSE_REASON_BYTES = 123  # RFC 6455: a close reason fits in a 125-byte control frame


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
    # Optional: ``job_is_held(job) -> bool``; True parks the job until it is False (see JobRunner).


SessionFactory = Callable[[Route, float], SessionLike]


class _Close:
    """Queue marker: close the socket once everything before it has been sent."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


def clip_reason(reason: str) -> str:
    data = reason.encode()[:_MAX_CLOSE_REASON_BYTES]
    return data.decode(errors="ignore")


class Connection:
    """Drives one `EngineSession` from one socket. All session calls happen on the event loop thread."""

    def __init__(self, server: EngineServer, ws: ServerConnection, route: Route) -> None:
        self._server = server
        self._ws = ws
        self._route = route
        self._loop = asyncio.get_running_loop()
        self._outbox: asyncio.Queue[str | _Close] = asyncio.Queue()
        self._closing = False  # a _Close has been queued
        self._gone = False  # socket finished: late job results are dropped
        self._jobs = JobRunner(
            server.executor,
            self._loop,
            output=self._job_output,
            finished=self._job_finished,
            on_submit=server.job_submitted,
            on_settle=server.job_done,
        )
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
            self._jobs.submit(job)
        self._jobs.review(session)
        if session.closed and not self._closing:
            self._closing = True
            reason = session.close_reason or "session closed"
            log.info("closing session socket: %s", reason)
            self._outbox.put_nowait(_Close(1000, clip_reason(reason)))

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
        self._jobs.release()
        close = getattr(self._session, "close", None)
        if callable(close):  # the core stops its timers and forgets its jobs
            with contextlib.suppress(Exception):
                close(time.monotonic())
        self._session = None
        while not self._outbox.empty():
            self._outbox.get_nowait()

    @property
    def pending_jobs(self) -> int:
        return self._jobs.pending
