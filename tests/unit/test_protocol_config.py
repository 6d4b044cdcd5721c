"""SessionConfig: validation, rendering in both dialects, partial-update semantics, builders."""

from __future__ import annotations

from typing import Any

import pytest

from realtime_nb.protocol import (
    AUDIO_RATES,
    EAGERNESS_VALUES,
    NOISE_REDUCTION_VALUES,
    SERVER_VAD_RANGES,
    VOICES,
    ConfigError,
    CustomVoice,
    Dialect,
    FunctionChoice,
    ProtocolIssue,
    SemanticVad,
    ServerVad,
    SessionConfig,
    Transcription,
    apply_session_update,
    response_create,
    session_update,
)

RICH = SessionConfig(
    model="gpt-realtime",
    output_modalities=("text",),
    instructions="Be brief.",
    voice="sage",
    speed=1.2,
    input_format="g711_ulaw",
    output_format="g711_alaw",
    noise_reduction="far_field",
    transcription=Transcription(model="gpt-4o-transcribe", language="fr", prompt="jargon"),
    turn_detection=ServerVad(threshold=0.7, prefix_padding_ms=200, silence_duration_ms=900),
    tools=({"type": "function", "name": "lookup", "description": "Find", "parameters": {"type": "object"}},),
    tool_choice={"type": "function", "name": "lookup"},
    temperature=1.1,
    max_output_tokens=300,
)


def test_defaults_are_the_documented_ones() -> None:
    config = SessionConfig()
    vad = config.turn_detection
    assert isinstance(vad, ServerVad)
    assert (vad.threshold, vad.prefix_padding_ms, vad.silence_duration_ms) == (0.5, 300, 500)
    assert vad.idle_timeout_ms is None and vad.create_response and vad.interrupt_response
    assert SemanticVad().eagerness == "auto"
    assert config.output_modalities == ("audio",) and config.voice == "alloy"
    assert config.max_output_tokens == "inf" and config.temperature == 0.8
    assert AUDIO_RATES == {"pcm16": 24000, "g711_ulaw": 8000, "g711_alaw": 8000}


def test_widget_helpers() -> None:
    assert set(EAGERNESS_VALUES) == {"auto", "low", "medium", "high"}
    assert NOISE_REDUCTION_VALUES == (None, "near_field", "far_field")
    assert VOICES[Dialect.GA][-2:] == ("marin", "cedar") and "marin" not in VOICES[Dialect.PREVIEW]
    low, high, step = SERVER_VAD_RANGES["threshold"]
    assert (low, high) == (0.0, 1.0) and 0 < step < 1
    for name, (low, high, step) in SERVER_VAD_RANGES.items():
        ServerVad(**{name: type(step)(low)})  # the slider ends are valid values
        ServerVad(**{name: type(step)(high)})


@pytest.mark.parametrize("dialect", list(Dialect))
@pytest.mark.parametrize(
    "config",
    [
        SessionConfig(),
        RICH,
        SessionConfig(turn_detection=SemanticVad(eagerness="high", interrupt_response=False)),
        SessionConfig(turn_detection=None, transcription=Transcription(), noise_reduction="near_field"),
    ],
)
def test_to_wire_from_wire_round_trip(config: SessionConfig, dialect: Dialect) -> None:
    wire = config.to_wire(dialect)
    if dialect is Dialect.GA:  # GA has no temperature: reading a GA session gives the default
        config = config.replace(temperature=SessionConfig().temperature)
    assert SessionConfig.from_wire(wire, dialect) == config


def test_ga_wire_shape() -> None:
    wire = RICH.to_wire(Dialect.GA)
    assert wire["type"] == "realtime" and wire["output_modalities"] == ["text"]
    assert wire["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert wire["audio"]["output"] == {"format": {"type": "audio/pcma"}, "voice": "sage", "speed": 1.2}
    assert wire["audio"]["input"]["turn_detection"] == {
        "type": "server_vad",
        "threshold": 0.7,
        "prefix_padding_ms": 200,
        "silence_duration_ms": 900,
        "idle_timeout_ms": None,
        "create_response": True,
        "interrupt_response": True,
    }
    assert wire["tool_choice"] == {"type": "function", "name": "lookup"}
    assert wire["max_output_tokens"] == 300 and "temperature" not in wire


def test_preview_wire_shape() -> None:
    wire = RICH.to_wire(Dialect.PREVIEW)
    assert wire["modalities"] == ["text"] and wire["temperature"] == 1.1
    assert (wire["input_audio_format"], wire["output_audio_format"]) == ("g711_ulaw", "g711_alaw")
    assert wire["input_audio_noise_reduction"] == {"type": "far_field"}
    assert wire["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert wire["max_response_output_tokens"] == 300
    assert "idle_timeout_ms" not in wire["turn_detection"] and "type" not in wire and "audio" not in wire
    assert SessionConfig().to_wire(Dialect.PREVIEW)["modalities"] == ["text", "audio"]


def test_temperature_survives_a_preview_round_trip() -> None:
    config = SessionConfig(temperature=0.65)
    assert SessionConfig.from_wire(config.to_wire(Dialect.PREVIEW), Dialect.PREVIEW).temperature == 0.65


def test_custom_voice_is_ga_only() -> None:
    config = SessionConfig(voice={"id": "voice_123"})
    assert config.voice == CustomVoice("voice_123")
    assert config.to_wire(Dialect.GA)["audio"]["output"]["voice"] == {"id": "voice_123"}
    with pytest.raises(ConfigError, match="only in GA") as err:
        config.to_wire(Dialect.PREVIEW)
    assert err.value.param == "session.voice"


def test_from_wire_reads_what_the_service_reports_and_ignores_server_keys() -> None:
    reported = {
        "id": "sess_1",
        "object": "realtime.session",
        "expires_at": 1,
        "model": "gpt-4o-realtime-preview",
        "modalities": ["text", "audio"],
        "voice": "alloy",
        "client_secret": None,
        "include": None,
        "turn_detection": {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 200,
            "create_response": True,
            "interrupt_response": True,
        },
        "some_future_key": {"x": 1},
    }
    config = SessionConfig.from_wire(reported, Dialect.PREVIEW)
    assert isinstance(config.turn_detection, ServerVad) and config.turn_detection.silence_duration_ms == 200
    assert config.model == "gpt-4o-realtime-preview"


def test_from_wire_tolerates_newer_nested_fields_that_updates_refuse() -> None:
    reported = {
        "type": "realtime",
        "audio": {
            "input": {
                "turn_detection": {"type": "semantic_vad", "eagerness": "high", "future_knob": 3},
                "noise_reduction": {"type": "far_field", "future": True},
            }
        },
    }
    config = SessionConfig.from_wire(reported, Dialect.GA)
    assert config.turn_detection == SemanticVad(eagerness="high") and config.noise_reduction == "far_field"
    err = _refused(SessionConfig(), reported, Dialect.GA)
    assert (err.code, err.param) == ("unknown_parameter", "session.audio.input.turn_detection.future_knob")


def test_config_error_becomes_a_protocol_issue() -> None:
    err = _refused(SessionConfig(), {"modalities": ["audio"]}, Dialect.PREVIEW)
    issue = ProtocolIssue.from_config_error(err, "evt_9")
    assert issue.error_object() == {
        "type": "invalid_request_error",
        "code": "invalid_value",
        "message": str(err),
        "param": "session.modalities",
        "event_id": "evt_9",
    }


# --- apply_session_update ------------------------------------------------------------------------


def test_missing_keys_keep_their_value() -> None:
    updated = apply_session_update(RICH, {"type": "realtime", "instructions": "New."}, Dialect.GA)
    assert updated == RICH.replace(instructions="New.")


def test_empty_string_clears_instructions_and_null_switches_features_off() -> None:
    ga = {
        "type": "realtime",
        "instructions": "",
        "audio": {"input": {"turn_detection": None, "noise_reduction": None, "transcription": None}},
    }
    updated = apply_session_update(RICH, ga, Dialect.GA)
    assert updated.instructions == ""
    assert (updated.turn_detection, updated.noise_reduction, updated.transcription) == (None, None, None)
    preview = {"turn_detection": None, "input_audio_noise_reduction": None, "input_audio_transcription": None}
    updated = apply_session_update(RICH, preview, Dialect.PREVIEW)
    assert (updated.turn_detection, updated.noise_reduction, updated.transcription) == (None, None, None)
    assert updated.instructions == RICH.instructions


def test_turn_detection_object_is_taken_whole() -> None:
    """A partial turn_detection object resets the fields it leaves out to the service defaults."""
    update = {"turn_detection": {"type": "server_vad", "threshold": 0.8}}
    updated = apply_session_update(RICH, update, Dialect.PREVIEW)
    assert updated.turn_detection == ServerVad(threshold=0.8)  # silence back to 500, padding to 300


def test_switching_vad_kind() -> None:
    ga = {
        "type": "realtime",
        "audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "low"}}},
    }
    assert apply_session_update(RICH, ga, Dialect.GA).turn_detection == SemanticVad(eagerness="low")


def test_preview_update_fields() -> None:
    update = {
        "modalities": ["text", "audio"],
        "voice": "ash",
        "speed": 0.9,
        "output_audio_format": "pcm16",
        "temperature": 0.6,
        "max_response_output_tokens": "inf",
        "tools": [],
        "tool_choice": "none",
        "input_audio_transcription": {"model": "whisper-1"},
    }
    updated = apply_session_update(RICH, update, Dialect.PREVIEW)
    assert updated.output_modalities == ("audio",) and updated.voice == "ash" and updated.speed == 0.9
    assert updated.temperature == 0.6 and updated.max_output_tokens == "inf"
    assert updated.tools == () and updated.tool_choice == "none"
    assert updated.transcription == Transcription()


def test_ga_accepts_sdk_keys_it_does_not_model() -> None:
    update = {
        "type": "realtime",
        "tracing": None,
        "truncation": "auto",
        "include": [],
        "audio": {
            "input": {
                "noise_reduction": {"type": "near_field", "strength": 0.5},
                "transcription": {"model": "whisper-1", "keywords": ["x"]},
            }
        },
    }
    updated = apply_session_update(SessionConfig(), update, Dialect.GA)
    assert updated.noise_reduction == "near_field" and updated.transcription == Transcription()


def _refused(config: SessionConfig, session: Any, dialect: Dialect) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        apply_session_update(config, session, dialect)
    return err.value


@pytest.mark.parametrize(
    ("session", "dialect", "code", "param"),
    [
        ({"instructions": "x"}, Dialect.GA, "missing_required_parameter", "session.type"),
        ({"type": "transcription"}, Dialect.GA, "invalid_value", "session.type"),
        ({"type": "realtime", "modalities": ["text"]}, Dialect.GA, "unknown_parameter", "session.modalities"),
        ({"type": "realtime", "temperature": 0.8}, Dialect.GA, "unknown_parameter", "session.temperature"),
        ({"type": "realtime", "voice": "ash"}, Dialect.GA, "unknown_parameter", "session.voice"),
        ({"type": "realtime", "bogus": 1}, Dialect.GA, "unknown_parameter", "session.bogus"),
        ({"type": "realtime"}, Dialect.PREVIEW, "unknown_parameter", "session.type"),
        ({"output_modalities": ["audio"]}, Dialect.PREVIEW, "unknown_parameter", "session.output_modalities"),
        ({"instructions": None}, Dialect.PREVIEW, "invalid_type", "session.instructions"),
        ({"instructions": 5}, Dialect.PREVIEW, "invalid_type", "session.instructions"),
        ({"modalities": ["audio"]}, Dialect.PREVIEW, "invalid_value", "session.modalities"),
        (
            {"type": "realtime", "output_modalities": ["text", "audio"]},
            Dialect.GA,
            "invalid_value",
            "session.output_modalities",
        ),
        ({"voice": "marin"}, Dialect.PREVIEW, "invalid_value", "session.voice"),
        ({"voice": "bob"}, Dialect.PREVIEW, "invalid_value", "session.voice"),
        (
            {"type": "realtime", "audio": {"output": {"voice": "bob"}}},
            Dialect.GA,
            "invalid_value",
            "session.audio.output.voice",
        ),
        ({"input_audio_format": "mp3"}, Dialect.PREVIEW, "invalid_value", "session.input_audio_format"),
        (
            {"type": "realtime", "audio": {"input": {"format": "pcm16"}}},
            Dialect.GA,
            "invalid_type",
            "session.audio.input.format",
        ),
        (
            {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}},
            Dialect.GA,
            "invalid_value",
            "session.audio.input.format.rate",
        ),
        (
            {"input_audio_noise_reduction": {"type": "studio"}},
            Dialect.PREVIEW,
            "invalid_value",
            "session.input_audio_noise_reduction.type",
        ),
        (
            {"input_audio_noise_reduction": True},
            Dialect.PREVIEW,
            "invalid_type",
            "session.input_audio_noise_reduction",
        ),
        (
            {"input_audio_transcription": {"model": "whisper-2"}},
            Dialect.PREVIEW,
            "invalid_value",
            "session.input_audio_transcription.model",
        ),
        (
            {"input_audio_transcription": {"model": "gpt-4o-transcribe-diarize"}},
            Dialect.PREVIEW,
            "invalid_value",
            "session.input_audio_transcription.model",
        ),
        (
            {"input_audio_transcription": {"language": "english"}},
            Dialect.PREVIEW,
            "invalid_value",
            "session.input_audio_transcription.language",
        ),
        (
            {"turn_detection": {"type": "server_vad", "threshold": 1.5}},
            Dialect.PREVIEW,
            "invalid_value",
            "session.turn_detection.threshold",
        ),
        (
            {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 5000}},
            Dialect.PREVIEW,
            "unknown_parameter",
            "session.turn_detection.idle_timeout_ms",
        ),
        (
            {"type": "realtime", "audio": {"input": {"turn_detection": {"threshold": 0.5}}}},
            Dialect.GA,
            "missing_required_parameter",
            "session.audio.input.turn_detection.type",
        ),
        (
            {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "vad"}}}},
            Dialect.GA,
            "invalid_value",
            "session.audio.input.turn_detection.type",
        ),
        (
            {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "semantic_vad", "silence_duration_ms": 300}}},
            },
            Dialect.GA,
            "unknown_parameter",
            "session.audio.input.turn_detection.silence_duration_ms",
        ),
        (
            {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 0}}},
            },
            Dialect.GA,
            "invalid_value",
            "session.audio.input.turn_detection.idle_timeout_ms",
        ),
        ({"temperature": 1.5}, Dialect.PREVIEW, "invalid_value", "session.temperature"),
        (
            {"max_response_output_tokens": 5000},
            Dialect.PREVIEW,
            "invalid_value",
            "session.max_response_output_tokens",
        ),
        (
            {"type": "realtime", "max_output_tokens": "infinite"},
            Dialect.GA,
            "invalid_type",
            "session.max_output_tokens",
        ),
        (
            {"type": "realtime", "tools": [{"type": "mcp", "server_label": "x"}]},
            Dialect.GA,
            "invalid_value",
            "session.tools[0].type",
        ),
        (
            {"tools": [{"type": "function", "name": "bad name"}]},
            Dialect.PREVIEW,
            "invalid_value",
            "session.tools[0].name",
        ),
        (
            {"tools": [{"type": "function", "name": "f", "parameters": "{}"}]},
            Dialect.PREVIEW,
            "invalid_type",
            "session.tools[0].parameters",
        ),
        ({"tool_choice": "sometimes"}, Dialect.PREVIEW, "invalid_value", "session.tool_choice"),
        (
            {"type": "realtime", "tool_choice": {"type": "function", "function": {"name": "lookup"}}},
            Dialect.GA,
            "unknown_parameter",
            "session.tool_choice.function",
        ),
        ({"speed": 3}, Dialect.PREVIEW, "invalid_value", "session.speed"),
        ({"type": "realtime", "audio": []}, Dialect.GA, "invalid_type", "session.audio"),
        ("not an object", Dialect.GA, "invalid_type", "session"),
    ],
)
def test_bad_updates_are_refused_whole(session: Any, dialect: Dialect, code: str, param: str) -> None:
    before = RICH.to_wire(Dialect.GA)
    err = _refused(RICH, session, dialect)
    assert (err.code, err.param) == (code, param), str(err)
    assert param in str(err)
    assert RICH.to_wire(Dialect.GA) == before  # nothing applied


def test_tool_choice_must_name_a_defined_tool() -> None:
    err = _refused(RICH, {"tools": []}, Dialect.PREVIEW)
    assert (err.code, err.param, err.value) == ("invalid_value", "session.tool_choice", "lookup")
    assert "no tools" in str(err)


# --- validation on construction -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "field", "value", "allowed_words"),
    [
        (lambda: ServerVad(threshold=1.01), "turn_detection.threshold", 1.01, "0.0 to 1.0"),
        (lambda: ServerVad(threshold=-0.1), "turn_detection.threshold", -0.1, "0.0 to 1.0"),
        (lambda: ServerVad(threshold="high"), "turn_detection.threshold", "high", "number"),
        (lambda: ServerVad(prefix_padding_ms=-10), "turn_detection.prefix_padding_ms", -10, ">= 0"),
        (
            lambda: ServerVad(silence_duration_ms=500.5),
            "turn_detection.silence_duration_ms",
            500.5,
            "integer",
        ),
        (lambda: ServerVad(silence_duration_ms=True), "turn_detection.silence_duration_ms", True, "integer"),
        (lambda: ServerVad(idle_timeout_ms=-1), "turn_detection.idle_timeout_ms", -1, ">= 1"),
        (lambda: ServerVad(create_response="yes"), "turn_detection.create_response", "yes", "true or false"),
        (lambda: SemanticVad(eagerness="eager"), "turn_detection.eagerness", "eager", "low"),
        (lambda: Transcription(model="whisper-2"), "transcription.model", "whisper-2", "gpt-4o-transcribe"),
        (lambda: Transcription(language="EN"), "transcription.language", "EN", "ISO-639-1"),
        (lambda: SessionConfig(voice="nova"), "voice", "nova", "marin"),
        (lambda: SessionConfig(input_format="pcm"), "input_format", "pcm", "g711_ulaw"),
        (lambda: SessionConfig(output_format="opus"), "output_format", "opus", "pcm16"),
        (lambda: SessionConfig(noise_reduction="medium"), "noise_reduction", "medium", "far_field"),
        (lambda: SessionConfig(temperature=0.5), "temperature", 0.5, "0.6 to 1.2"),
        (lambda: SessionConfig(max_output_tokens=0), "max_output_tokens", 0, "4096"),
        (lambda: SessionConfig(max_output_tokens=4097), "max_output_tokens", 4097, '"inf"'),
        (
            lambda: SessionConfig(output_modalities=("text", "audio")),
            "output_modalities",
            ["text", "audio"],
            '["audio"]',
        ),
        (lambda: SessionConfig(speed=0.1), "speed", 0.1, "0.25 to 1.5"),
        (lambda: SessionConfig(tool_choice="any"), "tool_choice", "any", "required"),
        (lambda: SessionConfig(tool_choice=FunctionChoice("f")), "tool_choice", "f", "defined tool"),
        (
            lambda: SessionConfig(
                tools=[{"type": "function", "name": "f"}, {"type": "function", "name": "f"}]
            ),
            "tools",
            "f",
            "unique",
        ),
        (lambda: SessionConfig(tools=[{"type": "function"}]), "tools[0].name", None, "name"),
        (lambda: SessionConfig(type="conversation"), "type", "conversation", "transcription"),
        (
            lambda: SessionConfig(turn_detection={"type": "semantic_vad", "threshold": 0.3}),
            "turn_detection.threshold",
            0.3,
            "semantic_vad takes only",
        ),
        (
            lambda: SessionConfig(turn_detection={"type": "server_vad", "eagerness": "low"}),
            "turn_detection.eagerness",
            "low",
            "server_vad takes only",
        ),
        (lambda: SessionConfig().replace(silence_ms=300), "silence_ms", 300, "turn_detection"),
    ],
)
def test_each_rule_names_field_value_and_allowed(
    build: Any, field: str, value: Any, allowed_words: str
) -> None:
    with pytest.raises(ConfigError) as err:
        build()
    e = err.value
    assert (e.field, e.value) == (field, value)
    assert allowed_words in e.allowed
    message = str(e)
    assert e.param in message and allowed_words in message
    if value is not None and e.code != "unknown_parameter":
        assert repr(value) in message or str(value) in message


def test_replace_validates_and_returns_new_object() -> None:
    config = SessionConfig()
    changed = config.replace(turn_detection=ServerVad(silence_duration_ms=1200), voice="cedar")
    assert changed is not config and config.voice == "alloy"
    assert changed.turn_detection == ServerVad(silence_duration_ms=1200)
    with pytest.raises(ConfigError, match="cedar"):
        changed.to_wire(Dialect.PREVIEW)
    assert hash(RICH) == hash(RICH.replace())


def test_config_is_frozen_and_copies_tool_schemas() -> None:
    schema = {"type": "object", "properties": {}}
    config = SessionConfig(tools=[{"type": "function", "name": "f", "parameters": schema}])
    schema["properties"]["x"] = {"type": "string"}
    assert config.tools[0].parameters == {"type": "object", "properties": {}}
    with pytest.raises(AttributeError):
        config.voice = "ash"  # type: ignore[misc]


def test_error_params_follow_the_dialect() -> None:
    config = SessionConfig(turn_detection=ServerVad(idle_timeout_ms=6000))
    with pytest.raises(ConfigError) as err:
        config.to_wire(Dialect.PREVIEW)
    assert err.value.param == "session.turn_detection.idle_timeout_ms"
    with pytest.raises(ConfigError) as err:
        apply_session_update(SessionConfig(), {"speed": 9}, Dialect.PREVIEW)
    assert err.value.param == "session.speed"
    with pytest.raises(ConfigError) as err:
        apply_session_update(
            SessionConfig(), {"type": "realtime", "audio": {"output": {"speed": 9}}}, Dialect.GA
        )
    assert err.value.param == "session.audio.output.speed"


# --- builders validated against the SDK ------------------------------------------------------------


_CONFIGS = [
    SessionConfig(),
    SessionConfig(turn_detection=SemanticVad(eagerness="low"), noise_reduction="near_field"),
    SessionConfig(
        turn_detection=None, transcription=Transcription(model="gpt-4o-mini-transcribe", language="en")
    ),
    SessionConfig(
        output_modalities=("text",),
        input_format="g711_alaw",
        output_format="g711_ulaw",
        max_output_tokens=1024,
        tools=[{"type": "function", "name": "f", "description": "d"}],
        tool_choice="required",
    ),
    RICH.replace(voice="coral", tool_choice="auto"),
]


@pytest.mark.parametrize("dialect", list(Dialect))
@pytest.mark.parametrize("config", _CONFIGS)
def test_session_update_validates_with_the_sdk(sdk_adapters, config: SessionConfig, dialect: Dialect) -> None:
    event = session_update(config, dialect, event_id="evt_1")
    assert "model" not in event["session"]
    sdk_adapters[(dialect, "client")].validate_python(event)
    back = apply_session_update(SessionConfig(), event["session"], dialect)
    expected = config.replace(model=None)
    if dialect is Dialect.GA:  # GA updates carry no temperature, so the default stays
        expected = expected.replace(temperature=SessionConfig().temperature)
    assert back == expected


def test_ga_only_session_updates_validate(sdk_adapters) -> None:
    for config in (
        SessionConfig(voice="marin", turn_detection=ServerVad(idle_timeout_ms=6000)),
        SessionConfig(
            voice={"id": "voice_abc"}, transcription=Transcription(model="gpt-4o-transcribe-diarize")
        ),
        RICH,  # function tool_choice: GA {type, name}; the beta SDK types it str (see translate tests)
    ):
        sdk_adapters[(Dialect.GA, "client")].validate_python(session_update(config, Dialect.GA))


_RESPONSES: list[dict[str, Any]] = [
    {},
    {"instructions": "Summarise.", "conversation": "none", "metadata": {"purpose": "summary"}},
    {"output_modalities": ["text"], "max_output_tokens": 64},
    {"voice": "echo", "output_format": "g711_ulaw", "max_output_tokens": "inf"},
    {
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        "tool_choice": "required",
    },
    {
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "yo"}]},
        ]
    },
]


@pytest.mark.parametrize("dialect", list(Dialect))
@pytest.mark.parametrize("options", _RESPONSES)
def test_response_create_validates_with_the_sdk(
    sdk_adapters, options: dict[str, Any], dialect: Dialect
) -> None:
    event = response_create(dialect, event_id="evt_2", **options)
    assert event["type"] == "response.create" and event["event_id"] == "evt_2"
    sdk_adapters[(dialect, "client")].validate_python(event)


def test_response_create_dialect_shapes() -> None:
    preview = response_create(
        Dialect.PREVIEW,
        output_modalities=["audio"],
        voice="ash",
        temperature=0.9,
        max_output_tokens=10,
        input=[{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a"}]}],
    )
    params = preview["response"]
    assert params["modalities"] == ["text", "audio"] and params["voice"] == "ash"
    assert params["max_response_output_tokens"] == 10 and params["temperature"] == 0.9
    assert params["input"][0]["content"][0]["type"] == "text"
    ga = response_create(
        Dialect.GA, voice="marin", output_format="pcm16", tool_choice={"type": "function", "name": "f"}
    )
    assert ga["response"]["audio"] == {
        "output": {"voice": "marin", "format": {"type": "audio/pcm", "rate": 24000}}
    }
    assert ga["response"]["tool_choice"] == {"type": "function", "name": "f"}
    assert response_create(Dialect.GA) == {"type": "response.create"}


@pytest.mark.parametrize(
    ("dialect", "options", "param"),
    [
        (Dialect.GA, {"temperature": 0.8}, "response.temperature"),
        (Dialect.PREVIEW, {"temperature": 2.0}, "response.temperature"),
        (Dialect.PREVIEW, {"voice": "marin"}, "response.voice"),
        (Dialect.GA, {"voice": "nova"}, "response.audio.output.voice"),
        (Dialect.GA, {"output_format": "wav"}, "response.audio.output.format"),
        (Dialect.GA, {"output_modalities": ["text", "audio"]}, "response.output_modalities"),
        (Dialect.PREVIEW, {"max_output_tokens": 0}, "response.max_response_output_tokens"),
        (Dialect.GA, {"conversation": "new"}, "response.conversation"),
        (Dialect.GA, {"metadata": {str(i): "v" for i in range(17)}}, "response.metadata"),
        (Dialect.GA, {"metadata": {"k": "v" * 513}}, "response.metadata.k"),
        (Dialect.GA, {"tool_choice": "maybe"}, "response.tool_choice"),
        (Dialect.GA, {"tools": [{"type": "function", "name": ""}]}, "response.tools[0].name"),
        (Dialect.GA, {"input": "hello"}, "response.input"),
    ],
)
def test_response_create_refuses_bad_options(dialect: Dialect, options: dict[str, Any], param: str) -> None:
    with pytest.raises(ConfigError) as err:
        response_create(dialect, **options)
    assert err.value.param == param
    assert param in str(err.value)
