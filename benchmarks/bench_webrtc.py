"""WebSocket vs WebRTC on the local engine over loopback, the same audio through both (one run).

    .venv/bin/python benchmarks/bench_webrtc.py [--quick] [--only latency|load]

The engine runs as `realtime-nb serve --preload` in a subprocess (as bench_engine.py does), so the
clients here do not share its GIL. Speech is `realtime_nb.samples.load("turns")` (three utterances,
10.7 s), repeated; server VAD with 500 ms of silence. Every figure is printed minus that silence.

1. Latency, one session per transport streaming the same audio in real time. "End of speech" is when
   the client sent the audio at ``audio_end_ms - silence`` (the append's time over WebSocket, the
   outgoing track frame's time over WebRTC), from the log's `turns()`. Three figures per transport:

   * end of speech -> ``input_audio_buffer.speech_stopped`` received;
   * end of speech -> the answer's first *packet* received: WebSocket, the first
     ``response.output_audio.delta`` (what WebSocket measurements usually quote); WebRTC, the first
     track frame reaching -40 dBFS (a track has no "first packet" of an answer: the frames before it
     are the idle stream and the reply's own leading near-silence, which the client cannot tell
     apart). These two are NOT the same measure: the engine's synthesized speech starts with about
     50 ms of near-silence, which the WebSocket figure does not wait for and the WebRTC one does;
   * end of speech -> the answer's first *audible sample* received, the same measure on both: the
     first sample reaching -40 dBFS, at the arrival of the packet carrying it plus its offset in that
     packet, i.e. when it would sound if every packet were played the moment it arrived (WebSocket:
     the delta's arrival + the sample's position in the delta; WebRTC: the frame's arrival + its
     position in the 20 ms frame). This counts the reply's leading silence on both sides, by its
     audio clock, and is what the goals are checked against: WebRTC <= silence + 150 ms p95, and
     WebRTC - WebSocket <= 60 ms (p95).

2. Load: N concurrent WebRTC calls (8; 2 with --quick) for ~43 s each, placed by client peers in two
   separate worker processes (this script with ``--worker``), so the engine's process is measured
   alone: its CPU seconds per call-second, the workers' CPU for comparison, speech_stopped and
   first-audible-sample delays per 10 s window (a growing backlog shows as a rising delay) and missed
   turns (a turn with no answer).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
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
from realtime_nb.client.errors import ConnectionClosedError
from realtime_nb.protocol import PCM_RATE, ServerVad, SessionConfig

SILENCE_MS = 500
AUDIBLE_DBFS = -40.0
AUDIBLE_LEVEL = 32768 * 10 ** (AUDIBLE_DBFS / 20)
GOAL_FIRST_AUDIO_MS = 150  # beyond the silence window, p95
GOAL_ADDED_MS = 60
TICKS = os.sysconf("SC_CLK_TCK")
WORKERS = 2  # processes placing the load's calls


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


def _first_audible_sample_t(log: Any, rid: str, transport: str) -> float:
    """The log time (s) at which the response's first sample reaching AUDIBLE_LEVEL arrived, counted
    from its packet's arrival plus its offset in that packet (see the module docstring)."""
    if transport == "webrtc":
        rec = log._rec  # the recorder's track audio: no public per-chunk accessor on EventLog
        t_ns = rec.track.first_sample_t_ns(rid, AUDIBLE_LEVEL)
        return float("nan") if t_ns is None else (t_ns - rec.start_ns) / 1e9
    frame = log.frame()
    deltas = frame[(frame["type"] == "response.output_audio.delta") & (frame["response_id"] == rid)]
    pcm = log.response_audio(rid)
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) >= AUDIBLE_LEVEL)
    if not loud.size:
        return float("nan")
    position, start = int(loud[0]), 0
    for t, ms in zip(deltas["t"], deltas["audio_ms"], strict=True):
        n = round(ms * PCM_RATE / 1000)
        if position < start + n:
            return float(t) + (position - start) / PCM_RATE
        start += n
    return float("nan")


def _measures(log: Any, transport: str) -> list[dict[str, float]]:
    """Per turn, in ms beyond the silence window: speech_stopped, first packet, first audible sample,
    and when (s after the first turn's end of speech) the turn ended."""
    packet_col = "t_first_audible" if transport == "webrtc" else "t_first_audio"
    rows = []
    turns = log.turns(audible_dbfs=AUDIBLE_DBFS).to_dict("records")
    ends = [t["t_speech_end"] for t in turns if np.isfinite(t.get("t_speech_end", np.nan))]
    origin = min(ends, default=0.0)
    for t in turns:
        end = t.get("t_speech_end")
        if end is None or not np.isfinite(end):
            continue
        rid = t.get("response_id")
        sample_t = _first_audible_sample_t(log, rid, transport) if isinstance(rid, str) else np.nan

        def beyond(value: Any, end: float = end) -> float:
            ok = value is not None and np.isfinite(value)
            return (value - end) * 1000 - SILENCE_MS if ok else float("nan")

        rows.append(
            {
                "at_s": end - origin,
                "stopped": beyond(t.get("t_speech_stopped")),
                "packet": beyond(t.get(packet_col)),
                "sample": beyond(sample_t),
            }
        )
    return rows


async def _one_stream(
    url: str, transport: str, wav: Path, expected: int
) -> tuple[list[dict[str, float]], float, str | None]:
    """Stream ``wav`` in real time (+2 s of silence), wait for every answer; the per-turn measures,
    how long the call was live (s) and, if it ended early, why (the turns measured until then count)."""
    t0 = time.monotonic()
    s = _session(url, transport)
    dropped = None
    try:
        async with s:
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
    except ConnectionClosedError as exc:
        dropped = str(exc)
    return _measures(s.log, transport), time.monotonic() - t0, dropped


def _column(rows: list[dict[str, float]], key: str) -> list[float]:
    return [r[key] for r in rows if np.isfinite(r[key])]


async def bench_latency(url: str, passes: int, folder: Path) -> None:
    wav, expected = _wav(passes, folder)
    print(
        f"1. latency, the same {expected} turns through each transport (beyond the {SILENCE_MS} ms silence;"
        " see the docstring for what each line measures)"
    )
    results: dict[str, list[dict[str, float]]] = {}
    packet_name = {"websocket": "first delta", "webrtc": "first frame >= -40 dBFS"}
    for transport in ("websocket", "webrtc"):
        rows, _, dropped = await _one_stream(url, transport, wav, expected)
        if dropped:
            print(f"   {transport:9s} the call ended early: {dropped}")
        results[transport] = rows
        print(
            f"   {transport:9s} end of speech -> speech_stopped          {_summary(_column(rows, 'stopped'))}"
        )
        packet = _summary(_column(rows, "packet"))
        print(f"   {transport:9s} end of speech -> {packet_name[transport]:23s} {packet}")
        print(
            f"   {transport:9s} end of speech -> first audible sample    {_summary(_column(rows, 'sample'))}"
        )
        print(f"   {transport:9s} answered {len(_column(rows, 'sample'))}/{expected}")
    ws, rtc = _column(results["websocket"], "sample"), _column(results["webrtc"], "sample")
    for q, name in ((50, "p50"), (95, "p95")):
        print(f"   WebRTC - WebSocket, first audible sample {name}: {_pct(rtc, q) - _pct(ws, q):+7.1f} ms")
    p95 = _pct(rtc, 95)
    added = p95 - _pct(ws, 95)
    print(
        f"   goal: WebRTC first audible sample <= silence + {GOAL_FIRST_AUDIO_MS} ms p95: {p95:.1f} ms -> "
        f"{'met' if p95 <= GOAL_FIRST_AUDIO_MS else 'NOT met'}"
    )
    print(
        f"   goal: WebRTC adds <= {GOAL_ADDED_MS} ms over WebSocket (first audible sample, p95): "
        f"{added:+.1f} ms -> {'met' if added <= GOAL_ADDED_MS else 'NOT met'}"
    )


async def _worker(url: str, calls: int, passes: int) -> None:
    """``--worker``: place `calls` concurrent WebRTC calls and print their measures as one JSON line."""
    with tempfile.TemporaryDirectory() as tmp:
        wav, expected = _wav(passes, Path(tmp))
        outcomes = await asyncio.gather(*(_one_stream(url, "webrtc", wav, expected) for _ in range(calls)))
    calls_out = [{"rows": r, "live_s": live, "dropped": why} for r, live, why in outcomes]
    print(json.dumps({"expected": expected, "calls": calls_out}))


async def bench_load(serve: ServeProcess, calls: int, passes: int) -> None:
    workers = min(WORKERS, calls)
    share = [calls // workers + (1 if i < calls % workers else 0) for i in range(workers)]
    print(
        f"2. {calls} concurrent WebRTC calls, {passes * 10.7:.0f} s of speech each, placed from "
        f"{workers} worker processes (the engine's process measured alone)"
    )
    me = Path(__file__).resolve()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0, t0 = _cpu_s(serve.pid), time.monotonic()
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(me),
            "--worker",
            serve.url,
            str(n),
            str(passes),
            stdout=asyncio.subprocess.PIPE,
        )
        for n in share
    ]
    outputs = [await p.communicate() for p in procs]
    wall, cpu = time.monotonic() - t0, _cpu_s(serve.pid) - cpu0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    clients_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    reports = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    expected = reports[0]["expected"]
    per_call = [c for r in reports for c in r["calls"]]
    call_s = sum(c["live_s"] for c in per_call)
    print(f"   engine CPU: {cpu:.1f} s over {call_s:.1f} call-s = {cpu / call_s:.3f} CPU s per call-second")
    print(
        f"   ({cpu / wall:.2f} cores busy in the engine, {clients_cpu / wall:.2f} in the client workers; "
        f"{calls} calls, {wall:.1f} s; this machine has {os.cpu_count()})"
    )
    for reason in sorted({c["dropped"] for c in per_call if c["dropped"]}):
        count = sum(1 for c in per_call if c["dropped"] == reason)
        print(f"   {count} of {calls} calls ended early: {reason}")
    windows: dict[int, list[dict[str, float]]] = {}
    missed = 0
    for c in per_call:
        rows = c["rows"]
        missed += max(expected - len(_column(rows, "sample")), 0)
        for r in rows:
            windows.setdefault(int(r["at_s"] // 10), []).append(r)
    for w in sorted(windows):
        stopped = _summary(_column(windows[w], "stopped"))
        print(f"   window {w * 10:3d}-{w * 10 + 10:3d} s speech_stopped delay:       {stopped}")
        print(f"   {'':17s} first audible sample delay: {_summary(_column(windows[w], 'sample'))}")
    medians = [float(np.median(_column(windows[w], "stopped"))) for w in sorted(windows)]
    growing = len(medians) >= 2 and medians[-1] > medians[0] + 100
    print(
        f"   missed turns: {missed} of {calls * expected}; backlog {'GROWING' if growing else 'not growing'} "
        f"(median speech_stopped delay first vs last window: {medians[0]:.1f} -> {medians[-1]:.1f} ms)"
        if medians
        else "   no turns"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (1 pass, 2 calls)")
    parser.add_argument("--only", choices=("latency", "load"), help="run one of the two parts")
    parser.add_argument("--worker", nargs=3, metavar=("URL", "CALLS", "PASSES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        url, calls, passes = args.worker
        await _worker(url, int(calls), int(passes))
        return
    serve = ServeProcess()
    try:
        if args.only != "load":
            with tempfile.TemporaryDirectory() as tmp:
                await bench_latency(serve.url, 1 if args.quick else 3, Path(tmp))
        if args.only != "latency":
            await bench_load(serve, 2 if args.quick else 8, 1 if args.quick else 4)
    finally:
        serve.stop()


if __name__ == "__main__":
    asyncio.run(main())
