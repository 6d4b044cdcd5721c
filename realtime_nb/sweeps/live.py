"""Live mode: each (file x setting) streamed through a real session, and the turns read off its events.

On the embedded engine the audio goes as fast as the engine takes it (turn detection runs on the
audio clock, so the turns are those of a real-time run). On a cloud endpoint it goes at real time,
a few sessions at once, and only after the cost was shown and confirmed (:func:`cloud_plan`):
nothing is sent without that, and without a key the sweep stops with a message saying which
variables to set.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from realtime_nb.audio import write_wav
from realtime_nb.protocol import PCM_RATE
from realtime_nb.sweeps.corpus import Recording
from realtime_nb.sweeps.grid import Setting, turn_detection
from realtime_nb.sweeps.trace import DEFAULT_CHUNK_MS, DEFAULT_TAIL_MS, DetectedTurn

# Audio input to gpt-realtime, December 2026 list price: $32 per 1M audio tokens at 10 tokens per
# second of audio. An estimate for the confirmation prompt, not a bill: pass your own rate.
DEFAULT_USD_PER_AUDIO_MINUTE = 32.0 / 1_000_000 * 10 * 60
LOCAL_TIMEOUT_S = 120.0


class CloudSweepRefused(RuntimeError):
    """A cloud sweep that was not started: no key, or the cost was not confirmed."""


def turns_from_log(log: Any) -> list[DetectedTurn]:
    """The VAD turns of an ``EventLog`` as the wire reported them (integer ms)."""
    table = log.turns()
    table = table[table["kind"] == "vad"].dropna(subset=["audio_start_ms"]).sort_values("audio_start_ms")
    return [
        DetectedTurn(float(s), float(e) if e is not None and not _isnan(e) else math.nan)
        for s, e in zip(table["audio_start_ms"], table["audio_end_ms"], strict=True)
    ]


def _isnan(value: Any) -> bool:
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True


async def session_log(
    endpoint: Any,
    recording: Recording,
    setting: Setting,
    *,
    chunk_ms: float = DEFAULT_CHUNK_MS,
    tail_ms: float = DEFAULT_TAIL_MS,
    speed: float = 0,
    quiet_s: float = 0.3,
    timeout: float = LOCAL_TIMEOUT_S,
    responses: bool = False,
) -> Any:
    """Stream ``recording`` into a new session on ``endpoint`` set up with ``setting``; its
    ``EventLog``. ``responses``: each turn end creates a response (else none does)."""
    from realtime_nb.client import RealtimeSession
    from realtime_nb.notebook import settle

    session = RealtimeSession(endpoint, timeout=timeout, response_timeout=timeout)
    with tempfile.TemporaryDirectory(prefix="realtime_nb-sweep-") as tmp:
        wav = write_wav(Path(tmp) / f"{recording.name}.wav", recording.audio, PCM_RATE)
        await session.connect()
        try:
            await session.update_session(
                turn_detection=turn_detection(setting, create_response=responses),
                noise_reduction=setting.get("noise_reduction"),
            )
            await session.stream_file(wav, speed=speed, chunk_ms=chunk_ms, tail_silence_ms=tail_ms)
            await settle(session, quiet_s, timeout)
        finally:
            await session.close()
    return session.log


async def session_turns(
    endpoint: Any, recording: Recording, setting: Setting, **options: Any
) -> list[DetectedTurn]:
    """:func:`session_log`'s turns (integer ms, as the wire reported them)."""
    return turns_from_log(await session_log(endpoint, recording, setting, **options))


def response_latencies(log: Any, recording: Recording) -> list[float]:
    """Per labelled turn that was answered: true end of the turn -> the first response audio after
    it, in ms of wall clock (a session streamed at real time, so the two clocks agree). The true end
    is when the client *sent* the turn's last labelled sample; the answer is the first audio delta
    (over WebRTC the first audible track frame) of any response arriving after it and before the
    next labelled turn began to be sent. A turn with no such audio is left out (see
    ``unended_turns`` and ``false_cuts`` for why a turn went unanswered)."""
    from realtime_nb.timeline.analysis import LogView

    firsts = log.responses()["t_first_audio"].dropna().sort_values().to_numpy(dtype=float)
    turns = sorted(recording.turns, key=lambda t: t.start_ms)
    with log._lock:  # EventLog keeps its recorder private; LogView reads it as the tables do
        view = LogView(log._rec)
        sent = [
            (view.sent_t(_sample(t.end_ms) - 1), view.sent_t(_sample(nxt.start_ms)) if nxt else math.inf)
            for t, nxt in zip(turns, [*turns[1:], None], strict=True)
        ]
    latencies = []
    for end_t, next_t in sent:
        after = firsts[(firsts >= end_t) & (firsts < next_t)] if not math.isnan(end_t) else []
        if len(after):
            latencies.append(round((float(after[0]) - end_t) * 1000.0, 1))
    return latencies


def _sample(ms: float) -> int:
    return max(0, round(ms * PCM_RATE / 1000))


def engine_run(
    recording: Recording, setting: Setting, *, chunk_ms: float, tail_ms: float, responses: bool = False
) -> tuple[list[DetectedTurn], list[float] | None]:
    """:func:`session_log` on this process's embedded engine (started on first use): the turns, and
    with ``responses`` the latencies to the first response audio (:func:`response_latencies`; the
    audio then goes at real time, as a user speaks, else as fast as the engine takes it)."""
    from realtime_nb.client import Endpoint
    from realtime_nb.notebook import local_engine

    engine = local_engine()
    engine.wait_ready(LOCAL_TIMEOUT_S)
    endpoint = Endpoint.local(engine.url)
    log = run_coroutine(
        session_log(
            endpoint,
            recording,
            setting,
            chunk_ms=chunk_ms,
            tail_ms=tail_ms,
            speed=1.0 if responses else 0,
            responses=responses,
        )
    )
    return turns_from_log(log), response_latencies(log, recording) if responses else None


def engine_turns(
    recording: Recording, setting: Setting, *, chunk_ms: float, tail_ms: float
) -> list[DetectedTurn]:
    """:func:`engine_run`'s turns, without responses."""
    return engine_run(recording, setting, chunk_ms=chunk_ms, tail_ms=tail_ms)[0]


def run_coroutine(coro: Any) -> Any:
    """``asyncio.run``, also from inside a running loop (a notebook cell calling ``sweep``): there
    on a thread of its own, so the caller's loop is not re-entered."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sweep-live") as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass(frozen=True)
class CloudPlan:
    """What a cloud sweep would send, and roughly what it costs."""

    sessions: int
    audio_minutes: float
    usd: float
    concurrency: int
    wall_minutes: float

    def describe(self) -> str:
        return (
            f"{self.sessions} cloud sessions, {self.audio_minutes:.1f} min of audio sent at real time "
            f"(about {self.wall_minutes:.1f} min with {self.concurrency} at once); estimated cost "
            f"${self.usd:.2f} for the audio input (no responses are requested)"
        )


def cloud_plan(
    recordings: Sequence[Recording],
    settings: Sequence[Setting],
    *,
    repeats: int = 1,
    concurrency: int = 4,
    tail_ms: float = DEFAULT_TAIL_MS,
    usd_per_audio_minute: float = DEFAULT_USD_PER_AUDIO_MINUTE,
) -> CloudPlan:
    per_pass = sum(r.duration_ms + tail_ms for r in recordings) / 60000.0
    minutes = per_pass * len(settings) * repeats
    return CloudPlan(
        len(recordings) * len(settings) * repeats,
        minutes,
        minutes * usd_per_audio_minute,
        concurrency,
        minutes / max(1, concurrency),
    )


def _cloud_endpoint() -> Any:
    from realtime_nb.notebook import cloud_endpoints

    found = cloud_endpoints(prompt=False)
    if not found:
        raise CloudSweepRefused(
            "a cloud sweep needs a key: set OPENAI_API_KEY (or AZURE_OPENAI_API_KEY and "
            "AZURE_OPENAI_ENDPOINT); nothing was sent. mode='trace' or 'live' sweeps the embedded engine."
        )
    return next(iter(found.values()))


def run_cloud(
    recordings: Sequence[Recording],
    settings: Sequence[tuple[str, Setting]],
    *,
    confirm: Callable[[str], bool] | None,
    repeats: int = 1,
    concurrency: int = 4,
    chunk_ms: float = DEFAULT_CHUNK_MS,
    tail_ms: float = DEFAULT_TAIL_MS,
    usd_per_audio_minute: float = DEFAULT_USD_PER_AUDIO_MINUTE,
    on_result: Callable[[Recording, str, Setting, int, list[DetectedTurn]], None],
) -> None:
    """Every (file x setting x repeat) on the cloud at real time, ``concurrency`` sessions at once.

    ``confirm`` is shown :meth:`CloudPlan.describe` and must return True; None refuses (a sweep
    never spends money on its own).
    """
    endpoint = _cloud_endpoint()
    plan = cloud_plan(
        recordings,
        [s for _, s in settings],
        repeats=repeats,
        concurrency=concurrency,
        tail_ms=tail_ms,
        usd_per_audio_minute=usd_per_audio_minute,
    )
    if confirm is None or not confirm(plan.describe()):
        raise CloudSweepRefused(f"not confirmed, nothing was sent: {plan.describe()}")

    async def main() -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(rec: Recording, sid: str, setting: Setting, rep: int) -> None:
            async with gate:
                turns = await session_turns(
                    endpoint,
                    rec,
                    setting,
                    chunk_ms=chunk_ms,
                    tail_ms=tail_ms,
                    speed=1.0,
                    quiet_s=1.0,
                    timeout=60.0,
                )
            on_result(rec, sid, setting, rep, turns)

        await asyncio.gather(
            *(one(r, sid, s, k) for r in recordings for sid, s in settings for k in range(repeats))
        )

    run_coroutine(main())
