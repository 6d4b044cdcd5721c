"""The engine's handshake, sans-I/O: which dialect and model a connection asked for, and its auth.

URL forms accepted (what the OpenAI SDK 3.52.0 builds for each client; see protocol/ga.md §1):

* ``/v1/realtime?model=M``                      OpenAI; GA, or preview with ``OpenAI-Beta: realtime=v1``
* ``/openai/v1/realtime?model=DEP``             Azure GA (an ``api-version`` here is refused with 401)
* ``/openai/realtime?api-version=V&deployment=DEP``   Azure preview, V in `PREVIEW_API_VERSIONS`
* ``…&intent=transcription`` on any of the above (``/v1/realtime?intent=transcription`` needs no
  model, as the OpenAI GA SDK sends it): a transcription session (see `Route.session_type`)
* ``/v1/realtime?call_id=rtc_…`` (or ``/openai/v1/realtime?call_id=…``)   the sideband socket of a
  WebRTC call: it attaches to that call's session (any model given is ignored); `check_call` refuses
  a call id the engine does not serve
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers

from realtime_nb.engine.origins import ORIGIN_REFUSED_CODE, OriginPolicy, origin_refused_message
from realtime_nb.protocol.dialect import Dialect

PREVIEW_API_VERSIONS: tuple[str, ...] = ("2024-10-01-preview", "2025-04-01-preview")

# The preview models (openai SDK 3.52.0 `beta.realtime` session `model` literal).
_PREVIEW_MODELS = (
    "gpt-4o-realtime-preview",
    "gpt-4o-realtime-preview-2024-10-01",
    "gpt-4o-realtime-preview-2024-12-17",
    "gpt-4o-realtime-preview-2025-06-03",
    "gpt-4o-mini-realtime-preview",
    "gpt-4o-mini-realtime-preview-2024-12-17",
)
DEFAULT_PREVIEW_MODEL = _PREVIEW_MODELS[0]
INTENTS = ("transcription",)  # what ?intent= may ask for
# What a transcription connection without a model is recorded as (it reports no model).
DEFAULT_TRANSCRIPTION_MODEL = "gpt-realtime"
_BROWSER_KEY_PREFIX = "openai-insecure-api-key."
_BROWSER_BETA_SUBPROTOCOL = "openai-beta.realtime-v1"
HELP_URLS = (
    "ws://HOST:PORT/v1/realtime?model=M (OpenAI GA; preview with the header OpenAI-Beta: realtime=v1), "
    "ws://HOST:PORT/openai/v1/realtime?model=DEPLOYMENT (Azure GA), "
    "ws://HOST:PORT/openai/realtime?api-version=2025-04-01-preview&deployment=DEPLOYMENT (Azure preview)"
)
HEALTH_TEXT = f"realtime_nb engine. Connect to {HELP_URLS}\n"  # what a plain GET of / answers


@dataclass(frozen=True)
class Route:
    """What a handshake asked for: the dialect to speak and the model (or Azure deployment) name."""

    dialect: Dialect
    model: str
    azure: bool = False
    api_version: str | None = None
    call_id: str | None = None  # a sideband socket: attach to this WebRTC call's session
    intent: str | None = None  # ?intent=: "transcription" opens a transcription session

    @property
    def session_type(self) -> str:
        """The kind of session the connection opens (a `fields.SESSION_TYPES` value)."""
        return "transcription" if self.intent == "transcription" else "realtime"

    @property
    def session_model(self) -> str:
        """The model `session.created` reports.

        An Azure preview deployment name is not a model name (the preview session object types
        `model` as one of the preview models), so the engine reports the model behind it, as Azure
        does; elsewhere the name the client gave is reported back.
        """
        if self.azure and self.dialect is Dialect.PREVIEW and self.model not in _PREVIEW_MODELS:
            return DEFAULT_PREVIEW_MODEL
        return self.model


@dataclass(frozen=True)
class Refusal:
    """A handshake answered with an HTTP error instead of an upgrade."""

    status: int
    code: str
    message: str

    def body(self) -> str:
        """The body in the service's error shape, so SDK users can read it from the exception."""
        error = {"type": "invalid_request_error", "code": self.code, "message": self.message}
        return json.dumps({"error": error}) + "\n"


def _offered_subprotocols(headers: Headers | Mapping[str, str]) -> list[str]:
    values = (
        headers.get_all("Sec-WebSocket-Protocol")
        if isinstance(headers, Headers)
        else [headers.get("Sec-WebSocket-Protocol", "")]
    )
    return [p.strip() for value in values for p in value.split(",") if p.strip()]


def _first(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _wants_beta(headers: Headers | Mapping[str, str], subprotocols: Sequence[str]) -> bool:
    beta = headers.get("OpenAI-Beta") or ""
    flags = {part.strip().lower() for part in beta.split(",")}
    return "realtime=v1" in flags or _BROWSER_BETA_SUBPROTOCOL in subprotocols


def route_request(path: str, headers: Headers | Mapping[str, str]) -> Route | Refusal:
    """Decide dialect and model from a handshake's request target and headers (auth is separate).

    Unknown path -> 404; missing model / deployment or unknown api-version -> 400; an api-version on
    the Azure v1 path -> 401, as Azure answers it.
    """
    split = urlsplit(path)
    route_path = split.path.rstrip("/") or "/"
    query = parse_qs(split.query, keep_blank_values=True)
    subprotocols = _offered_subprotocols(headers)
    preview = _wants_beta(headers, subprotocols)
    intent = _first(query, "intent")
    if intent is not None and intent not in INTENTS:
        return Refusal(
            HTTPStatus.BAD_REQUEST,
            "invalid_intent",
            f"intent={intent!r} is not served; the one intent is 'transcription' (a transcription session)",
        )

    if route_path in ("/v1/realtime", "/openai/v1/realtime"):
        azure = route_path.startswith("/openai")
        if azure and "api-version" in query:
            return Refusal(
                HTTPStatus.UNAUTHORIZED,
                "invalid_api_version",
                f"api-version={_first(query, 'api-version')!r} is not accepted on {route_path} "
                "(the GA path takes none, as on Azure); drop it, or use "
                "/openai/realtime?api-version=2025-04-01-preview&deployment=… for the preview protocol",
            )
        model = (_first(query, "model") or "").strip()
        if "call_id" in query:
            call_id = (_first(query, "call_id") or "").strip()
            if not call_id:
                return Refusal(
                    HTTPStatus.BAD_REQUEST,
                    "missing_call_id",
                    f"call_id is empty: a sideband socket names its WebRTC call, {route_path}?call_id=rtc_…",
                )
            return Route(Dialect.PREVIEW if preview else Dialect.GA, model, azure=azure, call_id=call_id)
        if not model and intent is not None:  # the GA SDK opens transcription sessions without one
            model = DEFAULT_TRANSCRIPTION_MODEL
        if not model:
            what = "deployment name" if azure else "model name"
            return Refusal(
                HTTPStatus.BAD_REQUEST,
                "missing_model",
                f"{route_path} needs the {what} as a query parameter: {route_path}?model=…",
            )
        return Route(Dialect.PREVIEW if preview else Dialect.GA, model, azure=azure, intent=intent)

    if route_path == "/openai/realtime":
        version = _first(query, "api-version")
        if not version:
            return Refusal(
                HTTPStatus.BAD_REQUEST,
                "missing_api_version",
                "/openai/realtime needs ?api-version= (one of "
                + ", ".join(PREVIEW_API_VERSIONS)
                + "); for the "
                "GA protocol use /openai/v1/realtime?model=… without an api-version",
            )
        if version not in PREVIEW_API_VERSIONS:
            return Refusal(
                HTTPStatus.BAD_REQUEST,
                "unsupported_api_version",
                f"api-version {version!r} is not served on /openai/realtime; use one of "
                + ", ".join(PREVIEW_API_VERSIONS)
                + ", or the GA path /openai/v1/realtime?model=… "
                "(AsyncOpenAI(websocket_base_url='ws://HOST:PORT/openai/v1'))",
            )
        deployment = (_first(query, "deployment") or "").strip()
        if not deployment:
            return Refusal(
                HTTPStatus.BAD_REQUEST,
                "missing_deployment",
                "/openai/realtime needs the deployment name: ?api-version=…&deployment=…",
            )
        return Route(Dialect.PREVIEW, deployment, azure=True, api_version=version, intent=intent)

    return Refusal(
        HTTPStatus.NOT_FOUND,
        "not_found",
        f"no realtime endpoint at {route_path!r}; this engine serves {HELP_URLS}",
    )


TOKEN_REFUSAL = Refusal(
    HTTPStatus.UNAUTHORIZED,
    "invalid_api_key",
    "this engine needs its token: send 'Authorization: Bearer <token>', 'api-key: <token>' "
    "or ?api-key=<token>",
)


def screen_handshake(
    token: str | None,
    path: str,
    headers: Headers | Mapping[str, str],
    keys: Callable[[str, Dialect], bool] | None = None,
) -> Refusal | None:
    """The refusal a handshake (or a plain GET of a WebSocket path) gets, or None to go ahead.

    An unknown path is 404 before any auth (nothing there to protect), then the token, then the
    route's own refusals, so a client without the token learns nothing about the routes.
    ``keys(value, dialect)``: whether a presented credential is a live ephemeral key the engine
    minted for the route's dialect, which opens a session as the token does (browsers connect with
    one); a sideband socket (``?call_id=``) needs the token itself, as on the services.
    """
    route = route_request(path, headers)
    if isinstance(route, Refusal) and route.status == HTTPStatus.NOT_FOUND:
        return route
    minted = None
    if keys is not None and isinstance(route, Route) and route.call_id is None:
        minted = lambda value: keys(value, route.dialect)  # noqa: E731
    if not check_credentials(token, path, headers, minted):
        return TOKEN_REFUSAL
    return route if isinstance(route, Refusal) else None


class CallLookup(Protocol):
    def session_of(self, call_id: str) -> object | None: ...


def check_call(route: Route, calls: CallLookup | None) -> Refusal | None:
    """A sideband route naming a call this engine does not serve -> 404; anything else passes."""
    if route.call_id is None:
        return None
    if calls is None or calls.session_of(route.call_id) is None:
        return Refusal(
            HTTPStatus.NOT_FOUND,
            "call_id_not_found",  # the services' code for it
            f"no WebRTC call with call_id {route.call_id!r} on this engine (it ended, or was never opened): "
            "a sideband socket attaches to a live call",
        )
    return None


def check_credentials(
    token: str | None,
    path: str,
    headers: Headers | Mapping[str, str],
    minted: Callable[[str], bool] | None = None,
) -> bool:
    """True when no token is configured, or the request presents it in any form a client may use.

    Accepted: ``Authorization: Bearer T`` (OpenAI SDK, Entra style), ``api-key: T`` (Azure SDK), the
    ``api-key`` query parameter and the ``openai-insecure-api-key.T`` subprotocol (browsers); in the
    same places, a credential ``minted`` accepts (an ephemeral key of this engine).
    """
    if token is None:
        return True
    expected = token.encode()
    presented: list[str] = []
    auth = headers.get("Authorization") or ""
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer":
        presented.append(value.strip())
    if headers.get("api-key"):
        presented.append(headers.get("api-key", "").strip())
    presented.extend(parse_qs(urlsplit(path).query, keep_blank_values=True).get("api-key", []))
    presented.extend(
        p[len(_BROWSER_KEY_PREFIX) :]
        for p in _offered_subprotocols(headers)
        if p.startswith(_BROWSER_KEY_PREFIX)
    )
    if minted is not None and any(minted(p) for p in presented if p):
        return True  # a key the engine minted (looked up by digest: no timing to compare)
    # compare_digest on every candidate: timing does not reveal which form or how much matched.
    return any([hmac.compare_digest(p.encode(), expected) for p in presented])


def check_origin(origins: OriginPolicy, headers: Headers | Mapping[str, str]) -> Refusal | None:
    """403 for a handshake from a page the engine does not trust (see `origins`); None to go ahead.

    Browsers send ``Origin`` with every WebSocket handshake and apply no CORS to it, so without this
    any site open in the user's browser could drive an engine on 127.0.0.1. Programs send none and
    pass. A request with several ``Origin`` headers is no browser's and is refused.
    """
    values = headers.get_all("Origin") if isinstance(headers, Headers) else [headers.get("Origin")]
    present = [v for v in values if v is not None]
    if len(present) > 1:
        return Refusal(HTTPStatus.FORBIDDEN, ORIGIN_REFUSED_CODE, origin_refused_message(", ".join(present)))
    origin = present[0] if present else None
    if origins.allows(origin):
        return None
    return Refusal(HTTPStatus.FORBIDDEN, ORIGIN_REFUSED_CODE, origin_refused_message(origin))
