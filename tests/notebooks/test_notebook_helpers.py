"""`realtime_nb.notebook`: install hints, the connect() choice of peer, replays; and what the notebooks
compute from a log with it (`realtime_nb.timeline`: the protocol table, scoring, retrieved audio).

connect() is tested against real engines over loopback: without keys it must use (and reuse) the
kernel's embedded engine; with a key it must take the cloud path, which we point at an engine that
demands that very key, so the test proves the key went over the wire and never to stdout.
"""

from __future__ import annotations

import base64
import math
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from realtime_nb import notebook, samples
from realtime_nb.client import Endpoint, RealtimeSession
from realtime_nb.protocol import ConfigError, Dialect, ServerVad
from realtime_nb.timeline import EventLog, event_table, item_levels, processed_audio, score_turns, vad_summary

ROOT = Path(__file__).resolve().parents[2]
FAKE_KEY = "sk-" + "test-0123456789abcdefghijklmnop"  # fake; split so key scanners do not flag it
KEY_VARS = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_DEPLOYMENT")


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module", autouse=True)
def _stop_shared_engine() -> Iterator[None]:
    yield
    if notebook._engine is not None:
        notebook._engine.stop()
        notebook._engine = None


# ---- require -----------------------------------------------------------------------------------


def test_require_passes_for_installed_extras() -> None:
    notebook.require("engine", "voice", "notebook")


def test_require_names_the_pip_command_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(notebook.EXTRAS, "engine", ("numpy", "no_such_module_for_this_test"))
    with pytest.raises(notebook.MissingExtraError) as info:
        notebook.require("notebook", "engine")
    message = str(info.value)
    assert "pip install 'realtime-nb[engine]'" in message
    assert "no_such_module_for_this_test" in message and "numpy" not in message
    assert isinstance(info.value, ImportError)
    # IPython shows this instead of a traceback: one line, the message.
    assert info.value._render_traceback_() == [f"MissingExtraError: {message}"]
    assert "\n" not in message


def test_require_joins_several_missing_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(notebook.EXTRAS, "engine", ("no_such_module_a",))
    monkeypatch.setitem(notebook.EXTRAS, "voice", ("no_such_module_b",))
    with pytest.raises(notebook.MissingExtraError, match=r"realtime-nb\[engine,voice\]"):
        notebook.require("engine", "voice")


def test_require_rejects_an_unknown_extra() -> None:
    with pytest.raises(ValueError, match="unknown extra 'gpu'"):
        notebook.require("gpu")


def test_extras_are_the_packages_extras() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = pyproject["project"]["optional-dependencies"]
    assert set(notebook.EXTRAS) <= set(declared)


# ---- connect -----------------------------------------------------------------------------------


async def test_connect_without_keys_uses_one_embedded_engine(
    no_keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    async with notebook.connect(turn_detection=ServerVad(silence_duration_ms=700)) as session:
        assert session.endpoint.service == "local"
        assert session.config is not None and session.config.turn_detection == ServerVad(
            silence_duration_ms=700
        )
        first = notebook.local_engine()
    assert session.closed
    line = capsys.readouterr().out
    assert line.startswith("Using the embedded engine at 127.0.0.1:") and line.count("\n") == 1

    session = await notebook.connect("preview")
    try:
        assert session.dialect is Dialect.PREVIEW and session.config is not None
        assert notebook.local_engine() is first  # started once, reused
        assert f":{first.port} (preview dialect" in capsys.readouterr().out
    finally:
        await session.close()


async def test_connect_with_a_key_takes_the_cloud_path_and_never_prints_it(
    monkeypatch: pytest.MonkeyPatch, no_keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from realtime_nb.engine import start_engine

    with start_engine(token=FAKE_KEY, preload=False) as cloud:  # stands in for api.openai.com
        monkeypatch.setattr("realtime_nb.client.endpoints.OPENAI_URL", f"{cloud.url}/v1/realtime")
        monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
        async with notebook.connect() as session:
            assert session.endpoint.service == "openai" and session.config is not None
        async with notebook.connect(local=True) as session:
            assert session.endpoint.service == "local"
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Using OpenAI, model 'gpt-realtime' (ga dialect)."
    assert out.splitlines()[1].startswith("Using the embedded engine")
    assert FAKE_KEY not in out and "sk-" not in out


async def test_connect_closes_the_session_when_the_options_are_refused(no_keys: None) -> None:
    engine = notebook.local_engine()
    with pytest.raises(ConfigError):
        await notebook.connect(output_modalities=("smell",))
    assert engine.wait_idle(timeout=10)


def test_describe_never_shows_a_key() -> None:
    azure = Endpoint.azure("my-deployment", endpoint="my-resource", api_key="az-secret-value-123")
    line = notebook.describe_endpoint(azure)
    assert line == "Using Azure OpenAI, deployment 'my-deployment' (ga dialect)."
    assert "az-secret" not in line
    assert FAKE_KEY not in notebook.describe_endpoint(Endpoint.openai(api_key=FAKE_KEY, dialect="preview"))


def test_sessions_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REALTIME_NB_SESSIONS", str(tmp_path / "runs"))
    assert notebook.sessions_dir() == tmp_path / "runs" and (tmp_path / "runs").is_dir()


# ---- event_table ----------------------------------------------------------------------------------


def _audio(ms: int) -> str:
    return base64.b64encode(np.zeros(24 * ms, dtype=np.int16).tobytes()).decode()


def test_event_table_folds_streams_and_names_both_dialects() -> None:
    log = EventLog(start_ns=0)
    ga = Dialect.GA
    events = [
        ("received", {"type": "session.created", "event_id": "e0", "session": {"type": "realtime"}}),
        *[("sent", {"type": "input_audio_buffer.append", "audio": _audio(40)}) for _ in range(3)],
        ("received", {"type": "input_audio_buffer.speech_started", "event_id": "e1",
                      "audio_start_ms": 20, "item_id": "item_1"}),
        ("sent", {"type": "input_audio_buffer.append", "audio": _audio(40)}),
        ("received", {"type": "conversation.item.done", "event_id": "e2",
                      "item": {"id": "item_1", "type": "message", "role": "user", "content": []}}),
    ]  # fmt: skip
    for i, (direction, event) in enumerate(events):
        log.record(direction, event, ga, t_ns=1_000_000_000 + i * 10_000_000)

    table = event_table(log.frame())
    assert list(table["ga_type"]) == [
        "session.created",
        "input_audio_buffer.append",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.append",
        "conversation.item.done",
    ]
    assert list(table["n"]) == [1, 3, 1, 1, 1]
    assert list(table["t_ms"]) == [0.0, 10.0, 40.0, 50.0, 60.0]
    assert table.loc[1, "audio_ms"] == 120 and table.loc[2, "audio_start_ms"] == 20
    assert table.loc[4, "preview_type"] == "—"  # GA only
    assert table.loc[2, "item_id"] == "item_1"
    assert event_table(log.frame().iloc[:0]).empty


# ---- replay and scoring ------------------------------------------------------------------------------


def _turns(*spans: tuple[float | None, float | None]) -> pd.DataFrame:
    """A minimal `turns()` table: only the columns the scoring reads."""
    return pd.DataFrame(
        {
            "item_id": [f"item_{i}" for i in range(len(spans))],
            "audio_start_ms": pd.array([a for a, _ in spans], dtype="Int64"),
            "audio_end_ms": pd.array([b for _, b in spans], dtype="Int64"),
        }
    )


def test_score_turns_matches_each_turn_to_the_speech_it_overlaps_most() -> None:
    truth = [(500.0, 2000.0), (3500.0, 5000.0)]
    turns = _turns((200, 1200), (1200, 2500), (2600, 2900), (3200, 5500), (None, None))
    scored = score_turns(turns, truth)
    assert list(scored["item_id"]) == [
        "item_0",
        "item_1",
        "item_2",
        "item_3",
    ]  # the incomplete row is left out
    assert list(scored["segment"].astype(object)) == [1, 1, pd.NA, 2]
    assert list(scored["early"]) == [True, False, False, False]  # the first ended before its speech did
    assert scored.loc[1, "end_delay_ms"] == 500 and scored.loc[3, "end_delay_ms"] == 500
    assert math.isnan(scored.loc[2, "end_delay_ms"])  # a false start has no delay
    assert score_turns(_turns(), truth).empty


def test_score_turns_reads_a_samples_segments() -> None:
    sample = samples.Sample(np.zeros(48000, np.int16), 24000, (samples.Segment(2400, 24000, "hi"),))
    scored = score_turns(_turns((0, 1500)), sample)
    assert scored.loc[0, "true_start_ms"] == 100 and scored.loc[0, "true_end_ms"] == 1000
    with pytest.raises(ValueError, match="start <= end"):
        score_turns(_turns((0, 10)), [(5.0, 1.0)])


def _vad_log(
    *turns: tuple[int, int], speech: list[tuple[int, int]] | None = None, retrieved_gain: float | None = None
) -> EventLog:
    """A log of server-VAD turns over 3 s of noise with a tone as the speech (default: the turns).

    With `retrieved_gain`, each committed item is also retrieved, its audio scaled by that gain.
    """
    log = EventLog(start_ns=0)
    ga, rng = Dialect.GA, np.random.default_rng(0)
    sent = (rng.standard_normal(72000) * 100).astype(np.int16)
    for start, end in speech if speech is not None else turns:
        n = np.arange((end - start) * 24)
        sent[start * 24 : end * 24] += (3000 * np.sin(n * 0.1)).astype(np.int16)
    t = iter(range(1, 10_000))

    def rec(direction: str, event: dict) -> None:
        log.record(direction, event, ga, t_ns=next(t) * 1_000_000)

    for piece in np.split(sent, 75):  # 40 ms appends
        rec(
            "sent", {"type": "input_audio_buffer.append", "audio": base64.b64encode(piece.tobytes()).decode()}
        )
    for i, (start, end) in enumerate(turns):
        item = f"item_{i}"
        rec(
            "received",
            {"type": "input_audio_buffer.speech_started", "audio_start_ms": start, "item_id": item},
        )
        rec("received", {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": end, "item_id": item})
        rec("received", {"type": "input_audio_buffer.committed", "item_id": item, "previous_item_id": None})
        if retrieved_gain is not None:
            pcm = (sent[start * 24 : end * 24] * retrieved_gain).astype(np.int16)
            content = [{"type": "input_audio", "audio": base64.b64encode(pcm.tobytes()).decode()}]
            user_item = {"id": item, "type": "message", "role": "user", "content": content}
            rec("received", {"type": "conversation.item.retrieved", "item": user_item})
    return log


def test_vad_summary_counts_turns_cuts_false_starts_and_misses() -> None:
    truth = [(500.0, 1000.0), (1500.0, 2000.0), (2500.0, 2800.0)]
    logs = {
        "split": _vad_log((400, 800), (800, 1500), (1400, 2300), (2400, 2950)),
        "noisy": _vad_log((100, 300), (400, 1600)),
    }
    summary = vad_summary(logs, truth)
    assert list(summary.columns) == ["true", "turns", "cut_in", "false_starts", "missed", "end_delay_ms"]
    split, noisy = summary.loc["split"], summary.loc["noisy"]
    assert (split["true"], split["turns"], split["cut_in"], split["false_starts"], split["missed"]) == (
        3,
        4,
        1,
        0,
        0,
    )
    assert split["end_delay_ms"] == 300  # the last turn over each span ended 500, 300, 150 ms after it
    assert (noisy["turns"], noisy["false_starts"], noisy["missed"]) == (2, 1, 2)


def test_processed_audio_and_item_levels_compare_what_the_server_kept() -> None:
    speech = [(600, 1400), (2100, 2500)]
    log = _vad_log((500, 1500), (2000, 2600), speech=speech, retrieved_gain=0.1)
    sent, processed = log.sent_audio(), processed_audio(log)
    assert processed.shape == sent.shape and processed.dtype == np.int16
    assert not processed[: 500 * 24].any() and not processed[1500 * 24 : 2000 * 24].any()  # dropped
    assert np.array_equal(
        processed[500 * 24 : 1500 * 24], (sent[500 * 24 : 1500 * 24] * 0.1).astype(np.int16)
    )
    levels = item_levels(log, speech)
    assert list(levels.index) == ["raw", "processed", "change"]
    assert levels.loc["change", "speech_db"] == pytest.approx(-20, abs=0.2)  # a gain of 0.1
    assert levels.loc["raw", "speech_db"] > levels.loc["raw", "non_speech_db"] + 20
    with pytest.raises(ValueError, match="retrieve=True"):
        item_levels(_vad_log((500, 1500)))


async def test_replay_each_streams_every_setting_into_its_own_session(
    no_keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = samples.load("single")
    quiet = ServerVad(silence_duration_ms=500, create_response=False)
    logs = await notebook.replay_each(
        "single",
        {"off": {}, "far": {"noise_reduction": "far_field"}},
        retrieve=True,
        turn_detection=quiet,
    )
    out = capsys.readouterr().out
    assert out.count("Using the embedded engine") == 1  # said once, not per setting
    assert list(logs) == ["off", "far"]
    for log in logs.values():
        [turn] = score_turns(log.turns(), sample).itertuples()
        assert turn.segment == 1 and 400 <= turn.end_delay_ms <= 700  # the 500 ms window, on the audio clock
        assert log.sent_audio().size == sample.audio.size + 1500 * 24  # the file, then the tail silence
    off, far = (processed_audio(log) for log in logs.values())
    turn = logs["off"].turns().iloc[0]
    span = slice(int(turn.audio_start_ms) * 24, int(turn.audio_end_ms) * 24)
    assert np.array_equal(off[span], logs["off"].sent_audio()[span])  # no noise reduction: kept as sent
    assert not np.array_equal(far[span], logs["far"].sent_audio()[span])


async def test_replay_takes_a_wav_path_and_refuses_a_missing_one(no_keys: None, tmp_path: Path) -> None:
    log = await notebook.replay(
        samples.ensure("single"), announce=False, turn_detection=None, tail_silence_ms=0
    )
    assert log.turns().empty and log.sent_audio().size == samples.load("single").audio.size
    with pytest.raises(FileNotFoundError):
        await notebook.replay(tmp_path / "nothing.wav")


# ---- playback clock and the conversation ------------------------------------------------------------


class _FakeSession:
    """What PlaybackClock uses of a session: on() and config."""

    def __init__(self) -> None:
        self.config = None
        self.listeners: dict[str, list] = {}

    def on(self, kind: str, callback: Any) -> Any:
        self.listeners.setdefault(kind, []).append(callback)
        return lambda: self.listeners[kind].remove(callback)

    def emit(self, item_id: str, ms: int) -> None:
        for callback in list(self.listeners.get("response.output_audio.delta", [])):
            callback({"type": "response.output_audio.delta", "item_id": item_id, "delta": _audio(ms)})


async def test_playback_clock_plays_in_real_time_but_never_ahead_of_the_audio() -> None:
    now = [100.0]
    session = _FakeSession()
    clock = notebook.PlaybackClock(session, clock=lambda: now[0])  # type: ignore[arg-type]
    assert clock.played_ms("item_a") == 0 and clock.truncate_point("item_a") == 0
    session.emit("item_a", 400)
    assert await clock.first_audio(timeout=1) == "item_a"
    now[0] += 0.25
    assert clock.played_ms("item_a") == pytest.approx(250) and clock.received_ms("item_a") == 400
    now[0] += 1.0
    assert clock.played_ms("item_a") == 400  # only what had arrived can have been heard
    session.emit("item_a", 1000)
    clock.stop()
    now[0] += 5.0
    assert clock.truncate_point("item_a") == 1250  # frozen at the stop
    clock.close()
    assert not session.listeners["response.output_audio.delta"]


async def test_conversation_items_lists_what_the_server_holds(no_keys: None) -> None:
    async with notebook.connect(turn_detection=None) as session:
        first = await session.create_text_message("Hello there.")
        gone = await session.create_text_message("Forget this one.")
        await session.delete_item(gone["id"])
        reply = await session.create_response(wait=True)
        assert isinstance(reply, dict)
        [answer] = reply["output"]
        await session.truncate(answer["id"], 300)
        table = await notebook.conversation_items(session)
    assert list(table["item_id"]) == [first["id"], answer["id"]]
    assert list(table["role"]) == ["user", "assistant"]
    assert table.loc[0, "text"] == "Hello there." and table.loc[0, "audio_ms"] == 0
    assert table.loc[1, "audio_ms"] == 300


# ---- the services ------------------------------------------------------------------------------------


def _never(question: str) -> str:
    raise AssertionError("asked for a key although one was set")


def test_cloud_endpoints_from_the_environment(monkeypatch: pytest.MonkeyPatch, no_keys: None) -> None:
    assert notebook.cloud_endpoints(prompt=False, ask=_never) == {}
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az-" + "fake-0123456789")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://my-resource.openai.azure.com/")
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "my-deployment")
    found = notebook.cloud_endpoints(ask=_never)
    assert list(found) == ["OpenAI GA", "Azure GA", "Azure preview"]
    assert (
        found["Azure GA"].url == "wss://my-resource.openai.azure.com/openai/v1/realtime?model=my-deployment"
    )
    assert (
        found["Azure preview"].dialect is Dialect.PREVIEW
        and "2025-04-01-preview" in found["Azure preview"].url
    )
    shown = repr(found) + "".join(str(e.headers) for e in found.values())
    assert FAKE_KEY not in shown and "az-fake" not in shown


def test_cloud_endpoints_asks_only_when_it_can(monkeypatch: pytest.MonkeyPatch, no_keys: None) -> None:
    from IPython.core.error import StdinNotImplementedError

    def headless(question: str) -> str:
        raise StdinNotImplementedError(
            "raw_input was called, but this frontend does not support input requests."
        )

    assert notebook.cloud_endpoints(ask=headless) == {}
    assert notebook.cloud_endpoints(ask=lambda q: "   ") == {}
    questions: list[str] = []
    found = notebook.cloud_endpoints(ask=lambda q: questions.append(q) or FAKE_KEY)
    assert list(found) == ["OpenAI GA"] and "hidden" in questions[0]
    assert FAKE_KEY not in repr(found["OpenAI GA"]) and found["OpenAI GA"].secret_values == (FAKE_KEY,)
    monkeypatch.setattr("getpass.getpass", headless)  # the default asks getpass as it is at call time
    assert notebook.cloud_endpoints() == {}
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "my-resource")  # half an Azure set-up: no endpoint, no prompt
    assert notebook.cloud_endpoints(ask=_never) == {}


async def test_probe_reports_one_round_trip_or_the_error(no_keys: None) -> None:
    row = await notebook.probe(text="Hello there.")
    assert row["service"] == "local" and row["status"] == "completed"
    assert row["connect_ms"] > 0 and row["first_audio_ms"] >= 0 and row["audio_s"] > 0
    assert "hello there" in row["transcript"].lower() and row["problem"] is None
    refused = await notebook.probe(Endpoint.local("ws://127.0.0.1:9", token=FAKE_KEY), timeout=5)
    assert refused["status"] == "error" and refused["problem"].startswith("nothing answers at 127.0.0.1:9")
    assert FAKE_KEY not in str(refused)
    assert math.isnan(refused["first_audio_ms"])


async def test_settle_waits_for_the_running_response_and_for_quiet(no_keys: None) -> None:
    async with notebook.connect(turn_detection=None) as session:
        await session.create_text_message("Hello there.")
        response_id = await session.create_response()
        assert session.active_response_id == response_id
        await notebook.settle(session, quiet_s=0.2, timeout=60)
        assert session.active_response_id is None
        done = session.log.responses().set_index("response_id").loc[response_id, "status"]
        assert done == "completed"


async def test_settle_over_webrtc_waits_for_the_answer_to_finish_playing(no_keys: None) -> None:
    pytest.importorskip("aiortc")
    engine = notebook.local_engine()
    assert engine.wait_ready(180)
    endpoint = Endpoint.local(engine.url)
    async with RealtimeSession(endpoint, transport="webrtc", timeout=60) as call:
        await call.create_text_message("Hello there, how are you today?")
        response_id = await call.create_response()
        await notebook.settle(call, quiet_s=0.2, timeout=60)
        frame = call.log.frame()
        done = frame.loc[frame["type"] == "response.done", "t"].max()
        stopped = frame[
            (frame["type"] == "output_audio_buffer.stopped") & (frame["response_id"] == response_id)
        ]
        assert len(stopped) == 1  # the answer played out on the track before settle returned
        assert stopped["t"].iloc[0] - done > 0.5  # ... seconds after response.done: what settle waited for
