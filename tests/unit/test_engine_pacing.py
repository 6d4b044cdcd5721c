"""WebSocket replies stream at most ``stream_ahead_ms`` ahead of real time (sans-I/O, jobs inline).

The session's clock is injected, so "real time" is what the test says: with the clock standing still
a long reply pauses after its lead; as the clock moves on it goes on, in order, to the end.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from realtime_nb.engine.models import Models
from realtime_nb.engine.options import EngineOptions
from realtime_nb.engine.session import EngineSession
from realtime_nb.protocol import Dialect

REPLY = "First sentence of a reply. Second sentence of a reply. Third sentence of a reply."


@pytest.fixture(scope="module")
def models() -> Models:
    return Models.shared()


def _session(models: Models, **options: Any) -> EngineSession:
    session = EngineSession(
        models, Dialect.GA, now=0.0, options=EngineOptions(responder=lambda ctx: REPLY, **options)
    )
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]}
    session.receive_text(json.dumps({"type": "conversation.item.create", "item": item}), 0.0)
    session.receive_text(json.dumps({"type": "response.create"}), 0.0)
    session.events_to_send()
    return session


def _audio_ms(events: list[dict[str, Any]]) -> float:
    return sum(len(e["delta"]) * 3 / 4 / 48 for e in events if e["type"] == "response.output_audio.delta")


def test_a_reply_pauses_at_its_lead_and_goes_on_with_the_clock(models) -> None:
    session = _session(models, stream_ahead_ms=500)
    session.run_jobs_inline(0.0)
    first = session.events_to_send()
    assert "response.done" not in [e["type"] for e in first]  # paused, clock standing still
    lead = _audio_ms(first)
    assert 500 <= lead < 6000  # the lead, plus the one sentence that crossed it
    now = 0.0
    events = first
    while not any(e["type"] == "response.done" for e in events):
        now += 1.0
        session.tick(now)
        session.run_jobs_inline(now)
        events = session.events_to_send()
        assert now < 60, "the reply never finished"
    reference = _session(models, stream_ahead_ms=None)
    reference.run_jobs_inline(0.0)
    unpaced = reference.events_to_send()
    assert any(e["type"] == "response.done" for e in unpaced)  # without a lead: all at once
    assert [e["response"]["status"] for e in events if e["type"] == "response.done"] == ["completed"]
