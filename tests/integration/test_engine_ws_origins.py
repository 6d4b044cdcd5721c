"""The WebSocket handshake's origin rule over a real socket: pages the engine was not told to trust are
refused (403) before the upgrade, as its HTTP endpoints refuse them; programs (no ``Origin``) pass.

A browser sends ``Origin`` with every WebSocket handshake and applies no CORS to WebSockets, so this
header is the engine's only defence against a page on another site driving it from the user's
browser. The raw websockets client here sets the header as a browser would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

NAMED = "https://lab.example.org"
PATH = "/v1/realtime?model=gpt-realtime"


@pytest.fixture(scope="module")
def named_engine() -> Iterator[Any]:
    """An engine that trusts one named page origin besides loopback ones (models shared in-process)."""
    from realtime_nb.engine import start_engine

    with start_engine(allowed_origins=[NAMED], calls=None) as running:
        yield running


async def _session_created(url: str, **kwargs: Any) -> dict[str, Any]:
    async with connect(url, **kwargs) as ws:
        return json.loads(await asyncio.wait_for(ws.recv(), 60))


async def _refused(url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, **kwargs):
            pass
    response = refused.value.response
    return response.status_code, json.loads((response.body or b"{}").decode())


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "https://evil.example.com:8443",
        "http://localhost.evil.example",  # looks like loopback, is not
        "http://lab.example.org",  # the named origin is https
        "null",  # sandboxed frames and file:// pages
    ],
)
async def test_untrusted_page_is_refused_before_the_upgrade(named_engine: Any, origin: str) -> None:
    status, body = await _refused(named_engine.url + PATH, origin=origin)
    assert status == 403
    assert body["error"]["code"] == "origin_not_allowed"
    assert "--allow-origin" in body["error"]["message"]
    assert named_engine.stats()["connections"] == 0


async def test_an_untrusted_page_is_refused_before_the_token_is_looked_at(token_engine: Any) -> None:
    # 403, not 401: a page from an untrusted site learns nothing about the token either.
    status, body = await _refused(
        token_engine.url + PATH,
        origin="http://evil.example",
        additional_headers={"Authorization": "Bearer tok-secret-123"},
    )
    assert status == 403 and body["error"]["code"] == "origin_not_allowed"


@pytest.mark.parametrize(
    "origin",
    [
        None,  # our client, the openai SDK, curl: programs send no Origin
        "http://127.0.0.1:8888",  # the notebook's own JupyterLab page
        "http://localhost:8888",
        "http://[::1]:9999",
        NAMED,
        "https://LAB.example.org:443",  # the same origin, written differently
    ],
)
async def test_trusted_pages_and_programs_connect(named_engine: Any, origin: str | None) -> None:
    kwargs = {"origin": origin} if origin is not None else {}
    event = await _session_created(named_engine.url + PATH, **kwargs)
    assert event["type"] == "session.created"


async def test_the_default_engine_trusts_only_loopback_pages(engine: Any) -> None:
    status, _ = await _refused(engine.url + PATH, origin=NAMED)
    assert status == 403
    assert (await _session_created(engine.url + PATH, origin="http://127.0.0.1:8888"))["type"] == (
        "session.created"
    )


async def test_two_origin_headers_are_refused(named_engine: Any) -> None:
    headers = [("Origin", "http://127.0.0.1:8888"), ("Origin", "http://evil.example")]
    status, body = await _refused(named_engine.url + PATH, additional_headers=headers)
    assert status == 403 and body["error"]["code"] == "origin_not_allowed"


async def test_refused_origin_is_quoted_truncated(named_engine: Any) -> None:
    long_origin = "http://" + "e" * 5000 + ".example"
    status, body = await _refused(named_engine.url + PATH, origin=long_origin)
    assert status == 403
    assert len(body["error"]["message"]) < 600
