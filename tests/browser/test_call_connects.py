"""The Call widget in JupyterLab + headless Chromium: the page's peer connection reaches the embedded
engine over loopback WebRTC (the kernel doing the SDP exchange), a spoken turn from the fake
microphone lands in ``call.log``, and the answer plays in the page.

The smoke test of the widget's page side; the other browser tests of the Call (failure cases,
TuningPanel, barge-in, counts) and its latency benchmark live elsewhere.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.browser.harness import Lab, NotebookPage, chromium, write_notebook

WEBRTC_ARGS = [
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]

_NOTEBOOK = [
    "from realtime_nb.engine import start_engine\n"
    "from realtime_nb.client import Endpoint\n"
    "from realtime_nb.protocol import ServerVad, SessionConfig\n"
    "from realtime_nb.widgets import Call\n"
    "engine = start_engine(preload=True)\n"
    "call = Call(Endpoint.local(engine.url), config=SessionConfig(turn_detection=ServerVad()), timeout=60)\n"
    "call",
]


@pytest.fixture(scope="module")
def speech(notebook_dir: Path) -> Path:
    samples = pytest.importorskip("realtime_nb.samples")
    sample = samples.utterance("Could you tell me what the weather is like today?", lead_ms=800,
                               tail_ms=9000)
    return sample.save(notebook_dir / "call_speech.wav")


def _types(nb: NotebookPage) -> list[str]:
    return nb.kernel_json("[r for r in call.log.frame()['type'].astype(str)]")


def test_call_connects_and_a_turn_lands_in_the_log(fresh_lab: Lab, notebook_dir: Path, speech: Path) -> None:
    write_notebook(notebook_dir / "call.ipynb", _NOTEBOOK)
    with chromium(speech, extra_args=WEBRTC_ARGS) as browser:
        nb = NotebookPage(browser.new_page(), fresh_lab, "call.ipynb", timeout_s=240)
        button = nb.run_until_shown(".rtnb-call .rtnb-start")
        t0 = time.monotonic()
        button.click()
        nb.execute("await call.connected(timeout=30)")
        connect_s = time.monotonic() - t0
        assert nb.kernel_json("call.state") == "connected"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "response.done" not in _types(nb):
            time.sleep(0.5)
        nb.wait_js("window.__rtnb.calls[0].firstAudibleMs !== null", timeout_s=60)
        page = nb.js("window.__rtnb.calls[0]")
        item = nb.kernel_json("[e for e in call.log.frame().itertuples() if e.type == "
                              "'input_audio_buffer.speech_started'][0].item_id")
        try:
            alignment = nb.kernel_json(f"await call.measure_alignment({item!r})")
        except Exception:
            print("\n".join(nb.console[-30:]), nb.kernel_json("call.stats()"))
            raise
        stats = nb.kernel_json("call.stats()")
        types = _types(nb)
        nb.execute("await call.hangup()")
        calls_left = nb.kernel_json("engine.stats().get('calls_calls', 0)")
        state = nb.kernel_json("call.state")
        nb.execute("engine.stop()")

    print(f"connect {connect_s:.2f} s; clock ±{stats['clock_uncertainty_ms']:.2f} ms; alignment {alignment}")
    assert connect_s < 30
    assert alignment["correlation"] > 0.3, alignment  # the tap and the service's copy are the same speech
    assert "input_audio_buffer.speech_started" in types and "response.done" in types, types
    assert "output_audio_buffer.started" in types
    assert page["dcReceived"] >= types.count("response.done")
    assert page["rxAudibleSamples"] > 0 and page["txChunks"] > 0
    assert stats["clock_uncertainty_ms"] is not None and stats["clock_uncertainty_ms"] < 50
    assert stats["sent_samples"] > 0
    assert calls_left == 0 and state == "closed"
