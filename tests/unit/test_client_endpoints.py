"""Endpoint URLs and headers, compared with what the official openai SDK builds for the same target."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import openai.lib._azure_websocket as sdk_azure_ws
import openai.lib._websocket as sdk_ws
import pytest
from openai import AsyncAzureOpenAI, AsyncOpenAI

from realtime_nb.client import Endpoint, MissingCredentialError
from realtime_nb.protocol import Dialect

KEY = "sk-" + "test-0123456789abcdef"  # fake; split so key scanners do not flag it
ENV_VARS = (
    "OPENAI_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_DEPLOYMENT",
    "OPENAI_BASE_URL",
    "OPENAI_API_VERSION",
    "AZURE_OPENAI_AD_TOKEN",
)


class _Captured(Exception):
    """Raised instead of opening a socket, carrying what the SDK would have connected with."""

    def __init__(self, uri: str, headers: dict[str, str]) -> None:
        super().__init__(uri)
        self.uri = uri
        self.headers = headers


class _CaptureConnect:
    def __init__(self, uri: str, **kwargs: Any) -> None:
        self.uri = uri
        self.headers = dict(kwargs.get("additional_headers") or {})

    def __await__(self) -> Iterator[None]:
        raise _Captured(self.uri, self.headers)
        yield  # pragma: no cover - makes this a generator


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sdk_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sdk_ws, "_WebSocketConnect", _CaptureConnect)
    monkeypatch.setattr(sdk_azure_ws, "_AzureWebSocketConnect", _CaptureConnect)


async def _sdk(manager: Any) -> _Captured:
    with pytest.raises(_Captured) as info:
        await manager.enter()
    return info.value


def _parts(url: str) -> tuple[str, str, str, dict[str, str]]:
    p = urlsplit(url)
    return p.scheme, p.netloc, p.path, dict(parse_qsl(p.query))


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


async def test_openai_ga_matches_sdk(sdk_capture: None) -> None:
    sdk = await _sdk(AsyncOpenAI(api_key=KEY).realtime.connect(model="gpt-realtime"))
    ep = Endpoint.openai("gpt-realtime", api_key=KEY)
    assert _parts(ep.url) == _parts(sdk.uri)
    ours = _lower(await ep.handshake_headers())
    assert ours["authorization"] == _lower(sdk.headers)["authorization"] == f"Bearer {KEY}"
    assert "openai-beta" not in ours and "openai-beta" not in _lower(sdk.headers)
    assert ep.dialect is Dialect.GA


async def test_openai_preview_matches_sdk_beta(sdk_capture: None) -> None:
    model = "gpt-4o-realtime-preview"
    sdk = await _sdk(AsyncOpenAI(api_key=KEY).beta.realtime.connect(model=model))
    ep = Endpoint.openai(model, dialect="preview", api_key=KEY)
    assert _parts(ep.url) == _parts(sdk.uri)
    ours, theirs = _lower(await ep.handshake_headers()), _lower(sdk.headers)
    assert ours["authorization"] == theirs["authorization"]
    assert ours["openai-beta"] == theirs["openai-beta"] == "realtime=v1"
    assert ep.dialect is Dialect.PREVIEW


async def test_openai_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    ep = Endpoint.openai()
    assert (await ep.handshake_headers())["Authorization"] == f"Bearer {KEY}"


async def test_azure_ga_matches_sdk_v1_base_url(sdk_capture: None) -> None:
    base = "https://my-res.openai.azure.com/openai/v1/"
    sdk = await _sdk(AsyncOpenAI(api_key=KEY, base_url=base).realtime.connect(model="my-dep"))
    ep = Endpoint.azure("my-dep", endpoint="https://my-res.openai.azure.com/", api_key=KEY)
    assert _parts(ep.url) == _parts(sdk.uri)
    assert ep.dialect is Dialect.GA
    # The SDK sends the key as Bearer; the documented Azure form (and ours) is the api-key header.
    assert _lower(await ep.handshake_headers()) == {"api-key": KEY}


async def test_azure_ga_entra_token_matches_sdk(sdk_capture: None) -> None:
    base = "https://my-res.openai.azure.com/openai/v1/"
    sdk = await _sdk(AsyncOpenAI(api_key="entra-token", base_url=base).realtime.connect(model="my-dep"))
    ep = Endpoint.azure("my-dep", endpoint="my-res.openai.azure.com", token_provider=lambda: "entra-token")
    assert _parts(ep.url) == _parts(sdk.uri)
    assert _lower(await ep.handshake_headers())["authorization"] == _lower(sdk.headers)["authorization"]


@pytest.mark.parametrize("version", ["2024-10-01-preview", "2025-04-01-preview"])
async def test_azure_preview_matches_sdk(sdk_capture: None, version: str) -> None:
    res = "https://my-res.openai.azure.com"
    client = AsyncAzureOpenAI(api_key=KEY, azure_endpoint=res, api_version=version)
    sdk = await _sdk(client.beta.realtime.connect(model="my-dep"))
    ep = Endpoint.azure("my-dep", endpoint=res, api_version=version, api_key=KEY)
    assert _parts(ep.url) == _parts(sdk.uri)
    assert _lower(await ep.handshake_headers())["api-key"] == _lower(sdk.headers)["api-key"] == KEY
    assert ep.dialect is Dialect.PREVIEW


async def test_azure_preview_async_token_provider_matches_sdk(sdk_capture: None) -> None:
    calls: list[int] = []

    async def provider() -> str:
        calls.append(1)
        return f"tok-{len(calls)}"

    client = AsyncAzureOpenAI(
        azure_ad_token_provider=lambda: "tok-1",
        azure_endpoint="https://my-res.openai.azure.com",
        api_version="2025-04-01-preview",
    )
    sdk = await _sdk(client.realtime.connect(model="my-dep"))
    ep = Endpoint.azure(
        "my-dep", endpoint="my-res", api_version="2025-04-01-preview", token_provider=provider
    )
    assert calls == []  # not called before connect time
    assert _parts(ep.url) == _parts(sdk.uri)
    assert _lower(await ep.handshake_headers())["authorization"] == _lower(sdk.headers)["authorization"]
    # A fresh token on every connect.
    assert (await ep.handshake_headers())["Authorization"] == "Bearer tok-2"


async def test_local_matches_sdk_websocket_base_url(sdk_capture: None) -> None:
    client = AsyncOpenAI(api_key="local-token", websocket_base_url="ws://127.0.0.1:8765/v1")
    sdk = await _sdk(client.realtime.connect(model="gpt-realtime"))
    for url in (
        "ws://127.0.0.1:8765",
        "ws://127.0.0.1:8765/",
        "ws://127.0.0.1:8765/v1",
        "http://127.0.0.1:8765/v1/realtime",
    ):
        ep = Endpoint.local(url, token="local-token")
        assert _parts(ep.url) == _parts(sdk.uri), url
        assert (await ep.handshake_headers()) == {"Authorization": "Bearer local-token"}


async def test_local_preview_adds_beta_header_and_no_token_means_no_auth() -> None:
    ep = Endpoint.local("ws://localhost:9000", dialect=Dialect.PREVIEW, model="m x")
    assert ep.url == "ws://localhost:9000/v1/realtime?model=m+x"
    assert await ep.handshake_headers() == {"OpenAI-Beta": "realtime=v1"}
    assert ep.auth_kind is None


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://my-res.openai.azure.com",
        "https://my-res.openai.azure.com/",
        "my-res.openai.azure.com",
        "my-res.openai.azure.com/",
        "https://my-res.openai.azure.com/openai/",
        "https://my-res.openai.azure.com/openai/v1/",
        "  https://MY-RES.openai.azure.com/  ",
        "my-res",
    ],
)
def test_azure_endpoint_forms(endpoint: str) -> None:
    ep = Endpoint.azure("dep", endpoint=endpoint, api_key=KEY)
    assert ep.url == "wss://my-res.openai.azure.com/openai/v1/realtime?model=dep"


@pytest.mark.parametrize(
    ("endpoint", "fragment"),
    [
        ("http://my-res.openai.azure.com", "https://"),
        ("https://my-res.openai.azure.com/openai/deployments/x", "unexpected path"),
        ("https://my-res.openai.azure.com/?api-key=abc", "just the resource URL"),
        ("https://bad_host!.com", "not a valid host"),
    ],
)
def test_azure_endpoint_refused_with_clear_message(endpoint: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Endpoint.azure("dep", endpoint=endpoint, api_key=KEY)


def test_azure_unknown_api_version_names_the_choices() -> None:
    with pytest.raises(ValueError, match="2025-04-01-preview"):
        Endpoint.azure("dep", endpoint="res", api_version="2024-06-01", api_key=KEY)


def test_azure_key_and_provider_together_refused() -> None:
    with pytest.raises(ValueError, match="either"):
        Endpoint.azure("dep", endpoint="res", api_key=KEY, token_provider=lambda: "t")


async def test_token_provider_returning_nothing_is_a_clear_error() -> None:
    ep = Endpoint.azure("dep", endpoint="res", token_provider=lambda: "")
    with pytest.raises(ValueError, match="token provider"):
        await ep.handshake_headers()


@pytest.mark.parametrize(
    ("build", "variable"),
    [
        (lambda: Endpoint.openai(), "OPENAI_API_KEY"),
        (lambda: Endpoint.azure("dep", endpoint="res"), "AZURE_OPENAI_API_KEY"),
        (lambda: Endpoint.azure("dep", api_key=KEY), "AZURE_OPENAI_ENDPOINT"),
    ],
)
def test_missing_credential_names_the_variable(build: Any, variable: str) -> None:
    with pytest.raises(MissingCredentialError) as info:
        build()
    assert info.value.variable == variable
    assert variable in str(info.value)
    assert str(info.value).count(".") >= 1 and "\n" not in str(info.value)


def test_blank_environment_variable_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "   ")
    with pytest.raises(MissingCredentialError, match="OPENAI_API_KEY"):
        Endpoint.openai()


def test_from_env_picks_azure_then_openai_then_none(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Endpoint.from_env() is None
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    ep = Endpoint.from_env()
    assert ep is not None and ep.service == "openai" and ep.dialect is Dialect.GA
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://res2.openai.azure.com/")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key")
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "rt")
    ep = Endpoint.from_env()
    assert ep is not None and ep.service == "azure"
    assert ep.url == "wss://res2.openai.azure.com/openai/v1/realtime?model=rt"
    ep = Endpoint.from_env(dialect="preview")
    assert ep is not None and ep.dialect is Dialect.PREVIEW
    assert "api-version=2025-04-01-preview" in ep.url and "deployment=rt" in ep.url


def test_from_env_half_configured_azure_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key")
    with pytest.raises(MissingCredentialError, match="AZURE_OPENAI_ENDPOINT"):
        Endpoint.from_env()


async def test_prompt_openai_asks_only_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return KEY

    ep = Endpoint.prompt_openai(ask=ask)
    assert len(prompts) == 1 and KEY not in prompts[0]
    assert (await ep.handshake_headers())["Authorization"] == f"Bearer {KEY}"
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    Endpoint.prompt_openai(ask=ask)
    assert len(prompts) == 1
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(MissingCredentialError):
        Endpoint.prompt_openai(ask=lambda _prompt: "")


@pytest.mark.parametrize(
    "url", ["ftp://host", "not a url", "ws://user:pw@host:1", "ws://host:1/v1/realtime?api-key=abc"]
)
def test_local_bad_urls_refused(url: str) -> None:
    with pytest.raises(ValueError):
        Endpoint.local(url)


def test_unknown_dialect_refused() -> None:
    with pytest.raises(ValueError, match="dialect"):
        Endpoint.openai(api_key=KEY, dialect="beta")


# --- WebRTC: the sideband socket of a call, and the local engine's HTTP base ---------------------------


async def test_sideband_names_the_call_instead_of_the_model() -> None:
    ep = Endpoint.openai("gpt-realtime", api_key=KEY)
    side = ep.sideband("rtc_u1abc")
    assert side.url == "wss://api.openai.com/v1/realtime?call_id=rtc_u1abc"
    assert side.call_id == "rtc_u1abc" and side.dialect is Dialect.GA and side.service == "openai"
    assert (await side.handshake_headers())["Authorization"] == f"Bearer {KEY}"  # the standard key
    assert KEY not in repr(side) and "rtc_u1abc" in repr(side)
    azure = Endpoint.azure("dep", endpoint="res", api_key=KEY).sideband("rtc_2")
    assert azure.url == "wss://res.openai.azure.com/openai/v1/realtime?call_id=rtc_2"
    preview = Endpoint.azure("dep", endpoint="res", api_version="2025-04-01-preview", api_key=KEY)
    query = _parts(preview.sideband("rtc_3").url)[3]
    assert query == {"api-version": "2025-04-01-preview", "call_id": "rtc_3"}
    local = Endpoint.local("ws://127.0.0.1:8765", dialect="preview").sideband("rtc_4")
    assert local.url == "ws://127.0.0.1:8765/v1/realtime?call_id=rtc_4"
    assert (await local.handshake_headers())["OpenAI-Beta"] == "realtime=v1"


def test_sideband_refuses_what_is_not_a_call_id_and_places_no_call() -> None:
    ep = Endpoint.local()
    for bad in ("", "rtc 1", "rtc_1&model=x", None):
        with pytest.raises(ValueError, match="call_id"):
            ep.sideband(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sideband"):
        ep.sideband("rtc_1").webrtc_urls()


def test_http_base_and_loopback() -> None:
    assert Endpoint.local("ws://127.0.0.1:8765").http_base == "http://127.0.0.1:8765"
    assert Endpoint.local("ws://localhost:9/x/v1/realtime").webrtc_urls().calls == (
        "http://localhost:9/x/v1/realtime/calls"
    )
    assert Endpoint.local().is_loopback and Endpoint.local("ws://localhost:1").is_loopback
    assert not Endpoint.local("ws://10.1.2.3:8765").is_loopback
    assert Endpoint.openai(api_key=KEY).http_base == "https://api.openai.com"
    assert not Endpoint.openai(api_key=KEY).is_loopback


def test_azure_region_is_checked() -> None:
    with pytest.raises(ValueError, match="region"):
        Endpoint.azure("dep", endpoint="res", api_key=KEY, region="east us")
