"""`event_table`: a log's frame folded into the compact protocol table the teaching notebooks show."""

from __future__ import annotations

import pandas as pd

from realtime_nb.protocol import Dialect, wire_type
from realtime_nb.timeline.fields import STREAMING_TYPES

__all__ = ["event_table"]

_TABLE_COLUMNS = (
    "t_ms", "direction", "ga_type", "preview_type", "n", "item_id", "response_id",
    "audio_start_ms", "audio_end_ms", "audio_ms",
)  # fmt: skip


def event_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The events of `frame` (`EventLog.frame()`, or a slice of it) as a compact protocol table.

    Runs of one streaming type (appends, audio / text deltas) fold into one row whose ``n`` counts
    them and whose ``audio_ms`` sums them, so a turn fits on a screen. ``t_ms`` is wall-clock ms since
    the first row; ``ga_type`` is the GA name, ``preview_type`` the preview name ("—" where preview
    has no such event).
    """
    if frame.empty:
        return pd.DataFrame(columns=list(_TABLE_COLUMNS))
    origin = float(frame["t"].iloc[0])
    types = frame["type"].astype(str)
    key = types + "|" + frame["direction"].astype(str)
    run = ((key != key.shift()) | ~types.isin(STREAMING_TYPES)).cumsum()
    table = frame.assign(type=types, n=1).groupby(run, sort=False).agg(
        t=("t", "first"), direction=("direction", "first"), type=("type", "first"), n=("n", "sum"),
        item_id=("item_id", "first"), response_id=("response_id", "first"),
        audio_start_ms=("audio_start_ms", "first"), audio_end_ms=("audio_end_ms", "first"),
        audio_ms=("audio_ms", lambda ms: ms.sum(min_count=1)),
    )  # fmt: skip
    table["t_ms"] = ((table.pop("t") - origin) * 1000).round(1)
    table["direction"] = table["direction"].astype(str)
    table["ga_type"] = table.pop("type")
    table["preview_type"] = [wire_type(t, Dialect.PREVIEW) or "—" for t in table["ga_type"]]
    table["audio_ms"] = table["audio_ms"].round(0)
    return table[list(_TABLE_COLUMNS)].reset_index(drop=True)
