"""The session configuration in force along a log, read from the session events themselves.

Audio bytes can only be decoded in a known format, the "true end of speech" needs the VAD silence
window in force at the time and a raw-vs-processed comparison the prefix padding: all of it is
session configuration. The log folds the session events it records into `SessionConfig`s through
the protocol layer (`SessionConfig.from_wire`, `apply_session_update`, `wire_param`), so nothing
here knows how either dialect spells a setting, and everything above the log reads attributes
(``config.input_format``, ``config.turn_detection``) instead of wire shapes.

One precedence rule, for every reader (the log's audio decoder, ``EventLog.turns()``,
``WaveformCompare``):

* **What the server confirmed wins.** ``session.created`` / ``session.updated`` carry the
  configuration the service actually runs, after it filled in defaults, clamped or ignored what it
  was asked for. A report replaces whatever was in force.
* **A client's ``session.update`` is only a request.** It is taken as in force from the moment it
  is sent, because the service handles events in order and a client streams audio in a new format
  right after asking for it; but only until the service answers: the ``session.updated`` that
  answers it replaces it, and an ``error`` naming its event_id withdraws it. A request the protocol
  layer refuses (so the service would refuse it too) never takes effect.

Before the log has seen any session event the configuration is unknown (`SessionHistory.at` says
None); the decoder then assumes the protocol's defaults.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from realtime_nb.protocol import SESSION_FIELDS, ConfigError, Dialect, SessionConfig, apply_session_update
from realtime_nb.protocol.fields import wire_param

__all__ = ["SESSION_EVENTS", "SessionHistory", "read_report", "response_output_format"]

SESSION_REPORTS: frozenset[str] = frozenset({"session.created", "session.updated"})
SESSION_REQUEST = "session.update"
SESSION_EVENTS: frozenset[str] = SESSION_REPORTS | {SESSION_REQUEST}
DEFAULT = SessionConfig()
_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(SessionConfig))
_LABELS = {"input_format": "input audio format", "output_format": "output audio format"}
_MAX_UNREADABLE = 8  # values of one report set aside before it counts as unreadable as a whole


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _keys(param: str) -> list[str]:
    """A wire param (``session.a.b[2].c``) as the keys below ``session``: ``["a", "b", "c"]``."""
    parts = [p for p in re.split(r"[.\[\]]", param) if p and not p.isdigit()]
    return parts[1:] if parts and parts[0] == SESSION_FIELDS.scope else parts


def _field_of(param: str, dialect: Dialect) -> str | None:
    """The SessionConfig field whose wire path `param` is, or lies under."""
    keys = _keys(param)
    best, best_len = None, 0
    for name in _FIELDS:
        path = _keys(wire_param(name, dialect))
        if keys[: len(path)] == path and len(path) > best_len:
            best, best_len = name, len(path)
    return best


def _without(session: Mapping[str, Any], keys: list[str]) -> dict[str, Any] | None:
    """A copy of `session` without the deepest of `keys` that it holds (None: it holds none)."""
    if not keys or keys[0] not in session:
        return None
    head = keys[0]
    below = session[head]
    inner = _without(below, keys[1:]) if isinstance(below, Mapping) and len(keys) > 1 else None
    out = dict(session)
    if inner is None:
        del out[head]
    else:
        out[head] = inner
    return out


def read_report(
    session: Any,
    dialect: Dialect,
    previous: SessionConfig | None,
    issues: list[str],
    session_type: str | None = None,
) -> SessionConfig | None:
    """The configuration a server's session object reports, or None when it cannot be read at all.

    Keys unknown to this package are ignored (`from_wire` is lenient); a value it cannot use (a
    format or a voice newer than this package) is set aside with an issue and its field keeps the
    value in force before, so one new value does not cost the formats needed to decode the audio.
    """
    if not isinstance(session, Mapping):
        issues.append("session is not an object; configuration unchanged")
        return None
    kept: dict[str, Any] = {}
    wire: Mapping[str, Any] = session
    for _ in range(_MAX_UNREADABLE):
        try:
            config = SessionConfig.from_wire(wire, dialect, session_type=session_type)
            return config.replace(**kept) if kept else config
        except ConfigError as err:
            field = _field_of(err.param, dialect)
            keys = _keys(wire_param(field, dialect)) if field else _keys(err.param)
            pruned = _without(wire, keys)
            if pruned is None:
                break
            label = _LABELS.get(field or "", (field or err.field).replace("_", " "))
            issue = f"unknown {label} {_show(err.value)} (allowed: {err.allowed})"
            if field:
                kept[field] = getattr(previous or DEFAULT, field)
                issue += f"; kept {_show(kept[field])}"
            issues.append(issue)
            wire = pruned
    issues.append("session not understood; configuration unchanged")
    return None


class SessionHistory:
    """The `SessionConfig` in force after each session-related row of one log (see the module
    docstring for the precedence rule). Fed in recording order by the log."""

    def __init__(self) -> None:
        self._confirmed: SessionConfig | None = None
        self._requests: list[tuple[str | None, Any, Dialect, str | None]] = []  # sent, not answered yet
        self._seqs: list[int] = []
        self._configs: list[SessionConfig | None] = []
        self.current: SessionConfig | None = None
        self.input_format = DEFAULT.input_format  # of `current`, or the default: read per append
        self.output_format = DEFAULT.output_format

    def request(
        self, seq: int, event_id: Any, session: Any, dialect: Dialect, session_type: str | None = None
    ) -> None:
        """A client's ``session.update``: in force until answered, if the protocol accepts it.
        `session_type`: the session's kind when the wire does not say (preview
        ``transcription_session.update``)."""
        self._requests.append(
            (event_id if isinstance(event_id, str) else None, session, dialect, session_type)
        )
        self._settle(seq)

    def report(
        self,
        seq: int,
        answer: bool,
        session: Any,
        dialect: Dialect,
        issues: list[str],
        session_type: str | None = None,
    ) -> None:
        """The server's ``session.created`` / ``session.updated`` (`answer`: the latter, which
        answers the oldest request still open)."""
        config = read_report(session, dialect, self.current, issues, session_type)
        if config is None:
            return  # unreadable: nothing changes, the request it may answer stays open
        self._confirmed = config
        if answer and self._requests:
            self._requests.pop(0)
        self._settle(seq)

    def refusal(self, seq: int, event_id: str) -> None:
        """An ``error`` naming `event_id`: the request it names never took effect."""
        left = [r for r in self._requests if r[0] != event_id]
        if len(left) != len(self._requests):
            self._requests = left
            self._settle(seq)

    def at(self, seq: int | None = None) -> SessionConfig | None:
        """The configuration in force once row `seq` was recorded (default: now); None while no
        session event had been seen."""
        if seq is None:
            return self.current
        i = bisect.bisect_right(self._seqs, seq) - 1
        return self._configs[i] if i >= 0 else None

    def _settle(self, seq: int) -> None:
        config = self._confirmed
        still_valid = []
        for request in self._requests:
            _, session, dialect, kind = request
            start = config or (DEFAULT if kind in (None, "realtime") else SessionConfig.for_transcription())
            try:
                config = apply_session_update(start, session, dialect)
            except ConfigError:
                continue  # the service refuses it as well: it never takes effect
            still_valid.append(request)
        self._requests = still_valid
        self.current = config
        self.input_format = (config or DEFAULT).input_format
        self.output_format = (config or DEFAULT).output_format
        self._seqs.append(seq)
        self._configs.append(config)


def response_output_format(response: Any, dialect: Dialect) -> str | None:
    """The output audio format a response object (or ``response.create`` options) names, or None.

    A response names it where a session object of the same dialect does, so the place comes from
    the protocol (`wire_param`) and the value is read the way a session's is.
    """
    keys = _keys(wire_param("output_format", dialect))
    value = response
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    if value is None:
        return None
    for key in reversed(keys):
        value = {key: value}
    try:
        return SessionConfig.from_wire(value, dialect).output_format
    except ConfigError:
        return None
