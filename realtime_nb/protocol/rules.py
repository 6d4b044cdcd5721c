"""What a field allows: one small class per kind of rule, carrying the rule's data.

These only *describe* (`describe()` is the docs' wording); `checks.check` and the readers in
`session_reader` / `response_params` enforce them, dispatching on the rule's class. A new kind of
value is a new class here plus its check (or reader, and writer in `session_config`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from realtime_nb.protocol.dialect import Dialect


class Allowed:
    """A kind of rule. Subclasses carry the rule's data; `describe` is the docs' wording."""

    def describe(self) -> str:
        raise NotImplementedError


def _choices(values: tuple[Any, ...]) -> str:
    return " / ".join("null" if v is None else f"`{v}`" for v in values)


@dataclass(frozen=True)
class Number(Allowed):
    low: float
    high: float

    def describe(self) -> str:
        return f"{self.low} to {self.high}"


@dataclass(frozen=True)
class Millis(Allowed):
    """An integer number of milliseconds >= `minimum` (or null when `nullable`)."""

    minimum: int = 0
    nullable: bool = False

    def describe(self) -> str:
        return f"integer ms >= {self.minimum}" + (", or null (off)" if self.nullable else "")


@dataclass(frozen=True)
class Flag(Allowed):
    def describe(self) -> str:
        return "true / false"


@dataclass(frozen=True)
class Text(Allowed):
    nullable: bool = False

    def describe(self) -> str:
        return "a string" + (" or null" if self.nullable else "")


@dataclass(frozen=True)
class Fixed(Allowed):
    """One value only (the GA session `type`)."""

    value: str

    def describe(self) -> str:
        return f"`{self.value}`"


@dataclass(frozen=True)
class ModelName(Allowed):
    def describe(self) -> str:
        return "a model or deployment name (the URL's when unset)"


@dataclass(frozen=True)
class OneOf(Allowed):
    """One of `values` (the same in both dialects) or of `per_dialect[dialect]`."""

    values: tuple[Any, ...] = ()
    per_dialect: Mapping[Dialect, tuple[Any, ...]] | None = None

    def values_for(self, dialect: Dialect) -> tuple[Any, ...]:
        return self.values if self.per_dialect is None else self.per_dialect[dialect]

    def describe(self) -> str:
        if self.per_dialect is None:
            return _choices(self.values)
        ga, preview = self.per_dialect[Dialect.GA], self.per_dialect[Dialect.PREVIEW]
        extra = tuple(v for v in ga if v not in preview)
        return _choices(preview) + (f"; GA also {_choices(extra)}" if extra else "")


@dataclass(frozen=True)
class Format(OneOf):
    def describe(self) -> str:
        return _choices(self.values) + " (GA: a format object)"


@dataclass(frozen=True)
class NoiseReduction(OneOf):
    def describe(self) -> str:
        return _choices(self.values) + " (on the wire `{type: ...}`)"


@dataclass(frozen=True)
class Voice(OneOf):
    def describe(self) -> str:
        return super().describe() + " or a custom `{id: ...}`"


@dataclass(frozen=True)
class Language(Allowed):
    def describe(self) -> str:
        return "an ISO-639-1 code (`en`) or null"


@dataclass(frozen=True)
class TokenLimit(Allowed):
    maximum: int

    def describe(self) -> str:
        return f'1 to {self.maximum}, or `"inf"`'


@dataclass(frozen=True)
class Modalities(Allowed):
    def describe(self) -> str:
        return '`["audio"]` (with its transcript) or `["text"]`'


@dataclass(frozen=True)
class Kind(Allowed):
    """The discriminator of an object-valued field (turn_detection `type`)."""

    values: tuple[str, ...]

    def describe(self) -> str:
        return _choices(self.values)


@dataclass(frozen=True)
class TurnDetectionObject(Allowed):
    def describe(self) -> str:
        return "a server_vad or semantic_vad object, or null (off)"


@dataclass(frozen=True)
class TranscriptionObject(Allowed):
    def describe(self) -> str:
        return "a transcription object, or null (off)"


@dataclass(frozen=True)
class Tools(Allowed):
    def describe(self) -> str:
        return "a list of function tools"


@dataclass(frozen=True)
class ToolName(Allowed):
    pattern: str

    def describe(self) -> str:
        return "1-64 characters from a-z A-Z 0-9 _ -"


@dataclass(frozen=True)
class JsonSchema(Allowed):
    def describe(self) -> str:
        return "a JSON Schema object"


@dataclass(frozen=True)
class ToolChoice(Allowed):
    modes: tuple[str, ...]

    def describe(self) -> str:
        return _choices(self.modes) + " or a function `{type: function, name}`"


@dataclass(frozen=True)
class Metadata(Allowed):
    max_pairs: int
    max_key: int
    max_value: int

    def describe(self) -> str:
        return (
            f"up to {self.max_pairs} string pairs (keys <= {self.max_key}, values <= {self.max_value} chars)"
        )


@dataclass(frozen=True)
class Items(Allowed):
    def describe(self) -> str:
        return "a list of items or item references"


@dataclass(frozen=True)
class SessionType(OneOf):
    """The GA session `type`: which kind of session the connection opened (fixed from then on)."""

    def describe(self) -> str:
        return _choices(self.values) + " (fixed when the connection opens)"


@dataclass(frozen=True)
class Includes(Allowed):
    """A list of extra outputs to include, each one of `values` (or null: none)."""

    values: tuple[str, ...]

    def describe(self) -> str:
        return "a list of " + _choices(self.values) + ", or null"
