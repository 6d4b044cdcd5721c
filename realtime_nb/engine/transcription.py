"""Transcription of user audio items: configured input transcription, and the engine's own hearing.

A committed item is transcribed when the session asks for input transcription (``TRANSCRIBE``:
``conversation.item.input_audio_transcription.delta`` / ``.completed`` / ``.failed`` events); a
response whose context holds user audio nobody transcribed yet has it heard privately (``HEAR``: no
events, the transcript only reaches the responder). Either way the text lands in ``Item.heard``, and
a response waits in HEARING until no item of its context is in flight here.

Deltas follow what the local model produces: one per segment, or one per word when the session is a
transcription session or asks for logprobs (``include: ["item.input_audio_transcription.logprobs"]``),
since Whisper's word alignment is what gives words and their probabilities. Logprobs are mapped
honestly but not exactly: the services give one entry per *token*; faster-whisper gives one
probability per *word* (the mean of its tokens' probabilities), so each entry here is a word, with
``token`` = the word as it appears in the delta, ``logprob`` = ln(that probability) and ``bytes`` =
its UTF-8 bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from realtime_nb.audio import resample
from realtime_nb.engine.conversation import Conversation, Item
from realtime_nb.engine.host import Host
from realtime_nb.engine.jobs import Job, JobKind
from realtime_nb.engine.models.transcribe import SAMPLE_RATE as WHISPER_RATE
from realtime_nb.engine.models.transcribe import Segment
from realtime_nb.protocol import PCM_RATE
from realtime_nb.protocol.fields import INCLUDE_VALUES

LOGPROBS = INCLUDE_VALUES[0]  # item.input_audio_transcription.logprobs
_MIN_PROBABILITY = 1e-12  # a word Whisper gave probability 0: a finite logprob all the same


def _logprob(token: str, probability: float) -> dict[str, Any]:
    """One word as a logprob entry of the services' shape (see the module docstring)."""
    return {
        "token": token,
        "logprob": math.log(max(probability, _MIN_PROBABILITY)),
        "bytes": list(token.encode("utf-8")),
    }


class Transcriptions:
    """Transcription jobs of one session: started, streamed in pieces, finished onto the item."""

    def __init__(
        self, host: Host, models: Any, conversation: Conversation, find_item: Callable[[str], Item | None]
    ) -> None:
        self._host = host
        self._models = models
        self._conversation = conversation
        self._find_item = find_item  # by id: the conversation, then items given inline to a response
        self._hearing: set[str] = set()  # item ids with a transcription in flight
        self._pieces: dict[str, list[str]] = {}  # job id -> the text so far
        self._logprobs: dict[str, list[dict[str, Any]] | None] = {}  # job id -> entries (None: not asked)

    def in_flight(self, item_id: str) -> bool:
        return item_id in self._hearing

    def start(self, item: Item, kind: JobKind) -> None:
        """Transcribe ``item``'s audio on a worker (``TRANSCRIBE`` or ``HEAR``, see the module)."""
        pcm = item.audio.get(0)
        if pcm is None or pcm.size == 0:
            self._finish(item, kind, "", None)
            return
        audio16 = resample(pcm, PCM_RATE, WHISPER_RATE)  # what Whisper hears
        models = self._models  # the transcriber is fetched (maybe loaded) on the worker thread
        config = self._host.config()
        t = config.transcription
        language, prompt = (
            (t.language, t.prompt) if (t is not None and kind is JobKind.TRANSCRIBE) else (None, None)
        )
        logprobs = kind is JobKind.TRANSCRIBE and LOGPROBS in (config.include or ())
        words = kind is JobKind.TRANSCRIBE and (logprobs or config.transcribes_only)
        self._hearing.add(item.id)
        job = self._host.add_job(
            kind,
            item.id,
            lambda: models.transcriber().transcribe(audio16, language=language, prompt=prompt, words=words),
        )
        self._pieces[job.id] = []
        self._logprobs[job.id] = [] if logprobs else None

    def piece(self, job: Job, segment: str | Segment) -> None:
        """One transcribed segment (a job output): one delta, or one per word it holds."""
        pieces = self._pieces.setdefault(job.id, [])
        if isinstance(segment, Segment) and segment.words:
            words = [(w.text, w.probability) for w in segment.words]
        else:
            words = [(segment.text if isinstance(segment, Segment) else segment, None)]
        for text, probability in words:
            delta = text.strip() if not pieces else (text if text[:1].isspace() else " " + text)
            pieces.append(delta)
            self._delta(job, delta, probability)

    def _delta(self, job: Job, delta: str, probability: float | None) -> None:
        entries = self._logprobs.get(job.id)
        event: dict[str, Any] = {
            "type": "conversation.item.input_audio_transcription.delta",
            "item_id": job.owner,
            "content_index": 0,
            "delta": delta,
        }
        if entries is not None and probability is not None:
            event["logprobs"] = [_logprob(delta, probability)]
            entries.extend(event["logprobs"])
        if job.kind is JobKind.TRANSCRIBE and job.owner in self._conversation:
            self._host.emit(event)

    def done(self, job: Job, error: BaseException | None) -> None:
        """The job ended (``error``: what it raised): the text goes onto the item, if it still exists."""
        text = "".join(self._pieces.pop(job.id, []))
        logprobs = self._logprobs.pop(job.id, None)
        item = self._find_item(job.owner)
        self._hearing.discard(job.owner)
        if item is not None:
            self._finish(item, job.kind, text, error, logprobs)

    def _finish(
        self,
        item: Item,
        kind: JobKind,
        text: str,
        error: BaseException | None,
        logprobs: list[dict[str, Any]] | None = None,
    ) -> None:
        item.heard = "" if error is not None else text
        if kind is not JobKind.TRANSCRIBE or item.id not in self._conversation:
            return
        if error is not None:
            self._host.emit(
                {
                    "type": "conversation.item.input_audio_transcription.failed",
                    "item_id": item.id,
                    "content_index": 0,
                    "error": {
                        "type": "transcription_error",
                        "code": "transcription_failed",
                        "message": str(error),
                        "param": None,
                    },
                }
            )
            return
        item.content[0]["transcript"] = text
        seconds = item.audio_ms(0) / 1000.0
        completed: dict[str, Any] = {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": item.id,
            "content_index": 0,
            "transcript": text,
            "usage": {"type": "duration", "seconds": seconds},
        }
        if logprobs is not None:
            completed["logprobs"] = logprobs
        self._host.emit(completed)
