"""The one mask and the one redaction function for credentials, used by every layer.

How the Realtime API carries a credential is a protocol fact: an ``Authorization: Bearer`` or an
``api-key`` header, an ``api-key=`` query parameter, an ``openai-insecure-api-key.`` WebSocket
subprotocol (browsers), ``sk-...`` platform keys and ``ek_...`` ephemeral client secrets. So the
patterns live here, at the bottom layer, where the client (`Secret`, its handshake logging), the
engine (its handshake logging) and the timeline (problem messages and raw frames it records) can all
import them without an upward import.

`redact` is idempotent and its output never contains a secret it was given: explicit secrets are
replaced first (longest first, so a secret that contains another is masked whole), then the patterns.
Structured data (headers, JSON payloads) is masked member by member with `is_secret`, whose keys are
the same credential names the patterns look for in text.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "********"
"""What a credential is replaced with everywhere (reprs, logs, saved sessions). The same string the
`Endpoint` and `Secret` reprs have always shown, so a printed endpoint reads ``Bearer ********``."""

SECRET_KEYS: frozenset[str] = frozenset(
    {"api-key", "api_key", "apikey", "authorization", "proxy-authorization"}
)
"""Header names and JSON keys (lower case) whose value is a credential, whatever it looks like."""

# Each pattern keeps group 1 (what names the credential) and masks what follows it. A value ends at
# a quote (JSON), a line end, or -- for single-token values -- a query or list separator.
_PATTERNS = (
    # Authorization / Proxy-Authorization as a header line or a JSON key: the whole value, whatever
    # the scheme (Bearer, Basic, a bare token), up to a quote or the end of the line.
    re.compile(r"""(?i)(authorization["']?\s*[:=]\s*["']?)[^"'\r\n]+"""),
    # api-key / api_key / apikey as a header, a JSON key, a query parameter or an env assignment.
    re.compile(r"""(?i)(api[-_]?key["']?\s*[:=]\s*["']?)[^"'&\s,;]+"""),
    # The browser's way of sending a key: a WebSocket subprotocol.
    re.compile(r"""(?i)(openai-insecure-api-key\.)[^"'\s,;]+"""),
    # A bearer token wherever it appears (the scheme word is kept so the text still reads).
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=\-]+"),
    # Platform keys (sk-..., sk-proj-...) and ephemeral client secrets (ek_...); group 1 is empty.
    re.compile(r"(\b)(?:sk|ek)[-_][A-Za-z0-9_\-]{6,}"),
)


def redact(text: str, *secrets: str | None) -> str:
    """`text` with every credential replaced by `MASK`: the given `secrets` and anything that looks
    like one (see the module docstring). None and empty secrets are ignored."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(rf"\1{MASK}", text)
    return text


def is_secret(key: str, value: Any) -> bool:
    """Whether the member `key: value` of a header set or JSON object is a credential, to be masked
    whole: a `SECRET_KEYS` key with a value, a session's ``client_secret``, an ephemeral key's
    ``value`` (``ek_...``)."""
    key = key.lower()
    if key in SECRET_KEYS:
        return value is not None
    if not isinstance(value, str):
        return False
    return key == "client_secret" or (key == "value" and value.startswith("ek_"))


class RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger to hand to websockets: its DEBUG handshake lines carry every header and the request
    target (with any ``api-key=``), so each record is formatted and redacted before a handler sees it.

    Redacts whether or not `secrets` are known: a peer may well send a real key to a local engine.
    """

    def __init__(self, logger: logging.Logger, *secrets: str | None) -> None:
        super().__init__(logger, {})
        self._secrets = tuple(s for s in secrets if s)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        kwargs.setdefault("stacklevel", 2)
        self.logger.log(level, "%s", redact(text, *self._secrets), **kwargs)
