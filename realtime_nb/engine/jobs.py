"""Heavy work handed to the I/O adapter (transcription, the responder, speech synthesis).

A :class:`Job` is a generator function: the adapter iterates ``job.run()`` on a worker thread and
hands each yielded value back to the session with ``session.job_output(job, value, now)`` (so
synthesized audio streams out chunk by chunk), then calls ``session.job_finished(job, now, error)``
with the exception if the generator raised. The session owns all state; a job only computes, which
is why a late result of a cancelled response or a closed session can simply be dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from realtime_nb.protocol.ids import new_id


class JobKind(StrEnum):
    TRANSCRIBE = "transcribe"  # configured input transcription: emits transcription events
    HEAR = "hear"  # private transcription for the default responder (transcription off)
    RESPOND = "respond"  # the responder callable
    SYNTHESIZE = "synthesize"  # text -> audio chunks


@dataclass(eq=False)
class Job:
    """One unit of blocking work; ``owner`` is the item or response id it belongs to."""

    kind: JobKind
    owner: str
    work: Callable[[], Iterator[Any]]
    id: str = field(default_factory=lambda: new_id("job"))

    def run(self) -> Iterator[Any]:
        """The values to feed back through ``job_output``, computed lazily (call on a worker thread)."""
        return self.work()

    def __repr__(self) -> str:
        return f"Job({self.kind.value}, owner={self.owner!r}, id={self.id!r})"
