"""Take the README's screenshots from a real run: JupyterLab in headless Chromium, the embedded engine,
the fake microphone playing a bundled sample.

    .venv/bin/python scripts/screenshots.py [--out docs/images]

Writes ``dashboard.png`` (mic, player, tuning panel and live timeline after one spoken turn and a
slider move) and ``waveform.png`` (WaveformCompare of a noisy turn under far_field noise reduction).
Needs Debian's Chromium (``make test`` installs it) and the voice extra for the sample.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser.harness import Lab, NotebookPage, chromium, write_notebook  # noqa: E402

SETUP = """\
import asyncio
from realtime_nb import samples, start_engine
from realtime_nb.client import Endpoint, RealtimeSession
from realtime_nb.widgets import WaveformCompare, dashboard
engine = start_engine()
session = RealtimeSession(Endpoint.local(engine.url), timeout=120)
await session.connect()
board = dashboard(session, window_s=12)
"""
SHOW_BOARD = "board"
# The waveform view: a noisy turn through far_field, replayed from the file (no microphone needed).
WAVEFORM = """\
noisy = RealtimeSession(Endpoint.local(engine.url), timeout=120)
await noisy.connect()
await noisy.update_session(noise_reduction="far_field")
await noisy.stream_file(samples.ensure("noisy_10db"), speed=0)
await noisy.wait_for("input_audio_buffer.committed", timeout=60)
item_id = noisy.log.frame().query("type == 'input_audio_buffer.committed'")["item_id"].iloc[0]
view = await WaveformCompare.create(noisy, item_id, spectrogram=True)
view
"""


def take(out: Path) -> list[Path]:
    from realtime_nb import samples

    out.mkdir(parents=True, exist_ok=True)
    speech = samples.ensure("single")  # one spoken turn for the fake microphone
    with tempfile.TemporaryDirectory(prefix="rtnb-shots-") as tmp:
        root = Path(tmp)
        write_notebook(root / "shots.ipynb", [SETUP, SHOW_BOARD, WAVEFORM])
        lab = Lab(root)
        try:
            with chromium(fake_audio=speech) as browser:
                page = browser.new_page()
                page.set_viewport_size({"width": 1700, "height": 1400})
                nb = NotebookPage(page, lab, "shots.ipynb", timeout_s=300)
                nb.run_all()
                page.locator(".rtnb-mic button.rtnb-start").wait_for(timeout=300_000)
                nb.wait_idle()
                nb.execute("board.panel.set(transcription=True)")
                # One spoken turn through the page's microphone and the engine's answer, then a
                # slider move: what a researcher sees after a minute of use.
                page.locator(".rtnb-mic button.rtnb-start").click()
                nb.page.wait_for_function(
                    "() => window.__rtnb.players.some(p => p.ended > 0)", polling=200, timeout=90_000
                )
                page.locator(".rtnb-mic button.rtnb-start").click()  # stop the microphone
                nb.execute("board.panel.set(silence_duration_ms=700)")
                nb.execute("await asyncio.sleep(4)")  # the kernel loop runs: the answer and timeline redraws
                cells = page.locator(".jp-Cell")
                board = cells.nth(1).locator(".jp-OutputArea")
                board.scroll_into_view_if_needed()
                shots = [out / "dashboard.png", out / "waveform.png"]
                board.screenshot(path=str(shots[0]))
                wave = cells.nth(2).locator(".jp-OutputArea")
                wave.locator("img").first.wait_for(timeout=120_000)
                wave.scroll_into_view_if_needed()
                wave.screenshot(path=str(shots[1]))
        finally:
            lab.stop()
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images", help="where the PNGs go")
    args = parser.parse_args(argv)
    for path in take(args.out):
        shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        print(f"{shown}  {path.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
