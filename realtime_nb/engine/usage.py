"""Token usage estimates for ``response.done``.

The engine has no tokenizer, so usage is a documented estimate with the service's shape
(``total = input + output``; each side split into text and audio):

* text: one token per 4 characters, rounded up (the usual rule of thumb for English BPE);
* input (user) audio: one token per 100 ms, rounded up (10 tokens per second);
* output (assistant) audio: one token per 50 ms, rounded up (20 tokens per second);
* cached tokens: always 0 (no prompt cache).

Input tokens are the whole context the response saw (instructions + every input item), so they
grow turn by turn as with the service.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CHARS_PER_TEXT_TOKEN = 4
INPUT_AUDIO_MS_PER_TOKEN = 100
OUTPUT_AUDIO_MS_PER_TOKEN = 50


def text_tokens(text: str | None) -> int:
    """Estimated tokens of a text."""
    return math.ceil(len(text) / CHARS_PER_TEXT_TOKEN) if text else 0


def input_audio_tokens(ms: float) -> int:
    """Estimated tokens of user audio of ``ms`` milliseconds."""
    return math.ceil(ms / INPUT_AUDIO_MS_PER_TOKEN) if ms > 0 else 0


def output_audio_tokens(ms: float) -> int:
    """Estimated tokens of assistant audio of ``ms`` milliseconds."""
    return math.ceil(ms / OUTPUT_AUDIO_MS_PER_TOKEN) if ms > 0 else 0


@dataclass
class Usage:
    """Token counts of one response, rendered as the service's ``usage`` object."""

    input_text: int = 0
    input_audio: int = 0
    output_text: int = 0
    output_audio: int = 0

    @property
    def output_total(self) -> int:
        return self.output_text + self.output_audio

    def to_dict(self) -> dict[str, object]:
        inp = self.input_text + self.input_audio
        return {
            "total_tokens": inp + self.output_total,
            "input_tokens": inp,
            "output_tokens": self.output_total,
            "input_token_details": {
                "cached_tokens": 0,
                "text_tokens": self.input_text,
                "audio_tokens": self.input_audio,
                "image_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {"text_tokens": self.output_text, "audio_tokens": self.output_audio},
        }
