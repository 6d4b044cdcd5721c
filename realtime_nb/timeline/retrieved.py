"""What the server kept of the input: the retrieved (processed) audio of user items, against what was sent.

After ``conversation.item.retrieve`` the log holds the service's processed copy of each user item
(`EventLog.retrieved_audio`). `processed_audio` lays those copies back on the audio clock beside
`EventLog.sent_audio()`; `item_levels` compares the levels of the two over the items
(`realtime_nb.audio.levels` does the signal arithmetic).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from realtime_nb.audio.levels import compare_levels
from realtime_nb.protocol import PCM_RATE
from realtime_nb.timeline.log import EventLog
from realtime_nb.timeline.scoring import HasSegments, Spans, true_spans

__all__ = ["committed_items", "item_levels", "processed_audio"]

_PER_MS = PCM_RATE // 1000  # samples per ms of the audio clock


def committed_items(log: EventLog) -> list[str]:
    """Ids of the user items the input buffer committed, in order."""
    frame = log.frame()
    rows = frame[(frame["type"] == "input_audio_buffer.committed") & frame["item_id"].notna()]
    return list(dict.fromkeys(str(i) for i in rows["item_id"]))


def _retrieved_items(log: EventLog) -> list[tuple[str, int, np.ndarray]]:
    """(item_id, first sample at 24 kHz on the audio clock, audio) of every retrieved user item."""
    out = []
    for item_id in committed_items(log):
        try:
            pcm = log.retrieved_audio(item_id)
            start_ms, _ = log.item_span(item_id)
        except KeyError:
            continue
        out.append((item_id, round(start_ms * _PER_MS), pcm))
    return out


def processed_audio(log: EventLog) -> np.ndarray:
    """The server's processed copy of the input on the audio clock, 24 kHz int16.

    Every retrieved user item (`replay(retrieve=True)`, or `session.retrieve`) is placed where its
    turn started; audio outside the items (dropped by the server) is zero. The result has the length
    of `log.sent_audio()`, so the two line up sample for sample.
    """
    sent = log.sent_audio()
    out = np.zeros(sent.size, dtype=np.int16)
    for _, start, pcm in _retrieved_items(log):
        stop = min(out.size, start + pcm.size)
        if stop > start:
            out[start:stop] = pcm[: stop - start]
    return out


def item_levels(log: EventLog, truth: HasSegments | Spans = ()) -> pd.DataFrame:
    """Levels (dBFS) of the raw and the processed audio over the retrieved items, and the change.

    Only the audio inside the items is compared (the server keeps nothing else), raw (what was sent)
    against processed (what `conversation.item.retrieve` returned). `truth` marks the speech, so the
    speech level and the level between words (the noise) are told apart. Rows: raw, processed,
    change; columns as in `realtime_nb.audio.levels.Levels.as_dict`.
    """
    spans = true_spans(truth)
    sent = log.sent_audio()
    raw_parts, processed_parts, speech = [], [], []
    offset = 0.0
    for _, start, pcm in _retrieved_items(log):
        raw = sent[start : start + pcm.size]
        n = min(raw.size, pcm.size)
        raw_parts.append(raw[:n])
        processed_parts.append(pcm[:n])
        a_ms, b_ms = start / _PER_MS, (start + n) / _PER_MS
        for a, b in spans:
            if min(b, b_ms) > max(a, a_ms):
                speech.append((offset + max(a, a_ms) - a_ms, offset + min(b, b_ms) - a_ms))
        offset += n / _PER_MS
    if not raw_parts:
        raise ValueError("the log has no retrieved user audio: replay(..., retrieve=True) first")
    table = compare_levels(np.concatenate(raw_parts), np.concatenate(processed_parts), PCM_RATE, speech)
    return pd.DataFrame(table).T
