"""`realtime_nb.notebook`: install hints, the connect() choice of peer, and the protocol table.

connect() is tested against real engines over loopback: without keys it must use (and reuse) the
kernel's embedded engine; with a key it must take the cloud path, which we point at an engine that
demands that very key, so the test proves the key went over the wire and never to stdout.
"""

from __future__ import annotations

import base64
import tomllib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from realtime_nb import notebook
from realtime_nb.client import Endpoint
from realtime_nb.protocol import ConfigError, Dialect, ServerVad
from realtime_nb.timeline import EventLog

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
    line = notebook.describe(azure)
    assert line == "Using Azure OpenAI, deployment 'my-deployment' (ga dialect)."
    assert "az-secret" not in line
    assert FAKE_KEY not in notebook.describe(Endpoint.openai(api_key=FAKE_KEY, dialect="preview"))


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

    table = notebook.event_table(log.frame())
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
    assert notebook.event_table(log.frame().iloc[:0]).empty
