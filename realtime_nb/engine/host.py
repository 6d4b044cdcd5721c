"""What the parts of an engine session use of the session itself.

:class:`~realtime_nb.engine.session.EngineSession` is the router, the clock and the emitter; the parts
it routes to (input buffer, items, response runs, transcription) get this handle instead of the
whole session, so what each part may do to the session is written down in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from realtime_nb.engine.jobs import Job, JobKind
from realtime_nb.protocol import SessionConfig

Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Host:
    """The session's services for its parts."""

    emit: Emit  # a canonical server event, translated to the dialect at the edge
    add_job: Callable[[JobKind, str, Callable[[], Iterator[Any]]], Job]  # (kind, owner id, work)
    drop_job: Callable[[str], None]  # its output is no longer wanted (the adapter may stop it)
    now: Callable[[], float]  # the session's clock (seconds, monotonic)
    config: Callable[[], SessionConfig]  # the effective session configuration
