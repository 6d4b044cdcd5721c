"""The shapes of the keys a session or response accepts without modelling them.

`fields.SESSION_FIELDS` / `RESPONSE_FIELDS` list keys the SDKs send that the engine takes and
does not act on (`truncation`, `tracing`, `include`, a transcription's `languages`, ...). Accepted
is not unchecked: each is held to its shape in the SDK's types here, so `truncation: {"type": {}}`
is refused as the service would refuse it, with the key's wire path. A key the table lists and
this module does not describe is accepted as any JSON value (bounded by `limits`); a test keeps
the two in step.

Shapes are small values: `Str`, `Num`, `Int`, `Bool`, `OneOf`, `ListOf`, `Obj`, `MapOf`, `Any`,
`Nullable` and `Either`; `check_shape(shape, value, param)` raises `ConfigError` at `param`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from realtime_nb.protocol.checks import is_int, is_number
from realtime_nb.protocol.errors import ConfigError, too_long
from realtime_nb.protocol.limits import MAX_ID_CHARS, MAX_TEXT_CHARS

__all__ = ["PASSTHROUGH", "Shape", "check_passthrough", "check_shape"]


class Shape:
    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Str(Shape):
    limit: int = MAX_TEXT_CHARS

    def describe(self) -> str:
        return "a string"


@dataclass(frozen=True)
class Num(Shape):
    low: float = float("-inf")
    high: float = float("inf")

    def describe(self) -> str:
        return "a number" + (f" from {self.low:g} to {self.high:g}" if self.low > float("-inf") else "")


@dataclass(frozen=True)
class Int(Shape):
    minimum: int = 0

    def describe(self) -> str:
        return f"an integer >= {self.minimum}"


@dataclass(frozen=True)
class Bool(Shape):
    def describe(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class OneOf(Shape):
    values: tuple[str, ...]

    def describe(self) -> str:
        return "one of " + ", ".join(f"'{v}'" for v in self.values)


@dataclass(frozen=True)
class ListOf(Shape):
    item: Shape
    limit: int = 256

    def describe(self) -> str:
        return f"a list of {self.item.describe()} values"


@dataclass(frozen=True)
class Obj(Shape):
    keys: Mapping[str, Shape]
    required: frozenset[str] = field(default_factory=frozenset)

    def describe(self) -> str:
        return "an object {" + ", ".join(self.keys) + "}"


@dataclass(frozen=True)
class MapOf(Shape):
    """An object with any (id-sized) keys, each value of `value`'s shape."""

    value: Shape
    limit: int = 256

    def describe(self) -> str:
        return "an object"


@dataclass(frozen=True)
class AnyJson(Shape):
    def describe(self) -> str:
        return "any JSON value"


@dataclass(frozen=True)
class Nullable(Shape):
    inner: Shape

    def describe(self) -> str:
        return self.inner.describe() + " or null"


@dataclass(frozen=True)
class Either(Shape):
    """The first of `options` whose JSON type matches the value decides (a string or an object)."""

    options: tuple[Shape, ...]

    def describe(self) -> str:
        return " or ".join(o.describe() for o in self.options)


_JSON_KIND: dict[type, tuple[type, ...]] = {
    Str: (str,),
    OneOf: (str,),
    Num: (int, float),
    Int: (int,),
    Bool: (bool,),
    ListOf: (list,),
    Obj: (Mapping,),
    MapOf: (Mapping,),
}


def _fits(shape: Shape, value: Any) -> bool:
    kinds = _JSON_KIND.get(type(shape))
    return kinds is None or (
        isinstance(value, kinds) and (shape.__class__ is Bool or value.__class__ is not bool)
    )


def check_shape(shape: Shape, value: Any, param: str) -> None:
    """Raise ConfigError (at `param`, or the path inside it) unless `value` has `shape`."""
    bad = ConfigError(param, value, shape.describe(), code="invalid_type", param=param)
    if isinstance(shape, AnyJson):
        return
    if isinstance(shape, Nullable):
        if value is not None:
            check_shape(shape.inner, value, param)
        return
    if isinstance(shape, Either):
        for option in shape.options:
            if _fits(option, value):
                check_shape(option, value, param)
                return
        raise bad
    if not _fits(shape, value):
        raise bad
    if isinstance(shape, Str):
        if len(value) > shape.limit:
            raise too_long(param, value, shape.limit).at(param)
    elif isinstance(shape, OneOf):
        if value not in shape.values:
            raise ConfigError(param, value, shape.describe(), param=param)
    elif isinstance(shape, (Num, Int)):
        ok = is_number(value) if isinstance(shape, Num) else is_int(value)
        low = shape.low if isinstance(shape, Num) else shape.minimum
        high = shape.high if isinstance(shape, Num) else float("inf")
        if not ok:
            raise bad
        if not low <= value <= high:
            raise ConfigError(param, value, shape.describe(), param=param)
    elif isinstance(shape, ListOf):
        if len(value) > shape.limit:
            raise too_long(param, value, shape.limit, "values").at(param)
        for i, item in enumerate(value):
            check_shape(shape.item, item, f"{param}[{i}]")
    elif isinstance(shape, MapOf):
        if len(value) > shape.limit:
            raise ConfigError(param, len(value), f"at most {shape.limit} members", param=param)
        for key, item in value.items():
            if len(key) > MAX_ID_CHARS:
                raise ConfigError(param, key, f"keys of at most {MAX_ID_CHARS} characters", param=param)
            check_shape(shape.value, item, f"{param}.{key}")
    elif isinstance(shape, Obj):
        for key, item in value.items():
            inner = shape.keys.get(key)
            if inner is None:
                raise ConfigError(
                    f"{param}.{key}",
                    item,
                    f"{param.rpartition('.')[2]} takes " + ", ".join(shape.keys),
                    code="unknown_parameter",
                    param=f"{param}.{key}",
                )
            check_shape(inner, item, f"{param}.{key}")
        missing = sorted(shape.required - set(value))
        if missing:
            raise ConfigError(
                f"{param}.{missing[0]}",
                None,
                shape.keys[missing[0]].describe(),
                code="missing_required_parameter",
                param=f"{param}.{missing[0]}",
            )


_EFFORT = OneOf(("minimal", "low", "medium", "high", "xhigh"))
_INPUT_PART = Obj(
    {
        "type": Str(MAX_ID_CHARS),
        "text": Str(),
        "image_url": Str(),
        "file_id": Str(MAX_ID_CHARS),
        "file_data": Str(),
        "filename": Str(),
        "file_url": Str(),
        "detail": Str(MAX_ID_CHARS),
    },
    frozenset({"type"}),
)

# (under, key) -> shape, for every key of `FieldTable.unmodelled` (under "" = the top level).
PASSTHROUGH: Mapping[tuple[str, str], Shape] = {
    ("", "tracing"): Nullable(
        Either((OneOf(("auto",)), Obj({"workflow_name": Str(), "group_id": Str(), "metadata": AnyJson()})))
    ),
    ("", "include"): ListOf(OneOf(("item.input_audio_transcription.logprobs",))),
    ("", "truncation"): Either(
        (
            OneOf(("auto", "disabled")),
            Obj(
                {
                    "type": OneOf(("retention_ratio",)),
                    "retention_ratio": Num(0.0, 1.0),
                    "token_limits": Obj({"post_instructions": Int(0)}),
                },
                frozenset({"type", "retention_ratio"}),
            ),
        )
    ),
    ("", "prompt"): Nullable(
        Obj(
            {
                "id": Str(MAX_ID_CHARS),
                "variables": Nullable(MapOf(Either((Str(), _INPUT_PART)))),
                "version": Nullable(Str(MAX_ID_CHARS)),
            },
            frozenset({"id"}),
        )
    ),
    ("", "reasoning"): Obj({"effort": _EFFORT}),
    ("", "parallel_tool_calls"): Bool(),
    ("transcription", "languages"): ListOf(Str(MAX_ID_CHARS)),
    ("transcription", "keywords"): ListOf(Str(MAX_ID_CHARS * 4)),
    ("transcription", "delay"): _EFFORT,
    ("noise_reduction", "strength"): Num(),
}


def check_passthrough(under: str, key: str, value: Any, param: str) -> None:
    """Check an accepted, unmodelled key against its shape (any JSON value when it has none)."""
    shape = PASSTHROUGH.get((under, key))
    if shape is not None:
        check_shape(shape, value, param)
