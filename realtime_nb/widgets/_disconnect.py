"""Noticing that a session's connection dropped, for every widget that follows a session.

`RealtimeSession` reports a closed connection once, to its ``on()`` listeners, as a synthetic
``realtime_nb.connection_closed`` event (``code``, ``reason``), and keeps ``closed`` /
``close_code`` / ``close_reason`` afterwards. A widget may be created after the drop, so both are
checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from realtime_nb.client.session import CONNECTION_CLOSED_EVENT
from realtime_nb.widgets._session import SessionLike


def close_reason(code: int | None, reason: str | None) -> str:
    """The text a greyed-out widget shows: the close code and, when the peer gave one, its reason."""
    text = "connection closed" + (f" (code {code})" if code is not None else "")
    return f"{text}: {reason}" if reason else text


def on_disconnect(session: SessionLike, callback: Callable[[str], Any]) -> Callable[[], None]:
    """Call ``callback(reason)`` once when ``session``'s connection closes; return an unsubscribe.

    Calls it at once when the session is already closed. Sessions without ``on()`` (test stand-ins,
    replayed logs) are never reported as dropped.
    """
    if getattr(session, "closed", False) is True:
        callback(close_reason(getattr(session, "close_code", None), getattr(session, "close_reason", None)))
        return lambda: None
    on = getattr(session, "on", None)
    if not callable(on):
        return lambda: None
    fired = False

    def _closed(event: dict[str, Any]) -> None:
        nonlocal fired
        if not fired:
            fired = True
            callback(close_reason(event.get("code"), event.get("reason")))

    off = on(CONNECTION_CLOSED_EVENT, _closed)
    return off if callable(off) else (lambda: None)


def release_listeners(widget: Any) -> None:
    """Unsubscribe a session-following widget's listeners (``_offs``) and cancel its pending timer
    (``_timer``). Safe on a half-built widget: it also runs from ``__del__`` via ``close()``."""
    for off in getattr(widget, "_offs", ()):
        off()
    widget._offs = []
    timer = getattr(widget, "_timer", None)
    if timer is not None:
        timer.cancel()
        widget._timer = None
