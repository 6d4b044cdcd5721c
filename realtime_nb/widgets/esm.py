"""The page modules of the widgets: each widget's JavaScript with the shared helpers in front.

anywidget loads every widget's module by itself (a data URL: no import of a sibling file), so the
helpers all of them use (``page_shared.js``: DOM, test hooks, the microphone list) are prepended
here, once per module, instead of being written into each.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

__all__ = ["page_module"]

_HERE = Path(__file__).parent


@cache
def page_module(name: str) -> str:
    """``page_shared.js`` followed by the widget's own ``name`` (e.g. ``"mic.js"``)."""
    shared = (_HERE / "page_shared.js").read_text(encoding="utf-8")
    return f"{shared}\n{(_HERE / name).read_text(encoding='utf-8')}"
