"""The session's ``conversation.item.*`` requests: create, retrieve, delete and truncate.

The items and their rules live in :mod:`~realtime_nb.engine.conversation` (an item knows how it is
truncated); this part reads the requests, checks what needs the whole conversation, and emits the
answers. Audio is rendered for ``retrieve`` in the format it came or went in.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import numpy as np

from realtime_nb.audio import AUDIO_RATES, encode, resample
from realtime_nb.engine.conversation import Conversation, Item, item_from_client
from realtime_nb.engine.errors import RequestError
from realtime_nb.engine.host import Host
from realtime_nb.engine.options import EngineOptions
from realtime_nb.engine.state import ItemState
from realtime_nb.engine.wire_audio import decode_item_audio
from realtime_nb.protocol import PCM_RATE
from realtime_nb.protocol.limits import MAX_ITEMS_PER_CONVERSATION


class ItemRequests:
    """Handlers of the client's item events (canonical form)."""

    def __init__(self, host: Host, conversation: Conversation, options: EngineOptions) -> None:
        self._host = host
        self._conversation = conversation
        self._options = options

    def decode_audio(self, b64: str, param: str) -> np.ndarray:
        """Base64 audio of a client item, in the session's input format -> 24 kHz PCM16."""
        return decode_item_audio(b64, self._host.config().input_format, param)

    def create(self, canonical: dict[str, Any]) -> None:
        if len(self._conversation) >= MAX_ITEMS_PER_CONVERSATION:
            raise RequestError(
                "conversation_full",
                f"The conversation holds {len(self._conversation)} items, the engine's limit; delete "
                "some (conversation.item.delete) before creating more.",
                "item",
            )
        item = item_from_client(canonical.get("item"), self.decode_audio)
        previous_id = canonical.get("previous_item_id")
        if previous_id is not None and not isinstance(previous_id, str):
            raise RequestError("invalid_type", "'previous_item_id' must be a string.", "previous_item_id")
        self._conversation.check_insert(item, previous_id)
        if item.type == "function_call_output" and not any(
            it.type == "function_call" and it.call_id == item.call_id for it in self._conversation
        ):
            raise RequestError(
                "invalid_value",
                f"No function_call item with call_id '{item.call_id}' in the conversation.",
                "item.call_id",
            )
        previous = self._conversation.insert(item, previous_id)
        emit = self._host.emit
        emit({"type": "conversation.item.added", "previous_item_id": previous, "item": item.render()})
        emit({"type": "conversation.item.done", "previous_item_id": previous, "item": item.render()})

    def retrieve(self, canonical: dict[str, Any]) -> None:
        """``conversation.item.retrieved`` with the item's audio, assistant audio included.

        Over WebRTC the services return no audio for assistant items (it went out on the track).
        The engine is more generous and returns it on both transports (truncated at what was
        played, after a barge-in): the audio of a reply is what a notebook compares, scores and
        plots, and only the engine can hand it over without recording the track.
        """
        item = self._conversation.get(canonical.get("item_id"))
        item.check_audio_kept()
        self._host.emit(
            {"type": "conversation.item.retrieved", "item": item.render(audio_b64=self._audio_b64_for(item))}
        )

    def delete(self, canonical: dict[str, Any]) -> None:
        item = self._conversation.get(canonical.get("item_id"))
        if item.status is ItemState.IN_PROGRESS:
            raise RequestError(
                "item_in_progress",
                f"Item {item.id} is still being generated; cancel the response first.",
                "item_id",
            )
        self._conversation.remove(item.id)
        self._host.emit({"type": "conversation.item.deleted", "item_id": item.id})

    def truncate(self, canonical: dict[str, Any]) -> None:
        item = self._conversation.get(canonical.get("item_id"))
        index, end_ms = canonical.get("content_index"), canonical.get("audio_end_ms")
        truncate_item(self._host, item, index, end_ms, self._options)

    def _audio_b64_for(self, item: Item) -> Callable[[np.ndarray], str]:
        config = self._host.config()
        fmt = (item.audio_format or config.output_format) if item.role == "assistant" else config.input_format

        def render(pcm24: np.ndarray) -> str:
            native = resample(pcm24, PCM_RATE, AUDIO_RATES[fmt]) if AUDIO_RATES[fmt] != PCM_RATE else pcm24
            return base64.b64encode(encode(native, fmt)).decode("ascii")  # type: ignore[arg-type]

        return render


def truncate_item(
    host: Host, item: Item, content_index: object, audio_end_ms: object, options: EngineOptions
) -> None:
    """Cut ``item``'s audio at ``audio_end_ms`` and say so (``conversation.item.truncated``).

    The client's ``conversation.item.truncate`` and the WebRTC barge-in (which truncates at the
    audio the track actually sent) both come here. RequestError, nothing changed, when refused.
    """
    item.truncate(content_index, audio_end_ms, options.truncate_transcript)
    host.emit(
        {
            "type": "conversation.item.truncated",
            "item_id": item.id,
            "content_index": content_index,
            "audio_end_ms": audio_end_ms,
        }
    )
