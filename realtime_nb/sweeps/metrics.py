"""Every number a sweep reports, defined once, on the audio clock (ms of input audio).

The input is what a session's events say: each detected turn's ``audio_start_ms`` (speech_started)
and ``audio_end_ms`` (speech_stopped, when the turn is committed). Those include the service's
padding, so before scoring speech *detection* they are taken off, as notebook 02 reads them:

* detected speech = ``audio_start_ms + prefix_padding_ms`` to ``audio_end_ms - silence_duration_ms``
  (server_vad; semantic_vad keeps 300 ms of prefix padding and waits a silence that varies, so its
  detected speech ends at the decision);
* the *decision* (when the assistant could start answering) is ``audio_end_ms`` itself.

Detection, in pyannote.metrics' definitions (``DetectionErrorRate``,
``DetectionPrecisionRecallFMeasure``): only the scored region (UEM, else the whole file) counts, less a
``collar`` of that *total* width centred on every reference speech boundary. Then
``der = (false_alarm + miss) / speech``, ``precision = tp / detected`` (1 when nothing was detected),
``recall = tp / speech`` (1 when there is no speech), ``f1`` their harmonic mean (0 when both are 0).
Per file the components are kept (``speech_ms``, ``miss_ms``, ``false_alarm_ms``, ``detected_ms``),
so a corpus's rate is the ratio of the summed components, as pyannote accumulates.

Turn taking, per reference turn (start s, end e, pauses inside):

* ``onset_delay_ms``: the first detected speech start overlapping the turn, minus s (negative when
  the detector heard it early);
* a *false cut*: a decision inside the turn (s < decision < e): the assistant would have answered
  while the user was still talking. ``turns_cut`` counts turns with at least one; ``pause_cuts``
  counts labelled pauses holding a decision;
* ``eot_latency_ms``: the first decision at or after e (before the next turn starts) minus e: how
  long after the user really finished the turn was committed. None: an ``unended`` turn (merged
  into the next, or never ended);
* a *false start*: detected speech over no reference speech; a *missed turn*: no detected speech
  overlaps it.

Noise reduction (trace mode, where the processed audio is at hand): ``noise_floor_change_db`` and
``speech_level_change_db``, processed minus input level over the non-speech (200 ms away from speech)
and over the speech. Where the recording carries its clean reference: ``stoi_input`` (the audio as
recorded against the clean speech), ``stoi_processed`` (after noise reduction) and ``stoi_change``
(processed minus input: above 0, noise reduction made the speech more intelligible), see
:mod:`~realtime_nb.sweeps.intelligibility`; NaN without a reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from realtime_nb.engine.input_path import SEMANTIC_PREFIX_PADDING_MS
from realtime_nb.protocol import PCM_RATE
from realtime_nb.sweeps.corpus import Recording
from realtime_nb.sweeps.intervals import Span, contains, intersect, subtract, total, union
from realtime_nb.sweeps.trace import DetectedTurn

DEFAULT_COLLAR_MS = 250.0  # the VAD literature's usual collar (pyannote: total width, centred)


@dataclass(frozen=True)
class Padding:
    """What a setting adds around detected speech (see the module docstring)."""

    prefix_ms: float
    silence_ms: float

    @classmethod
    def of(cls, setting: dict[str, Any]) -> Padding:
        if setting.get("type") == "server_vad":
            return cls(float(setting["prefix_padding_ms"]), float(setting["silence_duration_ms"]))
        return cls(SEMANTIC_PREFIX_PADDING_MS, 0.0)


def detected_speech(turns: Sequence[DetectedTurn], padding: Padding, stream_end_ms: float) -> list[Span]:
    """The detected turns as speech spans, padding taken off (a turn still open ends with the stream)."""
    spans = []
    for t in turns:
        end = stream_end_ms if math.isnan(t.end_ms) else t.end_ms - padding.silence_ms
        spans.append((t.start_ms + padding.prefix_ms, end))
    return union(spans)


def scored_region(reference: list[Span], uem: list[Span], collar_ms: float) -> list[Span]:
    """The UEM less the collars around every reference boundary (pyannote's ``uemify``)."""
    if collar_ms <= 0:
        return uem
    half = collar_ms / 2.0
    collars = union((b - half, b + half) for span in reference for b in span)
    return subtract(uem, collars)


def detection(
    reference: list[Span], hypothesis: list[Span], uem: list[Span], collar_ms: float = DEFAULT_COLLAR_MS
) -> dict[str, float]:
    """The detection components and rates for one file (see the module docstring)."""
    region = scored_region(union(reference), union(uem), collar_ms)
    ref = intersect(union(reference), region)
    hyp = intersect(union(hypothesis), region)
    speech, detected = total(ref), total(hyp)
    tp = total(intersect(ref, hyp))
    parts = {
        "speech_ms": speech,
        "detected_ms": detected,
        "miss_ms": speech - tp,
        "false_alarm_ms": detected - tp,
    }
    return parts | rates(parts)


def rates(parts: dict[str, float]) -> dict[str, float]:
    """der, precision, recall and f1 from (summed) components."""
    speech, detected = parts["speech_ms"], parts["detected_ms"]
    miss, fa = parts["miss_ms"], parts["false_alarm_ms"]
    tp = speech - miss
    error = fa + miss
    der = (0.0 if error == 0 else 1.0) if speech == 0 else error / speech
    precision = 1.0 if detected == 0 else tp / detected
    recall = 1.0 if speech == 0 else tp / speech
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return {"der": der, "precision": precision, "recall": recall, "f1": f1}


def turn_taking(
    recording: Recording, turns: Sequence[DetectedTurn], padding: Padding, stream_end_ms: float
) -> dict[str, Any]:
    """Onsets, cuts, end-of-turn latencies, false starts and misses for one file."""
    decisions = sorted(t.end_ms for t in turns if not math.isnan(t.end_ms))
    hyp = detected_speech(turns, padding, stream_end_ms)
    ref_turns = sorted(recording.turns, key=lambda t: t.start_ms)
    latencies: list[float] = []
    onsets: list[float] = []
    turns_cut = missed = unended = 0
    for k, turn in enumerate(ref_turns):
        s, e = turn.start_ms, turn.end_ms
        next_start = ref_turns[k + 1].start_ms if k + 1 < len(ref_turns) else math.inf
        if any(s < d < e for d in decisions):
            turns_cut += 1
        after = [d for d in decisions if e <= d < next_start]
        if after:
            latencies.append(after[0] - e)
        else:
            unended += 1
        over = [a for a, b in hyp if a < e and b > s]
        if over:
            onsets.append(over[0] - s)
        else:
            missed += 1
    pauses = recording.pauses_ms
    pause_cuts = sum(1 for a, b in pauses if any(a <= d < b for d in decisions))
    speech = recording.speech_ms
    false_starts = sum(1 for a, b in hyp if not intersect([(a, b)], speech))
    false_cuts = sum(1 for d in decisions if any(t.start_ms < d < t.end_ms for t in ref_turns))
    in_pause = sum(1 for d in decisions if contains(pauses, d))
    return {
        "turns": len(ref_turns),
        "detected_turns": len(turns),
        "turns_cut": turns_cut,
        "false_cuts": false_cuts,
        "false_cuts_in_pauses": in_pause,
        "pauses": len(pauses),
        "pause_cuts": pause_cuts,
        "unended_turns": unended,
        "missed_turns": missed,
        "false_starts": false_starts,
        "eot_latencies_ms": latencies,
        "onset_delays_ms": onsets,
        "eot_latency_ms": _median(latencies),
        "onset_delay_ms": _median(onsets),
    }


def _median(values: Sequence[float]) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def score_file(
    recording: Recording,
    turns: Sequence[DetectedTurn],
    setting: dict[str, Any],
    *,
    stream_end_ms: float,
    collar_ms: float = DEFAULT_COLLAR_MS,
) -> dict[str, Any]:
    """One row of a sweep's results: every metric of one file under one setting."""
    padding = Padding.of(setting)
    hyp = detected_speech(turns, padding, stream_end_ms)
    row = detection(recording.speech_ms, hyp, recording.scored_ms, collar_ms)
    row |= turn_taking(recording, turns, padding, stream_end_ms)
    row["audio_ms"] = recording.duration_ms
    row["turn_starts_ms"] = [t.start_ms for t in turns]
    row["turn_ends_ms"] = [t.end_ms for t in turns]
    return row


NOISE_MARGIN_MS = 200.0  # keep this far from speech when measuring the noise floor


def _level_db(audio: Any, spans: list[Span]) -> float:
    import numpy as np

    per_ms = PCM_RATE / 1000.0
    parts = [audio[round(a * per_ms) : round(b * per_ms)] for a, b in spans]
    x = np.concatenate(parts) if parts else np.zeros(0)
    if not x.size:
        return math.nan
    power = float(np.mean(np.square(x, dtype=np.float64))) / 32768.0**2
    return 10.0 * math.log10(max(power, 1e-12))


def level_changes(recording: Recording, processed: Any) -> dict[str, float]:
    """What noise reduction did to the levels (trace mode; 0 dB without it): the change of the noise
    floor (the scored non-speech at least 200 ms from speech) and of the speech, processed minus
    input, in dB. The processed audio is aligned with the input sample for sample."""
    n = min(recording.audio.size, processed.size)
    inp, out = recording.audio[:n], processed[:n]
    speech = recording.speech_ms
    near = union((a - NOISE_MARGIN_MS, b + NOISE_MARGIN_MS) for a, b in speech)
    quiet = subtract(intersect(recording.scored_ms, [(0.0, n * 1000.0 / PCM_RATE)]), near)
    return {
        "noise_floor_change_db": _level_db(out, quiet) - _level_db(inp, quiet),
        "speech_level_change_db": _level_db(out, speech) - _level_db(inp, speech),
    }


def intelligibility(recording: Recording, processed: Any) -> dict[str, float]:
    """STOI of the input and of the processed audio against the recording's clean reference (NaN
    without one); see the module docstring."""
    from realtime_nb.sweeps.intelligibility import stoi

    if recording.clean is None:
        return {"stoi_input": math.nan, "stoi_processed": math.nan, "stoi_change": math.nan}
    n = min(recording.audio.size, processed.size, recording.clean.size)
    before = stoi(recording.clean[:n], recording.audio[:n], PCM_RATE)
    after = stoi(recording.clean[:n], processed[:n], PCM_RATE)
    return {"stoi_input": before, "stoi_processed": after, "stoi_change": after - before}
