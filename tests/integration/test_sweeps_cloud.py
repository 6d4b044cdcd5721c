"""A cloud sweep driven end to end against a stand-in for the cloud: the embedded engine at a URL
posing as OpenAI's (``OPENAI_BASE_URL`` on 127.0.0.1 and a made-up ``OPENAI_API_KEY``, so the sweep
takes its cloud path: the key, the cost plan, confirmation, real-time streaming, the concurrency
limit). Nothing leaves the machine."""

from __future__ import annotations

import asyncio

import pytest

from realtime_nb.notebook import local_engine
from realtime_nb.sweeps import Corpus, live, sweep
from realtime_nb.sweeps.live import CloudSweepRefused

pytestmark = pytest.mark.slow

FAKE_KEY = "sk-" + "sweep-test-0123456789abcdefgh"  # split: not a key, and scanners see none
GRID = [{"threshold": 0.5, "silence_duration_ms": 300}, {"threshold": 0.7, "silence_duration_ms": 600}]


@pytest.fixture
def fake_cloud(monkeypatch):
    engine = local_engine()
    engine.wait_ready(300)
    for name in ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{engine.port}/v1")
    return engine


@pytest.fixture
def in_flight(monkeypatch):
    """Counts cloud sessions open at once (wrapping the function every cloud session goes through)."""
    seen = {"now": 0, "most": 0, "sessions": 0, "speeds": set()}
    real = live.session_log

    async def counted(*args, **kwargs):
        seen["now"] += 1
        seen["sessions"] += 1
        seen["most"] = max(seen["most"], seen["now"])
        seen["speeds"].add(kwargs.get("speed"))
        try:
            await asyncio.sleep(0)
            return await real(*args, **kwargs)
        finally:
            seen["now"] -= 1

    monkeypatch.setattr(live, "session_log", counted)
    return seen


def test_a_confirmed_cloud_sweep_runs_at_real_time_within_its_concurrency(
    fake_cloud, in_flight, tmp_path
) -> None:
    corpus = Corpus.builtin(["single", "turns"])
    shown: list[str] = []

    def confirm(plan: str) -> bool:
        shown.append(plan)
        return True

    rows = sweep(
        corpus, GRID, mode="cloud", confirm=confirm, concurrency=2, repeats=1, out=tmp_path, progress=False
    )
    # the cost plan was shown once, before anything was sent, with its numbers
    assert len(shown) == 1 and "4 cloud sessions" in shown[0] and "$" in shown[0] and "2 at once" in shown[0]
    assert in_flight["sessions"] == 4 and in_flight["most"] == 2 and in_flight["speeds"] == {1.0}
    assert len(rows) == 4 and set(rows["file"]) == {"single", "turns"} and set(rows["repeat"]) == {0}
    assert (rows["detected_turns"] >= 1).all() and rows["eot_latency_ms"].notna().all()
    # the engine behind the fake cloud decides on the audio clock: its turns are the trace's
    trace = sweep(corpus, GRID, executor="serial", progress=False)
    for (_, c), (_, t) in zip(rows.iterrows(), trace.iterrows(), strict=True):
        assert (c["file"], c["setting_id"]) == (t["file"], t["setting_id"])
        assert list(c["turn_starts_ms"]) == list(t["turn_starts_ms"])
    # written as they finished: a rerun finds everything done and sends nothing
    again = sweep(corpus, GRID, mode="cloud", confirm=confirm, concurrency=2, out=tmp_path, progress=False)
    assert len(again) == 4 and in_flight["sessions"] == 4 and len(shown) == 1


def test_a_cloud_sweep_not_confirmed_sends_nothing(fake_cloud, in_flight) -> None:
    corpus = Corpus.builtin(["single"])
    with pytest.raises(CloudSweepRefused, match="not confirmed, nothing was sent: 2 cloud sessions"):
        sweep(corpus, GRID, mode="cloud", confirm=lambda plan: False, progress=False)
    assert in_flight["sessions"] == 0
