"""WebSocket vs WebRTC on the local engine over loopback, the same audio through both (one run).

    .venv/bin/python benchmarks/bench_webrtc.py [--quick]

The engine runs as `realtime-nb serve --preload` in a subprocess (as bench_engine.py does), so the
clients here do not share its GIL. Speech is `realtime_nb.samples.load("turns")` (three utterances,
10.7 s), repeated; server VAD with 500 ms of silence.

1. Latency, one session per transport streaming the same audio in real time: end of speech ->
   ``input_audio_buffer.speech_stopped`` and end of speech -> first answer audio *received by the
   client* (WebSocket: the first ``response.output_audio.delta``'s arrival; WebRTC: the first audible
   track frame's arrival), both from the log's `turns()` (end of speech = when the client sent the
   audio at ``audio_end_ms - silence``), printed minus the silence window. Goals: WebRTC first
   audio <= silence + 150 ms p95; WebRTC adds <= 60 ms over WebSocket (p95).
2. Load: N concurrent WebRTC calls (8; 2 with --quick) for ~40 s: the engine process's CPU seconds per
   call-second, speech_stopped delay per 10 s window (a growing backlog shows as a rising delay) and
   missed turns (a turn with no answer).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import ServeProcess, _pct, _summary

from realtime_nb import samples
from realtime_nb.client import Endpoint, RealtimeSession
from realtime_nb.protocol import ServerVad, SessionConfig

SILENCE_MS = 500
GOAL_FIRST_AUDIO_MS = 150  # beyond the silence window, p95
GOAL_ADDED_MS = 60
TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _wav(passes: int, folder: Path) -> tuple[Path, int]:
    sample = samples.load("turns")
    audio = np.concatenate([sample.audio] * passes)
    path = samples.Sample(audio, sample.rate, (), "turns_x").save(folder / f"turns_x{passes}.wav")
    return path, len(sample.segments) * passes


def _session(url: str, transport: str) -> RealtimeSession:
    config = SessionConfig(
        turn_detection=ServerVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=SILENCE_MS)
    )
    kw: dict[str, Any] = {"transport": transport, "config": config, "timeout": 60.0}
    return RealtimeSession(Endpoint.local(url), **kw)


async def _one_stream(
    url: str, transport: str, wav: Path, expected: int
) -> tuple[list[dict[str, Any]], float]:
    """Stream ``wav`` in real time (+2 s of silence), wait for every answer; the log's turns and how
    long the call was live (s)."""
    t0 = time.monotonic()
    async with _session(url, transport) as s:
        await s.stream_file(wav, tail_silence_ms=2000)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            frame = s.log.frame()
            done = (frame["type"] == "response.done").sum()
            stopped = (frame["type"] == "output_audio_buffer.stopped").sum()
            if done >= expected and (transport == "websocket" or stopped >= expected):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.3)
    return s.log.turns().to_dict("records"), time.monotonic() - t0


def _latencies(turns: list[dict[str, Any]], transport: str) -> tuple[list[float], list[float]]:
    stop, first = [], []
    audio_col = "t_first_audible" if transport == "webrtc" else "t_first_audio"
    for t in turns:
        end = t.get("t_speech_end")
        if end is None or not np.isfinite(end):
            continue
        if np.isfinite(t.get("t_speech_stopped", np.nan)):
            stop.append((t["t_speech_stopped"] - end) * 1000 - SILENCE_MS)
        if np.isfinite(t.get(audio_col, np.nan)):
            first.append((t[audio_col] - end) * 1000 - SILENCE_MS)
    return stop, first


async def bench_latency(url: str, passes: int, folder: Path) -> None:
    wav, expected = _wav(passes, folder)
    print(
        f"1. latency, the same {expected} turns through each transport (beyond the {SILENCE_MS} ms silence)"
    )
    results: dict[str, tuple[list[float], list[float]]] = {}
    for transport in ("websocket", "webrtc"):
        turns, _ = await _one_stream(url, transport, wav, expected)
        results[transport] = _latencies(turns, transport)
        stop, first = results[transport]
        print(f"   {transport:9s} end of speech -> speech_stopped     {_summary(stop)}")
        print(f"   {transport:9s} end of speech -> first audio recv'd {_summary(first)}")
        print(f"   {transport:9s} answered {len(first)}/{expected}")
    ws_first, rtc_first = results["websocket"][1], results["webrtc"][1]
    for q, name in ((50, "p50"), (95, "p95")):
        print(f"   WebRTC - WebSocket, first audio {name}: {_pct(rtc_first, q) - _pct(ws_first, q):+7.1f} ms")
    p95 = _pct(rtc_first, 95)
    added = p95 - _pct(ws_first, 95)
    print(
        f"   goal: WebRTC first audio <= silence + {GOAL_FIRST_AUDIO_MS} ms p95: {p95:.1f} ms -> "
        f"{'met' if p95 <= GOAL_FIRST_AUDIO_MS else 'NOT met'}"
    )
    print(
        f"   goal: WebRTC adds <= {GOAL_ADDED_MS} ms over WebSocket (p95): {added:+.1f} ms -> "
        f"{'met' if added <= GOAL_ADDED_MS else 'NOT met'}"
    )


async def bench_load(serve: ServeProcess, calls: int, passes: int, folder: Path) -> None:
    wav, expected = _wav(passes, folder)
    print(f"2. {calls} concurrent WebRTC calls, {passes * 10.7:.0f} s of speech each ({expected} turns)")
    cpu0, t0 = _cpu_s(serve.pid), time.monotonic()
    outcomes = await asyncio.gather(*(_one_stream(serve.url, "webrtc", wav, expected) for _ in range(calls)))
    wall, cpu = time.monotonic() - t0, _cpu_s(serve.pid) - cpu0
    per_call = [turns for turns, _ in outcomes]
    call_s = sum(live for _, live in outcomes)
    print(f"   engine CPU: {cpu:.1f} s over {call_s:.1f} call-s = {cpu / call_s:.3f} CPU s per call-second")
    print(f"   ({cpu / wall:.2f} cores busy, {calls} calls, {wall:.1f} s; this machine has {os.cpu_count()})")
    windows: dict[int, list[float]] = {}
    missed = 0
    for turns in per_call:
        start = min(
            (t["t_speech_end"] for t in turns if np.isfinite(t.get("t_speech_end", np.nan))), default=0.0
        )
        answered = 0
        for t in turns:
            if np.isfinite(t.get("t_first_audible", np.nan)):
                answered += 1
            if np.isfinite(t.get("t_speech_end", np.nan)) and np.isfinite(t.get("t_speech_stopped", np.nan)):
                w = int((t["t_speech_end"] - start) // 10)
                windows.setdefault(w, []).append(
                    (t["t_speech_stopped"] - t["t_speech_end"]) * 1000 - SILENCE_MS
                )
        missed += max(expected - answered, 0)
    for w in sorted(windows):
        print(f"   window {w * 10:3d}-{w * 10 + 10:3d} s speech_stopped delay: {_summary(windows[w])}")
    medians = [float(np.median(windows[w])) for w in sorted(windows)]
    growing = len(medians) >= 2 and medians[-1] > medians[0] + 100
    print(
        f"   missed turns: {missed} of {calls * expected}; backlog {'GROWING' if growing else 'not growing'} "
        f"(median delay first vs last window: {medians[0]:.1f} -> {medians[-1]:.1f} ms)"
        if medians
        else "   no turns"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (1 pass, 2 calls)")
    args = parser.parse_args()
    serve = ServeProcess()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            await bench_latency(serve.url, 1 if args.quick else 3, folder)
            await bench_load(serve, 2 if args.quick else 8, 1 if args.quick else 4, folder)
    finally:
        serve.stop()


if __name__ == "__main__":
    asyncio.run(main())
