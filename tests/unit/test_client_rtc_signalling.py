"""The HTTP steps of a WebRTC call, per flow: requests compared with what the openai SDK sends for the
same step (captured through a mock transport, nothing leaves the process), answers parsed from the
SDK's own response models, errors with status and body and never a key."""

from __future__ import annotations

import email.parser
import email.policy
import json
from typing import Any

import httpx2
import pydantic
import pytest
from openai import AsyncOpenAI
from openai.types.beta.realtime.session import Session as BetaSession
from openai.types.beta.realtime.session_create_response import SessionCreateResponse as BetaSessionResponse
from openai.types.realtime.client_secret_create_params import ExpiresAfter
from openai.types.realtime.client_secret_create_response import ClientSecretCreateResponse
from openai.types.realtime.realtime_session_create_request import RealtimeSessionCreateRequest

from realtime_nb.client import ConnectError, Endpoint, RealtimeClientError
from realtime_nb.client.rtc_signalling import (
    CallAnswer,
    EphemeralKey,
    SignallingError,
    call_id_from_location,
    hangup_request,
    mint_request,
    offer_request,
    parse_answer,
    parse_hangup,
    parse_mint,
    session_body,
)
from realtime_nb.client.secret import Secret
from realtime_nb.protocol import Dialect, ServerVad, SessionConfig

KEY = "sk-" + "test-0123456789abcdef"  # fake; split so key scanners do not flag it
EPHEMERAL = "ek_" + "68af1e3b7c9d8f00112233445566"
AZURE_KEY = "azure" + "key0123456789abcdef"
OFFER = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
ANSWER = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
CONFIG = SessionConfig(
    instructions="Be brief.", voice="marin", turn_detection=ServerVad(silence_duration_ms=400)
)
PREVIEW_CONFIG = SessionConfig(
    instructions="Be brief.", voice="verse", turn_detection=ServerVad(threshold=0.6)
)


# --- the SDK as a reference: what it sends for the same step ------------------------------------------


def _extras(model: Any, at: str = "") -> list[str]:
    """Paths of keys an SDK model did not recognise (pydantic keeps them as extras, so a misnamed key
    would validate): the same strict check `test_protocol_fields` applies to session.update."""
    found: list[str] = []
    if isinstance(model, pydantic.BaseModel):
        found += [f"{at}.{key}" for key in (model.model_extra or {})]
        for name in type(model).model_fields:
            found += _extras(getattr(model, name), f"{at}.{name}")
    elif isinstance(model, list | tuple):
        for i, item in enumerate(model):
            found += _extras(item, f"{at}[{i}]")
    return found


def _valid(model: type[pydantic.BaseModel], value: dict[str, Any]) -> None:
    parsed = model.model_validate(value)
    assert _extras(parsed) == [], f"keys {model.__name__} does not know: {_extras(parsed)}"


class Sdk:
    """An AsyncOpenAI client whose HTTP goes to a mock transport: it records the requests it would send."""

    def __init__(self, base_url: str | None = None, **client: Any) -> None:
        self.requests: list[httpx2.Request] = []
        self.client = AsyncOpenAI(
            api_key=client.pop("api_key", KEY),
            base_url=base_url,
            http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(self._answer)),
            **client,
        )

    def _answer(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        path = request.url.path
        if path.endswith("/client_secrets"):
            return httpx2.Response(
                200, json={"value": EPHEMERAL, "expires_at": 1, "session": {"type": "realtime"}}
            )
        if path.endswith("/sessions"):
            return httpx2.Response(200, json={"client_secret": {"value": EPHEMERAL, "expires_at": 1}})
        if path.endswith("/calls"):
            return httpx2.Response(201, text=ANSWER, headers={"Location": "/v1/realtime/calls/rtc_1"})
        return httpx2.Response(200)

    @property
    def last(self) -> httpx2.Request:
        return self.requests[-1]


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str, str]]:
    """name -> (part content type, text) of a multipart/form-data body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    out = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        out[name] = (part.get_content_type(), part.get_payload(decode=True).decode())
    return out


def _same_request(ours: Any, theirs: httpx2.Request, *, json_body: bool = False) -> None:
    assert ours.method == theirs.method
    assert ours.url == str(theirs.url)
    for name in ("authorization", "api-key", "accept"):
        assert ours.header(name) == theirs.headers.get(name), name
    if json_body:
        assert json.loads(ours.body) == json.loads(theirs.content)
        assert ours.header("content-type") == theirs.headers["content-type"] == "application/json"


# --- GA, OpenAI: ephemeral key, offer, hangup --------------------------------------------------------


async def test_ga_mint_matches_the_sdk_and_the_param_types() -> None:
    ep = Endpoint.openai("gpt-realtime", api_key=KEY)
    session = session_body(CONFIG, Dialect.GA, ep.model)
    ours = mint_request(ep.webrtc_urls(), Dialect.GA, await ep.auth_headers(), session, ttl_s=120)
    sdk = Sdk()
    await sdk.client.realtime.client_secrets.create(
        session=session,  # type: ignore[arg-type]
        expires_after={"anchor": "created_at", "seconds": 120},
    )
    _same_request(ours, sdk.last, json_body=True)
    body = json.loads(ours.body)
    assert body["session"]["type"] == "realtime" and body["session"]["model"] == "gpt-realtime"
    assert body["session"]["audio"]["output"]["voice"] == "marin"
    _valid(RealtimeSessionCreateRequest, body["session"])
    pydantic.TypeAdapter(ExpiresAfter).validate_python(body["expires_after"], strict=True)


def test_ga_session_without_config_sends_only_the_model() -> None:
    assert session_body(None, Dialect.GA, "gpt-realtime") == {"type": "realtime", "model": "gpt-realtime"}
    assert session_body(SessionConfig(model="m2"), Dialect.GA, "m1")["model"] == "m2"


def test_ga_mint_answer_parsed_from_the_sdk_model() -> None:
    session = {"id": "sess_1", "object": "realtime.session", "type": "realtime", "model": "gpt-realtime"}
    answer = ClientSecretCreateResponse.model_validate(
        {"value": EPHEMERAL, "expires_at": 1767225600, "session": session}
    )
    body = answer.model_dump_json(exclude_none=True).encode()
    key = parse_mint(200, {}, body, Dialect.GA, url="u", secrets_in_use=[KEY])
    assert isinstance(key.value, Secret) and key.value.reveal() == EPHEMERAL
    assert key.expires_at == 1767225600 and key.session == session
    assert EPHEMERAL not in repr(key) and EPHEMERAL not in str(key)


async def test_ga_offer_with_an_ephemeral_key_matches_the_sdk() -> None:
    ep = Endpoint.openai("gpt-realtime", api_key=KEY)
    key = EphemeralKey(Secret(EPHEMERAL), 1)
    ours = offer_request(ep.webrtc_urls(), OFFER, key=key)
    sdk = Sdk(api_key=EPHEMERAL)
    await sdk.client.realtime.calls.create(sdp=OFFER)
    _same_request(ours, sdk.last)
    assert ours.header("authorization") == f"Bearer {EPHEMERAL}"
    assert ours.header("content-type") == sdk.last.headers["content-type"] == "application/sdp"
    assert ours.body == sdk.last.content == OFFER.encode()


async def test_ga_unified_form_matches_the_sdk_multipart() -> None:
    ep = Endpoint.openai("gpt-realtime", api_key=KEY)
    session = session_body(CONFIG, Dialect.GA, ep.model)
    ours = offer_request(
        ep.webrtc_urls("unified"), OFFER, auth_headers=await ep.auth_headers(), session=session
    )
    sdk = Sdk()
    await sdk.client.realtime.calls.create(sdp=OFFER, session=session)  # type: ignore[arg-type]
    _same_request(ours, sdk.last)
    assert ours.header("authorization") == f"Bearer {KEY}"
    ours_parts = _multipart(ours.header("content-type") or "", ours.body)
    sdk_parts = _multipart(sdk.last.headers["content-type"], sdk.last.content)
    assert set(ours_parts) == set(sdk_parts) == {"sdp", "session"}
    assert ours_parts["sdp"] == sdk_parts["sdp"] == ("application/sdp", OFFER)
    assert ours_parts["session"][0] == sdk_parts["session"][0] == "application/json"
    assert json.loads(ours_parts["session"][1]) == json.loads(sdk_parts["session"][1]) == session
    _valid(RealtimeSessionCreateRequest, json.loads(ours_parts["session"][1]))


async def test_hangup_matches_the_sdk() -> None:
    ep = Endpoint.openai("gpt-realtime", api_key=KEY)
    ours = hangup_request(ep.hangup_url("rtc_1"), await ep.auth_headers())
    sdk = Sdk()
    await sdk.client.realtime.calls.hangup("rtc_1")
    _same_request(ours, sdk.last)
    assert ours.body == b"" and ours.url.endswith("/v1/realtime/calls/rtc_1/hangup")
    assert parse_hangup(200, b"", url=ours.url) is True
    assert parse_hangup(404, b'{"error": {"message": "no call"}}', url=ours.url) is False


def test_answer_sdp_and_call_id_from_location() -> None:
    answer = parse_answer(201, {"Location": "/v1/realtime/calls/rtc_u1abc"}, ANSWER.encode(), url="u")
    assert answer == CallAnswer(ANSWER, "rtc_u1abc")
    assert call_id_from_location("https://api.openai.com/v1/realtime/calls/rtc_9/") == "rtc_9"
    assert call_id_from_location(None) is None and call_id_from_location("/calls/bad id") is None
    assert parse_answer(200, {}, ANSWER.encode(), url="u").call_id is None  # preview: no Location


# --- preview, OpenAI ---------------------------------------------------------------------------------


async def test_preview_mint_matches_the_sdk_beta_sessions() -> None:
    model = "gpt-4o-realtime-preview"
    ep = Endpoint.openai(model, dialect="preview", api_key=KEY)
    session = session_body(PREVIEW_CONFIG, Dialect.PREVIEW, ep.model)
    ours = mint_request(ep.webrtc_urls(), Dialect.PREVIEW, await ep.auth_headers(), session)
    sdk = Sdk()
    await sdk.client.beta.realtime.sessions.create(**session)
    _same_request(ours, sdk.last, json_body=True)
    assert ours.url == "https://api.openai.com/v1/realtime/sessions"
    assert ours.header("openai-beta") is None  # published preview WebRTC samples send none
    _valid(BetaSession, json.loads(ours.body))


def test_preview_mint_answer_parsed_from_the_sdk_model() -> None:
    answer = BetaSessionResponse.model_validate(
        {"client_secret": {"value": EPHEMERAL, "expires_at": 1767225660}, "voice": "verse"}
    )
    key = parse_mint(200, {}, answer.model_dump_json(exclude_none=True).encode(), Dialect.PREVIEW, url="u")
    assert key.value.reveal() == EPHEMERAL and key.expires_at == 1767225660
    assert key.session == {"voice": "verse"}


def test_preview_offer_goes_to_realtime_with_the_model() -> None:
    ep = Endpoint.openai("gpt-4o-realtime-preview", dialect="preview", api_key=KEY)
    request = offer_request(ep.webrtc_urls(), OFFER, key=EphemeralKey(Secret(EPHEMERAL), None))
    assert request.url == "https://api.openai.com/v1/realtime?model=gpt-4o-realtime-preview"
    assert request.header("content-type") == "application/sdp"
    assert request.header("authorization") == f"Bearer {EPHEMERAL}"


def test_preview_has_no_unified_flow() -> None:
    ep = Endpoint.openai("gpt-4o-realtime-preview", dialect="preview", api_key=KEY)
    with pytest.raises(ValueError, match="GA only"):
        ep.webrtc_urls("unified")
    with pytest.raises(ValueError, match="GA only"):
        mint_request(ep.webrtc_urls(), Dialect.PREVIEW, {}, {}, ttl_s=60)


# --- Azure -------------------------------------------------------------------------------------------


async def test_azure_ga_paths_match_the_sdk_on_the_v1_base_and_use_api_key() -> None:
    ep = Endpoint.azure("my-dep", endpoint="https://my-res.openai.azure.com", api_key=AZURE_KEY)
    urls = ep.webrtc_urls()
    session = session_body(None, Dialect.GA, ep.model)
    mint = mint_request(urls, Dialect.GA, await ep.auth_headers(), session)
    sdk = Sdk(base_url="https://my-res.openai.azure.com/openai/v1", api_key=AZURE_KEY)
    await sdk.client.realtime.client_secrets.create(session=session)  # type: ignore[arg-type]
    assert (
        mint.url == str(sdk.last.url) == "https://my-res.openai.azure.com/openai/v1/realtime/client_secrets"
    )
    assert json.loads(mint.body) == json.loads(sdk.last.content) == {"session": session}
    assert mint.header("api-key") == AZURE_KEY and mint.header("authorization") is None
    await sdk.client.realtime.calls.create(sdp=OFFER)
    assert urls.calls == str(sdk.last.url)
    assert hangup_request(urls.hangup("rtc_2"), await ep.auth_headers()).url == (
        "https://my-res.openai.azure.com/openai/v1/realtime/calls/rtc_2/hangup"
    )
    unified = offer_request(
        ep.webrtc_urls("unified"), OFFER, auth_headers=await ep.auth_headers(), session=session
    )
    assert unified.header("api-key") == AZURE_KEY and unified.url == urls.calls


async def test_azure_entra_token_goes_as_bearer() -> None:
    ep = Endpoint.azure("dep", endpoint="res", token_provider=lambda: "entra-token-xyz")
    request = mint_request(ep.webrtc_urls(), Dialect.GA, await ep.auth_headers(), {"type": "realtime"})
    assert request.header("authorization") == "Bearer entra-token-xyz"


def test_azure_preview_sessions_and_regional_sdp_host() -> None:
    ep = Endpoint.azure(
        "dep", endpoint="res", api_version="2024-10-01-preview", api_key=AZURE_KEY, region="eastus2"
    )
    urls = ep.webrtc_urls()
    assert urls.mint == (
        "https://res.openai.azure.com/openai/realtimeapi/sessions?api-version=2025-04-01-preview"
    )
    assert urls.calls == "https://eastus2.realtimeapi-preview.ai.azure.com/v1/realtimertc?model=dep"
    body = json.loads(mint_request(urls, Dialect.PREVIEW, {"api-key": AZURE_KEY}, {"model": "dep"}).body)
    assert body == {"model": "dep"}
    no_region = Endpoint.azure("dep", endpoint="res", api_version="2025-04-01-preview", api_key=AZURE_KEY)
    with pytest.raises(ValueError, match="region="):
        no_region.webrtc_urls()


def test_azure_on_the_local_engine_uses_its_own_address() -> None:
    ep = Endpoint.azure(
        "dep", endpoint="http://127.0.0.1:8765", api_version="2025-04-01-preview", api_key="t"
    )
    assert ep.url.startswith("ws://127.0.0.1:8765/openai/realtime?")
    assert ep.webrtc_urls().calls == "http://127.0.0.1:8765/v1/realtimertc?model=dep"
    ga = Endpoint.azure("dep", endpoint="http://localhost:9000/", api_key="t")
    assert ga.webrtc_urls().mint == "http://localhost:9000/openai/v1/realtime/client_secrets"
    with pytest.raises(ValueError, match="https://"):
        Endpoint.azure("dep", endpoint="http://my-res.openai.azure.com", api_key="t")


# --- the local engine --------------------------------------------------------------------------------


def test_local_engine_urls_in_both_dialects() -> None:
    ga = Endpoint.local("ws://127.0.0.1:8765").webrtc_urls()
    assert (ga.mint, ga.calls) == (
        "http://127.0.0.1:8765/v1/realtime/client_secrets",
        "http://127.0.0.1:8765/v1/realtime/calls",
    )
    preview = Endpoint.local("http://127.0.0.1:8765/v1", dialect="preview", model="m").webrtc_urls()
    assert (preview.mint, preview.calls) == (
        "http://127.0.0.1:8765/v1/realtime/sessions",
        "http://127.0.0.1:8765/v1/realtime?model=m",
    )
    assert preview.hangup("rtc_x") == "http://127.0.0.1:8765/v1/realtime/calls/rtc_x/hangup"
    side = Endpoint.local("ws://127.0.0.1:8765").sideband("rtc_y")
    assert side.hangup_url("rtc_y") == "http://127.0.0.1:8765/v1/realtime/calls/rtc_y/hangup"
    with pytest.raises(ValueError, match="call_id"):
        ga.hangup("../etc")


# --- errors: status and body shown, the key never -----------------------------------------------------


def _service_error(message: str, code: str = "invalid_api_key", param: str | None = None) -> bytes:
    error = {"message": message, "type": "invalid_request_error", "code": code, "param": param}
    return json.dumps({"error": error}).encode()


@pytest.mark.parametrize("step", ["mint", "offer", "hangup"])
def test_refusal_carries_status_and_body_never_the_key(step: str) -> None:
    body = _service_error(f"Incorrect API key provided: {KEY}. Also {EPHEMERAL}.", param="authorization")
    with pytest.raises(SignallingError) as info:
        if step == "mint":
            parse_mint(401, {}, body, Dialect.GA, url="https://x/mint", secrets_in_use=[KEY])
        elif step == "offer":
            parse_answer(401, {}, body, url="https://x/calls", secrets_in_use=[KEY, EPHEMERAL])
        else:
            parse_hangup(401, body, url="https://x/hangup", secrets_in_use=[KEY])
    exc = info.value
    assert isinstance(exc, ConnectError) and isinstance(exc, RealtimeClientError)
    assert exc.status == 401 and exc.step == step
    assert (exc.code, exc.error_type, exc.param) == (
        "invalid_api_key",
        "invalid_request_error",
        "authorization",
    )
    assert exc.message.startswith("Incorrect API key provided")
    for text in (str(exc), repr(exc), exc.message):
        assert KEY not in text and EPHEMERAL not in text
    assert "HTTP 401" in str(exc) and "invalid_api_key" in str(exc)


def test_refusal_with_a_bare_error_object_and_with_html() -> None:
    bare = json.dumps({"message": "model not found", "code": "model_not_found"}).encode()
    with pytest.raises(SignallingError, match="model_not_found: model not found") as info:
        parse_answer(404, {}, bare, url="u")
    assert info.value.status == 404
    html = b"<html><body>502 Bad Gateway api-key=" + AZURE_KEY.encode() + b"</body></html>"
    with pytest.raises(SignallingError, match="502 Bad Gateway") as info:
        parse_mint(502, {}, html, Dialect.GA, url="u")
    assert AZURE_KEY not in str(info.value) and info.value.body is not None


def test_answers_that_are_not_what_they_should_be() -> None:
    with pytest.raises(SignallingError, match="no key"):
        parse_mint(200, {}, b'{"expires_at": 1}', Dialect.GA, url="u")
    with pytest.raises(SignallingError, match=r"client_secret\.value"):
        parse_mint(200, {}, b'{"value": "ek_wrong_place"}', Dialect.PREVIEW, url="u")
    with pytest.raises(SignallingError, match="not JSON"):
        parse_mint(200, {}, b"ek_plain", Dialect.GA, url="u")
    with pytest.raises(SignallingError, match="not an SDP"):
        parse_answer(201, {}, b'{"ok": true}', url="u")
    with pytest.raises(SignallingError, match="HTTP 500"):
        parse_hangup(500, b"", url="u")


def test_requests_never_show_their_keys() -> None:
    urls = Endpoint.openai(api_key=KEY).webrtc_urls()
    for request in (
        mint_request(urls, Dialect.GA, {"Authorization": f"Bearer {KEY}"}, {"type": "realtime"}),
        offer_request(urls, OFFER, key=EphemeralKey(Secret(EPHEMERAL), None)),
        hangup_request(urls.hangup("rtc_1"), {"Authorization": f"Bearer {KEY}"}),
    ):
        assert KEY not in repr(request) and EPHEMERAL not in repr(request) and KEY not in str(request)
        assert "********" in repr(request)


def test_bad_arguments_are_refused_before_anything_is_built() -> None:
    urls = Endpoint.openai(api_key=KEY).webrtc_urls()
    with pytest.raises(ValueError, match=r"\[10, 7200\]"):
        mint_request(urls, Dialect.GA, {}, {}, ttl_s=5)
    with pytest.raises(ValueError, match="SDP offer"):
        offer_request(urls, "not sdp", key=EphemeralKey(Secret(EPHEMERAL), None))
    with pytest.raises(ValueError, match="key="):
        offer_request(urls, OFFER)
    with pytest.raises(ValueError, match="unified flow mints no key"):
        mint_request(Endpoint.openai(api_key=KEY).webrtc_urls("unified"), Dialect.GA, {}, {})
    with pytest.raises(ValueError, match="flow must be"):
        Endpoint.openai(api_key=KEY).webrtc_urls("sip")  # type: ignore[arg-type]
