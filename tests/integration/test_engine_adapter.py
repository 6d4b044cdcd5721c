"""The WebSocket adapter's mechanics over a real loopback socket, with a scripted session.

The thing under test is `server.py` (framing, ordering, the job pool, ticks, closing, clean-up), so
the session here is a small scripted stand-in driven by JSON commands; the real `EngineSession` is
exercised by the other test_engine_* files.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from realtime_nb.engine import start_engine
from realtime_nb.engine.jobs import Job, JobKind
from realtime_nb.engine.server import Route

TIMEOUT = 10.0


class _ScriptedSession:
    """Stand-in core: each client frame is a command; outputs are plain dict events."""

    gates: ClassVar[dict[str, threading.Event]] = {}
    stopped: ClassVar[dict[str, threading.Event]] = {}

    def __init__(self, route: Route, now: float) -> None:
        self.closed = False
        self.close_reason: str | None = None
        self._out: list[dict[str, Any]] = [
            {"type": "session.created", "dialect": route.dialect.value, "model": route.model}
        ]
        self._jobs: list[Job] = []
        self._ticked = False
        self._last_now = now
        self._unwanted: set[str] = set()
        self._jobs_started: list[Job] = []

    def _clock(self, now: float) -> None:
        assert now >= self._last_now, "the adapter must feed a monotonic clock"
        self._last_now = now

    def receive_text(self, text: str, now: float) -> None:
        self._clock(now)
        command = json.loads(text)
        action = command["do"]
        if action == "echo":
            self._out.append({"type": "echo", "size": len(text), "tag": command.get("tag")})
        elif action == "stream":
            count = command["n"]
            self._jobs.append(Job(JobKind.SYNTHESIZE, "s", lambda: iter(range(count))))
        elif action == "gated":
            gate = self.gates.setdefault(command["name"], threading.Event())
            self._jobs.append(Job(JobKind.RESPOND, "g", lambda: _gated(gate)))
        elif action == "endless":
            stopped = self.stopped.setdefault(command["name"], threading.Event())
            self._jobs.append(Job(JobKind.SYNTHESIZE, "e", lambda: _endless(stopped)))
        elif action == "drop":  # stop wanting the output of every job started so far
            self._unwanted.update(job.id for job in self._jobs_started)
            self._out.append({"type": "dropped"})
        elif action == "fail":
            self._jobs.append(Job(JobKind.TRANSCRIBE, "f", _failing))
        elif action == "close":
            self.closed = True
            self.close_reason = command["reason"]
            self._out.append({"type": "bye"})
        else:
            self._out.append({"type": "error", "unknown": action})

    def receive_bytes(self, data: bytes, now: float) -> None:
        self._clock(now)
        self._out.append({"type": "binary", "size": len(data)})

    def tick(self, now: float) -> None:
        self._clock(now)
        if not self._ticked:
            self._ticked = True
            self._out.append({"type": "ticked"})

    def events_to_send(self) -> list[dict[str, Any]]:
        out, self._out = self._out, []
        return out

    def jobs_to_run(self) -> list[Any]:
        jobs, self._jobs = self._jobs, []
        self._jobs_started.extend(jobs)
        return jobs

    def job_is_live(self, job: Any) -> bool:
        return job.id not in self._unwanted

    def job_output(self, job: Any, value: Any, now: float) -> None:
        self._clock(now)
        self._out.append({"type": "out", "job": job.id, "value": value})

    def job_finished(self, job: Any, now: float, error: BaseException | None) -> None:
        self._clock(now)
        error_name = type(error).__name__ if error else None
        self._out.append({"type": "finished", "job": job.id, "error": error_name})


def _gated(gate: threading.Event) -> Iterator[str]:
    if not gate.wait(TIMEOUT):
        raise TimeoutError("gate never opened")
    yield "released"


def _endless(stopped: threading.Event) -> Iterator[int]:
    try:
        i = 0
        while True:  # like a long synthesis: produces until someone stops iterating
            yield i
            i += 1
            stopped.wait(0.002)  # pace the flood; returns at once once the test has seen the stop
    finally:
        stopped.set()


def _failing() -> Iterator[int]:
    yield 1
    raise ValueError("model blew up")


@pytest.fixture(scope="module")
def scripted_engine() -> Iterator[Any]:
    with start_engine(session_factory=_ScriptedSession, server_options={"tick_interval": 0.01}) as engine:
        yield engine


def _url(engine: Any, path: str = "/v1/realtime?model=m") -> str:
    return engine.url + path


async def _recv(ws: Any) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


async def _recv_type(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        event = await _recv(ws)
        if event["type"] == kind:
            return event


async def test_session_created_first_then_replies_in_order(scripted_engine: Any) -> None:
    async with connect(_url(scripted_engine)) as ws:
        first = await _recv(ws)
        assert first == {"type": "session.created", "dialect": "ga", "model": "m"}
        for tag in range(20):
            await ws.send(json.dumps({"do": "echo", "tag": tag}))
        tags = [(await _recv_type(ws, "echo"))["tag"] for _ in range(20)]
        assert tags == list(range(20))


async def test_job_outputs_stream_in_order_and_finish_last(scripted_engine: Any) -> None:
    async with connect(_url(scripted_engine)) as ws:
        await ws.send(json.dumps({"do": "stream", "n": 50}))
        values = []
        while True:
            event = await _recv(ws)
            if event["type"] == "out":
                values.append(event["value"])
            elif event["type"] == "finished":
                assert event["error"] is None
                break
        assert values == list(range(50))


async def test_failing_job_reports_its_error_and_the_socket_lives_on(scripted_engine: Any) -> None:
    async with connect(_url(scripted_engine)) as ws:
        await ws.send(json.dumps({"do": "fail"}))
        assert (await _recv_type(ws, "out"))["value"] == 1
        assert (await _recv_type(ws, "finished"))["error"] == "ValueError"
        await ws.send(json.dumps({"do": "echo", "tag": "after"}))
        assert (await _recv_type(ws, "echo"))["tag"] == "after"


async def test_a_blocked_job_does_not_stall_another_session(scripted_engine: Any) -> None:
    gate = _ScriptedSession.gates.setdefault("stall", threading.Event())
    async with connect(_url(scripted_engine)) as busy, connect(_url(scripted_engine)) as other:
        await busy.send(json.dumps({"do": "gated", "name": "stall"}))
        await other.send(json.dumps({"do": "echo", "tag": "free"}))
        assert (await _recv_type(other, "echo"))["tag"] == "free"  # answered while the job blocks
        await busy.send(json.dumps({"do": "echo", "tag": "busy"}))
        assert (await _recv_type(busy, "echo"))["tag"] == "busy"  # the blocked session's own loop too
        gate.set()
        assert (await _recv_type(busy, "out"))["value"] == "released"


async def test_binary_frame_reaches_the_session(scripted_engine: Any) -> None:
    async with connect(_url(scripted_engine)) as ws:
        await ws.send(b"\x00\x01\x02")
        assert (await _recv_type(ws, "binary"))["size"] == 3


async def test_tick_timer_runs(scripted_engine: Any) -> None:
    async with connect(_url(scripted_engine)) as ws:
        await _recv_type(ws, "ticked")


async def test_session_end_closes_the_socket_with_its_reason(scripted_engine: Any) -> None:
    async with connect(_url(scripted_engine)) as ws:
        reason = "Your session hit the maximum duration of 60 minutes."
        await ws.send(json.dumps({"do": "close", "reason": reason}))
        assert (await _recv_type(ws, "bye"))["type"] == "bye"  # events before the close are delivered
        with pytest.raises(ConnectionClosed) as closed:
            await _recv(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1000
    assert "maximum duration" in closed.value.rcvd.reason


async def test_frame_above_websockets_default_reaches_the_session(scripted_engine: Any) -> None:
    # A 16 MiB append must reach the session so it can answer with an error event.
    padding = "A" * (16 * 2**20)
    async with connect(_url(scripted_engine), max_size=None) as ws:
        await ws.send(json.dumps({"do": "echo", "tag": "big", "pad": padding}))
        event = await _recv_type(ws, "echo")
        assert event["tag"] == "big" and event["size"] > 16 * 2**20


async def test_frame_beyond_the_cap_closes_with_1009(scripted_engine: Any) -> None:
    # No `async with`: the server has already closed the socket when the block would close it.
    ws = await connect(_url(scripted_engine), max_size=None)
    with pytest.raises(ConnectionClosed) as closed:
        await ws.send("x" * (65 * 2**20))
        await _recv_type(ws, "never sent")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert "exceeds limit" in closed.value.rcvd.reason


async def test_disconnect_mid_job_stops_the_job_and_frees_the_connection(scripted_engine: Any) -> None:
    # The engine is shared by the module: let the previous test's connection finish closing first.
    assert await asyncio.to_thread(scripted_engine.wait_idle, TIMEOUT)
    baseline = scripted_engine.stats()
    assert baseline["connections"] == 0
    names = [f"drop{i}" for i in range(3)]
    sockets = [await connect(_url(scripted_engine)) for _ in names]
    for ws, name in zip(sockets, names, strict=True):
        await ws.send(json.dumps({"do": "endless", "name": name}))
        await _recv_type(ws, "out")  # the job is running and streaming
    assert scripted_engine.stats()["connections"] == 3
    for ws in sockets:
        ws.transport.abort()  # vanish without a close frame, as a crashed client does
    for name in names:
        stopped = _ScriptedSession.stopped[name]
        assert await asyncio.to_thread(stopped.wait, TIMEOUT), f"job {name} kept running"
    assert await asyncio.to_thread(scripted_engine.wait_idle, TIMEOUT)
    after = scripted_engine.stats()
    assert after["connections"] == 0 and after["pending_jobs"] == 0 and after["jobs_in_flight"] == 0
    assert after["tasks"] <= baseline["tasks"]


async def test_a_job_nobody_wants_stops_while_the_socket_lives_on(scripted_engine: Any) -> None:
    async with connect(_url(scripted_engine)) as ws:
        await ws.send(json.dumps({"do": "endless", "name": "unwanted"}))
        await _recv_type(ws, "out")
        await ws.send(json.dumps({"do": "drop"}))
        stopped = _ScriptedSession.stopped["unwanted"]
        assert await asyncio.to_thread(stopped.wait, TIMEOUT), "the unwanted job kept running"
        finished = await _recv_type(ws, "finished")  # the session hears that it ended, without error
        assert finished["error"] is None
        await ws.send(json.dumps({"do": "echo", "tag": "still here"}))
        assert (await _recv_type(ws, "echo"))["tag"] == "still here"


async def test_engine_stop_closes_live_sessions_with_going_away() -> None:
    engine = start_engine(session_factory=_ScriptedSession)
    try:
        async with connect(_url(engine)) as ws:
            await _recv(ws)
            await asyncio.to_thread(engine.stop)
            with pytest.raises(ConnectionClosed) as closed:
                await _recv(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert not engine.running
    finally:
        engine.stop()
