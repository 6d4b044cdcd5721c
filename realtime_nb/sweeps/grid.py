"""The settings a sweep tries: a grid, checked against the protocol's field table before anything runs.

A grid maps a setting to one value, a list of values, or a range ``{start, stop, step}`` (``stop``
included when the steps land on it); a list of grids is their union. Settings are the
turn-detection fields of the session (``type``, ``threshold``, ``prefix_padding_ms``,
``silence_duration_ms`` for server_vad; ``eagerness`` for semantic_vad) and ``noise_reduction``::

    {"type": "server_vad", "threshold": [0.3, 0.5, 0.7],
     "silence_duration_ms": {"start": 200, "stop": 1000, "step": 100}}

Every value is checked with the same rules a ``session.update`` is (``realtime_nb.protocol``'s field
table): a value out of range stops the sweep before any model runs, with a :class:`GridError` naming
the setting, the value and what is allowed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from realtime_nb.protocol import NOISE_REDUCTION_VALUES, ConfigError, SemanticVad, ServerVad
from realtime_nb.protocol.fields import SESSION_FIELDS

Setting = dict[str, Any]
KINDS = {"server_vad": ServerVad, "semantic_vad": SemanticVad}
SWEPT = {
    "server_vad": ("threshold", "prefix_padding_ms", "silence_duration_ms"),
    "semantic_vad": ("eagerness",),
}
INTEGER_MS = frozenset({"prefix_padding_ms", "silence_duration_ms"})

# `realtime-nb sweep` without --grid: the two settings that shape server_vad's turns.
DEFAULT_GRID: dict[str, Any] = {
    "type": "server_vad",
    "threshold": {"start": 0.3, "stop": 0.8, "step": 0.1},
    "silence_duration_ms": {"start": 200, "stop": 1000, "step": 100},
}


class GridError(ValueError):
    """A grid that cannot run; the message names the setting and what is allowed."""


def _allowed(key: str) -> str:
    if key == "noise_reduction":
        return SESSION_FIELDS.row("noise_reduction").allowed.describe()
    return SESSION_FIELDS.row(f"turn_detection.{key}").allowed.describe()


def _values(key: str, spec: Any) -> list[Any]:
    if isinstance(spec, Mapping):
        if set(spec) - {"start", "stop", "step"} or not {"start", "stop", "step"} <= set(spec):
            raise GridError(f"grid: {key} range needs exactly start, stop and step, got {dict(spec)}")
        start, stop, step = spec["start"], spec["stop"], spec["step"]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (start, stop, step)):
            raise GridError(f"grid: {key} range start, stop and step must be numbers, got {dict(spec)}")
        if step <= 0 or stop < start or not all(map(math.isfinite, (start, stop, step))):
            raise GridError(f"grid: {key} range needs step > 0 and stop >= start, got {dict(spec)}")
        count = math.floor((stop - start) / step + 1e-9) + 1
        values = [start + i * step for i in range(count)]
        if key in INTEGER_MS:
            return [round(v) for v in values]
        return [round(v, 10) for v in values]
    if isinstance(spec, list | tuple):
        if not spec:
            raise GridError(f"grid: {key} has an empty list of values")
        return list(spec)
    return [spec]


def _check_value(kind: str, key: str, value: Any) -> None:
    if key == "noise_reduction":
        if value not in NOISE_REDUCTION_VALUES:
            raise GridError(f"grid: noise_reduction={value!r} is not allowed; allowed: {_allowed(key)}")
        return
    try:
        KINDS[kind](**{key: value})
    except ConfigError:
        raise GridError(
            f"grid: {key}={value!r} is not allowed for {kind}; allowed: {_allowed(key)}"
        ) from None


def _expand_one(grid: Mapping[str, Any]) -> list[Setting]:
    if not isinstance(grid, Mapping):
        raise GridError(f"grid: expected a mapping of setting -> values, got {grid!r}")
    kinds = _values("type", grid.get("type", "server_vad"))
    out: list[Setting] = []
    for kind in kinds:
        if kind not in KINDS:
            raise GridError(f"grid: type={kind!r} is not allowed; allowed: {', '.join(KINDS)}")
        allowed_keys = {"type", "noise_reduction", *SWEPT[kind]}
        unknown = sorted(set(grid) - allowed_keys)
        if unknown:
            raise GridError(
                f"grid: {', '.join(unknown)} cannot be swept for {kind}; "
                f"settings: {', '.join(sorted(allowed_keys))}"
            )
        axes: dict[str, list[Any]] = {}
        for key in (*SWEPT[kind], "noise_reduction"):
            default = None if key == "noise_reduction" else SESSION_FIELDS.default(f"turn_detection.{key}")
            values = _values(key, grid.get(key, default))
            for value in values:
                _check_value(kind, key, value)
            axes[key] = values
        for combo in itertools.product(*axes.values()):
            out.append({"type": kind, **dict(zip(axes, combo, strict=True))})
    return out


def expand(grid: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None) -> list[Setting]:
    """Every setting of ``grid`` (default :data:`DEFAULT_GRID`), checked, duplicates dropped, in order."""
    grids = [DEFAULT_GRID] if grid is None else [grid] if isinstance(grid, Mapping) else list(grid)
    if not grids:
        raise GridError("grid: no settings")
    seen: dict[str, Setting] = {}
    for g in grids:
        for setting in _expand_one(g):
            seen.setdefault(setting_id(setting), setting)
    return list(seen.values())


def load_grid(path: str | Path) -> Any:
    """A grid from a YAML or JSON file."""
    path = Path(path)
    text = path.read_text()
    if path.suffix.lower() == ".json":
        return json.loads(text)
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise GridError(f"{path}: not valid YAML ({exc})") from None


def setting_id(setting: Setting) -> str:
    """A short, stable name for a setting (the key results are stored and resumed by)."""
    blob = json.dumps(setting, sort_keys=True, default=str)
    return "s" + hashlib.sha1(blob.encode()).hexdigest()[:10]


def turn_detection(setting: Setting, *, create_response: bool = False) -> ServerVad | SemanticVad:
    """The turn-detection object of a setting (no responses by default: a sweep measures turns)."""
    fields = {k: setting[k] for k in SWEPT[setting["type"]]}
    return KINDS[setting["type"]](**fields, create_response=create_response)


def session_options(setting: Setting) -> dict[str, Any]:
    """The setting as ``update_session`` / ``connect`` keywords (responses on, as in a real session)."""
    return {
        "turn_detection": turn_detection(setting, create_response=True),
        "noise_reduction": setting.get("noise_reduction"),
    }


def describe(setting: Setting) -> str:
    """A short label: ``server_vad t=0.5 s=500 p=300`` (plus the noise reduction when on)."""
    if setting["type"] == "server_vad":
        text = (
            f"server_vad t={setting['threshold']:g} s={setting['silence_duration_ms']} "
            f"p={setting['prefix_padding_ms']}"
        )
    else:
        text = f"semantic_vad {setting['eagerness']}"
    return text + (f" nr={setting['noise_reduction']}" if setting.get("noise_reduction") else "")
