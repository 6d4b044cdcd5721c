"""Where the engine's turn detection dates speech starts and ends, against known boundaries: the start
rule before (the first VAD window over the threshold) and now (the energy onset), in one run.

    .venv/bin/python benchmarks/bench_onset.py [--quick]

Both rules run on the same audio through the engine's own ``InputPath`` (server_vad, threshold 0.5,
prefix 300 ms, silence 500 ms, 20 ms appends); "before" is the same path with the detector's
``date_onset`` switched off, which is exactly the rule the engine had. Per condition it prints:

* onset error: dated start (``audio_start_ms + prefix_padding_ms``, unclamped) - true start, ms:
  median, 95th percentile of |error|, and the extremes;
* offset error: ``audio_end_ms - silence_duration_ms`` - true end, ms (median, p95 |error|);
* recall: the share of the true speech inside [dated start, dated end];
* starts: speech_started events per true utterance (more than 1.00 = false starts or splits).

True boundaries follow ``realtime_nb.samples`` (first / last 10 ms within 40 dB of the utterance's
peak). Clean speech is the bundled samples plus sentences placed with their starts at four phases of
the VAD's 32 ms grid, as voiced and with soft onsets (the first 60 or 150 ms faded in, as a breathy
or hesitant start is), bare and over a pink room floor 40 and 30 dB under the speech. The noisy
bundled samples (pink 10 and 0 dB, babble 5 dB) check that no false start is added.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, field

import numpy as np

from realtime_nb import samples
from realtime_nb.engine.input_path import InputPath, SpeechStart, SpeechStop
from realtime_nb.engine.models import Models
from realtime_nb.protocol import ServerVad, SessionConfig

RATE = 24000
CHUNK = RATE * 20 // 1000
VAD = ServerVad(create_response=False)
TEXTS = (
    "I would like to order a large pizza with mushrooms.",
    "So, what time does the train leave?",
    "Please stop.",
    "Where is the nearest station?",
    "He said yes.",
    "Fine, send it now.",
    "Hello there.",
    "Seven eight nine.",
    "Can you tell me what the weather will be like tomorrow?",
    "Thank you, that is all I needed.",
)
PHASES_MS = (3.0, 11.0, 18.5, 27.0)  # where a start falls inside a 32 ms VAD window (and an 8 ms step)
FADES_MS = (0.0, 60.0, 150.0)


class VadDatedPath(InputPath):
    """The input path with the start rule before: the first VAD window over the threshold."""

    def _detector_for(self, td):  # type: ignore[no-untyped-def]
        detector = super()._detector_for(td)
        if detector is not None:
            detector.date_onset = False
        return detector


RULES: dict[str, type[InputPath]] = {"before": VadDatedPath, "after": InputPath}


@dataclass
class Tally:
    onset: list[float] = field(default_factory=list)
    offset: list[float] = field(default_factory=list)
    covered: int = 0
    speech: int = 0
    starts: int = 0
    segments: int = 0


def _decisions(sample: samples.Sample, cls: type[InputPath]) -> tuple[list[SpeechStart], list[SpeechStop]]:
    path = cls.for_config(Models.shared(), SessionConfig(turn_detection=VAD))
    audio = sample.audio
    try:
        out = [d for lo in range(0, audio.size, CHUNK) for d in path.feed(audio[lo : lo + CHUNK])]
    finally:
        path.close()
    return [d for d in out if isinstance(d, SpeechStart)], [d for d in out if isinstance(d, SpeechStop)]


def score(sample: samples.Sample, cls: type[InputPath], *tallies: Tally) -> None:
    """Run ``sample`` through the input path ``cls`` and add what it dated to each tally."""
    starts, stops = _decisions(sample, cls)
    dated = [s.detected_ms for s in starts]
    ends = [s.audio_end_ms - VAD.silence_duration_ms for s in stops]
    mask = np.zeros(sample.audio.size, bool)
    for a, b in zip(dated, ends, strict=False):
        mask[max(0, round(a * RATE / 1000)) : max(0, round(b * RATE / 1000))] = True
    for tally in tallies:
        for seg in sample.segments:
            true_start, true_end = seg.ms()
            if dated:
                tally.onset.append(min(dated, key=lambda t: abs(t - true_start)) - true_start)
            if ends:
                tally.offset.append(min(ends, key=lambda t: abs(t - true_end)) - true_end)
            tally.covered += int(mask[seg.start : seg.end].sum())
            tally.speech += seg.end - seg.start
        tally.starts += len(starts)
        tally.segments += len(sample.segments)


def placed(texts: tuple[str, ...], speech: dict[str, np.ndarray], fade_ms: float) -> samples.Sample:
    """The texts about 1.5 s apart in exact silence, the true start of each at the next of PHASES_MS
    inside the VAD's 32 ms grid; ``fade_ms`` fades each utterance in (a soft onset), and the true
    boundaries are then found on the faded audio by the samples' rule."""
    grid = RATE * 32 // 1000
    parts: list[np.ndarray] = []
    segments: list[samples.Segment] = []
    pos = RATE // 2
    for i, text in enumerate(texts):
        raw = speech[text]
        a, b = samples.trim_bounds(raw)
        voice = raw[a:b].astype(np.float64)
        if fade_ms:
            n = min(voice.size, round(fade_ms * RATE / 1000))
            voice[:n] *= np.linspace(0.0, 1.0, n) ** 2
        audio = np.round(voice).astype(np.int16)
        a, b = samples.trim_bounds(audio)
        phase = round(PHASES_MS[i % len(PHASES_MS)] * RATE / 1000)
        at = pos + (phase - (pos + a)) % grid  # where the audio goes so that its true start is on phase
        parts += [np.zeros(at - sum(p.size for p in parts), np.int16), audio]
        segments.append(samples.Segment(at + a, at + b, text))
        pos = at + audio.size + round(1.5 * RATE)
    audio = np.concatenate([*parts, np.zeros(RATE, np.int16)])
    return samples.Sample(audio, RATE, tuple(segments), name=f"placed, fade {fade_ms:g} ms", clean=audio)


def _fmt(tally: Tally) -> str:
    on, off = np.array(tally.onset), np.array(tally.offset)
    return (
        f"{np.median(on):+6.0f} {np.percentile(np.abs(on), 95):5.0f} [{on.min():+5.0f},{on.max():+5.0f}]"
        f"   {np.median(off):+6.0f} {np.percentile(np.abs(off), 95):5.0f}"
        f"   {tally.covered / max(1, tally.speech):6.3f}   {tally.starts / max(1, tally.segments):5.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="four sentences, two onset shapes (~1 minute)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    began = time.perf_counter()
    texts = TEXTS[:4] if args.quick else TEXTS
    fades = FADES_MS[:2] if args.quick else FADES_MS
    voice = Models.shared().voice()
    speech = {t: voice.render(t, variation=False) for t in texts}

    conditions: dict[str, list[samples.Sample]] = {
        "bundled clean (single, turns, hesitation)": [
            samples.load(n) for n in ("single", "turns", "hesitation")
        ]
    }
    for fade in fades:
        bare = placed(texts, speech, fade)
        label = "as voiced" if not fade else f"{fade:g} ms soft onset"
        conditions[f"placed, {label}, bare"] = [bare]
        conditions[f"placed, {label}, floor 40 dB"] = [samples.add_noise(bare, 40.0, "pink", seed=1)]
        conditions[f"placed, {label}, floor 30 dB"] = [samples.add_noise(bare, 30.0, "pink", seed=2)]
    noisy = {n: [samples.load(n)] for n in ("noisy_10db", "noisy_0db", "babble_5db")}

    print(f"bench_onset on {os.cpu_count()} cores (figures on the audio clock; wall time only for the total)")
    print("server_vad 0.5 / prefix 300 ms / silence 500 ms; errors in ms; p95 of |error|")
    header = f"{'':44s} {'rule':6s}  onset: med   p95  [  min,  max]   offset: med p95   recall   starts"
    clean_all = {rule: Tally() for rule in RULES}
    for title, group in (("clean speech", conditions), ("noisy bundled samples", noisy)):
        print(f"\n{title}\n{header}")
        for name, items in group.items():
            for rule, cls in RULES.items():
                tally = Tally()
                for sample in items:
                    score(sample, cls, tally, *([clean_all[rule]] if group is conditions else []))
                print(f"{name[:44]:44s} {rule:6s}  {_fmt(tally)}")
    print("\nall clean speech together")
    for rule in RULES:
        print(f"{'':44s} {rule:6s}  {_fmt(clean_all[rule])}")
    print(f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
