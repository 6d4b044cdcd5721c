"""End-to-end figures of the local engine over real sockets (one run; prints medians and p95).

    .venv/bin/python benchmarks/bench_engine.py [--quick]

Stages (goals from the engine brief in brackets):

1. start: `start_engine()` until it listens, the background model warm-up, a second engine [<= 3 s]
2. idle sessions: RSS of a `realtime-nb serve` process per open idle session [<= 30 MB]
3. one real-time stream (server_vad, silence 500 ms): speech_stopped delay after the true end of
   speech [<= silence + 40 ms p95] and end of speech -> first response audio delta with the default
   responder [<= silence + 250 ms p95]
4. 1 hour of speech through server_vad as fast as the socket takes it [<= 30 s]
5. far_field noise reduction + server_vad, a shorter stretch scaled to real-time factor [<= 0.15]
6. 8 concurrent real-time sessions: probe round trips and speech_stopped delays over time (a growing
   backlog shows as lag rising from window to window)

Stages 2-6 talk to a separate `realtime-nb serve --preload` process, so the load generator here
does not share a GIL with the engine. Speech is `realtime_nb.samples.load("turns")` (Piper voice,
three utterances with exact boundaries, 10.7 s).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect

from realtime_nb import samples

RATE = 24000
SILENCE_MS = 500
GA_PATH = "/v1/realtime?model=gpt-realtime"


def _vad(create_response: bool = True) -> dict[str, Any]:
    return {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": SILENCE_MS,
        "create_response": create_response,
        "interrupt_response": True,
    }


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _summary(values: list[float], unit: str = "ms") -> str:
    if not values:
        return "no samples"
    return (
        f"median {statistics.median(values):7.1f} {unit}   p95 {_pct(values, 95):7.1f} {unit}   "
        f"max {max(values):7.1f} {unit}   n={len(values)}"
    )


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


# --------------------------------------------------------------------------------------------------
# Stage 1: start time (in this process, as a notebook does it)


def bench_start() -> None:
    from realtime_nb.engine import start_engine

    began = time.perf_counter()
    first = start_engine()
    listening = time.perf_counter() - began
    first.wait_ready(300)
    warm = time.perf_counter() - began
    began = time.perf_counter()
    second = start_engine()
    second_s = time.perf_counter() - began
    second.stop()
    first.stop()
    print("1. start_engine()")
    print(
        f"   listening after {listening:.2f} s (goal <= 3 s); models warm after {warm:.1f} s "
        "in the background"
    )
    print(f"   a second engine in the same process listens after {second_s:.3f} s (models shared)")


# --------------------------------------------------------------------------------------------------
# The engine under load: a separate process


class ServeProcess:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "realtime_nb.cli", "serve", "--port", "0", "--preload"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            found = re.search(r"listening on (ws://\S+)", line)
            if found:
                self.url = found.group(1)
                return
        raise RuntimeError("realtime-nb serve did not start")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


async def _open(url: str, session: dict[str, Any]) -> ClientConnection:
    ws = await connect(url + GA_PATH, max_size=None, compression=None)
    await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", **session}}))
    while json.loads(await ws.recv())["type"] != "session.updated":
        pass
    return ws


def _append(chunk: np.ndarray) -> str:
    return json.dumps(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk.tobytes()).decode()}
    )


# --------------------------------------------------------------------------------------------------
# Stage 2: memory per idle session


async def bench_idle_memory(serve: ServeProcess, count: int) -> None:
    before = _rss_mb(serve.pid)
    sockets = [await _open(serve.url, {}) for _ in range(count)]
    await asyncio.sleep(1.0)  # let allocator noise settle before reading RSS
    after = _rss_mb(serve.pid)
    for ws in sockets:
        await ws.close()
    print(f"2. idle sessions: RSS {before:.0f} MB -> {after:.0f} MB with {count} open sessions")
    print(f"   {(after - before) / count:.2f} MB per idle session beyond the shared models (goal <= 30 MB)")


# --------------------------------------------------------------------------------------------------
# Stage 3 / 6: real-time streaming


@dataclass
class StreamResult:
    stop_delays_ms: list[tuple[float, float]] = field(default_factory=list)  # (t since start, delay)
    vad_late_ms: list[float] = field(default_factory=list)  # audio clock: audio_end_ms - (end + silence)
    reaction_ms: list[float] = field(default_factory=list)  # wall: arrival - send of the deciding chunk
    first_audio_ms: list[float] = field(default_factory=list)
    probe_ms: list[tuple[float, float]] = field(default_factory=list)  # (t since start, round trip)
    missed_turns: int = 0


def _turn_ends(sample: samples.Sample, passes: int) -> list[float]:
    period = sample.audio.size / RATE
    return [p * period + seg.end / RATE for p in range(passes) for seg in sample.segments]


async def stream_realtime(
    url: str, sample: samples.Sample, passes: int, chunk_ms: int = 20, probe_every_s: float | None = None
) -> StreamResult:
    """Stream `passes` copies of the sample paced at real time; time the engine's answers."""
    ws = await _open(url, {"audio": {"input": {"turn_detection": _vad()}}})
    loop = asyncio.get_running_loop()
    audio = np.tile(sample.audio.astype("<i2"), passes)
    ends = _turn_ends(sample, passes)
    result = StreamResult()
    step = RATE * chunk_ms // 1000
    probes: dict[str, float] = {}
    sent_at: list[float] = []  # wall time each chunk left
    t0 = 0.0
    done = asyncio.Event()

    async def reader() -> None:
        pending_first: float | None = None  # wall time of the end of the turn awaiting audio
        turn = 0
        async for raw in ws:
            event = json.loads(raw)
            now = loop.time()
            kind = event["type"]
            if kind == "input_audio_buffer.speech_stopped":
                end_ms = event["audio_end_ms"]
                true_end = _nearest(ends, end_ms / 1000 - SILENCE_MS / 1000)
                result.stop_delays_ms.append((now - t0, (now - (t0 + true_end)) * 1000))
                result.vad_late_ms.append(end_ms - (true_end * 1000 + SILENCE_MS))
                deciding = min(len(sent_at) - 1, max(0, -(-end_ms // chunk_ms) - 1))
                result.reaction_ms.append((now - sent_at[deciding]) * 1000)
                pending_first = t0 + true_end
                turn += 1
            elif kind == "response.output_audio.delta" and pending_first is not None:
                result.first_audio_ms.append((now - pending_first) * 1000)
                pending_first = None
            elif kind == "error" and event["error"].get("event_id") in probes:
                sent = probes.pop(event["error"]["event_id"])
                result.probe_ms.append((sent - t0, (now - sent) * 1000))
            if done.is_set() and not probes:
                return

    task = asyncio.create_task(reader())
    t0 = loop.time()
    next_probe = 0.0
    for index, start in enumerate(range(0, audio.size, step)):
        # a microphone hands over a chunk when its last sample has been captured
        deadline = t0 + (index + 1) * chunk_ms / 1000
        delay = deadline - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await ws.send(_append(audio[start : start + step]))
        sent_at.append(loop.time())
        if probe_every_s is not None and index * chunk_ms / 1000 >= next_probe:
            # a request the session answers at once: its round trip is the session's backlog
            probe_id = f"probe_{index}"
            probes[probe_id] = loop.time()
            await ws.send(
                json.dumps({"type": "conversation.item.retrieve", "event_id": probe_id, "item_id": "none"})
            )
            next_probe += probe_every_s
    await asyncio.sleep(1.5)  # the last turn's silence window and its response start
    done.set()
    await ws.close()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    result.missed_turns = len(ends) - len(result.stop_delays_ms)
    return result


def _nearest(values: list[float], x: float) -> float:
    return min(values, key=lambda v: abs(v - x))


async def bench_single_stream(serve: ServeProcess, passes: int) -> None:
    sample = samples.load("turns")
    result = await stream_realtime(serve.url, sample, passes)
    delays = [d for _, d in result.stop_delays_ms]
    print(
        f"3. one real-time stream, {passes * sample.duration_s:.0f} s, 20 ms chunks, silence {SILENCE_MS} ms"
    )
    print(f"   speech_stopped after the true end:  {_summary(delays)}")
    print(
        f"     minus the silence window:         {_summary([d - SILENCE_MS for d in delays])}"
        " (goal p95 <= 40)"
    )
    print(
        f"     of which the VAD decision (audio_end_ms - end - silence): {_summary(result.vad_late_ms)}"
    )
    print(
        f"     and the engine's reaction (arrival - send of that audio):  {_summary(result.reaction_ms)}"
    )
    print(f"   end of speech -> first audio delta:  {_summary(result.first_audio_ms)}")
    print(
        f"     minus the silence window:         {_summary([d - SILENCE_MS for d in result.first_audio_ms])}"
        " (goal p95 <= 250)"
    )
    if result.missed_turns:
        print(f"   turns without speech_stopped: {result.missed_turns}")


# --------------------------------------------------------------------------------------------------
# Stage 4 / 5: as fast as possible


async def push_fast(
    url: str, sample: samples.Sample, seconds: float, noise_reduction: str | None
) -> tuple[float, int]:
    """Send `seconds` of audio in 1 s appends as fast as possible; returns (wall s, speech turns seen)."""
    audio_in: dict[str, Any] = {"turn_detection": _vad(create_response=False)}
    if noise_reduction:
        audio_in["noise_reduction"] = {"type": noise_reduction}
    ws = await _open(url, {"audio": {"input": audio_in}})
    turns = 0
    finished = asyncio.Event()

    async def reader() -> None:
        nonlocal turns
        async for raw in ws:
            event = json.loads(raw)
            if event["type"] == "input_audio_buffer.speech_stopped":
                turns += 1
            elif event["type"] == "input_audio_buffer.cleared":
                finished.set()
                return

    task = asyncio.create_task(reader())
    began = time.perf_counter()
    for chunk in _seconds_of(sample, seconds):
        await ws.send(_append(chunk))
    # the session handles frames in order: this reply comes after every append was processed
    await ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
    await asyncio.wait_for(finished.wait(), 3600)
    elapsed = time.perf_counter() - began
    await ws.close()
    await asyncio.gather(task, return_exceptions=True)
    return elapsed, turns


def _seconds_of(sample: samples.Sample, seconds: float) -> Iterator[np.ndarray]:
    audio = sample.audio.astype("<i2")
    total = int(seconds * RATE)
    position = 0
    while position < total:
        take = min(RATE, total - position)
        start = position % audio.size
        chunk = audio[start : start + take]
        if chunk.size < take:
            chunk = np.concatenate([chunk, audio[: take - chunk.size]])
        yield chunk
        position += take


async def bench_fast(serve: ServeProcess, hour_s: float, far_s: float) -> None:
    sample = samples.load("turns")
    expected = lambda s: int(s / sample.duration_s) * len(sample.segments)  # noqa: E731
    elapsed, turns = await push_fast(serve.url, sample, hour_s, None)
    scale = 3600 / hour_s
    print(f"4. {hour_s / 60:.0f} min of speech through server_vad as fast as possible")
    print(
        f"   {elapsed:.1f} s ({hour_s / elapsed:.0f}x real time); 1 hour would take {elapsed * scale:.1f} s "
        f"(goal <= 30 s); turns {turns} of ~{expected(hour_s)}"
    )
    elapsed, turns = await push_fast(serve.url, sample, far_s, "far_field")
    print(f"5. far_field noise reduction + server_vad, {far_s:.0f} s of speech (scaled: a shorter stretch)")
    print(
        f"   {elapsed:.1f} s = {elapsed / far_s:.3f} x real time (goal <= 0.15); "
        f"1 hour would take {elapsed * 3600 / far_s:.0f} s; turns {turns} of ~{expected(far_s)}"
    )


# --------------------------------------------------------------------------------------------------
# Stage 6: concurrency


async def bench_concurrent(serve: ServeProcess, sessions: int, passes: int) -> None:
    sample = samples.load("turns")
    before = _rss_mb(serve.pid)
    results = await asyncio.gather(
        *[stream_realtime(serve.url, sample, passes, probe_every_s=1.0) for _ in range(sessions)]
    )
    duration = passes * sample.duration_s
    print(
        f"6. {sessions} concurrent real-time sessions with server_vad, {duration:.0f} s each "
        f"(RSS {before:.0f} MB)"
    )
    windows = max(1, int(duration // 15))
    edges = np.linspace(0, duration + 2, windows + 1)
    for lo, hi in itertools.pairwise(edges):
        probes = [ms for r in results for t, ms in r.probe_ms if lo <= t < hi]
        stops = [ms - SILENCE_MS for r in results for t, ms in r.stop_delays_ms if lo <= t < hi]
        print(
            f"   {lo:4.0f}-{hi:4.0f} s  probe round trip median {_pct(probes, 50):6.1f} ms "
            f"p95 {_pct(probes, 95):6.1f} ms | speech_stopped - silence median {_pct(stops, 50):6.1f} ms "
            f"p95 {_pct(stops, 95):6.1f} ms"
        )
    firsts = [ms for r in results for ms in r.first_audio_ms]
    print(f"   end of speech -> first audio delta (all sessions): {_summary(firsts)}")
    missed = sum(r.missed_turns for r in results)
    print(f"   turns without speech_stopped: {missed} of {sessions * passes * len(sample.segments)}")


# --------------------------------------------------------------------------------------------------


async def _main_async(args: argparse.Namespace) -> None:
    serve = ServeProcess()
    try:
        print(
            f"   (engine under load: realtime-nb serve --preload, pid {serve.pid}, "
            f"RSS {_rss_mb(serve.pid):.0f} MB)"
        )
        await bench_idle_memory(serve, 10 if args.quick else 20)
        await bench_single_stream(serve, 1 if args.quick else 4)
        await bench_fast(serve, 300 if args.quick else 3600, 30 if args.quick else 120)
        await bench_concurrent(serve, 8, 2 if args.quick else 6)
    finally:
        serve.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter stretches (a smoke run, ~1 minute)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    began = time.perf_counter()
    print(f"bench_engine on {os.cpu_count()} cores")
    bench_start()
    asyncio.run(_main_async(args))
    print(f"total {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
