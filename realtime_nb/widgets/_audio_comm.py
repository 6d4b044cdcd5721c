"""Kernel-side logic shared by the audio widgets, kept free of widget and socket I/O so it is testable.

What lives here: decoding the binary chunks the browser sends, sequence / gap accounting, the
page <-> kernel clock offset used to measure microphone -> kernel latency, a bounded recorder, the
barge-in truncation rule, and a small serial "pump" that forwards widget messages to an async session
in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from realtime_nb.protocol import PCM_RATE  # the only rate the widgets exchange with the kernel
from realtime_nb.widgets._session import SessionLike


class MicError(RuntimeError):
    """The browser could not capture audio (no device, permission denied, insecure origin, ...).

    ``name`` is the DOMException name the browser gave (``NotAllowedError``, ``NotFoundError``,
    ``SecurityError``, ...), ``message`` its text.
    """

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        self.message = message
        super().__init__(f"{name}: {message}" if name else message)


def pcm16_from_buffer(buffer: bytes | bytearray | memoryview) -> np.ndarray:
    """Copy a little-endian PCM16 buffer into a fresh int16 array (the comm may reuse its memory)."""
    view = memoryview(buffer).cast("B")
    if view.nbytes % 2:
        raise ValueError(f"PCM16 buffer has an odd number of bytes ({view.nbytes}); a sample is 2 bytes")
    return np.frombuffer(view, dtype="<i2").astype(np.int16, copy=True)


@dataclass(frozen=True)
class Chunk:
    """One microphone chunk as the browser sent it."""

    seq: int
    t_capture_ms: float  # page clock (performance.now()) when the chunk was complete
    samples: np.ndarray  # int16, PCM_RATE, mono
    level: float = 0.0  # RMS of the chunk, 0..1, as the page computed it

    @property
    def duration_ms(self) -> float:
        return len(self.samples) * 1000.0 / PCM_RATE


def parse_chunk(msg: dict[str, Any], buffers: list[Any] | None) -> Chunk:
    """Validate a ``{"type": "chunk", ...}`` message and its single binary buffer."""
    if not buffers or len(buffers) != 1:
        raise ValueError(f"a chunk message needs exactly one binary buffer, got {len(buffers or [])}")
    rate = msg.get("rate")
    if rate != PCM_RATE:
        raise ValueError(f"chunk rate is {rate!r}; the widget protocol is fixed at {PCM_RATE} Hz")
    seq = msg.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise ValueError(f"chunk seq must be a non-negative integer, got {seq!r}")
    t_capture = msg.get("t_capture")
    if not isinstance(t_capture, int | float) or isinstance(t_capture, bool) or not math.isfinite(t_capture):
        raise ValueError(f"chunk t_capture must be a finite number (performance.now() ms), got {t_capture!r}")
    level = msg.get("level", 0.0)
    return Chunk(seq, float(t_capture), pcm16_from_buffer(buffers[0]), float(level or 0.0))


class SequenceTracker:
    """Counts received, missing (gaps in ``seq``) and late / duplicate chunks of one capture run."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.expected = 0
        self.received = 0
        self.missing = 0
        self.late = 0

    def observe(self, seq: int) -> int:
        """Record ``seq``; return how many chunks are missing right before it (0 when in order)."""
        self.received += 1
        if seq < self.expected:  # a chunk we already counted as missing, or a duplicate
            self.late += 1
            return 0
        gap = seq - self.expected
        self.missing += gap
        self.expected = seq + 1
        return gap


class ClockSync:
    """Offset between the page clock (``performance.now()``) and the kernel clock, both in ms.

    Every message bounds the offset (page time minus kernel time): a kernel -> page message sent at
    kernel time ``k0`` and read on the page at ``p`` gives ``offset <= p - k0``; a page -> kernel
    message stamped ``p`` and received at ``k1`` gives ``offset >= p - k1`` (one-way delays are never
    negative). A ping / pong gives both; microphone chunks give the lower bound. The estimate is the
    middle of the tightest interval, so it is off by at most half its width (``uncertainty_ms``):
    half the sum of the fastest delay seen in each direction, which is never more than half the
    fastest round trip. Should a sample contradict the interval (clocks drifting apart between two
    machines), the interval restarts from that sample.
    """

    def __init__(self) -> None:
        self.samples = 0
        self.restarts = 0
        self._lo = -math.inf
        self._hi = math.inf

    def add(self, k_send_ms: float, page_ms: float, k_recv_ms: float) -> None:
        """A ping: sent at kernel time ``k_send_ms``, answered at ``page_ms``, back at ``k_recv_ms``."""
        rtt = k_recv_ms - k_send_ms
        if rtt < 0:
            raise ValueError(f"ping answered before it was sent (round trip {rtt:.3f} ms)")
        self.samples += 1
        self._narrow(page_ms - k_recv_ms, page_ms - k_send_ms)

    def add_to_kernel(self, page_send_ms: float, k_recv_ms: float) -> None:
        """A page -> kernel message stamped ``page_send_ms`` on the page, received at ``k_recv_ms``."""
        self._narrow(page_send_ms - k_recv_ms, math.inf)

    def _narrow(self, lo: float, hi: float) -> None:
        new_lo, new_hi = max(self._lo, lo), min(self._hi, hi)
        if new_lo > new_hi:
            self.restarts += 1
            new_lo, new_hi = lo, hi
        self._lo, self._hi = new_lo, new_hi

    @property
    def ready(self) -> bool:
        return math.isfinite(self._lo) and math.isfinite(self._hi)

    @property
    def bounds_ms(self) -> tuple[float, float]:
        """The interval the offset is known to lie in."""
        if not self.ready:
            raise RuntimeError("no clock sample yet: the page has not answered a ping")
        return self._lo, self._hi

    @property
    def offset_ms(self) -> float:
        """Page time minus kernel time (the middle of ``bounds_ms``)."""
        lo, hi = self.bounds_ms
        return (lo + hi) / 2.0

    @property
    def uncertainty_ms(self) -> float:
        """Half the width of ``bounds_ms``: the largest error of ``offset_ms``."""
        lo, hi = self.bounds_ms
        return (hi - lo) / 2.0

    def to_kernel_ms(self, page_ms: float) -> float:
        return page_ms - self.offset_ms


class LatencyLog:
    """Bounded record of (capture time on the page, receipt time in the kernel) per chunk.

    Latencies are computed on demand with the best clock offset known *then*, so chunks that arrived
    before the first ping was answered still get a figure.
    """

    def __init__(self, maxlen: int = 20000) -> None:
        self._pairs: deque[tuple[float, float]] = deque(maxlen=maxlen)

    def add(self, t_capture_page_ms: float, t_recv_kernel_ms: float) -> None:
        self._pairs.append((t_capture_page_ms, t_recv_kernel_ms))

    def __len__(self) -> int:
        return len(self._pairs)

    def clear(self) -> None:
        self._pairs.clear()

    def latencies_ms(self, clock: ClockSync, offset_ms: float | None = None) -> np.ndarray:
        """Receipt minus capture, with ``offset_ms`` (page minus kernel) or else the clock's estimate."""
        if offset_ms is None:
            if not clock.ready:
                return np.empty(0)
            offset_ms = clock.offset_ms
        if not self._pairs:
            return np.empty(0)
        pairs = np.asarray(self._pairs, dtype=float)
        return pairs[:, 1] - (pairs[:, 0] - offset_ms)

    def intervals_ms(self) -> np.ndarray:
        """Kernel-side spacing between consecutive chunk arrivals (shows bursts and stalls)."""
        if len(self._pairs) < 2:
            return np.empty(0)
        return np.diff(np.asarray(self._pairs, dtype=float)[:, 1])


class RingRecorder:
    """The last ``capacity`` int16 samples, for a Mic with no session to hold its audio."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"recorder capacity must be positive, got {capacity}")
        self._buf = np.zeros(capacity, dtype=np.int16)
        self._written = 0  # total samples ever written

    @property
    def capacity(self) -> int:
        return len(self._buf)

    @property
    def total_samples(self) -> int:
        return self._written

    def append(self, samples: np.ndarray) -> None:
        samples = np.asarray(samples, dtype=np.int16)
        cap = len(self._buf)
        if len(samples) >= cap:
            # Only the tail survives; lay it out so that the oldest sample sits at the write index.
            self._written += len(samples)
            self._buf[:] = np.roll(samples[-cap:], self._written % cap)
            return
        start = self._written % cap
        first = min(cap - start, len(samples))
        self._buf[start : start + first] = samples[:first]
        self._buf[: len(samples) - first] = samples[first:]
        self._written += len(samples)

    def append_silence(self, n: int) -> None:
        """Zeros for lost chunks, so the recording stays on the capture's audio clock."""
        if n <= 0:
            return
        skipped = max(0, n - len(self._buf))
        self._written += skipped
        self.append(np.zeros(n - skipped, dtype=np.int16))

    def array(self) -> np.ndarray:
        cap = len(self._buf)
        if self._written <= cap:
            return self._buf[: self._written].copy()
        start = self._written % cap
        return np.concatenate([self._buf[start:], self._buf[:start]])

    def clear(self) -> None:
        self._written = 0


def summarize(values: Iterable[float]) -> dict[str, float]:
    """Median / p90 / max / count of a series (NaN when empty), for stats dictionaries."""
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
    if arr.size == 0:
        return {"count": 0, "median": math.nan, "p90": math.nan, "max": math.nan}
    return {
        "count": int(arr.size),
        "median": float(np.median(arr)),
        "p90": float(np.percentile(arr, 90)),
        "max": float(arr.max()),
    }


async def maybe_await(value: Any) -> Any:
    """Await ``value`` if it is awaitable: session methods may be coroutines or plain functions."""
    if inspect.isawaitable(value):
        return await value
    return value


EventHandler = Callable[[dict[str, Any]], Any]


def subscribe(session: SessionLike, types: Iterable[str], handler: EventHandler) -> Callable[[], None]:
    """Call ``handler(event)`` for each of the session's events of ``types``; return an unsubscribe.

    Uses ``session.on(type, callback)`` when the session has it; otherwise iterates the session
    (``session.events(types=...)`` if present, else ``async for event in session``) in a task on the
    current event loop. Handler exceptions are swallowed per event so one bad event cannot end
    playback; handlers keep their own error lists.
    """
    wanted = tuple(types)
    on = getattr(session, "on", None)
    if callable(on):
        offs = [on(kind, handler) for kind in wanted]

        def _off() -> None:
            for off in offs:
                if callable(off):
                    off()

        return _off

    events = getattr(session, "events", None)
    stream = events(types=wanted) if callable(events) else aiter(session)

    async def _pump() -> None:
        async for event in stream:
            if event.get("type") in wanted:
                with contextlib.suppress(Exception):
                    await maybe_await(handler(event))

    task = _current_loop().create_task(_pump())

    def _cancel() -> None:
        task.cancel()
        close = getattr(stream, "close", None)
        if callable(close):
            close()

    return _cancel


class SessionPump:
    """Runs session calls one at a time, in submission order, on the kernel's event loop.

    Widget message handlers are synchronous and must return quickly; the session's methods are
    coroutines. Ordering matters (all appends of a push-to-talk turn before its commit), so a single
    consumer task drains a queue instead of one task per call.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or _current_loop()
        self._queue: asyncio.Queue[Callable[[], Any]] | None = None
        self._task: asyncio.Task[None] | None = None
        self.done = 0
        self.errors: list[BaseException] = []

    def submit(self, call: Callable[[], Any | Awaitable[Any]]) -> None:
        """Queue ``call`` (a sync function or one returning an awaitable); safe from any thread."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._enqueue(call)
        else:
            self._loop.call_soon_threadsafe(self._enqueue, call)

    def _enqueue(self, call: Callable[[], Any]) -> None:
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._task is None or self._task.done():
            self._task = self._loop.create_task(self._run(self._queue))
        self._queue.put_nowait(call)

    async def _run(self, queue: asyncio.Queue[Callable[[], Any]]) -> None:
        while True:
            call = await queue.get()
            try:
                await maybe_await(call())
                self.done += 1
            except Exception as exc:  # keep pumping: one failed append must not stop the stream
                self.errors.append(exc)
                del self.errors[:-100]
            finally:
                queue.task_done()

    async def drain(self) -> None:
        """Wait until every call submitted so far has run."""
        if self._queue is not None:
            await self._queue.join()

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None


def _current_loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.get_event_loop_policy().get_event_loop()
