"""Who answers: the pluggable responder and the default echo responder.

A responder is any callable ``responder(context) -> str | ToolCall | Reply`` (or an awaitable of one;
async responders run in a private event loop on the job's worker thread). ``context`` is a
:class:`ResponderContext`: the items the response sees (canonical dicts, user audio transcribed to
``heard`` text), the effective instructions, tools and tool choice. Return text to speak / write, or
one or more :class:`ToolCall` to emit function_call items (the client answers with a
``function_call_output`` item and a new ``response.create``).

The default :class:`EchoResponder` answers from what it heard: ``"You said: <transcript>."`` for user
audio, a short sentence about the last text message or function output otherwise. Its opening words
for audio turns ("You said:") are synthesized once per voice, so a response can start streaming
audio while the turn is still being transcribed.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ECHO_OPENING = "You said:"


@dataclass(frozen=True)
class ToolCall:
    """A function call the response should emit; dict arguments are JSON-encoded."""

    name: str
    arguments: str | Mapping[str, Any] = "{}"
    call_id: str | None = None

    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(dict(self.arguments))


@dataclass(frozen=True)
class Reply:
    """Text and/or tool calls (text first, then the calls, each at the next output_index)."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class ResponderContext:
    """What a responder sees. ``items`` are canonical item dicts without audio bytes; user audio items
    carry the engine's transcript as ``heard`` (whether or not transcription is configured)."""

    items: Sequence[Mapping[str, Any]]
    instructions: str = ""
    tools: Sequence[Mapping[str, Any]] = ()
    tool_choice: Any = "auto"
    output_modalities: Sequence[str] = ("audio",)
    metadata: Mapping[str, str] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


Responder = Callable[[ResponderContext], Any]


def as_reply(value: object) -> Reply:
    """Normalise a responder's return value; a clear TypeError for anything else."""
    if isinstance(value, Reply):
        return value
    if isinstance(value, str):
        return Reply(text=value)
    if isinstance(value, ToolCall):
        return Reply(tool_calls=(value,))
    if isinstance(value, Sequence) and value and all(isinstance(v, ToolCall) for v in value):
        return Reply(tool_calls=tuple(value))
    raise TypeError(
        f"a responder must return str, ToolCall, a list of ToolCall or Reply, got {type(value).__name__}"
    )


def call_responder(responder: Responder, context: ResponderContext) -> Reply:
    """Run a sync or async responder to completion (on a worker thread) and normalise its answer."""
    value = responder(context)
    if inspect.isawaitable(value):
        value = _run_coroutine(value)
    return as_reply(value)


def _run_coroutine(awaitable: Any) -> Any:
    async def _wrap() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_wrap())
    # A loop already runs on this thread (tests running jobs inline from async code): use another.
    box: dict[str, Any] = {}

    def _target() -> None:
        try:
            box["value"] = asyncio.run(_wrap())
        except BaseException as exc:  # re-raised on the calling thread
            box["error"] = exc

    t = threading.Thread(target=_target, name="responder")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _last_words(item: Mapping[str, Any]) -> tuple[str, str] | None:
    """(kind, words) of an item the echo responder can talk about."""
    if item.get("type") == "function_call_output":
        return "tool", str(item.get("output") or "")
    if item.get("type") != "message" or item.get("role") != "user":
        return None
    for part in item.get("content", []):
        if part.get("type") == "input_audio":
            return "audio", (item.get("heard") or part.get("transcript") or "").strip()
    texts = [p.get("text", "") for p in item.get("content", []) if p.get("type") == "input_text"]
    return ("text", " ".join(texts).strip()) if texts else None


def _sentence(words: str) -> str:
    words = words.strip()
    return words if words.endswith((".", "!", "?")) else words + "."


class EchoResponder:
    """The default responder: says back what it heard (see the module docstring)."""

    def opening(self, items: Sequence[Mapping[str, Any]]) -> str | None:
        """The words the reply will start with, if known before transcription ends."""
        last = next((w for w in map(_last_words, reversed(items)) if w is not None), None)
        return ECHO_OPENING if last is not None and last[0] == "audio" else None

    def __call__(self, context: ResponderContext) -> Reply:
        last = next((w for w in map(_last_words, reversed(context.items)) if w is not None), None)
        if last is None:
            return Reply("Hello! This is the local realtime engine. Say something and I will repeat it.")
        kind, words = last
        if kind == "audio":
            return Reply(
                f"{ECHO_OPENING} {_sentence(words)}" if words else f"{ECHO_OPENING} nothing I could make out."
            )
        if kind == "tool":
            return Reply(f"The tool returned: {_sentence(words)}" if words else "The tool returned nothing.")
        return Reply(f"You wrote: {_sentence(words)}" if words else "You sent an empty message.")
