"""The engine's HTTP endpoints, sans-I/O: a parsed request in, an answer (or a call action) out.

What the front door hands over is everything that is not a WebSocket upgrade (see
`realtime_nb.engine.front_door`). `HttpApi.handle` answers it at once, except where a call must be
opened or hung up: then it returns an `OpenCall` / `HangUp` action, the front door runs it on the
call registry and hands the outcome back (`opened`, `refused`, `failed`, `hung_up`) for the answer.

The endpoints are the services' (see `webrtc_flows` for the table): minting ephemeral keys, opening
calls with them (or with the standard key, GA "unified" form), hanging calls up; plain GETs keep the
answers the WebSocket server gave them before (`GET /` names the URLs; a WebSocket path refuses or
asks for an upgrade). Errors have the services' shape, ``{"error": {"type", "code", "message",
"param"}}``, and never contain a key. Requests from a page (with an ``Origin``) are served only for
trusted origins (`origins`), with the CORS headers a browser needs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers

from realtime_nb.engine.ephemeral_keys import KeyGrant, KeyProblem, KeyStore, KeyStoreFull
from realtime_nb.engine.form_data import parse_content_type
from realtime_nb.engine.handshake import (
    DEFAULT_PREVIEW_MODEL,
    HEALTH_TEXT,
    TOKEN_REFUSAL,
    check_credentials,
    screen_handshake,
)
from realtime_nb.engine.http_bodies import (
    EXPIRY_DEFAULT_S,
    EXPIRY_RANGE_S,
    Refused,
    azure_preview_version,
    first,
    json_body,
    key_lifetime,
    offer_text,
    only_keys,
    presented_key,
    unified_form,
    validated,
)
from realtime_nb.engine.origins import ORIGIN_REFUSED_CODE, OriginPolicy, origin_refused_message
from realtime_nb.engine.webrtc_filter import filter_wanted
from realtime_nb.engine.webrtc_flows import FLOWS, Flow
from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.ids import new_id

__all__ = [
    "CORS_ALLOWED_HEADERS",
    "CORS_MAX_AGE_S",
    "EXPIRY_DEFAULT_S",
    "EXPIRY_RANGE_S",
    "Answer",
    "HangUp",
    "HttpApi",
    "HttpRequest",
    "OpenCall",
    "error_answer",
]

CORS_ALLOWED_HEADERS = "Authorization, Content-Type, api-key"
CORS_MAX_AGE_S = 600
_JSON = "application/json"
_SDP = "application/sdp"
_POST_ONLY = ("POST", "OPTIONS")
_HANGUP = re.compile(r"^(?P<root>/v1/realtime/calls|/openai/v1/realtime/calls)/(?P<call_id>[^/]+)/hangup$")

Pairs = tuple[tuple[str, str], ...]  # header (name, value) pairs, in order


# --------------------------------------------------------------------------------------------------
# What goes in and out


@dataclass(frozen=True)
class HttpRequest:
    method: str  # upper case
    target: str  # path and query, as sent
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer; `close` asks the front door to close the connection after it."""

    status: int
    headers: Pairs = ()
    body: bytes = b""
    close: bool = False

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class OpenCall:
    """Open a call on the registry (`CallRegistry.open_call`) with these arguments."""

    offer_sdp: str
    dialect: Dialect
    model: str | None
    session: dict[str, Any] | None
    api_version: str | None
    flow: Flow
    headers: Pairs  # CORS headers every answer to this request carries
    webrtc_filter: bool = False  # ?webrtcfilter=on: the data channel carries a subset (webrtc_filter.py)


@dataclass(frozen=True)
class HangUp:
    call_id: str
    headers: Pairs


Action = OpenCall | HangUp


def error_answer(
    status: int,
    code: str,
    message: str,
    param: str | None = None,
    *,
    headers: Pairs = (),
    close: bool = False,
) -> Answer:
    """A JSON error in the services' shape (`invalid_request_error` below 500, else `server_error`)."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    error = {"type": kind, "code": code, "message": message, "param": param}
    return _json_answer(status, {"error": error}, headers=headers, close=close)


def _json_answer(status: int, payload: Any, *, headers: Pairs = (), close: bool = False) -> Answer:
    body = (json.dumps(payload) + "\n").encode()
    return Answer(status, (("Content-Type", _JSON), ("Cache-Control", "no-store"), *headers), body, close)


# --------------------------------------------------------------------------------------------------
# Routing


@dataclass(frozen=True)
class _Endpoint:
    kind: str  # "mint" | "call" | "hangup"
    flow: Flow | None = None
    call_id: str | None = None


def _endpoint(path: str) -> _Endpoint | None:
    for flow, paths in FLOWS.items():
        if path == paths.mint:
            return _Endpoint("mint", flow)
        if path == paths.call:
            return _Endpoint("call", flow)
    hangup = _HANGUP.match(path)
    if hangup:
        return _Endpoint("hangup", call_id=hangup["call_id"])
    return None


def _served() -> str:
    mints = ", ".join(p.mint_hint for p in FLOWS.values())
    calls = ", ".join(f"POST {p.call}" for p in FLOWS.values())
    return f"keys: {mints}; calls: {calls}; POST …/calls/{{call_id}}/hangup"


class HttpApi:
    """Routes HTTP requests of the engine's port (all but WebSocket upgrades) to answers.

    `token`: the engine's token (None: minting and the unified form accept any key, as the
    WebSocket path does). `keys`: the ephemeral key store. `origins`: who may call from a page.
    `calls_available`: whether a call registry is plugged in (else calls answer 501).
    `default_model`: what a minted GA session reports when it names no model.
    """

    def __init__(
        self,
        *,
        token: str | None,
        keys: KeyStore,
        origins: OriginPolicy,
        calls_available: bool,
        default_model: str = "gpt-realtime",
    ) -> None:
        self._token = token
        self.keys = keys
        self.origins = origins
        self.calls_available = calls_available
        self.default_model = default_model

    def __repr__(self) -> str:
        auth = "token" if self._token is not None else "open"
        return f"HttpApi(auth={auth}, keys={self.keys!r}, calls={self.calls_available})"

    def handle(self, request: HttpRequest) -> Answer | Action:
        split = urlsplit(request.target)
        path = split.path.rstrip("/") or "/"
        method = request.method.upper()
        if method in ("GET", "HEAD"):
            return self._get(request, path)
        endpoint = _endpoint(path)
        if method not in _POST_ONLY:
            if endpoint is None and path != "/":
                return _not_found(path)
            allow = "GET, HEAD" if path == "/" else ", ".join(_POST_ONLY)
            return _method_not_allowed(method, path, allow)
        # A page's request: only from trusted origins, and before anything else is looked at.
        origin = request.headers.get("Origin")
        if not self.origins.allows(origin):
            return _origin_refused(origin)
        cors = _cors_headers(origin)
        if endpoint is None:
            if path == "/":
                return _method_not_allowed(method, path, "GET, HEAD", headers=cors)
            return _not_found(path, headers=cors)
        if method == "OPTIONS":
            return _preflight(request, origin)
        query = parse_qs(split.query, keep_blank_values=True)
        try:
            if endpoint.kind == "mint":
                assert endpoint.flow is not None
                return self._mint(endpoint.flow, request, query, cors)
            if endpoint.kind == "call":
                assert endpoint.flow is not None
                return self._call(endpoint.flow, request, query, cors)
            assert endpoint.call_id is not None
            return self._hangup(endpoint.call_id, request, cors)
        except Refused as refused:
            return error_answer(*refused.answer_args, headers=(*cors, *refused.extra))

    # --- outcomes of actions -----------------------------------------------------------------------

    def opened(self, action: OpenCall, call_id: str, answer_sdp: str) -> Answer:
        """201 with the answer SDP and, on the GA flows, its call id in ``Location`` (the services'
        answers; a preview answer names no call)."""
        paths = action.flow.paths
        location = (("Location", f"{paths.calls_root}/{call_id}"),) if paths.names_call else ()
        headers = (("Content-Type", _SDP), *location, ("Cache-Control", "no-store"))
        return Answer(HTTPStatus.CREATED, (*headers, *action.headers), answer_sdp.encode())

    def refused(
        self, action: Action, status: int, code: str, message: str, param: str | None = None
    ) -> Answer:
        """The registry refused (a malformed SDP, an offer without audio, …): its status and error."""
        return error_answer(status, code, message, param, headers=action.headers)

    def failed(self, action: Action) -> Answer:
        what = "open the call" if isinstance(action, OpenCall) else "hang up the call"
        return error_answer(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            "server_error",
            f"The engine failed to {what}; its log says why.",
            headers=action.headers,
        )

    def hung_up(self, action: HangUp, found: bool) -> Answer:
        """200 with an empty body, as the services answer a hangup; 404 for no such call."""
        if not found:
            return error_answer(
                HTTPStatus.NOT_FOUND,
                "call_not_found",
                f"No live call {action.call_id!r} on this engine (it ended, or never existed).",
                "call_id",
                headers=action.headers,
            )
        return Answer(HTTPStatus.OK, action.headers, b"")

    # --- GET: what the WebSocket server answered before ---------------------------------------------

    def _get(self, request: HttpRequest, path: str) -> Answer:
        if path == "/":
            return Answer(HTTPStatus.OK, (("Content-Type", "text/plain"),), HEALTH_TEXT.encode())
        if _endpoint(path) is not None and path != FLOWS[Flow.PREVIEW_OPENAI].call:
            return _method_not_allowed(request.method, path, ", ".join(_POST_ONLY))
        refusal = screen_handshake(self._token, request.target, request.headers)
        if refusal is not None:
            return Answer(refusal.status, (("Content-Type", _JSON),), refusal.body().encode())
        message = (
            "This is a WebSocket endpoint of the realtime_nb engine: connect with a WebSocket client "
            "(this request carried no 'Upgrade: websocket').\n"
        )
        headers = (("Content-Type", "text/plain; charset=utf-8"), ("Upgrade", "websocket"))
        return Answer(HTTPStatus.UPGRADE_REQUIRED, headers, message.encode())

    # --- minting -------------------------------------------------------------------------------------

    def _mint(self, flow: Flow, request: HttpRequest, query: Mapping[str, list[str]], cors: Pairs) -> Answer:
        self._require_token(request)
        api_version = azure_preview_version(query) if flow.paths.api_version_required else None
        body = json_body(request.headers.get("Content-Type"), request.body)
        dialect = flow.dialect
        if dialect is Dialect.GA:
            only_keys(body, ("expires_after", "session"), prefix="")
            lifetime_s = key_lifetime(body.get("expires_after", {}), "expires_after", dialect)
            session = body.get("session", {"type": "realtime"})
            config = validated(session, dialect, api_version, param_prefix="session")
        else:
            session = dict(body)
            secret = session.pop("client_secret", {})
            if not isinstance(secret, Mapping):
                raise Refused(400, "invalid_type", "client_secret must be an object.", "client_secret")
            only_keys(secret, ("expires_after",), prefix="client_secret.")
            lifetime_s = key_lifetime(secret.get("expires_after", {}), "client_secret.expires_after", dialect)
            config = validated(session, dialect, api_version, param_prefix="")
        try:
            minted = self.keys.mint(flow, session, lifetime_s, api_version=api_version)
        except KeyStoreFull as full:
            raise Refused(
                HTTPStatus.TOO_MANY_REQUESTS,
                "too_many_ephemeral_keys",
                str(full),
                headers=(("Retry-After", str(full.retry_after_s)),),
            ) from None
        grant = minted.grant
        if dialect is Dialect.GA:
            model = config.model or self.default_model
            wire = {"id": new_id("sess"), "object": "realtime.session", **config.to_wire(dialect)}
            wire["model"] = model
            payload: dict[str, Any] = {"value": minted.value, "expires_at": grant.expires_at, "session": wire}
        else:
            model = config.model or DEFAULT_PREVIEW_MODEL
            payload = {
                "id": new_id("sess"),
                "object": "realtime.session",
                "model": model,
                **config.to_wire(dialect),
                "client_secret": {"value": minted.value, "expires_at": grant.expires_at},
            }
        return _json_answer(HTTPStatus.OK, payload, headers=cors)

    def _require_token(self, request: HttpRequest) -> None:
        if not check_credentials(self._token, request.target, request.headers):
            raise Refused(TOKEN_REFUSAL.status, TOKEN_REFUSAL.code, TOKEN_REFUSAL.message)

    # --- calls ---------------------------------------------------------------------------------------

    def _call(
        self, flow: Flow, request: HttpRequest, query: Mapping[str, list[str]], cors: Pairs
    ) -> Answer | OpenCall:
        if not self.calls_available:
            return _calls_unavailable(cors)
        media, _ = parse_content_type(request.headers.get("Content-Type"))
        paths = flow.paths
        if media == "multipart/form-data" and paths.unified:
            self._require_token(request)
            offer, session = unified_form(request.headers.get("Content-Type"), request.body)
            grant_version = None
        elif media == _SDP:
            grant = self._grant(flow, request)
            offer = offer_text(request.body, "the request body")
            session = grant.session_copy()
            grant_version = grant.api_version
        else:
            accepted = "application/sdp (with an ephemeral key)"
            if paths.unified:
                accepted += " or multipart/form-data with the fields sdp and session (with the standard key)"
            raise Refused(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                "unsupported_content_type",
                f"POST {paths.call} takes {accepted}; got {media or 'no Content-Type'}.",
            )
        model = first(query, "model")
        if paths.model_in_query and not model:
            what = "deployment" if flow is Flow.PREVIEW_AZURE else "model"
            raise Refused(400, "missing_model", f"POST {paths.call} needs the {what} as ?model=…", "model")
        if model is None and session is not None and isinstance(session.get("model"), str):
            model = session["model"]
        filtered = filter_wanted(first(query, "webrtcfilter"))
        if filtered is None:
            raise Refused(
                400, "invalid_value", "webrtcfilter takes 'on' or 'off' (Azure's option).", "webrtcfilter"
            )
        return OpenCall(offer, flow.dialect, model, session, grant_version, flow, cors, filtered)

    def _grant(self, flow: Flow, request: HttpRequest) -> KeyGrant:
        key = presented_key(request.headers)
        if not key:
            raise Refused(
                HTTPStatus.UNAUTHORIZED,
                "missing_api_key",
                f"Opening a call needs an ephemeral key: mint one with {flow.paths.mint_hint} and send "
                "it as 'Authorization: Bearer ek_…'.",
            )
        grant = self.keys.check(key, flow)
        if isinstance(grant, KeyProblem):
            raise Refused(HTTPStatus.UNAUTHORIZED, grant.code, grant.message)
        return grant

    # --- hangup --------------------------------------------------------------------------------------

    def _hangup(self, call_id: str, request: HttpRequest, cors: Pairs) -> Answer | HangUp:
        if not self.calls_available:
            return _calls_unavailable(cors)
        self._require_token(request)
        return HangUp(call_id, cors)


# --------------------------------------------------------------------------------------------------
# Answers


def _cors_headers(origin: str | None) -> Pairs:
    if origin is None:
        return (("Vary", "Origin"),)
    return (
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Expose-Headers", "Location"),
        ("Vary", "Origin"),
    )


def _preflight(request: HttpRequest, origin: str | None) -> Answer:
    """204 for a page's preflight (a trusted origin; checked before); `Allow` for anyone else."""
    if origin is None:
        return Answer(HTTPStatus.NO_CONTENT, (("Allow", ", ".join(_POST_ONLY)),))
    headers = [
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Allow-Methods", ", ".join(_POST_ONLY)),
        ("Access-Control-Allow-Headers", CORS_ALLOWED_HEADERS),
        ("Access-Control-Expose-Headers", "Location"),
        ("Access-Control-Max-Age", str(CORS_MAX_AGE_S)),
        ("Vary", "Origin"),
    ]
    # Chrome's Private Network Access: a trusted public page reaching this loopback engine.
    if (request.headers.get("Access-Control-Request-Private-Network") or "").lower() == "true":
        headers.append(("Access-Control-Allow-Private-Network", "true"))
    return Answer(HTTPStatus.NO_CONTENT, tuple(headers))


def _origin_refused(origin: str | None) -> Answer:
    return error_answer(HTTPStatus.FORBIDDEN, ORIGIN_REFUSED_CODE, origin_refused_message(origin))


def _calls_unavailable(cors: Pairs) -> Answer:
    return error_answer(
        HTTPStatus.NOT_IMPLEMENTED,
        "webrtc_unavailable",
        "WebRTC calls are not available on this engine: it runs without a call registry "
        "(ephemeral keys can still be minted).",
        headers=cors,
    )


def _not_found(path: str, *, headers: Pairs = ()) -> Answer:
    return error_answer(
        HTTPStatus.NOT_FOUND,
        "not_found",
        f"No endpoint at {path[:200]!r}; this engine serves {_served()} and WebSockets.",
        headers=headers,
    )


def _method_not_allowed(method: str, path: str, allow: str, *, headers: Pairs = ()) -> Answer:
    answer = error_answer(
        HTTPStatus.METHOD_NOT_ALLOWED,
        "method_not_allowed",
        f"{method[:16]} is not served at {path[:200]!r}; use {allow}.",
        headers=headers,
    )
    return Answer(answer.status, (*answer.headers, ("Allow", allow)), answer.body)
