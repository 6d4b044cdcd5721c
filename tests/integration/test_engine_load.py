"""The engine under slow clients and load: backpressure, keepalive, fair scheduling, big frames, churn.

The adapter is under test (connection, outbox, pool lanes), so the session is a small scripted
stand-in; ordering is forced with gates the test opens (never wall-clock thresholds). A stalled
reader is a raw socket that completes the WebSocket handshake and then never reads again, with a
small receive buffer so the kernel stops taking the engine's frames early.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from websockets.asyncio.client import connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.uri import parse_uri

from realtime_nb.engine import start_engine
from realtime_nb.engine.job_runner import IN_TRANSIT
from realtime_nb.engine.jobs import Job, JobKind
from realtime_nb.engine.outbox import Backpressure
from realtime_nb.engine.server import TRIM_AFTER_S, Route

TIMEOUT = 10.0
CHUNK = "x" * 16_384  # one synthesized "chunk" of the flood: 16 KiB of event text


class _Script:
    """Stand-in core; each client frame is a JSON command."""

    gates: ClassVar[dict[str, threading.Event]] = {}
    produced: ClassVar[dict[str, int]] = {}

    def __init__(self, route: Route, now: float) -> None:
        self.closed = False
        self.close_reason: str | None = None
        self._out: list[dict[str, Any]] = [{"type": "session.created"}]
        self._jobs: list[Job] = []

    @classmethod
    def gate(cls, name: str) -> threading.Event:
        return cls.gates.setdefault(name, threading.Event())

    def receive_text(self, text: str, now: float) -> None:
        command = json.loads(text)
        action = command["do"]
        if action == "echo":
            self._out.append({"type": "echo", "tag": command.get("tag")})
        elif action == "flood":  # a reply that never ends, as fast as the worker can make it
            name = command["name"]
            self._jobs.append(Job(JobKind.SYNTHESIZE, name, lambda: _flood(name)))
        elif action == "gated_synth":  # a synthesis step that lasts until the test says so
            gate = self.gate(command["gate"])
            self._jobs.append(Job(JobKind.SYNTHESIZE, "g", lambda: _gated(gate)))
        elif action == "short":  # a transcription-like job
            self._jobs.append(Job(JobKind.TRANSCRIBE, "t", lambda: iter(["heard"])))
        elif action == "heavy":  # a big append: its processing lasts until the gate opens
            opened = self.gate(command["gate"]).wait(TIMEOUT)
            self._out.append({"type": "heavy.done", "gate_was_opened": opened})

    def receive_bytes(self, data: bytes, now: float) -> None:
        self._out.append({"type": "binary", "size": len(data)})

    def tick(self, now: float) -> None:
        pass

    def events_to_send(self) -> list[dict[str, Any]]:
        out, self._out = self._out, []
        return out

    def jobs_to_run(self) -> list[Any]:
        jobs, self._jobs = self._jobs, []
        return jobs

    def job_output(self, job: Any, value: Any, now: float) -> None:
        self._out.append({"type": "out", "owner": job.owner, "value": value})

    def job_finished(self, job: Any, now: float, error: BaseException | None) -> None:
        self._out.append({"type": "finished", "owner": job.owner})


def _flood(name: str) -> Iterator[str]:
    _Script.produced[name] = 0
    while True:
        _Script.produced[name] += 1
        yield CHUNK


def _gated(gate: threading.Event) -> Iterator[str]:
    gate.wait(TIMEOUT)
    yield "spoken"


async def _read_a_flood_slowly(engine: Any, name: str, caplog: Any) -> ConnectionClosed:
    """Ask the script for a flood over a socket with a small receive buffer and read it slowly (a
    frame per 0.2 s) until the engine has logged giving up on this reader; how it was closed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", engine.port))
    async with connect(f"{engine.url}/v1/realtime?model=m", sock=sock, max_queue=1) as ws:
        await _recv_type(ws, "session.created")
        await ws.send(json.dumps({"do": "flood", "name": name}))
        dropped = lambda: any("client not reading" in r.getMessage() for r in caplog.records)  # noqa: E731
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
                if not dropped():
                    await asyncio.sleep(0.2)  # slow, until the engine gave up on it
    return closed.value


def _engine(**server_options: Any) -> Any:
    return start_engine(
        port=0, session_factory=_Script, preload=False, calls=None, server_options=server_options
    )


async def _stalled_reader(port: int, command: dict[str, Any]) -> socket.socket:
    """A client that sends ``command`` right after the handshake and never reads again."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}/v1/realtime?model=m"))
    protocol.send_request(protocol.connect())
    sock.sendall(b"".join(protocol.data_to_send()))
    response = b""
    while b"\r\n\r\n" not in response:
        response += await asyncio.to_thread(sock.recv, 1)  # byte by byte: no frame is read
    assert response.startswith(b"HTTP/1.1 101"), response
    protocol.receive_data(response)
    protocol.send_text(json.dumps(command).encode())
    sock.sendall(b"".join(protocol.data_to_send()))
    return sock


async def _until(predicate: Any, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def _recv_type(ws: Any, wanted: str) -> dict[str, Any]:
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if event["type"] == wanted:
            return event


async def test_a_stalled_reader_is_disconnected_and_its_output_stays_bounded(caplog) -> None:
    limits = Backpressure(
        send_ahead_bytes=256 * 1024, max_unsent_bytes=2 * 2**20, max_lag_s=1.0, ping_interval_s=None
    )
    caplog.set_level(logging.WARNING, logger="realtime_nb.engine")
    with _engine(backpressure=limits) as engine:
        sock = await _stalled_reader(engine.port, {"do": "flood", "name": "stalled"})
        try:
            peak = 0
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline:
                stats = engine.stats()
                peak = max(peak, stats["unsent_bytes"])
                if "stalled" in _Script.produced and stats["connections"] == 0:
                    break
                await asyncio.sleep(0.02)
            assert engine.stats()["connections"] == 0, "the stalled reader was never disconnected"
            assert engine.wait_idle(TIMEOUT)  # its synthesis stopped with it
            # The outbox held at most the pause threshold plus the chunks already on their way to
            # the loop when it filled: synthesis waited for the socket.
            assert peak <= limits.send_ahead_bytes + (IN_TRANSIT + 1) * (len(CHUNK) + 200)
            produced = _Script.produced["stalled"] * len(CHUNK)
            assert produced < 64 * 2**20, f"synthesis ran ahead unpaced: {produced} bytes"
            assert any("client not reading" in r.getMessage() for r in caplog.records)
        finally:
            sock.close()


async def test_a_reader_too_slow_for_its_lag_limit_reads_a_1008_close_with_the_reason(caplog) -> None:
    """Synthesis is paced to the reader, so a slow reader falls behind only when it reads slower
    than the lag limit allows; it is then closed with 1008 and the reason, which it still reads."""
    limits = Backpressure(
        send_ahead_bytes=64 * 1024, max_unsent_bytes=2**20, max_lag_s=0.5, ping_interval_s=None
    )
    caplog.set_level(logging.WARNING, logger="realtime_nb.engine")
    with _engine(backpressure=limits, close_timeout=TIMEOUT) as engine:
        closed = await _read_a_flood_slowly(engine, "slow", caplog)
        assert closed.rcvd is not None
        assert closed.rcvd.code == 1008
        assert "client not reading" in closed.rcvd.reason
        assert engine.wait_idle(TIMEOUT)


async def test_a_slow_reader_is_disconnected_at_the_byte_limit_given_to_start_engine(caplog) -> None:
    """The limits as a user sets them (``start_engine(backpressure={...})``, as the CLI flags do):
    the reader is closed with 1008 once more than the configured bytes wait, and it reads why."""
    limits = {"send_ahead_bytes": 16 * 1024, "max_unsent_bytes": 16 * 1024, "max_lag_s": 3600.0}
    caplog.set_level(logging.WARNING, logger="realtime_nb.engine")
    with start_engine(
        port=0,
        session_factory=_Script,
        preload=False,
        calls=None,
        backpressure={**limits, "ping_interval_s": None},
        server_options={"close_timeout": TIMEOUT},
    ) as engine:
        closed = await _read_a_flood_slowly(engine, "bytes", caplog)
        assert closed.rcvd is not None
        assert closed.rcvd.code == 1008
        assert "of events unsent (limit 16 KiB)" in closed.rcvd.reason
        assert engine.wait_idle(TIMEOUT)


async def test_the_keepalive_times_out_a_peer_that_does_not_answer(caplog) -> None:
    # The lag and byte limits are out of reach: only the keepalive can notice this peer.
    limits = Backpressure(
        send_ahead_bytes=256 * 1024,
        max_unsent_bytes=2**30,
        max_lag_s=3600.0,
        ping_interval_s=0.2,
        ping_timeout_s=0.5,
    )
    caplog.set_level(logging.WARNING, logger="realtime_nb.engine")
    with _engine(backpressure=limits) as engine:
        sock = await _stalled_reader(engine.port, {"do": "flood", "name": "silent"})
        try:
            await _until(lambda: "silent" in _Script.produced and engine.stats()["connections"] == 0)
            assert any("keepalive ping timeout" in r.getMessage() for r in caplog.records)
            assert engine.wait_idle(TIMEOUT)
        finally:
            sock.close()


async def test_a_new_session_is_created_while_every_worker_synthesizes() -> None:
    """Two workers, four sessions' synthesis steps holding them (two more queued): a new session's
    setup and an existing session's short job still run, before any synthesis step ends."""
    gate = _Script.gate("synth-busy")
    gate.clear()
    with _engine(workers=2) as engine:
        busy = [await connect(f"{engine.url}/v1/realtime?model=m") for _ in range(4)]
        try:
            for ws in busy:
                await _recv_type(ws, "session.created")
                await ws.send(json.dumps({"do": "gated_synth", "gate": "synth-busy"}))
            await _until(lambda: engine.stats()["jobs_queued"] == 2)  # two run, two wait
            async with connect(f"{engine.url}/v1/realtime?model=m") as newcomer:
                await _recv_type(newcomer, "session.created")
                assert not gate.is_set() and engine.stats()["jobs_queued"] == 2
            await busy[0].send(json.dumps({"do": "short"}))
            assert (await _recv_type(busy[0], "out"))["value"] == "heard"
            assert not gate.is_set()  # no synthesis step had ended: nothing was queued behind one
        finally:
            gate.set()
            for ws in busy:
                await ws.close()


async def test_a_big_frame_does_not_block_other_connections() -> None:
    """The big frame's processing waits until the bystander's echo came back: only possible if the
    loop kept serving while the big frame was being handled."""
    gate = _Script.gate("heavy")
    gate.clear()
    with _engine(backpressure=Backpressure(offload_bytes=64 * 1024)) as engine:
        async with (
            connect(f"{engine.url}/v1/realtime?model=m") as big,
            connect(f"{engine.url}/v1/realtime?model=m") as bystander,
        ):
            await _recv_type(big, "session.created")
            await _recv_type(bystander, "session.created")
            await big.send(json.dumps({"do": "heavy", "gate": "heavy", "pad": "a" * 200_000}))
            await asyncio.sleep(0.05)  # the big frame is in the session by now (or blocking the loop)
            await bystander.send(json.dumps({"do": "echo", "tag": "ping"}))
            try:
                echo = await _recv_type(bystander, "echo")
            finally:
                gate.set()
            assert echo["tag"] == "ping"
            done = await _recv_type(big, "heavy.done")
            assert done["gate_was_opened"] is True
            # and that session goes on, in order, after its big frame
            await big.send(json.dumps({"do": "echo", "tag": "after"}))
            assert (await _recv_type(big, "echo"))["tag"] == "after"


async def test_text_and_binary_frames_big_and_small_keep_their_kind_and_order() -> None:
    """Session sockets receive text frames as bytes (decoded off the loop when big): the session still
    gets each text frame as text and each binary frame as bytes, in the order sent."""
    with _engine(backpressure=Backpressure(offload_bytes=64 * 1024)) as engine:
        async with connect(f"{engine.url}/v1/realtime?model=m") as ws:
            await _recv_type(ws, "session.created")
            big_text = json.dumps({"do": "echo", "tag": "big é", "pad": "é" * 100_000})
            for frame in (big_text, b"\x00" * 100_000, json.dumps({"do": "echo", "tag": "small"}), b"\x01"):
                await ws.send(frame)
            seen = []
            while len(seen) < 4:
                event = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
                if event["type"] in ("echo", "binary"):
                    seen.append(event.get("tag", event.get("size")))
            assert seen == ["big é", 100_000, "small", 1]


@pytest.mark.parametrize("size", [10, 200_000])
async def test_a_text_frame_that_is_not_utf8_closes_the_socket_with_1007(size: int) -> None:
    """As websockets does when it decodes: 1007 (invalid data) and where the bad byte is, whether the
    frame was decoded on the loop (small) or on the worker thread (big)."""
    with _engine(backpressure=Backpressure(offload_bytes=64 * 1024)) as engine:
        async with connect(f"{engine.url}/v1/realtime?model=m") as ws:
            await _recv_type(ws, "session.created")
            await ws.send(b"a" * size + b"\xff", text=True)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1007
    assert f"at position {size}" in closed.value.rcvd.reason


async def test_a_disconnect_storm_leaves_no_task_thread_or_job_behind() -> None:
    with _engine() as engine:
        async with connect(f"{engine.url}/v1/realtime?model=m") as warm:  # threads started, loop warm
            await _recv_type(warm, "session.created")
            await warm.send(json.dumps({"do": "short"}))
            await _recv_type(warm, "finished")
        assert engine.wait_idle(TIMEOUT)
        await asyncio.sleep(TRIM_AFTER_S + 0.5)  # the heap trim after the last close has run
        baseline_tasks = engine.stats()["tasks"]
        baseline_threads = threading.active_count()

        async def one(i: int) -> None:
            ws = await connect(f"{engine.url}/v1/realtime?model=m")
            await _recv_type(ws, "session.created")
            await ws.send(json.dumps({"do": "flood", "name": f"storm-{i}"}))
            await _recv_type(ws, "out")  # mid-reply
            ws.transport.abort()  # abrupt: no close handshake

        for wave in range(5):
            await asyncio.gather(*(one(wave * 8 + k) for k in range(8)))
        assert engine.wait_idle(TIMEOUT)
        await asyncio.sleep(TRIM_AFTER_S + 0.5)
        stats = engine.stats()
        assert stats["connections"] == 0 and stats["pending_jobs"] == 0 and stats["jobs_in_flight"] == 0
        assert stats["jobs_queued"] == 0 and stats["unsent_bytes"] == 0
        assert stats["tasks"] == baseline_tasks
        assert threading.active_count() == baseline_threads


@pytest.fixture(autouse=True)
def _open_gates() -> Iterator[None]:
    yield
    for gate in _Script.gates.values():
        gate.set()
