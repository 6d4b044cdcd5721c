"""start_engine / Engine: background thread, URLs, ports, stop, and use from inside a running loop."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from realtime_nb.engine import Engine, EnginePortInUseError, start_engine


async def test_start_engine_from_inside_a_running_event_loop() -> None:
    # Jupyter cells run inside the kernel's loop: start_engine must not need (or touch) it.
    asyncio.get_running_loop()
    with start_engine() as engine:
        assert isinstance(engine, Engine) and engine.running
        assert engine.url == f"ws://127.0.0.1:{engine.port}"
        assert engine.websocket_base_url == engine.url + "/v1"
        assert engine.azure_websocket_base_url == engine.url + "/openai"
        async with connect(engine.url + "/v1/realtime?model=gpt-realtime") as ws:
            event = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert event["type"] == "session.created"
    assert not engine.running


def test_engine_port_in_use_by_another_engine_says_so(engine: Any) -> None:
    with pytest.raises(EnginePortInUseError) as error:
        start_engine(port=engine.port)
    message = str(error.value)
    assert str(engine.port) in message and "in use" in message and "port=0" in message
    assert engine.running  # the first engine is unaffected


def test_engine_port_in_use_by_any_program_says_so() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EnginePortInUseError, match=str(port)):
            start_engine(port=port)


@pytest.mark.parametrize("port", [-1, 70000, "8765"])
def test_bad_port_values_are_refused(port: Any) -> None:
    with pytest.raises(ValueError, match="port"):
        start_engine(port=port)


def test_unknown_engine_option_is_named() -> None:
    with pytest.raises(TypeError, match="no_such_option"):
        start_engine(no_such_option=1)


def test_bad_engine_option_value_is_refused_before_listening() -> None:
    with pytest.raises(ValueError, match="max_session_s"):
        start_engine(max_session_s=-5)


async def test_stop_is_idempotent_and_frees_the_port() -> None:
    engine = start_engine()
    port = engine.port
    async with connect(engine.url + "/v1/realtime?model=m") as ws:
        await asyncio.wait_for(ws.recv(), 30)
        await asyncio.to_thread(engine.stop)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
    engine.stop()
    assert not engine.running and "stopped" in repr(engine)
    # the same port can be taken again at once
    with start_engine(port=port) as again:
        assert again.port == port


def test_repr_shows_url_and_state_only() -> None:
    with start_engine(token="very-secret-token") as engine:
        text = repr(engine)
        assert engine.url in text and "running" in text and "auth=token" in text
        assert "very-secret-token" not in text
