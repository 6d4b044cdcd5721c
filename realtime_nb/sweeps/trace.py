"""Trace mode: run the models once per file and noise setting, then replay every turn-detection
setting from the cache through the engine's own input path.

The model pass (:func:`model_pass`) feeds the recording, followed by ``tail_ms`` of silence, in
``chunk_ms`` chunks through the engine's :class:`~realtime_nb.engine.input_pipeline.InputPipeline`
(noise reduction, 16 kHz, Silero VAD) and keeps, per chunk, the processed 24 kHz audio and the VAD
frames it produced: a :class:`Trace`. :func:`replay` then builds the engine's
:class:`~realtime_nb.engine.input_path.InputPath` for a setting with a :class:`TracedPipeline` (the
seam: ``InputPath(..., pipeline=...)``) that hands those chunks out instead of running the models.
Buffer, prefix-padding clamp, level-based pause dating, hysteresis, silence window and the state
tables are the engine's code, so the decisions are the live session's, chunk for chunk. The
end-of-turn model (semantic_vad) is asked through a memo keyed by the audio it is given: its answers
are computed once per file and noise setting too.

Chunking is part of the result (the detector checks the silence window after every append), so a
trace made with ``chunk_ms=40`` matches a live session whose client appends 40 ms chunks (the
client's default in ``stream_file``).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from realtime_nb.audio import AUDIO_RATES
from realtime_nb.engine.input_path import InputPath, SpeechStart, SpeechStop
from realtime_nb.engine.input_pipeline import SILENT_DB, InputPipeline, PcmBuffer, ms_to_samples
from realtime_nb.engine.options import EngineOptions
from realtime_nb.engine.state import VadState
from realtime_nb.engine.turn_detection import SEMANTIC_VAD_THRESHOLD
from realtime_nb.protocol import PCM_RATE, ServerVad, TurnDetection

DEFAULT_CHUNK_MS = 40.0  # the client's stream_file chunk
DEFAULT_TAIL_MS = 1500.0  # silence after the file, so the last turn can end (notebook.replay's default)
_TRACE_VERSION = 1


def chunk_samples(chunk_ms: float) -> int:
    """Samples per append, as the client's ``stream_file`` computes them at 24 kHz."""
    return max(1, round(PCM_RATE * chunk_ms / 1000))


@dataclass(frozen=True, eq=False)
class Trace:
    """What the models made of one file with one noise setting, chunk by chunk (see the module doc)."""

    digest: str
    noise_reduction: str | None
    chunk_ms: float
    tail_ms: float
    input_sizes: np.ndarray  # samples appended per chunk
    processed: np.ndarray = field(repr=False)  # all processed 24 kHz audio, in order
    processed_ends: np.ndarray = field(repr=False)  # cumulative processed samples after each chunk
    frames: np.ndarray = field(repr=False)  # (n, 3): probability, start_ms, end_ms
    frame_ends: np.ndarray = field(repr=False)  # cumulative frames after each chunk
    model_seconds: float = 0.0
    _turn_memo: dict[bytes, float] = field(default_factory=dict, repr=False, compare=False)
    _frame_lists: list[list[tuple[float, float, float]]] = field(default_factory=list, repr=False)
    _energy: list[np.ndarray] = field(default_factory=list, repr=False)
    _levels: dict[tuple[int, int], float] = field(default_factory=dict, repr=False, compare=False)

    @property
    def chunks(self) -> int:
        return int(self.input_sizes.size)

    @property
    def duration_ms(self) -> float:
        return float(self.input_sizes.sum()) * 1000.0 / PCM_RATE

    def frame_lists(self) -> list[list[tuple[float, float, float]]]:
        """Per chunk, the frames as the Python tuples the detector is fed (built once)."""
        if not self._frame_lists:
            rows = [tuple(map(float, r)) for r in self.frames]
            starts = np.concatenate([[0], self.frame_ends[:-1]])
            self._frame_lists.extend(rows[a:b] for a, b in zip(starts, self.frame_ends, strict=True))
        return self._frame_lists

    def energy(self) -> np.ndarray:
        """Cumulative sum of squared samples (int64, a leading 0), built once: level queries in O(1).

        Exact: a square is < 2**30, so sums stay far below 2**53, where float64 is exact too.
        """
        if not self._energy:
            squares = self.processed.astype(np.int64) ** 2
            self._energy.append(np.concatenate([[0], np.cumsum(squares)]))
        return self._energy[0]

    def chunks_over(self, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the chunks holding a frame >= ``threshold``, and of those holding one below."""
        starts = np.concatenate([[0], self.frame_ends[:-1]])
        has = self.frame_ends > starts
        probs = self.frames[:, 0] if self.frames.size else np.zeros(1)
        safe = np.minimum(starts, max(probs.size - 1, 0))
        top = np.where(has, np.maximum.reduceat(probs, safe) if probs.size else -np.inf, -np.inf)
        low = np.where(has, np.minimum.reduceat(probs, safe) if probs.size else np.inf, np.inf)
        return np.flatnonzero(top >= threshold), np.flatnonzero(low < threshold)

    def save(self, path: Path) -> Path:
        np.savez(
            path,
            meta=np.array(
                [
                    self.digest,
                    str(self.noise_reduction),
                    self.chunk_ms,
                    self.tail_ms,
                    self.model_seconds,
                    _TRACE_VERSION,
                ],
                dtype=object,
            ),
            input_sizes=self.input_sizes,
            processed=self.processed,
            processed_ends=self.processed_ends,
            frames=self.frames,
            frame_ends=self.frame_ends,
        )
        return path

    @classmethod
    def load(cls, path: Path) -> Trace:
        with np.load(path, allow_pickle=True) as z:
            digest, nr, chunk_ms, tail_ms, seconds, version = z["meta"]
            if version != _TRACE_VERSION:
                raise ValueError(f"{path}: trace format {version}, expected {_TRACE_VERSION}")
            return cls(
                str(digest),
                None if nr == "None" else str(nr),
                float(chunk_ms),
                float(tail_ms),
                z["input_sizes"],
                z["processed"],
                z["processed_ends"],
                z["frames"],
                z["frame_ends"],
                float(seconds),
            )


def _stream(audio: np.ndarray, chunk_ms: float, tail_ms: float) -> tuple[np.ndarray, int]:
    tail = np.zeros(round(PCM_RATE * tail_ms / 1000), dtype=np.int16)
    return np.concatenate([np.asarray(audio, dtype=np.int16), tail]), chunk_samples(chunk_ms)


def model_pass(
    audio: np.ndarray,
    noise_reduction: str | None = None,
    *,
    chunk_ms: float = DEFAULT_CHUNK_MS,
    tail_ms: float = DEFAULT_TAIL_MS,
    models: Any = None,
    digest: str | None = None,
) -> Trace:
    """Run noise reduction and the VAD over 24 kHz int16 ``audio`` + ``tail_ms`` of silence, once."""
    import time

    from realtime_nb.engine.models import Models

    models = models or Models.shared()
    started = time.perf_counter()
    denoiser = models.denoiser(noise_reduction).stream() if noise_reduction else None
    pipeline = InputPipeline(models.vad().stream(), "pcm16", denoiser)
    data, step = _stream(audio, chunk_ms, tail_ms)
    sizes, ends, frames, frame_ends = [], [], [], []
    try:
        for offset in range(0, data.size, step):
            chunk = data[offset : offset + step]
            frames.extend(pipeline.append(chunk))
            sizes.append(chunk.size)
            ends.append(pipeline.processed.end)
            frame_ends.append(len(frames))
    finally:
        pipeline.close()
    processed = pipeline.processed.slice(0, pipeline.processed.end)
    return Trace(
        digest or hashlib.sha1(np.ascontiguousarray(audio).tobytes()).hexdigest()[:16],
        noise_reduction,
        float(chunk_ms),
        float(tail_ms),
        np.array(sizes, dtype=np.int64),
        processed,
        np.array(ends, dtype=np.int64),
        np.array(frames, dtype=np.float64).reshape(-1, 3),
        np.array(frame_ends, dtype=np.int64),
        time.perf_counter() - started,
    )


class _TraceBuffer(PcmBuffer):
    """The processed buffer over the trace's audio: the same bounds as the live buffer (appends move
    the end, ``take`` / ``trim_quiet`` the start), with slices read from the trace in O(1) instead of
    walking the chunks appended so far."""

    def __init__(self, backing: np.ndarray) -> None:
        super().__init__()
        self._backing = backing

    def append(self, x: np.ndarray) -> None:
        self.end += x.size

    def slice(self, a: int, b: int) -> np.ndarray:
        a, b = max(a, self.start), min(b, self.end)
        return self._backing[a:b].copy() if b > a else np.zeros(0, np.int16)

    def drop_before(self, n: int) -> None:
        self.start = min(max(n, self.start), self.end)


class TracedPipeline(InputPipeline):
    """An :class:`InputPipeline` that replays a :class:`Trace` instead of running the models.

    Appends must follow the trace's chunks: one chunk, or several consecutive ones at once (the
    replay joins stretches where chunking cannot change a decision, see :func:`replay`). The
    processed buffer keeps the live bounds (the input path takes turns out of it and dates pauses by
    its level); chunk i's processed audio and VAD frames come from the trace.
    """

    def __init__(self, trace: Trace) -> None:
        super().__init__(vad_stream=None, input_format="pcm16", denoiser=None)
        self.processed = _TraceBuffer(trace.processed)
        self._trace = trace
        self._frame_lists = trace.frame_lists()
        self._input_ends = np.cumsum(trace.input_sizes)
        self._energy = trace.energy()
        self._levels = trace._levels  # by sample span: every setting replayed asks mostly the same
        self._index = 0

    def level_db(self, start_ms: float, end_ms: float) -> float:
        """:meth:`InputPipeline.level_db` from the trace's cumulative energy: the same value to the
        last bit (the sum of squares is exact either way, and so is the one division by the count).
        A level depends only on its (clamped) sample span, so it is computed once per trace."""
        a = max(ms_to_samples(start_ms), self.processed.start)
        b = min(ms_to_samples(end_ms), self.processed.end)
        if b <= a:
            return SILENT_DB
        hit = self._levels.get((a, b))
        if hit is None:
            power = float(self._energy[b] - self._energy[a]) / (b - a) / 32768.0**2
            hit = self._levels[(a, b)] = float(10.0 * np.log10(max(power, 1e-12)))
        return hit

    def append(self, native: np.ndarray) -> list[tuple[float, float, float]]:
        i, trace = self._index, self._trace
        before = int(self._input_ends[i - 1]) if i else 0
        if i < trace.chunks and int(trace.input_sizes[i]) == native.size:
            j = i + 1  # the usual case: one chunk
        else:
            j = int(np.searchsorted(self._input_ends, before + native.size)) + 1
        if i >= trace.chunks or j > trace.chunks or int(self._input_ends[j - 1]) != before + native.size:
            raise ValueError(f"replay out of step with the trace at chunk {i} ({native.size} samples)")
        self._index = j
        self._appended_native += native.size * 1000.0 / AUDIO_RATES["pcm16"]
        self.processed.end = int(trace.processed_ends[j - 1])
        if j == i + 1:
            return list(self._frame_lists[i])
        return [f for k in range(i, j) for f in self._frame_lists[k]]


class _MemoTurnModel:
    """The end-of-turn model, asked once per distinct audio (a file's answers are reused by every
    semantic_vad setting replayed from the same trace)."""

    def __init__(self, models: Any, memo: dict[bytes, float]) -> None:
        self._models = models
        self._memo = memo

    def predict(self, audio16k: np.ndarray) -> float:
        key = hashlib.blake2b(np.ascontiguousarray(audio16k).tobytes(), digest_size=16).digest()
        hit = self._memo.get(key)
        if hit is None:
            hit = self._memo[key] = self._models.turn().predict(audio16k)
        return hit


class _TraceModels:
    """What an InputPath asks its models for when its pipeline is a trace: only the turn model."""

    def __init__(self, models: Any, memo: dict[bytes, float]) -> None:
        self._turn = _MemoTurnModel(models, memo)

    def turn(self) -> _MemoTurnModel:
        return self._turn


@dataclass(frozen=True)
class DetectedTurn:
    """One turn as the session's events report it (integer ms, as on the wire).

    ``end_ms`` is NaN for speech still going on when the stream ended.
    """

    start_ms: float
    end_ms: float


def _threshold(td: TurnDetection) -> float:
    return td.threshold if isinstance(td, ServerVad) else SEMANTIC_VAD_THRESHOLD


def replay(
    trace: Trace,
    turn_detection: TurnDetection,
    *,
    models: Any = None,
    options: EngineOptions | None = None,
    join: bool = True,
) -> list[DetectedTurn]:
    """The turns the engine decides for ``turn_detection`` over a traced file (see the module doc).

    Chunks are appended one at a time wherever their boundaries can matter. With ``join`` (the
    default), stretches where no chunk boundary can change a decision are appended whole instead:

    * while the detector is quiet and every frame is under the threshold (it only forgets a
      candidate start; the buffer trim keeps the last 10 s either way);
    * while it hears speech and every frame is at or over the threshold (nothing to date);
    * server_vad only: while it is in a pause and every frame is under the threshold (speech cannot
      resume). The turn then ends at ``silence_start + silence_duration_ms`` whether a frame or the
      check between frames notices it first, and the frames after the end fall on a quiet detector.
      semantic_vad asks its model between frames, so its pauses are fed chunk by chunk.

    ``join=False`` feeds every chunk on its own: the reference the joined replay is tested against
    (tests/unit/test_sweeps_run.py), as the replay is against live sessions
    (tests/integration/test_sweeps_live.py).
    """
    if models is None:
        from realtime_nb.engine.models import Models

        models = models or Models.shared()
    options = options or EngineOptions()
    path = InputPath(
        _TraceModels(models, trace._turn_memo),
        turn_detection=turn_detection,
        noise_reduction=trace.noise_reduction,
        release_delta=options.release_delta,
        min_speech_ms=options.min_speech_ms,
        pipeline=TracedPipeline(trace),
    )
    hot, cold = trace.chunks_over(_threshold(turn_detection))  # chunks with a frame >= / < threshold
    joined = {VadState.QUIET: hot, VadState.SPEAKING: cold}
    if isinstance(turn_detection, ServerVad):
        joined[VadState.PAUSED] = hot
    if not join:
        joined = {}
    sizes = np.cumsum(trace.input_sizes)
    zeros = np.zeros(int(sizes[-1]) if sizes.size else 0, dtype=np.int16)  # the pipeline reads sizes only
    turns: list[DetectedTurn] = []
    start: float | None = None
    i, n = 0, trace.chunks
    while i < n:
        marks = joined.get(path.vad_state)
        j = i + 1
        if marks is not None:
            k = int(np.searchsorted(marks, i))
            j = max(j, int(marks[k]) if k < marks.size else n)
        size = int(sizes[j - 1]) - (int(sizes[i - 1]) if i else 0)
        for decision in path.feed(zeros[:size]):
            if isinstance(decision, SpeechStart):
                start = float(round(decision.audio_start_ms))
            elif isinstance(decision, SpeechStop):
                turns.append(
                    DetectedTurn(float(round(decision.audio_start_ms)), float(round(decision.audio_end_ms)))
                )
                start = None
        i = j
    if start is not None:
        turns.append(DetectedTurn(start, float("nan")))
    path.close()
    return turns


class TraceCache:
    """Traces by (audio digest, noise reduction, chunk, tail): in memory (the last ``keep``) and, with
    ``folder``, on disk, so a resumed sweep or another worker does not run the models again."""

    def __init__(self, folder: Path | str | None = None, keep: int = 8) -> None:
        self.folder = None if folder is None else Path(folder)
        self.keep = keep
        self._memory: OrderedDict[tuple[Any, ...], Trace] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self, audio: np.ndarray, digest: str, noise_reduction: str | None, chunk_ms: float, tail_ms: float
    ) -> Trace:
        key = (digest, noise_reduction, float(chunk_ms), float(tail_ms))
        with self._lock:
            hit = self._memory.get(key)
            if hit is not None:
                self._memory.move_to_end(key)
                return hit
        disk = None
        if self.folder is not None:
            disk = self.folder / f"trace-{digest}-{noise_reduction}-{chunk_ms:g}-{tail_ms:g}.npz"
            if disk.is_file():
                try:
                    hit = Trace.load(disk)
                except Exception:  # damaged (any of numpy's unpickling errors) or old: made again below
                    hit = None
        if hit is None:
            hit = model_pass(audio, noise_reduction, chunk_ms=chunk_ms, tail_ms=tail_ms, digest=digest)
            if disk is not None:
                disk.parent.mkdir(parents=True, exist_ok=True)
                tmp = disk.with_name(f".{disk.stem}.{threading.get_ident()}.npz")
                hit.save(tmp)
                tmp.replace(disk)
        with self._lock:
            self._memory[key] = hit
            while len(self._memory) > self.keep:
                self._memory.popitem(last=False)
        return hit
