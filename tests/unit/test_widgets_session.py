"""The widgets' session type: `SessionLike` names what they use of a session, and the real
`RealtimeSession` provides all of it, with signatures that accept the widgets' calls."""

from __future__ import annotations

import inspect

from realtime_nb.client import Endpoint, RealtimeSession
from realtime_nb.widgets import (
    Dashboard,
    LiveTimeline,
    Mic,
    Player,
    SessionLike,
    TuningPanel,
    WaveformCompare,
)


def _members() -> dict[str, object]:
    return {
        name: value
        for name, value in vars(SessionLike).items()
        if not name.startswith("_") and (callable(value) or isinstance(value, property))
    }


def test_a_realtime_session_is_session_like() -> None:
    session = RealtimeSession(Endpoint.local("ws://127.0.0.1:9"))
    assert isinstance(session, SessionLike)
    assert not isinstance(object(), SessionLike)


def test_every_member_exists_on_realtime_session_with_a_compatible_signature() -> None:
    attributes = set(SessionLike.__annotations__)
    assert attributes == {"log", "config", "session_id", "active_response_id", "close_code", "close_reason"}
    for name, member in _members().items():
        real = getattr(RealtimeSession, name)
        if isinstance(member, property):
            assert isinstance(real, property), name
            continue
        assert inspect.iscoroutinefunction(real) == inspect.iscoroutinefunction(member), name
        wanted, have = inspect.signature(member).parameters, inspect.signature(real).parameters
        for param in wanted.values():
            assert param.name in have, f"RealtimeSession.{name} has no parameter {param.name}"
            if param.kind is param.KEYWORD_ONLY:
                continue  # keyword-only in the protocol: the real one may take it either way
            assert have[param.name].kind in (param.POSITIONAL_OR_KEYWORD, param.kind), (name, param.name)
        variadic = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
        extra = [p for n, p in have.items() if n not in wanted and p.kind not in variadic]
        assert all(p.default is not p.empty for p in extra), f"RealtimeSession.{name} needs more arguments"


def test_the_widgets_take_a_session_like() -> None:
    for callable_, name in (
        (Mic.__init__, "session"),
        (Player.__init__, "session"),
        (TuningPanel.__init__, "session"),
        (Dashboard.__init__, "session"),
        (LiveTimeline.__init__, "source"),
        (WaveformCompare.__init__, "source"),
        (WaveformCompare.create, "session"),
    ):
        annotation = inspect.signature(callable_).parameters[name].annotation
        assert "SessionLike" in str(annotation), (callable_, annotation)
