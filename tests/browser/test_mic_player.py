"""Mic and Player in JupyterLab in headless Chromium, with a fake microphone playing a WAV file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from tests.browser.harness import (
    Lab,
    NotebookPage,
    chromium,
    segment_similarity,
    synth_test_signal,
    write_notebook,
    write_wav,
)

WAV_RATE = 48000
STREAM_CHUNKS = 100  # 4 s of 40 ms chunks


@pytest.fixture(scope="module")
def fake_mic_wav(notebook_dir: Path) -> Path:
    return write_wav(notebook_dir / "fake_mic.wav", synth_test_signal(6.0, WAV_RATE), WAV_RATE)


def _reference_24k(wav_rate: int = WAV_RATE) -> np.ndarray:
    import soxr

    return soxr.resample(synth_test_signal(6.0, wav_rate).astype(np.float32), wav_rate, 24000)


def _wait_kernel_caught_up(nb: NotebookPage, chunks_sent: int, timeout_s: float = 20.0) -> dict:
    """Mic stats once the kernel has handled the page's "stopped" message (sent after the last chunk)."""
    deadline = time.monotonic() + timeout_s
    while True:
        stats = nb.kernel_json("mic.stats()")
        if stats["capture"].get("chunks_sent") == chunks_sent or time.monotonic() > deadline:
            return stats
        time.sleep(0.1)


@pytest.mark.parametrize("context_rate", [0, 44100, 16000], ids=["default-rate", "44k1", "16k"])
def test_mic_streams_the_fake_microphone_without_loss(
    fresh_lab: Lab, notebook_dir: Path, fake_mic_wav: Path, context_rate: int
) -> None:
    name = f"mic_{context_rate}.ipynb"
    write_notebook(notebook_dir / name, [
        "from realtime_nb.widgets import Mic\n"
        f"mic = Mic(record_seconds=60, context_rate={context_rate}, echo_cancellation=False)\nmic",
    ])
    with chromium(fake_mic_wav) as browser:
        nb = NotebookPage(browser.new_page(), fresh_lab, name)
        start = nb.run_until_shown(".rtnb-mic .rtnb-start")
        start.click()  # a real user gesture: the AudioContext is created in this handler
        nb.wait_js(f"window.__rtnb.mics[0].chunksSent >= {STREAM_CHUNKS}", timeout_s=60)
        start.click()
        nb.wait_js("!window.__rtnb.mics[0].running")
        page_stats = nb.js("window.__rtnb.mics[0]")
        stats = _wait_kernel_caught_up(nb, page_stats["chunksSent"])
        nb.execute("import numpy as _np; _np.save('received.npy', mic.recorded())")

    received = np.load(notebook_dir / "received.npy")
    assert page_stats["error"] == ""
    if context_rate:
        assert page_stats["contextRate"] == context_rate
    assert stats["capture"]["rate"] == 24000
    assert stats["capture"]["chunk_samples"] == 960
    assert stats["chunks_received"] == page_stats["chunksSent"] >= STREAM_CHUNKS
    assert stats["dropped"] == 0 and stats["late"] == 0
    assert len(received) == page_stats["samplesSent"]
    assert stats["ms_received"] == pytest.approx(len(received) / 24)
    assert stats["clock_samples"] >= 1
    scores = segment_similarity(received[2400:], _reference_24k())  # skip the first 100 ms (start-up)
    print(json.dumps({"context_rate": page_stats["contextRate"], "ncc_median": float(np.median(scores)),
                      "ncc_min": float(scores.min()), "latency_ms": stats["latency_ms"],
                      "clock_uncertainty_ms": stats["clock_uncertainty_ms"]}))
    assert np.median(scores) > 0.9, scores


def _open_player(lab: Lab, notebook_dir: Path, browser: object, name: str, setup: str = "") -> NotebookPage:
    write_notebook(notebook_dir / name, [
        "import numpy as np\nfrom realtime_nb.widgets import Player\n" + setup,
        "player = Player(session)\nplayer" if setup else "player = Player()\nplayer",
    ])
    nb = NotebookPage(browser.new_page(), lab, name)  # type: ignore[attr-defined]
    enable = nb.run_until_shown(".rtnb-player .rtnb-enable")
    enable.click()  # user gesture: starts the AudioContext
    nb.wait_js("window.__rtnb.players[0].state === 'running'")
    return nb


_FEED_TONE = """
t = np.arange(int(24000 * {seconds})) / 24000
tone = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
for i in range(0, len(tone), 960):
    player.feed("item_t", tone[i:i + 960])
"""


def test_player_plays_kernel_audio_and_reports_what_was_heard(fresh_lab: Lab, notebook_dir: Path) -> None:
    with chromium() as browser:
        nb = _open_player(fresh_lab, notebook_dir, browser, "player.ipynb")
        nb.execute(_FEED_TONE.format(seconds=1.5))
        nb.wait_js("window.__rtnb.players[0].queued === 38 && window.__rtnb.players[0].ended === 38",
                   timeout_s=30)
        page = nb.js("window.__rtnb.players[0]")
        kernel = nb.kernel_json("{'played': player.played_ms_of('item_t'), "
                                "'received': player.received_ms_of('item_t'), 'active': player._active}")
    assert page["received"] == 38 and page["stopped"] == 0
    assert page["secondsPlayed"] == pytest.approx(1.5, abs=1e-3)
    assert page["maxRms"] > 0.1  # a 0.3-amplitude sine has RMS 0.21
    assert kernel["received"] == pytest.approx(1500.0)
    assert kernel["played"] == pytest.approx(1500.0, abs=1.0)
    assert kernel["active"] is False


_STAND_IN_SESSION = """
class StandInSession:  # the Realtime session is outside the thing under test
    def __init__(self):
        self.handlers, self.calls = {}, []
    def on(self, kind, cb):
        self.handlers.setdefault(kind, []).append(cb)
    async def truncate(self, item_id, content_index=0, audio_end_ms=0):
        self.calls.append((item_id, content_index, audio_end_ms))
    def emit(self, event):
        for cb in self.handlers.get(event["type"], []):
            cb(event)
session = StandInSession()
"""


def test_barge_in_truncates_at_the_audio_actually_played(fresh_lab: Lab, notebook_dir: Path) -> None:
    with chromium() as browser:
        nb = _open_player(fresh_lab, notebook_dir, browser, "barge_in.ipynb", setup=_STAND_IN_SESSION)
        nb.execute(_FEED_TONE.format(seconds=4.0))
        nb.wait_js("window.__rtnb.players[0].secondsPlayed >= 1.0", timeout_s=30)
        nb.execute("session.emit({'type': 'input_audio_buffer.speech_started', 'audio_start_ms': 0, "
                   "'item_id': 'item_user'})")
        nb.wait_js("window.__rtnb.players[0].ended + window.__rtnb.players[0].stopped"
                   " === window.__rtnb.players[0].queued")
        deadline = time.monotonic() + 10
        while not (calls := nb.kernel_json("session.calls")) and time.monotonic() < deadline:
            time.sleep(0.1)
        page = nb.js("window.__rtnb.players[0]")
        truncation = nb.kernel_json("player.truncations[0]")
    assert len(calls) == 1
    item, content_index, audio_end_ms = calls[0]
    assert (item, content_index) == ("item_t", 0)
    assert page["stopped"] > 0 and page["queued"] == 100
    # What the kernel truncated at is what the page says it played, to the ms.
    assert abs(audio_end_ms - page["secondsPlayed"] * 1000) < 1
    assert 1000 <= audio_end_ms < 4000
    assert truncation["received_ms"] == pytest.approx(4000.0)


def test_denied_microphone_shows_a_message_and_raises_in_python(
    fresh_lab: Lab, notebook_dir: Path, fake_mic_wav: Path
) -> None:
    write_notebook(notebook_dir / "denied.ipynb", ["from realtime_nb.widgets import Mic\nmic = Mic()\nmic"])
    with chromium(fake_mic_wav, extra_args=["--deny-permission-prompts"], fake_ui=False) as browser:
        nb = NotebookPage(browser.new_page(), fresh_lab, "denied.ipynb")
        start = nb.run_until_shown(".rtnb-mic .rtnb-start")
        start.click()
        error = nb.page.locator(".rtnb-mic .rtnb-error")
        error.wait_for(timeout=40_000)
        shown = error.inner_text()
        with pytest.raises(Exception, match="MicError: NotAllowedError: microphone permission denied"):
            nb.execute("mic.stats()")
        after = nb.kernel_json("mic.stats()['chunks_received']")  # raised once, then usable again
        page = nb.js("window.__rtnb.mics[0]")
    assert "permission denied" in shown
    assert after == 0 and page["running"] is False and page["chunksSent"] == 0
