"""JSON and base64 of big client frames, in pieces the event loop can breathe between.

A 15 MiB ``input_audio_buffer.append`` is handled on a worker thread (see ``connection``), but a
worker still stalls the loop for as long as one C call holds the GIL: ``json.loads`` and
``base64.b64decode`` of the whole frame are single calls of hundreds of milliseconds on a busy
machine. The results here are exactly those of the single calls (or the same exceptions): the big
``"audio"`` string is cut out of the frame in bounded scans and the rest parsed alone; base64 is
decoded in slices of whole quanta. Anything unusual (an escape or a control character in the
audio string, padding before the end) falls back to the single call, so errors read as before.

The frame's UTF-8 is decoded here too (`utf8`), in slices: the connection receives text frames as
bytes, so websockets does not decode 15 MiB in one call on the event loop every session shares.
"""

from __future__ import annotations

import base64
import codecs
import json
import re
import uuid
from typing import Any

__all__ = ["b64decode", "loads", "utf8"]

BIG = 1 << 20  # below this a frame is parsed in one call (fast enough to hold the GIL for)
_SCAN = 1 << 18  # characters per bounded scan (~1 ms of regex on a quiet core)
_B64_SLICE = 1 << 18  # base64 characters per decode call (a multiple of 4)
_UTF8_SLICE = 1 << 18  # bytes per UTF-8 decode call
_KEY = re.compile(r'"audio"\s*:\s*"')
_UNSAFE = re.compile(r'[\x00-\x1f\\"]')  # ends, escapes or invalidates a JSON string


def loads(text: str, **hooks: Any) -> Any:
    """``json.loads(text, **hooks)``, with the first ``"audio"`` string value of a big frame parsed
    apart (`hooks` are json.loads' keyword hooks, e.g. the protocol's refusal of NaN)."""
    if len(text) < BIG:
        return json.loads(text, **hooks)
    key = _KEY.search(text, 0, min(len(text), 4096))  # the audio key comes first in practice
    if key is None:
        return json.loads(text, **hooks)
    start = key.end()
    end = _string_end(text, start)
    if end is None:
        return json.loads(text, **hooks)
    token = f"big-frame-{uuid.uuid4().hex}"
    event = json.loads(f"{text[:start]}{token}{text[end:]}", **hooks)
    return _put_back(event, token, text[start:end])


def _string_end(text: str, start: int) -> int | None:
    """Index of the quote closing the JSON string starting at ``start``, if nothing in it needs
    the JSON parser (no escape, no control character); None otherwise."""
    pos = start
    while pos < len(text):
        found = _UNSAFE.search(text, pos, min(len(text), pos + _SCAN))
        if found is None:
            pos += _SCAN
            continue
        return found.start() if found.group() == '"' else None
    return None


def _put_back(event: Any, token: str, content: str) -> Any:
    """``event`` with the string ``token`` (wherever it was parsed to) replaced by ``content``."""
    if event == token:
        return content
    stack = [event]
    while stack:  # iterative: a deeply nested frame must not overflow the Python stack here
        node = stack.pop()
        pairs = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, inner in list(pairs):
            if isinstance(inner, str):
                if inner == token:
                    node[key] = content
                    return event
            elif isinstance(inner, (dict, list)):
                stack.append(inner)
    return event


def b64decode(text: str) -> bytes:
    """``base64.b64decode(text, validate=True)``, in slices when ``text`` is big."""
    n = len(text)
    if n <= _B64_SLICE or n % 4 or text.find("=", 0, n - 2) != -1:
        return base64.b64decode(text, validate=True)
    return b"".join(
        base64.b64decode(text[i : i + _B64_SLICE], validate=True) for i in range(0, n, _B64_SLICE)
    )


def utf8(data: bytes) -> str:
    """``data.decode()`` (the same string, or the same UnicodeDecodeError), in slices when big."""
    if len(data) <= _UTF8_SLICE:
        return data.decode()
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    n = len(data)
    try:
        parts = [
            decoder.decode(view[i : i + _UTF8_SLICE], i + _UTF8_SLICE >= n)
            for i in range(0, n, _UTF8_SLICE)
        ]
    except UnicodeDecodeError:
        return bytes(data).decode()  # raises with the whole frame's positions, as websockets would
    return "".join(parts)
