"""Hand freed heap memory back to the operating system once sessions end (glibc only).

A session's audio, synthesis buffers and model activations are freed when it ends, but glibc keeps
freed pages in its arenas (one per thread that allocated), so the engine's resident memory after a
few hundred sessions stayed where their peak left it (measured: +46 % after 200 abrupt
disconnects, never given back). ``malloc_trim(0)`` returns the whole free pages of every arena. It
is a no-op elsewhere (macOS, Windows, musl), where the allocator behaves differently anyway.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

__all__ = ["trim"]


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _malloc_trim()


def trim() -> bool:
    """Give free heap pages back to the OS; True if the allocator could be asked. Takes a few ms
    with a large heap: call it off the event loop."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True
