"""The engine's worker pool: lanes by kind of work, round robin between sessions inside a lane.

One plain thread pool is first come, first served: while four sessions stream long replies, a new
session's setup and everyone's transcriptions queue behind their synthesis (measured: 54 s to
``session.created``). :class:`FairPool` is a `concurrent.futures.Executor` with three lanes:

* ``Lane.SETUP``: building a session (fast once the models are warm, but a client waits on it);
* ``Lane.SHORT``: transcription, the responder, anything submitted without a lane;
* ``Lane.LONG``: speech synthesis, which streams for as long as the reply lasts.

A free worker takes the highest lane with work, and inside a lane the owner (a session) whose turn
it is, so one session's queued jobs cannot starve another's. ``reserved`` extra workers take only
SETUP and SHORT work, so those never wait for a synthesis step to end, even with every general
worker busy. Long work is cut into steps: a function may return :data:`AGAIN` to be queued again
behind the others of its lane (its future stays pending), which is how a synthesis job hands its
worker back, once its slice is used up, when another session's work waits (``others_waiting``;
see ``job_runner``).
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable
from enum import IntEnum
from typing import Any

__all__ = ["AGAIN", "FairPool", "Lane"]

AGAIN: Any = object()  # a work function's answer: queue me again, I am not finished


class Lane(IntEnum):
    """Priority order: a lower value is served first."""

    SETUP = 0
    SHORT = 1
    LONG = 2


_ANY_LANE = tuple(Lane)
_RESERVED_LANES = (Lane.SETUP, Lane.SHORT)


class _Work:
    __slots__ = ("args", "fn", "future", "kwargs", "lane", "owner", "started")

    def __init__(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], lane: Lane, owner: object
    ) -> None:
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.lane, self.owner = lane, owner
        self.future: cf.Future[Any] = cf.Future()
        self.started = False  # set_running_or_notify_cancel was called (a step already ran)


class FairPool(cf.Executor):
    """``workers`` threads for every lane plus ``reserved`` for SETUP and SHORT only (see the module
    docstring). Threads start on the first submit, each running ``initializer`` first.
    ``submit(fn, *args, lane=…, owner=…)``."""

    def __init__(
        self,
        workers: int,
        *,
        reserved: int = 1,
        thread_name_prefix: str = "engine-job",
        initializer: Callable[[], None] | None = None,
    ) -> None:
        if workers < 1 or reserved < 0:
            raise ValueError(f"need workers >= 1 and reserved >= 0, got {workers} and {reserved}")
        self.workers = workers
        self.reserved = reserved
        self._initializer = initializer  # run first on each worker thread (e.g. priority.yield_to_loop)
        self._prefix = thread_name_prefix
        self._lock = threading.Condition()
        # lane -> owner -> that owner's queued work, owners in turn order
        self._queues: dict[Lane, OrderedDict[object, deque[_Work]]] = {lane: OrderedDict() for lane in Lane}
        self._threads: list[threading.Thread] = []
        self._shutdown = False
        _POOLS.add(self)

    # --- Executor -----------------------------------------------------------------------------------

    def submit(  # type: ignore[override]
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        lane: Lane = Lane.SHORT,
        owner: object = None,
        **kwargs: Any,
    ) -> cf.Future[Any]:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new work after shutdown")
            work = _Work(fn, args, kwargs, Lane(lane), owner)
            self._enqueue(work)
            self._start_threads()
            self._lock.notify_all()
        return work.future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                for lane in Lane:
                    for queue in self._queues[lane].values():
                        for work in queue:
                            _cancel(work)
                    self._queues[lane].clear()
            self._lock.notify_all()
            threads = list(self._threads)
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()

    # --- reading ------------------------------------------------------------------------------------

    def queued(self, lane: Lane | None = None) -> int:
        """Work waiting for a worker (in ``lane``, or in all)."""
        with self._lock:
            lanes = Lane if lane is None else (lane,)
            return sum(len(q) for ln in lanes for q in self._queues[ln].values())

    def others_waiting(self, lane: Lane, owner: object) -> bool:
        """Whether work of another owner waits in ``lane`` or a lane served before it: the only time a
        job between two steps should hand its worker back (``JobRunner``'s slicing asks this)."""
        with self._lock:
            return any(
                other is not owner and queue
                for ln in Lane
                if ln <= lane
                for other, queue in self._queues[ln].items()
            )

    @property
    def threads(self) -> int:
        return sum(t.is_alive() for t in self._threads)

    # --- internals ----------------------------------------------------------------------------------

    def _enqueue(self, work: _Work) -> None:
        owners = self._queues[work.lane]
        queue = owners.get(work.owner)
        if queue is None:
            owners[work.owner] = queue = deque()  # a new owner joins at the back of the turn order
        queue.append(work)

    def _start_threads(self) -> None:
        if self._threads:
            return
        for i in range(self.workers + self.reserved):
            lanes = _ANY_LANE if i < self.workers else _RESERVED_LANES
            kind = "" if i < self.workers else "-reserved"
            thread = threading.Thread(
                target=self._worker, args=(lanes,), name=f"{self._prefix}{kind}-{i}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _take(self, lanes: tuple[Lane, ...]) -> _Work | None:
        """The next work for a worker serving ``lanes`` (lock held): highest lane, owner in turn."""
        for lane in lanes:
            owners = self._queues[lane]
            while owners:
                owner, queue = next(iter(owners.items()))
                work = queue.popleft()
                if queue:
                    owners.move_to_end(owner)  # its next job waits for everyone else's turn
                else:
                    del owners[owner]
                return work
        return None

    def _worker(self, lanes: tuple[Lane, ...]) -> None:
        if self._initializer is not None:
            self._initializer()
        while True:
            with self._lock:
                work = self._take(lanes)
                while work is None:
                    if self._shutdown:
                        return
                    self._lock.wait()
                    work = self._take(lanes)
            self._run(work)

    def _run(self, work: _Work) -> None:
        if not work.started:
            if not work.future.set_running_or_notify_cancel():
                return  # cancelled while queued
            work.started = True
        try:
            result = work.fn(*work.args, **work.kwargs)
        except BaseException as exc:
            work.future.set_exception(exc)
            return
        if result is AGAIN:
            with self._lock:
                if self._shutdown:
                    _cancel(work)
                    return
                self._enqueue(work)
                self._lock.notify()
            return
        work.future.set_result(result)


# Every pool of the process, for the drain at exit (weakly: a pool nobody holds is already gone).
_POOLS: weakref.WeakSet[FairPool] = weakref.WeakSet()
EXIT_DRAIN_S = 5.0  # how long interpreter exit waits for work already on a worker


@atexit.register
def _drain_at_exit() -> None:
    """Let work already on a worker end before the interpreter finalizes.

    Workers are daemon threads, and a model step (CTranslate2, ONNX Runtime) runs without the GIL:
    left running, it is still inside the runtime while the process destroys that runtime's own
    thread pools, and the C++ runtime aborts the process ("terminate called without an active
    exception"), seen at the end of a full test run. Engines stop first (their atexit hook is
    registered later, so it runs earlier), which tells their jobs to stop at the next value; queued
    work is cancelled here, and running work gets ``EXIT_DRAIN_S`` in all to finish.
    """
    pools = list(_POOLS)
    for pool in pools:
        pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + EXIT_DRAIN_S
    for pool in pools:
        for thread in list(pool._threads):
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))


def _cancel(work: _Work) -> None:
    if work.started:  # a step already ran: the future is running and can only be failed
        work.future.set_exception(cf.CancelledError())
    else:
        work.future.cancel()
