"""Audio that travelled on WebRTC media tracks: no event carries it, so each chunk keeps its own time.

Over a WebSocket every piece of audio rides in an event (appends, output audio deltas), and the other
stores place it by the row of that event. Over WebRTC the microphone and the answer are media tracks
beside the data channel, so `EventLog.record_track_audio` hands them here with the monotonic time
they were sent or received. Both directions are kept as int16 at 24 kHz (`PCM_RATE`):

* **sent**: the outgoing track from its first frame, contiguous, idle silence included. That is the
  input audio clock: the peer's clock (``audio_start_ms``, ``audio_end_ms``) counts from the first
  frame it received, so sample ``k`` here is ``k / 24`` ms on it (exactly so on a loss-free path such
  as loopback; each lost packet would move the peer's clock back by its 20 ms). All-zero chunks keep
  no bytes, so an hour of idle microphone costs nothing.
* **received**: the incoming track's frames attributed to a response (key = its id) or, audible but
  outside any response, kept under the key None; the client decides the attribution (see
  `realtime_nb.client.rtc_media`). Each chunk keeps its peak measured before resampling, so "first
  audio" (peak above `SILENT_PEAK`) and "first audible" (above the caller's threshold) are exact.
"""

from __future__ import annotations

import io
import json
from array import array
from typing import Any

import numpy as np

from realtime_nb.protocol.formats import PCM_RATE

SILENT_PEAK = 32
"""A received frame whose peak (int16) is at most this (about -60 dBFS) counts as silence: the idle
frames a WebRTC peer sends between responses, and Opus's decoding noise around digital silence."""

DIRECTIONS = ("sent", "received")


class _Chunks:
    """One direction's chunks: time, length, peak, key and where the bytes are (-1: all zeros)."""

    def __init__(self) -> None:
        self.t_ns = array("q")
        self.length = array("q")  # samples at 24 kHz
        self.peak = array("q")
        self.offset = array("q")  # sample offset into `data`, -1 when the chunk was all zeros
        self.key = array("q")  # index into `keys`
        self.keys: list[str | None] = []
        self._key_index: dict[str | None, int] = {}
        self.data = bytearray()

    def __len__(self) -> int:
        return len(self.t_ns)

    def add(self, pcm: np.ndarray, t_ns: int, key: str | None, peak: int) -> None:
        index = self._key_index.get(key)
        if index is None:
            index = self._key_index[key] = len(self.keys)
            self.keys.append(key)
        self.t_ns.append(t_ns)
        self.length.append(pcm.size)
        self.peak.append(peak)
        self.key.append(index)
        if pcm.any():
            self.offset.append(len(self.data) // 2)
            self.data += pcm.astype("<i2").tobytes()
        else:
            self.offset.append(-1)

    def samples(self, chunk: int) -> np.ndarray:
        n = self.length[chunk]
        start = self.offset[chunk]
        if start < 0:
            return np.zeros(n, np.int16)
        return np.frombuffer(self.data, "<i2", count=n, offset=start * 2).astype(np.int16)

    def of_key(self, key: str | None) -> list[int]:
        index = self._key_index.get(key)
        if index is None:
            return []
        keys = np.frombuffer(self.key, np.int64)
        return np.flatnonzero(keys == index).tolist()

    # persistence: the index as JSON lists, the bytes as one int16 array
    def index(self) -> dict[str, Any]:
        return {
            "keys": self.keys,
            "chunks": [
                list(c) for c in zip(self.t_ns, self.length, self.peak, self.offset, self.key, strict=True)
            ],
        }

    @classmethod
    def restore(cls, index: dict[str, Any], pcm: np.ndarray) -> _Chunks:
        out = cls()
        out.keys = list(index["keys"])
        out._key_index = {key: i for i, key in enumerate(out.keys)}
        for t_ns, length, peak, offset, key in index["chunks"]:
            if not 0 <= key < len(out.keys) or length < 0 or (offset >= 0 and offset + length > pcm.size):
                raise ValueError("track audio index does not match its samples")
            out.t_ns.append(t_ns)
            out.length.append(length)
            out.peak.append(peak)
            out.offset.append(offset)
            out.key.append(key)
        out.data = bytearray(pcm.astype("<i2").tobytes())
        return out


class TrackAudio:
    """The sent and received track audio of one log (see the module docstring)."""

    def __init__(self) -> None:
        self.sent = _Chunks()
        self.received = _Chunks()
        self._sent_start = array("q")  # clock position of each sent chunk, 24 kHz samples
        self.sent_end = 0

    def __bool__(self) -> bool:
        return bool(len(self.sent) or len(self.received))

    def add(self, direction: str, pcm: np.ndarray, t_ns: int, key: str | None, peak: int) -> None:
        if direction == "sent":
            self.sent.add(pcm, t_ns, None, peak)
            self._sent_start.append(self.sent_end)
            self.sent_end += pcm.size
        else:
            self.received.add(pcm, t_ns, key, peak)

    # --- sent: the input audio clock -----------------------------------------------------------

    def sent_window(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) of the outgoing track's clock (zeros past its end)."""
        out = np.zeros(max(stop - start, 0), np.int16)
        if stop <= start or not len(self.sent):
            return out
        starts = np.frombuffer(self._sent_start, np.int64)
        first = max(int(np.searchsorted(starts, start, "right")) - 1, 0)
        last = int(np.searchsorted(starts, stop, "left"))
        for chunk in range(first, last):
            if self.sent.offset[chunk] < 0:
                continue
            pos = self._sent_start[chunk]
            lo, hi = max(start, pos), min(stop, pos + self.sent.length[chunk])
            if hi > lo:
                out[lo - start : hi - start] = self.sent.samples(chunk)[lo - pos : hi - pos]
        return out

    def sent_t_ns(self, sample: int) -> int | None:
        """When the chunk holding clock position `sample` was sent (monotonic ns), or None."""
        if sample < 0 or sample >= self.sent_end:
            return None
        starts = np.frombuffer(self._sent_start, np.int64)
        return self.sent.t_ns[int(np.searchsorted(starts, sample, "right")) - 1]

    # --- received: per response ---------------------------------------------------------------

    def has_response(self, key: str | None) -> bool:
        return bool(self.received.of_key(key))

    def response_pcm(self, key: str | None) -> np.ndarray:
        """The received audio attributed to `key`, in arrival order (empty if none)."""
        parts = [self.received.samples(c) for c in self.received.of_key(key)]
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)

    def response_ms(self, key: str | None) -> float:
        return sum(self.received.length[c] for c in self.received.of_key(key)) / 24.0

    def first_t_ns(self, key: str | None, min_peak: float = SILENT_PEAK + 1) -> int | None:
        """Arrival of the first chunk of `key` whose peak reaches `min_peak`, or None."""
        for chunk in self.received.of_key(key):
            if self.received.peak[chunk] >= min_peak:
                return self.received.t_ns[chunk]
        return None

    def first_sample_t_ns(self, key: str | None, level: float) -> int | None:
        """When the first received sample of `key` reaching `level` (absolute int16) would play if each
        chunk played the moment it arrived: its chunk's arrival plus its offset in the chunk (up to
        20 ms). The frame-level `first_t_ns` is that chunk's arrival. None if no sample reaches it."""
        for chunk in self.received.of_key(key):
            if self.received.peak[chunk] < SILENT_PEAK + 1 or self.received.offset[chunk] < 0:
                continue
            loud = np.flatnonzero(np.abs(self.received.samples(chunk).astype(np.int32)) >= level)
            if loud.size:
                return self.received.t_ns[chunk] + round(int(loud[0]) * 1e9 / PCM_RATE)
        return None

    # --- persistence ----------------------------------------------------------------------------

    def files(self) -> dict[str, bytes]:
        """What `persist.save` writes (nothing for a log without track audio)."""
        if not self:
            return {}
        out: dict[str, bytes] = {}
        for name, chunks in (("sent", self.sent), ("received", self.received)):
            buffer = io.BytesIO()
            np.save(buffer, np.frombuffer(chunks.data, "<i2").astype(np.int16), allow_pickle=False)
            out[f"audio/track_{name}.npy"] = buffer.getvalue()
            out[f"audio/track_{name}.json"] = json.dumps(chunks.index()).encode()
        return out

    @classmethod
    def from_files(cls, read: Any, names: set[str]) -> TrackAudio:
        """Rebuild from `files()`'s entries; `read(name) -> bytes`. A log saved without track audio
        (every log before WebRTC) has none of them and gets an empty store."""
        track = cls()
        for name in DIRECTIONS:
            if f"audio/track_{name}.json" not in names:
                continue
            pcm = np.load(io.BytesIO(read(f"audio/track_{name}.npy")), allow_pickle=False)
            if pcm.dtype != np.int16 or pcm.ndim != 1:
                raise ValueError(f"track audio holds {pcm.dtype} {pcm.shape}, expected 1-D int16")
            chunks = _Chunks.restore(json.loads(read(f"audio/track_{name}.json")), pcm)
            setattr(track, name, chunks)
        for length in track.sent.length:
            track._sent_start.append(track.sent_end)
            track.sent_end += length
        return track
