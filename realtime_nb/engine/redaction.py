"""Credentials out of the engine's logs: websockets logs handshakes (headers, request targets) at DEBUG."""

from __future__ import annotations

import logging
import re
from typing import Any

_SECRET_PATTERNS = (
    re.compile(r"(?i)(authorization:\s*)\S.*"),
    re.compile(r"(?i)(api-key\s*[:=]\s*)[^&\s]+"),
    re.compile(r"(?i)(openai-insecure-api-key\.)[^,\s]+"),
)


def redact(text: str, token: str | None = None) -> str:
    """`text` with credentials replaced: auth headers, api-key headers / query values, key subprotocols."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1[redacted]", text)
    if token:
        text = text.replace(token, "[redacted]")
    return text


class RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """What websockets logs through: its DEBUG handshake lines carry headers and the request target.

    Redacts before formatting reaches any handler, whether or not the engine has a token: a client
    may well send its real OpenAI key to a local engine.
    """

    def __init__(self, logger: logging.Logger, token: str | None) -> None:
        super().__init__(logger, {})
        self._token = token

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        kwargs.setdefault("stacklevel", 2)
        self.logger.log(level, "%s", redact(text, self._token), **kwargs)
