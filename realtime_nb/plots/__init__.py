"""matplotlib figures built from frames and arrays only (never from a live socket)."""

from realtime_nb.plots.timeline import plot_timeline
from realtime_nb.plots.vad import plot_vad_trace
from realtime_nb.plots.waveform import plot_segments, plot_waveform_compare, turn_segments
from realtime_nb.timeline.lanes import LANES

__all__ = [
    "LANES",
    "plot_segments",
    "plot_timeline",
    "plot_vad_trace",
    "plot_waveform_compare",
    "turn_segments",
]
