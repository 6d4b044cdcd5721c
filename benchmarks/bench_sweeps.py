"""Sweeps: trace mode over 1 000 server_vad settings, live replay throughput, Dask vs local.

Prints (medians of ``--repeat`` runs where it says so; the machine's load changes the absolute
numbers, the ratios within one run are what to read):

1. trace-mode sweep of 1 000 server_vad settings (threshold 10 x silence 100) over 10 minutes of
   audio with 2 local workers, including the model pass (cold trace cache) and excluding it (the
   traces cached on disk); goal <= 60 s including the model pass;
2. live replay through embedded-engine sessions: real-time factor with 1 and 2 workers; goal:
   >= 1.7x with 2;
3. the same trace sweep on a 2-worker Dask LocalCluster vs the local executor (warm); goal: <= 15 %
   overhead; with where the CPU went: the worker processes (model pass and replays) and this
   process (Dask's scheduler and client: scheduling, serialising jobs and rows); once with Dask's
   default configuration and once with the workers' statistical profiler off (docs/sweeps.md).

Run: ``python benchmarks/bench_sweeps.py`` (add ``--quick`` for a smaller, faster run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realtime_nb.sweeps import Corpus, Recording, Turn, sweep
from realtime_nb.sweeps.trace import model_pass


def long_corpus(minutes: float) -> Corpus:
    """The bundled samples laid end to end (labels shifted) into ~1-minute files, ``minutes`` in all."""
    base = list(Corpus.builtin())
    files, k = [], 0
    total_ms = 0.0
    while total_ms < minutes * 60000:
        parts, turns, offset = [], [], 0.0
        while offset < 60000:
            rec = base[k % len(base)]
            k += 1
            parts.append(rec.audio)
            for t in rec.turns:
                pauses = tuple((a + offset, b + offset) for a, b in t.pauses_ms)
                turns.append(Turn(t.start_ms + offset, t.end_ms + offset, pauses))
            offset += rec.duration_ms
        files.append(Recording(f"long{len(files):02d}", np.concatenate(parts), tuple(turns)))
        total_ms += offset
    return Corpus(files, f"{minutes:g} min")


GRID_1000 = {
    "threshold": {"start": 0.3, "stop": 0.75, "step": 0.05},
    "silence_duration_ms": {"start": 100, "stop": 2080, "step": 20},
}


def bench_trace(corpus: Corpus, grid: dict, cache: Path) -> tuple[float, float, float]:
    """(wall incl. model pass, wall with traces cached, model pass alone on one core)."""
    os.environ["REALTIME_NB_TRACE_CACHE"] = str(cache)  # read by each worker at its first job
    start = time.perf_counter()
    sweep(corpus, grid, executor=2, progress=False)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    sweep(corpus, grid, executor=2, progress=False)
    warm = time.perf_counter() - start
    start = time.perf_counter()
    for rec in corpus:
        model_pass(rec.audio)
    models = time.perf_counter() - start
    return cold, warm, models


def cpu_costs(corpus: Corpus, settings: int = 20) -> tuple[float, float]:
    """CPU seconds (this process, one core) of the model pass per minute of audio, and of one
    setting's replay per minute of audio: what a loaded machine's wall clock hides."""
    import realtime_nb as rt
    from realtime_nb.sweeps.trace import replay

    rec = corpus[0]
    minutes = rec.duration_ms / 60000
    start = time.process_time()
    trace = model_pass(rec.audio)
    model = (time.process_time() - start) / minutes
    tds = [
        rt.ServerVad(threshold=0.3 + 0.05 * (k % 10), silence_duration_ms=100 + 100 * k)
        for k in range(settings)
    ]
    start = time.process_time()
    for td in tds:
        replay(trace, td)
    return model, (time.process_time() - start) / settings / minutes


def bench_live(corpus: Corpus, repeat: int) -> tuple[float, float]:
    """Real-time factors (audio seconds per wall second) of live engine replays, 1 and 2 workers."""
    grid = [{"threshold": 0.5, "silence_duration_ms": 500}, {"threshold": 0.7, "silence_duration_ms": 300}]
    audio_s = sum(r.duration_ms for r in corpus) / 1000 * len(grid)
    sweep(corpus.subset(corpus.names[:1]), grid[:1], mode="live", executor="serial", progress=False)  # warm
    sweep(corpus.subset(corpus.names[:1]), grid, mode="live", executor=2, progress=False)  # 2 workers, warm
    rtf = {}
    for workers in (1, 2):
        walls = []
        for _ in range(repeat):
            start = time.perf_counter()
            sweep(corpus, grid, mode="live", executor="serial" if workers == 1 else 2, progress=False)
            walls.append(time.perf_counter() - start)
        rtf[workers] = audio_s / statistics.median(walls)
    return rtf[1], rtf[2]


def _cpu_s(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def _timed(run, worker_pids) -> tuple[float, float, float]:
    """(wall s, CPU s of the workers, CPU s of this process) of one ``run()``."""
    me = [os.getpid()]
    pids = worker_pids()
    w0, m0, start = _cpu_s(pids), _cpu_s(me), time.perf_counter()
    run()
    return time.perf_counter() - start, _cpu_s(pids) - w0, _cpu_s(me) - m0


def _medians(samples: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    return tuple(statistics.median(column) for column in zip(*samples, strict=True))  # type: ignore[return-value]


def bench_dask(corpus: Corpus, grid: dict, repeat: int) -> dict[str, tuple[float, ...]]:
    """Medians of (wall, worker CPU, this process's CPU): the local executor, Dask as configured by
    default, and Dask with the workers' statistical profiler off; all warm."""
    import dask
    import psutil
    from distributed import Client, LocalCluster

    def children() -> list[int]:
        return [p.pid for p in psutil.Process().children(recursive=True)]

    sweep(corpus, grid, executor=2, progress=False)  # warm local workers
    local = [_timed(lambda: sweep(corpus, grid, executor=2, progress=False), children) for _ in range(repeat)]
    found = {"local": _medians(local)}
    for label, profile in (("Dask", True), ("Dask, profiler off", False)):
        with (
            dask.config.set({"distributed.worker.profile.enabled": profile}),
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
            ) as cluster,
            Client(cluster) as client,
        ):
            sweep(corpus, grid, executor=client, progress=False)  # warm workers and their caches

            def workers(client: Client = client) -> list[int]:
                return list(client.run(os.getpid).values())

            runs = [
                _timed(lambda client=client: sweep(corpus, grid, executor=client, progress=False), workers)
                for _ in range(repeat)
            ]
        found[label] = _medians(runs)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 minutes of audio, 200 settings")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    minutes = 2.0 if args.quick else 10.0
    grid = (
        GRID_1000
        if not args.quick
        else {**GRID_1000, "silence_duration_ms": {"start": 100, "stop": 480, "step": 20}}
    )
    corpus = long_corpus(minutes)
    n = 10 * (100 if not args.quick else 20)
    print(f"corpus: {corpus!r}; {os.cpu_count()} cores (shared: figures from a loaded machine vary)")
    # the trace cache folder lives for the whole run: every worker started later (Dask's too) finds it
    tmp = tempfile.TemporaryDirectory(prefix="bench-sweeps-")
    cold, warm, models = bench_trace(corpus, grid, Path(tmp.name))
    print(f"trace sweep, {n} server_vad settings x {corpus.duration_ms / 60000:.1f} min, 2 workers:")
    print(f"  including the model pass: {cold:6.1f} s   (goal <= 60 s)")
    rate = n * corpus.duration_ms / 60000 / warm
    print(f"  model pass cached:        {warm:6.1f} s   ({rate:.0f} setting-minutes of audio per second)")
    print(f"  model pass alone, 1 core: {models:6.1f} s")
    model_cpu, replay_cpu = cpu_costs(corpus)
    idle = (model_cpu * minutes + replay_cpu * n * minutes) / 2
    per_setting = 1000 * replay_cpu
    print(f"  CPU per minute of audio: model pass {model_cpu:.2f} s, replay {per_setting:.1f} ms per setting")
    print(
        f"  so on 2 idle cores this sweep would take about {idle:.0f} s (CPU time / 2, model pass included)"
    )
    live_corpus = corpus.subset(corpus.names[:2]) if not args.quick else corpus.subset(corpus.names[:1])
    rtf1, rtf2 = bench_live(live_corpus, args.repeat)
    print(f"live replay (engine sessions, {live_corpus.duration_ms / 60000:.1f} min x 2 settings):")
    print(f"  1 worker  {rtf1:6.1f}x real time")
    print(f"  2 workers {rtf2:6.1f}x real time   speed-up {rtf2 / rtf1:.2f}x (goal >= 1.7x)")
    dask_grid = {
        "threshold": [0.4, 0.5, 0.6, 0.7],
        "silence_duration_ms": {"start": 100, "stop": 2000, "step": 20},
    }
    found = bench_dask(corpus, dask_grid, args.repeat)
    print(f"trace sweep, 384 settings x {corpus.duration_ms / 60000:.1f} min, warm, median of {args.repeat}:")
    for name, (wall, workers_cpu, main_cpu) in found.items():
        print(
            f"  {name:19s} {wall:6.1f} s wall; CPU: workers {workers_cpu:5.1f} s, "
            f"this process (scheduler + client) {main_cpu:4.1f} s"
        )
    local = found["local"]
    for name in ("Dask", "Dask, profiler off"):
        on_dask = found[name]
        print(f"  {name} overhead {100 * (on_dask[0] / local[0] - 1):+.0f} % wall (goal <= 15 %), "
              f"{100 * ((on_dask[1] + on_dask[2]) / (local[1] + local[2]) - 1):+.0f} % CPU")  # fmt: skip
    tmp.cleanup()


if __name__ == "__main__":
    main()
