"""Push-to-talk through the page: hold the Mic's talk button, release, get an answer from the engine.

JupyterLab in headless Chromium with a fake microphone playing speech; the Mic (mode="push_to_talk")
feeds a session on the embedded engine with turn detection off, so only the button decides what is
sent: nothing before a press, the audio while held, then one commit and one response per release.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser.harness import Lab, NotebookPage, chromium, write_notebook

HOLD_S = 2.5
SECOND_HOLD_S = 1.2
# Press-to-first-chunk and release-to-flush both cross the page -> kernel comm; each chunk is 40 ms.
HOLD_TOLERANCE_MS = 250

_NOTEBOOK = [
    "from realtime_nb.engine import start_engine\n"
    "from realtime_nb.client import Endpoint, RealtimeSession\n"
    "from realtime_nb.widgets import Mic\n"
    "engine = start_engine(preload=True)\n"
    "session = RealtimeSession(Endpoint.local(engine.url), timeout=120, response_timeout=120)\n"
    "await session.connect()\n"
    "await session.update_session(turn_detection=None)\n"
    "events = []\n"
    "for kind in ('input_audio_buffer.committed', 'input_audio_buffer.speech_started', 'response.created',\n"
    "             'response.done', 'error'):\n"
    "    session.on(kind, lambda e: events.append(e))",
    "mic = Mic(session, mode='push_to_talk', echo_cancellation=False)\nmic",
]

_KERNEL_REPORT = (
    "{'events': [{'type': e['type'], 'item_id': e.get('item_id'),"
    " 'status': (e.get('response') or {}).get('status'), 'error': e.get('error')} for e in events],"
    " 'sent_ms': session.log.sent_audio().size / 24,"
    " 'spans': [session.log.item_span(e['item_id']) for e in events"
    "           if e['type'] == 'input_audio_buffer.committed'],"
    " 'mic': mic.stats(), 'pump_errors': [repr(x) for x in mic.send_errors]}"
)


@pytest.fixture(scope="module")
def speech_wav(notebook_dir: Path) -> Path:
    samples = pytest.importorskip("realtime_nb.samples")
    sample = samples.utterance("Could you tell me what the weather is like today?", lead_ms=300, tail_ms=300)
    return sample.save(notebook_dir / "ptt_speech.wav")


def _kinds(nb: NotebookPage) -> list[str]:
    return nb.kernel_json("[e['type'] for e in events]")


def _hold(nb: NotebookPage, talk: Any, seconds: float) -> float:
    """Press the talk button with the mouse, keep it down ``seconds``, release; returns ms held."""
    box = talk.bounding_box()
    assert box is not None
    nb.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    t_down = time.monotonic()
    nb.page.mouse.down()
    time.sleep(seconds)
    nb.page.mouse.up()
    held_ms = (time.monotonic() - t_down) * 1000
    nb.wait_js("!document.querySelector('.rtnb-mic .rtnb-talk').classList.contains('rtnb-held')", 5)
    return held_ms


def _wait_responses(nb: NotebookPage, count: int, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while _kinds(nb).count("response.done") < count and time.monotonic() < deadline:
        time.sleep(0.5)


def test_holding_the_talk_button_sends_one_turn_per_hold_and_gets_answers(
    fresh_lab: Lab, notebook_dir: Path, speech_wav: Path
) -> None:
    write_notebook(notebook_dir / "ptt.ipynb", _NOTEBOOK)
    with chromium(speech_wav) as browser:
        nb = NotebookPage(browser.new_page(), fresh_lab, "ptt.ipynb", timeout_s=240)
        start = nb.run_until_shown(".rtnb-mic .rtnb-start")
        talk = nb.page.locator(".rtnb-mic .rtnb-talk")
        assert not talk.is_visible()  # only a running push-to-talk capture offers the button
        start.click()
        nb.wait_js("window.__rtnb.mics[0].running", timeout_s=60)
        talk.wait_for(state="visible")
        time.sleep(1.0)  # the microphone runs, the button is up: nothing may be sent
        assert nb.js("window.__rtnb.mics[0].chunksSent") == 0

        held_ms = [_hold(nb, talk, HOLD_S)]
        _wait_responses(nb, 1)
        sent_after_release = nb.js("window.__rtnb.mics[0].chunksSent")
        time.sleep(0.5)
        assert nb.js("window.__rtnb.mics[0].chunksSent") == sent_after_release  # gate closed again
        held_ms.append(_hold(nb, talk, SECOND_HOLD_S))  # the next turn works the same way
        _wait_responses(nb, 2)
        report = nb.kernel_json(_KERNEL_REPORT)
        start.click()
        nb.execute("await session.close(); engine.stop()")

    events = report["events"]
    kinds = [e["type"] for e in events]
    assert kinds.count("input_audio_buffer.committed") == 2, events
    assert "input_audio_buffer.speech_started" not in kinds  # turn detection is off: the button decides
    assert "error" not in kinds, events
    done = [e for e in events if e["type"] == "response.done"]
    assert [e["status"] for e in done] == ["completed", "completed"], events
    # What reached the server is what was held: each committed item spans its hold, back to back.
    (a0, a1), (b0, b1) = report["spans"]
    assert a0 == 0 and b0 == pytest.approx(a1, abs=1) and b1 == pytest.approx(report["sent_ms"], abs=1)
    assert a1 - a0 == pytest.approx(held_ms[0], abs=HOLD_TOLERANCE_MS)
    assert b1 - b0 == pytest.approx(held_ms[1], abs=HOLD_TOLERANCE_MS)
    mic = report["mic"]
    assert mic["turns_committed"] == 2 and mic["send_errors"] == 0 and mic["dropped"] == 0, report
    assert mic["ms_received"] == pytest.approx(report["sent_ms"], abs=1)  # nothing arrived outside a hold
