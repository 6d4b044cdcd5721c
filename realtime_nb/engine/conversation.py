"""The default conversation: ordered items, their lifecycle and their wire rendering.

Items are held in canonical (GA) form. Audio never lives in the item dicts: user input audio and
assistant output audio are kept as 24 kHz PCM16 arrays beside them (``Item.audio``), and are put back
as base64 only for ``conversation.item.retrieved``. The user audio stored is the *processed* audio
(after noise reduction and VAD trimming), i.e. exactly what the VAD and the transcriber heard.

Audio is the one part of a conversation that grows with time (2.9 MB per minute of 24 kHz PCM16),
so the session keeps only the newest ``EngineOptions.audio_retention_s`` of it:
:meth:`Conversation.release_audio` drops the audio of the oldest items (by arrival) beyond that,
keeping their transcripts, ids and place in the conversation; retrieving or truncating such an
item's audio is refused with ``item_audio_unavailable`` (an error, not empty audio, which could
pass for silence).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from realtime_nb.engine.errors import RequestError
from realtime_nb.engine.state import ITEM_TABLE, ItemState, ItemTrigger, advance, allowed
from realtime_nb.protocol import PCM_RATE
from realtime_nb.protocol.checks import is_int
from realtime_nb.protocol.ids import new_id
from realtime_nb.protocol.limits import (
    MAX_APPEND_B64_BYTES,
    MAX_CONTENT_PARTS,
    MAX_ID_CHARS,
    MAX_TEXT_CHARS,
    quote,
)

ITEM_TYPES = ("message", "function_call", "function_call_output")
# content part types a client may create, per role (canonical names)
_PARTS_BY_ROLE: dict[str, tuple[str, ...]] = {
    "system": ("input_text",),
    "user": ("input_text", "input_audio", "input_image"),
    "assistant": ("output_text", "output_audio"),
}


@dataclass(eq=False)
class Item:
    """One conversation item; ``content`` holds canonical parts without audio bytes."""

    id: str
    type: str
    role: str | None = None
    status: ItemState = ItemState.COMPLETED
    content: list[dict[str, Any]] = field(default_factory=list)
    audio: dict[int, np.ndarray] = field(default_factory=dict)  # content index -> 24 kHz PCM16
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None
    # engine-internal transcript of user audio for the responder (the wire transcript stays null
    # when the session has no transcription configured, as with the service)
    heard: str | None = None
    # assistant audio: (start_ms, end_ms, text) per synthesized chunk, for proportional truncation
    spans: list[tuple[float, float, str]] = field(default_factory=list)
    # assistant audio is retrieved in the format its response streamed it in
    audio_format: str | None = None
    # its audio was released to bound the session's memory (see Conversation.release_audio)
    audio_released: bool = False

    def advance(self, trigger: ItemTrigger) -> None:
        self.status = advance("item", ITEM_TABLE, self.status, trigger)

    def truncate(
        self, content_index: object, audio_end_ms: object, transcript: Literal["drop", "proportional"]
    ) -> None:
        """Cut an assistant audio part at ``audio_end_ms`` (what the user heard): the audio after it
        and, by ``transcript``, the words (see :meth:`truncated_transcript`).

        RequestError (nothing changed) for a non-assistant item, a part without audio, an item
        still being generated or a point past the audio's end.
        """
        if self.type != "message" or self.role != "assistant":
            raise RequestError(
                "invalid_value",
                f"Only assistant messages can be truncated; item {self.id} is a "
                f"{self.role or self.type} {self.type}.",
                "item_id",
            )
        index, end_ms = content_index, audio_end_ms
        self.check_audio_kept()
        if not is_int(index) or not 0 <= index < len(self.content):
            raise RequestError(
                "invalid_value",
                f"Invalid content_index {index!r}: item {self.id} has {len(self.content)} content part(s).",
                "content_index",
            )
        if self.content[index]["type"] != "output_audio":
            raise RequestError(
                "invalid_value",
                f"Content part {index} of item {self.id} has no audio to truncate.",
                "content_index",
            )
        if not is_int(end_ms) or end_ms < 0:
            raise RequestError(
                "invalid_value",
                f"'audio_end_ms' must be a non-negative integer, got {end_ms!r}.",
                "audio_end_ms",
            )
        if not allowed(ITEM_TABLE, self.status, ItemTrigger.TRUNCATE):
            raise RequestError(
                "item_in_progress",
                f"Item {self.id} is still being generated; cancel the response "
                "first, then truncate at the playback position.",
                "item_id",
            )
        have = self.audio_ms(index)
        if end_ms > have:
            raise RequestError(
                "invalid_value",
                f"Audio content of {have:.0f}ms is already shorter than {end_ms}ms",
                "audio_end_ms",
            )
        status = advance("item", ITEM_TABLE, self.status, ItemTrigger.TRUNCATE)
        pcm = self.audio.get(index, np.zeros(0, np.int16))
        self.audio[index] = pcm[: int(end_ms * PCM_RATE / 1000)]
        self.content[index]["transcript"] = (
            "" if transcript == "drop" else self.truncated_transcript(float(end_ms))
        )
        self.spans = [(a, min(b, end_ms), t) for a, b, t in self.spans if a < end_ms]
        self.status = status

    def check_audio_kept(self) -> None:
        """RequestError if this item's audio was released (the session's audio retention)."""
        if self.audio_released:
            raise RequestError(
                "item_audio_unavailable",
                f"The audio of item {self.id} is no longer kept: the session keeps only its newest "
                "conversation audio (the engine's audio_retention_s). Its transcript and place in "
                "the conversation remain; retrieve items while they are recent.",
                "item_id",
            )

    def truncated_transcript(self, end_ms: float) -> str:
        """The words of the chunks played before ``end_ms``, and of the chunk cut there the words
        in proportion to its audio kept (``truncate_transcript="proportional"``; the service
        drops the transcript instead)."""
        kept = []
        for a, b, text in self.spans:
            if b <= end_ms:
                kept.append(text)
            elif a < end_ms:
                words = text.split()
                kept.append(
                    (" " if text[:1].isspace() else "")
                    + " ".join(words[: int(len(words) * (end_ms - a) / (b - a))])
                )
        return "".join(kept).rstrip()

    def audio_ms(self, content_index: int = 0) -> float:
        pcm = self.audio.get(content_index)
        return 0.0 if pcm is None else len(pcm) * 1000.0 / PCM_RATE

    def text(self) -> str:
        """The item's words: text parts, transcripts, function arguments or output."""
        if self.type == "function_call":
            return self.arguments or ""
        if self.type == "function_call_output":
            return self.output or ""
        words = []
        for part in self.content:
            t = part.get("text") if part["type"] in ("input_text", "output_text") else part.get("transcript")
            if t:
                words.append(t)
        return " ".join(words)

    def render(self, *, audio_b64: Callable[[np.ndarray], str] | None = None) -> dict[str, Any]:
        """The canonical wire dict; with ``audio_b64`` the stored audio is included (retrieve)."""
        out: dict[str, Any] = {
            "id": self.id,
            "object": "realtime.item",
            "type": self.type,
            "status": self.status.value,
        }
        if self.type == "message":
            out["role"] = self.role
            parts = []
            for i, part in enumerate(self.content):
                p = dict(part)
                if audio_b64 is not None and i in self.audio:
                    p["audio"] = audio_b64(self.audio[i])
                parts.append(p)
            out["content"] = parts
        elif self.type == "function_call":
            out.update(call_id=self.call_id, name=self.name, arguments=self.arguments or "")
        else:
            out.update(call_id=self.call_id, output=self.output)
        return out


def user_audio_item(item_id: str, pcm24: np.ndarray) -> Item:
    """The user message a buffer commit creates (transcript null until transcription completes)."""
    return Item(
        item_id, "message", "user", content=[{"type": "input_audio", "transcript": None}], audio={0: pcm24}
    )


def item_from_client(
    raw: object, decode_audio: Callable[[str, str], np.ndarray], param: str = "item"
) -> Item:
    """Validate a client item (canonical form) and build it; RequestError names the bad field.

    Every key is checked for type, value and length (`protocol.limits`), unknown keys are refused,
    and nothing is built before the last check. ``decode_audio(b64, param)`` turns base64 audio in
    the session's input format into 24 kHz PCM16 (raising RequestError itself).
    """
    if not isinstance(raw, dict):
        raise RequestError("invalid_type", f"'{param}' must be an object", param)
    item_type = raw.get("type", "message" if "role" in raw else None)
    if not isinstance(item_type, str) or item_type not in ITEM_TYPES:
        raise RequestError(
            "invalid_value",
            f"Invalid value for '{param}.type': {quote(item_type)}. Supported values are: "
            f"{', '.join(ITEM_TYPES)}.",
            f"{param}.type",
        )
    _check_keys(raw, _ITEM_KEYS[item_type], param, f"a {item_type} item")
    item_id = raw.get("id")
    if item_id is not None:
        _check_id(item_id, f"{param}.id")
    if raw.get("object", "realtime.item") != "realtime.item":
        raise RequestError(
            "invalid_value",
            f"Invalid value for '{param}.object': {quote(raw['object'])}; it can only be 'realtime.item'.",
            f"{param}.object",
        )
    status = raw.get("status", "completed")
    if not isinstance(status, str) or status not in ("completed", "incomplete", "in_progress"):
        raise RequestError(
            "invalid_value", f"Invalid value for '{param}.status': {quote(status)}.", f"{param}.status"
        )
    item = Item(
        item_id or new_id("item"),
        item_type,
        status=ItemState(status) if status != "in_progress" else ItemState.COMPLETED,
    )
    if item_type == "message":
        _fill_message(item, raw, decode_audio, param)
    elif item_type == "function_call":
        item.name = _str_field(raw, "name", param, MAX_ID_CHARS)
        item.arguments = _str_field(raw, "arguments", param)
        call_id = raw.get("call_id")
        if call_id is not None:
            _check_id(call_id, f"{param}.call_id")
        item.call_id = call_id or new_id("call")
    else:
        item.call_id = _str_field(raw, "call_id", param, MAX_ID_CHARS)
        item.output = _str_field(raw, "output", param)
    return item


# The keys each kind of client item may carry (canonical form), as the SDK types of both dialects have them.
_COMMON_KEYS = frozenset({"id", "type", "object", "status"})
_ITEM_KEYS: dict[str, frozenset[str]] = {
    "message": _COMMON_KEYS | {"role", "content"},
    "function_call": _COMMON_KEYS | {"call_id", "name", "arguments"},
    "function_call_output": _COMMON_KEYS | {"call_id", "output"},
}
# ... and each kind of content part (preview parts may also carry an `id`).
_PART_KEYS: dict[str, frozenset[str]] = {
    "input_text": frozenset({"type", "text", "id"}),
    "output_text": frozenset({"type", "text", "id"}),
    "input_audio": frozenset({"type", "audio", "transcript", "id"}),
    "output_audio": frozenset({"type", "audio", "transcript", "id"}),
    "input_image": frozenset({"type", "image_url", "detail"}),
}
_IMAGE_DETAIL = ("auto", "low", "high")


def _check_keys(raw: dict[str, Any], allowed_keys: frozenset[str], param: str, what: str) -> None:
    for key in raw:
        if key not in allowed_keys:
            shown = key if len(key) <= MAX_ID_CHARS else key[:MAX_ID_CHARS] + "..."
            raise RequestError(
                "unknown_parameter",
                f"Unknown parameter: '{param}.{shown}' ({what} takes {', '.join(sorted(allowed_keys))}).",
                f"{param}.{shown}",
            )


def _shown_id(value: object) -> str:
    """An id as messages show it: as sent when it is a plausible one, else quoted (cut)."""
    return value if isinstance(value, str) and len(value) <= MAX_ID_CHARS else quote(value)


def _check_id(value: object, param: str) -> None:
    if not isinstance(value, str) or not value:
        raise RequestError("invalid_type", f"'{param}' must be a non-empty string", param)
    _check_length(value, param, MAX_ID_CHARS)


def _check_length(value: str, param: str, limit: int) -> None:
    if len(value) > limit:
        raise RequestError(
            "string_above_max_length",
            f"Invalid '{param}': string too long ({len(value)} characters, starting {quote(value, 40)}); "
            f"the maximum is {limit}.",
            param,
        )


def _str_field(raw: dict[str, Any], key: str, param: str, limit: int = MAX_TEXT_CHARS) -> str:
    value = raw.get(key)
    if value is None:
        raise RequestError(
            "missing_required_parameter", f"Missing required parameter: '{param}.{key}'.", f"{param}.{key}"
        )
    if not isinstance(value, str):
        raise RequestError(
            "invalid_type", f"'{param}.{key}' must be a string, got {type(value).__name__}", f"{param}.{key}"
        )
    _check_length(value, f"{param}.{key}", limit)
    return value


def _optional_str(part: dict[str, Any], key: str, where: str, limit: int = MAX_TEXT_CHARS) -> str | None:
    value = part.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RequestError("invalid_type", f"'{where}.{key}' must be a string", f"{where}.{key}")
    _check_length(value, f"{where}.{key}", limit)
    return value


def _fill_message(
    item: Item, raw: dict[str, Any], decode_audio: Callable[[str, str], np.ndarray], param: str
) -> None:
    role = raw.get("role")
    if not isinstance(role, str) or role not in _PARTS_BY_ROLE:
        raise RequestError(
            "invalid_value",
            f"Invalid value for '{param}.role': {quote(role)}. "
            "Supported values are: system, user, assistant.",
            f"{param}.role",
        )
    content = raw.get("content")
    if not isinstance(content, list):
        raise RequestError(
            "missing_required_parameter",
            f"'{param}.content' must be an array of content parts",
            f"{param}.content",
        )
    if len(content) > MAX_CONTENT_PARTS:
        raise RequestError(
            "array_above_max_length",
            f"Invalid '{param}.content': {len(content)} content parts; the maximum is {MAX_CONTENT_PARTS}.",
            f"{param}.content",
        )
    parts: list[dict[str, Any]] = []
    audio: dict[int, np.ndarray] = {}
    heard: str | None = None
    for i, part in enumerate(content):
        where = f"{param}.content[{i}]"
        if not isinstance(part, dict):
            raise RequestError("invalid_type", f"'{where}' must be an object", where)
        ptype = part.get("type")
        if not isinstance(ptype, str) or ptype not in _PARTS_BY_ROLE[role]:
            raise RequestError(
                "invalid_value",
                f"Invalid value for '{where}.type': {quote(ptype)}. A {role} message allows "
                f"{', '.join(_PARTS_BY_ROLE[role])}.",
                f"{where}.type",
            )
        _check_keys(part, _PART_KEYS[ptype], where, f"an {ptype} part")
        _optional_str(part, "id", where, MAX_ID_CHARS)
        if ptype in ("input_text", "output_text"):
            parts.append({"type": ptype, "text": _str_field(part, "text", where)})
        elif ptype == "input_audio":
            transcript = _optional_str(part, "transcript", where)
            b64 = _optional_str(part, "audio", where, MAX_APPEND_B64_BYTES)
            if b64 is not None:
                audio[len(parts)] = decode_audio(b64, f"{where}.audio")
            parts.append({"type": "input_audio", "transcript": transcript})
            heard = transcript
        elif ptype == "output_audio":
            if part.get("audio") is not None:
                raise RequestError(
                    "invalid_value",
                    "Assistant audio cannot be created by the client; send the "
                    "transcript only or use an output_text part.",
                    f"{where}.audio",
                )
            parts.append({"type": "output_audio", "transcript": _str_field(part, "transcript", where)})
        else:  # input_image: kept as given (checked), the engine's responder does not look at it
            _str_field(part, "image_url", where, MAX_APPEND_B64_BYTES)  # a URL or a data: URL
            detail = part.get("detail", "auto")
            if not isinstance(detail, str) or detail not in _IMAGE_DETAIL:
                raise RequestError(
                    "invalid_value",
                    f"Invalid value for '{where}.detail': {quote(detail)}; allowed: auto, low, high.",
                    f"{where}.detail",
                )
            parts.append(dict(part))
    item.role = role  # every part checked: only now does the item take them
    item.content = parts
    item.audio = audio
    item.heard = heard


class Conversation:
    """The ordered items of the default conversation."""

    def __init__(self) -> None:
        self.id = new_id("conv")
        self._order: list[str] = []
        self._items: dict[str, Item] = {}

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def __iter__(self) -> Iterator[Item]:
        return (self._items[i] for i in self._order)

    def __len__(self) -> int:
        return len(self._order)

    def get(self, item_id: object, param: str = "item_id") -> Item:
        """The item, or a RequestError naming the missing id."""
        if not isinstance(item_id, str) or item_id not in self._items:
            raise RequestError("item_not_found", f"Item with item_id not found: {_shown_id(item_id)}", param)
        return self._items[item_id]

    def check_insert(self, item: Item, previous_item_id: object, param: str = "previous_item_id") -> None:
        """Raise RequestError if ``item`` could not be inserted after ``previous_item_id``."""
        if item.id in self._items:
            raise RequestError("item_already_exists", f"Item with id '{item.id}' already exists.", "item.id")
        if (
            previous_item_id is not None
            and previous_item_id != "root"
            and previous_item_id not in self._items
        ):
            raise RequestError(
                "item_not_found",
                f"Previous item with item_id not found: {_shown_id(previous_item_id)}",
                param,
            )

    def insert(self, item: Item, previous_item_id: str | None = None) -> str | None:
        """Add ``item`` after ``previous_item_id`` ("root": first; None: last); returns its predecessor."""
        self.check_insert(item, previous_item_id)
        if previous_item_id is None:
            pos = len(self._order)
        elif previous_item_id == "root":
            pos = 0
        else:
            pos = self._order.index(previous_item_id) + 1
        self._order.insert(pos, item.id)
        self._items[item.id] = item
        return self._order[pos - 1] if pos > 0 else None

    def release_audio(self, keep_samples: int) -> list[str]:
        """Drop the audio of the oldest items (arrival order) until at most ``keep_samples`` of
        audio remain in the conversation; items still being generated keep theirs. Returns the ids
        of the items released."""
        total = sum(pcm.size for item in self._items.values() for pcm in item.audio.values())
        released: list[str] = []
        for item in self._items.values():  # dicts keep insertion order: oldest arrival first
            if total <= keep_samples:
                break
            if not item.audio or item.status is ItemState.IN_PROGRESS:
                continue
            total -= sum(pcm.size for pcm in item.audio.values())
            item.audio = {}
            item.audio_released = True
            released.append(item.id)
        return released

    def remove(self, item_id: str) -> Item:
        item = self.get(item_id)
        self._order.remove(item_id)
        del self._items[item_id]
        return item

    def snapshot(self) -> list[dict[str, Any]]:
        """A comparable picture of every item (for tests asserting that nothing changed)."""
        return [
            {
                **it.render(),
                "_audio": {k: (len(v), int(np.abs(v.astype(np.int64)).sum())) for k, v in it.audio.items()},
            }
            for it in self
        ]
