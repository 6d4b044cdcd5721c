"""EngineSession protocol behaviour without input audio: orders, refusals, responses, items, timers.

Real models (the voice for audio replies), injected time, jobs run inline. Every event the session
emits is validated against the openai SDK server union of its dialect and the §0 order invariants.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest

from realtime_nb.engine import input_path, runs
from realtime_nb.engine.models import Models
from realtime_nb.engine.options import EngineOptions
from realtime_nb.engine.responder import Reply, ResponderContext, ToolCall
from realtime_nb.engine.session import EngineSession
from realtime_nb.engine.state import BUFFER_TABLE, RUN_TABLE, BufferState, BufferTrigger, RunPhase, RunTrigger
from realtime_nb.protocol import Dialect
from realtime_nb.protocol.ordering import assert_order, order_violations

DIALECTS = [Dialect.GA, Dialect.PREVIEW]


@pytest.fixture(scope="module")
def models() -> Models:
    return Models.shared()


class Driver:
    """Feeds one EngineSession, keeps every wire event, validates each against the SDK union."""

    def __init__(self, models: Models, dialect: Dialect, adapters: Any, **options: Any) -> None:
        self.dialect = dialect
        self.now = 0.0
        self.session = EngineSession(models, dialect, now=0.0, options=EngineOptions(**options))
        self._adapter = adapters[(dialect, "server")]
        self.events: list[dict[str, Any]] = []
        self.check_order = True
        self._collect()

    def _collect(self) -> list[dict[str, Any]]:
        new = self.session.events_to_send()
        for event in new:
            self._adapter.validate_python(event)
        self.events += new
        return new

    def send(self, type: str, **fields: Any) -> list[dict[str, Any]]:
        self.now += 0.01
        self.session.receive_text(json.dumps({"type": type, **fields}), self.now)
        return self._collect()

    def run(self) -> list[dict[str, Any]]:
        self.session.run_jobs_inline(self.now)
        return self._collect()

    def tick(self, now: float) -> list[dict[str, Any]]:
        self.now = now
        self.session.tick(now)
        return self._collect()

    def user_text(self, text: str) -> str:
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        (added, *_) = self.send("conversation.item.create", item=item)
        return added["item"]["id"]

    def of(self, type_: str) -> list[dict[str, Any]]:
        wire = {
            "conversation.item.added": "conversation.item.created",
            "response.output_audio.delta": "response.audio.delta",
            "response.output_audio_transcript.done": "response.audio_transcript.done",
            "response.output_text.delta": "response.text.delta",
            "response.output_text.done": "response.text.done",
        }
        name = wire.get(type_, type_) if self.dialect is Dialect.PREVIEW else type_
        return [e for e in self.events if e["type"] == name]


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


@pytest.fixture
def driver(models: Models, sdk_adapters: Any):
    made: list[Driver] = []

    def make(dialect: Dialect = Dialect.GA, **options: Any) -> Driver:
        d = Driver(models, dialect, sdk_adapters, **options)
        made.append(d)
        return d

    yield make
    for d in made:  # every session, whatever the test did, keeps the §0 invariants
        if d.check_order:
            assert_order(d.events, d.dialect)


# --- connect and basic responses -----------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_connect_sends_session_created_first(driver, dialect):
    d = driver(dialect)
    assert d.events[0]["type"] == "session.created"
    session = d.events[0]["session"]
    assert session["id"].startswith("sess_") and session["object"] == "realtime.session"
    if dialect is Dialect.PREVIEW:
        assert types(d.events) == ["session.created", "conversation.created"]
        assert session["turn_detection"]["type"] == "server_vad"
    else:
        assert types(d.events) == ["session.created"]
        assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_text_in_audio_out_streams_in_protocol_order(driver, dialect):
    d = driver(dialect)
    user = d.user_text("the weather is nice")
    d.send("response.create")
    d.run()
    names = types(d.events)
    audio, transcript = (
        ("response.audio", "response.audio_transcript")
        if dialect is Dialect.PREVIEW
        else ("response.output_audio", "response.output_audio_transcript")
    )
    added = "conversation.item.created" if dialect is Dialect.PREVIEW else "conversation.item.added"
    body = [n for n in names[names.index("response.created") :] if not n.endswith(".delta")]
    expected = [
        "response.created",
        "rate_limits.updated",
        "response.output_item.added",
        added,
        "response.content_part.added",
        f"{audio}.done",
        f"{transcript}.done",
        "response.content_part.done",
        "response.output_item.done",
    ]
    expected += (
        ["response.done"] if dialect is Dialect.PREVIEW else ["conversation.item.done", "response.done"]
    )
    assert body == expected
    done = d.of("response.done")[-1]["response"]
    assert done["status"] == "completed"
    assert done["output"][0]["content"][0]["transcript"] == "You wrote: the weather is nice."
    pcm = np.concatenate(
        [np.frombuffer(base64.b64decode(e["delta"]), "<i2") for e in d.of("response.output_audio.delta")]
    )
    assert pcm.size > 24000 * 0.8  # real synthesized speech, not a stub
    assert done["usage"]["output_token_details"]["audio_tokens"] == int(np.ceil(pcm.size / 24000 * 20))
    assert done["usage"]["total_tokens"] == done["usage"]["input_tokens"] + done["usage"]["output_tokens"]
    # the assistant item follows the user item
    assert d.of("conversation.item.added")[-1]["previous_item_id"] == user


@pytest.mark.parametrize("dialect", DIALECTS)
def test_text_modality_streams_text_only(driver, dialect):
    d = driver(dialect)
    d.user_text("hello")
    d.send(
        "response.create",
        response={"output_modalities": ["text"]} if dialect is Dialect.GA else {"modalities": ["text"]},
    )
    d.run()
    assert not d.of("response.output_audio.delta")
    text = "".join(e["delta"] for e in d.of("response.output_text.delta"))
    assert text == "You wrote: hello." == d.of("response.output_text.done")[0]["text"]


def test_g711_output_is_8khz_mulaw(driver):
    d = driver(Dialect.GA)
    d.user_text("one two three")
    d.send("response.create", response={"audio": {"output": {"format": {"type": "audio/pcmu"}}}})
    d.run()
    nbytes = sum(len(base64.b64decode(e["delta"])) for e in d.of("response.output_audio.delta"))
    done = d.of("response.done")[-1]["response"]
    assert done["audio"]["output"]["format"] == {"type": "audio/pcmu"}
    assert nbytes > 0.5 * 8000
    item = done["output"][0]["id"]
    d.send("conversation.item.retrieve", item_id=item)
    retrieved = base64.b64decode(d.events[-1]["item"]["content"][0]["audio"])
    assert abs(len(retrieved) - nbytes) <= 8  # 1 byte per sample at 8 kHz either way


# --- refusals: the right error and nothing changed --------------------------------------------------

BAD_REQUESTS = [
    ({"type": "input_audio_buffer.commit"}, "input_audio_buffer_commit_empty", None),
    ({"type": "conversation.item.retrieve", "item_id": "item_nope"}, "item_not_found", "item_id"),
    ({"type": "conversation.item.delete", "item_id": "item_nope"}, "item_not_found", "item_id"),
    (
        {"type": "conversation.item.truncate", "item_id": "item_nope", "content_index": 0, "audio_end_ms": 0},
        "item_not_found",
        "item_id",
    ),
    (
        {
            "type": "conversation.item.create",
            "previous_item_id": "item_nope",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]},
        },
        "item_not_found",
        "previous_item_id",
    ),
    (
        {"type": "conversation.item.create", "item": {"type": "message", "role": "robot", "content": []}},
        "invalid_value",
        "item.role",
    ),
    (
        {
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": "c9", "output": "1"},
        },
        "invalid_value",
        "item.call_id",
    ),
    (
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_audio", "transcript": "x", "audio": "AAAA"}],
            },
        },
        "invalid_value",
        "item.content[0].audio",
    ),
    ({"type": "response.cancel"}, "response_cancel_not_active", None),
    ({"type": "response.cancel", "response_id": "resp_nope"}, "response_cancel_not_active", "response_id"),
    (
        {"type": "response.create", "response": {"max_output_tokens": 0}},
        "invalid_value",
        "response.max_output_tokens",
    ),
    (
        {"type": "response.create", "response": {"conversation": "other"}},
        "invalid_value",
        "response.conversation",
    ),
    (
        {"type": "response.create", "response": {"input": [{"type": "item_reference", "id": "item_nope"}]}},
        "item_not_found",
        "response.input[0].id",
    ),
    ({"type": "input_audio_buffer.append", "audio": "not base64!"}, "invalid_value", "audio"),
    (
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\x01\x02\x03").decode()},
        "invalid_value",
        "audio",
    ),
    ({"type": "input_audio_buffer.append", "audio": "A" * (15 * 1024 * 1024 + 4)}, "invalid_value", "audio"),
    (
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 2}}},
            },
        },
        "invalid_value",
        "session.audio.input.turn_detection.threshold",
    ),
    (
        {"type": "session.update", "session": {"instructions": "x"}},
        "missing_required_parameter",
        "session.type",
    ),
    ({"type": "output_audio_buffer.clear"}, "unsupported_over_websocket", None),
    ({"type": "response.explode"}, "invalid_value", "type"),
    ({"type": "conversation.item.retrieve"}, "missing_required_parameter", "item_id"),
]


@pytest.mark.parametrize(
    ("event", "code", "param"), BAD_REQUESTS, ids=[f"{c}-{e['type']}" for e, c, _ in BAD_REQUESTS]
)
def test_refused_request_gives_error_and_changes_nothing(driver, event, code, param):
    d = driver(Dialect.GA)
    d.user_text("context")
    before = d.session.snapshot()
    out = d.send(**{**event, "event_id": "client_evt_7"})
    assert types(out) == ["error"], out
    err = out[0]["error"]
    assert (err["type"], err["code"], err["param"], err["event_id"]) == (
        "invalid_request_error",
        code,
        param,
        "client_evt_7",
    )
    assert err["message"]
    assert d.session.snapshot() == before


def test_invalid_json_and_binary_frames_are_errors(driver):
    d = driver(Dialect.GA)
    before = d.session.snapshot()
    d.session.receive_text("{not json", 1.0)
    d.session.receive_bytes(b"\x00\x01", 1.0)
    out = d._collect()
    assert [e["error"]["code"] for e in out] == ["invalid_json", "invalid_event"]
    assert "JSON text frame" in out[1]["error"]["message"]
    assert d.session.snapshot() == before


def test_second_response_in_default_conversation_is_refused(driver):
    d = driver(Dialect.GA)
    d.user_text("hi")
    d.send("response.create")
    before = d.session.snapshot()
    out = d.send("response.create", event_id="e2")
    assert out[0]["error"]["code"] == "conversation_already_has_active_response"
    assert d.session.snapshot() == before
    # an out-of-band response may run beside it
    out = d.send("response.create", response={"conversation": "none", "output_modalities": ["text"]})
    assert out[0]["type"] == "response.created"
    d.run()
    assert [e["response"]["status"] for e in d.of("response.done")] == ["completed", "completed"]


def test_voice_cannot_change_after_audio(driver):
    d = driver(Dialect.GA)
    assert (
        d.send("session.update", session={"type": "realtime", "audio": {"output": {"voice": "ash"}}})[0][
            "type"
        ]
        == "session.updated"
    )
    d.user_text("hi")
    d.send("response.create")
    d.run()
    before = d.session.snapshot()
    out = d.send("session.update", session={"type": "realtime", "audio": {"output": {"voice": "verse"}}})
    assert out[0]["error"]["code"] == "cannot_update_voice"
    assert out[0]["error"]["param"] == "session.audio.output.voice"
    assert d.session.snapshot() == before


# --- the engine's own faults -----------------------------------------------------------------------


def test_an_illegal_transition_from_a_request_is_a_server_error_and_the_session_goes_on(driver, monkeypatch):
    d = driver(Dialect.GA)
    d.send("session.update", session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
    d.send("input_audio_buffer.append", audio=base64.b64encode(bytes(24000 // 5 * 2)).decode())  # 200 ms
    # a table that forgot an edge: clearing a buffer that holds audio
    holding = {k: v for k, v in BUFFER_TABLE[BufferState.HOLDING].items() if k is not BufferTrigger.CLEAR}
    monkeypatch.setattr(input_path, "BUFFER_TABLE", {**BUFFER_TABLE, BufferState.HOLDING: holding})
    before = d.session.snapshot()
    out = d.send("input_audio_buffer.clear", event_id="evt_clear")
    assert types(out) == ["error"]
    err = out[0]["error"]
    assert (err["type"], err["code"], err["param"], err["event_id"]) == (
        "server_error",
        "illegal_state",
        None,
        "evt_clear",
    )
    assert "input buffer: 'clear' is not allowed in state 'holding'" in err["message"]
    assert d.session.snapshot() == before and not d.session.closed
    # the session keeps serving: the same buffer commits, a response runs, and the fixed table clears
    assert types(d.send("input_audio_buffer.commit"))[0] == "input_audio_buffer.committed"
    d.user_text("still there?")
    d.send("response.create", response={"output_modalities": ["text"]})
    d.run()
    assert d.of("response.done")[-1]["response"]["status"] == "completed"
    monkeypatch.undo()
    d.send("input_audio_buffer.append", audio=base64.b64encode(bytes(4800)).decode())
    assert types(d.send("input_audio_buffer.clear")) == ["input_audio_buffer.cleared"]


def test_an_illegal_transition_in_a_job_callback_is_a_server_error_and_the_session_goes_on(
    driver, monkeypatch
):
    d = driver(Dialect.GA)
    d.user_text("hello there")
    d.send("response.create")
    (respond,) = d.session.jobs_to_run()
    reply = next(iter(respond.run()))
    # a table that forgot an edge: a run that has words to say cannot start speaking
    monkeypatch.setattr(
        runs, "RUN_TABLE", {**RUN_TABLE, RunPhase.RESPONDING: {RunTrigger.END: RunPhase.DONE}}
    )
    before = d.session.snapshot()
    d.session.job_output(respond, reply, d.now)
    out = d._collect()
    assert types(out) == ["error"]
    err = out[0]["error"]
    assert (err["type"], err["code"], err["event_id"]) == ("server_error", "illegal_state", None)
    assert "response run: 'speak' is not allowed in state 'responding'" in err["message"]
    assert d.session.snapshot() == before and not d.session.closed
    d.session.job_finished(respond, d.now)
    done = d.send("response.cancel")[-1]["response"]
    assert (done["status"], done["status_details"]["reason"]) == ("cancelled", "client_cancelled")
    d.user_text("and now?")
    d.send("response.create", response={"output_modalities": ["text"]})
    d.run()
    assert d.of("response.done")[-1]["response"]["status"] == "completed"


# --- cancel, limits, failures -------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_client_cancel_flushes_done_events_and_ignores_late_jobs(driver, dialect):
    d = driver(dialect)
    d.user_text("please cancel me")
    d.send("response.create")
    jobs = d.session.jobs_to_run()
    assert [j.kind.value for j in jobs] == ["respond"]
    reply = next(iter(jobs[0].run()))
    d.session.job_output(jobs[0], reply, d.now)  # the responder answered: a synthesis job is next
    d.session.job_finished(jobs[0], d.now)
    synth = d.session.jobs_to_run()
    chunks = synth[0].run()
    d.session.job_output(synth[0], next(chunks), d.now)  # one chunk is out
    out = d.send("response.cancel")
    done = out[-1]["response"]
    assert (done["status"], done["status_details"]["reason"]) == ("cancelled", "client_cancelled")
    assert done["output"][0]["status"] == "incomplete"
    assert "response.output_item.done" in types(out) and "response.content_part.done" in types(out)
    for value in chunks:  # the rest of the synthesis arrives late: dropped
        d.session.job_output(synth[0], value, d.now)
    d.session.job_finished(synth[0], d.now)
    assert d._collect() == []
    assert d.send("response.cancel")[0]["error"]["code"] == "response_cancel_not_active"


def test_max_output_tokens_ends_incomplete(driver):
    d = driver(Dialect.GA)
    d.user_text("a rather long sentence that will not fit into a tiny budget of output tokens at all")
    d.send("response.create", response={"max_output_tokens": 12})
    d.run()
    done = d.of("response.done")[-1]["response"]
    assert (done["status"], done["status_details"]["reason"]) == ("incomplete", "max_output_tokens")
    assert done["usage"]["output_tokens"] <= 12
    assert done["output"][0]["status"] == "incomplete"


def test_text_budget_cuts_text(driver):
    d = driver(Dialect.GA)
    d.user_text("x" * 200)
    d.send("response.create", response={"max_output_tokens": 3, "output_modalities": ["text"]})
    d.run()
    text = d.of("response.output_text.done")[0]["text"]
    assert text == "You wrote: x"  # 3 tokens = 12 characters
    assert d.of("response.done")[-1]["response"]["status"] == "incomplete"


def test_failing_responder_ends_with_failed_response(driver):
    def broken(context: ResponderContext) -> str:
        raise RuntimeError("model crashed")

    d = driver(Dialect.GA, responder=broken)
    d.user_text("hi")
    d.send("response.create")
    d.run()
    done = d.of("response.done")[-1]["response"]
    assert done["status"] == "failed"
    assert "model crashed" in done["status_details"]["error"]["message"]
    assert not d.session.closed


# --- function calls, custom and async responders --------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_function_call_round_trip(driver, dialect):
    seen: list[ResponderContext] = []

    def weather(context: ResponderContext) -> Reply | ToolCall:
        seen.append(context)
        last = context.items[-1]
        if last["type"] == "function_call_output":
            return Reply(f"It is {json.loads(last['output'])['temp']} degrees.")
        return ToolCall("get_weather", {"city": "Paris"}, call_id="call_w1")

    d = driver(dialect, responder=weather)
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    session = {"type": "realtime", "tools": tools} if dialect is Dialect.GA else {"tools": tools}
    d.send("session.update", session=session)
    d.user_text("weather in Paris?")
    d.send("response.create")
    d.run()
    first = d.of("response.done")[-1]["response"]
    call = first["output"][0]
    assert (call["type"], call["name"], call["call_id"]) == ("function_call", "get_weather", "call_w1")
    args = "".join(e["delta"] for e in d.of("response.function_call_arguments.delta"))
    assert json.loads(args) == {"city": "Paris"}
    assert json.loads(d.of("response.function_call_arguments.done")[0]["arguments"]) == {"city": "Paris"}
    assert seen[0].tools[0]["name"] == "get_weather"
    d.send(
        "conversation.item.create",
        item={"type": "function_call_output", "call_id": "call_w1", "output": json.dumps({"temp": 21})},
    )
    d.send("response.create")
    d.run()
    final = d.of("response.done")[-1]["response"]
    assert final["output"][0]["content"][0]["transcript"] == "It is 21 degrees."


def test_async_responder(driver):
    async def shout(context: ResponderContext) -> str:
        return context.items[-1]["content"][0]["text"].upper()

    d = driver(Dialect.GA, responder=shout)
    d.user_text("quiet words")
    d.send("response.create", response={"output_modalities": ["text"]})
    d.run()
    assert d.of("response.output_text.done")[0]["text"] == "QUIET WORDS"


# --- out-of-band -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_out_of_band_response_stays_out_of_the_conversation(driver, dialect):
    d = driver(dialect)
    user = d.user_text("classify me")
    before = d.session.conversation.snapshot()
    params = {
        "conversation": "none",
        "metadata": {"topic": "classification"},
        "input": [{"type": "item_reference", "id": user}],
    }
    params.update({"output_modalities": ["text"]} if dialect is Dialect.GA else {"modalities": ["text"]})
    start = len(d.events)
    d.send("response.create", response=params)
    d.run()
    new = d.events[start:]
    assert not [e for e in new if e["type"].startswith("conversation.item")]
    done = new[-1]["response"]
    assert done["metadata"] == {"topic": "classification"} and done["conversation_id"] is None
    assert done["output"][0]["content"][0]["text"] == "You wrote: classify me."
    assert d.session.conversation.snapshot() == before
    with pytest.raises(AssertionError):  # the checker would notice an out-of-band item in the conversation
        bad = [
            *d.events,
            {
                "type": "conversation.item.created"
                if dialect is Dialect.PREVIEW
                else "conversation.item.added",
                "event_id": "x",
                "item": done["output"][0],
            },
        ]
        assert_order(bad, dialect)


# --- items ---------------------------------------------------------------------------------------------


def test_item_management(driver):
    d = driver(Dialect.GA)
    a = d.user_text("first")
    b = d.user_text("second")
    out = d.send(
        "conversation.item.create",
        previous_item_id="root",
        item={
            "id": "item_mine",
            "type": "message",
            "role": "system",
            "content": [{"type": "input_text", "text": "be brief"}],
        },
    )
    assert out[0]["previous_item_id"] is None and out[0]["item"]["id"] == "item_mine"
    assert [it.id for it in d.session.conversation] == ["item_mine", a, b]
    out = d.send(
        "conversation.item.create",
        previous_item_id=a,
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "between"}]},
    )
    assert out[0]["previous_item_id"] == a
    assert d.send("conversation.item.retrieve", item_id=b)[0]["item"]["content"][0]["text"] == "second"
    assert d.send("conversation.item.delete", item_id=a)[0] == {**d.events[-1], "item_id": a}
    assert a not in d.session.conversation
    dup = d.send(
        "conversation.item.create",
        item={
            "id": "item_mine",
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "x"}],
        },
    )
    assert dup[0]["error"]["code"] == "item_already_exists"


def test_truncate_assistant_audio(driver):
    d = driver(Dialect.GA, truncate_transcript="proportional")
    user = d.user_text("truncate this reply. it has two sentences.")
    d.send("response.create")
    d.run()
    item = d.of("response.done")[-1]["response"]["output"][0]["id"]
    total_ms = d.session.conversation.get(item).audio_ms(0)
    before = d.session.snapshot()
    too_far = d.send(
        "conversation.item.truncate", item_id=item, content_index=0, audio_end_ms=int(total_ms) + 500
    )
    msg = too_far[0]["error"]["message"]
    assert f"audio content of {total_ms:.0f}ms is already shorter than {int(total_ms) + 500}ms" in msg.lower()
    wrong = d.send("conversation.item.truncate", item_id=user, content_index=0, audio_end_ms=0)
    assert wrong[0]["error"]["param"] == "item_id"
    assert d.session.snapshot() == before
    out = d.send("conversation.item.truncate", item_id=item, content_index=0, audio_end_ms=900)
    assert out[0] == {**out[0], "type": "conversation.item.truncated", "item_id": item, "audio_end_ms": 900}
    stored = d.session.conversation.get(item)
    assert stored.audio_ms(0) == pytest.approx(900, abs=0.05)
    transcript = stored.content[0]["transcript"]
    assert transcript and "You wrote: truncate this reply. it has two sentences.".startswith(transcript)
    assert len(transcript) < len("You wrote: truncate this reply. it has two sentences.")
    retrieved = d.send("conversation.item.retrieve", item_id=item)[0]["item"]["content"][0]
    assert len(base64.b64decode(retrieved["audio"])) == 900 * 48


def test_truncate_drops_transcript_by_default(driver):
    d = driver(Dialect.GA)
    d.user_text("hello")
    d.send("response.create")
    d.run()
    item = d.of("response.done")[-1]["response"]["output"][0]["id"]
    d.send("conversation.item.truncate", item_id=item, content_index=0, audio_end_ms=100)
    d.send("conversation.item.retrieve", item_id=item)
    assert d.events[-1]["item"]["content"][0]["transcript"] == ""


# --- timers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_session_expiry(driver, dialect):
    d = driver(dialect, max_session_s=5.0)
    d.user_text("hi")
    d.send("response.create")
    assert not d.tick(4.9)
    out = d.tick(5.0)
    assert out[-1]["type"] == "error" and out[-1]["error"]["code"] == "session_expired"
    assert out[0]["type"] == "response.done" and out[0]["response"]["status"] == "failed"
    assert d.session.closed and d.session.close_reason == "session_expired"
    later = d.send("input_audio_buffer.clear", event_id="late")
    assert later[0]["error"]["code"] == "session_expired" and later[0]["error"]["event_id"] == "late"
    d.run()  # jobs of the expired session produce nothing
    assert d._collect() == []


def test_default_session_lengths(models, sdk_adapters):
    assert EngineOptions().session_length_s(Dialect.PREVIEW) == 1800
    assert EngineOptions().session_length_s(Dialect.GA) == 3600
    s = EngineSession(models, Dialect.PREVIEW, now=100.0)
    s.tick(100 + 1799)
    assert not s.closed
    s.tick(100 + 1800)
    assert s.closed


def test_closed_session_drops_late_job_output(driver):
    d = driver(Dialect.GA)
    d.user_text("hi")
    d.send("response.create")
    jobs = d.session.jobs_to_run()
    d.session.close(d.now)
    d.check_order = False  # the connection is gone: nothing more can be sent
    for value in jobs[0].run():
        d.session.job_output(jobs[0], value, d.now)
    d.session.job_finished(jobs[0], d.now)
    assert d._collect() == []
    assert d.session.closed


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="max_session_s"):
        EngineOptions(max_session_s=0)
    with pytest.raises(ValueError, match="truncate_transcript"):
        EngineOptions(truncate_transcript="half")  # type: ignore[arg-type]


def test_order_checker_catches_violations():
    ok = [{"type": "session.created", "event_id": "e", "session": {}}]
    assert order_violations(ok, "ga") == []
    bad = [
        *ok,
        {
            "type": "response.created",
            "event_id": "e",
            "response": {"id": "r", "status": "in_progress", "usage": None},
        },
        {
            "type": "response.output_item.added",
            "event_id": "e",
            "response_id": "r",
            "output_index": 1,
            "item": {"id": "i"},
        },
    ]
    problems = order_violations(bad, "ga")
    assert any("response.done" in p for p in problems)
    assert any("never done" in p for p in problems)
    assert any("output_index" in p for p in problems)
    assert any("rate_limits" in p for p in problems)
