"""Append-only column storage of the timeline rows and the DataFrame built from it.

Rows live as columns from the start (typed `array`s for numbers, small-int codes for categories,
lists for dense ids, dicts for sparse text), so a row costs ~150 bytes plus its event id and a
DataFrame of 100 000 rows is a handful of numpy conversions, not 100 000 dicts.
"""

from __future__ import annotations

from array import array
from typing import Any

import numpy as np
import pandas as pd

from realtime_nb.timeline.fields import ERROR_FIELDS, FAMILIES

NA = -(2**63)  # missing value in the int64 arrays
DIRECTIONS: tuple[str, ...] = ("sent", "received")
DIALECTS: tuple[str, ...] = ("ga", "preview")
INT_COLUMNS: tuple[str, ...] = (
    "output_index",
    "content_index",
    "audio_start_ms",
    "audio_end_ms",
    "size_bytes",
)
DENSE_IDS: tuple[str, ...] = ("event_id", "item_id", "response_id")
SPARSE: tuple[str, ...] = ("previous_item_id", "call_id", *ERROR_FIELDS, "text", "issue")
COLUMNS: tuple[str, ...] = (
    "seq", "t", "wall", "direction", "type", "wire_type", "dialect", "family",
    "event_id", "item_id", "response_id", "previous_item_id", "call_id",
    "output_index", "content_index", "audio_start_ms", "audio_end_ms",
    "audio_ms", "size_bytes", "text", *ERROR_FIELDS, "issue",
)  # fmt: skip


class Shape:
    """The key order of a compact (payload-free) row; interned, so rows share one instance."""

    __slots__ = ("keys",)

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = keys


class Names:
    """Interned category values: name <-> small int code, in order of first appearance."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.codes: dict[str, int] = {}

    def code(self, name: str | None) -> int:
        if name is None:
            return -1
        code = self.codes.get(name)
        if code is None:
            code = self.codes[name] = len(self.names)
            self.names.append(name)
        return code

    def name(self, code: int) -> str | None:
        return None if code < 0 else self.names[code]

    def categorical(self, codes: np.ndarray) -> pd.Categorical:
        """Categorical with sorted categories (so two logs' frames concatenate cleanly)."""
        order = sorted(range(len(self.names)), key=self.names.__getitem__)
        remap = np.empty(len(order) + 1, np.int32)
        remap[-1] = -1
        remap[np.asarray(order, np.int64)] = np.arange(len(order), dtype=np.int32)
        return pd.Categorical.from_codes(remap[codes], categories=[self.names[i] for i in order])


class Columns:
    """The rows of one log. Appends happen under the log's lock; readers snapshot a length first."""

    def __init__(self) -> None:
        self.t_ns = array("q")
        self.direction = array("b")
        self.dialect = array("b")
        self.family = array("b")
        self.type = array("i")
        self.wire_type = array("i")
        self.types = Names()
        self.wire_types = Names()
        self.ints: dict[str, array] = {name: array("q") for name in INT_COLUMNS}
        self.audio_ms = array("d")
        self.dense: dict[str, list[str | None]] = {name: [] for name in DENSE_IDS}
        self.sparse: dict[str, dict[int, str]] = {name: {} for name in SPARSE}
        # the stripped wire event (dict), or for appends and deltas a `Shape` (plus scalar extras)
        # from which `Recorder.wire_event` rebuilds it
        self.payload: list[Any] = []
        self.by_type: dict[int, array] = {}

    def __len__(self) -> int:
        return len(self.t_ns)

    def append(
        self,
        t_ns: int,
        direction: int,
        dialect: int,
        family: int,
        type_name: str | None,
        wire_name: str | None,
        ids: tuple[str | None, str | None, str | None],
        ints: tuple[int | None, int | None, int | None, int | None, int | None],
        audio_ms: float,
        sparse: dict[str, str] | None,
        payload: Any,
    ) -> int:
        """Add one row; returns its seq."""
        seq = len(self.t_ns)
        type_code = self.types.code(type_name)
        self.type.append(type_code)
        self.wire_type.append(self.wire_types.code(wire_name))
        self.direction.append(direction)
        self.dialect.append(dialect)
        self.family.append(family)
        event_id, item_id, response_id = ids
        self.dense["event_id"].append(event_id)
        self.dense["item_id"].append(item_id)
        self.dense["response_id"].append(response_id)
        for column, value in zip(self.ints.values(), ints, strict=True):
            column.append(NA if value is None else value)
        self.audio_ms.append(audio_ms)
        if sparse:
            for name in SPARSE:
                value = sparse.get(name)
                if value is not None:
                    self.sparse[name][seq] = value
        self.payload.append(payload)
        seqs = self.by_type.get(type_code)
        if seqs is None:
            seqs = self.by_type[type_code] = array("q")
        seqs.append(seq)
        self.t_ns.append(t_ns)  # last: a reader that sees this length sees the whole row
        return seq

    # --- reading -----------------------------------------------------------------------------

    def seqs_of(self, type_name: str) -> np.ndarray:
        code = self.types.codes.get(type_name)
        if code is None:
            return np.zeros(0, np.int64)
        return np.frombuffer(self.by_type[code], np.int64).copy()

    def int_at(self, name: str, seq: int) -> int | None:
        value = self.ints[name][seq]
        return None if value == NA else value

    def id_at(self, name: str, seq: int) -> str | None:
        if name in self.dense:
            return self.dense[name][seq]
        return self.sparse[name].get(seq)

    def type_at(self, seq: int) -> str | None:
        return self.types.name(self.type[seq])

    def wire_type_at(self, seq: int) -> str | None:
        return self.wire_types.name(self.wire_type[seq])

    def row(self, seq: int, start_ns: int, wall_start_ns: int) -> dict[str, Any]:
        """One row as a dict of plain Python values (the frame's columns; None for missing)."""
        t_ns = self.t_ns[seq]
        audio_ms = self.audio_ms[seq]
        out: dict[str, Any] = {
            "seq": seq,
            "t": (t_ns - start_ns) / 1e9,
            "wall": pd.Timestamp(wall_start_ns + t_ns - start_ns, unit="ns", tz="UTC"),
            "direction": DIRECTIONS[self.direction[seq]],
            "type": self.type_at(seq),
            "wire_type": self.wire_type_at(seq),
            "dialect": DIALECTS[self.dialect[seq]],
            "family": FAMILIES[self.family[seq]],
        }
        for name in COLUMNS[8:]:
            if name in self.ints:
                out[name] = self.int_at(name, seq)
            elif name == "audio_ms":
                out[name] = None if audio_ms != audio_ms else audio_ms
            else:
                out[name] = self.id_at(name, seq)
        return out

    def frame(self, start_ns: int, wall_start_ns: int) -> pd.DataFrame:
        """All rows as a DataFrame with the documented dtypes."""
        n = len(self.t_ns)
        t_ns = np.frombuffer(self.t_ns, np.int64)[:n]
        rel = t_ns - start_ns
        data: dict[str, Any] = {
            "seq": np.arange(n, dtype=np.int64),
            "t": rel / 1e9,
            "wall": pd.DatetimeIndex((rel + wall_start_ns).astype("datetime64[ns]"), tz="UTC"),
            "direction": pd.Categorical.from_codes(
                np.frombuffer(self.direction, np.int8)[:n], categories=list(DIRECTIONS)
            ),
            "type": self.types.categorical(np.frombuffer(self.type, np.int32)[:n]),
            "wire_type": self.wire_types.categorical(np.frombuffer(self.wire_type, np.int32)[:n]),
            "dialect": pd.Categorical.from_codes(
                np.frombuffer(self.dialect, np.int8)[:n], categories=list(DIALECTS)
            ),
            "family": pd.Categorical.from_codes(
                np.frombuffer(self.family, np.int8)[:n], categories=list(FAMILIES)
            ),
        }
        for name in COLUMNS[8:]:
            if name in self.ints:
                values = np.frombuffer(self.ints[name], np.int64)[:n]
                mask = values == NA
                data[name] = pd.arrays.IntegerArray(np.where(mask, 0, values), mask)
            elif name == "audio_ms":
                data[name] = np.frombuffer(self.audio_ms, np.float64)[:n].copy()
            elif name in self.dense:
                data[name] = objects(self.dense[name][:n])
            else:
                column: list[str | None] = [None] * n
                for seq, value in list(self.sparse[name].items()):
                    if seq < n:
                        column[seq] = value
                data[name] = objects(column)
        return pd.DataFrame(data, columns=list(COLUMNS))


def objects(values: list[Any]) -> pd.Series:
    """An object column with None for missing (pandas 3 would infer its NaN-for-missing `str`)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return pd.Series(out, dtype=object, copy=False)
