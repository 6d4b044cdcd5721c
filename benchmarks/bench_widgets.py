"""Microphone -> kernel latency of the Mic widget, in JupyterLab in headless Chromium (fake microphone).

Run:  .venv/bin/python benchmarks/bench_widgets.py [--seconds 10] [--runs 3] [--chunk-ms 40]
      .venv/bin/python benchmarks/bench_widgets.py --only timeline [--rate 200] [--max-hz 4]
      (the second: kernel CPU of a LiveTimeline following a busy EventLog; see its section below)

Method. Each chunk carries the page time at which it was complete (``performance.now()`` when the
worklet handed it to the main thread) and is stamped on receipt in the kernel
(``time.perf_counter``). The two clocks differ by an unknown offset, estimated while streaming:

* ping / pong: the kernel pings the page (12 at start, then one every second), the page answers with
  its clock. A kernel -> page leg bounds the offset from above, a page -> kernel leg (pongs and the
  chunks themselves: a delay is never negative) from below. The estimate is the middle of the
  tightest interval; its half-width is the uncertainty printed. This works across machines.
* same machine only: ``performance.timeOrigin + performance.now()`` and ``time.time()`` read the
  same system clock, which gives an independent figure the ping estimate is checked against.

Latency = kernel receipt - (capture time translated to the kernel clock). It excludes the chunk's
own duration (the first sample is ``chunk_ms`` older) and the audio device's input latency.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser.harness import (  # after the sys.path line: the harness lives in the tests
    CHROMIUM,
    Lab,
    NotebookPage,
    chromium,
    synth_test_signal,
    write_notebook,
    write_wav,
)

_KERNEL_REPORT = """
import json as _j, numpy as _np
_s = mic.stats()
_info = mic.capture_info
_same = _info["kernel_wall_minus_clock_ms"] - _info["time_origin"]
_lat_same = mic.latencies_ms(offset_ms=_same)
_iv = mic._latency.intervals_ms()
lo, hi = mic._clock.bounds_ms
print(_j.dumps({"stats": _s, "same_machine_offset_ms": _same, "bounds": [lo, hi],
                "median_same_machine": float(_np.median(_lat_same)),
                "p90_same_machine": float(_np.percentile(_lat_same, 90)),
                "interval_p50": float(_np.median(_iv)), "interval_max": float(_iv.max())}, default=float))
"""


def run_once(lab: Lab, root: Path, wav: Path, seconds: float, chunk_ms: int, index: int) -> dict:
    name = f"bench_{index}.ipynb"
    write_notebook(root / name, [
        "from realtime_nb.widgets import Mic\n"
        f"mic = Mic(record_seconds=120, chunk_ms={chunk_ms}, echo_cancellation=False)\nmic",
    ])
    with chromium(wav) as browser:
        nb = NotebookPage(browser.new_page(), lab, name)
        start = nb.run_until_shown(".rtnb-mic .rtnb-start")
        start.click()
        n = int(seconds * 1000 / chunk_ms)
        nb.wait_js(f"window.__rtnb.mics[0].chunksSent >= {n}", timeout_s=seconds * 3 + 30)
        start.click()
        nb.wait_js("!window.__rtnb.mics[0].running")
        sent = nb.js("window.__rtnb.mics[0].chunksSent")
        deadline = time.monotonic() + 20
        while nb.kernel_json("mic.capture_info.get('chunks_sent')") != sent and time.monotonic() < deadline:
            time.sleep(0.1)
        report = json.loads(nb.execute(_KERNEL_REPORT))
    lab.shutdown_kernels()
    report["chunks_sent"] = sent
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunk-ms", type=int, default=40)
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="rtnb-bench-") as tmp:
        root = Path(tmp)
        wav = write_wav(root / "fake_mic.wav", synth_test_signal(6.0, 48000), 48000)
        lab = Lab(root)
        try:
            reports = [run_once(lab, root, wav, args.seconds, args.chunk_ms, i) for i in range(args.runs)]
        finally:
            lab.stop()
    print(f"Mic -> kernel latency, {args.runs} runs x {args.seconds:.0f} s, {args.chunk_ms} ms chunks "
          "(JupyterLab + headless Chromium, fake microphone)")
    print(f"{'run':>3} {'chunks':>6} {'lost':>4} {'median ms':>9} {'bounds of median':>17} {'±':>5}"
          f" {'p90':>6} {'same-machine median':>19} {'p90':>6} {'arrival gap p50/max':>20}")
    medians, same = [], []
    for i, r in enumerate(reports):
        s = r["stats"]
        lat = s["latency_ms"]
        lo_b, hi_b = s["latency_median_bounds_ms"]
        medians.append(lat["median"])
        same.append(r["median_same_machine"])
        gaps = f"{r['interval_p50']:.1f}/{r['interval_max']:.1f}"
        inside = r["bounds"][0] - 0.5 <= r["same_machine_offset_ms"] <= r["bounds"][1] + 0.5
        print(f"{i:>3} {s['chunks_received']:>6} {s['dropped']:>4} {lat['median']:>9.1f}"
              f" {f'[{lo_b:.1f}, {hi_b:.1f}]':>17} {s['clock_uncertainty_ms']:>5.1f} {lat['p90']:>6.1f}"
              f" {r['median_same_machine']:>19.1f} {r['p90_same_machine']:>6.1f}"
              f" {gaps:>20}"
              f"{'' if inside else '  (same-machine offset outside the ping bounds!)'}")
    print(f"median over runs: ping estimate {np.median(medians):.1f} ms, same-machine clock "
          f"{np.median(same):.1f} ms (goal: <= 20 ms)")


# ------------------------------------------------------------------------------------------------
# WaveformCompare draw time (no browser): goal <= 1 s for a 60 s item.
#
# Run:  .venv/bin/python benchmarks/bench_widgets.py --only waveform [--runs 5]
#
# The item is a hand-built EventLog of one 60 s server_vad turn: 60 s of the noisy_10db sample (tiled)
# appended in 100 ms chunks, speech_started / speech_stopped, commit, and a retrieval whose audio is
# the clean speech (what a perfect denoiser would keep). "draw" is what a notebook pays to show it:
# WaveformCompare.from_log (read the log, align, levels) plus building the widget (figure -> PNG,
# two in-memory WAVs, the table). The figure alone is timed too.


def waveform_item_log(seconds: float = 60.0) -> tuple[object, str]:
    from realtime_nb import samples
    from realtime_nb.audio import pcm_to_b64
    from realtime_nb.protocol import Dialect
    from realtime_nb.timeline import EventLog

    sample = samples.load("noisy_10db")
    n = int(seconds * sample.rate)
    reps = -(-n // sample.audio.size)
    raw = np.tile(sample.audio, reps)[:n]
    clean = np.tile(sample.clean, reps)[:n]
    item_id = "item_bench60"
    log = EventLog()
    step = sample.rate // 10
    for i in range(0, n, step):
        append = {"type": "input_audio_buffer.append", "audio": pcm_to_b64(raw[i : i + step], "pcm16")}
        log.record("sent", append, Dialect.GA)
    end_ms = round(seconds * 1000)
    item = {"id": item_id, "type": "message", "role": "user", "content": [{"type": "input_audio"}]}
    kept = {**item, "content": [{"type": "input_audio", "audio": pcm_to_b64(clean, "pcm16")}]}
    for event in (
        {"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": item_id},
        {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": end_ms, "item_id": item_id},
        {"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": None},
        {"type": "conversation.item.added", "item": item, "previous_item_id": None},
        {"type": "conversation.item.retrieved", "item": kept},
    ):
        log.record("received", event, Dialect.GA)
    return log, item_id


def bench_waveform(runs: int = 5, seconds: float = 60.0) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from realtime_nb.widgets.waveform import WaveformCompare

    log, item_id = waveform_item_log(seconds)
    _ = WaveformCompare.from_log(log, item_id).widget  # warm-up: imports, font cache
    print(f"\nWaveformCompare draw time, {seconds:.0f} s item, median of {runs} runs (goal: <= 1 s)")
    print(f"{'spectrogram':>11} {'draw: from_log + widget, s':>27} {'figure -> PNG, s':>17} {'PNG kB':>7}")
    for spectrogram in (False, True):
        whole, figure, size = [], [], 0
        for _ in range(runs):
            t0 = time.perf_counter()
            wc = WaveformCompare.from_log(log, item_id, spectrogram=spectrogram)
            _ = wc.widget
            whole.append(time.perf_counter() - t0)
            wc._png = None  # time the figure again on its own
            t1 = time.perf_counter()
            size = len(wc.png())
            figure.append(time.perf_counter() - t1)
        label = "with" if spectrogram else "without"
        print(f"{label:>11} {np.median(whole):>27.3f} {np.median(figure):>17.3f} {size / 1024:>7.0f}")


# ------------------------------------------------------------------------------------------------
# LiveTimeline kernel CPU (JupyterLab + headless Chromium): goal < 10 % of a core at 200 events/s.
#
# Run:  .venv/bin/python benchmarks/bench_widgets.py --only timeline [--rate 200] [--max-hz 4]
#
# A real EventLog in a real kernel (JupyterLab, the timeline displayed in headless Chromium) is fed
# a realistic event mix at `rate` events/s: mostly 40 ms appends and 200 ms audio deltas with their
# base64 audio, plus transcript deltas and a turn's landmarks. Kernel CPU = process time / wall time
# of the kernel process (all its threads: the ZMQ I/O thread that ships comm messages counts) over
# 1 s windows; the median window is reported, once without a timeline and once with one following
# the log. The feeder's own cost (recording, base64 decoding) is in both figures.

_TIMELINE_SETUP = r"""
import asyncio, base64, statistics, time
import numpy as np
from realtime_nb.protocol import Dialect
from realtime_nb.timeline import EventLog
from realtime_nb.widgets import LiveTimeline

_b64 = lambda ms: base64.b64encode(np.zeros(24 * ms, np.int16).tobytes()).decode()
_APPEND, _DELTA = _b64(40), _b64(200)

def _event(i):
    k = i % 20
    if k < 10:
        return "sent", {"type": "input_audio_buffer.append", "event_id": f"e{i}", "audio": _APPEND}
    ids = {"response_id": f"r{i // 20}", "item_id": f"i{i // 20}", "output_index": 0, "content_index": 0}
    if k < 15:
        delta = {"type": "response.output_audio.delta", "event_id": f"s{i}", **ids, "delta": _DELTA}
        return "received", delta
    if k < 18:
        return "received", {"type": "response.output_audio_transcript.delta", "event_id": f"s{i}", **ids,
                            "delta": "a few words"}
    if k == 18:
        return "received", {"type": "input_audio_buffer.speech_started", "event_id": f"s{i}",
                            "audio_start_ms": i * 5, "item_id": f"u{i}"}
    return "received", {"type": "conversation.item.added", "event_id": f"s{i}", "previous_item_id": None,
                        "item": {"id": f"u{i}", "type": "message", "role": "user", "status": "completed",
                                 "content": [{"type": "input_audio", "transcript": None}]}}

async def drive(log, rate, seconds, window_s=1.0):
    loop = asyncio.get_running_loop()
    start = loop.time()
    n = 0
    windows = []
    w_wall, w_cpu = time.perf_counter(), time.process_time()
    while loop.time() - start < seconds:
        due = int((loop.time() - start) * rate)
        while n < due:
            direction, event = _event(n)
            log.record(direction, event, Dialect.GA)
            n += 1
        wall = time.perf_counter()
        if wall - w_wall >= window_s:
            cpu = time.process_time()
            windows.append(100.0 * (cpu - w_cpu) / (wall - w_wall))
            w_wall, w_cpu = wall, cpu
        await asyncio.sleep(0.005)
    return {"events": n, "seconds": loop.time() - start, "windows": windows,
            "median_cpu_pct": statistics.median(windows)}

log_without, log_with = EventLog(), EventLog()
"""


def bench_live_timeline(lab: Lab, root: Path, seconds: float, rate: int, max_hz: float) -> dict:
    """Kernel CPU % while an EventLog takes `rate` events/s, without and with a LiveTimeline."""
    name = "bench_timeline.ipynb"
    show = f"timeline = LiveTimeline(log_with, max_hz={max_hz})\ntimeline"
    write_notebook(root / name, [_TIMELINE_SETUP, show])
    with chromium() as browser:
        nb = NotebookPage(browser.new_page(), lab, name)
        nb.run_until_shown(".rtnb-timeline canvas")
        nb.wait_js("window.__rtnb.timelines && window.__rtnb.timelines.length > 0")
        nb.kernel_json("await drive(EventLog(), 200, 2.0)")  # warm-up: imports, first allocations
        without = nb.kernel_json(f"await drive(log_without, {rate}, {seconds})")
        with_tl = nb.kernel_json(f"await drive(log_with, {rate}, {seconds})")
        time.sleep(1.0)  # the last push
        kernel = nb.kernel_json("{'pushes': timeline.pushes, 'rows_pushed': timeline.rows_pushed}")
        page = nb.js("{rows: window.__rtnb.timelines[0].rows, draws: window.__rtnb.timelines[0].draws}")
    lab.shutdown_kernels()
    return {"without": without, "with": with_tl, "kernel": kernel, "page": page}


def main_live_timeline(seconds: float = 10.0, rate: int = 200, max_hz: float = 4.0) -> None:
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="rtnb-bench-") as tmp:
        lab = Lab(Path(tmp))
        try:
            r = bench_live_timeline(lab, Path(tmp), seconds, rate, max_hz)
        finally:
            lab.stop()
    w, wo = r["with"], r["without"]
    print(
        f"LiveTimeline kernel CPU, {rate} events/s for {seconds:.0f} s, max {max_hz:g} pushes/s "
        "(JupyterLab + headless Chromium; process time / wall time per 1 s window)"
    )
    for label, run in (("without timeline", wo), ("with timeline", w)):
        ws = ", ".join(f"{x:.1f}" for x in run["windows"])
        print(
            f"  {label:<17} median {run['median_cpu_pct']:5.1f} % of a core   "
            f"({run['events']} events in {run['seconds']:.1f} s; windows: {ws})"
        )
    k = r["kernel"]
    print(
        f"  timeline cost    {w['median_cpu_pct'] - wo['median_cpu_pct']:+5.1f} points; "
        f"{k['pushes']} pushes ({k['pushes'] / w['seconds']:.1f}/s), {k['rows_pushed']} rows pushed, "
        f"page holds {r['page']['rows']} rows after {r['page']['draws']} draws "
        "(goal: < 10 % of a core with the timeline)"
    )


def _main_with_sections() -> None:
    """``--only mic|waveform|timeline`` runs one section; without it all run, mic first."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--only", choices=("mic", "waveform", "timeline"))
    parser.add_argument("--runs", type=int)
    parser.add_argument("--rate", type=int, default=200)  # timeline: events/s
    parser.add_argument("--max-hz", type=float, default=4.0)  # timeline: pushes/s at most
    known, rest = parser.parse_known_args()
    if known.only in (None, "mic"):
        sys.argv = [sys.argv[0], *rest, *(["--runs", str(known.runs)] if known.runs else [])]
        main()
    if known.only in (None, "waveform"):
        bench_waveform(known.runs or 5)
    if known.only in (None, "timeline"):
        seconds = argparse.ArgumentParser(add_help=False)
        seconds.add_argument("--seconds", type=float, default=10.0)
        main_live_timeline(seconds.parse_known_args(rest)[0].seconds, known.rate, known.max_hz)


if __name__ == "__main__":
    _main_with_sections()
