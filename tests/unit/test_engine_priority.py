"""Model work gives way to the event loop: its threads, and the threads they start, run nicer."""

from __future__ import annotations

import sys
import threading

import pytest

from realtime_nb.engine.models import Models
from realtime_nb.engine.priority import MODEL_WORK_NICE, current_nice, run_below_loop, yield_to_loop
from realtime_nb.engine.scheduler import FairPool, Lane

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are Linux's")

BASE = current_nice()


def _expected() -> int:
    assert BASE is not None
    return min(19, BASE + MODEL_WORK_NICE)


def test_only_the_calling_thread_yields() -> None:
    seen: list[int | None] = []

    def worker() -> None:
        yield_to_loop()
        seen.append(current_nice())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [_expected()] and current_nice() == BASE


def test_threads_started_below_the_loop_inherit_it_and_errors_come_back() -> None:
    def load() -> tuple[int | None, int | None]:
        inner: list[int | None] = []
        child = threading.Thread(target=lambda: inner.append(current_nice()))  # a runtime's own pool
        child.start()
        child.join()
        return current_nice(), inner[0]

    assert run_below_loop(load) == (_expected(), _expected())
    assert current_nice() == BASE

    def fails() -> None:
        raise ValueError("no such model")

    with pytest.raises(ValueError, match="no such model"):
        run_below_loop(fails)


def test_pool_workers_and_model_loads_run_below_the_loop() -> None:
    pool = FairPool(1, reserved=1, initializer=yield_to_loop)
    try:
        assert pool.submit(current_nice, lane=Lane.LONG).result(5) == _expected()
        assert pool.submit(current_nice, lane=Lane.SETUP).result(5) == _expected()
    finally:
        pool.shutdown()
    assert Models()._get("probe", current_nice) == _expected()
