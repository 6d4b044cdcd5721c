"""Handshake routing and auth over a real socket: every URL form the openai SDK builds, and refusals."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from openai import AsyncAzureOpenAI, AsyncOpenAI
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.redaction import MASK

TOKEN = "tok-secret-123"
PREVIEW_MODEL = "gpt-4o-realtime-preview"  # what the token_engine fixture requires


async def _first_event(ws: Any) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), 30))


async def _refused(url: str, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, **kwargs):
            pass
    response = refused.value.response
    return response.status_code, (response.body or b"").decode()


# --------------------------------------------------------------------------------------------------
# The URL forms of the SDK


def _ga(engine: Any) -> Any:
    return AsyncOpenAI(api_key="sk-local", websocket_base_url=engine.websocket_base_url).realtime.connect(
        model="gpt-realtime"
    )


def _beta(engine: Any) -> Any:
    return AsyncOpenAI(
        api_key="sk-local", websocket_base_url=engine.websocket_base_url
    ).beta.realtime.connect(model="gpt-4o-realtime-preview")


def _azure_v1(engine: Any) -> Any:
    client = AsyncOpenAI(api_key="az-local", websocket_base_url=engine.url + "/openai/v1")
    return client.realtime.connect(model="my-realtime-deployment")


def _azure_client(version: str, *, beta: bool = False) -> Callable[[Any], Any]:
    def make(engine: Any) -> Any:
        client = AsyncAzureOpenAI(
            api_key="az-local",
            api_version=version,
            azure_endpoint="https://example-resource.openai.azure.com",
            websocket_base_url=engine.azure_websocket_base_url,
        )
        resource = client.beta.realtime if beta else client.realtime
        return resource.connect(model="my-preview-deployment")

    return make


SDK_FORMS = {
    "openai-ga": (_ga, Dialect.GA, "gpt-realtime"),
    "openai-beta": (_beta, Dialect.PREVIEW, "gpt-4o-realtime-preview"),
    "azure-ga-v1": (_azure_v1, Dialect.GA, "my-realtime-deployment"),
    # AsyncAzureOpenAI builds the preview URL even from the GA `client.realtime` (ga.md §1); a preview
    # deployment name is not a model name, so the model behind it is reported, as Azure does.
    "azure-client-2025-04": (_azure_client("2025-04-01-preview"), Dialect.PREVIEW, PREVIEW_MODEL),
    "azure-client-2024-10": (_azure_client("2024-10-01-preview"), Dialect.PREVIEW, PREVIEW_MODEL),
    "azure-client-beta": (_azure_client("2025-04-01-preview", beta=True), Dialect.PREVIEW, PREVIEW_MODEL),
}


@pytest.mark.parametrize("form", sorted(SDK_FORMS))
async def test_every_sdk_url_form_gets_a_session_in_its_dialect(
    engine: Any, validate: Any, form: str
) -> None:
    make, dialect, model = SDK_FORMS[form]
    async with make(engine) as conn:
        event = json.loads(await asyncio.wait_for(conn.recv_bytes(), 30))
    validate(event, dialect)
    assert event["type"] == "session.created"
    session = event["session"]
    assert session["model"] == model
    if dialect is Dialect.GA:
        assert session["type"] == "realtime" and "output_modalities" in session
    else:
        assert "modalities" in session and "type" not in session


# --------------------------------------------------------------------------------------------------
# Refusals

REFUSALS = [
    ("/v2/realtime?model=m", 404, "no realtime endpoint"),
    ("/v1/realtime", 400, "model"),
    ("/v1/realtime?model=", 400, "model"),
    ("/v1/realtime?call_id=rtc_123", 404, "call_id"),  # no such WebRTC call
    ("/v1/realtime?call_id=", 400, "call_id"),
    ("/openai/v1/realtime", 400, "deployment name"),
    ("/openai/v1/realtime?model=dep&api-version=2025-04-01-preview", 401, "api-version"),
    ("/openai/realtime?deployment=dep", 400, "needs ?api-version"),
    ("/openai/realtime?api-version=2025-08-28&deployment=dep", 400, "'2025-08-28'"),
    ("/openai/realtime?api-version=2025-04-01-preview", 400, "deployment"),
]


@pytest.mark.parametrize(("path", "status", "says"), REFUSALS)
async def test_bad_urls_are_refused_with_status_and_reason(
    engine: Any, path: str, status: int, says: str
) -> None:
    code, body = await _refused(engine.url + path)
    assert code == status
    error = json.loads(body)["error"]
    assert says in error["message"]
    assert error["code"]


async def test_sdk_azure_client_with_a_ga_api_version_is_told_what_to_use(engine: Any) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with _azure_client("2025-08-28")(engine):
            pass
    assert refused.value.response.status_code == 400
    assert b"/openai/v1/realtime" in (refused.value.response.body or b"")


async def test_sdk_azure_client_on_the_v1_base_gets_401_like_azure(engine: Any) -> None:
    client = AsyncAzureOpenAI(
        api_key="az-local",
        api_version="2025-04-01-preview",
        azure_endpoint="https://example-resource.openai.azure.com",
        websocket_base_url=engine.url + "/openai/v1",
    )
    with pytest.raises(InvalidStatus) as refused:
        async with client.realtime.connect(model="dep"):
            pass
    assert refused.value.response.status_code == 401


async def test_plain_http_get_of_the_root_says_what_to_connect_to(engine: Any) -> None:
    http_url = engine.url.replace("ws://", "http://") + "/"
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(http_url, timeout=10).read().decode())
    assert "/v1/realtime?model=" in body and "/openai/realtime?api-version=" in body


# --------------------------------------------------------------------------------------------------
# Token auth

ACCEPTED = {
    "bearer": ({"additional_headers": {"Authorization": f"Bearer {TOKEN}"}}, ""),
    "api-key header": ({"additional_headers": {"api-key": TOKEN}}, ""),
    "api-key query": ({}, f"&api-key={TOKEN}"),
    "browser subprotocol": ({"subprotocols": ["realtime", f"openai-insecure-api-key.{TOKEN}"]}, ""),
}


@pytest.mark.parametrize("how", sorted(ACCEPTED))
async def test_token_accepted_in_every_client_form(token_engine: Any, how: str) -> None:
    kwargs, query = ACCEPTED[how]
    async with connect(token_engine.url + "/v1/realtime?model=m" + query, **kwargs) as ws:
        event = await _first_event(ws)
        if "subprotocols" in kwargs:
            assert ws.subprotocol == "realtime"  # the key subprotocol is never echoed back
    assert event["type"] == "session.created"


REJECTED = {
    "none": ({}, ""),
    "wrong bearer": ({"additional_headers": {"Authorization": "Bearer nope"}}, ""),
    "wrong api-key": ({"additional_headers": {"api-key": "nope"}}, ""),
    "prefix of the token": ({"additional_headers": {"api-key": TOKEN[:-1]}}, ""),
    "basic scheme": ({"additional_headers": {"Authorization": f"Basic {TOKEN}"}}, ""),
}


@pytest.mark.parametrize("how", sorted(REJECTED))
async def test_missing_or_wrong_token_gets_401(token_engine: Any, how: str) -> None:
    kwargs, query = REJECTED[how]
    status, body = await _refused(token_engine.url + "/v1/realtime?model=m" + query, **kwargs)
    assert status == 401
    assert "token" in json.loads(body)["error"]["message"]


async def test_sdk_clients_authenticate_with_their_own_header(token_engine: Any) -> None:
    ga = AsyncOpenAI(api_key=TOKEN, websocket_base_url=token_engine.websocket_base_url)
    async with ga.realtime.connect(model="gpt-realtime") as conn:
        assert json.loads(await conn.recv_bytes())["type"] == "session.created"
    azure = AsyncAzureOpenAI(
        api_key=TOKEN,
        api_version="2025-04-01-preview",
        azure_endpoint="https://example-resource.openai.azure.com",
        websocket_base_url=token_engine.azure_websocket_base_url,
    )
    async with azure.realtime.connect(model="dep") as conn:  # sends `api-key`
        assert json.loads(await conn.recv_bytes())["type"] == "session.created"
    wrong = AsyncOpenAI(api_key="sk-wrong", websocket_base_url=token_engine.websocket_base_url)
    with pytest.raises(InvalidStatus) as refused:
        async with wrong.realtime.connect(model="gpt-realtime"):
            pass
    assert refused.value.response.status_code == 401


async def test_token_never_reaches_logs_or_reprs(token_engine: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with connect(token_engine.url + f"/v1/realtime?model=m&api-key={TOKEN}") as ws:
        await _first_event(ws)
    await _refused(token_engine.url + "/v1/realtime?model=m&api-key=wrong-key")
    await asyncio.to_thread(token_engine.wait_idle, 10)
    # The test's own websockets client logs its request verbatim; the engine's records must not.
    engine_lines = [r.getMessage() for r in caplog.records if r.name.startswith("realtime_nb")]
    assert any(MASK in line for line in engine_lines), "handshake lines were not logged at DEBUG"
    assert not [line for line in engine_lines if TOKEN in line]
    assert TOKEN not in repr(token_engine) and TOKEN not in str(token_engine)
    assert "auth=token" in repr(token_engine)


# --------------------------------------------------------------------------------------------------
# What an old Azure preview api-version does not offer

OLD_VERSION_REFUSALS = [
    ({"type": "session.update", "session": {"turn_detection": {"type": "semantic_vad"}}}, "turn_detection"),
    (
        {"type": "session.update", "session": {"input_audio_noise_reduction": {"type": "far_field"}}},
        "input_audio_noise_reduction",
    ),
    ({"type": "session.update", "session": {"voice": "coral"}}, "voice"),
    (
        {"type": "session.update", "session": {"input_audio_transcription": {"model": "gpt-4o-transcribe"}}},
        "transcription",
    ),
    ({"type": "conversation.item.retrieve", "item_id": "item_x"}, "type"),
]


async def _next_of(ws: Any, *types: str) -> dict[str, Any]:
    """The next event of one of ``types`` (session.created is followed by conversation.created)."""
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if event["type"] in types:
            return event


@pytest.mark.parametrize(("event", "param_part"), OLD_VERSION_REFUSALS)
async def test_api_version_2024_10_refuses_what_came_with_2025_04(
    engine: Any, validate: Any, event: dict[str, Any], param_part: str
) -> None:
    old = engine.url + "/openai/realtime?api-version=2024-10-01-preview&deployment=dep"
    new = engine.url + "/openai/realtime?api-version=2025-04-01-preview&deployment=dep"
    async with connect(old) as ws:
        created = await _next_of(ws, "session.created")
        await ws.send(json.dumps(event | {"event_id": "evt_old"}))
        error = await _next_of(ws, "error", "session.updated", "conversation.item.retrieved")
        validate(error, Dialect.PREVIEW)
        assert error["type"] == "error" and error["error"]["event_id"] == "evt_old"
        assert param_part in error["error"]["param"] and "2025-04-01-preview" in error["error"]["message"]
        # nothing changed, and the session still works
        await ws.send(json.dumps({"type": "session.update", "session": {"instructions": "still here"}}))
        updated = await _next_of(ws, "error", "session.updated")
        assert updated["type"] == "session.updated"
        kept = {k: v for k, v in updated["session"].items() if k != "instructions"}
        assert kept == {k: v for k, v in created["session"].items() if k != "instructions"}
    async with connect(new) as ws:  # the newer preview accepts the same request
        await _next_of(ws, "session.created")
        await ws.send(json.dumps(event | {"event_id": "evt_new"}))
        reply = await _next_of(ws, "error", "session.updated")
        if event["type"] == "session.update":
            assert reply["type"] == "session.updated", reply
        else:  # the item is unknown, but the event type is
            assert reply["error"]["code"] == "item_not_found" or "item" in reply["error"]["message"]
