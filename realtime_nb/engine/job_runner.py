"""One session's jobs on the engine's shared thread pool, their results handed back on the loop.

Both adapters use it: a WebSocket connection (``connection.py``) and a WebRTC call (``calls.py``).
The session stays single-threaded: a worker only iterates ``job.run()``; every value, the end and
any error go back through ``loop.call_soon_threadsafe`` to the ``output`` / ``finished`` callbacks,
which feed the session on the loop thread.

After each pump the adapter calls :meth:`JobRunner.review` with the session, which asks it about
every job still out:

* ``job_is_live(job)`` False: nobody wants the output (a cancelled response); the worker stops at
  its next value and the job is reported finished.
* ``job_is_held(job)`` True (WebRTC playout is far enough ahead): the worker *parks* the job before
  computing its next value and returns to the pool, keeping the iterator; a later review that finds
  it no longer held submits it again. A paused synthesis therefore never occupies a worker, so eight
  calls' paused replies cannot starve everyone else's transcription.

Both checks are optional (sessions without them are never stopped or paused early).
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger("realtime_nb.engine")

_PARK = object()  # the worker's answer when the job is held: keep its iterator for later


class JobRunner:
    """Runs one session's jobs (see the module docstring). Create and call it on the loop thread.

    ``output(job, value)`` / ``finished(job, error)`` are called on the loop; ``on_submit`` /
    ``on_settle`` count work handed to the pool (the server's idle accounting).
    """

    def __init__(
        self,
        executor: cf.Executor,
        loop: asyncio.AbstractEventLoop,
        *,
        output: Callable[[Any, Any], None],
        finished: Callable[[Any, BaseException | None], None],
        on_submit: Callable[[], None] | None = None,
        on_settle: Callable[[], None] | None = None,
    ) -> None:
        self._executor = executor
        self._loop = loop
        self._output = output
        self._finished = finished
        self._on_submit = on_submit
        self._on_settle = on_settle
        self._futures: dict[cf.Future[Any], Any] = {}
        self._parked: dict[str, tuple[Any, Iterator[Any]]] = {}  # job id -> (job, its iterator)
        # Written on the loop, read by workers (set membership tests are atomic).
        self._unwanted: set[str] = set()
        self._held: set[str] = set()
        self._stop = threading.Event()  # the session is gone: workers stop at once
        self._gone = False

    @property
    def pending(self) -> int:
        """Jobs not yet finished: on a worker, queued for one, or parked."""
        return len(self._futures) + len(self._parked)

    def submit(self, job: Any, iterator: Iterator[Any] | None = None) -> None:
        """Hand ``job`` to the pool (``iterator``: continue a parked one)."""
        if self._gone:
            return
        future = self._executor.submit(self._drive, job, iterator)
        self._futures[future] = job
        if self._on_submit is not None:
            self._on_submit()
        future.add_done_callback(self._settled_threadsafe)

    def review(self, session: Any) -> None:
        """After the session changed: mark unwanted and held jobs, resume parked ones no longer held."""
        is_live = getattr(session, "job_is_live", None)
        is_held = getattr(session, "job_is_held", None)
        if is_live is None and is_held is None:
            return
        for job in [*self._futures.values(), *(job for job, _ in self._parked.values())]:
            if is_live is not None and not is_live(job):
                self._unwanted.add(job.id)
            if is_held is not None:
                if is_held(job):
                    self._held.add(job.id)
                else:
                    self._held.discard(job.id)
        for job_id, (job, iterator) in list(self._parked.items()):
            if job_id in self._unwanted:
                del self._parked[job_id]
                _close(iterator)
                self._finished(job, None)
            elif job_id not in self._held:
                del self._parked[job_id]
                self.submit(job, iterator)

    def release(self) -> None:
        """The session is gone: queued jobs are cancelled, running ones stop at their next value."""
        self._gone = True
        self._stop.set()
        for future in list(self._futures):
            future.cancel()
        for _, iterator in self._parked.values():
            _close(iterator)
        self._parked.clear()

    # --- worker thread ------------------------------------------------------------------------------

    def _drive(self, job: Any, iterator: Iterator[Any] | None) -> None:
        """Iterate the job, handing each value back to the loop as it comes (streaming)."""
        error: BaseException | None = None
        parked = False
        try:
            if iterator is None:
                iterator = job.run()
            try:
                while True:
                    if self._stop.is_set():  # session gone: stop computing for nobody
                        return
                    if job.id in self._unwanted:  # e.g. its response was cancelled: say it ended
                        break
                    if job.id in self._held:  # before computing more: park, free the worker
                        parked = True
                        self._to_loop(self._park, job, iterator)
                        return
                    try:
                        value = next(iterator)
                    except StopIteration:
                        break
                    self._to_loop(self._output_on_loop, job, value)
            finally:
                if not parked and iterator is not None:
                    _close(iterator)
        except Exception as exc:  # the session reports it (failed transcription / response)
            log.warning("engine job %r failed: %s", job, exc, exc_info=True)
            error = exc
        if not self._stop.is_set():
            self._to_loop(self._finished_on_loop, job, error)

    def _to_loop(self, callback: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # loop already closed at engine shutdown
            self._loop.call_soon_threadsafe(callback, *args)

    def _settled_threadsafe(self, future: cf.Future[Any]) -> None:
        self._to_loop(self._settled, future)

    # --- loop thread --------------------------------------------------------------------------------

    def _settled(self, future: cf.Future[Any]) -> None:
        job = self._futures.pop(future, None)
        out = job is not None and job.id not in self._parked
        if out and all(other.id != job.id for other in self._futures.values()):  # not resumed either
            self._unwanted.discard(job.id)
            self._held.discard(job.id)
        if self._on_settle is not None:
            self._on_settle()

    def _park(self, job: Any, iterator: Iterator[Any]) -> None:
        if self._gone:
            _close(iterator)
        elif job.id in self._held:
            self._parked[job.id] = (job, iterator)
        else:  # released while the worker was parking it
            self.submit(job, iterator)

    def _output_on_loop(self, job: Any, value: Any) -> None:
        if not self._gone:
            self._output(job, value)

    def _finished_on_loop(self, job: Any, error: BaseException | None) -> None:
        if not self._gone:
            self._finished(job, error)


def _close(iterator: Iterator[Any]) -> None:
    close = getattr(iterator, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()
