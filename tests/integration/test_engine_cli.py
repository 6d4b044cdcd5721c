"""`realtime-nb serve` as a real process: it listens, serves, refuses, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from realtime_nb.cli import main

STARTUP_TIMEOUT_S = 60.0


class _Serve:
    """A `realtime-nb serve` subprocess and the URL it printed."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "realtime_nb.cli", "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.stdout_lines: list[str] = []
        self.url = ""

    def wait_listening(self) -> str:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"serve exited before listening: {self.finish()[1]}")
            self.stdout_lines.append(line)
            found = re.search(r"listening on (ws://\S+)", line)
            if found:
                self.url = found.group(1)
                # The banner's other lines are printed before the loop waits. Read them all here:
                # readline buffers ahead, and communicate() later reads the pipe, not that buffer.
                while line and not line.startswith("  pages trusted:"):
                    line = self.proc.stdout.readline()
                    self.stdout_lines.append(line)
                return self.url

    def interrupt(self) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGINT)
        return self.finish()

    def finish(self) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, "".join(self.stdout_lines) + out, err


@pytest.fixture
def serve_process() -> Iterator[Any]:
    started: list[_Serve] = []

    def start(*args: str, env: dict[str, str] | None = None) -> _Serve:
        process = _Serve(*args, env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait()


def test_help_lists_serve(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "serve" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["serve", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "--host" in text and "--port" in text and "--token" in text and "--preload" in text


def test_bad_port_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["serve", "--port", "seventy"])
    assert done.value.code == 2
    assert "port must be a number" in capsys.readouterr().err


async def test_serve_listens_serves_and_stops_on_ctrl_c(serve_process: Any) -> None:
    process = serve_process("--port", "0")
    url = await asyncio.to_thread(process.wait_listening)
    assert url.startswith("ws://127.0.0.1:")
    async with connect(url + "/v1/realtime?model=gpt-realtime") as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), STARTUP_TIMEOUT_S))["type"] == "session.created"
        code, out, err = await asyncio.to_thread(process.interrupt)
    assert code == 0, err
    assert "Traceback" not in err and "stopping" in err
    assert "/openai/realtime?api-version=" in out  # the URL forms are printed for the user
    assert "warning" not in err  # loopback: nothing to warn about


def test_serve_on_a_taken_port_explains(serve_process: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = serve_process("--port", str(port)).finish()
    assert code == 2
    assert str(port) in err and "in use" in err and "--port" in err
    assert "Traceback" not in err


async def test_serve_on_all_interfaces_warns(serve_process: Any) -> None:
    process = serve_process("--host", "0.0.0.0", "--port", "0")
    await asyncio.to_thread(process.wait_listening)
    code, _, err = await asyncio.to_thread(process.interrupt)
    assert code == 0
    assert "reachable from other machines" in err and "--token" in err


async def test_serve_token_from_environment_is_required_and_never_printed(serve_process: Any) -> None:
    secret = "env-token-5678"
    process = serve_process("--port", "0", "-v", env={"REALTIME_NB_TOKEN": secret})
    url = await asyncio.to_thread(process.wait_listening)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url + "/v1/realtime?model=m"):
            pass
    assert refused.value.response.status_code == 401
    async with connect(url + "/v1/realtime?model=m", additional_headers={"api-key": secret}) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), STARTUP_TIMEOUT_S))["type"] == "session.created"
    code, out, err = await asyncio.to_thread(process.interrupt)
    assert code == 0
    assert "token required (from $REALTIME_NB_TOKEN)" in out
    assert secret not in out and secret not in err


async def test_serve_token_on_the_command_line_works_and_warns_about_ps(serve_process: Any) -> None:
    secret = "argv-token-9012"
    process = serve_process("--port", "0", "--token", secret)
    url = await asyncio.to_thread(process.wait_listening)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url + "/v1/realtime?model=m"):
            pass
    assert refused.value.response.status_code == 401
    async with connect(url + "/v1/realtime?model=m", additional_headers={"api-key": secret}) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), STARTUP_TIMEOUT_S))["type"] == "session.created"
    code, out, err = await asyncio.to_thread(process.interrupt)
    assert code == 0
    assert "--token is visible" in err and "REALTIME_NB_TOKEN" in err
    assert "token required (from --token)" in out
    assert secret not in out and secret not in err


async def test_serve_from_the_environment_does_not_warn(serve_process: Any) -> None:
    process = serve_process("--port", "0", env={"REALTIME_NB_TOKEN": "env-token-3456"})
    await asyncio.to_thread(process.wait_listening)
    code, _, err = await asyncio.to_thread(process.interrupt)
    assert code == 0 and "warning" not in err


async def test_serve_allow_origin_trusts_the_named_page_and_refuses_others(serve_process: Any) -> None:
    process = serve_process("--port", "0", "--allow-origin", "https://lab.example.org/")
    url = await asyncio.to_thread(process.wait_listening)
    target = url + "/v1/realtime?model=gpt-realtime"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(target, origin="http://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    assert b"origin_not_allowed" in (refused.value.response.body or b"")
    for origin in ("https://lab.example.org", "http://127.0.0.1:8888", None):
        async with connect(target, origin=origin) as ws:
            event = json.loads(await asyncio.wait_for(ws.recv(), STARTUP_TIMEOUT_S))
            assert event["type"] == "session.created", origin
    code, out, _ = await asyncio.to_thread(process.interrupt)
    assert code == 0
    assert "pages trusted: loopback pages, https://lab.example.org" in out


async def test_serve_keepalive_flags_drop_a_peer_that_never_answers_pings(serve_process: Any) -> None:
    """``--keepalive-interval-s`` / ``--keepalive-timeout-s`` reach the engine: a raw client that reads
    everything but never answers a ping is closed with 1011 and the reason, on a real socket."""
    from websockets.client import ClientProtocol
    from websockets.frames import Close
    from websockets.uri import parse_uri

    process = serve_process("--port", "0", "--keepalive-interval-s", "0.3", "--keepalive-timeout-s", "0.3")
    url = await asyncio.to_thread(process.wait_listening)
    port = int(url.rsplit(":", 1)[1])
    protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}/v1/realtime?model=m"))

    def silent_client() -> list[Any]:
        with socket.create_connection(("127.0.0.1", port), timeout=STARTUP_TIMEOUT_S) as sock:
            protocol.send_request(protocol.connect())
            sock.sendall(b"".join(protocol.data_to_send()))  # the handshake; never a pong after it
            events: list[Any] = []
            while True:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                if not data:
                    protocol.receive_eof()
                    return events + protocol.events_received()
                protocol.receive_data(data)
                events += protocol.events_received()

    events = await asyncio.to_thread(silent_client)
    assert any(getattr(event, "opcode", None) is not None and event.opcode.name == "PING" for event in events)
    closes = [Close.parse(event.data) for event in events if getattr(event, "opcode", None) is not None
              and event.opcode.name == "CLOSE"]  # fmt: skip
    assert closes and closes[0].code == 1011 and closes[0].reason == "keepalive ping timeout"
    code, _, err = await asyncio.to_thread(process.interrupt)
    assert code == 0
    assert "disconnecting a client: keepalive ping timeout" in err
