"""Turn detection on the audio clock: server_vad and semantic_vad as explicit state machines.

Detectors are fed one VAD frame at a time — ``(probability, start_ms, end_ms)`` on the audio clock
(ms of input audio since the session started) — and return decisions. They never look at the wall
clock, so replaying a file faster than real time yields the same events.

server_vad
    Speech starts once the probability stays >= ``threshold`` for ``min_speech_ms`` (3 frames = 96 ms
    by default: a single 32 ms frame above threshold never starts speech, which is what makes a door
    slam or a cough in noise a false start). The start is dated from the beginning of that run, so
    ``audio_start_ms`` does not lag by the confirmation time; and since Silero's probability also
    lags the acoustic onset (a median 20 ms, more on soft onsets: the first window over the
    threshold is the one *after* the one the speech began in), when the detector is given the
    audio's level it dates the start from the energy onset, mirroring the offset below: once the
    run is confirmed, it walks back in 8 ms steps from the end of the run's first frame over the
    contiguous stretch louder than both 35 dB under the run's peak and 6 dB over the floor (the
    median step of the 384 ms before the search), at most 128 ms before the first frame, and dates
    the start at the earliest step of that rise. Over a floor that is quiet by that measure (clean
    speech) the date may also move *later*, inside the first frame, when the frame began in silence;
    over noise it only moves earlier, since speech that is still under the noise is heard late by
    level too. When there is no such rise (nothing loud in the first frame, or loud all the way back:
    speech in noise, babble) the VAD's own date is kept. Only the date moves: whether speech started
    is the VAD's decision alone, so the rule adds no false starts. Speech stops after ``silence_duration_ms``
    of frames below the *release* threshold ``threshold - release_delta`` (hysteresis: a probability
    wobbling around the threshold does not flap); a fall through that band within 64 ms is the model's
    decaying tail and the silence is dated from its first frame under the threshold.
    Silero's probability still lags the acoustic end of speech by 30-80 ms (its recurrent state
    remembers the word), so when the detector is given the audio's level it dates the pause from the
    energy offset instead: the end of the last 8 ms step, at most 128 ms back, louder than both
    35 dB under the utterance's recent peak and 6 dB over the level of the confirming silent frame.
    When nothing in that stretch stands out (speech ending in noise) the VAD's own date is kept.
    ``audio_end_ms`` = start of the pause + ``silence_duration_ms``, i.e. it includes the silence
    window, as the service reports it. The silence window is checked against every append, not only
    at VAD frame ends: once the processed audio reaches the end of the window and the audio after the
    last VAD frame is still quiet, the turn ends without waiting up to 32 ms for the next frame.

semantic_vad
    The same acoustic segmentation (threshold 0.5) decides where speech is; when speech pauses, the
    end-of-turn model is asked whether the user has finished. Eagerness maps to:

    =========== ===================== ==================== ======================
    eagerness   ask after silence of  P(complete) needed   end anyway after
    =========== ===================== ==================== ======================
    high        200 ms                0.50                 2 s of silence
    medium/auto 500 ms                0.70                 4 s
    low         1000 ms               0.85                 8 s
    =========== ===================== ==================== ======================

    While the answer is "not finished" the model is asked again every 500 ms of further silence.
    The forced ends are the maxima the service documents (8 s / 4 s / 2 s). A mid-sentence pause of
    700 ms therefore never ends a low-eagerness turn, while server_vad with 500 ms silence splits it.
    ``audio_end_ms`` is the audio-clock time of the decision (it includes the silence waited).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from statistics import median

from realtime_nb.engine.state import VAD_TABLE, VadState, VadTrigger, advance
from realtime_nb.protocol import SemanticVad, ServerVad


@dataclass(frozen=True)
class SpeechStarted:
    """Speech detected; ``start_ms`` is where it began (before prefix padding)."""

    start_ms: float


@dataclass(frozen=True)
class TurnEnded:
    """The turn is over; ``end_ms`` includes the silence window."""

    end_ms: float


TurnDecision = SpeechStarted | TurnEnded


@dataclass(frozen=True)
class EagernessPolicy:
    ask_after_ms: float
    threshold: float
    max_wait_ms: float


EAGERNESS: dict[str, EagernessPolicy] = {
    "high": EagernessPolicy(200, 0.5, 2000),
    "medium": EagernessPolicy(500, 0.7, 4000),
    "auto": EagernessPolicy(500, 0.7, 4000),
    "low": EagernessPolicy(1000, 0.85, 8000),
}
_REASK_MS = 500.0
SEMANTIC_VAD_THRESHOLD = 0.5


_TAIL_MS = 64.0  # two VAD windows: how long Silero's probability takes to decay after speech ends

# Dating a pause from the energy offset (see the module docstring).
Level = Callable[[float, float], float]  # dBFS of the processed input between two audio-clock times
OFFSET_SEARCH_MS = 128.0  # how far before the VAD's date the energy offset may lie
OFFSET_REF_MS = 256.0  # the stretch whose loudest step is the utterance's recent peak
OFFSET_STEP_MS = 8.0
OFFSET_BELOW_PEAK_DB = 35.0
OFFSET_ABOVE_FLOOR_DB = 6.0
# Dating a start from the energy onset: the same steps and margins, mirrored (see the module docstring).
ONSET_SEARCH_MS = 128.0  # how far before the VAD's first speech frame the energy onset may lie
ONSET_FLOOR_MS = 384.0  # the stretch before the search whose median step is the floor speech rises from


class _Segmenter:
    """Acoustic speech / pause tracking shared by both detectors."""

    def __init__(
        self,
        threshold: float,
        release_delta: float,
        min_speech_ms: float,
        level: Level | None = None,
        *,
        date_onset: bool = True,
    ) -> None:
        self.threshold = threshold
        self.release = max(0.0, threshold - release_delta)
        self.min_speech_ms = min_speech_ms
        self.level = level
        self.date_onset = date_onset
        self.state = VadState.QUIET
        self._run_start: float | None = None  # first frame of a candidate speech run
        self._run_first_end = 0.0  # where that frame ends
        self._below_since: float | None = None  # first frame under `threshold` in the current dip
        self.silence_start: float | None = None
        self.quiet_db: float | None = None  # what counted as quiet when the pause was dated
        self.frame_end = 0.0  # audio-clock end of the last VAD frame fed

    def feed(self, prob: float, start_ms: float, end_ms: float) -> SpeechStarted | None:
        self.frame_end = end_ms
        if self.state is VadState.QUIET:
            if prob >= self.threshold:
                if self._run_start is None:
                    self._run_start, self._run_first_end = start_ms, end_ms
                if end_ms - self._run_start >= self.min_speech_ms:
                    self._advance(VadTrigger.SPEECH)
                    started = self._energy_onset(self._run_start, self._run_first_end, end_ms)
                    self._run_start = None
                    return SpeechStarted(started)
            else:
                self._run_start = None
        elif self.state is VadState.SPEAKING:
            # The release level only *confirms* a pause. When the probability fell through the band
            # between threshold and release within `_TAIL_MS`, that is the model's decaying tail after
            # speech ended: the pause is dated from the first frame under the threshold, so the tail
            # does not add to the silence the user waits. A longer stay in the band stays speech.
            if prob >= self.threshold:
                self._below_since = None
            elif self._below_since is None:
                self._below_since = start_ms
            if prob < self.release:
                self._advance(VadTrigger.PAUSE)
                tail_start = self._below_since
                recent = tail_start is not None and start_ms - tail_start <= _TAIL_MS
                vad_date = tail_start if recent and tail_start is not None else start_ms
                self.silence_start = self._energy_offset(vad_date, start_ms, end_ms)
                self._below_since = None
        elif prob >= self.threshold:  # PAUSED -> speech resumed
            self._advance(VadTrigger.RESUME)
            self.silence_start = None
        return None

    def _energy_offset(self, vad_date: float, silent_from: float, silent_to: float) -> float:
        """Where the pause began by the audio's level: ``vad_date`` or up to 128 ms earlier."""
        if self.level is None:
            return vad_date
        floor = self.level(silent_from, silent_to)
        steps = int(OFFSET_REF_MS // OFFSET_STEP_MS)
        starts = [vad_date - (k + 1) * OFFSET_STEP_MS for k in range(steps)]  # newest first
        levels = [self.level(t, t + OFFSET_STEP_MS) for t in starts]
        self.quiet_db = max(max(levels) - OFFSET_BELOW_PEAK_DB, floor + OFFSET_ABOVE_FLOOR_DB)
        for t, db in zip(starts, levels, strict=True):
            if db > self.quiet_db:
                return t + OFFSET_STEP_MS
            if vad_date - t >= OFFSET_SEARCH_MS:
                break
        return vad_date  # nothing stands out (speech buried in noise): no evidence to move the date

    def _energy_onset(self, vad_date: float, first_end: float, confirmed_at: float) -> float:
        """Where the speech began by the audio's level: ``vad_date`` (the start of the first frame
        over the threshold), up to 128 ms earlier, or, over a quiet floor, later inside that frame."""
        if self.level is None or not self.date_onset:
            return vad_date
        earliest = vad_date - ONSET_SEARCH_MS
        peak = max(self._step_db(t) for t in _steps(vad_date, confirmed_at))
        floor = median(self._step_db(t) for t in _steps(earliest - ONSET_FLOOR_MS, earliest))
        loud_db = max(peak - OFFSET_BELOW_PEAK_DB, floor + OFFSET_ABOVE_FLOOR_DB)
        onset: float | None = None
        t = first_end - OFFSET_STEP_MS  # newest first, from the end of the first frame over the threshold
        while t >= earliest:
            if self._step_db(t) > loud_db:
                onset = t
            elif onset is not None:  # the quiet step before the rise: the rise starts after it
                over_silence = floor + OFFSET_ABOVE_FLOOR_DB <= peak - OFFSET_BELOW_PEAK_DB
                return onset if over_silence else min(onset, vad_date)
            elif t < vad_date:
                break  # nothing loud in the first frame: no rise to date
            t -= OFFSET_STEP_MS
        return vad_date  # no rise within reach (loud all the way back, or nothing loud): the VAD's date

    def _step_db(self, t: float) -> float:
        assert self.level is not None
        return self.level(t, t + OFFSET_STEP_MS)

    def quiet_since_frame(self, now_ms: float) -> bool:
        """Whether the processed audio after the last VAD frame is still as quiet as the pause."""
        if self.level is None or self.quiet_db is None:
            return False
        return now_ms <= self.frame_end or self.level(self.frame_end, now_ms) <= self.quiet_db

    def silence_ms(self, now_ms: float) -> float:
        return (
            now_ms - self.silence_start
            if self.state is VadState.PAUSED and self.silence_start is not None
            else 0.0
        )

    def _advance(self, trigger: VadTrigger) -> None:
        self.state = advance("turn detector", VAD_TABLE, self.state, trigger)

    def reset(self) -> None:
        self._advance(VadTrigger.RESET)
        self._run_start = None
        self._below_since = None
        self.silence_start = None
        self.quiet_db = None


def _steps(start: float, end: float) -> list[float]:
    """Starts of the 8 ms steps tiling [start, end)."""
    return [start + k * OFFSET_STEP_MS for k in range(max(1, int((end - start) // OFFSET_STEP_MS)))]


class ServerVadDetector:
    """server_vad: speech start after ``min_speech_ms``, end after ``silence_duration_ms``."""

    def __init__(
        self,
        config: ServerVad,
        *,
        release_delta: float = 0.15,
        min_speech_ms: float = 96,
        level: Level | None = None,
        date_onset: bool = True,
    ) -> None:
        self.config = config
        self._seg = _Segmenter(config.threshold, release_delta, min_speech_ms, level, date_onset=date_onset)

    @property
    def state(self) -> VadState:
        return self._seg.state

    @property
    def date_onset(self) -> bool:
        """Whether speech starts are dated from the energy onset (False: the VAD's first frame over
        the threshold, the rule before; benchmarks/bench_onset.py compares the two)."""
        return self._seg.date_onset

    @date_onset.setter
    def date_onset(self, value: bool) -> None:
        self._seg.date_onset = value

    def feed(self, prob: float, start_ms: float, end_ms: float) -> list[TurnDecision]:
        started = self._seg.feed(prob, start_ms, end_ms)
        if started is not None:
            return [started]
        silence = self._seg.silence_ms(end_ms)
        if self._seg.state is VadState.PAUSED and silence >= self.config.silence_duration_ms:
            assert self._seg.silence_start is not None
            end = self._seg.silence_start + self.config.silence_duration_ms
            self._seg.reset()
            return [TurnEnded(end)]
        return []

    def advance(self, now_ms: float) -> list[TurnDecision]:
        """Between VAD frames: end the turn once the processed audio (up to ``now_ms``) covers the
        silence window and what came after the last frame is still quiet."""
        seg = self._seg
        if seg.state is not VadState.PAUSED or seg.silence_start is None:
            return []
        end = seg.silence_start + self.config.silence_duration_ms
        if now_ms < end or not seg.quiet_since_frame(now_ms):
            return []
        seg.reset()
        return [TurnEnded(end)]

    def reset(self) -> None:
        self._seg.reset()


class SemanticVadDetector:
    """semantic_vad: acoustic pauses confirmed by the end-of-turn model (see the module docstring)."""

    def __init__(
        self,
        config: SemanticVad,
        ask: Callable[[float], float],
        *,
        release_delta: float = 0.15,
        min_speech_ms: float = 96,
        level: Level | None = None,
        date_onset: bool = True,
    ) -> None:
        self.config = config
        self.policy = EAGERNESS[config.eagerness]
        self._ask = ask  # ask(now_ms) -> P(turn complete) for the turn's audio up to now_ms
        self._seg = _Segmenter(
            SEMANTIC_VAD_THRESHOLD, release_delta, min_speech_ms, level, date_onset=date_onset
        )
        self._next_ask_ms: float | None = None
        self.last_probability: float | None = None

    @property
    def state(self) -> VadState:
        return self._seg.state

    date_onset = ServerVadDetector.date_onset

    def feed(self, prob: float, start_ms: float, end_ms: float) -> list[TurnDecision]:
        was_paused = self._seg.state is VadState.PAUSED
        started = self._seg.feed(prob, start_ms, end_ms)
        if started is not None:
            return [started]
        if self._seg.state is not VadState.PAUSED:
            self._next_ask_ms = None
            return []
        if not was_paused:
            self._next_ask_ms = self.policy.ask_after_ms
        silence = self._seg.silence_ms(end_ms)
        if silence >= self.policy.max_wait_ms:
            return self._end(end_ms)
        if self._next_ask_ms is not None and silence >= self._next_ask_ms:
            self.last_probability = self._ask(end_ms)
            if self.last_probability >= self.policy.threshold:
                return self._end(end_ms)
            self._next_ask_ms = silence + _REASK_MS
        return []

    def advance(self, now_ms: float) -> list[TurnDecision]:
        """The end-of-turn model is asked on VAD frames only (its answers are spaced by 500 ms)."""
        return []

    def _end(self, end_ms: float) -> list[TurnDecision]:
        self._seg.reset()
        self._next_ask_ms = None
        return [TurnEnded(end_ms)]

    def reset(self) -> None:
        self._seg.reset()
        self._next_ask_ms = None


Detector = ServerVadDetector | SemanticVadDetector
