"""Keep the engine's native heap from creeping: allocator settings at start, trims while it runs
(glibc only).

A session's audio, synthesis buffers and model activations are freed when it ends, but glibc keeps
freed pages in its arenas (one per thread that allocated), so the engine's resident memory after a
few hundred sessions stayed where their peak left it (measured: +46 % after 200 abrupt
disconnects, never given back). ``malloc_trim(0)`` returns the whole free pages of every arena. It
is a no-op elsewhere (macOS, Windows, musl), where the allocator behaves differently anyway.

Trimming alone does not stop a long session's slow growth: the voice, Whisper and the VAD run on
a dozen threads, glibc gives each thread an arena of its own (up to 8 per core) that keeps its
peak, and once a few large buffers have been freed glibc raises its mmap threshold (up to 32 MiB),
so later audio buffers and model tensors come from those arenas too, where partly used pages cannot
be returned. :func:`tune_allocator` (called by ``start_engine`` before any model loads) caps the
arenas at ``ARENA_MAX`` and pins the mmap threshold at ``MMAP_THRESHOLD``: a buffer that large gets
pages of its own and gives them back when freed. ``REALTIME_NB_MALLOC_TUNING=0`` leaves glibc's
defaults (and so do the ``MALLOC_ARENA_MAX`` / ``MALLOC_MMAP_THRESHOLD_`` environment variables,
which win when set).
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from typing import Any

__all__ = ["ARENA_MAX", "MMAP_THRESHOLD", "trim", "tune_allocator"]

ARENA_MAX = 2  # malloc arenas shared by all threads (glibc default: 8 per core)
MMAP_THRESHOLD = 256 * 1024  # bytes; larger allocations are mapped, and unmapped when freed
_M_MMAP_THRESHOLD = -3  # mallopt parameter numbers, from glibc's malloc.h
_M_ARENA_MAX = -8


def _libc() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim, libc.mallopt  # noqa: B018  (glibc, not musl: both exist)
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()
_MALLOC_TRIM = _LIBC.malloc_trim if _LIBC is not None else None
_tuned: dict[str, int] | None = None
_tune_lock = threading.Lock()


def tune_allocator() -> dict[str, int]:
    """Cap glibc's arenas and pin its mmap threshold for this process (see the module docstring);
    once per process, before the threads that allocate start. Returns what was set (empty when
    nothing was: not glibc, switched off, or the environment already chose)."""
    global _tuned
    with _tune_lock:
        if _tuned is not None:
            return dict(_tuned)
        _tuned = {}
        if _LIBC is None or os.environ.get("REALTIME_NB_MALLOC_TUNING", "1") == "0":
            return {}
        if "MALLOC_ARENA_MAX" not in os.environ and _LIBC.mallopt(_M_ARENA_MAX, ARENA_MAX):
            _tuned["arena_max"] = ARENA_MAX
        if "MALLOC_MMAP_THRESHOLD_" not in os.environ and _LIBC.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD):
            _tuned["mmap_threshold"] = MMAP_THRESHOLD
        return dict(_tuned)


def trim() -> bool:
    """Give free heap pages back to the OS; True if the allocator could be asked. Takes a few ms
    with a large heap: call it off the event loop."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True
