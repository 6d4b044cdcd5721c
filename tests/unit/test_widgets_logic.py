"""Pure kernel-side logic of the audio widgets: chunks, sequence gaps, clock offset, recorder, truncation."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest

from realtime_nb.widgets import truncate_point
from realtime_nb.widgets._audio_comm import (
    PCM_RATE,
    ClockSync,
    LatencyLog,
    RingRecorder,
    SequenceTracker,
    SessionPump,
    parse_chunk,
    pcm16_from_buffer,
    subscribe,
    summarize,
)


def _chunk_msg(seq: int = 0, t: float = 10.0, rate: int = PCM_RATE) -> dict:
    return {"type": "chunk", "seq": seq, "t_capture": t, "rate": rate, "level": 0.1}


def test_pcm16_from_memoryview_is_a_private_copy() -> None:
    src = bytearray(np.array([1, -2, 32767, -32768], dtype="<i2").tobytes())
    samples = pcm16_from_buffer(memoryview(src))
    src[0:2] = b"\x00\x00"  # the comm may reuse its memory after the handler returns
    assert samples.dtype == np.int16
    assert samples.tolist() == [1, -2, 32767, -32768]


def test_pcm16_odd_byte_count_is_rejected() -> None:
    with pytest.raises(ValueError, match="odd number of bytes"):
        pcm16_from_buffer(memoryview(b"\x01\x02\x03"))


def test_parse_chunk_reads_header_and_buffer() -> None:
    pcm = np.arange(960, dtype=np.int16)
    chunk = parse_chunk(_chunk_msg(seq=7, t=1234.5), [memoryview(pcm.tobytes())])
    assert chunk.seq == 7
    assert chunk.t_capture_ms == 1234.5
    assert chunk.duration_ms == 40.0
    np.testing.assert_array_equal(chunk.samples, pcm)


@pytest.mark.parametrize(
    ("msg", "buffers", "problem"),
    [
        (_chunk_msg(), [], "exactly one binary buffer"),
        (_chunk_msg(rate=48000), [b"\x00\x00"], "48000"),
        (_chunk_msg(seq=-1), [b"\x00\x00"], "seq"),
        ({**_chunk_msg(), "seq": True}, [b"\x00\x00"], "seq"),
        (_chunk_msg(t=math.nan), [b"\x00\x00"], "t_capture"),
    ],
)
def test_parse_chunk_names_the_problem(msg: dict, buffers: list, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_chunk(msg, buffers)


def test_sequence_tracker_counts_gaps_and_late_chunks() -> None:
    seq = SequenceTracker()
    assert [seq.observe(i) for i in (0, 1, 2)] == [0, 0, 0]
    assert seq.observe(5) == 2  # 3 and 4 missing
    assert seq.observe(4) == 0  # arrives late
    assert (seq.received, seq.missing, seq.late, seq.expected) == (5, 2, 1, 6)
    seq.reset()
    assert seq.observe(0) == 0 and seq.missing == 0


def test_clock_sync_recovers_offset_from_the_fastest_round_trip() -> None:
    true_offset = 5_000.0  # page clock runs 5 s ahead of the kernel clock
    clock = ClockSync()
    assert not clock.ready
    with pytest.raises(RuntimeError, match="no clock sample"):
        _ = clock.offset_ms
    # (send, outbound delay, return delay): a slow asymmetric sample, then a fast symmetric one.
    for k0, out, back in [(100.0, 30.0, 2.0), (200.0, 0.4, 0.4), (300.0, 1.0, 9.0)]:
        clock.add(k0, k0 + out + true_offset, k0 + out + back)
    assert clock.samples == 3
    assert clock.offset_ms == pytest.approx(true_offset, abs=1e-9)
    assert clock.uncertainty_ms == pytest.approx(0.4)
    assert clock.to_kernel_ms(true_offset + 50.0) == pytest.approx(50.0)


def test_clock_sync_combines_the_fastest_leg_of_each_direction() -> None:
    off = -1234.0
    clock = ClockSync()
    clock.add(0.0, 0.2 + off, 5.2)  # fast to the page, slow back
    clock.add(100.0, 106.0 + off, 106.3)  # slow to the page, fast back
    assert clock.bounds_ms == pytest.approx((off - 0.3, off + 0.2))
    assert clock.offset_ms == pytest.approx(off - 0.05)
    assert clock.uncertainty_ms == pytest.approx(0.25)  # each round trip alone: 2.6 and 3.15
    clock.add_to_kernel(500.0 + off, 500.1)  # a microphone chunk that took 0.1 ms
    assert clock.bounds_ms == pytest.approx((off - 0.1, off + 0.2))


def test_clock_sync_restarts_when_a_sample_contradicts_the_interval() -> None:
    clock = ClockSync()
    clock.add(0.0, 1000.0, 2.0)  # offset in [998, 1000]
    clock.add(10.0, 1020.0, 11.0)  # offset in [1009, 1010]: the clocks moved apart
    assert clock.restarts == 1
    assert clock.bounds_ms == (1009.0, 1010.0)


def test_clock_sync_rejects_a_negative_round_trip() -> None:
    with pytest.raises(ValueError, match="round trip"):
        ClockSync().add(10.0, 0.0, 9.0)


def test_latency_log_uses_the_offset_known_when_asked() -> None:
    log = LatencyLog()
    clock = ClockSync()
    log.add(1000.0, 8.0)  # captured at page time 1000, received at kernel time 8
    log.add(1040.0, 51.0)
    assert log.latencies_ms(clock).size == 0  # no offset yet
    clock.add(0.0, 995.0, 0.0)  # page = kernel + 995
    np.testing.assert_allclose(log.latencies_ms(clock), [3.0, 6.0])  # page 1000 is kernel 5
    np.testing.assert_allclose(log.intervals_ms(), [43.0])


def test_ring_recorder_keeps_the_latest_samples_in_order() -> None:
    rec = RingRecorder(10)
    rec.append(np.arange(4, dtype=np.int16))
    np.testing.assert_array_equal(rec.array(), np.arange(4))
    rec.append(np.arange(4, 12, dtype=np.int16))  # wraps
    np.testing.assert_array_equal(rec.array(), np.arange(2, 12))
    rec.append(np.arange(100, 125, dtype=np.int16))  # longer than the capacity
    np.testing.assert_array_equal(rec.array(), np.arange(115, 125))
    rec.append(np.array([7, 8, 9], dtype=np.int16))
    np.testing.assert_array_equal(rec.array(), [*range(118, 125), 7, 8, 9])
    assert rec.total_samples == 4 + 8 + 25 + 3


def test_ring_recorder_silence_keeps_the_clock() -> None:
    rec = RingRecorder(6)
    rec.append(np.array([1, 2], dtype=np.int16))
    rec.append_silence(3)
    rec.append(np.array([3], dtype=np.int16))
    np.testing.assert_array_equal(rec.array(), [1, 2, 0, 0, 0, 3])
    rec.append_silence(50)
    rec.append(np.array([4], dtype=np.int16))
    np.testing.assert_array_equal(rec.array(), [0, 0, 0, 0, 0, 4])
    assert rec.total_samples == 57
    with pytest.raises(ValueError, match="capacity"):
        RingRecorder(0)


@pytest.mark.parametrize(
    ("played", "received", "expected"),
    [(1500.0, 4000.0, 1500), (1500.9, 4000.0, 1500), (5200.0, 4000.0, 4000), (0.0, 0.0, 0),
     (800.4, 800.2, 800)],
)
def test_truncate_point_is_the_smaller_of_played_and_received(
    played: float, received: float, expected: int
) -> None:
    assert truncate_point(played, received) == expected


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, True, "100"])
def test_truncate_point_rejects_bad_input(bad: object) -> None:
    with pytest.raises(ValueError, match="played_ms"):
        truncate_point(bad, 100.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="received_ms"):
        truncate_point(100.0, bad)  # type: ignore[arg-type]


def test_summarize() -> None:
    s = summarize(np.arange(1, 11, dtype=float))
    assert s["count"] == 10 and s["median"] == 5.5 and s["max"] == 10.0
    assert math.isnan(summarize([])["median"])


class _RecordingSession:
    """A stand-in Realtime session (outside the widgets): records calls, yields control like I/O."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.calls: list[tuple] = []
        self.fail_on = fail_on

    async def append_audio(self, samples: np.ndarray, rate: int) -> None:
        await asyncio.sleep(0)
        if self.fail_on is not None and len(self.calls) == self.fail_on:
            self.calls.append(("failed",))
            raise ConnectionError("socket closed")
        self.calls.append(("append", int(samples[0]), rate))

    async def commit(self) -> None:
        self.calls.append(("commit",))


async def test_session_pump_keeps_order_and_survives_a_failed_call() -> None:
    session = _RecordingSession(fail_on=1)
    pump = SessionPump()
    for i in range(4):
        pump.submit(lambda i=i: session.append_audio(np.array([i], np.int16), PCM_RATE))
    pump.submit(session.commit)
    await pump.drain()
    assert session.calls == [("append", 0, PCM_RATE), ("failed",), ("append", 2, PCM_RATE),
                             ("append", 3, PCM_RATE), ("commit",)]
    assert pump.done == 4
    assert [type(e) for e in pump.errors] == [ConnectionError]
    pump.close()


async def test_subscribe_uses_session_on_when_present() -> None:
    registered: dict[str, list] = {}

    class _OnSession:
        def on(self, kind: str, cb):  # type: ignore[no-untyped-def]
            registered.setdefault(kind, []).append(cb)
            return lambda: registered[kind].remove(cb)

    seen: list[dict] = []
    off = subscribe(_OnSession(), ["a", "b"], seen.append)
    registered["a"][0]({"type": "a"})
    assert seen == [{"type": "a"}]
    off()
    assert registered == {"a": [], "b": []}


async def test_subscribe_iterates_a_session_without_on() -> None:
    events = [{"type": "x", "n": 1}, {"type": "skip"}, {"type": "x", "n": 2}]

    class _IterSession:
        def __aiter__(self):  # type: ignore[no-untyped-def]
            return self._gen()

        async def _gen(self):  # type: ignore[no-untyped-def]
            for e in events:
                yield e

    seen: list[dict] = []
    done = asyncio.Event()

    def handler(event: dict) -> None:
        seen.append(event)
        if event["n"] == 2:
            done.set()

    cancel = subscribe(_IterSession(), ["x"], handler)
    await asyncio.wait_for(done.wait(), 5)
    assert [e["n"] for e in seen] == [1, 2]
    cancel()
