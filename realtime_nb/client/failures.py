"""Why a session with a service could not run, in one sentence a notebook can print.

A wrong key, a host that cannot be reached, a deployment that does not exist, a retired dialect: each
surfaces as an exception from a different layer (`ConnectError` with an HTTP status or an OS error,
`ServerError` from the first event, `TimeoutError`, a closed socket). `explain_failure` maps each to
one sentence that says what happened and what to check (the environment variable, the deployment
name), built only from the exception's classified parts and the endpoint's public ones (host,
model): never a key, and never a refusal's message, which the services use to quote part of the
refused key. As a last guard the sentence is passed through `redact` with the endpoint's secrets.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from realtime_nb.client.endpoints import OPENAI_URL, Endpoint
from realtime_nb.client.errors import (
    ConnectError,
    ConnectionClosedError,
    MissingCredentialError,
    ProtocolError,
    ServerError,
)
from realtime_nb.protocol.redaction import redact

__all__ = ["explain_failure"]

_MAX_SERVER_TEXT = 160  # how much of a service's error event message a sentence quotes


def _key_variable(endpoint: Endpoint) -> str:
    if endpoint.service == "azure":
        return "the Entra token" if endpoint.auth_kind == "entra" else "AZURE_OPENAI_API_KEY"
    if endpoint.service == "openai":
        return "OPENAI_API_KEY"
    return "the engine's token"


def _where_variable(endpoint: Endpoint) -> str:
    if endpoint.service == "azure":
        return "AZURE_OPENAI_ENDPOINT"
    if endpoint.service == "openai":
        if urlsplit(endpoint.url).hostname == urlsplit(OPENAI_URL).hostname:
            return "the network (a firewall or proxy may block it)"
        return "OPENAI_BASE_URL"
    return "the engine's address"


def _what(endpoint: Endpoint) -> str:
    if endpoint.service == "azure":
        return f"deployment {endpoint.model!r}"
    return f"model {endpoint.model!r}"


def _http(exc: ConnectError, endpoint: Endpoint, host: str) -> str:
    status = exc.status or 0
    said = f"HTTP {status}" + (f", {exc.code}" if exc.code else "")
    code = (exc.code or "").lower()
    if status == 401 or "expired" in code:
        return (
            f"{host} refused the credential ({said}): it is wrong, revoked or expired; "
            f"check {_key_variable(endpoint)}."
        )
    if status == 403:
        return (
            f"{host} denied access ({said}): the key has no access to the {_what(endpoint)}, or a network "
            "rule of the resource blocks this machine."
        )
    if status == 404:
        if endpoint.service == "azure":
            return (
                f"{host} has no {_what(endpoint)} ({said}): check AZURE_OPENAI_DEPLOYMENT and that the "
                "deployment is a realtime model in this resource."
            )
        return f"{host} does not serve the {_what(endpoint)} ({said}): check the model name and the URL."
    if status == 429:
        return f"{host} refused for quota or rate limits ({said}): check the account's billing and limits."
    if status >= 500:
        return f"{host} failed ({said}); the service may be down, try again later."
    return f"{host} refused the connection ({said})."


def explain_failure(exc: BaseException, endpoint: Endpoint, timeout: float | None = None) -> str:
    """One sentence for why `endpoint` could not be used, from what was raised (see the module doc)."""
    host = urlsplit(endpoint.url).netloc or endpoint.url
    if isinstance(exc, ConnectError):
        if exc.kind == "http":
            sentence = _http(exc, endpoint, host)
        elif exc.kind == "dns":
            sentence = (
                f"cannot resolve {urlsplit(endpoint.url).hostname}: this machine is offline, or the host "
                f"name is wrong (check {_where_variable(endpoint)})."
            )
        elif exc.kind == "refused":
            sentence = f"nothing answers at {host} (connection refused): check {_where_variable(endpoint)}."
        elif exc.kind == "timeout":
            within = f" within {timeout:g} s" if timeout else ""
            sentence = f"no answer from {host}{within}: the network or a proxy may block it."
        elif exc.kind == "tls":
            sentence = (
                f"the secure connection to {host} failed (TLS): a proxy or a wrong host may be in the way."
            )
        elif exc.kind == "network":
            sentence = f"cannot reach {host}: the network is unreachable from this machine."
        else:
            sentence = f"{host} did not answer as a Realtime WebSocket endpoint: check the URL."
    elif isinstance(exc, ServerError):
        message = (
            exc.message if len(exc.message) <= _MAX_SERVER_TEXT else exc.message[:_MAX_SERVER_TEXT] + "…"
        )
        code = exc.code or exc.error_type or "error"
        if "expired" in code.lower() or code in ("invalid_api_key", "invalid_client_secret"):
            sentence = f"the service refused the credential ({code}); check {_key_variable(endpoint)}."
        else:
            sentence = f"the service refused the session ({code}: {message})."
    elif isinstance(exc, ConnectionClosedError):
        reason = f": {exc.reason}" if exc.reason else ""
        sentence = f"the service closed the connection (code {exc.code}{reason})."
    elif isinstance(exc, TimeoutError):
        sentence = f"{host} stopped answering ({exc})."
    elif isinstance(exc, ProtocolError):
        sentence = f"{host} sent something that is not a Realtime event ({exc})."
    elif isinstance(exc, MissingCredentialError):
        sentence = str(exc)
    else:
        sentence = f"failed with {type(exc).__name__}: {exc}"
    return redact(sentence, *endpoint.secret_values)
