"""Push-to-talk on the kernel side: a release is one step, commit then response, never a response alone."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from realtime_nb.client import ServerError
from realtime_nb.widgets import PCM_RATE, Mic
from realtime_nb.widgets.mic import handle_msg


class _Session:
    """Stand-in that refuses a commit the way the service does for less than 100 ms of audio."""

    def __init__(self, refuse: bool) -> None:
        self.refuse = refuse
        self.calls: list[str] = []

    async def append_audio(self, samples: np.ndarray, rate: int) -> None:
        self.calls.append("append")

    async def commit(self) -> str:
        self.calls.append("commit")
        if self.refuse:
            raise ServerError("input_audio_buffer_commit_empty", "buffer too small", None, "evt_1")
        return "item_1"

    async def create_response(self) -> None:
        self.calls.append("response")


def _tap(mic: Mic, samples: int) -> None:
    handle_msg(mic, {"type": "ptt", "down": True}, None, 0.0)
    chunk = {"type": "chunk", "seq": 0, "t_capture": 1.0, "rate": PCM_RATE, "level": 0.1}
    handle_msg(mic, chunk, [np.zeros(samples, np.int16).tobytes()], 2.0)
    handle_msg(mic, {"type": "ptt", "down": False}, None, 3.0)


async def test_a_refused_commit_asks_for_no_response() -> None:
    session = _Session(refuse=True)
    mic = Mic(session, mode="push_to_talk")
    _tap(mic, 960)  # 40 ms: the service refuses to commit it
    await mic.flush()
    assert session.calls == ["append", "commit"]
    assert mic.turns_committed == 0
    assert [type(e) for e in mic.send_errors] == [ServerError]


async def test_an_accepted_commit_is_followed_by_one_response() -> None:
    session = _Session(refuse=False)
    mic = Mic(session, mode="push_to_talk")
    _tap(mic, 4800)
    await mic.flush()
    assert session.calls == ["append", "commit", "response"]
    assert mic.turns_committed == 1 and mic.send_errors == []


async def test_the_raw_audio_of_each_committed_turn_is_kept_per_item() -> None:
    from realtime_nb import start_engine

    with start_engine() as engine:
        await _two_turns_kept(engine)
    with pytest.raises(RuntimeError, match="recorded"):
        Mic().sent_audio("item_x")


async def _two_turns_kept(engine: object) -> None:
    from realtime_nb.client import Endpoint, RealtimeSession

    async with RealtimeSession(Endpoint.local(engine.url)) as session:  # type: ignore[attr-defined]
        await session.update_session(turn_detection=None)
        mic = Mic(session, mode="push_to_talk")
        rng = np.random.default_rng(3)
        turns = [(rng.standard_normal(n) * 3000).astype(np.int16) for n in (4800, 7200)]
        items = []
        for seq, audio in enumerate(turns):
            committed = asyncio.ensure_future(session.wait_for("input_audio_buffer.committed", timeout=30))
            handle_msg(mic, {"type": "ptt", "down": True}, None, 0.0)
            chunk = {"type": "chunk", "seq": seq, "t_capture": 1.0, "rate": PCM_RATE, "level": 0.1}
            handle_msg(mic, chunk, [audio.tobytes()], 2.0)
            handle_msg(mic, {"type": "ptt", "down": False}, None, 3.0)
            await mic.flush()
            items.append((await committed)["item_id"])
        for item_id, audio in zip(items, turns, strict=True):
            np.testing.assert_array_equal(mic.sent_audio(item_id), audio)
        with pytest.raises(KeyError, match="item_nope"):
            mic.sent_audio("item_nope")
