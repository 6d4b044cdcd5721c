"""Identifiers in the service's style (`event_…`, `item_…`, `resp_…`, …)."""

from __future__ import annotations

import itertools
import os

_counter = itertools.count()
_process_tag = os.urandom(4).hex()


def new_id(prefix: str) -> str:
    """A process-unique id such as ``item_3f9a0c1d00000007``.

    A random per-process tag plus a counter: unique across sessions and processes that share a
    saved log, ordered within a process, and cheap enough to call per event.
    """
    return f"{prefix}_{_process_tag}{next(_counter):010x}"
