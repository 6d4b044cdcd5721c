"""Fuzz figures: 10 000 client events per dialect against a real EngineSession, counted.

The events are tests/fuzz_events.py's (valid, near-valid and hostile in roughly equal parts, built
from the protocol's field tables and event catalogue), fed in sessions of 10 events each by the
same `FuzzDriver` the suite uses. Prints, per dialect and scaled to 10 000 events: accepted,
rejected by error code, exceptions escaped (must be 0: an exception out of `receive_text`, or a
`server_error` the router's last resort had to make) and broken properties (must be 0: an error
without code / message / param / event_id, a message quoting a large value, a refusal that changed
the session), with the first few of each, and the events per second.

Run: PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_fuzz.py [events per dialect] [seed]
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.fuzz_events, run from anywhere

from realtime_nb.protocol import Dialect
from tests.fuzz_events import FuzzDriver, FuzzModels, Verdict, any_event

PER_SESSION = 10


def run(dialect: Dialect, events: int, seed_value: int) -> tuple[Verdict, float, int]:
    models = FuzzModels()
    verdict = Verdict()
    not_working = 0

    @seed(seed_value)
    @settings(
        max_examples=max(1, events // PER_SESSION),
        deadline=None,
        database=None,
        phases=["generate"],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(any_event(dialect), min_size=PER_SESSION, max_size=PER_SESSION))
    def session(batch: list[object]) -> None:
        nonlocal not_working
        driver = FuzzDriver(models, dialect, verdict)
        for event in batch:
            driver.feed(event)  # type: ignore[arg-type]
        if not driver.still_works():
            not_working += 1

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the placeholder voice says so once
        session()
    return verdict, time.perf_counter() - start, not_working


def report(dialect: Dialect, verdict: Verdict, seconds: float, not_working: int) -> None:
    n = verdict.events
    scale = 10_000 / n if n else 0.0
    print(
        f"\n{dialect.value}: {n} events in {seconds:.1f} s ({n / seconds:.0f} events/s)   per 10 000 events:"
    )
    print(f"  accepted            {verdict.accepted * scale:8.0f}")
    print(f"  rejected            {sum(verdict.rejected.values()) * scale:8.0f}")
    for code, count in verdict.rejected.most_common():
        print(f"    {code:<36} {count * scale:6.0f}")
    print(f"  exceptions escaped  {len(verdict.escaped) * scale:8.0f}   (must be 0)")
    print(f"  broken properties   {len(verdict.broken) * scale:8.0f}   (must be 0)")
    print(f"  sessions unusable after their events: {not_working}   (must be 0)")
    for line in (verdict.escaped + verdict.broken)[:5]:
        print("    ", line[:300])


def main() -> int:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    seed_value = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    print(f"fuzzing {events} events per dialect, seed {seed_value} (figures from a shared, loaded machine)")
    failed = False
    for dialect in (Dialect.GA, Dialect.PREVIEW):
        verdict, seconds, not_working = run(dialect, events, seed_value)
        report(dialect, verdict, seconds, not_working)
        failed |= bool(verdict.escaped or verdict.broken or not_working)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
