"""Full conversations with the real engine, driven by the official openai SDK in every dialect.

Every server event is validated (strictly) against the SDK model of its dialect and the order rules
of sequences*.md are checked at the end of each conversation (see conftest.EventChecker).
Speech comes from `realtime_nb.samples` (Piper voice, exact boundaries).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from realtime_nb import samples
from realtime_nb.engine import start_engine
from realtime_nb.engine.responder import EchoResponder, ResponderContext, ToolCall

KINDS = ("ga", "preview", "azure-preview", "azure-ga")
BYTES_PER_MS = 48  # pcm16 at 24 kHz
LONG_TEXT = " ".join(
    [
        "Please read this back to me slowly.",
        "The first sentence is about the weather, which is mild today.",
        "The second sentence is about the train, which is late again.",
        "The third sentence is about dinner, which will be pasta.",
        "The fourth sentence closes the list.",
    ]
)


def _turn_detection(silence_ms: int = 500) -> dict[str, Any]:
    # The whole object, as users are told to send it (what-users-ask-for.md: partial objects surprise).
    return {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": silence_ms,
        "create_response": True,
        "interrupt_response": True,
    }


def session_update(
    peer: Any, *, instructions: str | None = None, voice: str | None = None, **extra: Any
) -> dict:
    """A session.update in the peer's dialect; `extra` may hold turn_detection=… and tools=…."""
    session: dict[str, Any] = {}
    if peer.ga:
        session["type"] = "realtime"
        if "turn_detection" in extra:
            session.setdefault("audio", {}).setdefault("input", {})["turn_detection"] = extra.pop(
                "turn_detection"
            )
        if voice is not None:
            session.setdefault("audio", {}).setdefault("output", {})["voice"] = voice
    elif voice is not None:
        session["voice"] = voice
    if instructions is not None:
        session["instructions"] = instructions
    session.update(extra)
    return {"type": "session.update", "event_id": "evt_session_update", "session": session}


def user_text(text: str, event_id: str = "evt_item") -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "event_id": event_id,
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
    }


async def stream(peer: Any, pcm: np.ndarray, chunk_ms: int = 100) -> None:
    """Append int16 24 kHz audio in `chunk_ms` pieces, as fast as the socket takes them."""
    data = pcm.astype("<i2").tobytes()
    step = chunk_ms * BYTES_PER_MS
    for start in range(0, len(data), step):
        audio = base64.b64encode(data[start : start + step]).decode()
        await peer.send({"type": "input_audio_buffer.append", "audio": audio})


async def finish_response(peer: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Receive the next response to its response.done; returns (response, its events)."""
    created = await peer.expect("response.created")
    response_id = created["response"]["id"]
    start = len(peer.log.events)
    done = await peer.expect("response.done", lambda e: e["response"]["id"] == response_id)
    events = [e for e in peer.log.events[start:] if e.get("response_id") == response_id]
    return done["response"], events


def audio_of(peer: Any, events: list[dict[str, Any]]) -> bytes:
    kind = peer.name("response.output_audio.delta")
    return b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == kind)


def transcript_of(peer: Any, events: list[dict[str, Any]]) -> str:
    kind = peer.name("response.output_audio_transcript.delta")
    return "".join(e["delta"] for e in events if e["type"] == kind)


@pytest.fixture(scope="module")
def single() -> samples.Sample:
    return samples.load("single")


# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_session_update_is_applied_and_reported(engine: Any, open_peer: Any, kind: str) -> None:
    async with open_peer(engine, kind) as peer:
        await peer.send(
            session_update(peer, instructions="Be brief.", voice="ash", turn_detection=_turn_detection(650))
        )
        session = (await peer.expect("session.updated"))["session"]
        assert session["instructions"] == "Be brief."
        if peer.ga:
            assert session["audio"]["output"]["voice"] == "ash"
            assert session["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 650
        else:
            assert session["voice"] == "ash"
            assert session["turn_detection"]["silence_duration_ms"] == 650
        peer.log.check_order()


@pytest.mark.parametrize("kind", KINDS)
async def test_server_vad_audio_turn_gets_a_spoken_answer(
    engine: Any, open_peer: Any, single: samples.Sample, kind: str
) -> None:
    engine.wait_ready()
    speech_start_ms, speech_end_ms = single.segments[0].ms()
    async with open_peer(engine, kind) as peer:
        await peer.send(session_update(peer, turn_detection=_turn_detection(500)))
        await peer.expect("session.updated")
        await stream(peer, single.audio)

        started = await peer.expect("input_audio_buffer.speech_started")
        item_id = started["item_id"]
        # audio_start_ms counts from the session's first audio and includes prefix_padding_ms (300)
        assert speech_start_ms - 300 - 100 <= started["audio_start_ms"] <= speech_start_ms - 300 + 150
        stopped = await peer.expect("input_audio_buffer.speech_stopped")
        assert stopped["item_id"] == item_id
        # audio_end_ms includes the silence window (500)
        assert speech_end_ms + 500 - 100 <= stopped["audio_end_ms"] <= speech_end_ms + 500 + 200
        committed = await peer.expect("input_audio_buffer.committed")
        assert committed["item_id"] == item_id
        added = await peer.expect("conversation.item.added", lambda e: e["item"]["id"] == item_id)
        assert added["item"]["role"] == "user" and added["item"]["content"][0]["type"] == "input_audio"

        response, events = await finish_response(peer)
        assert response["status"] == "completed"
        pcm = audio_of(peer, events)
        assert len(pcm) > 500 * BYTES_PER_MS and len(pcm) % 2 == 0  # at least half a second of speech
        spoken = transcript_of(peer, events)
        assert spoken.startswith("You said")
        final = [e for e in events if e["type"] == peer.name("response.output_audio_transcript.done")]
        assert final and final[0]["transcript"] == spoken
        peer.log.check_order()


@pytest.mark.parametrize("kind", ["ga", "preview"])
async def test_text_in_audio_out_and_text_only_response(engine: Any, open_peer: Any, kind: str) -> None:
    async with open_peer(engine, kind) as peer:
        await peer.send(session_update(peer, turn_detection=None))
        await peer.expect("session.updated")
        await peer.send(user_text("Hello there"))
        await peer.expect("conversation.item.added", lambda e: e["item"]["role"] == "user")
        await peer.send({"type": "response.create", "event_id": "evt_audio"})
        response, events = await finish_response(peer)
        assert response["status"] == "completed"
        assert transcript_of(peer, events) == "You wrote: Hello there."
        assert len(audio_of(peer, events)) > 0

        modalities = {"output_modalities": ["text"]} if peer.ga else {"modalities": ["text"]}
        await peer.send({"type": "response.create", "event_id": "evt_text", "response": modalities})
        response, events = await finish_response(peer)
        assert response["status"] == "completed"
        text = "".join(e["delta"] for e in events if e["type"] == peer.name("response.output_text.delta"))
        assert text.startswith("You wrote:")
        assert not audio_of(peer, events)
        peer.log.check_order()


@pytest.mark.parametrize("kind", ["ga", "preview"])
async def test_cancel_mid_response_flushes_every_done(engine: Any, open_peer: Any, kind: str) -> None:
    async with open_peer(engine, kind) as peer:
        await peer.send(session_update(peer, turn_detection=None))
        await peer.expect("session.updated")
        await peer.send(user_text(LONG_TEXT))
        await peer.send({"type": "response.create", "event_id": "evt_long"})
        created = await peer.expect("response.created")
        await peer.expect("response.output_audio.delta")
        await peer.send({"type": "response.cancel", "event_id": "evt_cancel"})
        done = await peer.expect("response.done")
        assert done["response"]["id"] == created["response"]["id"]
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["status_details"]["reason"] == "client_cancelled"
        peer.log.check_order()  # every .added got its .done although the response was cut

        await peer.send({"type": "response.cancel", "event_id": "evt_cancel_again"})
        await peer.error("evt_cancel_again")
        await peer.still_works()


@pytest.mark.parametrize("kind", ["ga", "azure-preview"])
async def test_truncate_and_retrieve(engine: Any, open_peer: Any, single: samples.Sample, kind: str) -> None:
    async with open_peer(engine, kind) as peer:
        await peer.send(session_update(peer, turn_detection=_turn_detection(500)))
        await peer.expect("session.updated")
        await stream(peer, single.audio)
        started = await peer.expect("input_audio_buffer.speech_started")
        stopped = await peer.expect("input_audio_buffer.speech_stopped")
        response, events = await finish_response(peer)
        assistant_id = response["output"][0]["id"]
        received_ms = len(audio_of(peer, events)) / BYTES_PER_MS

        # retrieve: the user's audio as the engine stored it (prefix padding to the end of the silence)
        await peer.send(
            {"type": "conversation.item.retrieve", "event_id": "evt_get", "item_id": started["item_id"]}
        )
        item = (await peer.expect("conversation.item.retrieved"))["item"]
        stored_ms = len(base64.b64decode(item["content"][0]["audio"])) / BYTES_PER_MS
        assert abs(stored_ms - (stopped["audio_end_ms"] - started["audio_start_ms"])) <= 40

        # truncate at what was "played"; past the end of the audio is refused and changes nothing
        await peer.send(
            {
                "type": "conversation.item.truncate",
                "event_id": "evt_past",
                "item_id": assistant_id,
                "content_index": 0,
                "audio_end_ms": int(received_ms) + 5000,
            }
        )
        await peer.error("evt_past")
        await peer.send(
            {
                "type": "conversation.item.truncate",
                "event_id": "evt_cut",
                "item_id": assistant_id,
                "content_index": 0,
                "audio_end_ms": 300,
            }
        )
        truncated = await peer.expect("conversation.item.truncated")
        assert (truncated["item_id"], truncated["content_index"], truncated["audio_end_ms"]) == (
            assistant_id,
            0,
            300,
        )
        await peer.send(
            {"type": "conversation.item.retrieve", "event_id": "evt_get2", "item_id": assistant_id}
        )
        item = (await peer.expect("conversation.item.retrieved"))["item"]
        audio = item["content"][0].get("audio")
        if audio:  # when the engine returns assistant audio, it is cut at the truncation point
            assert len(base64.b64decode(audio)) == 300 * BYTES_PER_MS
        await peer.send(
            {"type": "conversation.item.retrieve", "event_id": "evt_missing", "item_id": "item_nope"}
        )
        await peer.error("evt_missing")
        peer.log.check_order()


# --------------------------------------------------------------------------------------------------
# Function calls need a responder that calls tools; the responder is user code, not the engine.


def _weather_responder(context: ResponderContext) -> Any:
    last = context.items[-1] if context.items else {}
    if context.tools and last.get("type") != "function_call_output":
        return ToolCall("get_weather", {"city": "Paris"})
    return EchoResponder()(context)


@pytest.fixture(scope="module")
def tool_engine() -> Iterator[Any]:
    with start_engine(responder=_weather_responder) as running:
        yield running


WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.mark.parametrize("kind", ["ga", "preview"])
async def test_function_call_round_trip(tool_engine: Any, open_peer: Any, kind: str) -> None:
    async with open_peer(tool_engine, kind) as peer:
        await peer.send(session_update(peer, turn_detection=None, tools=[WEATHER_TOOL], tool_choice="auto"))
        await peer.expect("session.updated")
        await peer.send(user_text("What is the weather in Paris?"))
        await peer.send({"type": "response.create", "event_id": "evt_ask"})
        args_done = await peer.expect("response.function_call_arguments.done")
        assert args_done["arguments"] == '{"city": "Paris"}'
        if peer.ga:
            assert args_done["name"] == "get_weather"
        response = (await peer.expect("response.done"))["response"]
        assert response["status"] == "completed"
        call = response["output"][0]
        assert call["type"] == "function_call" and call["call_id"] == args_done["call_id"]

        await peer.send(
            {
                "type": "conversation.item.create",
                "event_id": "evt_result",
                "item": {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny, 21 C"},
            }
        )
        await peer.expect("conversation.item.added", lambda e: e["item"]["type"] == "function_call_output")
        await peer.send({"type": "response.create", "event_id": "evt_answer"})
        response, events = await finish_response(peer)
        assert response["status"] == "completed"
        assert transcript_of(peer, events) == "The tool returned: sunny, 21 C."
        peer.log.check_order()
