"""Where the log keeps the audio it strips out of events.

Recording must stay cheap, so a store only appends the *wire bytes* (already base64-decoded) to a
growing per-stream bytearray; decoding (`realtime_nb.audio.decode`) and resampling to 24 kHz happen
when someone asks for the audio. Bytes of one key and format form a *segment*; a format change opens a
new segment. Every chunk (one event's audio) remembers its row `seq` and where it sits in its segment,
so per-event audio (first audible delta) and the input audio clock can be answered exactly.
"""

from __future__ import annotations

from array import array

import numpy as np

from realtime_nb.audio import AUDIO_RATES, decode, float_to_int16, int16_to_float, resample
from realtime_nb.protocol import PCM_RATE
from realtime_nb.protocol.formats import SAMPLE_BYTES


def out_samples(nbytes: int, fmt: str) -> int:
    """Number of 24 kHz samples that `nbytes` of `fmt` audio become."""
    return nbytes // SAMPLE_BYTES[fmt] * (PCM_RATE // AUDIO_RATES[fmt])


def resample_to_24k(samples: np.ndarray, rate: int) -> np.ndarray:
    """int16 at `rate` -> int16 at 24 kHz, through float: soxr's int16 path dithers with state shared
    across calls, so the same audio would come out differently each time it is asked for."""
    return float_to_int16(resample(int16_to_float(samples), rate, PCM_RATE))


class _Segment:
    __slots__ = ("cache", "data", "fmt", "key", "seq")

    def __init__(self, key: str | None, fmt: str, seq: int) -> None:
        self.key = key
        self.fmt = fmt
        self.seq = seq  # row of the event that opened it
        self.data = bytearray()
        self.cache: tuple[int, np.ndarray] | None = None  # (len(data) when decoded, 24 kHz pcm)

    def pcm(self) -> np.ndarray:
        """The segment as int16 at 24 kHz (cached until more bytes arrive)."""
        if self.cache is not None and self.cache[0] == len(self.data):
            return self.cache[1]
        usable = len(self.data) - len(self.data) % SAMPLE_BYTES[self.fmt]
        native = decode(bytes(self.data[:usable]), self.fmt)  # type: ignore[arg-type]
        rate = AUDIO_RATES[self.fmt]
        if rate != PCM_RATE:
            want = native.size * (PCM_RATE // rate)
            native = resample_to_24k(native, rate)[:want]
            if native.size < want:
                native = np.concatenate([native, np.zeros(want - native.size, np.int16)])
        self.cache = (len(self.data), native)
        return native


class AudioStore:
    """Chunks of audio keyed by an id (response, item) or by nothing (the input stream)."""

    def __init__(self) -> None:
        self.segments: list[_Segment] = []
        self._open: dict[str | None, _Segment] = {}
        self.chunk_seq = array("q")
        self.chunk_segment = array("q")
        self.chunk_start = array("q")  # in 24 kHz samples within the segment
        self.chunk_len = array("q")
        self._by_key: dict[str | None, list[int]] = {}  # key -> segment indices
        self._chunk_of_seq: dict[int, list[int]] = {}
        self._peaks: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.chunk_seq)

    def add(self, seq: int, key: str | None, fmt: str, raw: bytes, *, new_segment: bool = False) -> int:
        """Append one event's wire bytes; returns their length in 24 kHz samples."""
        seg = self._open.get(key)
        if seg is None or seg.fmt != fmt or new_segment:
            seg = _Segment(key, fmt, seq)
            self._open[key] = seg
            self._by_key.setdefault(key, []).append(len(self.segments))
            self.segments.append(seg)
        start = out_samples(len(seg.data), fmt)
        seg.data += raw
        n = out_samples(len(seg.data), fmt) - start
        self._add_chunk(seq, self._by_key[key][-1], start, n)
        return n

    def add_pcm(self, key: str | None, seq: int, pcm: np.ndarray) -> int:
        """Append a whole decoded 24 kHz segment (used by `load`); returns its index."""
        seg = _Segment(key, "pcm16", seq)
        seg.data += pcm.astype("<i2").tobytes()
        index = len(self.segments)
        self.segments.append(seg)
        self._open[key] = seg
        self._by_key.setdefault(key, []).append(index)
        return index

    def _add_chunk(self, seq: int, segment: int, start: int, n: int) -> None:
        self._chunk_of_seq.setdefault(seq, []).append(len(self.chunk_seq))
        self.chunk_seq.append(seq)
        self.chunk_segment.append(segment)
        self.chunk_start.append(start)
        self.chunk_len.append(n)

    add_chunk = _add_chunk  # public name for `load`

    def has(self, key: str | None) -> bool:
        return key in self._by_key

    def pcm(self, key: str | None, *, last_event_only: bool = False) -> np.ndarray:
        """All audio of `key` in arrival order (or only the latest event's), int16 at 24 kHz."""
        indices = self._by_key.get(key, [])
        if last_event_only and indices:
            last = max(self.segments[i].seq for i in indices)
            indices = [i for i in indices if self.segments[i].seq == last]
        parts = [self.segments[i].pcm() for i in indices]
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)

    def chunks_of(self, seq: int) -> list[int]:
        return self._chunk_of_seq.get(seq, [])

    def peak(self, seq: int) -> int | None:
        """Largest absolute sample of an event's audio at its native rate (cached), or None if it
        carried none. Native, not resampled: resampling a segment smears a loud chunk's filter
        ringing into a silent neighbour, which would fake an early "audible" chunk."""
        if seq in self._peaks:
            return self._peaks[seq]
        chunks = self.chunks_of(seq)
        if not chunks:
            return None
        peak = 0
        for chunk in chunks:
            seg = self.segments[self.chunk_segment[chunk]]
            factor = PCM_RATE // AUDIO_RATES[seg.fmt]
            width = SAMPLE_BYTES[seg.fmt]
            first = self.chunk_start[chunk] // factor * width
            raw = bytes(seg.data[first : first + self.chunk_len[chunk] // factor * width])
            if raw:
                peak = max(peak, int(np.abs(decode(raw, seg.fmt).astype(np.int32)).max()))  # type: ignore[arg-type]
        self._peaks[seq] = peak
        return peak

    def peaks(self) -> dict[int, int]:
        """Peak of every event's audio (computed now where missing), for `save`."""
        for seq in self._chunk_of_seq:
            self.peak(seq)
        return dict(self._peaks)

    def set_peaks(self, peaks: dict[int, int]) -> None:
        """Restore peaks measured on the original wire audio (used by `load`)."""
        self._peaks.update(peaks)


class InputStream(AudioStore):
    """The appended input audio laid out on the service's audio clock (24 kHz samples since the
    first append of the session); one segment per format run, chunks contiguous."""

    def __init__(self) -> None:
        super().__init__()
        self.clock_start = array("q")  # chunk position on the audio clock, 24 kHz samples
        self.end = 0

    def add(self, seq: int, key: str | None, fmt: str, raw: bytes, *, new_segment: bool = False) -> int:
        n = super().add(seq, None, fmt, raw, new_segment=new_segment)
        self.clock_start.append(self.end)
        self.end += n
        return n

    def add_chunk(self, seq: int, segment: int, start: int, n: int) -> None:
        self._add_chunk(seq, segment, start, n)
        self.clock_start.append(self.end)
        self.end += n

    def window(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) of the audio clock; zeros where nothing was appended."""
        out = np.zeros(max(stop - start, 0), np.int16)
        if stop <= start or not len(self.chunk_seq):
            return out
        starts = np.frombuffer(self.clock_start, np.int64)
        first = max(int(np.searchsorted(starts, start, "right")) - 1, 0)
        last = int(np.searchsorted(starts, stop, "left"))
        # consecutive chunks of one segment are contiguous: copy segment slices, not chunk by chunk
        chunk = first
        while chunk < last:
            seg = self.chunk_segment[chunk]
            run_end = chunk
            while run_end + 1 < last and self.chunk_segment[run_end + 1] == seg:
                run_end += 1
            clock0 = self.clock_start[chunk] - self.chunk_start[chunk]  # clock position of segment start
            lo = max(start, self.clock_start[chunk])
            hi = min(stop, self.clock_start[run_end] + self.chunk_len[run_end])
            if hi > lo:
                out[lo - start : hi - start] = self.segments[seg].pcm()[lo - clock0 : hi - clock0]
            chunk = run_end + 1
        return out

    def seq_at(self, sample: int) -> int | None:
        """Row seq of the append that carried clock position `sample`, or None."""
        if sample < 0 or sample >= self.end:
            return None
        starts = np.frombuffer(self.clock_start, np.int64)
        chunk = int(np.searchsorted(starts, sample, "right")) - 1
        while chunk > 0 and self.chunk_len[chunk] == 0:
            chunk -= 1
        return self.chunk_seq[chunk]

    def end_before(self, seq: int) -> int:
        """Clock position (24 kHz samples) reached by the appends recorded before row `seq`."""
        seqs = np.frombuffer(self.chunk_seq, np.int64)
        i = int(np.searchsorted(seqs, seq, "left"))
        if i == 0:
            return 0
        return self.clock_start[i - 1] + self.chunk_len[i - 1]
