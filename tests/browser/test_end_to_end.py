"""Mic -> embedded engine -> Player, in JupyterLab in headless Chromium.

The fake microphone plays synthesised speech with known boundaries; the engine's server VAD must put
speech_started / speech_stopped at those times on the audio clock, and the response audio it
synthesises must play in the Player.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from realtime_nb.protocol import ServerVad
from tests.browser.harness import Lab, NotebookPage, chromium, write_notebook

LEAD_MS, TAIL_MS = 800, 7000  # long tail: the fake device loops the file; one turn per test
_VAD = ServerVad()

_NOTEBOOK = [
    "from realtime_nb.engine import start_engine\n"
    "from realtime_nb.client import Endpoint, RealtimeSession\n"
    "from realtime_nb.widgets import Mic, Player\n"
    "engine = start_engine(preload=True)\n"
    "session = RealtimeSession(Endpoint.local(engine.url), timeout=120, response_timeout=120)\n"
    "await session.connect()\n"
    "events = []\n"
    "for kind in ('input_audio_buffer.speech_started', 'input_audio_buffer.speech_stopped',\n"
    "             'response.created', 'response.done', 'conversation.item.truncated'):\n"
    "    session.on(kind, lambda e: events.append({k: v for k, v in e.items() if k != 'delta'}))",
    "player = Player(session)\nplayer",
    "mic = Mic(session, echo_cancellation=False)\nmic",
]


@pytest.fixture(scope="module")
def speech(notebook_dir: Path) -> tuple[Path, tuple[float, float]]:
    samples = pytest.importorskip("realtime_nb.samples")
    sample = samples.utterance("Could you tell me what the weather is like today?", lead_ms=LEAD_MS,
                               tail_ms=TAIL_MS)
    path = sample.save(notebook_dir / "speech.wav")
    first, last = sample.segments[0], sample.segments[-1]
    return path, (first.ms(sample.rate)[0], last.ms(sample.rate)[1])


def _events(nb: NotebookPage) -> list[dict]:
    return nb.kernel_json("[{k: e.get(k) for k in ('type', 'audio_start_ms', 'audio_end_ms', 'item_id')}"
                          " for e in events]")


def test_speech_turn_through_the_engine_plays_the_answer(
    fresh_lab: Lab, notebook_dir: Path, speech: tuple[Path, tuple[float, float]]
) -> None:
    wav, (speech_start_ms, speech_end_ms) = speech
    write_notebook(notebook_dir / "e2e.ipynb", _NOTEBOOK)
    with chromium(wav) as browser:
        nb = NotebookPage(browser.new_page(), fresh_lab, "e2e.ipynb", timeout_s=240)
        enable = nb.page.locator(".rtnb-player .rtnb-enable")
        start = nb.run_until_shown(".rtnb-mic .rtnb-start")
        enable.click()
        start.click()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            kinds = [e["type"] for e in _events(nb)]
            if "response.done" in kinds:
                break
            time.sleep(0.5)
        nb.wait_js("window.__rtnb.players[0].ended > 0 && window.__rtnb.players[0].maxRms > 0.01",
                   timeout_s=60)
        start.click()
        events = _events(nb)
        page = nb.js("window.__rtnb.players[0]")
        kernel = nb.kernel_json("{'received': player.received_ms, 'mic': mic.stats()}")
        nb.execute("await session.close(); engine.stop()")

    started = [e for e in events if e["type"] == "input_audio_buffer.speech_started"]
    stopped = [e for e in events if e["type"] == "input_audio_buffer.speech_stopped"]
    assert started and stopped, events
    # The audio clock starts at the first appended chunk = the start of the file (the fake device
    # starts it at getUserMedia). The service's conventions: start includes the prefix padding, end
    # includes the silence window. Tolerance: VAD windows (32 ms) and capture start-up.
    assert started[0]["audio_start_ms"] == pytest.approx(speech_start_ms - _VAD.prefix_padding_ms, abs=250)
    assert stopped[0]["audio_end_ms"] == pytest.approx(speech_end_ms + _VAD.silence_duration_ms, abs=350)
    assert "response.done" in [e["type"] for e in events]
    assert kernel["received"] > 500  # the engine's voice answered with audio
    assert page["queued"] > 0 and page["ended"] > 0 and page["maxRms"] > 0.01
    assert kernel["mic"]["dropped"] == 0 and kernel["mic"]["send_errors"] == 0
