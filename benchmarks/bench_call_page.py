"""End of the microphone's speech -> first audible answer sample, measured in the page (JupyterLab +
headless Chromium, fake microphone, the kernel's embedded engine over loopback), for the WebRTC `Call`
and for the comm `Mic` + `Player`, in one run.

Run:  .venv/bin/python benchmarks/bench_call_page.py [--turns 9] [--only call|comm]

Both legs run one after the other on one JupyterLab server, each in a fresh kernel and a fresh
browser, against the same kind of engine: `realtime_nb.notebook.local_engine()` inside the kernel
(what `Call()` uses; the comm leg's `RealtimeSession` talks WebSocket to it), server VAD with its
default silence window (SILENCE_MS), the echo responder ("You said: ...").

The fake microphone loops a file: a short question, then enough silence for the answer to play out
before the question comes again, so every loop is one turn. The first turn of each leg is dropped
(models and codecs warm up on it); the next `--turns` are measured.

How the page measures (tests/browser/page_probe.js, installed before JupyterLab loads; it does not
change what the widgets do):

* End of speech: the stream `getUserMedia` returns is tapped by an AudioWorklet level detector in the
  probe's own AudioContext. The file's speech is surrounded by digital silence, so the end of speech
  is the sample after the last one above -60 dBFS before 400 ms of quiet: the file's labelled end
  (the labelled spans are checked against the captured ones: duration and loop period are printed).
* First audible answer sample: the same detector at -40 dBFS on what the page plays: for the Call,
  the remote WebRTC track (every track a peer connection receives); for the Player, the WebAudio node
  the Player connects to its context's destination (the scheduled chunks, as rendered).
* Clocks: each detector reports its context's render time of the sample (frame / sampleRate); the
  page moves it to ``performance.now()`` on receipt as ``now - (ctx.currentTime - t)``, so the
  message's delay cancels. Speech end and answer onset are then on one clock (the page's), and the
  latency is their difference minus the silence window: what the server must wait is not counted.
  Neither figure includes the device's output latency (the same for both paths).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser.call_page import Probe, SpeechFile, answer_latencies, call_browser
from tests.browser.harness import CHROMIUM, Lab, NotebookPage, write_notebook

QUESTION = "What is the weather like today?"
LEAD_MS, TAIL_MS = 1500, 3500  # the loop: 1.5 s + question (~1.8 s) + 3.5 s; the answer fits the gap
GOAL_OVER_SILENCE_MS = 200

_ENGINE = (
    "from realtime_nb.notebook import local_engine\n"
    "from realtime_nb.protocol import ServerVad\n"
    "engine = local_engine()\n"
    "engine.wait_ready()\n"
    "SILENCE_MS = ServerVad().silence_duration_ms"
)
_COMM = [
    _ENGINE,
    "from realtime_nb.client import Endpoint, RealtimeSession\n"
    "from realtime_nb.widgets import Mic, Player\n"
    "session = RealtimeSession(Endpoint.local(engine.url), timeout=120, response_timeout=120)\n"
    "await session.connect()",
    "player = Player(session)\nplayer",
    "mic = Mic(session, echo_cancellation=False)\nmic",
]
_CALL = [
    _ENGINE,
    "from realtime_nb.widgets import Call\ncall = Call(echo_cancellation=False)\ncall",
]


def _wait_turns(nb: NotebookPage, source: str, turns: int, timeout_s: float) -> Probe:
    """Until `turns` + 1 spans of speech have ended and each has had its answer (or time is up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        probe = Probe.read(nb)
        rows = answer_latencies(probe, source, 0.0)
        if sum(np.isfinite(r["latency_ms"]) for r in rows) >= turns + 1 or time.monotonic() > deadline:
            return probe
        time.sleep(1.0)


def comm_leg(lab: Lab, root: Path, speech: SpeechFile, turns: int) -> tuple[Probe, float]:
    write_notebook(root / "bench_comm.ipynb", _COMM)
    with call_browser(speech.path) as browser:
        nb = NotebookPage(browser.new_page(), lab, "bench_comm.ipynb", timeout_s=240)
        start = nb.run_until_shown(".rtnb-mic .rtnb-start")
        nb.page.locator(".rtnb-player .rtnb-enable").click()
        start.click()
        probe = _wait_turns(nb, "webaudio", turns, (turns + 3) * speech.loop_ms / 1000 + 60)
        silence = float(nb.execute("print(SILENCE_MS)"))
        start.click()
        nb.execute("await session.close()")
    lab.shutdown_kernels()
    return probe, silence


def call_leg(lab: Lab, root: Path, speech: SpeechFile, turns: int) -> tuple[Probe, float]:
    write_notebook(root / "bench_call.ipynb", _CALL)
    with call_browser(speech.path) as browser:
        nb = NotebookPage(browser.new_page(), lab, "bench_call.ipynb", timeout_s=240)
        start = nb.run_until_shown(".rtnb-call .rtnb-start")
        start.click()
        # wait on the page, not the kernel: no cell runs during the measured turns (as in the comm leg)
        nb.wait_js("window.__rtnbProbe.dc.some(m => m.type === 'session.created')", timeout_s=60)
        probe = _wait_turns(nb, "rtc", turns, (turns + 3) * speech.loop_ms / 1000 + 60)
        silence = float(nb.execute("print(SILENCE_MS)"))
        nb.execute("await call.hangup()")
    lab.shutdown_kernels()
    return probe, silence


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _report(
    name: str, probe: Probe, source: str, silence: float, speech: SpeechFile, turns: int
) -> list[float]:
    rows = answer_latencies(probe, source, silence)[1 : turns + 1]  # the first turn warms up
    lat = [r["latency_ms"] for r in rows if np.isfinite(r["latency_ms"])]
    spans = probe.speech()
    durations = [e - s for s, e in spans]
    periods = np.diff([s for s, _ in spans])
    print(
        f"{name:<22} {len(lat):>2}/{len(rows):<2} {_pct(lat, 50):>8.1f} {_pct(lat, 95):>8.1f} "
        f"{min(lat, default=float('nan')):>8.1f} {max(lat, default=float('nan')):>8.1f}   "
        f"speech {np.median(durations):.0f} ms (file {speech.duration_ms:.0f}), "
        f"period {np.median(periods) if periods.size else float('nan'):.0f} ms (file {speech.loop_ms:.0f})"
    )
    return lat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=9)
    parser.add_argument("--only", choices=("call", "comm"))
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install chromium")
    results: dict[str, tuple[Probe, float]] = {}
    with tempfile.TemporaryDirectory(prefix="rtnb-bench-call-") as tmp:
        root = Path(tmp)
        speech = SpeechFile.utterance(root, QUESTION, lead_ms=LEAD_MS, tail_ms=TAIL_MS)
        lab = Lab(root)
        try:
            if args.only in (None, "call"):
                results["call"] = call_leg(lab, root, speech, args.turns)
            if args.only in (None, "comm"):
                results["comm"] = comm_leg(lab, root, speech, args.turns)
        finally:
            lab.stop()
    print(
        "End of the fake microphone's speech -> first audible answer sample in the page, ms beyond the "
        "silence window\n(JupyterLab + headless Chromium, embedded engine over loopback; page clock; "
        "see the docstring)"
    )
    print(f"{'path':<22} {'turns':>5} {'p50':>8} {'p95':>8} {'min':>8} {'max':>8}")
    figures = {}
    if "call" in results:
        probe, silence = results["call"]
        figures["call"] = _report("WebRTC Call", probe, "rtc", silence, speech, args.turns)
    if "comm" in results:
        probe, silence = results["comm"]
        figures["comm"] = _report("comm Mic + Player", probe, "webaudio", silence, speech, args.turns)
    if "call" in figures:
        p95 = _pct(figures["call"], 95)
        print(
            f"goal: WebRTC p95 <= silence + {GOAL_OVER_SILENCE_MS} ms: {p95:.1f} ms -> "
            f"{'met' if p95 <= GOAL_OVER_SILENCE_MS else 'NOT met'}"
        )
    if len(figures) == 2:
        d50 = _pct(figures["call"], 50) - _pct(figures["comm"], 50)
        d95 = _pct(figures["call"], 95) - _pct(figures["comm"], 95)
        print(
            f"goal: WebRTC not slower than comm: p50 {d50:+.1f} ms, p95 {d95:+.1f} ms -> "
            f"{'met' if d95 <= 0 and d50 <= 0 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
