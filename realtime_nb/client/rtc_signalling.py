"""The HTTP steps of a WebRTC call, sans-I/O: each request built as data, each answer parsed from data.

A call to the Realtime API over WebRTC takes one or two HTTP requests before any media flows, and one
after (the shapes follow the services' references and the `openai` SDK 3.52's `realtime.client_secrets`,
`realtime.calls` and `beta.realtime.sessions`; `tests/unit/test_client_rtc_signalling.py` compares
them with what the SDK sends):

1. **mint** an ephemeral key with the standard key (flow ``"ephemeral"``):

   * GA: ``POST .../realtime/client_secrets``, JSON ``{"expires_after": {"anchor": "created_at",
     "seconds": N}, "session": {"type": "realtime", "model": M, ...}}`` -> ``{"value": "ek_...",
     "expires_at": <epoch s>, "session": {...}}``;
   * preview: ``POST .../realtime/sessions`` (Azure: ``.../realtimeapi/sessions?api-version=...``),
     JSON ``{"model": M, ...}`` (the preview session's flat fields) -> ``{"client_secret": {"value",
     "expires_at"}, ...}``.

2. **offer**: ``POST`` the SDP offer, ``Content-Type: application/sdp``, with the ephemeral key as
   ``Authorization: Bearer``; or (GA flow ``"unified"``, for a server) a ``multipart/form-data`` body
   with the parts ``sdp`` (application/sdp) and ``session`` (application/json, the session object
   itself) and the standard key. The answer: 201 (any 2xx is taken), the SDP answer as the body, and
   for GA ``Location: .../calls/rtc_...`` whose last segment is the call id.

3. **hangup**: ``POST .../calls/{call_id}/hangup`` with the standard key; 404 means the call is gone
   already, which is what a hangup wants.

What can go wrong shows as `SignallingError` (a `ConnectError`): the step, the URL, the HTTP status and
the service's JSON error (``type``, ``code``, ``message``, ``param``). Nothing here ever puts a key in a
message: error bodies are redacted (`realtime_nb.protocol.redaction`) with every key the step used,
`HttpRequest`'s repr masks its credential headers, and an ephemeral key comes back as a `Secret`.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from realtime_nb.client.endpoints import WebRTCUrls
from realtime_nb.client.errors import ConnectError
from realtime_nb.client.secret import Secret
from realtime_nb.protocol import Dialect, SessionConfig
from realtime_nb.protocol.redaction import MASK, redact

Step = Literal["mint", "offer", "hangup"]

KEY_TTL_RANGE_S = (10, 7200)  # the GA client_secrets range for expires_after.seconds
_CREDENTIAL_HEADERS = frozenset({"authorization", "api-key"})
_CALL_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_ERROR_EXCERPT = 300  # characters of a non-JSON error body kept in the message
_STEP_WHAT = {"mint": "minting an ephemeral key", "offer": "sending the SDP offer", "hangup": "hanging up"}


@dataclass(frozen=True, repr=False)
class HttpRequest:
    """One HTTP request to send as is. Its repr masks credential headers (the body holds no key)."""

    step: Step
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """A header's value (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def __repr__(self) -> str:
        shown = [(k, MASK if k.lower() in _CREDENTIAL_HEADERS else v) for k, v in self.headers]
        return f"HttpRequest({self.step}: {self.method} {self.url}, headers={shown}, {len(self.body)} bytes)"

    __str__ = __repr__


@dataclass(frozen=True)
class EphemeralKey:
    """A minted client secret: `value` is a `Secret` (repr shows a mask)."""

    value: Secret
    expires_at: int | None
    """Seconds since the epoch, as the service reported it (None if it did not)."""
    session: dict[str, Any] | None = field(default=None, repr=False)
    """The session object the service attached to the key, as reported (wire form)."""


@dataclass(frozen=True)
class CallAnswer:
    """The service's answer to an offer: the SDP to set as remote description, and the call's id."""

    sdp: str = field(repr=False)
    call_id: str | None
    """From the ``Location`` header's last segment (GA); None where the service gave none (preview)."""


class SignallingError(ConnectError):
    """An HTTP step of a WebRTC call was refused or answered with something unusable.

    `status` is the HTTP status (None: no usable answer), `step` one of ``mint`` / ``offer`` /
    ``hangup``; `code`, `error_type`, `message` and `param` come from the service's JSON error body
    (redacted), `body` is a short redacted excerpt when the body was not JSON.
    """

    def __init__(
        self,
        step: Step,
        url: str,
        status: int | None,
        message: str,
        *,
        code: str | None = None,
        error_type: str | None = None,
        param: str | None = None,
        body: str | None = None,
    ) -> None:
        self.step = step
        self.code = code
        self.error_type = error_type
        self.message = message
        self.param = param
        self.body = body
        label = f"HTTP {status}" if status is not None else "no answer"
        kind = code or error_type
        where = f" (param {param})" if param else ""
        text = f"{_STEP_WHAT[step]} failed: {label}" + (f" {kind}" if kind else "") + f": {message}{where}"
        super().__init__(url, text + _hint(step, status), status, code=code)


def _hint(step: Step, status: int | None) -> str:
    if status in (401, 403):
        if step == "offer":
            return (
                " [the key was refused: an ephemeral key expires (about a minute in preview), and is "
                "valid only for its own service and dialect]"
            )
        return " [the standard key was refused]"
    if status == 404 and step != "hangup":
        return " [no such path, model or deployment on this service]"
    return ""


# --- the session a call starts with ----------------------------------------------------------------


def session_body(config: SessionConfig | None, dialect: Dialect, model: str | None) -> dict[str, Any]:
    """The session object a key (or the unified form) carries: the call's initial configuration.

    GA: ``{"type": "realtime", "model": M, ...}``; preview: ``{"model": M, ...}`` (flat). With no
    `config` only the model is sent, so the service's defaults apply, as on a WebSocket connect.
    """
    if config is not None and not isinstance(config, SessionConfig):
        raise TypeError(f"config must be a SessionConfig, got {type(config).__name__}")
    chosen = (config.model if config is not None else None) or model
    rendered = config.replace(model=None).to_wire(dialect) if config is not None else {}
    if dialect is Dialect.GA:
        out: dict[str, Any] = {"type": "realtime"}
        if chosen:
            out["model"] = chosen
        out.update((k, v) for k, v in rendered.items() if k != "type")
        return out
    return ({"model": chosen} if chosen else {}) | rendered


# --- 1. mint -----------------------------------------------------------------------------------------


def mint_request(
    urls: WebRTCUrls,
    dialect: Dialect,
    auth_headers: Mapping[str, str],
    session: Mapping[str, Any],
    *,
    ttl_s: int | None = None,
) -> HttpRequest:
    """The request that mints an ephemeral key for `session` (see the module docstring).

    `ttl_s` sets GA ``expires_after.seconds`` (10..7200; the service's default is 600); preview keys
    always expire after about a minute, so it must be None there.
    """
    if urls.mint is None:
        raise ValueError("the unified flow mints no key (the offer carries the standard key)")
    body: dict[str, Any] = {}
    if ttl_s is not None:
        if dialect is not Dialect.GA:
            raise ValueError("a preview key's lifetime is fixed by the service; ttl_s is GA only")
        low, high = KEY_TTL_RANGE_S
        if isinstance(ttl_s, bool) or not isinstance(ttl_s, int) or not low <= ttl_s <= high:
            raise ValueError(f"ttl_s must be an int of seconds in [{low}, {high}], got {ttl_s!r}")
        body["expires_after"] = {"anchor": "created_at", "seconds": ttl_s}
    if dialect is Dialect.GA:
        body["session"] = dict(session)
    else:
        body.update(session)
    headers = (
        *_credential(auth_headers),
        ("Content-Type", "application/json"),
        ("Accept", "application/json"),
    )
    return HttpRequest("mint", "POST", urls.mint, headers, json.dumps(body).encode())


def parse_mint(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    dialect: Dialect,
    *,
    url: str,
    secrets_in_use: Iterable[str] = (),
) -> EphemeralKey:
    """The minted key from the answer; `SignallingError` for a refusal or an answer without a key."""
    known = tuple(secrets_in_use)
    if not 200 <= status < 300:
        raise _refusal("mint", url, status, body, known)
    try:
        answer = json.loads(body)
    except ValueError:
        raise SignallingError(
            "mint", url, status, "the answer is not JSON", body=_excerpt(body, known)
        ) from None
    holder = (
        answer.get("client_secret") if dialect is Dialect.PREVIEW and isinstance(answer, dict) else answer
    )
    value = holder.get("value") if isinstance(holder, dict) else None
    if not isinstance(value, str) or not value.strip():
        where = "client_secret.value" if dialect is Dialect.PREVIEW else "value"
        raise SignallingError("mint", url, status, f"the answer has no key ({where} missing)")
    expires = holder.get("expires_at")
    session = (
        answer.get("session")
        if dialect is Dialect.GA
        else {k: v for k, v in answer.items() if k != "client_secret"}
    )
    return EphemeralKey(
        value=Secret(value),
        expires_at=expires if type(expires) is int else None,
        session=session if isinstance(session, dict) else None,
    )


# --- 2. offer ----------------------------------------------------------------------------------------


def offer_request(
    urls: WebRTCUrls,
    offer_sdp: str,
    *,
    key: EphemeralKey | None = None,
    auth_headers: Mapping[str, str] | None = None,
    session: Mapping[str, Any] | None = None,
    boundary: str | None = None,
) -> HttpRequest:
    """The request that sends the SDP offer.

    Flow ``"ephemeral"``: needs `key`; the body is the offer. Flow ``"unified"``: needs the standard
    key's `auth_headers` and the `session`; the body is multipart (`boundary`: fixed for tests,
    random otherwise).
    """
    if not isinstance(offer_sdp, str) or not offer_sdp.startswith("v=0"):
        raise ValueError("offer_sdp must be an SDP offer (text starting with 'v=0')")
    accept = ("Accept", "application/sdp")
    if urls.flow == "ephemeral":
        if key is None:
            raise ValueError("the ephemeral flow sends the offer with an ephemeral key: pass key=")
        headers = (
            ("Authorization", f"Bearer {key.value.reveal()}"),
            ("Content-Type", "application/sdp"),
            accept,
        )
        return HttpRequest("offer", "POST", urls.calls, headers, offer_sdp.encode())
    if auth_headers is None or session is None:
        raise ValueError("the unified flow needs the standard key's auth_headers and the session")
    boundary = boundary or f"realtime-nb-{secrets.token_hex(12)}"
    parts = (
        ("sdp", "application/sdp", offer_sdp),
        ("session", "application/json", json.dumps(dict(session))),
    )
    body = (
        b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
            f"Content-Type: {ctype}\r\n\r\n{text}\r\n".encode()
            for name, ctype, text in parts
        )
        + f"--{boundary}--\r\n".encode()
    )
    headers = (
        *_credential(auth_headers),
        ("Content-Type", f"multipart/form-data; boundary={boundary}"),
        accept,
    )
    return HttpRequest("offer", "POST", urls.calls, headers, body)


def parse_answer(
    status: int, headers: Mapping[str, str], body: bytes, *, url: str, secrets_in_use: Iterable[str] = ()
) -> CallAnswer:
    """The SDP answer and the call id; `SignallingError` for a refusal or a body that is not SDP."""
    known = tuple(secrets_in_use)
    if not 200 <= status < 300:
        raise _refusal("offer", url, status, body, known)
    text = body.decode("utf-8", "replace")
    if not text.lstrip().startswith("v=0"):
        raise SignallingError("offer", url, status, "the answer is not an SDP", body=_excerpt(body, known))
    return CallAnswer(text, call_id_from_location(_get(headers, "location")))


def call_id_from_location(location: str | None) -> str | None:
    """``/v1/realtime/calls/rtc_abc`` (or an absolute URL of it) -> ``rtc_abc``; None if absent or odd."""
    if not location:
        return None
    last = urlsplit(location.strip()).path.rstrip("/").rpartition("/")[2]
    return last if _CALL_ID_RE.match(last) else None


# --- 3. hangup ---------------------------------------------------------------------------------------


def hangup_request(url: str, auth_headers: Mapping[str, str]) -> HttpRequest:
    """``POST {calls}/{call_id}/hangup`` (`url`: `Endpoint.hangup_url` / `WebRTCUrls.hangup`) with the
    standard key, as the SDK's ``calls.hangup`` sends it."""
    headers = (*_credential(auth_headers), ("Accept", "*/*"))
    return HttpRequest("hangup", "POST", url, headers)


def parse_hangup(status: int, body: bytes, *, url: str, secrets_in_use: Iterable[str] = ()) -> bool:
    """True: hung up; False: no such call (404: already over). Anything else raises."""
    if 200 <= status < 300:
        return True
    if status == 404:
        return False
    raise _refusal("hangup", url, status, body, tuple(secrets_in_use))


# --- helpers -----------------------------------------------------------------------------------------


def _credential(auth_headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in auth_headers.items() if k.lower() in _CREDENTIAL_HEADERS)


def _get(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _excerpt(body: bytes, known: tuple[str, ...]) -> str:
    text = body[: _ERROR_EXCERPT * 4].decode("utf-8", "replace").strip()
    text = redact(text, *known)
    return text[:_ERROR_EXCERPT] + ("…" if len(text) > _ERROR_EXCERPT else "")


def _refusal(step: Step, url: str, status: int, body: bytes, known: tuple[str, ...]) -> SignallingError:
    """The service's error body (``{"error": {...}}``, or a bare error object) as a `SignallingError`."""
    try:
        answer = json.loads(body) if body else None
    except ValueError:
        answer = None
    error = answer.get("error") if isinstance(answer, dict) else None
    if not isinstance(error, dict) and isinstance(answer, dict) and "message" in answer:
        error = answer
    if not isinstance(error, dict):
        excerpt = _excerpt(body, known) if body else None
        return SignallingError(step, url, status, excerpt or "(empty body)", body=excerpt)

    def text(name: str) -> str | None:
        value = error.get(name)
        return redact(str(value), *known) if value is not None and value != "" else None

    return SignallingError(
        step,
        url,
        status,
        text("message") or "(no message)",
        code=text("code"),
        error_type=text("type"),
        param=text("param"),
    )
