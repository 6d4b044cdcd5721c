"""Parsing one client frame within the limits: depth and size are checked on the raw text first.

Python's `json` parser recurses once per nested array or object, so ``[[[[...`` 10 000 deep raises
`RecursionError` (or worse, near the stack's end); and a frame of a million tiny values costs
seconds and hundreds of megabytes before anything could look at it. `loads_client_event` checks
both on the text, at C speed, before parsing: counting brackets and commas is enough for every
ordinary event, and only a frame with more than `MAX_JSON_DEPTH` brackets (or `MAX_JSON_VALUES`
commas) is examined more closely, with the strings taken out so brackets inside text do not count.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from realtime_nb.protocol.limits import MAX_EVENT_ID_CHARS, MAX_FRAME_BYTES, MAX_JSON_DEPTH, MAX_JSON_VALUES

__all__ = ["WireJsonError", "json_depth", "loads_client_event", "top_level_event_id"]

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")


class WireJsonError(ValueError):
    """A frame that is not a JSON value within the limits; `code` is the error event's code and
    `event_id` the frame's top-level `event_id` when it can be read without parsing (else None)."""

    def __init__(self, code: str, message: str, event_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.event_id = event_id


_EVENT_ID = re.compile(r'"event_id"\s*:\s*"([^"\\]{1,' + str(MAX_EVENT_ID_CHARS) + '})"')


def top_level_event_id(text: str) -> str | None:
    """The `event_id` member of the frame's outermost object, read without parsing (a frame too
    deep or too large to parse is still refused naming the event the client sent); None when there
    is none, or none that is certain."""
    for _, match in zip(range(3), _EVENT_ID.finditer(text), strict=False):  # a few, not thousands
        before = _without_strings(text[: match.start()])
        if before.count("{") + before.count("[") - before.count("}") - before.count("]") == 1:
            return match.group(1)
    return None


def _without_strings(text: str) -> str:
    return _STRING.sub('""', text)


def json_depth(text: str, stop_above: int = MAX_JSON_DEPTH) -> int:
    """How deeply arrays and objects nest in JSON `text` (brackets inside strings do not count),
    exact up to `stop_above`; any deeper nesting (or that many brackets left open) returns
    ``stop_above + 1``. Never recurses: each pass removes the innermost pairs."""
    brackets = _NOT_BRACKET.sub("", _without_strings(text))
    depth = 0
    while brackets and depth <= stop_above:
        shorter = _INNERMOST.sub("", brackets)
        if len(shorter) == len(brackets):  # unbalanced or mismatched: what is left stays open
            opened = shorter.count("[") + shorter.count("{")
            return depth + opened if depth + opened <= stop_above else stop_above + 1
        brackets = shorter
        depth += 1
    return depth if not brackets else stop_above + 1


def loads_client_event(text: str, decode: Callable[..., Any] = json.loads) -> Any:
    """`json.loads(text)` for a client frame, refusing (WireJsonError) frames over the limits:
    `MAX_FRAME_BYTES`, `MAX_JSON_DEPTH`, `MAX_JSON_VALUES`, and what is not JSON at all (Python's
    extensions included: NaN, Infinity, and numbers too large for a float).

    `decode` is json.loads or a drop-in with its keyword hooks (the engine passes one that parses a
    15 MiB audio string apart, so the loop is not held for the whole frame)."""
    if not isinstance(text, str):
        raise WireJsonError("invalid_json", f"The event must be JSON text, not {type(text).__name__}.")
    if len(text) > MAX_FRAME_BYTES:
        raise WireJsonError(
            "message_too_large",
            f"The event is {len(text)} characters long; the limit is {MAX_FRAME_BYTES} bytes per message.",
        )
    if _count(text, "[") + _count(text, "{") > MAX_JSON_DEPTH and json_depth(text) > MAX_JSON_DEPTH:
        raise WireJsonError(
            "json_too_deep",
            f"The event nests arrays and objects more than {MAX_JSON_DEPTH} levels deep "
            "(the engine's limit).",
            top_level_event_id(text),
        )
    if _count(text, ",") >= MAX_JSON_VALUES and _without_strings(text).count(",") >= MAX_JSON_VALUES:
        raise WireJsonError(
            "json_too_large",
            f"The event holds more than {MAX_JSON_VALUES} values (array elements and object members; "
            "the engine's limit).",
            top_level_event_id(text),
        )
    try:
        return decode(text, parse_constant=_no_constant, parse_float=_finite_float)
    except _NotFinite as exc:
        raise WireJsonError(
            "invalid_json", f"The event is not valid JSON: {exc} is not a number JSON has."
        ) from None
    except RecursionError:  # not expected after the depth check; refused all the same
        raise WireJsonError(
            "json_too_deep", f"The event nests arrays and objects more than {MAX_JSON_DEPTH} levels deep."
        ) from None
    except ValueError as exc:  # JSONDecodeError, and an integer of more than 4300 digits
        raise WireJsonError("invalid_json", f"The event is not valid JSON: {_short(str(exc))}") from None


_COUNT_SLICE = 1 << 18


def _count(text: str, char: str) -> int:
    """``text.count(char)`` in slices: the engine parses a 15 MiB append on a worker thread, and one
    count over all of it would hold the GIL (and so the event loop) for tens of milliseconds."""
    if len(text) <= _COUNT_SLICE:
        return text.count(char)
    return sum(text.count(char, i, i + _COUNT_SLICE) for i in range(0, len(text), _COUNT_SLICE))


class _NotFinite(Exception):
    pass


def _no_constant(name: str) -> float:
    # Python's parser takes NaN, Infinity and -Infinity; JSON has none of them, and an engine that
    # took them would send them back (in a tool's schema, say) to peers whose parsers refuse them.
    raise _NotFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e999
        raise _NotFinite(text if len(text) <= 40 else text[:37] + "...")
    return value


def _short(message: str, limit: int = 200) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."
