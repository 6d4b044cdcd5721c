"""The engine's response.create is read by protocol.ResponseParams, the client's rules.

A refused option is an ``error`` event with the code, the ``param`` as the dialect spells it and the
client's ``event_id``, and leaves the session as it was and usable; what the client's
``create_response`` (``protocol.response_create``) refuses the engine refuses, with the same param.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from realtime_nb.engine.models import Models
from realtime_nb.engine.session import EngineSession
from realtime_nb.protocol import ConfigError, Dialect, response_create
from realtime_nb.protocol.catalog import check_client_event
from realtime_nb.protocol.ordering import assert_order

GA, PREVIEW = Dialect.GA, Dialect.PREVIEW
DIALECTS = [GA, PREVIEW]


@pytest.fixture(scope="module")
def models() -> Models:
    return Models.shared()


class Driver:
    """One sans-I/O EngineSession; every wire event is validated against the SDK's server union."""

    def __init__(self, models: Models, dialect: Dialect, adapters: Any) -> None:
        self.dialect = dialect
        self.now = 0.0
        self.session = EngineSession(models, dialect, now=0.0)
        self._adapter = adapters[(dialect, "server")]
        self.events: list[dict[str, Any]] = []
        self._collect()

    def _collect(self) -> list[dict[str, Any]]:
        new = self.session.events_to_send()
        for event in new:
            self._adapter.validate_python(event)
        self.events += new
        return new

    def send(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        self.now += 0.01
        self.session.receive_text(json.dumps(event), self.now)
        return self._collect()

    def run(self) -> list[dict[str, Any]]:
        self.session.run_jobs_inline(self.now)
        return self._collect()

    def user_text(self, text: str) -> None:
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        self.send({"type": "conversation.item.create", "item": item})


@pytest.fixture
def driver(models: Models, sdk_adapters: Any):
    made: list[Driver] = []

    def make(dialect: Dialect) -> Driver:
        d = Driver(models, dialect, sdk_adapters)
        made.append(d)
        return d

    yield make
    for d in made:  # refusals included, every session keeps the §0 order invariants
        assert_order(d.events, d.dialect)


def _text_only(dialect: Dialect) -> dict[str, Any]:
    return {"output_modalities": ["text"]} if dialect is GA else {"modalities": ["text"]}


# --- each refusal: the error event, nothing changed, the session goes on ------------------------------

TOOL = {"type": "function", "name": "lookup", "description": "", "parameters": {"type": "object"}}

# (dialect, response.create's `response` as sent, code, param)
REFUSED = [
    # voices are checked against the dialect's list (and custom voices exist only in GA)
    (GA, {"audio": {"output": {"voice": "nova"}}}, "invalid_value", "response.audio.output.voice"),
    (GA, {"audio": {"output": {"voice": {"id": ""}}}}, "invalid_value", "response.audio.output.voice"),
    (PREVIEW, {"voice": "marin"}, "invalid_value", "response.voice"),
    (PREVIEW, {"voice": {"id": "voice_1"}}, "invalid_type", "response.voice"),
    # temperature is preview's: GA has no such option; preview checks its range
    (GA, {"temperature": 0.8}, "unknown_parameter", "response.temperature"),
    (PREVIEW, {"temperature": 2.0}, "invalid_value", "response.temperature"),
    # each tool is checked
    (GA, {"tools": [TOOL, {"type": "function", "name": ""}]}, "invalid_value", "response.tools[1].name"),
    (PREVIEW, {"tools": [{"type": "web_search"}]}, "invalid_value", "response.tools[0].type"),
    (GA, {"tools": [{**TOOL, "strict": True}]}, "unknown_parameter", "response.tools[0].strict"),
    (PREVIEW, {"tools": {"type": "function"}}, "invalid_type", "response.tools"),
    (
        GA,
        {"tool_choice": {"type": "function", "function": {"name": "f"}}},
        "unknown_parameter",
        "response.tool_choice.function",
    ),
    # format objects are checked
    (
        GA,
        {"audio": {"output": {"format": {"type": "audio/pcm", "rate": 16000}}}},
        "invalid_value",
        "response.audio.output.format.rate",
    ),
    (
        GA,
        {"audio": {"output": {"format": {"type": "audio/pcmu", "rate": 8000}}}},
        "unknown_parameter",
        "response.audio.output.format.rate",
    ),
    (GA, {"audio": {"output": {"format": "pcm16"}}}, "invalid_type", "response.audio.output.format"),
    (PREVIEW, {"output_audio_format": {"type": "audio/pcm"}}, "invalid_type", "response.output_audio_format"),
    # metadata: type errors are invalid_type, limits invalid_value
    (GA, {"metadata": {"k": 1}}, "invalid_type", "response.metadata.k"),
    (PREVIEW, {"metadata": ["a"]}, "invalid_type", "response.metadata"),
    (PREVIEW, {"metadata": {"k": "v" * 513}}, "invalid_value", "response.metadata.k"),
    # options are named as the dialect spells them; the other dialect's spelling is unknown
    (PREVIEW, {"max_response_output_tokens": 0}, "invalid_value", "response.max_response_output_tokens"),
    (PREVIEW, {"max_output_tokens": 5}, "unknown_parameter", "response.max_output_tokens"),
    (GA, {"modalities": ["text"]}, "unknown_parameter", "response.modalities"),
    (GA, {"instructions": 5}, "invalid_type", "response.instructions"),
    (PREVIEW, {"input": [5]}, "invalid_type", "response.input"),
]


@pytest.mark.parametrize(
    ("dialect", "params", "code", "param"),
    REFUSED,
    ids=[f"{d.value}-{p}" for d, _, _, p in REFUSED],
)
def test_refused_option_is_an_error_and_changes_nothing(driver, dialect, params, code, param):
    d = driver(dialect)
    d.user_text("context")
    before = d.session.snapshot()
    out = d.send({"type": "response.create", "event_id": "client_evt_3", "response": params})
    assert [e["type"] for e in out] == ["error"], out
    err = out[0]["error"]
    assert (err["type"], err["code"], err["param"], err["event_id"]) == (
        "invalid_request_error",
        code,
        param,
        "client_evt_3",
    )
    assert param in err["message"]
    assert d.session.snapshot() == before
    # still usable: the next response.create runs to completion on the same conversation
    d.send({"type": "response.create", "response": _text_only(dialect)})
    d.run()
    done = d.events[-1]
    assert done["type"] == "response.done" and done["response"]["status"] == "completed"
    assert done["response"]["output"][0]["content"][0]["text"] == "You wrote: context."


@pytest.mark.parametrize("dialect", DIALECTS)
def test_accepted_options_reach_the_response(driver, dialect):
    d = driver(dialect)
    d.user_text("context")
    if dialect is GA:
        params = {
            "output_modalities": ["text"],
            "audio": {"output": {"voice": "marin", "format": {"type": "audio/pcma"}}},
            "max_output_tokens": 64,
            "metadata": {"run": "7"},
            "tools": [TOOL],
            "tool_choice": {"type": "function", "name": "lookup"},
        }
    else:
        params = {
            "modalities": ["text"],
            "voice": "sage",
            "output_audio_format": "g711_alaw",
            "max_response_output_tokens": 64,
            "metadata": {"run": "7"},
            "temperature": 0.7,
            "tools": [TOOL],
            "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        }
    (created, *_) = d.send({"type": "response.create", "response": params})
    assert created["type"] == "response.created"
    spec = d.session.runs.default.spec
    assert spec.output_modalities == ("text",) and spec.output_format == "g711_alaw"
    assert spec.max_output_tokens == 64 and spec.metadata == {"run": "7"}
    assert spec.tools == (TOOL,) and spec.tool_choice == {"type": "function", "name": "lookup"}
    if dialect is GA:
        assert spec.voice == "marin" and spec.temperature == d.session.config.temperature
    else:
        assert spec.voice == "sage" and spec.temperature == 0.7
    response = created["response"]
    assert response["metadata"] == {"run": "7"}
    d.run()
    assert d.events[-1]["type"] == "response.done"


def test_a_ga_custom_voice_is_used_by_its_id(driver):
    d = driver(GA)
    d.user_text("context")
    d.send({"type": "response.create", "response": {"audio": {"output": {"voice": {"id": "voice_1"}}}}})
    assert d.session.runs.default.spec.voice == "voice_1"
    d.run()
    assert d.events[-1]["type"] == "response.done"


def test_null_metadata_is_none(driver):
    d = driver(GA)
    d.user_text("context")
    (created, *_) = d.send({"type": "response.create", "response": {"metadata": None}})
    assert created["type"] == "response.created" and created["response"]["metadata"] is None
    d.run()


# --- the client and the engine agree ---------------------------------------------------------------


def _same(params: dict[str, Any]) -> dict[Dialect, dict[str, Any]]:
    """An option spelled the same on both dialects' wires."""
    return {GA: params, PREVIEW: params}


USER_ITEM = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}

# (create_response's options, the same request on each dialect's wire, engine param where the two
# differ). The wire forms are what a client that skipped the checks would send; where the client
# accepts the options, they must be exactly what it renders (the engine is fed the client's event).
AGREEMENT: list[tuple[dict[str, Any], dict[Dialect, dict[str, Any]], dict[Dialect, str]]] = [
    ({}, _same({}), {}),
    ({"instructions": "Be brief."}, _same({"instructions": "Be brief."}), {}),
    ({"instructions": 5}, _same({"instructions": 5}), {}),
    (
        {"output_modalities": ["text"]},
        {GA: {"output_modalities": ["text"]}, PREVIEW: {"modalities": ["text"]}},
        {},
    ),
    (
        {"output_modalities": ["audio"]},
        {GA: {"output_modalities": ["audio"]}, PREVIEW: {"modalities": ["text", "audio"]}},
        {},
    ),
    # The client checks the canonical list and names the option as the dialect spells it.
    (
        {"output_modalities": ["video"]},
        {GA: {"output_modalities": ["video"]}, PREVIEW: {"modalities": ["video"]}},
        {},
    ),
    ({"voice": "ash"}, {GA: {"audio": {"output": {"voice": "ash"}}}, PREVIEW: {"voice": "ash"}}, {}),
    ({"voice": "marin"}, {GA: {"audio": {"output": {"voice": "marin"}}}, PREVIEW: {"voice": "marin"}}, {}),
    ({"voice": "nova"}, {GA: {"audio": {"output": {"voice": "nova"}}}, PREVIEW: {"voice": "nova"}}, {}),
    (
        {"voice": {"id": "voice_1"}},
        {GA: {"audio": {"output": {"voice": {"id": "voice_1"}}}}, PREVIEW: {"voice": {"id": "voice_1"}}},
        {},
    ),
    (
        {"output_format": "g711_ulaw"},
        {
            GA: {"audio": {"output": {"format": {"type": "audio/pcmu"}}}},
            PREVIEW: {"output_audio_format": "g711_ulaw"},
        },
        {},
    ),
    # The client checks the format name; GA's wire carries it as the format object's `type`.
    (
        {"output_format": "wav"},
        {
            GA: {"audio": {"output": {"format": {"type": "audio/wav"}}}},
            PREVIEW: {"output_audio_format": "wav"},
        },
        {GA: "response.audio.output.format.type"},
    ),
    ({"temperature": 0.9}, _same({"temperature": 0.9}), {}),
    ({"temperature": 2.0}, _same({"temperature": 2.0}), {}),
    (
        {"max_output_tokens": "inf"},
        {GA: {"max_output_tokens": "inf"}, PREVIEW: {"max_response_output_tokens": "inf"}},
        {},
    ),
    (
        {"max_output_tokens": 0},
        {GA: {"max_output_tokens": 0}, PREVIEW: {"max_response_output_tokens": 0}},
        {},
    ),
    (
        {"max_output_tokens": "lots"},
        {GA: {"max_output_tokens": "lots"}, PREVIEW: {"max_response_output_tokens": "lots"}},
        {},
    ),
    ({"conversation": "none"}, _same({"conversation": "none"}), {}),
    ({"conversation": "other"}, _same({"conversation": "other"}), {}),
    ({"tools": [TOOL]}, _same({"tools": [TOOL]}), {}),
    (
        {"tools": [TOOL, {"type": "function", "name": ""}]},
        _same({"tools": [TOOL, {"type": "function", "name": ""}]}),
        {},
    ),
    ({"tools": [{"type": "web_search"}]}, _same({"tools": [{"type": "web_search"}]}), {}),
    ({"tools": [{**TOOL, "strict": True}]}, _same({"tools": [{**TOOL, "strict": True}]}), {}),
    ({"tools": {"type": "function"}}, _same({"tools": {"type": "function"}}), {}),
    ({"tool_choice": "required"}, _same({"tool_choice": "required"}), {}),
    (
        {"tool_choice": {"type": "function", "name": "lookup"}},
        {
            GA: {"tool_choice": {"type": "function", "name": "lookup"}},
            PREVIEW: {"tool_choice": {"type": "function", "function": {"name": "lookup"}}},
        },
        {},
    ),
    ({"tool_choice": "maybe"}, _same({"tool_choice": "maybe"}), {}),
    ({"tool_choice": {"type": "function"}}, _same({"tool_choice": {"type": "function"}}), {}),
    ({"metadata": {"k": "v"}}, _same({"metadata": {"k": "v"}}), {}),
    ({"metadata": {"k": 1}}, _same({"metadata": {"k": 1}}), {}),
    ({"metadata": ["a"]}, _same({"metadata": ["a"]}), {}),
    ({"metadata": {"k": "v" * 513}}, _same({"metadata": {"k": "v" * 513}}), {}),
    (
        {"metadata": {str(i): "v" for i in range(17)}},
        _same({"metadata": {str(i): "v" for i in range(17)}}),
        {},
    ),
    ({"input": [USER_ITEM]}, _same({"input": [USER_ITEM]}), {}),
    ({"input": "hello"}, _same({"input": "hello"}), {}),
    ({"input": [5]}, _same({"input": [5]}), {}),
]


def _client(dialect: Dialect, options: dict[str, Any]) -> tuple[dict[str, Any] | None, ConfigError | None]:
    try:
        return response_create(dialect, event_id="client_evt_9", **options), None
    except ConfigError as err:
        return None, err


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("options", "wire", "engine_param"), AGREEMENT, ids=[json.dumps(o)[:60] for o, _, _ in AGREEMENT]
)
def test_client_and_engine_agree(driver, dialect, options, wire, engine_param):
    event, refused = _client(dialect, options)
    sent = {"type": "response.create", "event_id": "client_evt_9", "response": wire[dialect]}
    if event is not None:
        assert event.get("response", {}) == wire[dialect]  # the engine gets the client's own request
        assert check_client_event(event, dialect) is None  # and its envelope needs no second check
    d = driver(dialect)
    out = d.send(sent)
    if refused is None:
        assert out[0]["type"] == "response.created", out
        d.run()
        assert d.events[-1]["type"] == "response.done"
        return
    assert [e["type"] for e in out] == ["error"], (refused.param, out)
    err = out[0]["error"]
    assert (err["code"], err["param"], err["event_id"]) == (
        refused.code,
        engine_param.get(dialect, refused.param),
        "client_evt_9",
    )
