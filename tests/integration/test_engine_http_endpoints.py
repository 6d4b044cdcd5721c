"""The engine's WebRTC signalling over a real loopback socket, on the port of its WebSocket.

The thing under test is the front door and the HTTP API (routing, keys, CORS, limits, hand-over to
websockets); the call registry is a small fake that records what it was asked, because media is
engineer B's part and has its own tests. Requests go through httpx, raw sockets (for what a polite
client never sends) and the official openai SDK (so the engine answers as the services do).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import h11
import httpx
import pytest
from openai import AsyncOpenAI
from websockets.asyncio.client import connect

from realtime_nb.engine import front_door, start_engine
from realtime_nb.engine.ephemeral_keys import KeyStore
from realtime_nb.engine.front_door import HttpLimits
from realtime_nb.protocol.dialect import Dialect

TOKEN = "tok-secret-123"
OFFER = (
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n"
)
GA_SESSION = {"type": "realtime", "model": "gpt-realtime", "instructions": "Answer in one sentence."}
PREVIEW_SESSION = {"model": "gpt-4o-realtime-preview", "modalities": ["audio", "text"], "voice": "verse"}
TIMEOUT = 15.0
LIMITS = HttpLimits(
    head_timeout_s=0.6, body_timeout_s=0.6, idle_timeout_s=1.5, call_timeout_s=1.5, max_body_bytes=64 * 1024
)


# --------------------------------------------------------------------------------------------------
# A fake call registry (the media side is not under test here)


class Refused(Exception):
    """CallRefused-shaped, as engine/calls.py raises it."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param


@dataclass(frozen=True)
class Opened:
    call_id: str
    answer_sdp: str


class FakeCalls:
    """Answers offers at once (or after `delay_s`); 'no audio' offers are refused as B's would be."""

    def __init__(self) -> None:
        self.opened: list[dict[str, Any]] = []
        self.live: set[str] = set()
        self.hung_up: list[str] = []
        self.closed = False
        self.delay_s = 0.0

    async def open_call(
        self,
        offer_sdp: str,
        *,
        dialect: Dialect,
        model: str | None,
        session: dict[str, Any] | None,
        api_version: str | None = None,
        webrtc_filter: bool = False,
    ) -> Opened:
        if "m=audio" not in offer_sdp:
            raise Refused(400, "invalid_offer", "The offer has no audio m-line.", "sdp")
        if "a=crash" in offer_sdp:
            raise RuntimeError("the media stack blew up")
        if "a=slow" in offer_sdp:
            await asyncio.sleep(30)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        call_id = f"rtc_{len(self.opened):04d}"
        self.opened.append(
            {
                "call_id": call_id,
                "dialect": dialect,
                "model": model,
                "session": session,
                "api_version": api_version,
                "webrtc_filter": webrtc_filter,
            }
        )
        self.live.add(call_id)
        return Opened(call_id, f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=answer {call_id}\r\n")

    async def hangup(self, call_id: str) -> bool:
        self.hung_up.append(call_id)
        if call_id in self.live:
            self.live.discard(call_id)
            return True
        return False

    def session_of(self, call_id: str) -> object | None:
        return None

    async def close_all(self) -> None:
        self.closed = True
        self.live.clear()

    def stats(self) -> dict[str, int]:
        return {"open": len(self.live)}


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Rig:
    engine: Any
    calls: FakeCalls
    clock: Clock

    @property
    def base(self) -> str:
        return self.engine.http_url

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, timeout=TIMEOUT, **kwargs)


def _rig(token: str | None = None) -> Iterator[Rig]:
    calls, clock = FakeCalls(), Clock()
    with start_engine(
        token=token,
        preload=False,
        calls=calls,
        allowed_origins=["https://lab.example.org"],
        server_options={"keys": KeyStore(clock=clock), "http_limits": LIMITS},
    ) as engine:
        yield Rig(engine, calls, clock)


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    yield from _rig()


@pytest.fixture(scope="module")
def token_rig() -> Iterator[Rig]:
    yield from _rig(TOKEN)


MINTS = {
    "ga-openai": ("/v1/realtime/client_secrets", {"session": GA_SESSION}),
    "ga-azure": ("/openai/v1/realtime/client_secrets", {"session": {**GA_SESSION, "model": "my-dep"}}),
    "preview-openai": ("/v1/realtime/sessions", PREVIEW_SESSION),
    "preview-azure": ("/openai/realtimeapi/sessions?api-version=2025-04-01-preview", PREVIEW_SESSION),
}
CALLS = {
    "ga-openai": ("/v1/realtime/calls", "/v1/realtime/calls/"),
    "ga-azure": ("/openai/v1/realtime/calls?webrtcfilter=on", "/openai/v1/realtime/calls/"),
    "preview-openai": ("/v1/realtime?model=gpt-4o-realtime-preview", "/v1/realtime/calls/"),
    "preview-azure": ("/v1/realtimertc?model=my-preview-dep", "/openai/v1/realtime/calls/"),
}


async def _mint(
    client: httpx.AsyncClient, flow: str, body: dict[str, Any] | None = None, **headers: str
) -> str:
    path, default = MINTS[flow]
    answer = await client.post(path, json=default if body is None else body, headers=headers)
    assert answer.status_code == 200, answer.text
    minted = answer.json()
    return minted["value"] if "value" in minted else minted["client_secret"]["value"]


async def _call(
    client: httpx.AsyncClient, flow: str, key: str, offer: str = OFFER, **headers: str
) -> httpx.Response:
    return await client.post(
        CALLS[flow][0],
        content=offer,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/sdp", **headers},
    )


def _error(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()["error"]
    assert error["code"] == code and error["message"], error
    return error


# --------------------------------------------------------------------------------------------------
# Every flow over the socket


@pytest.mark.parametrize("flow", sorted(MINTS))
async def test_each_flow_mints_then_opens_a_call(rig: Rig, flow: str) -> None:
    async with rig.client() as client:
        key = await _mint(client, flow)
        answer = await _call(client, flow, key)
    assert answer.status_code == 201, answer.text
    assert answer.headers["content-type"] == "application/sdp"
    if flow.startswith("ga"):
        location = answer.headers["location"]
        assert location.startswith(CALLS[flow][1])
        call_id = location.rsplit("/", 1)[1]
    else:
        assert "location" not in answer.headers  # a preview answer names no call, as on the services
        call_id = rig.calls.opened[-1]["call_id"]
    assert call_id.startswith("rtc_") and f"s=answer {call_id}" in answer.text
    recorded = next(c for c in rig.calls.opened if c["call_id"] == call_id)
    assert recorded["webrtc_filter"] is (flow == "ga-azure")  # its URL says ?webrtcfilter=on
    assert recorded["dialect"] is (Dialect.GA if flow.startswith("ga") else Dialect.PREVIEW)
    assert recorded["session"] == MINTS[flow][1].get("session", MINTS[flow][1])
    expected_model = {
        "ga-openai": "gpt-realtime",
        "ga-azure": "my-dep",
        "preview-openai": "gpt-4o-realtime-preview",
        "preview-azure": "my-preview-dep",
    }[flow]
    assert recorded["model"] == expected_model
    assert recorded["api_version"] == ("2025-04-01-preview" if flow == "preview-azure" else None)


async def test_the_unified_form_and_hangup(rig: Rig) -> None:
    async with rig.client() as client:
        files = {
            "sdp": (None, OFFER, "application/sdp"),
            "session": (None, json.dumps(GA_SESSION), "application/json"),
        }
        answer = await client.post(
            "/v1/realtime/calls", files=files, headers={"Authorization": "Bearer sk-any"}
        )
        assert answer.status_code == 201, answer.text
        call_id = answer.headers["location"].rsplit("/", 1)[1]
        assert rig.calls.opened[-1]["session"] == GA_SESSION
        hangup = await client.post(f"/v1/realtime/calls/{call_id}/hangup")
        assert hangup.status_code == 200 and hangup.content == b""
        again = await client.post(f"/v1/realtime/calls/{call_id}/hangup")
        _error(again, 404, "call_not_found")


async def test_the_openai_sdk_mints_places_and_hangs_up(rig: Rig) -> None:
    """The official client, pointed at the engine, works unchanged for every step it offers."""
    server = AsyncOpenAI(api_key="sk-local", base_url=rig.base + "/v1")
    secret = await server.realtime.client_secrets.create(
        expires_after={"anchor": "created_at", "seconds": 120},
        session={"type": "realtime", "model": "gpt-realtime"},
    )
    assert secret.value.startswith("ek_") and secret.session.type == "realtime"
    assert secret.expires_at >= int(time.time()) + 119
    page = AsyncOpenAI(api_key=secret.value, base_url=rig.base + "/v1")
    raw = await page.realtime.calls.with_raw_response.create(sdp=OFFER)  # application/sdp with the key
    assert raw.http_response.status_code == 201
    call_id = raw.headers["location"].rsplit("/", 1)[1]
    assert raw.parse().content.startswith(b"v=0")
    unified = await server.realtime.calls.with_raw_response.create(
        sdp=OFFER, session={"type": "realtime", "instructions": "Be brief."}
    )
    assert unified.http_response.status_code == 201
    assert rig.calls.opened[-1]["session"] == {"type": "realtime", "instructions": "Be brief."}
    await server.realtime.calls.hangup(call_id)
    preview = await server.beta.realtime.sessions.create(model="gpt-4o-realtime-preview", modalities=["text"])
    assert preview.client_secret.value.startswith("ek_")
    azure = AsyncOpenAI(
        api_key="az-key", base_url=rig.base + "/openai/v1", default_headers={"api-key": "az-key"}
    )
    azure_secret = await azure.realtime.client_secrets.create(session={"type": "realtime", "model": "my-dep"})
    assert azure_secret.session.model == "my-dep"
    for client in (server, page, azure):
        await client.close()


async def test_the_sdk_reads_a_refusal_as_the_services_error(rig: Rig) -> None:
    import openai

    page = AsyncOpenAI(api_key="ek_made-up-key-0000000000", base_url=rig.base + "/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        await page.realtime.calls.create(sdp=OFFER)
    assert refused.value.status_code == 401 and refused.value.code == "invalid_api_key"
    assert "ek_made-up" not in str(refused.value)
    await page.close()


# --------------------------------------------------------------------------------------------------
# Keys refused


async def test_an_expired_key_gets_401_naming_it(rig: Rig) -> None:
    async with rig.client() as client:
        key = await _mint(client, "ga-openai", {"expires_after": {"seconds": 10}, "session": GA_SESSION})
        assert (await _call(client, "ga-openai", key)).status_code == 201
        rig.clock.offset += 11
        try:
            error = _error(await _call(client, "ga-openai", key), 401, "expired_api_key")
        finally:
            rig.clock.offset -= 11
    assert "expired" in error["message"] and key not in json.dumps(error)


async def test_a_wrong_key_and_a_key_of_the_other_dialect_get_401(rig: Rig) -> None:
    async with rig.client() as client:
        _error(await _call(client, "ga-openai", "ek_wrong-0123456789abcdef"), 401, "invalid_api_key")
        _error(await _call(client, "ga-openai", "sk-a-standard-key"), 401, "invalid_api_key")
        missing = await client.post(
            "/v1/realtime/calls", content=OFFER, headers={"Content-Type": "application/sdp"}
        )
        _error(missing, 401, "missing_api_key")
        preview_key = await _mint(client, "preview-openai")
        error = _error(await _call(client, "ga-openai", preview_key), 401, "wrong_api_key_flow")
        assert "OpenAI preview" in error["message"] and preview_key not in json.dumps(error)
        ga_key = await _mint(client, "ga-openai")
        _error(await _call(client, "preview-openai", ga_key), 401, "wrong_api_key_flow")


async def test_the_registry_judges_the_sdp_and_its_refusal_is_passed_on(rig: Rig) -> None:
    async with rig.client() as client:
        key = await _mint(client, "ga-openai")
        error = _error(
            await _call(client, "ga-openai", key, "v=0\r\nno media here\r\n"), 400, "invalid_offer"
        )
        assert error["param"] == "sdp"
        _error(await _call(client, "ga-openai", key, OFFER + "a=crash\r\n"), 500, "server_error")
        _error(await _call(client, "ga-openai", key, OFFER + "a=slow\r\n"), 504, "call_setup_timeout")
        _error(await _call(client, "ga-openai", key, ""), 400, "missing_sdp")
        _error(
            await _call(client, "ga-openai", key, OFFER, **{"Content-Type": "text/plain"}),
            415,
            "unsupported_content_type",
        )
        _error(await client.post("/v1/realtime/nonsense", content=OFFER), 404, "not_found")
        assert (await _call(client, "ga-openai", key)).status_code == 201  # still serving


async def test_without_a_registry_calls_are_501_and_keys_still_mint() -> None:
    with start_engine(preload=False, calls=None) as engine:
        async with httpx.AsyncClient(base_url=engine.http_url, timeout=TIMEOUT) as client:
            key = await _mint(client, "ga-openai")
            error = _error(await _call(client, "ga-openai", key), 501, "webrtc_unavailable")
    assert "WebRTC calls are not available" in error["message"]


# --------------------------------------------------------------------------------------------------
# Token


async def test_with_a_token_minting_and_the_unified_form_need_it(token_rig: Rig) -> None:
    async with token_rig.client() as client:
        _error(await client.post("/v1/realtime/client_secrets", json={}), 401, "invalid_api_key")
        wrong = await client.post(
            "/v1/realtime/client_secrets", json={}, headers={"Authorization": "Bearer nope"}
        )
        _error(wrong, 401, "invalid_api_key")
        key = await _mint(client, "ga-openai", None, Authorization=f"Bearer {TOKEN}")
        assert (await _call(client, "ga-openai", key)).status_code == 201  # the key suffices for the call
        await _mint(client, "preview-azure", None, **{"api-key": TOKEN})
        files = {"sdp": (None, OFFER, "application/sdp")}
        _error(await client.post("/v1/realtime/calls", files=files), 401, "invalid_api_key")
        ok = await client.post("/v1/realtime/calls", files=files, headers={"api-key": TOKEN})
        assert ok.status_code == 201
        call_id = ok.headers["location"].rsplit("/", 1)[1]
        _error(await client.post(f"/v1/realtime/calls/{call_id}/hangup"), 401, "invalid_api_key")
        hung = await client.post(
            f"/v1/realtime/calls/{call_id}/hangup", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert hung.status_code == 200
        for answer in (wrong, ok, hung):
            assert TOKEN not in answer.text


async def test_with_a_token_an_ephemeral_key_opens_a_websocket_session_too(token_rig: Rig) -> None:
    """A page holds an ephemeral key, never the token: the key opens a WebSocket of its dialect in the
    forms browsers and SDKs send it; not a sideband, nor another dialect, nor once expired."""
    from websockets.exceptions import InvalidStatus

    async def status(path: str, **kw: Any) -> int:
        try:
            async with connect(token_rig.engine.url + path, open_timeout=TIMEOUT, **kw) as ws:
                assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "session.created"
                return 101
        except InvalidStatus as refused:
            return refused.response.status_code

    async with token_rig.client() as client:
        ga = await _mint(client, "ga-azure", None, **{"api-key": TOKEN})
        preview = await _mint(client, "preview-openai", None, Authorization=f"Bearer {TOKEN}")
    bearer = {"additional_headers": {"Authorization": f"Bearer {ga}"}}
    assert await status("/v1/realtime?model=m", **bearer) == 101
    browser = {"subprotocols": ["realtime", f"openai-insecure-api-key.{ga}"]}  # type: ignore[list-item]
    assert await status("/v1/realtime?model=m", **browser) == 101
    assert await status("/openai/v1/realtime?model=m", **bearer) == 101  # any GA path
    as_preview = {"Authorization": f"Bearer {preview}"}
    assert await status("/v1/realtime?model=m", additional_headers=as_preview) == 401  # another dialect
    beta = {**as_preview, "OpenAI-Beta": "realtime=v1"}
    assert await status("/v1/realtime?model=gpt-4o-realtime-preview", additional_headers=beta) == 101
    assert await status("/v1/realtime?call_id=rtc_0000", **bearer) == 401  # a sideband needs the token
    assert (
        await status("/v1/realtime?model=m", additional_headers={"Authorization": "Bearer ek_unknown"}) == 401
    )
    token_rig.clock.offset += 3600  # every key expired
    try:
        assert await status("/v1/realtime?model=m", **bearer) == 401
    finally:
        token_rig.clock.offset -= 3600


async def test_keys_and_the_token_never_reach_the_logs(
    token_rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with token_rig.client() as client:
        key = await _mint(client, "ga-openai", None, Authorization=f"Bearer {TOKEN}")
        assert (await _call(client, "ga-openai", key)).status_code == 201
        await _call(client, "ga-openai", key, "v=0\r\n")  # refused by the registry: logged
        await _call(client, "ga-openai", key, OFFER + "a=crash\r\n")  # a crash: logged with its traceback
        await client.post(f"/v1/realtime/client_secrets?api-key={TOKEN}x", json={})
        await client.post("/v1/realtime/calls/rtc_x/hangup", headers={"Authorization": f"Bearer {TOKEN}"})
    await asyncio.sleep(0.1)
    engine_side = [r for r in caplog.records if r.name.startswith(("realtime_nb", "websockets"))]
    assert engine_side, "the engine logs its calls"
    text = "\n".join(record.getMessage() + (record.exc_text or "") for record in engine_side)
    assert TOKEN not in text and key not in text


# --------------------------------------------------------------------------------------------------
# CORS over the socket


async def test_a_trusted_page_preflights_then_posts_on_one_connection(rig: Rig) -> None:
    """What a browser does: OPTIONS, then the POST, on the same kept-alive connection."""
    origin = "http://127.0.0.1:8888"
    async with rig.client(limits=httpx.Limits(max_connections=1)) as client:
        preflight = await client.options(
            "/v1/realtime/client_secrets",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == origin
        assert preflight.headers["access-control-allow-methods"] == "POST, OPTIONS"
        assert preflight.headers["access-control-allow-headers"] == "Authorization, Content-Type, api-key"
        assert preflight.headers["access-control-expose-headers"] == "Location"
        assert preflight.headers["vary"] == "Origin"
        key = await _mint(client, "ga-openai", None, Origin=origin)
        call = await _call(client, "ga-openai", key, Origin=origin)
        assert call.status_code == 201
        assert call.headers["access-control-allow-origin"] == origin
        assert call.headers["access-control-expose-headers"] == "Location"
        named = await client.options("/v1/realtime/calls", headers={"Origin": "https://lab.example.org"})
        assert named.headers["access-control-allow-origin"] == "https://lab.example.org"


async def test_another_origin_is_refused_before_anything_happens(rig: Rig) -> None:
    async with rig.client() as client:
        before = len(rig.calls.opened)
        key = await _mint(client, "ga-openai")
        for method in ("OPTIONS", "POST"):
            answer = await client.request(
                method,
                "/v1/realtime/calls",
                content=OFFER,
                headers={
                    "Origin": "https://evil.example.com",
                    "Authorization": f"Bearer {key}",
                    "Content-Type": "application/sdp",
                },
            )
            _error(answer, 403, "origin_not_allowed")
            assert not [h for h in answer.headers if h.lower().startswith("access-control-")]
    assert len(rig.calls.opened) == before


# --------------------------------------------------------------------------------------------------
# The WebSocket path on the same port


async def test_the_websocket_path_still_works_on_the_same_port(rig: Rig) -> None:
    from realtime_nb.client import Endpoint, RealtimeSession

    async with rig.client() as client:
        key = await _mint(client, "ga-openai")
        async with RealtimeSession(Endpoint.local(rig.engine.url), timeout=120.0) as session:
            assert session.session_id and session.session_id.startswith("sess_")
            assert (await _call(client, "ga-openai", key)).status_code == 201  # both at once
        async with connect(rig.engine.url + "/v1/realtime?model=m") as ws:
            event = json.loads(await asyncio.wait_for(ws.recv(), 120))
    assert event["type"] == "session.created"
    # and the plain GETs answer as before
    async with rig.client() as client:
        root = await client.get("/")
        assert root.status_code == 200 and "/v1/realtime?model=" in root.text
        assert (await client.get("/v1/realtime?model=m")).status_code == 426


# --------------------------------------------------------------------------------------------------
# Limits and misbehaving clients


async def _raw(rig: Rig, data: bytes, *, wait: float = TIMEOUT) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.engine.port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), wait)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def _parse(raw: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Every response in `raw` (HTTP/1.1, as h11 reads it)."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(raw)
    conn.receive_data(b"")
    out: list[tuple[int, dict[str, str], bytes]] = []
    status, headers, body = 0, {}, b""
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Response):
            status = event.status_code
            headers = {k.decode(): v.decode() for k, v in event.headers}
            body = b""
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            out.append((status, headers, body))
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is not h11.DONE:
                return out
            conn.start_next_cycle()
            conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
            conn.send(h11.EndOfMessage())
        else:
            return out


async def test_pipelined_requests_are_answered_in_order(rig: Rig) -> None:
    mint = json.dumps({"session": GA_SESSION}).encode()
    data = (
        b"OPTIONS /v1/realtime/calls HTTP/1.1\r\nHost: x\r\nOrigin: http://localhost:8888\r\n\r\n"
        b"POST /v1/realtime/client_secrets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(mint)}\r\n\r\n".encode()
        + mint
        + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    answers = _parse(await _raw(rig, data))
    assert [status for status, _, _ in answers] == [204, 200, 200]
    assert json.loads(answers[1][2])["value"].startswith("ek_")
    assert b"realtime_nb engine" in answers[2][2]


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (
            b"POST /v1/realtime/calls HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999\r\n\r\n",
            413,
            "request_too_large",
        ),
        (b"POST /v1/realtime/calls HTTP/1.1\r\nHost: x\r\nContent-Type: applic", 408, "request_timeout"),
        (
            b"POST /v1/realtime/calls HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nv=0",
            408,
            "request_timeout",
        ),
        (  # a head still growing past 64 KiB (a complete one read at once is merely parsed)
            b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 100_000,
            431,
            "request_header_fields_too_large",
        ),
        (
            b"POST /v1/realtime/calls?api-key=sk-secret HTTP/1.1 trailing\r\nHost: x\r\n\r\n",
            400,
            "bad_request",
        ),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64 + b"\r\n\r\n", 400, "bad_request"),
    ],
    ids=["too-large", "stalled-head", "stalled-body", "huge-head", "bad-request-line", "tls-hello"],
)
async def test_misbehaving_requests_get_a_status_and_a_closed_connection(
    rig: Rig, data: bytes, status: int, code: str
) -> None:
    raw = await _raw(rig, data)  # read() returns: the engine closed the connection
    [(got, headers, body)] = _parse(raw)
    assert got == status, raw[:300]
    assert json.loads(body)["error"]["code"] == code
    assert headers.get("connection") == "close"
    assert b"sk-secret" not in raw


async def test_a_chunked_body_past_the_limit_is_413(rig: Rig) -> None:
    chunk = b"a" * 40_000
    framed = b"".join(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(2)) + b"0\r\n\r\n"
    data = b"POST /v1/realtime/calls HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + framed
    [(status, _, _)] = _parse(await _raw(rig, data))
    assert status == 413


async def test_an_idle_kept_alive_connection_is_closed(rig: Rig) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.engine.port)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        data = await asyncio.wait_for(reader.read(), TIMEOUT)  # returns at EOF: the engine closed
        assert b"200 OK" in data
        assert time.monotonic() - started >= LIMITS.idle_timeout_s * 0.9
    finally:
        writer.close()


async def test_a_silent_connection_is_closed_without_an_answer(rig: Rig) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.engine.port)
    try:
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
    finally:
        writer.close()


async def test_without_h11_posts_say_so_and_gets_and_websockets_work_as_before(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(front_door, "h11", None)
    data = b"POST /v1/realtime/client_secrets HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
    [(status, _, body)] = _parse(await _raw(rig, data))
    assert status == 501 and b"realtime-nb[webrtc]" in body
    [(status, _, body)] = _parse(await _raw(rig, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert status == 200 and b"realtime_nb engine" in body
    async with connect(rig.engine.url + "/v1/realtime?model=m") as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 120))["type"] == "session.created"


async def test_a_hundred_abandoned_mints_and_calls_leave_the_engine_serving(rig: Rig) -> None:
    rig.calls.delay_s = 0.2  # the offer is still being answered when its client leaves
    try:
        async with rig.client() as client:
            key = await _mint(client, "ga-openai")
        opened_before = len(rig.calls.opened)
        call = (
            b"POST /v1/realtime/calls HTTP/1.1\r\nHost: x\r\nContent-Type: application/sdp\r\n"
            + f"Authorization: Bearer {key}\r\nContent-Length: {len(OFFER)}\r\n\r\n".encode()
            + OFFER.encode()
        )
        mint = b"POST /v1/realtime/client_secrets HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
        kinds = [call, mint, call[:50], b"", call + call]

        async def abandon(data: bytes) -> None:
            _, writer = await asyncio.open_connection("127.0.0.1", rig.engine.port)
            writer.write(data)
            await writer.drain()
            writer.close()  # without reading a byte

        await asyncio.gather(*(abandon(kinds[i % len(kinds)]) for i in range(100)))

        def quiet() -> bool:
            stats = rig.engine.stats()
            return stats["http_connections"] == 0 and stats["undecided_connections"] == 0

        deadline = time.monotonic() + TIMEOUT
        while not quiet() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert quiet(), rig.engine.stats()
        # Calls nobody received the answer of were hung up, not left to time out.
        abandoned = [c["call_id"] for c in rig.calls.opened[opened_before:]]
        assert abandoned, "some of the abandoned offers reached the registry"
        assert set(abandoned) <= set(rig.calls.hung_up)
        assert not set(abandoned) & rig.calls.live
        # and everyone else is still served
        async with rig.client() as client:
            assert (await _call(client, "ga-openai", await _mint(client, "ga-openai"))).status_code == 201
        async with connect(rig.engine.url + "/v1/realtime?model=m") as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 120))["type"] == "session.created"
    finally:
        rig.calls.delay_s = 0.0


def test_stop_closes_http_clients_and_the_calls() -> None:
    calls = FakeCalls()
    engine = start_engine(preload=False, calls=calls, server_options={"http_limits": LIMITS})

    async def hold() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", engine.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # keep-alive: the engine keeps it open
        await reader.readuntil(b"\r\n\r\n")
        assert engine.stats()["http_connections"] == 1
        await asyncio.get_running_loop().run_in_executor(None, engine.stop)
        rest = await asyncio.wait_for(reader.read(), TIMEOUT)  # returns at EOF: closed, not hanging
        assert b"realtime_nb engine" in rest
        writer.close()

    asyncio.run(hold())
    assert calls.closed and not engine.running


async def test_expect_100_continue_is_honoured(rig: Rig) -> None:
    """curl sends Expect: 100-continue for bodies over 1 KiB and waits for the go-ahead."""
    body = json.dumps({"session": {**GA_SESSION, "instructions": "x" * 2000}}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.engine.port)
    try:
        writer.write(
            b"POST /v1/realtime/client_secrets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n".encode()
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert interim.startswith(b"HTTP/1.1 100 ")
        writer.write(body)
        final = await asyncio.wait_for(reader.read(), TIMEOUT)
    finally:
        writer.close()
    assert final.startswith(b"HTTP/1.1 200 OK") and b'"value": "ek_' in final


def test_a_registry_factory_is_built_on_the_engine_loop_with_the_server() -> None:
    built: list[tuple[Any, Any]] = []

    def factory(server: Any) -> FakeCalls:
        built.append((server, asyncio.get_running_loop()))
        return FakeCalls()

    with start_engine(preload=False, calls=factory) as engine:

        async def place() -> httpx.Response:
            async with httpx.AsyncClient(base_url=engine.http_url, timeout=TIMEOUT) as client:
                return await _call(client, "ga-openai", await _mint(client, "ga-openai"))

        assert asyncio.run(place()).status_code == 201
        [(server, loop)] = built
        assert server is engine._server and loop is engine._loop
        assert engine.stats()["calls_open"] == 1


async def test_a_fault_in_the_api_is_a_500_and_the_engine_serves_on(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(request: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(rig.engine._server.front_door.api, "handle", broken)
    async with rig.client() as client:
        _error(await client.post("/v1/realtime/client_secrets", json={}), 500, "server_error")
    monkeypatch.undo()
    async with rig.client() as client:
        assert (await client.post("/v1/realtime/client_secrets", json={})).status_code == 200
