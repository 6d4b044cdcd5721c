"""The `session` payload of a `session.update`: what changed between two effective configs.

Sending only what changed keeps updates safe on the services (a voice re-sent after the model has
spoken is refused, `model` cannot be updated) while the effective result equals sending the whole
target config, because the service applies updates partially. Objects the service takes whole
(`turn_detection`, `noise_reduction`, `transcription`, formats, tools, ...) are sent whole whenever
any field inside them changed: a partial `turn_detection` would have the service refill the missing
fields with defaults, a classic surprise. Only the `audio` / `audio.input` / `audio.output`
containers of the GA shape are merged key by key.
"""

from __future__ import annotations

from typing import Any

from realtime_nb.protocol import SESSION_FIELDS, Dialect


def _diff(
    old: dict[str, Any], new: dict[str, Any], containers: frozenset[tuple[str, ...]], at: tuple[str, ...] = ()
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in new.items():
        if key in old and old[key] == value:
            continue
        before = old.get(key)
        if (*at, key) in containers and isinstance(value, dict) and isinstance(before, dict):
            inner = _diff(before, value, containers, (*at, key))
            if inner:
                out[key] = inner
        else:
            out[key] = value
    for key in old.keys() - new.keys():
        out[key] = None  # absent in the target = switched off (null is the protocol's "off")
    return out


def _turn_detection_path(dialect: Dialect) -> tuple[str, ...]:
    path = SESSION_FIELDS.path("turn_detection", dialect)
    assert path is not None  # both dialects have turn detection
    return tuple(path.split("."))


def session_update_payload(
    old: dict[str, Any], new: dict[str, Any], dialect: Dialect, *, with_turn_detection: bool = False
) -> dict[str, Any]:
    """The minimal wire `session` object turning `old` into `new` (both full wire session objects,
    as `protocol.session_update` renders them). GA payloads always carry `type` (required on every
    GA update); `model` is never sent (the URL fixes it). ``with_turn_detection`` puts the whole
    turn-detection object in even when it did not change (a tuning panel restating its settings).
    """
    payload = _diff(old, new, SESSION_FIELDS.containers(dialect))
    if with_turn_detection:
        *parents, leaf = _turn_detection_path(dialect)
        source, target = new, payload
        for key in parents:
            source = source.get(key, {})
            target = target.setdefault(key, {})
        target[leaf] = source.get(leaf)
    payload.pop(SESSION_FIELDS.path("model", dialect), None)
    kind = SESSION_FIELDS.path("type", dialect)  # GA only, and first on every update
    if kind is not None:
        rest = {k: v for k, v in payload.items() if k != kind}
        payload = {kind: new.get(kind, SESSION_FIELDS.default("type")), **rest}
    return payload
