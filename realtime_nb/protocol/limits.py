"""The limits on what a client may send the engine, stated once, and the one way errors quote input.

Every bound the engine enforces on a client event is a constant here; the checks that apply them
live with the code that reads each value (`wire_json` for the raw frame, `catalog` for the
envelope, the field readers and the engine's request handlers for the rest) and all refuse with
an `error` event naming the limit. Where the services publish a limit the engine uses the same
number (15 MiB per append, 16 metadata pairs, 128 tools, 64-character function names); the others
are the engine's own, chosen far above anything a real session sends and low enough that one
hostile event cannot make the engine spend seconds or hundreds of megabytes on it.
docs/limits.md lists them for users (a test keeps that page in step with this module).

`quote` is how every error message shows a value the client sent: a short repr, so a 1 MB
string never travels back in an error event (nor into a log).
"""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = [
    "MAX_APPEND_B64_BYTES",
    "MAX_CONTENT_PARTS",
    "MAX_EVENT_ID_CHARS",
    "MAX_FRAME_BYTES",
    "MAX_ID_CHARS",
    "MAX_ITEMS_PER_CONVERSATION",
    "MAX_JSON_DEPTH",
    "MAX_JSON_VALUES",
    "MAX_TEXT_CHARS",
    "MAX_TOOLS",
    "QUOTE_CHARS",
    "quote",
]

# --- the frame ------------------------------------------------------------------------------------

# One WebSocket message. An append may carry 15 MiB of base64 audio and the frame around it must
# still reach the session so it can answer with an `error` event; past this the socket is closed
# with 1009 (message too big) by websockets, before any of it is parsed.
MAX_FRAME_BYTES = 64 * 2**20
# Arrays and objects inside one another. A real event nests about 6 deep (response.create ->
# input -> item -> content -> part) and a tool's JSON Schema a few more; Python's parser would
# recurse past its stack limit at about 1000.
MAX_JSON_DEPTH = 64
# Values (array elements and object members) in one event: bounds the memory and the time one
# frame costs to parse and walk (a 64 MiB frame of `[0,0,...]` would be 32 M values).
MAX_JSON_VALUES = 100_000

# --- strings ----------------------------------------------------------------------------------------

# The services' own limit on one input_audio_buffer.append (and on an item's inline audio).
MAX_APPEND_B64_BYTES = 15 * 2**20
# Any other string: instructions, an item's text or transcript, function arguments and output, a
# tool's description or schema (serialised), a transcription prompt. 256 Ki characters is more
# than the whole context window of the realtime models (32 k tokens, roughly 128 k characters).
MAX_TEXT_CHARS = 256 * 2**10
# Ids a client chooses or refers to: item ids, previous_item_id, call_id, response_id (the
# Responses API's limit on item and call ids).
MAX_ID_CHARS = 64
# The client's event_id, which every error about the event echoes back whole.
MAX_EVENT_ID_CHARS = 256

# --- counts -----------------------------------------------------------------------------------------

# Items in the conversation (created by the client, committed turns and responses' output alike)
# and in one response.create's `input`. The services bound a conversation by tokens and truncate
# it; the engine does not truncate, so it refuses to grow past this instead.
MAX_ITEMS_PER_CONVERSATION = 4096
# Content parts of one message item.
MAX_CONTENT_PARTS = 64
# Function tools of a session or a response (the OpenAI APIs' limit).
MAX_TOOLS = 128
# (metadata: 16 pairs, keys <= 64 and values <= 512 characters: the `metadata` row of
# fields.RESPONSE_FIELDS, as the service documents it.)

# --- quoting ------------------------------------------------------------------------------------------

QUOTE_CHARS = 80

_repr = reprlib.Repr()
_repr.maxlevel = 3
_repr.maxstring = QUOTE_CHARS
_repr.maxother = QUOTE_CHARS
_repr.maxlong = 40
for _kind in ("maxdict", "maxlist", "maxtuple", "maxset", "maxfrozenset", "maxdeque", "maxarray"):
    setattr(_repr, _kind, 4)


def quote(value: Any, limit: int = QUOTE_CHARS) -> str:
    """`value` as error messages show it: a repr of at most `limit` characters (long strings and
    containers are cut with ``...``; never the whole of a large value, and no deep recursion)."""
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit]  # repr only the head: a 1 MB string is not copied into a repr first
        text = repr(value)
        return text[: max(limit - 3, 1)] + "..."
    text = _repr.repr(value)
    return text if len(text) <= limit else text[: max(limit - 3, 1)] + "..."
