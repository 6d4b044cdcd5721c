"""TuningPanel: the pure decision logic, then the ipywidgets shell against the real embedded engine.

The shell tests go through a real `RealtimeSession` to a real engine and read what went over the
wire from the session's EventLog. One engine is a stock engine; the other is the same engine with a
peer's quirks some servers have (semantic_vad refused, silence capped in what it reports), so a
refusal and an answer that differs from the request can be seen.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from realtime_nb.client import Endpoint, RealtimeSession
from realtime_nb.protocol import (
    ConfigError,
    Dialect,
    SemanticVad,
    ServerVad,
    SessionConfig,
    Transcription,
    to_canonical,
)
from realtime_nb.widgets.panel import TuningPanel
from realtime_nb.widgets.panel_logic import (
    Debounce,
    PanelValues,
    config_from_values,
    decide,
    describe_config,
    refusal_message,
    values_from_config,
    values_from_updated,
    visible_controls,
)

GA = Dialect.GA
PREVIEW = Dialect.PREVIEW
FULL_TD_KEYS = {
    "type",
    "threshold",
    "prefix_padding_ms",
    "silence_duration_ms",
    "idle_timeout_ms",
    "create_response",
    "interrupt_response",
}


# ------------------------------------------------------------------------------------- pure logic
def test_server_vad_values_build_the_whole_turn_detection_object() -> None:
    values = PanelValues(
        threshold=0.72,
        prefix_padding_ms=200,
        silence_duration_ms=900,
        idle_timeout_ms=6000,
        create_response=False,
    )
    config = config_from_values(values, SessionConfig(), GA)
    assert config.turn_detection == ServerVad(0.72, 200, 900, 6000, create_response=False)
    wire_td = config.to_wire(GA)["audio"]["input"]["turn_detection"]
    assert set(wire_td) == FULL_TD_KEYS


def test_semantic_none_noise_and_transcription_map_to_the_config() -> None:
    base = SessionConfig(
        voice="marin",
        instructions="Be brief.",
        transcription=Transcription(model="gpt-4o-transcribe", prompt="names"),
    )
    values = PanelValues(
        turn_type="semantic_vad",
        eagerness="high",
        interrupt_response=False,
        noise_reduction="far_field",
        transcription=True,
        language=" de ",
    )
    config = config_from_values(values, base, GA)
    assert config.turn_detection == SemanticVad("high", interrupt_response=False)
    assert config.noise_reduction == "far_field"
    # the model and prompt are not the panel's: kept from the effective config
    assert config.transcription == Transcription(model="gpt-4o-transcribe", language="de", prompt="names")
    assert (config.voice, config.instructions) == ("marin", "Be brief.")
    off = config_from_values(
        values.replace(turn_type="none", noise_reduction="off", transcription=False), base, GA
    )
    assert (off.turn_detection, off.noise_reduction, off.transcription) == (None, None, None)
    fresh = config_from_values(PanelValues(transcription=True), SessionConfig(), GA)
    assert fresh.transcription == Transcription(model="whisper-1", language=None)


@pytest.mark.parametrize(
    ("changes", "field", "allowed"),
    [
        ({"threshold": 1.5}, "turn_detection.threshold", "a number from 0.0 to 1.0"),
        ({"threshold": -0.1}, "turn_detection.threshold", "a number from 0.0 to 1.0"),
        ({"silence_duration_ms": -10}, "turn_detection.silence_duration_ms", ">= 0"),
        ({"idle_timeout_ms": 0}, "turn_detection.idle_timeout_ms", ">= 1"),
        ({"turn_type": "semantic_vad", "eagerness": "eager"}, "turn_detection.eagerness", "'high'"),
        ({"transcription": True, "language": "english"}, "transcription.language", "ISO-639-1"),
        ({"noise_reduction": "strong"}, "noise_reduction", "near_field, far_field"),
        ({"turn_type": "push_to_talk"}, "turn_detection.type", "server_vad, semantic_vad"),
    ],
)
def test_out_of_range_values_are_refused_naming_the_allowed_range(
    changes: dict[str, Any], field: str, allowed: str
) -> None:
    decision = decide(PanelValues().replace(**changes), SessionConfig(), GA)
    assert decision.config is None and decision.error is not None
    assert decision.error.field == field
    assert allowed in decision.error.allowed
    assert allowed in decision.message and decision.message.startswith("Not sent:")


def test_idle_timeout_is_refused_in_preview_and_hidden_there() -> None:
    decision = decide(PanelValues(idle_timeout_ms=5000), SessionConfig(), PREVIEW)
    assert decision.error is not None and "only in GA" in decision.error.allowed
    assert decision.error.param == "session.turn_detection.idle_timeout_ms"  # preview's wire path
    assert "idle_timeout_ms" in visible_controls("server_vad", False, GA)
    assert "idle_timeout_ms" not in visible_controls("server_vad", False, PREVIEW)


def test_decide_sends_only_a_change() -> None:
    effective = SessionConfig(turn_detection=ServerVad(threshold=0.6))
    assert decide(values_from_config(effective), effective, GA).config is None
    assert decide(values_from_config(effective), effective, GA).error is None
    changed = decide(values_from_config(effective).replace(threshold=0.61), effective, GA)
    assert changed.config is not None and changed.config.turn_detection == ServerVad(threshold=0.61)


@pytest.mark.parametrize(
    "config",
    [
        SessionConfig(),
        SessionConfig(turn_detection=None, noise_reduction="near_field"),
        SessionConfig(turn_detection=SemanticVad("low", create_response=False)),
        SessionConfig(
            turn_detection=ServerVad(0.3, 0, 1200, 15000, interrupt_response=False),
            transcription=Transcription(language="fr"),
        ),
    ],
)
def test_values_of_a_config_rebuild_that_config(config: SessionConfig) -> None:
    assert config_from_values(values_from_config(config), SessionConfig(), GA) == config


def test_values_not_carried_by_the_config_keep_their_previous_value() -> None:
    previous = PanelValues(threshold=0.8, silence_duration_ms=1500, language="sv")
    values = values_from_config(SessionConfig(turn_detection=SemanticVad("high")), previous)
    assert (values.turn_type, values.eagerness) == ("semantic_vad", "high")
    assert (values.threshold, values.silence_duration_ms, values.language) == (0.8, 1500, "sv")
    assert values.transcription is False


def test_values_from_a_preview_session_updated_event() -> None:
    config = SessionConfig(
        turn_detection=ServerVad(threshold=0.66, silence_duration_ms=200),
        noise_reduction="near_field",
        temperature=0.9,
    )
    event = to_canonical({"type": "session.updated", "session": config.to_wire(PREVIEW)}, PREVIEW)
    values = values_from_updated(event)
    assert (values.turn_type, values.threshold, values.silence_duration_ms) == ("server_vad", 0.66, 200)
    assert values.noise_reduction == "near_field"


@pytest.mark.parametrize(
    ("turn_type", "shown", "hidden"),
    [
        ("none", set(), {"threshold", "eagerness", "create_response", "interrupt_response"}),
        (
            "server_vad",
            {"threshold", "prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms", "create_response"},
            {"eagerness"},
        ),
        (
            "semantic_vad",
            {"eagerness", "create_response", "interrupt_response"},
            {"threshold", "prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms"},
        ),
    ],
)
def test_visible_controls_per_type(turn_type: str, shown: set[str], hidden: set[str]) -> None:
    visible = visible_controls(turn_type, False, GA)
    assert {"turn_type", "noise_reduction", "transcription"} <= visible
    assert shown <= visible and not (hidden & visible)
    assert "language" not in visible and "language" in visible_controls(turn_type, True, GA)


def test_debounce_turns_a_burst_into_one_send_and_holds_edits_while_in_flight() -> None:
    d = Debounce(0.3)
    assert d.idle and not d.due(100.0)
    d.touch(0.0)
    d.touch(0.2)  # a second edit moves the deadline
    assert not d.due(0.4) and d.due(0.5)
    d.start()
    assert not d.idle and not d.due(10.0)
    d.touch(0.6)  # edited while the update flies: not due until it is answered
    assert not d.due(1.0)
    assert d.finish() is True and d.due(1.0)
    d.start()
    assert d.finish() is False and d.idle
    with pytest.raises(ValueError, match="debounce"):
        Debounce(-1)


def test_describe_names_the_effective_values() -> None:
    config = SessionConfig(turn_detection=ServerVad(0.7, 300, 800), noise_reduction="far_field")
    text = describe_config(config)
    assert "threshold 0.7" in text and "silence 800 ms" in text and "noise reduction far_field" in text
    assert "eagerness low" in describe_config(SessionConfig(turn_detection=SemanticVad("low")))
    assert refusal_message(ConfigError("turn_detection.threshold", 2, "a number from 0.0 to 1.0")) == (
        "Not sent: threshold = 2 is not allowed (allowed: a number from 0.0 to 1.0)."
    )


# ------------------------------------------------------------------------------- shell + engine
@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    from realtime_nb import start_engine

    with start_engine() as running:
        yield running


def _quirky_factory() -> Any:
    """Real EngineSessions behind a front that refuses semantic_vad and caps the silence window."""
    from realtime_nb.engine.errors import RequestError
    from realtime_nb.engine.models import Models
    from realtime_nb.engine.options import EngineOptions
    from realtime_nb.engine.session import EngineSession

    class QuirkyPeer(EngineSession):
        def receive_text(self, text: str, now: float) -> None:
            event = json.loads(text)
            td = ((event.get("session") or {}).get("audio") or {}).get("input", {}).get("turn_detection")
            if event.get("type") == "session.update" and isinstance(td, dict):
                if td.get("type") == "semantic_vad":
                    err = RequestError(
                        "unsupported_value",
                        "semantic_vad is not supported by this server.",
                        "session.audio.input.turn_detection.type",
                    )
                    self._emit({"type": "error", "error": err.to_error(event.get("event_id"))})
                    return
                if td.get("silence_duration_ms", 0) > 1000:
                    td["silence_duration_ms"] = 1000
                    text = json.dumps(event)
            super().receive_text(text, now)

    def factory(route: Any, now: float) -> Any:
        options = EngineOptions(model=route.session_model)
        return QuirkyPeer(Models.shared(), route.dialect, now=now, options=options)

    return factory


@pytest.fixture(scope="module")
def quirky_engine() -> Iterator[Any]:
    from realtime_nb import start_engine

    with start_engine(session_factory=_quirky_factory()) as running:
        yield running


async def _connect(engine: Any, dialect: Dialect = GA) -> RealtimeSession:
    session = RealtimeSession(Endpoint.local(engine.url, dialect=dialect), timeout=60)
    await session.connect()
    return session


@pytest.fixture
async def session(engine: Any) -> AsyncIterator[RealtimeSession]:
    s = await _connect(engine)
    yield s
    await s.close()


def _updates(session: RealtimeSession) -> list[dict[str, Any]]:
    frame = session.log.frame()
    seqs = frame.loc[frame["type"] == "session.update", "seq"].tolist()
    return [session.log.event_json(int(seq)) for seq in seqs]


def _turn_detection(update: dict[str, Any]) -> dict[str, Any]:
    return update["session"]["audio"]["input"]["turn_detection"]


async def test_moving_controls_sends_one_debounced_update_with_the_whole_turn_detection(
    session: RealtimeSession,
) -> None:
    panel = TuningPanel(session, debounce_s=0.3)
    answered: list[float] = []
    session.on("session.updated", lambda _e: answered.append(time.monotonic()))
    assert panel.values.threshold == 0.5  # from session.created
    panel.controls["threshold"].value = 0.7
    await asyncio.sleep(0.1)  # a second edit inside the debounce window
    panel.controls["silence_duration_ms"].value = 800
    last_edit = time.monotonic()
    assert _updates(session) == [] and not panel.idle
    await panel.settled()
    updates = _updates(session)
    assert len(updates) == 1  # both edits, one update
    assert answered[0] - last_edit >= 0.3 - 0.01  # sent no sooner than the delay after the last edit
    td = _turn_detection(updates[0])
    assert set(td) == FULL_TD_KEYS
    assert (td["type"], td["threshold"], td["silence_duration_ms"], td["prefix_padding_ms"]) == (
        "server_vad",
        0.7,
        800,
        300,
    )
    assert panel.effective == session.config
    assert panel.effective.turn_detection == ServerVad(threshold=0.7, silence_duration_ms=800)
    assert "threshold 0.7" in panel._effective_html.value
    assert panel.message == "" and panel.updates_sent == 1
    await asyncio.sleep(0.4)
    assert len(_updates(session)) == 1  # and nothing more afterwards
    panel.close()


async def test_the_panel_follows_session_updated_from_elsewhere(session: RealtimeSession) -> None:
    panel = TuningPanel(session, debounce_s=0.1)
    await session.update_session(turn_detection=SemanticVad("low"), noise_reduction="near_field")
    assert panel.values.turn_type == "semantic_vad"
    assert panel.controls["eagerness"].value == "low"
    assert panel.controls["noise_reduction"].value == "near_field"
    assert panel.controls["threshold"].layout.display == "none"
    assert panel.controls["eagerness"].layout.display is None
    assert panel.idle and len(_updates(session)) == 1  # the panel did not echo the change back
    panel.close()


async def test_shows_the_servers_answer_not_what_was_sent(quirky_engine: Any) -> None:
    session = await _connect(quirky_engine)
    try:
        panel = TuningPanel(session, debounce_s=0.05)
        panel.controls["silence_duration_ms"].value = 2500
        await panel.settled()
        assert _turn_detection(_updates(session)[-1])["silence_duration_ms"] == 2500  # sent
        assert panel.effective.turn_detection.silence_duration_ms == 1000  # answered
        assert panel.controls["silence_duration_ms"].value == 1000  # shown
        assert panel.message == ""
    finally:
        await session.close()


async def test_a_refusal_by_the_server_is_shown_inline_and_the_controls_return(quirky_engine: Any) -> None:
    session = await _connect(quirky_engine)
    try:
        panel = TuningPanel(session, debounce_s=0.05)
        before = session.config
        panel.controls["turn_type"].value = "semantic_vad"
        await panel.settled()
        assert len(_updates(session)) == 1  # it was sent, and refused
        assert "semantic_vad is not supported by this server" in panel.message
        assert "unsupported_value" in panel.message
        assert session.config == before == panel.effective
        assert panel.values.turn_type == "server_vad"
        assert panel.controls["eagerness"].layout.display == "none"
    finally:
        await session.close()


async def test_out_of_range_is_refused_before_sending_and_changes_nothing(session: RealtimeSession) -> None:
    panel = TuningPanel(session, debounce_s=0.05)
    before = session.config
    with pytest.raises(ConfigError) as err:
        panel.set(threshold=1.5)
    assert "a number from 0.0 to 1.0" in panel.message and "1.5" in panel.message
    assert err.value.field == "turn_detection.threshold"
    assert panel.controls["threshold"].value == 0.5  # the slider was not touched (it would clamp)
    # through the controls: an idle timeout typed as -5 ms
    panel.controls["idle_timeout_ms"].value = -5
    panel.controls["idle_timeout_on"].value = True
    await panel.settled()
    assert "milliseconds >= 1" in panel.message and "-5" in panel.message
    assert _updates(session) == []
    assert session.config == before == panel.effective
    assert panel.values.idle_timeout_ms is None  # back to what the server holds
    panel.close()


@pytest.mark.parametrize("dialect", [GA, PREVIEW])
async def test_hidden_controls_follow_the_type_in_the_page_layout(engine: Any, dialect: Dialect) -> None:
    session = await _connect(engine, dialect)
    try:
        panel = TuningPanel(session, debounce_s=10)  # edits only: never sent in this test
        for turn_type in ("none", "server_vad", "semantic_vad"):
            panel.controls["turn_type"].value = turn_type
            shown = visible_controls(turn_type, False, dialect)
            for name, row in panel._rows.items():
                assert (row.layout.display != "none") == (name in shown), (turn_type, name)
        panel.controls["transcription"].value = True
        assert panel.controls["language"].layout.display is None
        panel.close()
    finally:
        await session.close()


async def test_transcription_with_a_language_reaches_the_server(session: RealtimeSession) -> None:
    panel = TuningPanel(session, debounce_s=0.05)
    panel.set(transcription=True, language="de", noise_reduction="near_field")
    await panel.settled()
    assert session.config.transcription == Transcription(model="whisper-1", language="de")
    assert session.config.noise_reduction == "near_field"
    assert panel.controls["language"].value == "de"
    panel.close()


async def test_every_panel_update_restates_the_whole_turn_detection(session: RealtimeSession) -> None:
    panel = TuningPanel(session, debounce_s=0.05)
    panel.set(noise_reduction="far_field")  # turn detection itself unchanged
    await panel.settled()
    [update] = _updates(session)
    assert update["session"]["audio"]["input"]["noise_reduction"] == {"type": "far_field"}
    td = _turn_detection(update)
    assert set(td) == FULL_TD_KEYS and td["threshold"] == panel.values.threshold
    panel.close()


async def test_a_dropped_connection_greys_out_the_panel_with_the_reason() -> None:
    from realtime_nb import start_engine
    from realtime_nb.widgets.live_timeline import LiveTimeline

    engine = start_engine()
    session = await _connect(engine)
    panel = TuningPanel(session, debounce_s=5.0)
    timeline = LiveTimeline(session)
    panel.controls["threshold"].value = 0.42  # an edit still waiting when the connection drops
    await asyncio.get_running_loop().run_in_executor(None, engine.stop)
    for _ in range(200):
        if panel.disconnected:
            break
        await asyncio.sleep(0.02)
    assert "connection closed (code 1001)" in panel.disconnected
    assert all(control.disabled for control in panel.controls.values())
    assert "Disconnected" in panel.message and "code 1001" in panel.message
    await asyncio.sleep(0.2)
    assert _updates(session) == []  # the waiting edit was dropped, not sent into a closed socket
    frame = timeline.frame()
    assert "session.created" in set(frame["type"]) and "realtime_nb.connection_closed" in set(frame["type"])
    assert timeline.disconnected == panel.disconnected
    with pytest.raises(RuntimeError, match="disconnected"):
        panel.set(threshold=0.3)
    # a panel made after the drop starts greyed out
    late = TuningPanel(session)
    assert late.disconnected and late.controls["turn_type"].disabled


# ---------------------------------------------------------------------- transcription sessions
def test_a_transcription_session_hides_the_response_controls() -> None:
    response = {"create_response", "interrupt_response", "idle_timeout_ms"}
    assert response <= visible_controls("server_vad", True, GA)
    shown = visible_controls("server_vad", True, GA, transcribes_only=True)
    assert not response & shown
    assert {"threshold", "silence_duration_ms", "noise_reduction", "transcription", "language"} <= shown
    assert not response & visible_controls("semantic_vad", True, PREVIEW, transcribes_only=True)
    text = describe_config(SessionConfig.for_transcription())
    assert text.startswith("transcription session") and "create_response" not in text and "idle" not in text


@pytest.mark.parametrize("dialect", [GA, PREVIEW])
async def test_the_panel_tunes_a_transcription_session(engine: Any, dialect: Dialect) -> None:
    endpoint = Endpoint.local(engine.url, dialect=dialect).transcription()
    session = RealtimeSession(endpoint, timeout=60)
    await session.connect()
    try:
        panel = TuningPanel(session, debounce_s=0.05)
        for name in ("create_response", "interrupt_response", "idle_timeout_ms"):
            assert panel._rows[name].layout.display == "none", name
        assert panel.controls["threshold"].layout.display is None
        panel.controls["silence_duration_ms"].value = 900
        panel.controls["noise_reduction"].value = "far_field"
        await panel.settled()
        assert panel.message == "" and panel.refusals == []
        sent = _updates(session)
        assert len(sent) == 1
        wanted = "session.update" if dialect is GA else "transcription_session.update"
        assert sent[0]["type"] == wanted
        assert panel.effective is not None and panel.effective.transcribes_only
        assert panel.effective.turn_detection.silence_duration_ms == 900
        assert panel.effective.noise_reduction == "far_field"
        panel.close()
    finally:
        await session.close()
