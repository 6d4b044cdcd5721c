"""engine.memory: the allocator settings the engine makes at start (glibc only), and when it leaves
them alone. The memory figures themselves are a benchmark (benchmarks/bench_load.py --soak-only):
they are too noisy for a test."""

from __future__ import annotations

import pytest

from realtime_nb.engine import memory

glibc = pytest.mark.skipif(memory._LIBC is None, reason="glibc only")


@pytest.fixture
def fresh(monkeypatch):
    """tune_allocator as if nothing had called it yet in this process."""
    monkeypatch.setattr(memory, "_tuned", None)
    for name in ("REALTIME_NB_MALLOC_TUNING", "MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@glibc
def test_caps_arenas_and_pins_the_mmap_threshold_once(fresh):
    calls = []
    fresh.setattr(memory, "_LIBC", _Recorder(calls))
    assert memory.tune_allocator() == {"arena_max": memory.ARENA_MAX, "mmap_threshold": memory.MMAP_THRESHOLD}
    assert memory.tune_allocator() == {"arena_max": memory.ARENA_MAX, "mmap_threshold": memory.MMAP_THRESHOLD}
    assert calls == [(-8, memory.ARENA_MAX), (-3, memory.MMAP_THRESHOLD)]  # the second call did nothing


@glibc
def test_the_environment_wins(fresh):
    calls = []
    fresh.setattr(memory, "_LIBC", _Recorder(calls))
    fresh.setenv("MALLOC_ARENA_MAX", "4")
    assert memory.tune_allocator() == {"mmap_threshold": memory.MMAP_THRESHOLD}
    assert calls == [(-3, memory.MMAP_THRESHOLD)]


def test_can_be_switched_off(fresh):
    calls = []
    fresh.setattr(memory, "_LIBC", _Recorder(calls))
    fresh.setenv("REALTIME_NB_MALLOC_TUNING", "0")
    assert memory.tune_allocator() == {}
    assert calls == []


def test_not_glibc_is_a_no_op(fresh):
    fresh.setattr(memory, "_LIBC", None)
    assert memory.tune_allocator() == {}


@glibc
def test_the_real_allocator_accepts_the_settings(fresh):
    assert memory.tune_allocator() == {"arena_max": memory.ARENA_MAX, "mmap_threshold": memory.MMAP_THRESHOLD}
    assert memory.trim() is True


class _Recorder:
    def __init__(self, calls: list[tuple[int, int]]) -> None:
        self.calls = calls

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return 1
