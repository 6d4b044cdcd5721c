"""The event log of a session: every sent and received event on two clocks, tables, audio, save/load,
and what is computed from a log (the protocol table, turns against known speech, retrieved audio, the
same end-of-speech latency over a WebSocket and over WebRTC)."""

from realtime_nb.timeline.analysis import RESPONSE_COLUMNS, TURN_COLUMNS
from realtime_nb.timeline.columns import COLUMNS
from realtime_nb.timeline.fields import FAMILIES, STREAMING_TYPES
from realtime_nb.timeline.lanes import LANES
from realtime_nb.timeline.latency import LATENCY_COLUMNS, first_audible_sample_t, speech_end_latencies
from realtime_nb.timeline.log import PROBLEM_KINDS, EventLog
from realtime_nb.timeline.persist import FORMAT_VERSION, LogFormatError
from realtime_nb.timeline.protocol_table import event_table
from realtime_nb.timeline.retrieved import item_levels, processed_audio
from realtime_nb.timeline.scoring import score_turns, vad_summary
from realtime_nb.timeline.transcripts import TRANSCRIPT_COLUMNS, word_error_rate

__all__ = [
    "COLUMNS",
    "FAMILIES",
    "FORMAT_VERSION",
    "LANES",
    "LATENCY_COLUMNS",
    "PROBLEM_KINDS",
    "RESPONSE_COLUMNS",
    "STREAMING_TYPES",
    "TRANSCRIPT_COLUMNS",
    "TURN_COLUMNS",
    "EventLog",
    "LogFormatError",
    "event_table",
    "first_audible_sample_t",
    "item_levels",
    "processed_audio",
    "score_turns",
    "speech_end_latencies",
    "vad_summary",
    "word_error_rate",
]
