"""Outbox: what the socket has not taken yet, in bytes and age, and when a reader is too far behind."""

from __future__ import annotations

import asyncio

import pytest

from realtime_nb.engine.outbox import Backpressure, Outbox

K = 1024


def test_full_counts_the_event_being_written_until_it_is_sent() -> None:
    box = Outbox(Backpressure(send_ahead_bytes=100 * K, max_unsent_bytes=1000 * K))
    box.put("a" * 60, 60 * K, now=0.0)
    assert not box.full
    box.put("b" * 60, 60 * K, now=0.0)
    assert box.full and box.unsent_bytes == 120 * K

    async def take() -> str:
        return await box.take()

    assert asyncio.run(take()) == "a" * 60
    assert box.full  # taken by the writer, not yet by the socket
    box.sent()
    assert not box.full and box.unsent_bytes == 60 * K


def test_overdue_by_bytes_or_by_age_with_a_reason() -> None:
    box = Outbox(Backpressure(send_ahead_bytes=16 * K, max_unsent_bytes=100 * K, max_lag_s=2.0))
    box.put("x", 50 * K, now=10.0)
    assert box.overdue(11.0) is None
    reason = box.overdue(12.5)
    assert reason is not None and "unsent for 2.5 s" in reason and "limit 2 s" in reason
    box.put("y", 60 * K, now=12.5)
    reason = box.overdue(12.5)
    assert reason is not None and "110 KiB of events unsent (limit 100 KiB)" in reason
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
    ("kwargs", "message"),
    [
        ({"send_ahead_bytes": 0}, "send_ahead_bytes must be 16 KiB to 1 GiB, got 0 bytes"),
        ({"send_ahead_bytes": 10}, "send_ahead_bytes must be 16 KiB to 1 GiB, got 10 bytes"),
        ({"max_unsent_bytes": 2 * 2**30}, "max_unsent_bytes must be 16 KiB to 1 GiB, got 2 GiB"),
        (
            {"send_ahead_bytes": 64 * K, "max_unsent_bytes": 32 * K},
            "max_unsent_bytes (32 KiB) must be at least send_ahead_bytes (64 KiB)",
        ),
        ({"max_lag_s": 0}, "max_lag_s must be 0.1 s to 3600 s, got 0 s"),
        ({"max_lag_s": float("nan")}, "max_lag_s must be 0.1 s to 3600 s, got nan s"),
        ({"max_lag_s": None}, "max_lag_s must be 0.1 s to 3600 s, got None"),
        (
            {"ping_interval_s": 0},
            "ping_interval_s must be 0.1 s to 3600 s, or None (no keepalive pings), got 0 s",
        ),
        ({"ping_timeout_s": "5"}, "ping_timeout_s must be 0.1 s to 3600 s, got '5'"),
        ({"offload_bytes": -1}, "offload_bytes must be 1 KiB to 64 MiB, got -1 bytes"),
        ({"offload_bytes": True}, "offload_bytes must be 1 KiB to 64 MiB, got True"),
    ],
)
def test_bad_limits_are_refused_naming_the_range(kwargs, message) -> None:
    with pytest.raises(ValueError) as refused:
        Backpressure(**kwargs)
    assert str(refused.value) == message


def test_limits_at_the_ends_of_their_ranges_are_accepted() -> None:
    Backpressure(send_ahead_bytes=16 * K, max_unsent_bytes=16 * K, max_lag_s=0.1, ping_timeout_s=3600)
    Backpressure(
        send_ahead_bytes=2**30, max_unsent_bytes=2**30, ping_interval_s=None, offload_bytes=64 * 2**20
    )


def test_coerce_takes_a_dict_and_names_unknown_options() -> None:
    assert Backpressure.coerce({"max_lag_s": 30}) == Backpressure(max_lag_s=30)
    assert Backpressure.coerce(None) == Backpressure()
    with pytest.raises(TypeError) as refused:
        Backpressure.coerce({"max_lag": 30})
    assert "unknown backpressure option(s) max_lag; the options are send_ahead_bytes" in str(refused.value)
