"""`ConfigError`: a setting that cannot be used, carrying what the service's error event would."""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.fields import RESPONSE_FIELDS, SESSION_FIELDS, FieldTable
from realtime_nb.protocol.limits import quote

__all__ = ["ConfigError", "ErrorCode", "Scope"]

ErrorCode: TypeAlias = Literal[
    "invalid_value",
    "unknown_parameter",
    "missing_required_parameter",
    "invalid_type",
    "string_above_max_length",
    "array_above_max_length",
]
Scope: TypeAlias = Literal["session", "response"]
_TABLES: dict[str, FieldTable] = {"session": SESSION_FIELDS, "response": RESPONSE_FIELDS}


def show(value: Any) -> str:
    """A value as error messages quote it (`limits.quote`: a repr cut at 80 characters)."""
    return quote(value)


_MAX_PARAM_CHARS = 200


def _cut(param: str) -> str:
    return param if len(param) <= _MAX_PARAM_CHARS else param[: _MAX_PARAM_CHARS - 3] + "..."


def too_long(field: str, value: Any, limit: int, what: str = "string") -> ConfigError:
    """The error for a string (or array) over its limit, as the services word it."""
    if what == "string":
        allowed = f"string too long ({len(value)} characters); the maximum is {limit}"
        return ConfigError(field, value, allowed, code="string_above_max_length")
    allowed = f"array too long ({len(value)} {what}); the maximum is {limit}"
    return ConfigError(field, value, allowed, code="array_above_max_length")


class ConfigError(ValueError):
    """A session setting (or response option) that cannot be used, with what the service's error
    event would carry.

    `field` is the canonical path (`turn_detection.threshold`), `param` the wire path in the dialect
    at hand (`session.audio.input.turn_detection.threshold`), `allowed` says what is accepted.
    `scope` names the object the field belongs to (`session`, or `response` for response.create).
    """

    def __init__(
        self,
        field: str,
        value: Any,
        allowed: str,
        *,
        code: ErrorCode = "invalid_value",
        param: str | None = None,
        message: str | None = None,
        scope: Scope = "session",
    ) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        self.code: ErrorCode = code
        self.scope: Scope = scope
        self._explicit_param = param is not None
        # A path built from the client's own keys is cut: an absurd key does not come back whole.
        self.param = _cut(param if param is not None else _TABLES[scope].param(field, Dialect.GA))
        self._message = message
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if self._message is not None:
            return self._message
        if self.code == "missing_required_parameter":
            return f"Missing required parameter {self.param}; expected {self.allowed}."
        if self.code == "unknown_parameter":
            return f"Unknown parameter {self.param}: {self.allowed}."
        if self.code in ("string_above_max_length", "array_above_max_length"):
            return f"Invalid {self.param}: {self.allowed}."
        return f"Invalid {self.param}: {show(self.value)}; allowed: {self.allowed}."

    def __str__(self) -> str:
        return self.message

    def in_dialect(self, dialect: Dialect) -> ConfigError:
        """The same error with `param` spelled as on `dialect`'s wire (explicit params are kept)."""
        if self._explicit_param:
            return self
        return ConfigError(
            self.field,
            self.value,
            self.allowed,
            code=self.code,
            param=_TABLES[self.scope].param(self.field, dialect),
            message=self._message,
            scope=self.scope,
        )

    def at(self, param: str) -> ConfigError:
        """The same error reported at wire path `param` (a value read from elsewhere)."""
        return ConfigError(
            self.field, self.value, self.allowed, code=self.code, param=param, scope=self.scope
        )

    def rebased(self, prefix: str, param: str) -> ConfigError:
        """An error raised inside a value object, rebased onto the wire path `param` the object came
        from: field `transcription.model` under prefix `transcription` -> `param` + `.model`."""
        tail = self.field[len(prefix) :] if self.field.startswith(prefix) else "." + self.field
        return self.at(param + tail)


def unknown(key: str, value: Any, param: str, hint: str, *, scope: Scope = "session") -> ConfigError:
    return ConfigError(key, value, hint, code="unknown_parameter", param=param, scope=scope)
