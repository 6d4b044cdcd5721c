"""Outbox: what the socket has not taken yet, in bytes and age, and when a reader is too far behind."""

from __future__ import annotations

import asyncio

import pytest

from realtime_nb.engine.outbox import Backpressure, Outbox


def test_full_counts_the_event_being_written_until_it_is_sent() -> None:
    box = Outbox(Backpressure(send_ahead_bytes=100, max_unsent_bytes=1000))
    box.put("a" * 60, 60, now=0.0)
    assert not box.full
    box.put("b" * 60, 60, now=0.0)
    assert box.full and box.unsent_bytes == 120

    async def take() -> str:
        return await box.take()

    assert asyncio.run(take()) == "a" * 60
    assert box.full  # taken by the writer, not yet by the socket
    box.sent()
    assert not box.full and box.unsent_bytes == 60


def test_overdue_by_bytes_or_by_age_with_a_reason() -> None:
    box = Outbox(Backpressure(send_ahead_bytes=10, max_unsent_bytes=100, max_lag_s=2.0))
    box.put("x", 50, now=10.0)
    assert box.overdue(11.0) is None
    reason = box.overdue(12.5)
    assert reason is not None and "unsent for 2.5 s" in reason and "limit 2 s" in reason
    box.put("y", 60, now=12.5)
    reason = box.overdue(12.5)
    assert reason is not None and "MiB of events unsent" in reason
    box.clear()
    assert box.overdue(100.0) is None and box.unsent_bytes == 0


def test_lag_is_the_age_of_the_event_being_written() -> None:
    box = Outbox(Backpressure())
    box.put("first", 5, now=1.0)
    box.put("second", 6, now=3.0)
    asyncio.run(box.take())
    assert box.lag_s(4.0) == pytest.approx(3.0)  # "first" still in the socket's hands
    box.sent()
    assert box.lag_s(4.0) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"send_ahead_bytes": 0},
        {"send_ahead_bytes": 10, "max_unsent_bytes": 5},
        {"max_lag_s": 0},
        {"ping_interval_s": 0},
        {"offload_bytes": -1},
    ],
)
def test_bad_limits_are_refused(kwargs) -> None:
    with pytest.raises(ValueError):
        Backpressure(**kwargs)
