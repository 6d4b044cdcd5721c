"""The conversation item verbs: create, retrieve (audio decoded), delete, truncate.

Replies are matched by item id, never by arrival order: the server adds items of its own (VAD turns,
responses) at any moment, so "the next conversation.item.added" need not be ours.
"""

from __future__ import annotations

import math
from typing import Any

from realtime_nb.client.core import Event, InvalidEventError, SessionCore, check_id
from realtime_nb.client.items import function_call_output, message_text, with_decoded_audio
from realtime_nb.protocol import SessionConfig, new_id


class ConversationVerbs(SessionCore):
    """``conversation.item.*`` on a session."""

    async def create_item(
        self, item: Event, previous_item_id: str | None = None, timeout: float | None = None
    ) -> Event:
        """Add an item (canonical GA shape) and return it as ``conversation.item.added`` reports it.

        An item without ``id`` gets one here, so the reply is matched by id even when the server is
        adding items of its own at the same time.
        """
        self._check_open()
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise InvalidEventError(
                "item must be a dict with a string 'type' (message, function_call_output, ...)"
            )
        item = {**item}
        item.setdefault("id", new_id("item"))
        event: Event = {"type": "conversation.item.create", "item": item}
        if previous_item_id is not None:
            event["previous_item_id"] = previous_item_id
        wire = self._prepare(event)
        item_id = item["id"]
        reply = await self._request(
            wire,
            "conversation.item.added",
            lambda e: (e.get("item") or {}).get("id") == item_id,
            timeout=timeout,
        )
        return dict(reply["item"])

    async def create_text_message(
        self, text: str, role: str = "user", previous_item_id: str | None = None
    ) -> Event:
        """Add a text message (user by default)."""
        return await self.create_item(message_text(text, role), previous_item_id)

    async def create_function_output(self, call_id: str, output: Any) -> Event:
        """Add the result of a tool call (`output`: a string, or anything JSON-serialisable)."""
        return await self.create_item(function_call_output(call_id, output))

    async def retrieve(self, item_id: str, timeout: float | None = None) -> Event:
        """The item as the server holds it, with its audio decoded.

        The returned dict is the canonical item plus ``audio_pcm`` (int16 numpy array of all audio
        parts, in content order) and ``audio_rate`` (Hz of the item's audio format: 24000 for pcm16,
        8000 for G.711). User audio comes back as the server stored it (after noise reduction).
        """
        check_id(item_id, "item_id")
        wire = self._prepare({"type": "conversation.item.retrieve", "item_id": item_id})
        reply = await self._request(
            wire,
            "conversation.item.retrieved",
            lambda e: (e.get("item") or {}).get("id") == item_id,
            timeout=timeout,
        )
        config = self.config or SessionConfig()
        return with_decoded_audio(reply["item"], config.input_format, config.output_format)

    async def delete_item(self, item_id: str, timeout: float | None = None) -> None:
        """Remove an item from the conversation (waits for ``conversation.item.deleted``)."""
        check_id(item_id, "item_id")
        wire = self._prepare({"type": "conversation.item.delete", "item_id": item_id})
        await self._request(
            wire, "conversation.item.deleted", lambda e: e.get("item_id") == item_id, timeout=timeout
        )

    async def truncate(
        self, item_id: str, audio_end_ms: float, content_index: int = 0, timeout: float | None = None
    ) -> Event:
        """Cut an assistant audio item at `audio_end_ms` (what was actually played; rounded down).

        Returns the ``conversation.item.truncated`` event. Truncating past the audio the server
        produced is an error: pass the smaller of the time played and the audio received.

        Over WebRTC the server owns playback and truncates by itself on barge-in (and after
        ``output_audio_buffer.clear``), at the audio it actually sent, so a barge-in handler sends
        nothing. The call is still allowed there: it is a valid client event on every transport
        (e.g. to cut an earlier assistant item out of the context), but the client plays nothing and
        so knows no "played" point; truncating again after the server did cuts the item twice.
        """
        check_id(item_id, "item_id")
        if (
            isinstance(audio_end_ms, bool)
            or not isinstance(audio_end_ms, int | float)
            or not (math.isfinite(audio_end_ms) and audio_end_ms >= 0)
        ):
            raise ValueError(f"audio_end_ms must be a number of milliseconds >= 0, got {audio_end_ms!r}")
        if isinstance(content_index, bool) or not isinstance(content_index, int) or content_index < 0:
            raise ValueError(f"content_index must be an int >= 0, got {content_index!r}")
        wire = self._prepare(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": content_index,
                "audio_end_ms": math.floor(audio_end_ms),
            }
        )
        return await self._request(
            wire, "conversation.item.truncated", lambda e: e.get("item_id") == item_id, timeout=timeout
        )
