"""The one lane scheme of the timeline views: which horizontal lane an event is drawn on.

Both the matplotlib figure (`realtime_nb.plots.plot_timeline`) and the live widget
(`realtime_nb.widgets.LiveTimeline`) draw the same lanes, so a figure in a notebook and the widget
beside it read alike. A lane follows the event's family (the frame's ``family`` column), with two
refinements a researcher asks for:

* the audio going out gets its own lane (``response.output_audio.*``: the deltas and their done), and
  so does the WebRTC output buffer (``output_audio_buffer.*``: the server plays the audio out and
  reports started / stopped / cleared, which is where barge-in shows on a call);
  a response's text and transcript events stay on the response lane;
* housekeeping shares the session lane (``rate_limits.updated``, and unknown event types), and the
  server's ``error`` events share one lane with what the log itself reports (malformed frames,
  unknown events, the connection closing: the ``realtime_nb.*`` rows).

The lane of a row is a function of its canonical type alone, since the family is too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from realtime_nb.timeline.fields import family_of

__all__ = ["AUDIO_OUT_PREFIXES", "LANES", "OUTPUT_BUFFER_PREFIX", "lane_of", "lanes_of"]

LANES: tuple[str, ...] = (
    "session",
    "input buffer",
    "conversation",
    "response",
    "audio out",
    "output buffer",
    "transcription",
    "errors",
)
AUDIO_OUT_PREFIXES: tuple[str, ...] = ("response.output_audio.",)
OUTPUT_BUFFER_PREFIX = "output_audio_buffer."
_LANE_OF_FAMILY: dict[str, int] = {
    "session": 0,
    "rate_limits": 0,
    "other": 0,
    "input_audio_buffer": 1,
    "conversation": 2,
    "response": 3,
    "transcription": 6,
    "error": 7,
    "problem": 7,
}
_AUDIO_OUT = LANES.index("audio out")
_OUTPUT_BUFFER = LANES.index("output buffer")


def lane_of(event_type: str) -> int:
    """The lane (index into `LANES`) of a canonical event type; unknown types go to the session lane."""
    if event_type.startswith(OUTPUT_BUFFER_PREFIX):
        return _OUTPUT_BUFFER
    if event_type.startswith(AUDIO_OUT_PREFIXES):
        return _AUDIO_OUT
    return _LANE_OF_FAMILY.get(family_of(event_type), 0)


def lanes_of(types: pd.Series) -> np.ndarray:
    """`lane_of` over a column of types (the frame's ``type``; missing types go to the session lane),
    computed once per distinct type."""
    names = types.astype(object).where(types.notna(), "")
    lanes = {name: lane_of(name) for name in pd.unique(names)}
    return names.map(lanes).to_numpy(dtype=np.int64)
