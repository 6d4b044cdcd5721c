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
"""

from __future__ import annotations

import getpass
import inspect
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from realtime_nb.client.errors import MissingCredentialError
from realtime_nb.client.secret import Secret
from realtime_nb.protocol import Dialect
from realtime_nb.protocol.redaction import MASK

TokenProvider = Callable[[], str | Awaitable[str]]
Service = Literal["local", "openai", "azure"]

OPENAI_URL = "wss://api.openai.com/v1/realtime"
AZURE_PREVIEW_API_VERSIONS: tuple[str, ...] = ("2024-10-01-preview", "2025-04-01-preview")
BETA_HEADER = ("OpenAI-Beta", "realtime=v1")

_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
_RESOURCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")


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

    __slots__ = ("_auth", "_extra_headers", "dialect", "model", "service", "url")

    def __init__(
        self,
        url: str,
        dialect: Dialect,
        service: Service,
        model: str | None,
        *,
        auth: _Auth | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url
        self.dialect = dialect
        self.service: Service = service
        self.model = model
        self._auth = auth
        self._extra_headers = dict(extra_headers or {})

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
    ) -> Endpoint:
        """OpenAI's service; the key comes from `api_key` or ``OPENAI_API_KEY``."""
        d = _dialect(dialect)
        model = _model(model, "model")
        key = api_key if api_key is not None else _env("OPENAI_API_KEY")
        if key is None:
            raise MissingCredentialError(
                "OPENAI_API_KEY", "No OpenAI API key: pass api_key=... or set the OPENAI_API_KEY variable."
            )
        url = f"{OPENAI_URL}?{urlencode({'model': model})}"
        return cls(url, d, "openai", model, auth=_Auth("bearer", Secret(key)), extra_headers=_beta(d))

    @classmethod
    def azure(
        cls,
        deployment: str,
        endpoint: str | None = None,
        api_version: str | None = None,
        api_key: str | Secret | None = None,
        token_provider: TokenProvider | None = None,
    ) -> Endpoint:
        """Azure OpenAI. `api_version=None` is the GA protocol; a preview version selects preview.

        `endpoint` (or ``AZURE_OPENAI_ENDPOINT``) is the resource URL with or without ``https://``,
        trailing ``/`` or ``/openai[/v1]``, or just the resource name. Auth: `api_key` (or
        ``AZURE_OPENAI_API_KEY``) as the ``api-key`` header, or `token_provider`, a sync or async
        callable returning a Microsoft Entra token, sent as ``Authorization: Bearer``.
        """
        deployment = _model(deployment, "deployment")
        raw_endpoint = endpoint if endpoint is not None else _env("AZURE_OPENAI_ENDPOINT")
        if raw_endpoint is None:
            raise MissingCredentialError(
                "AZURE_OPENAI_ENDPOINT",
                "No Azure OpenAI endpoint: pass endpoint=... or set the AZURE_OPENAI_ENDPOINT variable.",
            )
        host = _azure_host(raw_endpoint)
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
            url = f"wss://{host}/openai/v1/realtime?{urlencode({'model': deployment})}"
            return cls(url, Dialect.GA, "azure", deployment, auth=auth)
        if api_version not in AZURE_PREVIEW_API_VERSIONS:
            allowed = ", ".join(AZURE_PREVIEW_API_VERSIONS)
            raise ValueError(
                f"unsupported Azure api_version {api_version!r}: "
                f"use None for the GA protocol or one of {allowed}"
            )
        query = urlencode({"api-version": api_version, "deployment": deployment})
        return cls(f"wss://{host}/openai/realtime?{query}", Dialect.PREVIEW, "azure", deployment, auth=auth)

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

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Credential strings known now (not provider tokens), for redaction filters."""
        if self._auth is not None and self._auth.secret is not None:
            return (self._auth.secret.reveal(),)
        return ()

    def __repr__(self) -> str:
        auth = f"{self._auth.kind} {MASK}" if self._auth else "none"
        return (
            f"Endpoint(service={self.service!r}, dialect={self.dialect.value!r}, "
            f"url={self.url!r}, auth={auth!r})"
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


def _azure_host(endpoint: str) -> str:
    """``https://res.openai.azure.com/`` / ``res.openai.azure.com`` / ``res`` -> ``res.openai.azure.com``."""
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise ValueError(f"Azure endpoint must be a non-empty string, got {endpoint!r}")
    text = endpoint.strip()
    if "://" in text:
        scheme, _, rest = text.partition("://")
        if scheme.lower() not in ("https", "wss"):
            raise ValueError(f"Azure endpoint must use https:// (or no scheme), got {scheme}://")
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
