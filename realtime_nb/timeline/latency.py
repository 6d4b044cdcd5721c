"""End of speech -> the answer's first audible sample: one measure for a WebSocket session and a WebRTC call.

`EventLog.turns()` dates a response's first audible audio by the *packet* carrying it: an audio delta
over a WebSocket (often a few hundred ms of audio in one event), a 20 ms track frame over WebRTC.
Packets that differ that much in size do not compare, so here the first sample reaching the level is
dated by its packet's arrival plus its offset in that packet: when it would sound if every packet
played the moment it arrived. Both transports then count the reply's own leading quiet, by its audio
clock, and the figure is the same measure on both. `benchmarks/bench_webrtc.py` checks its goals
against it and notebook 07 shows it.

`speech_end_latencies()` columns (one row per turn whose true end of speech is known, i.e. a server
VAD turn whose silence window is in the log):

======================  =======  =====================================================================
column                  dtype    meaning
======================  =======  =====================================================================
item_id                 object   the user item of the turn
response_id             object   the response that answered it (None if none did)
silence_ms              Int64    server VAD's silence window in force when the turn ended
speech_stopped_ms       float64  end of speech -> ``input_audio_buffer.speech_stopped`` received
first_audible_ms        float64  end of speech -> the answer's first sample reaching `audible_dbfs`
======================  =======  =====================================================================

"End of speech" is `turns()`'s ``t_speech_end``: when the client sent the audio at
``audio_end_ms - silence_ms`` (its append over a WebSocket, its track frame over WebRTC). With
``beyond_silence=True`` the silence window is subtracted from both figures, which leaves what the
peer and the path add beyond the wait that turn detection asks for.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from realtime_nb.protocol import PCM_RATE

if TYPE_CHECKING:
    from realtime_nb.timeline.log import EventLog

__all__ = ["LATENCY_COLUMNS", "first_audible_sample_t", "speech_end_latencies"]

LATENCY_COLUMNS: tuple[str, ...] = (
    "item_id", "response_id", "silence_ms", "speech_stopped_ms", "first_audible_ms",
)  # fmt: skip
_DELTA = "response.output_audio.delta"


def _level(audible_dbfs: float) -> float:
    if (
        not isinstance(audible_dbfs, int | float)
        or isinstance(audible_dbfs, bool)
        or math.isnan(audible_dbfs)
    ):
        raise ValueError(f"audible_dbfs must be a number of dBFS, got {audible_dbfs!r}")
    return 32768 * 10 ** (audible_dbfs / 20)


def first_audible_sample_t(log: EventLog, response_id: str, *, audible_dbfs: float = -40.0) -> float:
    """Seconds on the log's clock (its ``t`` column) at which `response_id`'s first sample reaching
    `audible_dbfs` would sound, played as it arrived (see the module docstring); NaN if none does.

    Over WebRTC the response's track frames are read, over a WebSocket its audio deltas.
    """
    level = _level(audible_dbfs)
    rec = log._rec  # same package: the stores keep each chunk's arrival, which the frame does not
    with log._lock:
        start_ns = rec.start_ns or 0
        if rec.track.has_response(response_id):
            t_ns = rec.track.first_sample_t_ns(response_id, level)
            return math.nan if t_ns is None else (t_ns - start_ns) / 1e9
        store, cols = rec.response_audio, rec.cols
        for s in cols.seqs_of(_DELTA):
            seq = int(s)
            if cols.id_at("response_id", seq) != response_id:
                continue
            for chunk in store.chunks_of(seq):
                first = int(store.chunk_start[chunk])
                pcm = store.segments[store.chunk_segment[chunk]].pcm()[first : first + store.chunk_len[chunk]]
                loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) >= level)
                if loud.size:
                    return (cols.t_ns[seq] - start_ns) / 1e9 + int(loud[0]) / PCM_RATE
    return math.nan


def speech_end_latencies(
    log: EventLog, *, audible_dbfs: float = -40.0, beyond_silence: bool = False
) -> pd.DataFrame:
    """Per turn, in ms from the true end of speech: ``speech_stopped`` and the answer's first audible
    sample; columns in the module docstring. The same figures over a WebSocket and over WebRTC."""
    _level(audible_dbfs)
    rows = []
    for turn in log.turns(audible_dbfs=audible_dbfs).to_dict("records"):
        end, silence = turn["t_speech_end"], turn["silence_duration_ms"]
        if not math.isfinite(end) or pd.isna(silence):
            continue
        rid = turn["response_id"]
        sample_t = first_audible_sample_t(log, rid, audible_dbfs=audible_dbfs) if rid else math.nan
        offset = int(silence) if beyond_silence else 0
        rows.append({
            "item_id": turn["item_id"],
            "response_id": rid,
            "silence_ms": int(silence),
            "speech_stopped_ms": (turn["t_speech_stopped"] - end) * 1000 - offset,
            "first_audible_ms": (sample_t - end) * 1000 - offset,
        })  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(LATENCY_COLUMNS))
    frame["silence_ms"] = pd.array(frame["silence_ms"].tolist(), dtype="Int64")
    for name in ("speech_stopped_ms", "first_audible_ms"):
        frame[name] = frame[name].astype(np.float64)
    return frame
