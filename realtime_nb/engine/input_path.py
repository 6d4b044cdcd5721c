"""The input path of one session, usable on its own: audio in, the engine's turn decisions out.

decode -> noise reduction -> 24 kHz buffer -> 16 kHz -> Silero VAD -> turn detector
(:mod:`~realtime_nb.engine.input_pipeline`, :mod:`~realtime_nb.engine.turn_detection`), together with
the input buffer the turns are cut from and its lifecycle (``BUFFER_TABLE``). The live
:class:`~realtime_nb.engine.session.EngineSession` feeds every ``input_audio_buffer.append`` through
one :class:`InputPath` and turns what it decides into ``speech_started`` / ``speech_stopped`` /
``committed`` events; a sweep builds one from a ``SessionConfig`` and feeds a file in chunks::

    path = InputPath.for_config(Models.shared(), config)
    decisions = [d for chunk in chunks for d in path.feed(chunk)]   # SpeechStart / SpeechStop

Both get the same decisions at the same audio-clock milliseconds because they run the same code on
the same state: a turn's end takes the turn's audio out of the buffer here, not in the session, so
the buffer start that clamps the next turn's prefix padding and the level the detector dates pauses
by are the same offline as live. Only client requests (commit, clear, a settings change) and the
idle timeout come from outside, through :meth:`commit`, :meth:`clear` and :meth:`reconfigure`.

The buffer's state and the turn in progress are one value, :class:`BufferStatus`: the speech's item
id and start exist exactly while the state is SPEECH. The detector belongs to the buffer and starts
over on every transition that ends what it was following (``DETECTION_RESTARTS``), so its state and
the buffer's never have to be kept in step by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from realtime_nb.audio import decode
from realtime_nb.engine.input_pipeline import InputPipeline
from realtime_nb.engine.models.turn import WINDOW_SECONDS
from realtime_nb.engine.options import EngineOptions
from realtime_nb.engine.state import (
    BUFFER_TABLE,
    DETECTION_RESTARTS,
    BufferState,
    BufferTrigger,
    VadState,
    advance,
)
from realtime_nb.engine.turn_detection import (
    Detector,
    SemanticVadDetector,
    ServerVadDetector,
    SpeechStarted,
    TurnDecision,
    TurnEnded,
)
from realtime_nb.protocol import SemanticVad, ServerVad, SessionConfig, TurnDetection
from realtime_nb.protocol.ids import new_id

SEMANTIC_PREFIX_PADDING_MS = 300  # semantic_vad has no prefix_padding_ms; the service keeps 300 ms
TURN_MODEL_WINDOW_MS = WINDOW_SECONDS * 1000.0  # the end-of-turn model hears at most the turn's last 8 s

VadFrame = tuple[float, float, float]  # (probability, start_ms, end_ms) on the audio clock


@dataclass(frozen=True)
class Utterance:
    """The turn being spoken: its item's id and where its audio starts (prefix padding included)."""

    item_id: str
    start_ms: float


@dataclass(frozen=True)
class BufferStatus:
    """The input buffer's state and, exactly while it is SPEECH, the turn in progress."""

    state: BufferState = BufferState.EMPTY
    speech: Utterance | None = None

    def __post_init__(self) -> None:
        if (self.state is BufferState.SPEECH) != (self.speech is not None):
            raise ValueError(f"a {self.state.value} buffer with speech {self.speech!r}")


@dataclass(frozen=True)
class SpeechStart:
    """Speech began: ``input_audio_buffer.speech_started``.

    ``audio_start_ms`` includes the prefix padding (never before the buffer's start);
    ``detected_ms`` is where the detector heard the speech begin.
    """

    item_id: str
    audio_start_ms: float
    detected_ms: float


@dataclass(frozen=True)
class SpeechStop:
    """The turn ended and its audio left the buffer: ``speech_stopped``, then ``committed``.

    ``audio_end_ms`` includes the silence window; ``audio`` is the item's processed 24 kHz PCM16.
    """

    item_id: str
    audio_start_ms: float
    audio_end_ms: float
    audio: np.ndarray = field(repr=False, compare=False)


InputDecision = SpeechStart | SpeechStop


@dataclass(frozen=True)
class Committed:
    """Audio a commit or an idle timeout took out of the buffer, as one user item."""

    item_id: str
    audio: np.ndarray = field(repr=False, compare=False)


class InputPath:
    """Input audio of one session, on the audio clock (see the module docstring).

    ``models`` is a :class:`~realtime_nb.engine.models.Models`; ``record_vad`` keeps every VAD frame
    in :attr:`vad_frames` (what ``vad_trace`` plots). ``pipeline`` replaces the model-running
    :class:`InputPipeline` (built from ``models``, ``input_format`` and ``noise_reduction`` when
    None) with one that replays what it computed before: a sweep's trace mode.
    """

    def __init__(
        self,
        models: Any,
        *,
        input_format: str = "pcm16",
        noise_reduction: str | None = None,
        turn_detection: TurnDetection = None,
        release_delta: float = 0.15,
        min_speech_ms: float = 96,
        record_vad: bool = False,
        pipeline: InputPipeline | None = None,
    ) -> None:
        self._models = models
        # The seam a sweep's trace mode uses: a pipeline that hands out cached processed audio and
        # VAD frames instead of running the models (realtime_nb.sweeps.trace). Everything after it
        # (buffer, detector, level, turn model) is this class either way.
        if pipeline is None:
            vad = models.vad().stream()
            pipeline = InputPipeline(vad, input_format, self.denoiser_for(noise_reduction))
        self._pipeline = pipeline
        self.input_format = input_format
        self.noise_reduction = noise_reduction
        self.turn_detection = turn_detection
        self._release_delta = release_delta
        self._min_speech_ms = min_speech_ms
        self._detector = self._detector_for(turn_detection)
        self.status = BufferStatus()
        self.vad_frames: list[VadFrame] | None = [] if record_vad else None

    @classmethod
    def for_config(
        cls,
        models: Any,
        config: SessionConfig,
        options: EngineOptions | None = None,
        pipeline: InputPipeline | None = None,
    ) -> InputPath:
        """The input path a session with ``config`` (and engine ``options``) runs; ``pipeline`` as in
        the constructor (None: the live one)."""
        options = options or EngineOptions()
        return cls(
            models,
            input_format=config.input_format,
            noise_reduction=config.noise_reduction,
            turn_detection=config.turn_detection,
            release_delta=options.release_delta,
            min_speech_ms=options.min_speech_ms,
            pipeline=pipeline,
        )

    # --- state ------------------------------------------------------------------------------------

    @property
    def state(self) -> BufferState:
        return self.status.state

    @property
    def vad_state(self) -> VadState | None:
        """The turn detector's state (None without turn detection)."""
        return None if self._detector is None else self._detector.state

    @property
    def clock_ms(self) -> float:
        """Milliseconds of input audio appended since the start (never reset)."""
        return self._pipeline.clock_ms

    @property
    def buffer_start_ms(self) -> float:
        return self._pipeline.buffer_start_ms

    @property
    def buffered_ms(self) -> float:
        """Appended audio not yet committed or cleared (what a manual commit would cover)."""
        return self._pipeline.buffered_ms

    @property
    def buffered_samples(self) -> tuple[int, int]:
        """The processed buffer's bounds, in absolute 24 kHz samples."""
        return self._pipeline.processed.start, self._pipeline.processed.end

    def _next(self, trigger: BufferTrigger, speech: Utterance | None = None) -> BufferStatus:
        """The status ``trigger`` leads to (IllegalTransition, before anything changed, if none).

        ``speech`` is the turn SPEECH_START begins; it then stays while the buffer stays in SPEECH
        (appends) and is gone on every way out of it.
        """
        state = advance("input buffer", BUFFER_TABLE, self.status.state, trigger)
        if state is BufferState.SPEECH and speech is None:
            speech = self.status.speech
        return BufferStatus(state, speech if state is BufferState.SPEECH else None)

    def _enter(self, status: BufferStatus, trigger: BufferTrigger) -> None:
        self.status = status
        if trigger in DETECTION_RESTARTS and self._detector is not None:
            self._detector.reset()

    # --- audio in ---------------------------------------------------------------------------------

    def append(self, audio: np.ndarray, decide: Callable[[InputDecision], None]) -> None:
        """Feed decoded input audio (int16 at the input format's rate); ``decide`` is called with
        each decision as it is made, before the detector hears the audio after it (the session
        reacts to speech, e.g. a barge-in, in the order a streaming service would)."""
        if not audio.size:
            return
        self._enter(self._next(BufferTrigger.APPEND), BufferTrigger.APPEND)
        frames = self._pipeline.append(audio)
        if self.vad_frames is not None:
            self.vad_frames.extend(frames)
        if self._detector is None:
            return
        for prob, start, end in frames:
            self._decide(self._detector.feed(prob, start, end), decide)
        self._decide(self._detector.advance(self._pipeline.processed_ms), decide)
        if self._detector.state is VadState.QUIET:
            self._pipeline.trim_quiet()

    def feed(self, audio: np.ndarray | bytes) -> list[InputDecision]:
        """:meth:`append` for offline use: the decisions this chunk led to. ``bytes`` are wire audio
        in the input format (PCM16 little-endian or G.711)."""
        if isinstance(audio, bytes):
            audio = decode(audio, self.input_format)  # type: ignore[arg-type]
        decisions: list[InputDecision] = []
        self.append(audio, decisions.append)
        return decisions

    def _decide(self, decisions: list[TurnDecision], decide: Callable[[InputDecision], None]) -> None:
        for decision in decisions:
            if isinstance(decision, SpeechStarted):
                decide(self._speech_started(decision))
            else:
                decide(self._turn_ended(decision))

    def _speech_started(self, started: SpeechStarted) -> SpeechStart:
        td = self.turn_detection
        padding = td.prefix_padding_ms if isinstance(td, ServerVad) else SEMANTIC_PREFIX_PADDING_MS
        speech = Utterance(new_id("item"), max(self._pipeline.buffer_start_ms, started.start_ms - padding))
        self._enter(self._next(BufferTrigger.SPEECH_START, speech), BufferTrigger.SPEECH_START)
        return SpeechStart(speech.item_id, speech.start_ms, started.start_ms)

    def _turn_ended(self, ended: TurnEnded) -> SpeechStop:
        speech = self.status.speech
        trigger = (
            BufferTrigger.TURN_END_WITH_TAIL
            if self._pipeline.keeps_after(ended.end_ms)
            else BufferTrigger.TURN_END
        )
        status = self._next(trigger)
        assert speech is not None  # the table only ends a turn in SPEECH
        pcm = self._pipeline.take(speech.start_ms, ended.end_ms)
        self._enter(status, trigger)
        return SpeechStop(speech.item_id, speech.start_ms, ended.end_ms, pcm)

    # --- requests from outside ----------------------------------------------------------------------

    def commit(self) -> Committed:
        """The client commits: all processed audio, from the speech's start while speech is on."""
        speech = self.status.speech
        if speech is None:
            return self._take_all(BufferTrigger.COMMIT, new_id("item"), self._pipeline.buffer_start_ms)
        return self._take_all(BufferTrigger.COMMIT, speech.item_id, speech.start_ms)

    def commit_idle(self, item_id: str) -> Committed:
        """The idle timeout commits whatever is buffered (possibly nothing) as ``item_id``."""
        return self._take_all(BufferTrigger.IDLE_TIMEOUT, item_id, self._pipeline.buffer_start_ms)

    def _take_all(self, trigger: BufferTrigger, item_id: str, start_ms: float) -> Committed:
        status = self._next(trigger)
        pcm = self._pipeline.take(start_ms, None)
        self._enter(status, trigger)
        return Committed(item_id, pcm)

    def clear(self) -> None:
        """Drop everything buffered (the clock keeps running)."""
        status = self._next(BufferTrigger.CLEAR)
        self._pipeline.clear()
        self._enter(status, BufferTrigger.CLEAR)

    def denoiser_for(self, noise_reduction: str | None) -> Any:
        """A noise reduction stream for ``reconfigure`` (made before anything changes: it may load)."""
        if noise_reduction is None:
            return None
        return self._models.denoiser(noise_reduction).stream()

    def reconfigure(
        self,
        *,
        input_format: str,
        noise_reduction: str | None,
        denoiser: Any,
        turn_detection: TurnDetection,
    ) -> None:
        """Apply changed settings between appends; ``denoiser`` comes from :meth:`denoiser_for`.

        A new turn detection starts over on the audio already buffered: speech heard so far is no
        turn yet (SPEECH -> HOLDING).
        """
        restart = turn_detection != self.turn_detection
        status = self._next(BufferTrigger.RESTART_DETECTION) if restart else self.status
        if input_format != self.input_format:
            self._pipeline.set_format(input_format)
            self.input_format = input_format
        if noise_reduction != self.noise_reduction:
            self._pipeline.set_denoiser(denoiser)
            self.noise_reduction = noise_reduction
        if restart:
            self.turn_detection = turn_detection
            self._detector = self._detector_for(turn_detection)
            self._enter(status, BufferTrigger.RESTART_DETECTION)

    def close(self) -> None:
        self._pipeline.close()

    # --- turn detection -----------------------------------------------------------------------------

    def _detector_for(self, td: TurnDetection) -> Detector | None:
        opts = {
            "release_delta": self._release_delta,
            "min_speech_ms": self._min_speech_ms,
            "level": self._pipeline.level_db,
        }
        if isinstance(td, ServerVad):
            return ServerVadDetector(td, **opts)
        if isinstance(td, SemanticVad):
            return SemanticVadDetector(td, self._ask_turn_model, **opts)
        return None

    def _ask_turn_model(self, now_ms: float) -> float:
        """P(turn complete) for the current turn's audio up to ``now_ms`` (last 8 s, 16 kHz).

        Runs inline on the audio path: about 30 ms, at most once per 500 ms of silence.
        """
        speech = self.status.speech
        start = now_ms - TURN_MODEL_WINDOW_MS
        if speech is not None:
            start = max(speech.start_ms, start)
        audio = self._pipeline.audio16(start, now_ms)
        return self._models.turn().predict(audio) if audio.size else 0.0
