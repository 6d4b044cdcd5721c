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

Both checks are optional (sessions without them are never stopped or paused early). The adapter
may add a hold of its own (``hold``): a WebSocket connection holds synthesis while its outbox is
full, so speech is made only a bounded distance ahead of what the socket has taken.

On the engine's :class:`~realtime_nb.engine.scheduler.FairPool` a job runs in the lane of its kind
(synthesis LONG, the rest SHORT), with this runner as the owner the pool takes turns between; a
parked job that resumes joins the back of its lane. ``slice_s`` bounds a job's turn: once it has
run that long, it hands its worker back after its current value *if another session's work is
waiting* (``FairPool.others_waiting``), and is queued again behind it. Without slicing, a reply
that cannot get ahead of real time (a loaded machine, so it never parks) kept its worker for the
whole answer, and a fifth session's synthesis waited for one of four long answers to end (measured:
none of its replies done in 180 s). The condition matters too: slicing unconditionally moved every
synthesis between worker threads chunk by chunk, which made the engine's memory grow (+15 MB/min
in a soak of two real-time sessions, against +4 without); a job nobody waits behind stays on its
thread.

A worker also waits while ``IN_TRANSIT`` values of its session are on their way to the loop: a job
faster than the loop (or a loop busy with others) cannot pile values up in the loop's queue, where
no hold could see them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from realtime_nb.engine.jobs import JobKind
from realtime_nb.engine.scheduler import AGAIN, FairPool, Lane

log = logging.getLogger("realtime_nb.engine")

IN_TRANSIT = 4  # values of one session a worker may have handed to the loop that it has not fed yet
DEFAULT_SLICE_S: float | None = 0.5  # a job's turn on a FairPool worker while others wait (None: whole job)


class _Driving:
    """A job and its iterator, carried from one step on a worker to the next."""

    __slots__ = ("iterator", "job")

    def __init__(self, job: Any, iterator: Iterator[Any] | None) -> None:
        self.job = job
        self.iterator = iterator


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
        hold: Callable[[Any], bool] | None = None,
        slice_s: float | None = DEFAULT_SLICE_S,
    ) -> None:
        self._executor = executor
        self._hold = hold
        self._slice_s = slice_s
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
        self._transit = threading.Semaphore(IN_TRANSIT)  # released as the loop feeds each value
        self._gone = False

    @property
    def pending(self) -> int:
        """Jobs not yet finished: on a worker, queued for one, or parked."""
        return len(self._futures) + len(self._parked)

    def submit(self, job: Any, iterator: Iterator[Any] | None = None) -> None:
        """Hand ``job`` to the pool (``iterator``: continue a parked one)."""
        if self._gone:
            return
        driving = _Driving(job, iterator)
        if isinstance(self._executor, FairPool):
            lane = Lane.LONG if getattr(job, "kind", None) is JobKind.SYNTHESIZE else Lane.SHORT
            sliced = lane if self._slice_s is not None else None
            future = self._executor.submit(self._drive, driving, sliced, lane=lane, owner=self)
        else:
            future = self._executor.submit(self._drive, driving, None)
        self._futures[future] = job
        if self._on_submit is not None:
            self._on_submit()
        future.add_done_callback(self._settled_threadsafe)

    def review(self, session: Any) -> None:
        """After the session changed: mark unwanted and held jobs, resume parked ones no longer held."""
        is_live = getattr(session, "job_is_live", None)
        session_held = getattr(session, "job_is_held", None)
        is_held = _either(session_held, self._hold)
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

    def _drive(self, driving: _Driving, sliced: Lane | None) -> Any:
        """Iterate the job, handing each value back to the loop as it comes (streaming). ``sliced``
        (its lane on a FairPool): after ``slice_s``, while another session's work waits, return AGAIN,
        keeping the iterator, to be queued again."""
        job = driving.job
        error: BaseException | None = None
        keep = False  # the iterator lives on (parked, or queued again)
        deadline = time.monotonic() + (self._slice_s or 0.0)
        produced = False  # a step computes at least one value, so a job always progresses
        try:
            if driving.iterator is None:
                driving.iterator = job.run()
            try:
                while True:
                    if self._stop.is_set():  # session gone: stop computing for nobody
                        return None
                    if job.id in self._unwanted:  # e.g. its response was cancelled: say it ended
                        break
                    if job.id in self._held:  # before computing more: park, free the worker
                        keep = True
                        self._to_loop(self._park, job, driving.iterator)
                        return None
                    if produced and self._turn_is_up(sliced, deadline):
                        keep = True  # others' turn now
                        return AGAIN
                    try:
                        value = next(driving.iterator)
                    except StopIteration:
                        break
                    produced = True
                    while not self._transit.acquire(timeout=0.1):
                        if self._stop.is_set():
                            return None
                    self._to_loop(self._output_on_loop, job, value)
            finally:
                if not keep and driving.iterator is not None:
                    _close(driving.iterator)
        except Exception as exc:  # the session reports it (failed transcription / response)
            log.warning("engine job %r failed: %s", job, exc, exc_info=True)
            error = exc
        if not self._stop.is_set():
            self._to_loop(self._finished_on_loop, job, error)
        return None

    def _turn_is_up(self, lane: Lane | None, deadline: float) -> bool:
        """Slicing is on, this step has used its slice, and another session's work waits."""
        return (
            lane is not None
            and time.monotonic() >= deadline
            and isinstance(self._executor, FairPool)
            and self._executor.others_waiting(lane, self)
        )

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
        self._transit.release()
        if not self._gone:
            self._output(job, value)

    def _finished_on_loop(self, job: Any, error: BaseException | None) -> None:
        if not self._gone:
            self._finished(job, error)


def _either(
    first: Callable[[Any], bool] | None, second: Callable[[Any], bool] | None
) -> Callable[[Any], bool] | None:
    if first is None or second is None:
        return first or second
    return lambda job: first(job) or second(job)


def _close(iterator: Iterator[Any]) -> None:
    close = getattr(iterator, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()
