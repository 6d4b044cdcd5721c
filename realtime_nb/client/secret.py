"""A wrapper that keeps an API key or token out of every printed, logged or saved form.

Only `reveal()` gives the value back, and only the connect path calls it (to build the handshake
headers). Everything else that might touch the object (repr, str, f-strings, %-formatting, logging,
json, pickle, copy into a saved session) sees a fixed mask or fails loudly.
"""

from __future__ import annotations

import hmac
from typing import NoReturn

from realtime_nb.protocol.redaction import MASK


class Secret:
    """An opaque credential: `repr`, `str` and `format` show a mask; `reveal()` returns the value."""

    __slots__ = ("__value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            # Name the type, never the value: a key passed by mistake as bytes must not be echoed.
            raise TypeError(f"a secret must be a str, got {type(value).__name__}")
        value = value.strip()
        if not value:
            raise ValueError("a secret must not be empty")
        self.__value = value

    def reveal(self) -> str:
        """The plain value, for the one place that must send it (the handshake headers)."""
        return self.__value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return format(MASK, spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self.__value.encode(), other.reveal().encode())

    __hash__ = None  # type: ignore[assignment]  # equal secrets must not leak through hashing tricks

    def __reduce__(self) -> NoReturn:
        # pickle / copy.deepcopy / saving a session that holds one: refuse rather than write the key.
        raise TypeError("a Secret cannot be pickled or saved; keep the key in an environment variable")

    def __bool__(self) -> bool:
        return True
