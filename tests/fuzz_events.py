"""Hypothesis strategies of client events, valid, near-valid and hostile, built from the protocol's
own tables, and the driver that feeds them to a sans-I/O EngineSession and checks what comes back.

Used by tests/unit/test_engine_fuzz.py (a short seeded run) and benchmarks/bench_fuzz.py (counts
per 10 000 events). Nothing here knows an event or a session field by hand that the tables know:

* valid `session.update` / `response.create` values are drawn per row of `SESSION_FIELDS` /
  `RESPONSE_FIELDS` from the row's rule (its range, its choices, its dialect's vocabulary), built
  into a `SessionConfig` / `ResponseParams` and rendered on the dialect's wire, so every field lands
  at its row's path;
* the envelope of every client event type comes from `CLIENT_EVENTS` (its fields and JSON types);
* near-valid events are valid ones with one value somewhere inside replaced by a wrong type or
  shape, an out-of-range number, an oversized string, a deep nest, or an unknown key;
* hostile frames are anything: random JSON values, deep nesting, huge strings, text that is not
  JSON, numbers Python cannot hold.

Ids the client refers to (`item_id`, `previous_item_id`, `response_id`) are drawn as references
(`"@item:3"`) that the driver resolves against the items the session has announced, so deletes,
truncates and retrieves reach real items too.
"""

from __future__ import annotations

import base64
import functools
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from realtime_nb.engine.models import Models, ModelUnavailableError
from realtime_nb.engine.session import EngineSession
from realtime_nb.protocol import CLIENT_EVENTS, Dialect
from realtime_nb.protocol.fields import (
    RESPONSE_FIELDS,
    SESSION_FIELDS,
    TRANSCRIPTION_MODELS,
    VOICES,
    Field,
)
from realtime_nb.protocol.limits import MAX_EVENT_ID_CHARS, MAX_JSON_DEPTH, MAX_TEXT_CHARS
from realtime_nb.protocol.response_params import ResponseParams
from realtime_nb.protocol.rules import (
    Flag,
    Format,
    Kind,
    Language,
    Millis,
    Modalities,
    ModelName,
    NoiseReduction,
    Number,
    OneOf,
    Text,
    TokenLimit,
    ToolChoice,
    Tools,
    TranscriptionObject,
    TurnDetectionObject,
    Voice,
)
from realtime_nb.protocol.session_config import SessionConfig
from realtime_nb.protocol.shapes import item_to_preview
from realtime_nb.protocol.values import FunctionTool, SemanticVad, ServerVad, Transcription

__all__ = [
    "FuzzDriver",
    "FuzzModels",
    "Verdict",
    "any_event",
    "hostile_frame",
    "near_valid_event",
    "valid_event",
]


class FuzzModels(Models):
    """The real VAD, turn and noise-reduction models, without the two slow ones: speech is the
    documented placeholder tone, and transcription fails as an unavailable model does (the
    protocol paths of both, the `.failed` event included, are the same as with the real models)."""

    def voice(self) -> Any:
        raise ModelUnavailableError("speech synthesis is left out while fuzzing")

    def transcriber(self) -> Any:
        raise ModelUnavailableError("transcription is left out while fuzzing")


# --- values drawn from a row's rule ------------------------------------------------------------------

_SHORT_TEXT = st.text(max_size=24)
_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789_-", min_size=1, max_size=12)


def _millis(rule: Millis) -> st.SearchStrategy[Any]:
    values = st.integers(rule.minimum, rule.minimum + 3000)
    return st.none() | values if rule.nullable else values


def _plain(row: Field, dialect: Dialect) -> st.SearchStrategy[Any]:
    """A canonical value for a plain row (numbers, flags, texts, choices), from its rule."""
    rule = row.allowed
    if isinstance(rule, Number):
        return st.floats(rule.low, rule.high, allow_nan=False)
    if isinstance(rule, Millis):
        return _millis(rule)
    if isinstance(rule, Flag):
        return st.booleans()
    if isinstance(rule, (Text, ModelName)):
        return _SHORT_TEXT
    if isinstance(rule, Language):
        return st.sampled_from([None, "en", "fr", "de"])
    if isinstance(rule, OneOf):  # Format and NoiseReduction included
        return st.sampled_from(rule.values_for(dialect))
    if isinstance(rule, Kind):
        return st.sampled_from(rule.values)
    if isinstance(rule, TokenLimit):
        return st.integers(1, rule.maximum) | st.just("inf")
    if isinstance(rule, Modalities):
        return st.sampled_from([("audio",), ("text",)])
    raise TypeError(f"no strategy for {row.name} ({type(rule).__name__})")


def _children(kind: str, dialect: Dialect) -> dict[str, st.SearchStrategy[Any]]:
    rows = SESSION_FIELDS.children("turn_detection", kind)[1:]
    return {row.key: _plain(row, dialect) for row in rows if SESSION_FIELDS.path(row.name, dialect)}


@functools.cache
def _turn_detection(dialect: Dialect) -> st.SearchStrategy[Any]:
    server = st.fixed_dictionaries({}, optional=_children("server_vad", dialect)).map(
        lambda kw: ServerVad(**kw)
    )
    semantic = st.fixed_dictionaries({}, optional=_children("semantic_vad", dialect)).map(
        lambda kw: SemanticVad(**kw)
    )
    return st.none() | server | semantic


@functools.cache
def _transcription(dialect: Dialect) -> st.SearchStrategy[Any]:
    fields = {
        "model": st.sampled_from(TRANSCRIPTION_MODELS[dialect]),
        "language": _plain(SESSION_FIELDS.row("transcription.language"), dialect),
        "prompt": st.none() | _SHORT_TEXT,
    }
    return st.none() | st.fixed_dictionaries({}, optional=fields).map(lambda kw: Transcription(**kw))


_TOOLS = st.lists(
    st.builds(FunctionTool, name=_NAME, description=_SHORT_TEXT), max_size=3, unique_by=lambda t: t.name
)


def _value(row: Field, dialect: Dialect) -> st.SearchStrategy[Any]:
    """A canonical value of a top-level row, valid in `dialect`."""
    rule = row.allowed
    if isinstance(rule, Voice):
        return st.sampled_from(VOICES[dialect])
    if isinstance(rule, TurnDetectionObject):
        return _turn_detection(dialect)
    if isinstance(rule, TranscriptionObject):
        return _transcription(dialect)
    if isinstance(rule, Tools):
        return _TOOLS.map(tuple)
    if isinstance(rule, ToolChoice):
        return st.sampled_from(rule.modes)  # a function choice must name a tool of the same update
    if isinstance(rule, (Format, NoiseReduction)):
        return st.sampled_from(rule.values)
    return _plain(row, dialect)


def _rows(table: Any, dialect: Dialect, skip: tuple[type, ...] = ()) -> list[Field]:
    return [
        row
        for row in table.top_level()
        if table.path(row.name, dialect) is not None
        and row.name not in ("type", "model")
        and not isinstance(row.allowed, skip)
    ]


@functools.cache
def _session_values(dialect: Dialect) -> st.SearchStrategy[dict[str, Any]]:
    rows = _rows(SESSION_FIELDS, dialect)
    return st.fixed_dictionaries({}, optional={row.name: _value(row, dialect) for row in rows})


@st.composite
def session_object(draw: Any, dialect: Dialect) -> dict[str, Any]:
    """A `session` of `dialect` setting a random subset of the fields to valid values."""
    wire = SessionConfig(**draw(_session_values(dialect))).to_wire(dialect)
    keys = draw(st.sets(st.sampled_from(sorted(wire))))
    if dialect is Dialect.GA:
        keys.add("type")
    return {key: wire[key] for key in wire if key in keys}


@functools.cache
def _item(dialect: Dialect) -> st.SearchStrategy[dict[str, Any]]:
    user = st.fixed_dictionaries(
        {
            "type": st.just("message"),
            "role": st.sampled_from(["user", "system"]),
            "content": st.lists(
                st.fixed_dictionaries({"type": st.just("input_text"), "text": _SHORT_TEXT}),
                min_size=1,
                max_size=2,
            ),
        }
    )
    assistant = st.fixed_dictionaries(
        {
            "type": st.just("message"),
            "role": st.just("assistant"),
            "content": st.lists(
                st.fixed_dictionaries({"type": st.just("output_text"), "text": _SHORT_TEXT}),
                min_size=1,
                max_size=2,
            ),
        }
    )
    call = st.fixed_dictionaries(
        {"type": st.just("function_call"), "name": _NAME, "arguments": st.just("{}")},
        optional={"call_id": st.just("call_fuzz")},
    )
    output = st.fixed_dictionaries(
        {"type": st.just("function_call_output"), "call_id": st.just("call_fuzz"), "output": _SHORT_TEXT}
    )
    items = (user | assistant | call | output).flatmap(
        lambda item: st.fixed_dictionaries({}, optional={"id": _NAME.map(lambda s: "item_" + s)}).map(
            lambda extra: {**item, **extra}
        )
    )
    return items.map(item_to_preview) if dialect is Dialect.PREVIEW else items


@functools.cache
def _response_values(dialect: Dialect) -> st.SearchStrategy[dict[str, Any]]:
    strategies: dict[str, st.SearchStrategy[Any]] = {}
    for row in _rows(RESPONSE_FIELDS, dialect):
        if row.name == "metadata":
            strategies[row.name] = st.dictionaries(_NAME, _SHORT_TEXT, max_size=3)
        elif row.name == "input":
            ref = st.builds(lambda i: {"type": "item_reference", "id": f"@item:{i}"}, st.integers(0, 4))
            strategies[row.name] = st.lists(ref | _item(Dialect.GA), max_size=3).map(tuple)
        else:
            strategies[row.name] = _value(row, dialect)
    return st.fixed_dictionaries({}, optional=strategies)


def response_object(dialect: Dialect) -> st.SearchStrategy[dict[str, Any]]:
    """A `response` of `response.create` in `dialect`, from RESPONSE_FIELDS' rules."""
    return _response_values(dialect).map(lambda values: ResponseParams(**values).to_wire(dialect))


def _audio() -> st.SearchStrategy[str]:
    samples = st.integers(1, 12).map(lambda n: bytes(range(n * 20)) * 4)  # even byte counts up to ~2 KB
    return samples.map(lambda b: base64.b64encode(b).decode())


_REF = st.integers(0, 4)


@functools.cache
def _body(event_type: str, dialect: Dialect) -> st.SearchStrategy[dict[str, Any]]:
    """The fields of a valid event of `event_type` beyond `type` / `event_id`, as the catalogue
    lists them."""
    spec = CLIENT_EVENTS[dialect][event_type]
    fields = spec.fields - {"type", "event_id"}
    known: dict[str, st.SearchStrategy[Any]] = {
        "session": session_object(dialect),
        "response": response_object(dialect),
        "item": _item(dialect),
        "audio": _audio(),
        "item_id": _REF.map(lambda i: f"@item:{i}"),
        "previous_item_id": _REF.map(lambda i: f"@item:{i}") | st.just("root"),
        "response_id": st.just("@response"),
        "content_index": st.integers(0, 1),
        "audio_end_ms": st.integers(0, 1500),
    }
    missing = fields - set(known)
    assert not missing, f"no strategy for {event_type} fields {missing}"  # a new field: add one here
    required = {k: known[k] for k in fields if k in spec.required}
    optional = {k: known[k] for k in fields if k in spec.optional}
    return st.fixed_dictionaries(required, optional=optional)


@functools.cache
def valid_event(dialect: Dialect, rich: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """A well-formed client event of any type of `dialect` (the state may still refuse it);
    `rich`: the types whose bodies hold objects (session, response, item) three times as often."""
    types = sorted(CLIENT_EVENTS[dialect])
    if rich:
        types += [
            t for t in types if CLIENT_EVENTS[dialect][t].field_types.keys() & {"session", "response", "item"}
        ] * 2
    return st.sampled_from(types).flatmap(
        lambda t: st.tuples(_body(t, dialect), st.none() | _NAME.map(lambda s: "evt_" + s)).map(
            lambda pair: {"type": t, **pair[0], **({"event_id": pair[1]} if pair[1] else {})}
        )
    )


# --- near-valid: one value replaced -------------------------------------------------------------------

_HUGE = "x" * (MAX_TEXT_CHARS + 1)
_DEEP = json.loads("[" * (MAX_JSON_DEPTH + 2) + "]" * (MAX_JSON_DEPTH + 2))
WRONG_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63,
    1.5,
    -1e308,
    1e308,
    "",
    "x",
    "\x00\U0001f600",
    "\ud800",
    [],
    [None],
    [{}],
    {},
    {"type": {}},
    {"type": []},
    {"type": None},
    ["audio", "text", "audio"],
    _HUGE,
    _DEEP,
]


# Containers where names belong: the values that made `x in table` raise TypeError (issue 12).
_CONFUSING = st.sampled_from([{}, [], [{}], {"type": {}}, None])


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            out += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            out += _paths(inner, (*prefix, i))
    return out


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value.get(head), rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


@st.composite
def near_valid_event(draw: Any, dialect: Dialect) -> dict[str, Any]:
    """A valid event with one change: a value swapped for a wrong one, a key dropped, or an
    unknown key added, anywhere inside it."""
    event = draw(valid_event(dialect, rich=True))
    paths = [p for p in _paths(event) if p and p != ("type",)] or [("event_id",)]
    path = draw(st.sampled_from(paths))
    how = draw(st.sampled_from(["replace", "replace", "replace", "drop", "unknown"]))
    if how == "replace" or len(path) == 0:
        return _replace(
            event, path, draw(_CONFUSING | st.sampled_from(WRONG_VALUES) | _SHORT_TEXT | st.integers())
        )
    parent_path, key = path[:-1], path[-1]
    parent = event
    for step in parent_path:
        parent = parent[step]
    if how == "drop" and isinstance(parent, dict):
        return _replace(event, parent_path, {k: v for k, v in parent.items() if k != key})
    if isinstance(parent, dict):
        return _replace(event, parent_path, {**parent, draw(_NAME.map(lambda s: "zz_" + s)): 1})
    return _replace(event, path, draw(st.sampled_from(WRONG_VALUES)))


# --- hostile frames ---------------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=16),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def hostile_frame(draw: Any, dialect: Dialect) -> str:
    """A text frame no well-behaved client sends."""
    types = sorted(CLIENT_EVENTS[dialect])
    kind = draw(st.sampled_from(["typed_json", "json", "deep", "deep_inside", "huge", "text", "numbers"]))
    if kind == "typed_json":  # a real type with random members
        members = draw(st.dictionaries(st.text(max_size=12), _JSON, max_size=5))
        return json.dumps({**members, "type": draw(st.sampled_from(types))})
    if kind == "json":
        return json.dumps(draw(_JSON))
    if kind == "deep":
        n = draw(st.integers(MAX_JSON_DEPTH - 2, 20_000))
        return draw(st.sampled_from(["[" * n + "]" * n, '{"a":' * n + "0" + "}" * n, "[" * n]))
    if kind == "deep_inside":
        n = draw(st.integers(MAX_JSON_DEPTH - 2, 5000))
        key = draw(st.sampled_from(["session", "response", "item", "audio", "event_id"]))
        return (
            json.dumps({"type": draw(st.sampled_from(types))})[:-1] + f', "{key}": ' + "[" * n + "]" * n + "}"
        )
    if kind == "huge":
        where = draw(st.sampled_from(["type", "event_id", "key", "item_id"]))
        big = "y" * draw(st.sampled_from([MAX_EVENT_ID_CHARS + 1, 70_000, 2**20]))
        event = {"type": draw(st.sampled_from(types))}
        if where == "key":
            event[big] = 1
        else:
            event[where] = big
        return json.dumps(event)
    if kind == "numbers":
        return draw(
            st.sampled_from(
                [
                    '{"type": "conversation.item.truncate", "item_id": "i", "content_index": 0, '
                    '"audio_end_ms": ' + "9" * 5000 + "}",
                    '{"type": "response.create", "response": {"temperature": NaN}}',
                    '{"type": "response.create", "response": {"max_output_tokens": Infinity}}',
                    '{"type": "session.update", "session": {"type": "realtime", "audio": {"output": '
                    '{"speed": 1e999}}}}',
                    '{"type": "input_audio_buffer.append", "audio": "\\ud800"}',
                    '{"type": "input_audio_buffer.commit", "type": "input_audio_buffer.clear"}',
                ]
            )
        )
    return draw(st.text(max_size=40))


@functools.cache
def any_event(dialect: Dialect) -> st.SearchStrategy[Any]:
    """Valid (dict), near-valid (dict) or hostile (str) in roughly equal parts."""
    return st.one_of(valid_event(dialect), near_valid_event(dialect), hostile_frame(dialect))


# --- the driver --------------------------------------------------------------------------------------------


@dataclass
class Verdict:
    """Counts over a run: accepted, rejected by code, and the failures of the properties."""

    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    escaped: list[str] = field(default_factory=list)  # exceptions out of receive_text, or server_errors
    broken: list[str] = field(default_factory=list)  # malformed errors, state changed by a refusal

    @property
    def events(self) -> int:
        return self.accepted + sum(self.rejected.values())


class FuzzDriver:
    """One EngineSession fed events one by one; each outcome is checked and counted in `verdict`.

    `validate(event)` (optional) checks each emitted server event (the SDK's union in the tests).
    """

    def __init__(
        self,
        models: Models,
        dialect: Dialect,
        verdict: Verdict,
        validate: Callable[[dict], Any] | None = None,
    ) -> None:
        self.dialect = dialect
        self.verdict = verdict
        self.validate = validate
        self.session = EngineSession(models, dialect, now=0.0)
        self.now = 0.0
        self.item_ids: list[str] = []
        self.response_ids: list[str] = []
        self._take()

    def _take(self) -> list[dict[str, Any]]:
        out = self.session.events_to_send()
        for event in out:
            if self.validate is not None:
                self.validate(event)
            item = event.get("item")
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                self.item_ids.append(item["id"])
            response = event.get("response")
            if event["type"] == "response.created" and isinstance(response, dict):
                self.response_ids.append(response["id"])
        return out

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith("@item:"):
            i = int(value.split(":")[1])
            return self.item_ids[-1 - i % len(self.item_ids)] if self.item_ids else "item_none"
        if value == "@response":
            return self.response_ids[-1] if self.response_ids else "resp_none"
        if isinstance(value, dict):
            return {k: self._resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._resolve(v) for v in value]
        return value

    def feed(self, event: dict[str, Any] | str) -> None:
        """Send one event (dict: resolved and serialised; str: sent as is) and check the outcome."""
        text = event if isinstance(event, str) else json.dumps(self._resolve(event))
        sent_id = event.get("event_id") if isinstance(event, dict) else None
        sent_id = json.loads(json.dumps(sent_id))  # as the engine reads it (surrogate pairs join)
        self.now += 0.05
        self.session.tick(self.now)  # timers fire here, so a refusal can be compared with its before
        self.session.run_jobs_inline(self.now)
        self._take()
        before = self.session.snapshot()
        try:
            self.session.receive_text(text, self.now)
        except Exception as exc:  # the property under test: nothing escapes
            self.verdict.escaped.append(f"{type(exc).__name__}: {exc} <- {text[:200]}")
            return
        out = self._take()
        errors = [e for e in out if e["type"] == "error"]
        if not errors:
            self.verdict.accepted += 1
        for error_event in errors:
            self._check_error(error_event["error"], sent_id, text)
        if len(out) == 1 and errors and self.session.snapshot() != before:
            self.verdict.broken.append(f"state changed by a refused event: {text[:200]}")
        self.session.run_jobs_inline(self.now)
        self._take()

    def _check_error(self, error: dict[str, Any], sent_id: Any, text: str) -> None:
        v = self.verdict
        if error.get("type") == "server_error":
            v.escaped.append(f"server_error {error.get('message')} <- {text[:200]}")
        missing = {"type", "code", "message", "param", "event_id"} - set(error)
        if missing or not isinstance(error.get("code"), str) or not error.get("message"):
            v.broken.append(f"error without {sorted(missing) or 'code/message'}: {error}")
        if len(error.get("message") or "") > 600 or len(error.get("param") or "") > 300:
            v.broken.append(f"error quoting too much ({len(error['message'])} chars): {text[:120]}")
        if (
            isinstance(sent_id, str)
            and len(sent_id) <= MAX_EVENT_ID_CHARS
            and error.get("event_id")
            not in (
                sent_id,
                None,
            )
        ):
            v.broken.append(f"error names another event: {error.get('event_id')} for {sent_id}")
        v.rejected[str(error.get("code"))] += 1

    def still_works(self) -> bool:
        """A valid event after everything: the buffer clears (or the session ended on its own)."""
        if self.session.closed:
            return True
        self.now += 0.05
        self.session.receive_text('{"type": "input_audio_buffer.clear", "event_id": "evt_after"}', self.now)
        return any(e["type"] == "input_audio_buffer.cleared" for e in self._take())
