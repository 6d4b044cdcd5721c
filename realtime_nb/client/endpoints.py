"""Where a session connects and how it authenticates: the local engine, OpenAI or Azure OpenAI.

An `Endpoint` is a URL, a dialect and a credential recipe. The URL and header forms follow what the
services document and what the official `openai` SDK (3.52) builds:

* local: ``ws://host:port/v1/realtime?model=M``, optional ``Authorization: Bearer TOKEN``;
  preview adds ``OpenAI-Beta: realtime=v1``.
* OpenAI: ``wss://api.openai.com/v1/realtime?model=M``, ``Authorization: Bearer KEY``;
  preview adds ``OpenAI-Beta: realtime=v1``.
* Azure GA: ``wss://RES.openai.azure.com/openai/v1/realtime?model=DEPLOYMENT``.
* Azure preview: ``wss://RES.openai.azure.com/openai/realtime?api-version=V&deployment=DEPLOYMENT``.
  Both Azure forms authenticate with ``api-key: KEY`` or an Entra ``Authorization: Bearer TOKEN``.

Keys live in `Secret` objects and only reach the wire through `handshake_headers()`; `headers`,
`repr` and `str` show a mask. An Entra token provider (sync or async callable) is called at connect
time, so a long-lived notebook gets a fresh token on every connect.

WebRTC (`webrtc_urls`): the same endpoint also knows where a WebRTC call's HTTP steps go, per flow:

=================  ==========================================  =========================================
endpoint           mint an ephemeral key                       POST the SDP offer
=================  ==========================================  =========================================
OpenAI/local GA    ``{base}/v1/realtime/client_secrets``       ``{base}/v1/realtime/calls``
OpenAI/local prev  ``{base}/v1/realtime/sessions``             ``{base}/v1/realtime?model=M``
Azure GA           ``{res}/openai/v1/realtime/client_secrets``  ``{res}/openai/v1/realtime/calls``
Azure preview      ``{res}/openai/realtimeapi/sessions``       ``https://{region}.realtimeapi-preview.``
                   ``?api-version=2025-04-01-preview``         ``ai.azure.com/v1/realtimertc?model={dep}``
=================  ==========================================  =========================================

The GA "unified" flow mints nothing: the offer goes to the calls URL with the standard key. A call
is hung up at ``{calls resource}/{call_id}/hangup`` (the GA calls URL of the same host), and its
sideband socket is this endpoint's WebSocket URL with ``?call_id=`` instead of the model
(`sideband`). The local engine's HTTP base is its ``ws://host:port`` read as ``http://``; an Azure
endpoint given as ``http://127.0.0.1:PORT`` is the engine answering Azure's paths (its preview SDP
path is then ``/v1/realtimertc`` under the engine's own address, as no region host exists there).
"""

from __future__ import annotations

import getpass
import inspect
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from realtime_nb._rtc_loopback import is_loopback_host
from realtime_nb.client.errors import MissingCredentialError
from realtime_nb.client.secret import Secret
from realtime_nb.protocol import Dialect, SessionConfig
from realtime_nb.protocol.redaction import MASK

TokenProvider = Callable[[], str | Awaitable[str]]
Service = Literal["local", "openai", "azure"]
Flow = Literal["ephemeral", "unified"]

OPENAI_URL = "wss://api.openai.com/v1/realtime"
AZURE_PREVIEW_API_VERSIONS: tuple[str, ...] = ("2024-10-01-preview", "2025-04-01-preview")
AZURE_PREVIEW_RTC_API_VERSION = "2025-04-01-preview"  # the only version Azure's preview WebRTC sessions take
BETA_HEADER = ("OpenAI-Beta", "realtime=v1")
FLOWS: tuple[str, ...] = ("ephemeral", "unified")

_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
_RESOURCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_REGION_RE = re.compile(r"^[a-z0-9]+$")
_CALL_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_MODEL_KEYS = ("model", "deployment")
_SOCKET_SCHEMES = {"https": "wss", "wss": "wss", "http": "ws", "ws": "ws"}


@dataclass(frozen=True)
class WebRTCUrls:
    """Where the HTTP steps of one WebRTC call go (see the module docstring's table)."""

    flow: Flow
    mint: str | None
    """POST here for an ephemeral key (GA ``client_secrets``, preview ``sessions``); None: unified flow."""
    calls: str
    """POST the SDP offer here."""
    calls_resource: str
    """The GA calls collection of the same host: a call is hung up at ``{calls_resource}/{id}/hangup``."""

    def hangup(self, call_id: str) -> str:
        """The hangup URL of `call_id` (a ``rtc_...`` id from the answer's ``Location``)."""
        if not isinstance(call_id, str) or not _CALL_ID_RE.match(call_id):
            raise ValueError(f"call_id must be an id such as 'rtc_abc123', got {call_id!r}")
        return f"{self.calls_resource}/{call_id}/hangup"


def _env(name: str) -> str | None:
    """An environment variable, with empty / blank treated as unset (a common notebook slip)."""
    value = os.environ.get(name, "").strip()
    return value or None


def _dialect(value: Dialect | str) -> Dialect:
    try:
        return Dialect(value)
    except ValueError:
        allowed = ", ".join(repr(d.value) for d in Dialect)
        raise ValueError(f"unknown dialect {value!r}; expected one of {allowed}") from None


def _model(value: str | None, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value.strip()


class _Auth:
    """How the credential is presented: header name, prefix, and a secret or a token provider."""

    __slots__ = ("header", "kind", "prefix", "provider", "secret")

    def __init__(
        self,
        kind: Literal["bearer", "api-key", "entra"],
        secret: Secret | None = None,
        provider: TokenProvider | None = None,
    ) -> None:
        self.kind = kind
        self.secret = secret
        self.provider = provider
        self.header = "api-key" if kind == "api-key" else "Authorization"
        self.prefix = "" if kind == "api-key" else "Bearer "

    async def value(self) -> str:
        if self.secret is not None:
            return self.prefix + self.secret.reveal()
        assert self.provider is not None
        token = self.provider()
        if inspect.isawaitable(token):
            token = await token
        if not isinstance(token, str) or not token.strip():
            raise ValueError(
                f"the token provider returned {type(token).__name__}, expected a non-empty token string"
            )
        return self.prefix + token.strip()


class Endpoint:
    """A Realtime WebSocket URL, its dialect, and how to authenticate. Build with the classmethods."""

    __slots__ = ("_auth", "_extra_headers", "_region", "call_id", "dialect", "model", "service", "url")

    def __init__(
        self,
        url: str,
        dialect: Dialect,
        service: Service,
        model: str | None,
        *,
        auth: _Auth | None = None,
        extra_headers: Mapping[str, str] | None = None,
        region: str | None = None,
        call_id: str | None = None,
    ) -> None:
        self.url = url
        self.dialect = dialect
        self.service: Service = service
        self.model = model
        self._auth = auth
        self._extra_headers = dict(extra_headers or {})
        self._region = region
        self.call_id = call_id
        """Set on a sideband endpoint (`sideband`): the WebRTC call whose events its socket carries."""

    # ---- constructors -----------------------------------------------------------------------

    @classmethod
    def local(
        cls,
        url: str = "ws://127.0.0.1:8765",
        dialect: Dialect | str = Dialect.GA,
        model: str = "gpt-realtime",
        token: str | Secret | None = None,
    ) -> Endpoint:
        """The embedded engine (or any server of the protocol) at `url`.

        `url` may be the bare ``ws://host:port`` (``/v1/realtime`` is added), end in ``/v1``, or be
        the full realtime URL; ``http(s)`` is read as ``ws(s)``. The optional `token` is sent as
        ``Authorization: Bearer``.
        """
        d = _dialect(dialect)
        full = _local_url(url, _model(model, "model"))
        auth = _Auth("bearer", Secret(token)) if token is not None else None
        return cls(full, d, "local", model, auth=auth, extra_headers=_beta(d))

    @classmethod
    def openai(
        cls,
        model: str = "gpt-realtime",
        dialect: Dialect | str = Dialect.GA,
        api_key: str | Secret | None = None,
        base_url: str | None = None,
    ) -> Endpoint:
        """OpenAI's service; the key comes from `api_key` or ``OPENAI_API_KEY``.

        `base_url` (or ``OPENAI_BASE_URL``, the variable the openai SDK reads) replaces
        ``https://api.openai.com/v1`` for a gateway or proxy; the socket goes to ``{base}/realtime``.
        Plain ``http://`` is accepted only for a loopback address: the key must not travel unencrypted.
        """
        d = _dialect(dialect)
        model = _model(model, "model")
        key = api_key if api_key is not None else _env("OPENAI_API_KEY")
        if key is None:
            raise MissingCredentialError(
                "OPENAI_API_KEY", "No OpenAI API key: pass api_key=... or set the OPENAI_API_KEY variable."
            )
        base = base_url if base_url is not None else _env("OPENAI_BASE_URL")
        url = f"{_openai_socket_url(base)}?{urlencode({'model': model})}"
        return cls(url, d, "openai", model, auth=_Auth("bearer", Secret(key)), extra_headers=_beta(d))

    @classmethod
    def azure(
        cls,
        deployment: str,
        endpoint: str | None = None,
        api_version: str | None = None,
        api_key: str | Secret | None = None,
        token_provider: TokenProvider | None = None,
        region: str | None = None,
    ) -> Endpoint:
        """Azure OpenAI. `api_version=None` is the GA protocol; a preview version selects preview.

        `endpoint` (or ``AZURE_OPENAI_ENDPOINT``) is the resource URL with or without ``https://``,
        trailing ``/`` or ``/openai[/v1]``, or just the resource name; ``http://`` is accepted only
        for a loopback address (the local engine answering Azure's paths). Auth: `api_key` (or
        ``AZURE_OPENAI_API_KEY``) as the ``api-key`` header, or `token_provider`, a sync or async
        callable returning a Microsoft Entra token, sent as ``Authorization: Bearer``.
        `region` (e.g. ``"eastus2"``, the resource's region) is needed only for a preview WebRTC call,
        whose SDP goes to ``https://{region}.realtimeapi-preview.ai.azure.com``.
        """
        deployment = _model(deployment, "deployment")
        if region is not None and (not isinstance(region, str) or not _REGION_RE.match(region.strip())):
            raise ValueError(f"region must be an Azure region name such as 'eastus2', got {region!r}")
        raw_endpoint = endpoint if endpoint is not None else _env("AZURE_OPENAI_ENDPOINT")
        if raw_endpoint is None:
            raise MissingCredentialError(
                "AZURE_OPENAI_ENDPOINT",
                "No Azure OpenAI endpoint: pass endpoint=... or set the AZURE_OPENAI_ENDPOINT variable.",
            )
        secure, host = _azure_origin(raw_endpoint)
        ws = "wss" if secure else "ws"
        region = region.strip() if region is not None else None
        if api_key is not None and token_provider is not None:
            raise ValueError("pass either api_key or token_provider, not both")
        if token_provider is not None:
            if not callable(token_provider):
                kind = type(token_provider).__name__
                raise TypeError(f"token_provider must be a callable returning a token, got {kind}")
            auth = _Auth("entra", provider=token_provider)
        else:
            key = api_key if api_key is not None else _env("AZURE_OPENAI_API_KEY")
            if key is None:
                raise MissingCredentialError(
                    "AZURE_OPENAI_API_KEY",
                    "No Azure OpenAI key: pass api_key=... or token_provider=..., "
                    "or set the AZURE_OPENAI_API_KEY variable.",
                )
            auth = _Auth("api-key", Secret(key))
        if api_version is None:
            url = f"{ws}://{host}/openai/v1/realtime?{urlencode({'model': deployment})}"
            return cls(url, Dialect.GA, "azure", deployment, auth=auth, region=region)
        if api_version not in AZURE_PREVIEW_API_VERSIONS:
            allowed = ", ".join(AZURE_PREVIEW_API_VERSIONS)
            raise ValueError(
                f"unsupported Azure api_version {api_version!r}: "
                f"use None for the GA protocol or one of {allowed}"
            )
        query = urlencode({"api-version": api_version, "deployment": deployment})
        url = f"{ws}://{host}/openai/realtime?{query}"
        return cls(url, Dialect.PREVIEW, "azure", deployment, auth=auth, region=region)

    @classmethod
    def from_env(
        cls,
        dialect: Dialect | str = Dialect.GA,
        model: str = "gpt-realtime",
        deployment: str | None = None,
        token_provider: TokenProvider | None = None,
    ) -> Endpoint | None:
        """Pick a service from the environment: Azure, else OpenAI, else None (= use the local engine).

        Azure is chosen when ``AZURE_OPENAI_ENDPOINT`` or ``AZURE_OPENAI_API_KEY`` is set (the other one,
        or `token_provider`, must then be there too); its deployment is `deployment`, else
        ``AZURE_OPENAI_DEPLOYMENT``, else `model`. Preview on Azure uses api-version 2025-04-01-preview.
        OpenAI is chosen when ``OPENAI_API_KEY`` is set.
        """
        d = _dialect(dialect)
        if _env("AZURE_OPENAI_ENDPOINT") or _env("AZURE_OPENAI_API_KEY"):
            dep = deployment or _env("AZURE_OPENAI_DEPLOYMENT") or model
            version = AZURE_PREVIEW_API_VERSIONS[-1] if d is Dialect.PREVIEW else None
            return cls.azure(dep, api_version=version, token_provider=token_provider)
        if _env("OPENAI_API_KEY"):
            return cls.openai(model, d)
        return None

    @classmethod
    def prompt_openai(
        cls,
        model: str = "gpt-realtime",
        dialect: Dialect | str = Dialect.GA,
        ask: Callable[[str], str] = getpass.getpass,
    ) -> Endpoint:
        """OpenAI with the key from ``OPENAI_API_KEY``, or asked for with `getpass` (never echoed)."""
        if _env("OPENAI_API_KEY"):
            return cls.openai(model, dialect)
        answer = ask("OpenAI API key (input hidden): ")
        if not isinstance(answer, str) or not answer.strip():
            raise MissingCredentialError(
                "OPENAI_API_KEY", "No OpenAI API key was entered; set OPENAI_API_KEY or type the key."
            )
        return cls.openai(model, dialect, api_key=Secret(answer))

    # ---- what the session uses ------------------------------------------------------------------

    @property
    def auth_kind(self) -> str | None:
        """``"bearer"``, ``"api-key"``, ``"entra"`` or None (no credential)."""
        return self._auth.kind if self._auth else None

    @property
    def headers(self) -> dict[str, str]:
        """The handshake headers for display: the credential is masked."""
        out = dict(self._extra_headers)
        if self._auth is not None:
            out[self._auth.header] = self._auth.prefix + MASK
        return out

    async def handshake_headers(self) -> dict[str, str]:
        """The real handshake headers (calls the token provider). Only the connect path uses this."""
        out = dict(self._extra_headers)
        if self._auth is not None:
            out[self._auth.header] = await self._auth.value()
        return out

    async def auth_headers(self) -> dict[str, str]:
        """Only the credential header (calls the token provider): what the HTTP steps of a call send."""
        if self._auth is None:
            return {}
        return {self._auth.header: await self._auth.value()}

    # ---- WebRTC --------------------------------------------------------------------------------

    @property
    def http_base(self) -> str:
        """``scheme://host[:port]`` of the service's HTTP API (the WebSocket URL read as http/https)."""
        parts = urlsplit(self.url)
        scheme = "https" if parts.scheme == "wss" else "http"
        return f"{scheme}://{parts.netloc}"

    @property
    def is_loopback(self) -> bool:
        """True when the peer is on this machine (127.0.0.0/8, ::1, localhost)."""
        return is_loopback_host(urlsplit(self.url).hostname)

    def webrtc_urls(self, flow: Flow = "ephemeral") -> WebRTCUrls:
        """Where a WebRTC call's key, offer and hangup go for `flow` (module docstring's table).

        ``"unified"`` (the offer and the session in one multipart POST, with the standard key; for a
        server that places calls) exists in the GA protocol only. Azure preview needs the endpoint's
        `region`, except on the local engine.
        """
        if flow not in FLOWS:
            raise ValueError(f"flow must be one of {', '.join(map(repr, FLOWS))}, got {flow!r}")
        if self.call_id is not None:
            raise ValueError("a sideband endpoint joins an existing call; it cannot place one")
        if flow == "unified" and self.dialect is Dialect.PREVIEW:
            raise ValueError(
                "the unified flow (multipart SDP + session with the standard key) is GA only; "
                "use flow='ephemeral' for the preview protocol"
            )
        base = self.http_base + self._api_prefix()
        model = urlencode({"model": self.model or ""})
        calls_resource = self._calls_resource()
        if self.service == "azure":
            if self.dialect is Dialect.GA:
                mint = f"{base}/v1/realtime/client_secrets"
                calls = calls_resource
            else:
                version = urlencode({"api-version": AZURE_PREVIEW_RTC_API_VERSION})
                mint = f"{base}/realtimeapi/sessions?{version}"
                calls = f"{self._azure_preview_rtc_origin()}/v1/realtimertc?{model}"
        else:
            if self.dialect is Dialect.GA:
                mint = f"{base}/v1/realtime/client_secrets"
                calls = calls_resource
            else:
                mint = f"{base}/v1/realtime/sessions"
                calls = f"{base}/v1/realtime?{model}"
        return WebRTCUrls(flow, None if flow == "unified" else mint, calls, calls_resource)

    def hangup_url(self, call_id: str) -> str:
        """``{calls}/{call_id}/hangup`` on this endpoint's host (also from a sideband endpoint)."""
        return WebRTCUrls("ephemeral", None, "", self._calls_resource()).hangup(call_id)

    def _calls_resource(self) -> str:
        return f"{self.http_base}{self._api_prefix()}/v1/realtime/calls"

    def sideband(self, call_id: str) -> Endpoint:
        """The WebSocket endpoint of a running WebRTC call's sideband: a normal session for events.

        Same service, dialect and credential (the standard key, not an ephemeral one); the URL names
        the call (``?call_id=rtc_...``) instead of the model, which the services then ignore.
        """
        if not isinstance(call_id, str) or not _CALL_ID_RE.match(call_id):
            raise ValueError(f"call_id must be an id such as 'rtc_abc123', got {call_id!r}")
        return self._with_query(lambda k: k in _MODEL_KEYS, ("call_id", call_id), call_id=call_id)

    def transcription(self) -> Endpoint:
        """The same service, dialect and credential opening a *transcription session*
        (``?intent=transcription``): input audio in, transcripts out, no responses. Configure it
        with a `SessionConfig.for_transcription()` (GA: a ``session.update`` with ``type:
        "transcription"``; preview: ``transcription_session.update``). OpenAI's GA URL drops the
        model, as OpenAI's transcription guide asks; Azure and the local engine keep it.
        """
        drop_model = self.service == "openai" and self.dialect is Dialect.GA
        return self._with_query(
            lambda k: k == "intent" or (drop_model and k == "model"), ("intent", "transcription")
        )

    def _with_query(
        self, drop: Callable[[str], bool], add: tuple[str, str], call_id: str | None = None
    ) -> Endpoint:
        """This endpoint (service, dialect, credential) at a URL whose query loses the keys `drop`
        names and gains `add`."""
        parts = urlsplit(self.url)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not drop(k)]
        query.append(add)
        url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
        return Endpoint(
            url,
            self.dialect,
            self.service,
            self.model,
            auth=self._auth,
            extra_headers=self._extra_headers,
            region=self._region,
            call_id=call_id,
        )

    @property
    def session_type(self) -> str:
        """``"transcription"`` for an endpoint opening a transcription session, else ``"realtime"``."""
        query = parse_qsl(urlsplit(self.url).query, keep_blank_values=True)
        return "transcription" if ("intent", "transcription") in query else "realtime"

    def blank_config(self) -> SessionConfig:
        """The configuration to start from before the peer reports one: of this session's kind."""
        return SessionConfig.for_transcription() if self.session_type == "transcription" else SessionConfig()

    def _api_prefix(self) -> str:
        """The path before the API's own paths: ``/openai`` on Azure; elsewhere whatever precedes
        ``/v1/realtime`` (a local server may sit under a path prefix)."""
        if self.service == "azure":
            return "/openai"
        path = urlsplit(self.url).path.rstrip("/")
        return path[: -len("/v1/realtime")] if path.endswith("/v1/realtime") else ""

    def _azure_preview_rtc_origin(self) -> str:
        if self.is_loopback:
            return self.http_base  # the engine serves the regional path under its own address
        if self._region is None:
            raise ValueError(
                "a preview WebRTC call on Azure goes to https://REGION.realtimeapi-preview.ai.azure.com: "
                "pass region='eastus2' (your resource's region) to Endpoint.azure"
            )
        return f"https://{self._region}.realtimeapi-preview.ai.azure.com"

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Credential strings known now (not provider tokens), for redaction filters."""
        if self._auth is not None and self._auth.secret is not None:
            return (self._auth.secret.reveal(),)
        return ()

    def __repr__(self) -> str:
        auth = f"{self._auth.kind} {MASK}" if self._auth else "none"
        call = f", call_id={self.call_id!r}" if self.call_id is not None else ""
        return (
            f"Endpoint(service={self.service!r}, dialect={self.dialect.value!r}, "
            f"url={self.url!r}, auth={auth!r}{call})"
        )

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("an Endpoint holds a credential and cannot be pickled or saved")


def _beta(dialect: Dialect) -> dict[str, str]:
    return dict([BETA_HEADER]) if dialect is Dialect.PREVIEW else {}


def _local_url(url: str, model: str) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"url must be a ws:// URL string, got {url!r}")
    parts = urlsplit(url.strip())
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"url must look like ws://host:port, got {url!r}")
    if parts.username or parts.password:
        raise ValueError("credentials in the URL are not supported; pass token=... instead")
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(k.lower() in ("api-key", "api_key", "key", "token") for k, _ in query):
        raise ValueError("credentials in the URL are not supported; pass token=... instead")
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path += "/realtime"
    elif not path.endswith("/realtime"):
        path += "/v1/realtime"
    if not any(k == "model" for k, _ in query):
        query.append(("model", model))
    return urlunsplit((scheme, parts.netloc, path, urlencode(query), ""))


def _openai_socket_url(base: str | None) -> str:
    """The socket URL under an OpenAI-style API base: ``https://host/v1`` -> ``wss://host/v1/realtime``."""
    if base is None:
        return OPENAI_URL
    parts = urlsplit(base.strip()) if isinstance(base, str) else None
    scheme = _SOCKET_SCHEMES.get(parts.scheme.lower()) if parts is not None else None
    if parts is None or scheme is None or not parts.hostname:
        raise ValueError(f"OpenAI base URL must look like https://api.openai.com/v1, got {base!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("OpenAI base URL must be scheme://host[:port]/path, without credentials or a query")
    if scheme == "ws" and not is_loopback_host(parts.hostname):
        raise ValueError(
            f"OpenAI base URL {base!r} is plain http: the key would travel unencrypted; use https:// "
            "(http:// only for a loopback address)"
        )
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/realtime", "", ""))


def _azure_origin(endpoint: str) -> tuple[bool, str]:
    """(secure, host[:port]) of an Azure endpoint; plain http only for a loopback address (the engine)."""
    text = endpoint.strip() if isinstance(endpoint, str) else endpoint
    if isinstance(text, str) and text.lower().startswith(("http://", "ws://")):
        parts = urlsplit("http://" + text.partition("://")[2])
        if is_loopback_host(parts.hostname):
            if parts.path.rstrip("/") not in ("", "/openai", "/openai/v1") or parts.query or parts.username:
                raise ValueError(
                    f"give the local engine's address only (http://127.0.0.1:8765), got {text!r}"
                )
            return False, parts.netloc
    return True, _azure_host(endpoint)


def _azure_host(endpoint: str) -> str:
    """``https://res.openai.azure.com/`` / ``res.openai.azure.com`` / ``res`` -> ``res.openai.azure.com``."""
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise ValueError(f"Azure endpoint must be a non-empty string, got {endpoint!r}")
    text = endpoint.strip()
    if "://" in text:
        scheme, _, rest = text.partition("://")
        if scheme.lower() not in ("https", "wss"):
            raise ValueError(
                f"Azure endpoint must use https:// (or no scheme), got {scheme}:// "
                "(http:// only for the local engine on a loopback address)"
            )
    else:
        rest = text
    parts = urlsplit("https://" + rest)
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(
            "Azure endpoint must be just the resource URL, e.g. https://my-resource.openai.azure.com/"
        )
    path = parts.path.rstrip("/")
    if path not in ("", "/openai", "/openai/v1"):
        raise ValueError(
            f"unexpected path {parts.path!r} in the Azure endpoint; give the resource URL, "
            "e.g. https://my-resource.openai.azure.com/"
        )
    host = parts.hostname or ""
    if not _HOST_RE.match(host):
        raise ValueError(f"Azure endpoint host {host!r} is not a valid host name")
    if "." not in host:
        if not _RESOURCE_RE.match(host):
            raise ValueError(f"{host!r} is not an Azure resource name")
        host = f"{host}.openai.azure.com"
    return host if parts.port is None else f"{host}:{parts.port}"
