"""Running a sweep: jobs, executors, results written as they finish, and resuming.

A *job* is one file, one noise setting and a batch of turn-detection settings (trace mode: the
model pass once, then every setting replayed from it; all of the file's settings unless there are
fewer files than twice the workers, see :func:`trace_batch`), or one file and one setting (live
mode: one engine session). Jobs run

* in this process (``executor="serial"``, or ``1``),
* in local worker processes (the default, ``"local"`` or a number of workers): joblib's loky
  executor, whose workers live for the whole sweep, so each loads the models once
  (``Models.shared()``; ONNX sessions run with one intra-op thread each),
* on a Dask cluster (``executor=dask_client``): a worker plugin (:class:`ModelsPlugin`, registered
  with ``Client.register_plugin``) loads the models once per worker; a trace job there is a model-pass
  task per (file, noise setting) and replay tasks depending on it (:func:`_dask`); Dask reruns the
  tasks of a worker that died.

Every finished job's rows go to ``out/parts/<job>.parquet`` at once; a sweep run again with the same
``out`` skips every (file, setting) already there, so an interrupted sweep resumes where it stopped.
A local worker that dies takes its jobs with it: they are run again (``retries`` times), and nothing
already written is lost. Rows come back sorted by file and setting, whatever ran where.
"""

from __future__ import annotations

import hashlib
import math
import os
import statistics
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from realtime_nb.sweeps.corpus import Corpus, Recording
from realtime_nb.sweeps.grid import Setting, expand, setting_id, turn_detection
from realtime_nb.sweeps.metrics import DEFAULT_COLLAR_MS, intelligibility, level_changes, score_file
from realtime_nb.sweeps.trace import DEFAULT_CHUNK_MS, DEFAULT_TAIL_MS, DetectedTurn, TraceCache, replay

MODES = ("trace", "live", "cloud")
_CACHE: TraceCache | None = None


def worker_cache() -> TraceCache:
    """This process's trace cache (one per worker; the models are ``Models.shared()``)."""
    global _CACHE
    if _CACHE is None:
        _CACHE = TraceCache(os.environ.get("REALTIME_NB_TRACE_CACHE") or None)
    return _CACHE


@dataclass(frozen=True)
class Params:
    """What every job of a sweep shares (and what a resumed sweep must match)."""

    mode: str = "trace"
    chunk_ms: float = DEFAULT_CHUNK_MS
    tail_ms: float = DEFAULT_TAIL_MS
    collar_ms: float = DEFAULT_COLLAR_MS
    responses: bool = False  # live: turn ends create responses, timed to their first audio


@dataclass(frozen=True)
class Job:
    recording: Recording
    noise_reduction: str | None
    settings: tuple[tuple[str, Setting], ...]
    params: Params

    @property
    def key(self) -> str:
        blob = repr((self.recording.name, self.recording.digest, [s for s, _ in self.settings], self.params))
        return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _row(
    job: Job, sid: str, setting: Setting, turns: list[DetectedTurn], stream_end_ms: float
) -> dict[str, Any]:
    scored = score_file(
        job.recording, turns, setting, stream_end_ms=stream_end_ms, collar_ms=job.params.collar_ms
    )
    return {
        "file": job.recording.name,
        "setting_id": sid,
        **_setting_columns(setting),
        **scored,
        "mode": job.params.mode,
        "chunk_ms": job.params.chunk_ms,
        "tail_ms": job.params.tail_ms,
        "collar_ms": job.params.collar_ms,
        "responses": job.params.responses,
    }


SETTING_COLUMNS = (
    "type",
    "threshold",
    "prefix_padding_ms",
    "silence_duration_ms",
    "eagerness",
    "noise_reduction",
)


def _setting_columns(setting: Setting) -> dict[str, Any]:
    return {k: setting.get(k) for k in SETTING_COLUMNS}


@dataclass(frozen=True, eq=False)
class Traced:
    """A job's model pass: the trace and the file-level measures made from it (noise reduction's
    level changes and STOI), computed once per (file, noise setting) and shared by every replay of it."""

    trace: Any
    file_metrics: dict[str, float]


def trace_of(job: Job) -> Traced:
    """The model pass of ``job``'s file and noise setting (this worker's cache, else computed)."""
    p, rec = job.params, job.recording
    trace = worker_cache().get(rec.audio, rec.digest, job.noise_reduction, p.chunk_ms, p.tail_ms)
    return Traced(trace, level_changes(rec, trace.processed) | intelligibility(rec, trace.processed))


def replay_job(job: Job, traced: Traced) -> list[dict[str, Any]]:
    """The rows of a trace job, its model pass done (a Dask task that depends on the trace task)."""
    trace = traced.trace
    return [
        _row(job, sid, s, replay(trace, turn_detection(s)), trace.duration_ms) | traced.file_metrics
        for sid, s in job.settings
    ]


def run_job(job: Job) -> list[dict[str, Any]]:
    """The rows of one job (runs in a worker)."""
    p, rec = job.params, job.recording
    stream_end = rec.duration_ms + p.tail_ms
    if p.mode == "trace":
        return replay_job(job, trace_of(job))
    if p.mode == "live":
        from realtime_nb.sweeps.live import engine_run

        rows = []
        for sid, s in job.settings:
            turns, latencies = engine_run(
                rec, s, chunk_ms=p.chunk_ms, tail_ms=p.tail_ms, responses=p.responses
            )
            rows.append(_row(job, sid, s, turns, stream_end) | _response_columns(latencies))
        return rows
    raise ValueError(f"mode must be one of {', '.join(MODES)}, got {p.mode!r}")


def _response_columns(latencies: list[float] | None) -> dict[str, Any]:
    """Live sweeps with responses: true end of turn -> first response audio, per answered turn."""
    if latencies is None:
        return {}
    median = statistics.median(latencies) if latencies else math.nan
    return {
        "response_latencies_ms": latencies,
        "response_latency_ms": median,
        "turns_answered": len(latencies),
    }


def plan_jobs(
    corpus: Corpus,
    settings: Sequence[Setting],
    params: Params,
    done: set[tuple[str, str]],
    batch: int | None = None,
) -> list[Job]:
    """The jobs still to run (pairs in ``done`` are skipped); ``batch`` settings per job at most."""
    jobs = []
    ids = [(setting_id(s), s) for s in settings]
    for rec in corpus:
        by_nr: dict[str | None, list[tuple[str, Setting]]] = {}
        for sid, s in ids:
            if (rec.name, sid) not in done:
                by_nr.setdefault(s.get("noise_reduction"), []).append((sid, s))
        for nr, todo in by_nr.items():
            size = batch or (len(todo) if params.mode == "trace" else 1)
            for k in range(0, len(todo), size):
                jobs.append(Job(rec, nr, tuple(todo[k : k + size]), params))
    return jobs


# --- results on disk ------------------------------------------------------------------------------


def _parts(out: Path) -> Path:
    return out / "parts"


def read_results(out: str | Path) -> pd.DataFrame:
    """Every row written under ``out`` so far (empty frame when none)."""
    parts = sorted(_parts(Path(out)).glob("*.parquet"))
    if not parts:
        return pd.DataFrame()
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def _write_part(out: Path, job: Job, rows: list[dict[str, Any]]) -> None:
    folder = _parts(out)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{job.key}.{os.getpid()}.tmp"
    pd.DataFrame(rows).to_parquet(tmp, index=False)
    tmp.replace(folder / f"{job.key}.parquet")  # a part is there whole or not at all


def _done_pairs(existing: pd.DataFrame, params: Params) -> set[tuple[str, str]]:
    if existing.empty:
        return set()
    same = existing
    for name in ("mode", "chunk_ms", "tail_ms", "collar_ms", "responses"):
        value = getattr(params, name)
        if name in same:
            same = same[same[name] == value]
        elif value != getattr(Params(), name):  # parts written before the column held its default
            return set()
    return set(zip(same["file"], same["setting_id"], strict=True))


# --- executors --------------------------------------------------------------------------------------


def _serial(jobs: Sequence[Job], fn: Callable[[Job], Any]) -> Iterator[tuple[Job, Any]]:
    for job in jobs:
        yield job, fn(job)


def _local(
    jobs: Sequence[Job], fn: Callable[[Job], Any], workers: int, retries: int, prepare: tuple[str, ...]
) -> Iterator[tuple[Job, Any]]:
    """loky's reusable process pool, results as they come. Each worker runs :func:`prepare_worker`
    first, so the models are loaded before loky takes the worker's reference memory size (it
    restarts a worker that grows 300 MB past it). A worker that dies breaks the pool: the jobs not
    yet back run again on a fresh one."""
    from concurrent.futures import as_completed

    from joblib.externals.loky import get_reusable_executor

    pending = {job.key: job for job in jobs}
    for attempt in range(retries + 1):
        if not pending:
            return
        pool = get_reusable_executor(
            max_workers=min(workers, len(pending)), initializer=prepare_worker, initargs=(prepare,)
        )
        futures = {pool.submit(fn, job): job for job in pending.values()}
        try:
            for future in as_completed(futures):
                job = futures[future]
                result = future.result()
                pending.pop(job.key, None)
                yield job, result
            return
        except Exception as exc:  # loky's TerminatedWorkerError and friends: rerun what is missing
            if attempt == retries or not _worker_died(exc):
                raise


def models_needed(settings: Sequence[Setting], mode: str) -> tuple[str, ...]:
    """What a worker loads before its first job: the VAD, the end-of-turn model for semantic_vad,
    each noise reduction in the grid; in live mode the whole engine (``"engine"``)."""
    if mode != "trace":
        return ("engine",)
    names = ["vad"]
    if any(s["type"] == "semantic_vad" for s in settings):
        names.append("turn")
    names += sorted({s["noise_reduction"] for s in settings if s.get("noise_reduction")})
    return tuple(names)


def prepare_worker(names: Sequence[str]) -> None:
    """Load ``names`` (see :func:`models_needed`) into this process's shared models."""
    if "engine" in names:
        from realtime_nb.notebook import local_engine

        local_engine().wait_ready(300)
        return
    from realtime_nb.engine.models import Models

    Models.shared().preload(names, parallel=False, strict=True)
    worker_cache()


def _worker_died(exc: BaseException) -> bool:
    names = {type(e).__name__ for e in (exc, exc.__cause__, exc.__context__) if e is not None}
    return bool(names & {"TerminatedWorkerError", "BrokenProcessPool", "ShutdownExecutorError"})


def _dask(
    jobs: Sequence[Job], fn: Callable[[Job], Any], client: Any, retries: int, prepare: tuple[str, ...]
) -> Iterator[tuple[Job, Any]]:
    """Jobs as Dask tasks. Trace jobs (``fn`` is :func:`run_job`) become two layers: one model-pass
    task per (file, noise setting) and the replays as tasks depending on it, so the model pass runs
    once whichever worker replays, the scheduler runs a replay where its trace already is, and a
    trace lost with a dead worker is computed again. Keys carry a token of this call: a later sweep
    never picks up an earlier one's results still held on the cluster."""
    import uuid

    from distributed import as_completed

    from realtime_nb.sweeps.dask_plugin import ensure_plugin

    ensure_plugin(client, prepare)
    token = uuid.uuid4().hex[:8]
    traces: dict[tuple[Any, ...], Any] = {}
    futures = {}
    for job in jobs:
        if fn is run_job and job.params.mode == "trace":
            tkey = (job.recording.digest, job.noise_reduction, job.params.chunk_ms, job.params.tail_ms)
            if tkey not in traces:
                name = f"realtime_nb-trace-{'-'.join(map(str, tkey))}-{token}"
                traces[tkey] = client.submit(trace_of, job, key=name, retries=retries, priority=1)
            future = client.submit(
                replay_job, job, traces[tkey], key=f"realtime_nb-replay-{job.key}-{token}", retries=retries
            )
        else:
            future = client.submit(fn, job, key=f"realtime_nb-sweep-{job.key}-{token}", retries=retries)
        futures[future] = job
    for future in as_completed(futures):
        yield futures[future], future.result()
        future.release()


def execute(
    jobs: Sequence[Job],
    fn: Callable[[Job], Any] = run_job,
    executor: Any = "local",
    retries: int = 2,
    prepare: Sequence[str] = ("vad",),
) -> Iterator[tuple[Job, Any]]:
    """``(job, fn(job))`` as jobs finish, on ``executor`` (see the module docstring); ``prepare``
    names what each worker loads first (:func:`models_needed`)."""
    if executor in ("serial", 1) or not jobs:
        return _serial(jobs, fn)
    if executor in (None, "local") or (isinstance(executor, int) and not isinstance(executor, bool)):
        workers = (os.cpu_count() or 1) if executor in (None, "local") else int(executor)
        if workers < 1:
            raise ValueError(f"executor: a number of workers must be >= 1, got {executor}")
        return _local(jobs, fn, workers, retries, tuple(prepare))
    if hasattr(executor, "submit") and hasattr(executor, "register_plugin"):
        return _dask(jobs, fn, executor, retries, tuple(prepare))
    raise ValueError(
        f"executor must be 'local', 'serial', a number of workers or a dask Client, got {executor!r}"
    )


def trace_batch(settings: int, files: int, workers: int) -> int:
    """Settings per trace job: a file's model pass runs in one job (so once) unless there are too few
    files to keep every worker busy twice over; then each file's settings are split that many ways."""
    splits = max(1, math.ceil(2 * workers / max(1, files)))
    return max(1, math.ceil(settings / splits))


def _workers(executor: Any) -> int:
    if executor in ("serial", 1):
        return 1
    if executor in (None, "local"):
        return os.cpu_count() or 1
    if isinstance(executor, int) and not isinstance(executor, bool):
        return max(1, executor)
    try:
        return max(1, len(executor.scheduler_info()["workers"]))
    except Exception:  # not a Dask client: execute() names the problem
        return 1


def _progress(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="run", desc="sweep", disable=not enabled, leave=True)


def sweep(
    corpus: Corpus,
    grid: Any = None,
    *,
    mode: str = "trace",
    executor: Any = "local",
    out: str | Path | None = None,
    chunk_ms: float = DEFAULT_CHUNK_MS,
    tail_ms: float = DEFAULT_TAIL_MS,
    collar_ms: float = DEFAULT_COLLAR_MS,
    batch: int | None = None,
    retries: int = 2,
    progress: bool = True,
    confirm: Callable[[str], bool] | None = None,
    repeats: int = 1,
    concurrency: int = 4,
    responses: bool = False,
) -> pd.DataFrame:
    """Score every setting of ``grid`` on every file of ``corpus``: one row per (file, setting).

    ``grid``: a grid or a list of grids (see :mod:`~realtime_nb.sweeps.grid`; None: server_vad
    threshold x silence); a list of settings is a list of one-value grids. ``mode``: "trace" (the
    models once per file and noise setting, the engine's detector replayed per setting), "live"
    (one embedded-engine session per file and setting) or "cloud" (the keyed cloud endpoint at real
    time, ``repeats`` times, ``concurrency`` sessions at once; ``confirm`` is shown the cost estimate
    and must say yes). ``responses`` (live): every turn end creates a response, the audio goes at
    real time, and the rows gain ``response_latency_ms`` (true end of turn -> first response audio,
    median over the file's answered turns), ``response_latencies_ms`` and ``turns_answered``.
    ``executor``: see the module docstring. ``out``: a folder; rows are written
    there as they finish and a rerun resumes.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if not isinstance(corpus, Corpus):
        raise TypeError(f"corpus must be a realtime_nb.sweeps.Corpus, got {type(corpus).__name__}")
    if responses and mode != "live":
        raise ValueError(f"responses=True needs mode='live' (the engine's sessions), got mode={mode!r}")
    settings = expand(grid)
    params = Params(mode, float(chunk_ms), float(tail_ms), float(collar_ms), bool(responses))
    out_path = None if out is None else Path(out)
    existing = read_results(out_path) if out_path is not None else pd.DataFrame()
    done = _done_pairs(existing, params)
    rows: list[dict[str, Any]] = [] if existing.empty else existing.to_dict("records")
    if mode == "cloud":
        _sweep_cloud(corpus, settings, params, done, rows, out_path, confirm, repeats, concurrency)
        return tidy(rows, settings)
    if batch is None and mode == "trace":
        batch = trace_batch(len(settings), len(corpus), _workers(executor))
    jobs = plan_jobs(corpus, settings, params, done, batch)
    bar = _progress(sum(len(j.settings) for j in jobs), progress)
    try:
        for job, result in execute(jobs, run_job, executor, retries, models_needed(settings, mode)):
            if out_path is not None:
                _write_part(out_path, job, result)
            rows.extend(result)
            bar.update(len(job.settings))
    finally:
        bar.close()
    return tidy(rows, settings)


def _sweep_cloud(
    corpus: Corpus,
    settings: list[Setting],
    params: Params,
    done: set[tuple[str, str]],
    rows: list[dict[str, Any]],
    out: Path | None,
    confirm: Any,
    repeats: int,
    concurrency: int,
) -> None:
    from realtime_nb.sweeps.live import run_cloud

    todo = [(setting_id(s), s) for s in settings]
    recordings = [r for r in corpus if any((r.name, sid) not in done for sid, _ in todo)]

    def on_result(rec: Recording, sid: str, setting: Setting, rep: int, turns: list[DetectedTurn]) -> None:
        job = Job(rec, setting.get("noise_reduction"), ((sid, setting),), params)
        row = _row(job, sid, setting, turns, rec.duration_ms + params.tail_ms) | {"repeat": rep}
        if out is not None:
            _write_part(out, Job(rec, None, ((f"{sid}-{rep}", setting),), params), [row])
        rows.append(row)

    if recordings:
        run_cloud(
            recordings,
            todo,
            confirm=confirm,
            repeats=repeats,
            concurrency=concurrency,
            chunk_ms=params.chunk_ms,
            tail_ms=params.tail_ms,
            on_result=on_result,
        )


def tidy(rows: Iterable[dict[str, Any]], settings: Sequence[Setting] | None = None) -> pd.DataFrame:
    """Rows as a DataFrame sorted by file, then by the settings' order."""
    table = pd.DataFrame(list(rows))
    if table.empty:
        return table
    order = {setting_id(s): i for i, s in enumerate(settings or [])}
    table["_order"] = table["setting_id"].map(order).fillna(math.inf)
    table = table.sort_values(["file", "_order", "setting_id"], kind="stable").drop(columns="_order")
    return table.reset_index(drop=True)
