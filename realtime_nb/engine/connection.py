"""One socket's connection loop: frames into an `EngineSession`, its events and jobs out.

Session calls happen one at a time: frames as they arrive (stamped with `time.monotonic()`), a
timer's `tick()`, and job results, which workers of the server's shared pool hand back through the
loop (`job_runner.JobRunner`, shared with the WebRTC calls, so one session's transcription or
synthesis never stalls another's audio). A frame of ``offload_bytes`` or more (a big append: its
UTF-8 and JSON decoding, resampling and VAD take seconds) is handed to the session on a worker
thread instead (text frames are received as bytes, so even their UTF-8 is decoded there); until
it returns the loop leaves the session alone (ticks wait, job results are kept and delivered after,
in order), and the next frame is read only then, so decisions and events are the same as inline.

Events leave in order through one writer task, via a bounded `outbox.Outbox`: synthesis pauses while
the outbox is full, a reader too far behind is disconnected (1008 and the reason), and the keepalive
ping times out a silent peer even when its frames cannot be written. A session that ended gets its
socket closed after everything before the close was sent.
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

from realtime_nb.engine import big_frames
from realtime_nb.engine.handshake import Route
from realtime_nb.engine.job_runner import JobRunner
from realtime_nb.engine.jobs import JobKind
from realtime_nb.engine.outbox import SLOW_READER_CLOSE_CODE, Outbox
from realtime_nb.engine.scheduler import FairPool, Lane

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
    """Drives one `EngineSession` from one socket (see the module docstring)."""

    def __init__(self, server: EngineServer, ws: ServerConnection, route: Route) -> None:
        self._server = server
        self._ws = ws
        self._route = route
        self._loop = asyncio.get_running_loop()
        self._limits = server.backpressure
        self._outbox = Outbox(self._limits)
        self._closing = False  # a _Close has been queued
        self._gone = False  # socket finished: late job results are dropped
        self._busy = False  # the session is being fed a big frame on a worker thread
        self._deferred: list[tuple[Callable[..., None], tuple[Any, ...]]] = []  # results held meanwhile
        self._jobs = JobRunner(
            server.executor,
            self._loop,
            output=self._job_output,
            finished=self._job_finished,
            on_submit=server.job_submitted,
            on_settle=server.job_done,
            hold=self._hold,
        )
        self._session: SessionLike | None = None
        self.dropped: str | None = None  # why the engine disconnected a slow or silent peer

    async def run(self) -> None:
        # A session's construction may load models or synthesize its first phrase (seconds, once per
        # process): build it off the loop, in the pool's setup lane, which never waits behind
        # other sessions' synthesis or transcription.
        now = time.monotonic()
        executor = self._server.executor
        if isinstance(executor, FairPool):
            future = executor.submit(self._server.session_factory, self._route, now, lane=Lane.SETUP)
            self._session = await asyncio.wrap_future(future)
        else:
            self._session = await self._loop.run_in_executor(
                executor, self._server.session_factory, self._route, now
            )
        self._pump()
        tasks = [
            asyncio.create_task(self._write_loop(), name="engine-writer"),
            asyncio.create_task(self._tick_loop(), name="engine-ticker"),
        ]
        if self._limits.ping_interval_s is not None:
            tasks.append(asyncio.create_task(self._keepalive(), name="engine-keepalive"))
        try:
            await self._read_loop()
            if self._closing and self.dropped is None:  # let the writer finish the close it started
                with contextlib.suppress(asyncio.TimeoutError, ConnectionClosed):
                    await asyncio.wait_for(asyncio.shield(tasks[0]), self._server.close_timeout)
        finally:
            self._release()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _read_loop(self) -> None:
        ws = self._ws
        while True:
            try:
                message, is_text = await self._next_message()
            except ConnectionClosed:
                return
            now = time.monotonic()
            session = self._session
            if session is None or self._closing:
                continue  # the session has ended; frames racing the close are dropped
            receive = self._receive_text if is_text else session.receive_bytes
            try:
                if len(message) >= self._limits.offload_bytes:
                    await self._off_loop(receive, message, now)
                else:
                    receive(message, now)  # type: ignore[arg-type]
            except UnicodeDecodeError as exc:  # what websockets does with a text frame that is not UTF-8
                with contextlib.suppress(ConnectionClosed):
                    await ws.close(1007, clip_reason(f"{exc.reason} at position {exc.start}"))
                return
            self._pump()

    async def _next_message(self) -> tuple[str | bytes, bool]:
        """The next message and whether it came as text. A session socket (`FrontDoorConnection`
        noting message kinds) gives text frames undecoded: a big one is decoded with the rest of its
        handling off the loop (`big_frames.utf8`), not in one call on the loop every session shares."""
        kinds = getattr(self._ws, "message_kinds", None)
        if kinds is None:
            message = await self._ws.recv()
            return message, isinstance(message, str)
        data = await self._ws.recv(decode=False)
        return data, kinds.popleft()

    def _receive_text(self, message: str | bytes, now: float) -> None:
        assert self._session is not None
        text = message if isinstance(message, str) else big_frames.utf8(message)
        self._session.receive_text(text, now)

    async def _off_loop(
        self, receive: Callable[[Any, float], None], message: str | bytes, now: float
    ) -> None:
        """Feed one big frame on a worker thread; job results arriving meanwhile wait, in order."""
        self._busy = True
        try:
            await self._loop.run_in_executor(self._server.input_executor, receive, message, now)
        finally:
            self._busy = False
            deferred, self._deferred = self._deferred, []
            for callback, args in deferred:
                callback(*args)

    async def _write_loop(self) -> None:
        ws = self._ws
        outbox = self._outbox
        while True:
            item = await outbox.take()
            if isinstance(item, _Close):
                await ws.close(item.code, item.reason)
                return
            try:
                await ws.send(item)
            except ConnectionClosed:
                return
            was_full = outbox.full
            outbox.sent()
            if was_full and not outbox.full:  # synthesis parked on a full outbox may go on
                self._pump()

    async def _tick_loop(self) -> None:
        interval = self._server.tick_interval
        while True:
            await asyncio.sleep(interval)
            if self._session is None or self._closing:
                return
            now = time.monotonic()
            reason = self._outbox.overdue(now)
            if reason is not None:
                await self._drop(SLOW_READER_CLOSE_CODE, reason)
                return
            if self._busy:
                continue
            self._session.tick(now)
            self._pump()

    async def _keepalive(self) -> None:
        """Ping every ``ping_interval_s``; no pong within ``ping_timeout_s`` (the time to write the
        ping counted) drops the peer. websockets' own keepalive waits for the write unboundedly."""
        limits = self._limits
        assert limits.ping_interval_s is not None
        while True:
            await asyncio.sleep(limits.ping_interval_s)
            try:
                async with asyncio.timeout(limits.ping_timeout_s):
                    pong = await self._ws.ping()
                    await pong
            except TimeoutError:
                # A peer that answers nothing will not complete a close handshake either.
                await self._drop(1011, "keepalive ping timeout", grace_s=1.0)
                return
            except ConnectionClosed:
                return

    async def _drop(self, code: int, reason: str, grace_s: float | None = None) -> None:
        """Disconnect a peer that fell behind or stopped answering: the close frame goes out behind
        what the socket already holds (a slow reader still reads it); a peer that has not completed
        the close within ``grace_s`` (default: the server's ``close_timeout``) has its TCP
        connection cut."""
        if self.dropped is not None or self._gone:
            return
        self.dropped = reason
        self._closing = True
        log.warning("disconnecting a client: %s", reason)
        self._outbox.clear()
        self._jobs.release()  # nothing more is computed for it
        ws = self._ws
        closing = asyncio.create_task(ws.close(code, clip_reason(reason)), name="engine-drop")
        try:
            await asyncio.wait_for(ws.wait_closed(), grace_s or self._server.close_timeout)
        except TimeoutError:
            transport = ws.transport
            if transport is not None:
                transport.abort()
        finally:
            closing.cancel()
            await asyncio.gather(closing, return_exceptions=True)

    def _hold(self, job: Any) -> bool:
        """Synthesis waits while the outbox is full (see `outbox`)."""
        return getattr(job, "kind", None) is JobKind.SYNTHESIZE and self._outbox.full

    def _pump(self) -> None:
        """Move what the session produced: events to the writer, jobs to the pool, a close if it ended."""
        session = self._session
        if session is None or self._busy or self.dropped is not None:
            return
        now = time.monotonic()
        for event in session.events_to_send():
            text = json.dumps(event, separators=(",", ":"))
            self._outbox.put(text, len(text), now)
        for job in session.jobs_to_run():
            self._jobs.submit(job)
        self._jobs.review(session)
        if session.closed and not self._closing:
            self._closing = True
            reason = session.close_reason or "session closed"
            log.info("closing session socket: %s", reason)
            self._outbox.put(_Close(1000, clip_reason(reason)), 0, now)

    def _job_output(self, job: Any, value: Any) -> None:
        if self._gone or self._session is None:
            return
        if self._busy:
            self._deferred.append((self._job_output, (job, value)))
            return
        self._session.job_output(job, value, time.monotonic())
        self._pump()

    def _job_finished(self, job: Any, error: BaseException | None) -> None:
        if self._gone or self._session is None:
            return
        if self._busy:
            self._deferred.append((self._job_finished, (job, error)))
            return
        self._session.job_finished(job, time.monotonic(), error)
        self._pump()

    def _release(self) -> None:
        """Free everything the socket held: queued jobs are cancelled, running ones are told to stop."""
        self._gone = True
        self._jobs.release()
        self._deferred.clear()
        close = getattr(self._session, "close", None)
        if callable(close):  # the core stops its timers and forgets its jobs
            with contextlib.suppress(Exception):
                close(time.monotonic())
        self._session = None
        self._outbox.clear()

    @property
    def pending_jobs(self) -> int:
        return self._jobs.pending

    @property
    def unsent_bytes(self) -> int:
        return self._outbox.unsent_bytes
