"""Lazy matplotlib import with an install hint instead of an import trace."""

from __future__ import annotations

from types import ModuleType


def pyplot() -> ModuleType:
    try:
        import matplotlib

        if matplotlib.get_backend().lower() in {"", "tkagg"}:  # headless runs: never need a display
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "realtime_nb.plots needs matplotlib: pip install 'realtime-nb[notebook]'"
        ) from exc
    return plt
