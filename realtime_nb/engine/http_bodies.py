"""Reading the bodies and credentials of the engine's HTTP requests, sans-I/O.

Each reader returns the checked value or raises `Refused` with the services' error code, message and
`param`; `realtime_nb.engine.http_api` turns that into the JSON error answer. Split from the routing
so each module stays about one thing: what a request may carry here, what the endpoints do there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from websockets.datastructures import Headers

from realtime_nb.engine import api_versions
from realtime_nb.engine.form_data import FormError, parse_content_type, parse_form_data
from realtime_nb.engine.handshake import PREVIEW_API_VERSIONS
from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.errors import ConfigError
from realtime_nb.protocol.session_config import SessionConfig, apply_session_update

EXPIRY_RANGE_S = (10, 7200)  # the services' bounds for expires_after.seconds
EXPIRY_DEFAULT_S = {Dialect.GA: 600, Dialect.PREVIEW: 60}  # GA: documented; preview: "a minute"
_JSON = "application/json"
_UNIFIED_FIELDS = ("sdp", "session")
Pairs = tuple[tuple[str, str], ...]  # header (name, value) pairs, in order


class Refused(Exception):
    """An error answer raised from deep inside a handler; `HttpApi.handle` turns it into the answer."""

    def __init__(
        self, status: int, code: str, message: str, param: str | None = None, *, headers: Pairs = ()
    ) -> None:
        super().__init__(message)
        self.answer_args = (status, code, message, param)
        self.extra = headers


def first(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return (values[0].strip() or None) if values else None


def presented_key(headers: Headers) -> str | None:
    scheme, _, value = (headers.get("Authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return (headers.get("api-key") or "").strip() or None


def azure_preview_version(query: Mapping[str, list[str]]) -> str:
    version = first(query, "api-version")
    allowed = ", ".join(PREVIEW_API_VERSIONS)
    if not version:
        raise Refused(400, "missing_api_version", f"This endpoint needs ?api-version= (one of {allowed}).")
    if version not in PREVIEW_API_VERSIONS:
        raise Refused(
            400,
            "unsupported_api_version",
            f"api-version {version!r} is not served here; use one of {allowed}, or the GA flow "
            "(POST /openai/v1/realtime/client_secrets, no api-version).",
        )
    return version


def json_body(content_type: str | None, body: bytes) -> dict[str, Any]:
    media, _ = parse_content_type(content_type)
    if media not in ("", _JSON):
        raise Refused(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_type",
            f"The body must be JSON (Content-Type: application/json); got {media}.",
        )
    if not body.strip():
        return {}
    try:
        parsed = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Refused(400, "invalid_json", f"The body is not valid JSON: {exc}.") from None
    if not isinstance(parsed, dict):
        raise Refused(400, "invalid_type", f"The body must be a JSON object, not {type(parsed).__name__}.")
    return parsed


def only_keys(body: Mapping[str, Any], known: tuple[str, ...], *, prefix: str) -> None:
    for key in body:
        if key not in known:
            raise Refused(
                400,
                "unknown_parameter",
                f"Unknown parameter: '{prefix}{key}'. The parameters are "
                + ", ".join(prefix + k for k in known)
                + ".",
                prefix + key,
            )


def key_lifetime(expires_after: Any, param: str, dialect: Dialect) -> int:
    """Seconds from now the key lives: ``expires_after.seconds`` (10..7200) from ``created_at``."""
    if not isinstance(expires_after, Mapping):
        raise Refused(400, "invalid_type", f"{param} must be an object.", param)
    only_keys(expires_after, ("anchor", "seconds"), prefix=param + ".")
    anchor = expires_after.get("anchor", "created_at")
    if anchor != "created_at":
        message = f"Invalid {param}.anchor: {anchor!r}; allowed: 'created_at'."
        raise Refused(400, "invalid_value", message, param + ".anchor")
    seconds = expires_after.get("seconds", EXPIRY_DEFAULT_S[dialect])
    low, high = EXPIRY_RANGE_S
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not low <= seconds <= high:
        raise Refused(
            400,
            "invalid_value",
            f"Invalid {param}.seconds: {seconds!r}; allowed: an integer from {low} to {high}.",
            param + ".seconds",
        )
    return seconds


def validated(
    session: Any, dialect: Dialect, api_version: str | None, *, param_prefix: str
) -> SessionConfig:
    """The session a key (or a unified call) carries, checked as a session.update would be."""
    try:
        config = apply_session_update(SessionConfig(), session, dialect)
        config.to_wire(dialect)  # also checks what the dialect can express
        api_versions.check_config(api_version, config)
    except ConfigError as exc:
        err = exc.in_dialect(dialect)
        param = err.param
        if not param_prefix and param and param.startswith("session."):
            param = param[len("session.") :]  # the preview mint body *is* the session
        elif not param_prefix and param == "session":
            param = None
        raise Refused(400, err.code, err.message, param) from None
    return config


def offer_text(data: bytes, what: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "invalid_sdp", f"The SDP offer ({what}) is not UTF-8 text.", "sdp") from None
    if not text.strip():
        raise Refused(400, "missing_sdp", f"The SDP offer ({what}) is empty.", "sdp")
    return text


def unified_form(content_type: str | None, body: bytes) -> tuple[str, dict[str, Any] | None]:
    try:
        fields = parse_form_data(content_type or "", body)
    except FormError as exc:
        message = f"The multipart/form-data body is malformed: {exc}."
        raise Refused(400, "invalid_multipart", message) from None
    for name in fields:
        if name not in _UNIFIED_FIELDS:
            message = f"Unknown form field {name!r}; the fields are sdp and session."
            raise Refused(400, "unknown_parameter", message, name)
    if "sdp" not in fields:
        raise Refused(
            400, "missing_required_parameter", "Missing required form field 'sdp' (the SDP offer).", "sdp"
        )
    offer = offer_text(fields["sdp"].data, "the form field 'sdp'")
    if "session" not in fields:
        return offer, None
    try:
        session = json.loads(fields["session"].data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        message = f"The form field 'session' is not valid JSON: {exc}."
        raise Refused(400, "invalid_json", message, "session") from None
    validated(session, Dialect.GA, None, param_prefix="session")
    return offer, session
