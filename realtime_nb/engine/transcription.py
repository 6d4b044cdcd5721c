"""Transcription of user audio items: configured input transcription, and the engine's own hearing.

A committed item is transcribed when the session asks for input transcription (``TRANSCRIBE``:
``conversation.item.input_audio_transcription.delta`` / ``.completed`` / ``.failed`` events); a
response whose context holds user audio nobody transcribed yet has it heard privately (``HEAR``: no
events, the transcript only reaches the responder). Either way the text lands in ``Item.heard``, and
a response waits in HEARING until no item of its context is in flight here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from realtime_nb.audio import resample
from realtime_nb.engine.conversation import Conversation, Item
from realtime_nb.engine.host import Host
from realtime_nb.engine.jobs import Job, JobKind
from realtime_nb.engine.models.transcribe import SAMPLE_RATE as WHISPER_RATE
from realtime_nb.protocol import PCM_RATE


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
        t = self._host.config().transcription
        language, prompt = (
            (t.language, t.prompt) if (t is not None and kind is JobKind.TRANSCRIBE) else (None, None)
        )
        self._hearing.add(item.id)
        job = self._host.add_job(
            kind, item.id, lambda: models.transcriber().transcribe(audio16, language=language, prompt=prompt)
        )
        self._pieces[job.id] = []

    def piece(self, job: Job, segment: str) -> None:
        """One transcribed segment (a job output)."""
        pieces = self._pieces.setdefault(job.id, [])
        delta = segment if not pieces else " " + segment
        pieces.append(delta)
        if job.kind is JobKind.TRANSCRIBE and job.owner in self._conversation:
            self._host.emit(
                {
                    "type": "conversation.item.input_audio_transcription.delta",
                    "item_id": job.owner,
                    "content_index": 0,
                    "delta": delta,
                }
            )

    def done(self, job: Job, error: BaseException | None) -> None:
        """The job ended (``error``: what it raised): the text goes onto the item, if it still exists."""
        text = "".join(self._pieces.pop(job.id, []))
        item = self._find_item(job.owner)
        self._hearing.discard(job.owner)
        if item is not None:
            self._finish(item, job.kind, text, error)

    def _finish(self, item: Item, kind: JobKind, text: str, error: BaseException | None) -> None:
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
        self._host.emit(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item.id,
                "content_index": 0,
                "transcript": text,
                "usage": {"type": "duration", "seconds": seconds},
            }
        )
