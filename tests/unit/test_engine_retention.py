"""Conversation audio retention: a session keeps its newest audio only, and says so on retrieve.

Real models, injected time, jobs inline (as test_engine_session drives the session).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest

from realtime_nb.engine.conversation import Conversation, Item, user_audio_item
from realtime_nb.engine.models import Models
from realtime_nb.engine.options import EngineOptions
from realtime_nb.engine.session import EngineSession
from realtime_nb.engine.state import ItemState
from realtime_nb.protocol import PCM_RATE, Dialect


@pytest.fixture(scope="module")
def models() -> Models:
    return Models.shared()


def _send(session: EngineSession, now: float, **event: Any) -> list[dict[str, Any]]:
    session.receive_text(json.dumps(event), now)
    return session.events_to_send()


def _audio_item(seconds: float) -> dict[str, Any]:
    pcm = (np.sin(np.arange(int(seconds * PCM_RATE)) / 9.0) * 3000).astype("<i2")
    audio = base64.b64encode(pcm.tobytes()).decode()
    return {"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": audio}]}


def test_the_oldest_audio_is_released_and_retrieving_it_is_a_clear_error(models) -> None:
    session = EngineSession(models, Dialect.GA, now=0.0, options=EngineOptions(audio_retention_s=1.0))
    session.events_to_send()
    ids = []
    for i in range(3):
        (added, *_) = _send(session, 0.1 * (i + 1), type="conversation.item.create", item=_audio_item(0.45))
        ids.append(added["item"]["id"])
    # 1.35 s arrived, 1 s is kept: the first item's audio went, the newer two keep theirs
    assert [session.conversation.get(i).audio_ms(0) for i in ids] == [0.0, 450.0, 450.0]
    (error,) = _send(session, 1.0, type="conversation.item.retrieve", item_id=ids[0], event_id="evt_old")
    assert error["type"] == "error"
    assert error["error"]["code"] == "item_audio_unavailable"
    assert error["error"]["param"] == "item_id" and error["error"]["event_id"] == "evt_old"
    assert "audio_retention_s" in error["error"]["message"]
    (retrieved,) = _send(session, 1.1, type="conversation.item.retrieve", item_id=ids[2])
    audio = base64.b64decode(retrieved["item"]["content"][0]["audio"])
    assert len(audio) == int(0.45 * PCM_RATE) * 2
    # the released item keeps its place in the conversation
    assert [item.id for item in session.conversation] == ids


def test_a_long_session_keeps_its_audio_flat(models) -> None:
    """Replies' audio stays within the retention, however many turns the session has."""
    session = EngineSession(models, Dialect.GA, now=0.0, options=EngineOptions(audio_retention_s=1.5))
    session.events_to_send()
    text = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    for turn in range(3):
        now = float(turn + 1)
        _send(session, now, type="conversation.item.create", item=text)
        _send(session, now, type="response.create")
        session.run_jobs_inline(now)
        session.events_to_send()
        kept = sum(pcm.size for item in session.conversation for pcm in item.audio.values())
        assert kept <= 1.5 * PCM_RATE, f"turn {turn}: {kept / PCM_RATE:.2f} s kept"
    replies = [item for item in session.conversation if item.role == "assistant"]
    assert replies[0].audio_released and replies[-1].audio


def test_release_skips_items_still_being_generated() -> None:
    conversation = Conversation()
    speaking = Item("item_reply", "message", "assistant", status=ItemState.IN_PROGRESS)
    speaking.audio[0] = np.zeros(PCM_RATE, np.int16)
    conversation.insert(speaking)
    conversation.insert(user_audio_item("item_user", np.zeros(PCM_RATE, np.int16)))
    assert conversation.release_audio(PCM_RATE // 2) == ["item_user"]
    assert speaking.audio[0].size == PCM_RATE and not speaking.audio_released


def test_retention_none_keeps_everything_and_bad_values_are_refused() -> None:
    assert EngineOptions(audio_retention_s=None).audio_retention_s is None
    with pytest.raises(ValueError, match="audio_retention_s"):
        EngineOptions(audio_retention_s=0)


def _turn(session: EngineSession, now: float, **create: Any) -> list[dict[str, Any]]:
    text = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    _send(session, now, type="conversation.item.create", item=text)
    events = _send(session, now, type="response.create", **create)
    session.run_jobs_inline(now)
    return events + session.events_to_send()


def test_finished_responses_are_not_kept(models) -> None:
    """Each response held a copy of the conversation's item list from when it started, and none was
    ever dropped: a session's memory grew with the square of its turns (and an out-of-band reply's
    audio, in no conversation, outlived the retention). Finished ones are forgotten; the
    rate_limits.updated figures still count every response of the session."""
    session = EngineSession(models, Dialect.GA, now=0.0, options=EngineOptions(audio_retention_s=1.5))
    session.events_to_send()
    remaining = []
    for turn in range(4):
        extra = {"response": {"conversation": "none"}} if turn % 2 else {}
        events = _turn(session, float(turn + 1), **extra)
        (done,) = [e for e in events if e["type"] == "response.done"]
        assert done["response"]["status"] == "completed"
        assert session.runs.get(done["response"]["id"]) is None
        assert session.runs.snapshot() == {}
        (limits,) = [e for e in events if e["type"] == "rate_limits.updated"]
        remaining.append(next(x["remaining"] for x in limits["rate_limits"] if x["name"] == "requests"))
    assert remaining == sorted(remaining, reverse=True) and len(set(remaining)) == 4
    # a finished response is named as not active, as before
    (error,) = _send(session, 9.0, type="response.cancel", response_id=done["response"]["id"])
    assert error["error"]["code"] == "response_cancel_not_active"
