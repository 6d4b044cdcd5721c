"""Value checks: each raises `ConfigError` naming the field, the value and what is allowed.

`check` enforces a field row's `Allowed` rule for the plain kinds (numbers, milliseconds, flags,
text, choices, token limits, modalities); object-valued fields are checked by their value objects.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

from realtime_nb.protocol.dialect import Dialect
from realtime_nb.protocol.errors import ConfigError, show, too_long
from realtime_nb.protocol.fields import ISO_639_1, Field
from realtime_nb.protocol.limits import MAX_TEXT_CHARS
from realtime_nb.protocol.rules import (
    Flag,
    Language,
    Millis,
    Modalities,
    ModelName,
    Number,
    OneOf,
    Text,
    TokenLimit,
)

__all__ = [
    "check",
    "check_bool",
    "check_choice",
    "check_max_tokens",
    "check_modalities",
    "check_ms",
    "check_number",
    "check_str",
    "is_int",
    "is_number",
]


def is_int(value: Any) -> bool:
    """A JSON integer (``True`` is not one, though Python says it is an int)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)


def check_number(name: str, value: Any, low: float, high: float) -> None:
    allowed = f"a number from {low} to {high}"
    if not is_number(value):
        raise ConfigError(name, value, allowed, code="invalid_type")
    if not low <= value <= high:
        raise ConfigError(name, value, allowed)


def check_ms(name: str, value: Any, *, minimum: int = 0) -> None:
    allowed = f"an integer number of milliseconds >= {minimum}"
    if not is_int(value):
        raise ConfigError(name, value, allowed, code="invalid_type")
    if value < minimum:
        raise ConfigError(name, value, allowed)


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(name, value, "true or false", code="invalid_type")


def check_str(name: str, value: Any, *, nullable: bool = False, limit: int = MAX_TEXT_CHARS) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str):
        raise ConfigError(name, value, "a string" + (" or null" if nullable else ""), code="invalid_type")
    if len(value) > limit:
        raise too_long(name, value, limit)


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices or (value is not None and not isinstance(value, str)):
        raise ConfigError(name, value, "one of " + ", ".join(show(c) for c in choices))


def check_max_tokens(name: str, value: Any, maximum: int) -> None:
    if value == "inf" and isinstance(value, str):
        return
    allowed = f'an integer from 1 to {maximum}, or "inf"'
    if not is_int(value):
        raise ConfigError(name, value, allowed, code="invalid_type")
    if not 1 <= value <= maximum:
        raise ConfigError(name, value, allowed)


def check_modalities(name: str, value: Any) -> tuple[str, ...]:
    allowed = '["audio"] (audio with its transcript) or ["text"]'
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(name, value, allowed, code="invalid_type")
    modalities = tuple(value)
    if modalities not in (("audio",), ("text",)):
        raise ConfigError(name, list(value), allowed)
    return modalities


def _check_language(name: str, value: Any) -> None:
    check_str(name, value, nullable=True)
    if value is not None and value not in ISO_639_1:
        raise ConfigError(name, value, "a lowercase ISO-639-1 code such as 'en'")


def _check_number_rule(rule: Number, name: str, value: Any) -> None:
    check_number(name, value, rule.low, rule.high)


def _check_ms_rule(rule: Millis, name: str, value: Any) -> None:
    if not (value is None and rule.nullable):
        check_ms(name, value, minimum=rule.minimum)


# Rule kind -> check(rule, name, value), returning the normalised value or None (= unchanged).
_CHECKS: dict[type, Callable[[Any, str, Any], Any]] = {
    Number: _check_number_rule,
    Millis: _check_ms_rule,
    Flag: lambda rule, name, value: check_bool(name, value),
    Language: lambda rule, name, value: _check_language(name, value),
    Text: lambda rule, name, value: check_str(name, value, nullable=rule.nullable),
    ModelName: lambda rule, name, value: check_str(name, value),
    OneOf: lambda rule, name, value: check_choice(name, value, rule.values_for(Dialect.GA)),
    TokenLimit: lambda rule, name, value: check_max_tokens(name, value, rule.maximum),
    Modalities: lambda rule, name, value: check_modalities(name, value),
}


@functools.cache
def _check_for(kind: type) -> Callable[[Any, str, Any], Any]:
    for cls in kind.__mro__:  # Format, NoiseReduction, Voice are OneOf rules
        if cls in _CHECKS:
            return _CHECKS[cls]
    raise TypeError(f"{kind.__name__} values are checked by their value object")


def check(row: Field, value: Any, name: str | None = None) -> Any:
    """`value` checked against `row`'s rule (canonical GA vocabulary) and normalised (modalities
    become a tuple); `name` overrides the field name errors carry."""
    out = _check_for(type(row.allowed))(row.allowed, name or row.name, value)
    return value if out is None else out
