"""Which model's native memory grows: one part of the engine's work, in a process of its own.

    .venv/bin/python benchmarks/bench_memory_parts.py voice --seconds 300 [--threads 5]

Runs the work a soak's turns give one model (``voice``: synthesis of the ``turns`` sample's
sentences; ``whisper``: transcription of its turns; ``vad``: the VAD over the whole sample;
``turn`` / ``denoise``), from ``--threads`` pool threads as the engine's workers do, as fast as
the CPU allows (so a minute here is several minutes of a real-time soak), and samples the
process's memory every ``--every`` seconds: RSS, anonymous PSS (``/proc/self/smaps_rollup``) and the
number of anonymous mappings (glibc arenas and large allocations each add some). It prints the
samples, then the slope after the warm-up fitted over the samples. Compare allocator settings
with glibc's environment variables (``MALLOC_ARENA_MAX=2``, ``MALLOC_MMAP_THRESHOLD_=262144``), and
``--trim`` for the engine's periodic ``malloc_trim``. ``voice-plans`` is the voice as it ran
before, with ONNX Runtime's memory pattern (a memory plan kept per input shape): compare its
slope and jobs/s with ``voice``. ``mix`` is a whole turn: transcription, then
the reply's synthesis with each chunk on whichever worker is free.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from realtime_nb import samples
from realtime_nb.audio import resample
from realtime_nb.engine import memory
from realtime_nb.engine.models import Models
from realtime_nb.engine.models._common import onnx_session


def snapshot() -> dict[str, float]:
    """RSS, anonymous PSS (MB) and the anonymous mappings count of this process."""
    out: dict[str, float] = {}
    with open("/proc/self/smaps_rollup") as rollup:
        for line in rollup:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss_Anon"):
                out[key] = int(rest.split()[0]) / 1024
    anon = 0
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) < 6:  # no path: anonymous
                anon += 1
    out["anon_maps"] = anon
    return out


def slope_per_hour(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(base, growth % per hour) from a least-squares line through (seconds, MB)."""
    t = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    a, b = np.polyfit(t, y, 1)
    base = float(a * t[0] + b)
    return base, float(a * 3600 / base * 100)


def work(part: str, models: Models, pool: ThreadPoolExecutor) -> Callable[[int], None]:
    sample = samples.load("turns")
    texts = [seg.text for seg in sample.segments]
    turns = [sample.audio[seg.start : seg.end] for seg in sample.segments]
    if part in ("voice", "voice-plans"):
        voice = models.voice()
        if part == "voice-plans":  # as before: ONNX Runtime keeps a memory plan per input shape
            path = Path(voice.model_path)
            voice._piper.session = onnx_session(path, threads=0, shapes_vary=False)

        def one(i: int) -> None:
            for _chunk in voice.synthesize(texts[i % len(texts)]):
                pass

    elif part == "whisper":
        whisper = models.transcriber()
        turns16 = [resample(t, 24000, 16000) for t in turns]

        def one(i: int) -> None:
            list(whisper.transcribe(turns16[i % len(turns16)], words=bool(i % 2)))

    elif part == "mix":
        # as an engine turn: transcribe on one worker, then synthesise the reply with each chunk
        # computed on whichever worker is free (a parked reply resumes on another thread)
        whisper, voice = models.transcriber(), models.voice()
        turns16 = [resample(t, 24000, 16000) for t in turns]

        def one(i: int) -> None:
            list(whisper.transcribe(turns16[i % len(turns16)]))
            chunks = voice.synthesize("I heard you say: " + texts[i % len(texts)])
            while pool.submit(next, chunks, None).result() is not None:
                pass

    elif part == "vad":
        vad = models.vad()
        audio16 = resample(sample.audio, 24000, 16000)

        def one(i: int) -> None:
            stream = vad.stream()
            for start in range(0, audio16.size, 320):
                stream.process(audio16[start : start + 320])

    elif part == "turn":
        turn = models.turn()

        def one(i: int) -> None:
            turn.predict(turns[i % len(turns)]) if hasattr(turn, "predict") else turn(turns[i % len(turns)])

    elif part == "denoise":
        denoiser = models.denoiser("near_field")

        def one(i: int) -> None:
            stream = denoiser.stream()
            for start in range(0, sample.audio.size, 480):
                stream.process(sample.audio[start : start + 480])

    else:
        raise SystemExit(f"unknown part {part!r}")
    return one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("part", choices=["voice", "voice-plans", "whisper", "mix", "vad", "turn", "denoise"])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--threads", type=int, default=5, help="pool threads (the engine: 4 + 1)")
    parser.add_argument("--sessions", type=int, default=2, help="jobs in flight at once")
    parser.add_argument("--every", type=float, default=10.0)
    parser.add_argument("--warm-s", type=float, default=60.0)
    parser.add_argument("--trim", action="store_true", help="malloc_trim every 30 s as the engine does")
    args = parser.parse_args()
    models = Models.shared()
    pool = ThreadPoolExecutor(max_workers=args.threads, thread_name_prefix="engine-job")
    one = work(args.part, models, pool)
    one(0)
    stop = threading.Event()
    done = [0]

    def session(k: int) -> None:
        i = k
        while not stop.is_set():
            one(i) if args.part == "mix" else pool.submit(one, i).result()
            done[0] += 1
            i += args.sessions

    drivers = [threading.Thread(target=session, args=(k,)) for k in range(args.sessions)]
    t0 = time.perf_counter()
    for driver in drivers:
        driver.start()
    points: list[tuple[float, dict[str, float]]] = []
    last_trim = t0
    env = {k: v for k, v in os.environ.items() if k.startswith(("MALLOC", "GLIBC", "RNB_"))}
    print(f"part={args.part} threads={args.threads} sessions={args.sessions} env={env}", flush=True)
    while (now := time.perf_counter()) - t0 < args.seconds:
        if args.trim and now - last_trim >= 30:
            memory.trim()
            last_trim = now
        snap = snapshot()
        points.append((now - t0, snap))
        print(
            f"t={now - t0:6.0f}s jobs={done[0]:5d} rss={snap['Rss']:7.1f} pss_anon={snap['Pss_Anon']:7.1f} "
            f"anon_maps={snap['anon_maps']:.0f}",
            flush=True,
        )
        time.sleep(args.every)
    stop.set()
    for driver in drivers:
        driver.join()
    pool.shutdown()
    post = [(t, s["Rss"]) for t, s in points if t >= args.warm_s]
    if len(post) >= 3:
        base, per_hour = slope_per_hour(post)
        rate = done[0] / (points[-1][0] or 1)
        print(
            f"RESULT part={args.part} env={env} base {base:.1f} MB, slope {per_hour:+.1f} %/h of wall time "
            f"({rate:.2f} jobs/s), end-to-end {post[0][1]:.1f} -> {post[-1][1]:.1f} MB",
            flush=True,
        )


if __name__ == "__main__":
    main()
