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


class JobLedger:
    """The jobs one session handed out: the new ones the adapter has not taken yet, the ones whose
    output is still wanted, and (when a test runs them inline) the ones parked while held."""

    def __init__(self) -> None:
        self._new: list[Job] = []
        self._live: dict[str, Job] = {}
        self._parked: dict[str, tuple[Job, Iterator[Any]]] = {}

    def add(self, kind: JobKind, owner: str, work: Callable[[], Iterator[Any]]) -> Job:
        job = Job(kind, owner, work)
        self._new.append(job)
        self._live[job.id] = job
        return job

    def drop(self, job_id: str) -> None:
        """Its output is no longer wanted (the adapter may stop it)."""
        self._live.pop(job_id, None)

    def take_new(self) -> list[Job]:
        jobs, self._new = self._new, []
        return jobs

    def wanted(self, job: Job) -> bool:
        return job.id in self._live

    def settle(self, job: Job) -> bool:
        """The job ended; True if its end still matters (it had not been dropped)."""
        return self._live.pop(job.id, None) is not None

    def clear(self) -> None:
        self._new.clear()
        self._live.clear()
        self._parked.clear()

    @property
    def live_ids(self) -> list[str]:
        return sorted(self._live)

    @property
    def parked(self) -> int:
        return len(self._parked)

    def run_inline(
        self,
        output: Callable[[Job, Any], None],
        finished: Callable[[Job, BaseException | None], None],
        held: Callable[[Job], bool],
    ) -> None:
        """Run every new job (and the jobs they cause) to completion on this thread, in order. A job
        ``held`` pauses is parked before its next value and continued by a later call once it is not
        (tests pull output frames in between, as a call's track would)."""
        while True:
            runnable: list[tuple[Job, Callable[[], Iterator[Any]]]] = [(j, j.run) for j in self.take_new()]
            for job_id, (job, iterator) in list(self._parked.items()):
                if not self.wanted(job) or not held(job):
                    del self._parked[job_id]
                    runnable.append((job, lambda it=iterator: it))  # type: ignore[misc]
            if not runnable:
                return
            for job, start in runnable:
                self._run_one(job, start, output, finished, held)

    def _run_one(
        self,
        job: Job,
        start: Callable[[], Iterator[Any]],
        output: Callable[[Job, Any], None],
        finished: Callable[[Job, BaseException | None], None],
        held: Callable[[Job], bool],
    ) -> None:
        try:
            iterator = start()
            while self.wanted(job):
                if held(job):
                    self._parked[job.id] = (job, iterator)
                    return
                try:
                    value = next(iterator)
                except StopIteration:
                    break
                output(job, value)
        except Exception as exc:
            finished(job, exc)
        else:
            finished(job, None)
