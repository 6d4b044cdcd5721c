"""One model response: its lifecycle and the exact order of the events it emits.

A :class:`Response` is driven by the session (``open`` -> message / function-call output ->
``finish``) and emits canonical GA events through a callback, so the orders of
``sequences.md`` / ``sequences-ga.md`` are enforced in one place:

* ``response.created`` first, exactly one ``response.done`` last;
* ``output_item.added`` -> (``conversation.item.added``) -> ``content_part.added`` -> deltas ->
  ``*.done`` -> ``content_part.done`` -> ``output_item.done`` -> (``conversation.item.done``);
* every ``.added`` gets its ``.done``, also when the response is cancelled or hits its token limit
  (open parts are flushed and the item ends ``incomplete``);
* out-of-band responses (``conversation: "none"``) never touch the conversation, so they emit no
  ``conversation.item.*`` events.

Over WebRTC (``playout`` set) the audio is not sent as ``response.output_audio.delta``: each chunk
goes to the session's :class:`~realtime_nb.engine.output_buffer.OutputBuffer`, which the call's
audio track plays out. Everything else (transcript deltas, ``*.done`` events, the item's stored audio,
usage) is the same on both transports.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from realtime_nb.audio import AUDIO_RATES, StreamResampler, encode
from realtime_nb.engine.conversation import Conversation, Item
from realtime_nb.engine.output_buffer import OutputBuffer
from realtime_nb.engine.state import (
    RESPONSE_TABLE,
    ItemState,
    ItemTrigger,
    ResponseState,
    ResponseTrigger,
    advance,
)
from realtime_nb.engine.usage import Usage, input_audio_tokens, output_audio_tokens, text_tokens
from realtime_nb.protocol.formats import PCM_RATE, format_to_ga
from realtime_nb.protocol.ids import new_id

Emit = Callable[[dict[str, Any]], None]
_ARG_DELTA_CHARS = 24  # size of response.function_call_arguments.delta pieces


@dataclass
class ResponseSpec:
    """The effective options of one response: response.create overrides on top of the session."""

    output_modalities: tuple[str, ...] = ("audio",)
    instructions: str = ""
    voice: str = "alloy"
    speed: float = 1.0
    output_format: str = "pcm16"
    tools: tuple[Any, ...] = ()
    tool_choice: Any = "auto"
    max_output_tokens: int | Literal["inf"] = "inf"
    conversation: Literal["auto", "none"] = "auto"
    metadata: dict[str, str] | None = None
    input: list[Item] | None = None  # explicit context (response.create input[]); None = conversation
    temperature: float = 0.8

    @property
    def audio(self) -> bool:
        return "audio" in self.output_modalities

    @property
    def in_conversation(self) -> bool:
        return self.conversation == "auto"


class _AudioEncoder:
    """24 kHz PCM16 -> base64 in the output format (G.711 via a streamed resampler to 8 kHz)."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self._resampler = StreamResampler(PCM_RATE, AUDIO_RATES[fmt]) if fmt != "pcm16" else None

    def __call__(self, pcm24: np.ndarray, *, last: bool = False) -> str:
        if self._resampler is None:
            samples = pcm24
        else:
            parts = [self._resampler.process(pcm24)]
            if last:
                parts.append(self._resampler.flush())
            samples = np.concatenate(parts).astype(np.int16)
        return base64.b64encode(encode(samples, self.fmt)).decode("ascii")  # type: ignore[arg-type]


@dataclass
class _OpenMessage:
    item: Item
    output_index: int
    audio: bool
    encoder: _AudioEncoder | None
    text: str = ""
    audio_ms: float = 0.0


@dataclass(eq=False)
class Response:
    """A response in flight; ``emit`` receives canonical events in protocol order."""

    spec: ResponseSpec
    emit: Emit
    conversation: Conversation
    audio_delta_ms: int = 200
    playout: OutputBuffer | None = None  # WebRTC: audio goes to the output buffer, not into deltas
    id: str = field(default_factory=lambda: new_id("resp"))
    state: ResponseState = ResponseState.IN_PROGRESS
    output: list[Item] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    status_details: dict[str, Any] | None = None
    audio_ms: float = 0.0  # assistant audio produced so far (all items)
    started_at: float | None = None  # wall clock of the first audio delta
    _message: _OpenMessage | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.state is ResponseState.IN_PROGRESS

    def open(self, context: list[Item]) -> None:
        """Emit ``response.created`` and count the input tokens of ``context``."""
        self.usage.input_text = text_tokens(self.spec.instructions)
        for item in context:
            ms = sum(item.audio_ms(i) for i in item.audio)
            if ms:  # an audio item counts as audio (its transcript is not fed twice)
                self.usage.input_audio += input_audio_tokens(ms)
            else:
                self.usage.input_text += text_tokens(item.text())
        self.emit({"type": "response.created", "response": self.render()})

    def finish(self, trigger: ResponseTrigger, details: dict[str, Any] | None = None) -> None:
        """Close whatever is open, then emit the one ``response.done``."""
        state = advance("response", RESPONSE_TABLE, self.state, trigger)
        if self._message is not None:
            self._close_message(
                ItemTrigger.FINISH if trigger is ResponseTrigger.FINISH else ItemTrigger.INTERRUPT
            )
        self.state = state
        self.status_details = details
        self.emit({"type": "response.done", "response": self.render()})

    # --- token budget ------------------------------------------------------------------------

    def tokens_left(self) -> float:
        limit = self.spec.max_output_tokens
        return float("inf") if limit == "inf" else max(0, int(limit) - self.usage.output_total)

    # --- message output ----------------------------------------------------------------------

    @property
    def message_open(self) -> bool:
        return self._message is not None

    def begin_message(self) -> None:
        """``output_item.added`` (+ ``conversation.item.added``) and ``content_part.added``."""
        item = Item(new_id("item"), "message", "assistant", status=ItemState.IN_PROGRESS)
        item.audio_format = self.spec.output_format if self.spec.audio else None
        index = self._add_output(item)
        audio = self.spec.audio
        encoder = _AudioEncoder(self.spec.output_format) if audio and self.playout is None else None
        self._message = _OpenMessage(item, index, audio, encoder)
        part = {"type": "audio", "transcript": ""} if audio else {"type": "text", "text": ""}
        item.content.append(
            {"type": "output_audio", "transcript": ""} if audio else {"type": "output_text", "text": ""}
        )
        self.emit({"type": "response.content_part.added", **self._part_ids(), "part": part})

    def add_text(self, text: str) -> bool:
        """Stream a piece of text (text modality). False when the token budget cut it short."""
        msg = self._require_message()
        allowed = self._fit_text(text)
        if allowed:
            msg.text += allowed
            msg.item.content[0]["text"] = msg.text
            self.usage.output_text = text_tokens(msg.text)
            self.emit({"type": "response.output_text.delta", **self._part_ids(), "delta": allowed})
        return allowed == text

    def add_audio(self, text: str, pcm24: np.ndarray, now: float) -> bool:
        """Stream one synthesized chunk: its transcript delta, then its audio deltas.

        False when the token budget (text + audio) cut the chunk short.
        """
        msg = self._require_message()
        text_cost = text_tokens(msg.text + text) - text_tokens(msg.text)
        budget = self.tokens_left()
        complete = True
        if budget < float("inf"):
            audio_budget_ms = max(0.0, (budget - text_cost)) * 50.0
            if len(pcm24) * 1000.0 / PCM_RATE > audio_budget_ms:
                complete = False
                keep = int(audio_budget_ms * PCM_RATE / 1000)
                if len(pcm24):
                    text = text[: int(len(text) * keep / len(pcm24))]
                pcm24 = pcm24[:keep]
        if text:
            msg.text += text
            msg.item.content[0]["transcript"] = msg.text
            self.usage.output_text = text_tokens(msg.text)
            self.emit({"type": "response.output_audio_transcript.delta", **self._part_ids(), "delta": text})
        if len(pcm24):
            start = msg.audio_ms
            old = msg.item.audio.get(0)
            msg.item.audio[0] = pcm24.copy() if old is None else np.concatenate([old, pcm24])
            if self.playout is not None:
                self.playout.queue(self.id, msg.item.id, pcm24)
            else:
                step = max(1, int(self.audio_delta_ms * PCM_RATE / 1000))
                for lo in range(0, len(pcm24), step):
                    piece = pcm24[lo : lo + step]
                    assert msg.encoder is not None
                    self.emit(
                        {
                            "type": "response.output_audio.delta",
                            **self._part_ids(),
                            "delta": msg.encoder(piece),
                        }
                    )
            ms = len(pcm24) * 1000.0 / PCM_RATE
            msg.audio_ms += ms
            self.audio_ms += ms
            msg.item.spans.append((start, msg.audio_ms, text))
            self.usage.output_audio = output_audio_tokens(self.audio_ms)
            if self.started_at is None:
                self.started_at = now
        return complete

    def end_message(self) -> None:
        """Close the open message normally (``*.done`` events, item completed)."""
        self._close_message(ItemTrigger.FINISH)

    # --- function calls ----------------------------------------------------------------------

    def function_call(self, name: str, arguments: str, call_id: str | None = None) -> Item:
        """A whole function_call output item: added, argument deltas, done."""
        if self._message is not None:
            self.end_message()
        item = Item(
            new_id("item"),
            "function_call",
            status=ItemState.IN_PROGRESS,
            call_id=call_id or new_id("call"),
            name=name,
            arguments="",
        )
        index = self._add_output(item)
        ids = {"response_id": self.id, "item_id": item.id, "output_index": index, "call_id": item.call_id}
        for lo in range(0, len(arguments), _ARG_DELTA_CHARS):
            self.emit(
                {
                    "type": "response.function_call_arguments.delta",
                    **ids,
                    "delta": arguments[lo : lo + _ARG_DELTA_CHARS],
                }
            )
        item.arguments = arguments
        self.usage.output_text += text_tokens(arguments)
        self.emit(
            {"type": "response.function_call_arguments.done", **ids, "name": name, "arguments": arguments}
        )
        item.advance(ItemTrigger.FINISH)
        self._item_done(item, index)
        return item

    # --- rendering ---------------------------------------------------------------------------

    def render(self) -> dict[str, Any]:
        """The canonical (GA) ``response`` object."""
        done = self.state is not ResponseState.IN_PROGRESS
        return {
            "object": "realtime.response",
            "id": self.id,
            "status": self.state.value,
            "status_details": self.status_details,
            "output": [it.render() for it in self.output] if done else [],
            "conversation_id": self.conversation.id if self.spec.in_conversation else None,
            "output_modalities": list(self.spec.output_modalities),
            "max_output_tokens": self.spec.max_output_tokens,
            "audio": {"output": {"format": format_to_ga(self.spec.output_format), "voice": self.spec.voice}},
            "metadata": self.spec.metadata,
            "temperature": self.spec.temperature,
            "usage": self.usage.to_dict() if done else None,
        }

    # --- internals ---------------------------------------------------------------------------

    def _require_message(self) -> _OpenMessage:
        if self._message is None:
            raise RuntimeError("no open message: call begin_message() first")
        return self._message

    def _fit_text(self, text: str) -> str:
        budget = self.tokens_left()
        if budget == float("inf"):
            return text
        msg = self._require_message()
        used = text_tokens(msg.text)
        # the longest prefix whose tokens fit the budget (one token per 4 characters)
        max_chars = int((used + budget) * 4) - len(msg.text)
        return text[: max(0, max_chars)]

    def _part_ids(self) -> dict[str, Any]:
        msg = self._require_message()
        return {
            "response_id": self.id,
            "item_id": msg.item.id,
            "output_index": msg.output_index,
            "content_index": 0,
        }

    def _add_output(self, item: Item) -> int:
        index = len(self.output)
        self.output.append(item)
        self.emit(
            {
                "type": "response.output_item.added",
                "response_id": self.id,
                "output_index": index,
                "item": item.render(),
            }
        )
        if self.spec.in_conversation:
            previous = self.conversation.insert(item)
            self.emit(
                {"type": "conversation.item.added", "previous_item_id": previous, "item": item.render()}
            )
        return index

    def _close_message(self, trigger: ItemTrigger) -> None:
        msg = self._require_message()
        ids = self._part_ids()
        if msg.audio:
            encoder = msg.encoder  # None over WebRTC: no deltas, so no resampler tail either
            tail = encoder(np.zeros(0, np.int16), last=True) if encoder and encoder.fmt != "pcm16" else ""
            if tail:
                self.emit({"type": "response.output_audio.delta", **ids, "delta": tail})
            self.emit({"type": "response.output_audio.done", **ids})
            self.emit({"type": "response.output_audio_transcript.done", **ids, "transcript": msg.text})
            part = {"type": "audio", "transcript": msg.text}
        else:
            self.emit({"type": "response.output_text.done", **ids, "text": msg.text})
            part = {"type": "text", "text": msg.text}
        self.emit({"type": "response.content_part.done", **ids, "part": part})
        msg.item.advance(trigger)
        self._message = None
        self._item_done(msg.item, msg.output_index)

    def _item_done(self, item: Item, index: int) -> None:
        self.emit(
            {
                "type": "response.output_item.done",
                "response_id": self.id,
                "output_index": index,
                "item": item.render(),
            }
        )
        if self.spec.in_conversation and item.id in self.conversation:
            self.emit({"type": "conversation.item.done", "item": item.render()})
