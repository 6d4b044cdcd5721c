"""JobRunner: streaming job values back to the loop, stopping unwanted jobs, parking held ones.

A real event loop and a real one-worker pool, so "a parked job frees its worker" is observable: a
second job can only run while the first is parked. Every test runs on a plain thread pool and on the
engine's FairPool (lanes, turns between sessions; slices where a test asks for them).
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import threading
import time
from typing import Any

import pytest

from realtime_nb.engine.job_runner import JobRunner
from realtime_nb.engine.jobs import Job, JobKind
from realtime_nb.engine.scheduler import FairPool

TIMEOUT = 5.0


class Session:
    """The two optional questions the runner asks, answered from sets the test controls."""

    def __init__(self) -> None:
        self.held: set[str] = set()
        self.dead: set[str] = set()

    def job_is_held(self, job: Job) -> bool:
        return job.id in self.held

    def job_is_live(self, job: Job) -> bool:
        return job.id not in self.dead


class Recorder:
    def __init__(self) -> None:
        self.values: list[tuple[str, Any]] = []
        self.finished: list[tuple[str, BaseException | None]] = []
        self.changed = asyncio.Event()

    def output(self, job: Job, value: Any) -> None:
        self.values.append((job.owner, value))
        self.changed.set()

    def done(self, job: Job, error: BaseException | None) -> None:
        self.finished.append((job.owner, error))
        self.changed.set()

    async def until(self, predicate) -> None:
        async def wait() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), TIMEOUT)


@pytest.fixture(params=["thread-pool", "fair-pool"])
def pool(request):
    executor: cf.Executor = (
        cf.ThreadPoolExecutor(max_workers=1) if request.param == "thread-pool" else FairPool(1, reserved=0)
    )
    yield executor
    executor.shutdown(wait=True, cancel_futures=True)


def _runner(pool: cf.Executor, rec: Recorder, **kwargs: Any) -> tuple[JobRunner, list[int]]:
    counts = [0, 0]

    def submitted() -> None:
        counts[0] += 1

    def settled() -> None:
        counts[1] += 1

    runner = JobRunner(
        pool,
        asyncio.get_running_loop(),
        output=rec.output,
        finished=rec.done,
        on_submit=submitted,
        on_settle=settled,
        **kwargs,
    )
    return runner, counts


async def test_values_stream_back_in_order_and_errors_are_reported(pool):
    rec = Recorder()
    runner, counts = _runner(pool, rec)

    def failing():
        yield 1
        raise ValueError("boom")

    runner.submit(Job(JobKind.SYNTHESIZE, "a", lambda: iter(range(3))))
    runner.submit(Job(JobKind.RESPOND, "b", failing))
    await rec.until(lambda: len(rec.finished) == 2)
    # each job's values in order (on a FairPool a slow step may let the short job in between)
    assert [v for owner, v in rec.values if owner == "a"] == [0, 1, 2]
    assert [v for owner, v in rec.values if owner == "b"] == [1]
    finished = dict(rec.finished)  # the short job may overtake the synthesis on a FairPool
    assert finished["a"] is None and isinstance(finished["b"], ValueError)
    await asyncio.sleep(0.05)
    assert runner.pending == 0 and counts == [2, 2]


async def test_a_held_job_parks_off_the_worker_and_resumes(pool):
    rec = Recorder()
    session = Session()
    runner, counts = _runner(pool, rec)
    computed: list[int] = []
    first = threading.Event()  # the first sentence takes until the session has looked at it
    inside = threading.Event()  # the worker is computing the first sentence

    def sentences():
        for i in range(4):
            inside.set()
            first.wait(TIMEOUT)
            computed.append(i)
            yield i

    synth = Job(JobKind.SYNTHESIZE, "synth", sentences)
    runner.submit(synth)
    assert await asyncio.to_thread(inside.wait, TIMEOUT)
    session.held.add(synth.id)  # playout is far ahead now: no more sentences for a while
    runner.review(session)
    first.set()
    await rec.until(lambda: rec.values == [("synth", 0)])
    await asyncio.sleep(0.1)
    assert computed == [0] and runner.pending == 1  # parked before computing the next one
    # the only worker is free: another job runs to completion meanwhile
    runner.submit(Job(JobKind.TRANSCRIBE, "other", lambda: iter(["text"])))
    await rec.until(lambda: ("other", None) in rec.finished)
    assert computed == [0]
    session.held.clear()  # the track pulled enough: resume where it stopped
    runner.review(session)
    await rec.until(lambda: ("synth", None) in rec.finished)
    assert computed == [0, 1, 2, 3]
    assert [v for owner, v in rec.values if owner == "synth"] == [0, 1, 2, 3]
    await asyncio.sleep(0.05)
    assert runner.pending == 0 and counts[0] == counts[1]


async def test_an_unwanted_parked_job_is_closed_and_reported_finished(pool):
    rec = Recorder()
    session = Session()
    runner, _ = _runner(pool, rec)
    closed = []
    first = threading.Event()
    inside = threading.Event()

    def sentences():
        try:
            for i in range(100):
                inside.set()
                first.wait(TIMEOUT)
                yield i
        finally:
            closed.append(True)

    synth = Job(JobKind.SYNTHESIZE, "synth", sentences)
    runner.submit(synth)
    assert await asyncio.to_thread(inside.wait, TIMEOUT)
    session.held.add(synth.id)
    runner.review(session)
    first.set()
    await asyncio.sleep(0.1)
    assert runner.pending == 1 and rec.values == [("synth", 0)]  # parked
    session.dead.add(synth.id)  # its response was cancelled while it waited
    runner.review(session)
    await rec.until(lambda: ("synth", None) in rec.finished)
    assert runner.pending == 0 and closed == [True] and rec.values == [("synth", 0)]


async def test_release_stops_everything_and_reports_nothing(pool):
    rec = Recorder()
    session = Session()
    runner, counts = _runner(pool, rec)
    synth = Job(JobKind.SYNTHESIZE, "synth", lambda: iter(range(10**9)))
    runner.submit(synth)
    await rec.until(lambda: len(rec.values) > 3)
    parked = Job(JobKind.SYNTHESIZE, "parked", lambda: iter(range(10)))
    session.held.add(parked.id)
    runner.submit(parked)
    runner.review(session)
    runner.release()
    seen = len(rec.values)
    await asyncio.sleep(0.1)
    assert len(rec.values) == seen and rec.finished == []
    assert counts[0] == counts[1]  # every future settled: the server's idle accounting balances


async def test_on_a_fair_pool_long_jobs_of_two_sessions_take_turns():
    """One worker, two sessions' long replies: each hands the worker back after every value (a zero
    slice), so neither waits for the other's whole reply."""
    pool = FairPool(1, reserved=0)
    try:
        rec = Recorder()
        a, _ = _runner(pool, rec, slice_s=0.0)
        b, _ = _runner(pool, rec, slice_s=0.0)
        gate = threading.Event()

        def sentences(first_waits: bool):
            for i in range(3):
                if first_waits and i == 0:
                    gate.wait(TIMEOUT)  # b's job is queued before a's first value exists
                yield i

        a.submit(Job(JobKind.SYNTHESIZE, "a", lambda: sentences(True)))
        b.submit(Job(JobKind.SYNTHESIZE, "b", lambda: sentences(False)))
        gate.set()
        await rec.until(lambda: len(rec.finished) == 2)
        assert [owner for owner, _ in rec.values] == ["a", "b", "a", "b", "a", "b"]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


async def test_a_lone_job_keeps_its_worker_thread_past_its_slice():
    """Nobody waits: the job is not handed back and forth between worker threads (which made the
    engine's memory grow), however long it runs past its slice."""
    pool = FairPool(2, reserved=0)
    try:
        rec = Recorder()
        runner, _ = _runner(pool, rec, slice_s=0.0)
        threads: list[int] = []

        def sentences():
            for i in range(20):
                threads.append(threading.get_ident())
                yield i

        runner.submit(Job(JobKind.SYNTHESIZE, "a", sentences))
        await rec.until(lambda: len(rec.finished) == 1)
        assert len(rec.values) == 20 and len(set(threads)) == 1
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


async def test_an_endless_reply_cannot_starve_another_sessions_synthesis():
    """One worker busy with a reply that never ends (a loaded machine: it never gets far enough ahead
    to park): with the default slice, another session's short reply still runs to its end."""
    pool = FairPool(1, reserved=0)
    stop = threading.Event()  # only so that a failing run ends
    try:
        rec = Recorder()
        endless, _ = _runner(pool, rec)
        short, _ = _runner(pool, rec)

        def forever():
            while not stop.is_set():
                time.sleep(0.01)
                yield "a"

        endless.submit(Job(JobKind.SYNTHESIZE, "endless", forever))
        await rec.until(lambda: len(rec.values) > 2)
        short.submit(Job(JobKind.SYNTHESIZE, "short", lambda: iter(["b", "b"])))
        await rec.until(lambda: [job for job, _ in rec.finished] == ["short"])
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


async def test_an_adapter_hold_parks_synthesis_like_the_sessions_own(pool):
    """The WebSocket connection's hold (its outbox is full) parks a job exactly as a session's does."""
    rec = Recorder()
    full = [False]
    runner, _ = _runner(pool, rec, hold=lambda job: full[0])
    step = threading.Event()
    inside = threading.Event()

    def sentences():
        for i in range(3):
            inside.set()
            step.wait(TIMEOUT)
            yield i

    runner.submit(Job(JobKind.SYNTHESIZE, "s", sentences))
    assert await asyncio.to_thread(inside.wait, TIMEOUT)
    full[0] = True
    runner.review(Session())
    step.set()
    await rec.until(lambda: rec.values == [("s", 0)])
    await asyncio.sleep(0.1)
    assert rec.values == [("s", 0)] and runner.pending == 1
    full[0] = False
    runner.review(Session())
    await rec.until(lambda: ("s", None) in rec.finished)
    assert [v for _, v in rec.values] == [0, 1, 2]
