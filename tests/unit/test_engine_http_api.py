"""The engine's HTTP API, sans-I/O: every flow's routes, minting, calls, CORS, and its errors.

Answers are checked against the openai SDK's types where the SDK has one (client secrets, preview
sessions), so what the engine mints reads exactly as what the services return.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.beta.realtime import SessionCreateResponse
from openai.types.realtime import ClientSecretCreateResponse
from websockets.datastructures import Headers

from realtime_nb.engine.ephemeral_keys import KeyStore
from realtime_nb.engine.http_api import Answer, HangUp, HttpApi, HttpRequest, OpenCall
from realtime_nb.engine.origins import OriginPolicy
from realtime_nb.engine.webrtc_flows import FLOWS, Flow
from realtime_nb.protocol.dialect import Dialect

TOKEN = "tok-secret-123"
OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
GA_SESSION = {"type": "realtime", "model": "gpt-realtime", "instructions": "Be brief."}
PREVIEW_SESSION = {"model": "gpt-4o-realtime-preview", "modalities": ["audio", "text"], "voice": "verse"}
PAGE = "http://127.0.0.1:8888"
AZURE_PREVIEW_MINT = "/openai/realtimeapi/sessions?api-version=2025-04-01-preview"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _api(clock: Clock, *, token: str | None = None, calls: bool = True, max_live: int = 1000) -> HttpApi:
    return HttpApi(
        token=token,
        keys=KeyStore(clock=clock, max_live=max_live),
        origins=OriginPolicy.from_names(["https://lab.example.org"]),
        calls_available=calls,
    )


@pytest.fixture
def api(clock: Clock) -> HttpApi:
    return _api(clock)


def _request(
    method: str, target: str, body: bytes | str | dict[str, Any] = b"", **headers: str
) -> HttpRequest:
    if isinstance(body, dict):
        body = json.dumps(body)
        headers.setdefault("Content_Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    return HttpRequest(method, target, Headers({k.replace("_", "-"): v for k, v in headers.items()}), body)


def _answer(outcome: Any) -> Answer:
    assert isinstance(outcome, Answer), outcome
    return outcome


def _error(outcome: Any, status: int, code: str) -> dict[str, Any]:
    answer = _answer(outcome)
    assert answer.status == status, answer.body
    assert answer.header("Content-Type") == "application/json"
    error = answer.json()["error"]
    assert set(error) == {"type", "code", "message", "param"}
    assert error["code"] == code and error["message"]
    assert error["type"] == ("invalid_request_error" if status < 500 else "server_error")
    return error


MINT_TARGETS = {
    Flow.GA_OPENAI: "/v1/realtime/client_secrets",
    Flow.GA_AZURE: "/openai/v1/realtime/client_secrets",
    Flow.PREVIEW_OPENAI: "/v1/realtime/sessions",
    Flow.PREVIEW_AZURE: AZURE_PREVIEW_MINT,
}
CALL_TARGETS = {
    Flow.GA_OPENAI: "/v1/realtime/calls",
    Flow.GA_AZURE: "/openai/v1/realtime/calls?webrtcfilter=on",
    Flow.PREVIEW_OPENAI: "/v1/realtime?model=gpt-4o-realtime-preview",
    Flow.PREVIEW_AZURE: "/v1/realtimertc?model=my-preview-deployment",
}


def _mint(api: HttpApi, flow: Flow, body: dict[str, Any] | None = None, **headers: str) -> dict[str, Any]:
    if body is None:
        body = {"session": GA_SESSION} if flow.dialect is Dialect.GA else PREVIEW_SESSION
    answer = _answer(api.handle(_request("POST", MINT_TARGETS[flow], body, **headers)))
    assert answer.status == 200, answer.body
    return answer.json()


def _key(minted: dict[str, Any]) -> str:
    return minted["value"] if "value" in minted else minted["client_secret"]["value"]


def _call(api: HttpApi, flow: Flow, key: str | None, offer: bytes | str = OFFER, **headers: str) -> Any:
    if key is not None:
        headers.setdefault("Authorization", f"Bearer {key}")
    headers.setdefault("Content_Type", "application/sdp")
    return api.handle(_request("POST", CALL_TARGETS[flow], offer, **headers))


# --------------------------------------------------------------------------------------------------
# Each flow: mint, then call with the key


@pytest.mark.parametrize("flow", list(Flow))
def test_each_flow_mints_a_key_whose_session_opens_the_call(api: HttpApi, flow: Flow) -> None:
    minted = _mint(api, flow)
    action = _call(api, flow, _key(minted))
    assert isinstance(action, OpenCall)
    assert action.offer_sdp == OFFER and action.dialect is flow.dialect and action.flow is flow
    expected = {"session": GA_SESSION} if flow.dialect is Dialect.GA else {"session": PREVIEW_SESSION}
    assert action.session == expected["session"]  # the key's session: the call's configuration
    if flow is Flow.PREVIEW_AZURE:
        assert action.model == "my-preview-deployment" and action.api_version == "2025-04-01-preview"
    elif flow is Flow.PREVIEW_OPENAI:
        assert action.model == "gpt-4o-realtime-preview" and action.api_version is None
    else:
        assert action.model == "gpt-realtime"  # from the key's session
    answer = api.opened(action, "rtc_abc123", "v=0\r\nanswer\r\n")
    assert answer.status == 201 and answer.body == b"v=0\r\nanswer\r\n"
    assert answer.header("Content-Type") == "application/sdp"
    if flow.dialect is Dialect.GA:
        assert answer.header("Location") == f"{FLOWS[flow].calls_root}/rtc_abc123"
    else:  # as on the services, a preview answer names no call
        assert answer.header("Location") is None


@pytest.mark.parametrize("flow", [Flow.GA_OPENAI, Flow.GA_AZURE])
def test_ga_mint_answers_as_the_sdk_types_it(api: HttpApi, clock: Clock, flow: Flow) -> None:
    session = {
        "type": "realtime",
        "model": "my-deployment",
        "output_modalities": ["audio"],
        "audio": {"output": {"voice": "marin"}, "input": {"turn_detection": {"type": "semantic_vad"}}},
        "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}],
    }
    minted = _mint(api, flow, {"expires_after": {"anchor": "created_at", "seconds": 120}, "session": session})
    parsed = ClientSecretCreateResponse.model_validate(minted, strict=True)
    assert parsed.value.startswith("ek_")
    assert parsed.expires_at == int(clock.now) + 120
    assert parsed.session.type == "realtime" and parsed.session.id.startswith("sess_")
    wire = minted["session"]
    assert wire["model"] == "my-deployment" and wire["audio"]["output"]["voice"] == "marin"
    assert wire["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"
    assert wire["tools"][0]["name"] == "lookup"


def test_ga_defaults_ten_minutes_and_a_default_session(api: HttpApi, clock: Clock) -> None:
    answer = _answer(api.handle(_request("POST", "/v1/realtime/client_secrets", b"")))
    minted = answer.json()
    assert minted["expires_at"] == int(clock.now) + 600
    assert minted["session"]["model"] == "gpt-realtime" and minted["session"]["type"] == "realtime"
    assert answer.header("Cache-Control") == "no-store"
    ClientSecretCreateResponse.model_validate(minted, strict=True)


@pytest.mark.parametrize("flow", [Flow.PREVIEW_OPENAI, Flow.PREVIEW_AZURE])
def test_preview_mint_answers_as_the_sdk_types_it(api: HttpApi, clock: Clock, flow: Flow) -> None:
    minted = _mint(api, flow)
    parsed = SessionCreateResponse.model_validate(minted, strict=True)
    assert parsed.client_secret.value.startswith("ek_")
    assert parsed.client_secret.expires_at == int(clock.now) + 60  # "expires in a minute"
    assert set(parsed.modalities or ()) == {"audio", "text"} and parsed.voice == "verse"
    assert minted["model"] == "gpt-4o-realtime-preview" and minted["object"] == "realtime.session"
    longer = {**PREVIEW_SESSION, "client_secret": {"expires_after": {"anchor": "created_at", "seconds": 300}}}
    assert _mint(api, flow, longer)["client_secret"]["expires_at"] == int(clock.now) + 300


def test_api_key_header_and_bearer_both_carry_keys(api: HttpApi) -> None:
    key = _key(_mint(api, Flow.GA_AZURE))
    assert isinstance(_call(api, Flow.GA_AZURE, None, **{"api-key": key}), OpenCall)
    assert isinstance(_call(api, Flow.GA_AZURE, key), OpenCall)


def test_a_key_opens_several_calls_until_it_expires(api: HttpApi, clock: Clock) -> None:
    minted = _mint(api, Flow.GA_OPENAI, {"expires_after": {"seconds": 10}, "session": GA_SESSION})
    for _ in range(3):
        assert isinstance(_call(api, Flow.GA_OPENAI, _key(minted)), OpenCall)
    clock.now += 10
    error = _error(_call(api, Flow.GA_OPENAI, _key(minted)), 401, "expired_api_key")
    assert _key(minted) not in json.dumps(error)


# --------------------------------------------------------------------------------------------------
# Refused keys: 401 naming the problem, never echoing the key


@pytest.mark.parametrize(
    ("key", "code"),
    [
        (None, "missing_api_key"),
        ("ek_never-minted-here-0123456789", "invalid_api_key"),
        ("sk-" + "a-standard-key-not-ephemeral", "invalid_api_key"),  # split: no key-shaped literal
    ],
)
def test_calls_need_a_key_minted_here(api: HttpApi, key: str | None, code: str) -> None:
    error = _error(_call(api, Flow.GA_OPENAI, key), 401, code)
    assert "client_secrets" in error["message"]
    if key:
        assert key not in json.dumps(error)


@pytest.mark.parametrize(
    ("minted_for", "used_for"), [(Flow.GA_OPENAI, Flow.PREVIEW_OPENAI), (Flow.PREVIEW_AZURE, Flow.GA_AZURE)]
)
def test_a_key_of_the_other_dialect_is_refused(api: HttpApi, minted_for: Flow, used_for: Flow) -> None:
    key = _key(_mint(api, minted_for))
    error = _error(_call(api, used_for, key), 401, "wrong_api_key_flow")
    assert minted_for.title in error["message"] and key not in json.dumps(error)


def test_the_token_gates_minting_and_the_unified_form_but_not_a_keyed_call(clock: Clock) -> None:
    api = _api(clock, token=TOKEN)
    _error(api.handle(_request("POST", "/v1/realtime/client_secrets", {})), 401, "invalid_api_key")
    wrong = _request("POST", "/v1/realtime/client_secrets", {}, Authorization="Bearer nope")
    _error(api.handle(wrong), 401, "invalid_api_key")
    minted = _mint(api, Flow.GA_OPENAI, Authorization=f"Bearer {TOKEN}")
    _mint(api, Flow.PREVIEW_AZURE, **{"api-key": TOKEN})
    assert isinstance(_call(api, Flow.GA_OPENAI, _key(minted)), OpenCall)  # the key is the credential
    # a call with the token itself but as application/sdp still needs a minted key
    _error(_call(api, Flow.GA_OPENAI, TOKEN), 401, "invalid_api_key")
    content_type, body = _multipart({"sdp": OFFER})
    unified = _request("POST", "/v1/realtime/calls", body, Content_Type=content_type)
    _error(api.handle(unified), 401, "invalid_api_key")
    keyed = _request(
        "POST", "/v1/realtime/calls", body, Content_Type=content_type, Authorization=f"Bearer {TOKEN}"
    )
    assert isinstance(api.handle(keyed), OpenCall)
    for outcome in (api.handle(wrong), _call(api, Flow.GA_OPENAI, TOKEN)):
        assert TOKEN not in _answer(outcome).body.decode()


def test_without_a_token_minting_takes_any_key_or_none(api: HttpApi) -> None:
    _mint(api, Flow.GA_OPENAI)
    _mint(api, Flow.GA_OPENAI, Authorization="Bearer sk-anything")


def test_the_cap_on_live_keys_is_a_429_with_retry_after(clock: Clock) -> None:
    api = _api(clock, max_live=2)
    _mint(api, Flow.GA_OPENAI, {"expires_after": {"seconds": 30}})
    _mint(api, Flow.GA_OPENAI, {"expires_after": {"seconds": 60}})
    answer = _answer(api.handle(_request("POST", "/v1/realtime/client_secrets", {})))
    _error(answer, 429, "too_many_ephemeral_keys")
    assert answer.header("Retry-After") == "30"
    clock.now += 30
    _mint(api, Flow.GA_OPENAI)


# --------------------------------------------------------------------------------------------------
# Bad mint bodies: 400 with the services' error shape


BAD_GA_MINTS = [
    ({"expires_after": {"seconds": 9}}, "invalid_value", "expires_after.seconds"),
    ({"expires_after": {"seconds": 7201}}, "invalid_value", "expires_after.seconds"),
    ({"expires_after": {"seconds": "600"}}, "invalid_value", "expires_after.seconds"),
    ({"expires_after": {"seconds": True}}, "invalid_value", "expires_after.seconds"),
    ({"expires_after": {"anchor": "now"}}, "invalid_value", "expires_after.anchor"),
    ({"expires_after": {"second": 60}}, "unknown_parameter", "expires_after.second"),
    ({"expires_after": 60}, "invalid_type", "expires_after"),
    ({"expire_after": {}}, "unknown_parameter", "expire_after"),
    ({"session": {"model": "gpt-realtime"}}, "missing_required_parameter", "session.type"),
    ({"session": {"type": "transcription"}}, "invalid_value", "session.type"),
    ({"session": {"type": "realtime", "modalities": ["text"]}}, "unknown_parameter", "session.modalities"),
    (
        {"session": {"type": "realtime", "audio": {"output": {"voice": 7}}}},
        "invalid_type",
        "session.audio.output.voice",
    ),
    ({"session": "realtime"}, "invalid_type", "session"),
]


@pytest.mark.parametrize(("body", "code", "param"), BAD_GA_MINTS)
def test_bad_ga_mint_bodies(api: HttpApi, body: dict[str, Any], code: str, param: str) -> None:
    error = _error(api.handle(_request("POST", "/v1/realtime/client_secrets", body)), 400, code)
    assert error["param"] == param
    assert len(api.keys) == 0  # nothing minted


BAD_PREVIEW_MINTS = [
    ({"modalities": ["video"]}, "modalities"),
    ({"output_modalities": ["audio"]}, "output_modalities"),  # a GA key in a preview body
    ({"type": "realtime"}, "type"),
    ({"client_secret": {"expires_after": {"anchor": "created_at", "seconds": 5}}}, None),
    ({"client_secret": "forever"}, "client_secret"),
    ({"voice": "marin"}, "voice"),  # GA-only voice
]


@pytest.mark.parametrize(("body", "param"), BAD_PREVIEW_MINTS)
def test_bad_preview_mint_bodies(api: HttpApi, body: dict[str, Any], param: str | None) -> None:
    answer = _answer(api.handle(_request("POST", "/v1/realtime/sessions", body)))
    assert answer.status == 400, answer.body
    error = answer.json()["error"]
    if param is not None:
        assert error["param"] == param  # the preview body is the session: no "session." prefix
    else:
        assert error["param"] == "client_secret.expires_after.seconds"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "invalid_json"),
        (b"\xff\xfe", "application/json", 400, "invalid_json"),
        (b"[1, 2]", "application/json", 400, "invalid_type"),
        (b"{}", "text/plain", 415, "unsupported_content_type"),
        (b"a=b", "application/x-www-form-urlencoded", 415, "unsupported_content_type"),
    ],
)
def test_mint_bodies_that_are_not_json_objects(
    api: HttpApi, body: bytes, content_type: str, status: int, code: str
) -> None:
    request = _request("POST", "/v1/realtime/client_secrets", body, Content_Type=content_type)
    _error(api.handle(request), status, code)


def test_azure_preview_mint_needs_a_served_api_version(api: HttpApi) -> None:
    for target, code in [
        ("/openai/realtimeapi/sessions", "missing_api_version"),
        ("/openai/realtimeapi/sessions?api-version=2025-08-28", "unsupported_api_version"),
    ]:
        _error(api.handle(_request("POST", target, PREVIEW_SESSION)), 400, code)


def test_azure_preview_2024_10_refuses_what_came_later(api: HttpApi) -> None:
    body = {**PREVIEW_SESSION, "voice": "alloy", "turn_detection": {"type": "semantic_vad"}}
    target = "/openai/realtimeapi/sessions?api-version=2024-10-01-preview"
    error = _error(api.handle(_request("POST", target, body)), 400, "invalid_value")
    assert "2025-04-01-preview" in error["message"]
    key = _key(_mint(api, Flow.PREVIEW_AZURE))  # 2025-04 takes it
    assert isinstance(_call(api, Flow.PREVIEW_AZURE, key), OpenCall)


# --------------------------------------------------------------------------------------------------
# Calls: bodies and content types are ours to judge, the SDP itself is the registry's


@pytest.mark.parametrize(
    ("offer", "content_type", "status", "code"),
    [
        (b"", "application/sdp", 400, "missing_sdp"),
        (b"  \r\n", "application/sdp", 400, "missing_sdp"),
        (b"v=0\r\n\xff\xfe", "application/sdp", 400, "invalid_sdp"),
        (OFFER, "text/plain", 415, "unsupported_content_type"),
        (OFFER, "", 415, "unsupported_content_type"),
    ],
)
def test_offer_bodies(api: HttpApi, offer: bytes | str, content_type: str, status: int, code: str) -> None:
    key = _key(_mint(api, Flow.GA_OPENAI))
    _error(_call(api, Flow.GA_OPENAI, key, offer, Content_Type=content_type), status, code)


def test_a_malformed_sdp_is_passed_to_the_registry_which_judges_it(api: HttpApi) -> None:
    key = _key(_mint(api, Flow.GA_OPENAI))
    action = _call(api, Flow.GA_OPENAI, key, "this is not SDP")
    assert isinstance(action, OpenCall) and action.offer_sdp == "this is not SDP"
    refused = api.refused(action, 400, "invalid_offer", "The offer has no audio m-line.", "sdp")
    assert _error(refused, 400, "invalid_offer")["param"] == "sdp"
    _error(api.failed(action), 500, "server_error")


def test_preview_calls_need_the_model_in_the_query(api: HttpApi) -> None:
    for flow, target in [(Flow.PREVIEW_OPENAI, "/v1/realtime"), (Flow.PREVIEW_AZURE, "/v1/realtimertc")]:
        key = _key(_mint(api, flow))
        request = _request(
            "POST", target, OFFER, Content_Type="application/sdp", Authorization=f"Bearer {key}"
        )
        assert _error(api.handle(request), 400, "missing_model")["param"] == "model"


def test_calls_without_a_registry_are_501_but_keys_still_mint(clock: Clock) -> None:
    api = _api(clock, calls=False)
    key = _key(_mint(api, Flow.GA_OPENAI))
    error = _error(_call(api, Flow.GA_OPENAI, key), 501, "webrtc_unavailable")
    assert "WebRTC calls are not available" in error["message"]
    _error(api.handle(_request("POST", "/v1/realtime/calls/rtc_1/hangup")), 501, "webrtc_unavailable")


def _multipart(fields: dict[str, str | bytes]) -> tuple[str, bytes]:
    import httpx

    files = [
        (name, (None, value.encode() if isinstance(value, str) else value)) for name, value in fields.items()
    ]
    request = httpx.Request("POST", "http://127.0.0.1/v1/realtime/calls", files=files)
    return request.headers["Content-Type"], request.read()


@pytest.mark.parametrize("target", ["/v1/realtime/calls", "/openai/v1/realtime/calls?webrtcfilter=on"])
def test_the_unified_form_carries_sdp_and_session(api: HttpApi, target: str) -> None:
    content_type, body = _multipart({"sdp": OFFER, "session": json.dumps(GA_SESSION)})
    action = api.handle(_request("POST", target, body, Content_Type=content_type))
    assert isinstance(action, OpenCall)
    assert action.offer_sdp == OFFER and action.session == GA_SESSION and action.dialect is Dialect.GA
    assert action.model == "gpt-realtime"
    content_type, body = _multipart({"sdp": OFFER})
    action = api.handle(_request("POST", target, body, Content_Type=content_type))
    assert isinstance(action, OpenCall) and action.session is None and action.model is None


@pytest.mark.parametrize(
    ("fields", "code", "param"),
    [
        ({"session": json.dumps(GA_SESSION)}, "missing_required_parameter", "sdp"),
        ({"sdp": OFFER, "session": "{oops"}, "invalid_json", "session"),
        ({"sdp": OFFER, "session": json.dumps({"model": "m"})}, "missing_required_parameter", "session.type"),
        ({"sdp": OFFER, "offer": "x"}, "unknown_parameter", "offer"),
        ({"sdp": b"\xff"}, "invalid_sdp", "sdp"),
        ({"sdp": ""}, "missing_sdp", "sdp"),
    ],
)
def test_bad_unified_forms(api: HttpApi, fields: dict[str, Any], code: str, param: str) -> None:
    content_type, body = _multipart(fields)
    request = _request("POST", "/v1/realtime/calls", body, Content_Type=content_type)
    assert _error(api.handle(request), 400, code)["param"] == param


def test_a_malformed_multipart_body_is_400(api: HttpApi) -> None:
    request = _request(
        "POST", "/v1/realtime/calls", b"--x\r\nnope", Content_Type="multipart/form-data; boundary=x"
    )
    assert "malformed" in _error(api.handle(request), 400, "invalid_multipart")["message"]


def test_the_preview_call_endpoints_take_no_multipart(api: HttpApi) -> None:
    content_type, body = _multipart({"sdp": OFFER})
    request = _request("POST", CALL_TARGETS[Flow.PREVIEW_OPENAI], body, Content_Type=content_type)
    _error(api.handle(request), 415, "unsupported_content_type")


# --------------------------------------------------------------------------------------------------
# Hangup


@pytest.mark.parametrize("root", ["/v1/realtime/calls", "/openai/v1/realtime/calls"])
def test_hangup(clock: Clock, root: str) -> None:
    api = _api(clock, token=TOKEN)
    _error(api.handle(_request("POST", f"{root}/rtc_1/hangup")), 401, "invalid_api_key")
    action = api.handle(_request("POST", f"{root}/rtc_1/hangup", Authorization=f"Bearer {TOKEN}"))
    assert isinstance(action, HangUp) and action.call_id == "rtc_1"
    done = api.hung_up(action, True)
    assert done.status == 200 and done.body == b""
    assert _error(api.hung_up(action, False), 404, "call_not_found")["param"] == "call_id"


# --------------------------------------------------------------------------------------------------
# CORS


@pytest.mark.parametrize("origin", [PAGE, "http://localhost:8890", "https://lab.example.org"])
@pytest.mark.parametrize("target", ["/v1/realtime/calls", "/v1/realtime/client_secrets", "/v1/realtimertc"])
def test_preflight_from_a_trusted_page(api: HttpApi, origin: str, target: str) -> None:
    request = _request(
        "OPTIONS",
        target,
        Origin=origin,
        Access_Control_Request_Method="POST",
        Access_Control_Request_Headers="authorization,content-type",
    )
    answer = _answer(api.handle(request))
    assert answer.status == 204 and answer.body == b""
    assert answer.header("Access-Control-Allow-Origin") == origin
    assert answer.header("Access-Control-Allow-Methods") == "POST, OPTIONS"
    assert answer.header("Access-Control-Allow-Headers") == "Authorization, Content-Type, api-key"
    assert answer.header("Access-Control-Expose-Headers") == "Location"
    assert answer.header("Access-Control-Max-Age") == "600"
    assert answer.header("Vary") == "Origin"
    assert answer.header("Access-Control-Allow-Private-Network") is None


def test_preflight_grants_private_network_access_to_a_trusted_public_page(api: HttpApi) -> None:
    request = _request(
        "OPTIONS",
        "/v1/realtime/calls",
        Origin="https://lab.example.org",
        Access_Control_Request_Method="POST",
        Access_Control_Request_Private_Network="true",
    )
    assert _answer(api.handle(request)).header("Access-Control-Allow-Private-Network") == "true"


@pytest.mark.parametrize("method", ["OPTIONS", "POST"])
def test_other_origins_are_refused_without_cors_headers(api: HttpApi, method: str) -> None:
    for origin in ("https://evil.example.com", "null"):
        request = _request(method, "/v1/realtime/client_secrets", {}, Origin=origin)
        answer = _answer(api.handle(request))
        error = _error(answer, 403, "origin_not_allowed")
        assert "--allow-origin" in error["message"]
        assert not any(name.lower().startswith("access-control-") for name, _ in answer.headers)
    assert len(api.keys) == 0  # the refused POST minted nothing


def test_answers_to_a_trusted_page_carry_cors_headers_errors_included(api: HttpApi) -> None:
    minted = _answer(api.handle(_request("POST", "/v1/realtime/client_secrets", {}, Origin=PAGE)))
    assert minted.header("Access-Control-Allow-Origin") == PAGE
    assert minted.header("Access-Control-Expose-Headers") == "Location"
    action = _call(api, Flow.GA_OPENAI, _key(minted.json()), Origin=PAGE)
    assert isinstance(action, OpenCall)
    created = api.opened(action, "rtc_1", "v=0\r\n")
    assert created.header("Access-Control-Allow-Origin") == PAGE and created.header("Location")
    refused = _call(api, Flow.GA_OPENAI, "ek_wrong-wrong-wrong", Origin=PAGE)
    assert _answer(refused).header("Access-Control-Allow-Origin") == PAGE  # the page can read why


def test_preflight_without_origin_just_says_what_is_allowed(api: HttpApi) -> None:
    answer = _answer(api.handle(_request("OPTIONS", "/v1/realtime/calls")))
    assert answer.status == 204 and answer.header("Allow") == "POST, OPTIONS"


# --------------------------------------------------------------------------------------------------
# Routing: unknown paths, methods, and plain GETs as the WebSocket server answered them


@pytest.mark.parametrize(
    "target",
    ["/v1/realtime/nonsense", "/v1/realtime/calls/rtc_1", "/v2/realtime/calls", "/openai/v1/realtime"],
)
def test_unknown_post_paths_are_404_with_the_served_list(api: HttpApi, target: str) -> None:
    error = _error(
        api.handle(_request("POST", target, OFFER, Content_Type="application/sdp")), 404, "not_found"
    )
    assert "/v1/realtime/client_secrets" in error["message"] and "/v1/realtimertc" in error["message"]


def test_get_of_a_post_endpoint_is_405(api: HttpApi) -> None:
    answer = _answer(api.handle(_request("GET", "/v1/realtime/calls")))
    _error(answer, 405, "method_not_allowed")
    assert answer.header("Allow") == "POST, OPTIONS"
    answer = _answer(api.handle(_request("PUT", "/v1/realtime/client_secrets")))
    _error(answer, 405, "method_not_allowed")
    answer = _answer(api.handle(_request("POST", "/")))
    assert answer.status == 405 and answer.header("Allow") == "GET, HEAD"
    _error(api.handle(_request("DELETE", "/nowhere")), 404, "not_found")


def test_plain_gets_keep_the_websocket_servers_answers(clock: Clock) -> None:
    api = _api(clock, token=TOKEN)
    root = _answer(api.handle(_request("GET", "/")))
    assert root.status == 200 and root.header("Content-Type") == "text/plain"
    assert b"/v1/realtime?model=" in root.body
    unknown = _answer(api.handle(_request("GET", "/nope")))
    assert unknown.status == 404 and b"no realtime endpoint" in unknown.body
    assert _answer(api.handle(_request("GET", "/v1/realtime?model=m"))).status == 401  # token first
    authed = _request("GET", "/v1/realtime?model=m", Authorization=f"Bearer {TOKEN}")
    upgrade = _answer(api.handle(authed))
    assert upgrade.status == 426 and upgrade.header("Upgrade") == "websocket"
    missing = _request("GET", "/v1/realtime", Authorization=f"Bearer {TOKEN}")
    assert _answer(api.handle(missing)).status == 400


def test_repr_shows_no_secret(clock: Clock) -> None:
    api = _api(clock, token=TOKEN)
    minted = _mint(api, Flow.GA_OPENAI, Authorization=f"Bearer {TOKEN}")
    assert TOKEN not in repr(api) and _key(minted) not in repr(api)


@pytest.mark.parametrize(
    ("query", "filtered"), [("", False), ("?webrtcfilter=on", True), ("?webrtcfilter=off", False)]
)
def test_webrtcfilter_is_read_and_a_bad_value_refused(api: HttpApi, query: str, filtered: bool) -> None:
    key = _key(_mint(api, Flow.GA_AZURE))
    headers = {"Authorization": f"Bearer {key}", "Content_Type": "application/sdp"}
    action = api.handle(_request("POST", "/openai/v1/realtime/calls" + query, OFFER, **headers))
    assert isinstance(action, OpenCall) and action.webrtc_filter is filtered
    bad = api.handle(_request("POST", "/openai/v1/realtime/calls?webrtcfilter=yes-please", OFFER, **headers))
    assert _error(bad, 400, "invalid_value")["param"] == "webrtcfilter"
