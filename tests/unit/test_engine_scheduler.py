"""FairPool: lanes by kind of work, a worker kept for setup and short jobs, turns between owners.

Real threads, ordered by events the test controls (no timing): "blocked" work waits on a gate the
test opens only after checking what ran meanwhile.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading

import pytest

from realtime_nb.engine.scheduler import AGAIN, FairPool, Lane

TIMEOUT = 5.0


@pytest.fixture
def pool():
    pools: list[FairPool] = []

    def make(workers: int = 1, reserved: int = 1) -> FairPool:
        p = FairPool(workers, reserved=reserved, thread_name_prefix="test-pool")
        pools.append(p)
        return p

    yield make
    for p in pools:
        p.shutdown(wait=True, cancel_futures=True)


def _blocked(gate: threading.Event, started: threading.Event | None = None) -> str:
    if started is not None:
        started.set()
    if not gate.wait(TIMEOUT):
        raise TimeoutError("gate never opened")
    return "long"


def test_setup_runs_while_every_general_worker_is_busy_with_synthesis(pool) -> None:
    p = pool(workers=2, reserved=1)
    gate = threading.Event()
    started = [threading.Event() for _ in range(2)]
    long = [p.submit(_blocked, gate, started[i], lane=Lane.LONG, owner=f"s{i}") for i in range(2)]
    queued = [p.submit(_blocked, gate, lane=Lane.LONG, owner=f"s{i}") for i in range(2, 4)]
    assert all(s.wait(TIMEOUT) for s in started)
    setup = p.submit(lambda: "session", lane=Lane.SETUP)
    short = p.submit(lambda: "transcript", lane=Lane.SHORT, owner="s0")
    # Both finish while the synthesis still holds both general workers and two more wait.
    assert setup.result(TIMEOUT) == "session"
    assert short.result(TIMEOUT) == "transcript"
    assert not any(f.done() for f in long + queued)
    assert p.queued(Lane.LONG) == 2
    gate.set()
    assert [f.result(TIMEOUT) for f in long + queued] == ["long"] * 4


def test_the_reserved_worker_never_takes_synthesis(pool) -> None:
    p = pool(workers=1, reserved=1)
    gate = threading.Event()
    first = threading.Event()
    a = p.submit(_blocked, gate, first, lane=Lane.LONG, owner="a")
    assert first.wait(TIMEOUT)
    b = p.submit(lambda: "b", lane=Lane.LONG, owner="b")
    c = p.submit(lambda: "c", lane=Lane.SHORT, owner="c")
    assert c.result(TIMEOUT) == "c"
    assert not b.done() and p.queued(Lane.LONG) == 1  # waits for the general worker
    gate.set()
    assert (a.result(TIMEOUT), b.result(TIMEOUT)) == ("long", "b")


def test_higher_lanes_first_and_owners_take_turns(pool) -> None:
    p = pool(workers=1, reserved=0)
    gate = threading.Event()
    first = threading.Event()
    order: list[str] = []
    blocker = p.submit(_blocked, gate, first, lane=Lane.LONG, owner="x")
    assert first.wait(TIMEOUT)
    futures = [p.submit(order.append, f"a{i}", lane=Lane.SHORT, owner="a") for i in range(3)]
    futures.append(p.submit(order.append, "b0", lane=Lane.SHORT, owner="b"))
    futures.append(p.submit(order.append, "long", lane=Lane.LONG, owner="c"))
    futures.append(p.submit(order.append, "setup", lane=Lane.SETUP))
    gate.set()
    cf.wait([blocker, *futures], TIMEOUT)
    # setup before short before long; b's one job does not wait behind all of a's
    assert order == ["setup", "a0", "b0", "a1", "a2", "long"]


def test_work_that_answers_again_is_queued_behind_the_others(pool) -> None:
    p = pool(workers=1, reserved=0)
    gate = threading.Event()
    first = threading.Event()
    order: list[str] = []
    steps = iter(range(3))

    def long_job() -> object:
        step = next(steps)
        order.append(f"long{step}")
        return AGAIN if step < 2 else "done"

    blocker = p.submit(_blocked, gate, first, lane=Lane.LONG, owner="x")
    assert first.wait(TIMEOUT)
    job = p.submit(long_job, lane=Lane.LONG, owner="s1")
    other = p.submit(order.append, "other", lane=Lane.LONG, owner="s2")
    gate.set()
    assert job.result(TIMEOUT) == "done"
    other.result(TIMEOUT)
    blocker.result(TIMEOUT)
    assert order == ["long0", "other", "long1", "long2"]


def test_shutdown_cancels_queued_work_and_fails_work_between_steps(pool) -> None:
    p = pool(workers=1, reserved=0)
    gate = threading.Event()
    first = threading.Event()
    blocker = p.submit(_blocked, gate, first, lane=Lane.LONG, owner="x")
    assert first.wait(TIMEOUT)
    queued = p.submit(lambda: "never", lane=Lane.LONG, owner="y")
    p.shutdown(wait=False, cancel_futures=True)
    assert queued.cancelled()
    with pytest.raises(RuntimeError):
        p.submit(lambda: None)
    gate.set()
    assert blocker.result(TIMEOUT) == "long"


def test_an_exception_reaches_the_future(pool) -> None:
    p = pool()

    def boom() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        p.submit(boom).result(TIMEOUT)


def test_interpreter_exit_waits_for_work_already_on_a_worker(tmp_path) -> None:
    """Workers are daemon threads; a step left running into finalization is still inside a native
    runtime while the process tears that runtime down. The exit drain lets it end first."""
    import subprocess
    import sys
    import textwrap

    done = tmp_path / "done"
    script = textwrap.dedent(
        f"""
        import time
        from realtime_nb.engine.scheduler import FairPool, Lane
        pool = FairPool(1, reserved=0)
        def step():
            time.sleep(0.5)
            open({str(done)!r}, "w").write("ended")
        pool.submit(step, lane=Lane.LONG)
        time.sleep(0.1)  # the step is running: now the interpreter exits
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert done.read_text() == "ended"
