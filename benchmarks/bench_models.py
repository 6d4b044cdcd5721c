"""Costs of the engine's local models on this machine; prints medians.

    python benchmarks/bench_models.py [--repeat N]

Figures: load time per model (first load in this process, then the median of warm reloads), VAD
cost per 32 ms window, turn-model cost (features and inference), denoiser real-time factor and
noise-floor reduction for both settings, transcriber real-time factor, voice time to first audio.
Uses the named samples (generated on first use).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from realtime_nb import samples
from realtime_nb.audio import resample
from realtime_nb.engine.models import KINDS, MODEL_NAMES, Models
from realtime_nb.engine.models.turn import log_mel_features


def _median_seconds(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-12)


def bench_loads(repeat: int) -> None:
    print("== load time (s): first in this process | median of warm reloads")
    first = Models()
    start = time.perf_counter()
    first.preload(MODEL_NAMES)
    parallel = time.perf_counter() - start
    for name in MODEL_NAMES:
        warm = _median_seconds(lambda n=name: Models().load(n), repeat)
        print(f"  {name:<12} {first.load_seconds.get(name, float('nan')):6.3f} | {warm:6.3f}")
    print(f"  preload() of all six in parallel, cold: {parallel:.2f} s")


def bench_vad(models: Models, repeat: int) -> None:
    s = samples.load("turns")
    audio = resample(s.audio, s.rate, 16000).astype(np.float32) / 32768
    vad = models.vad()
    per_run = _median_seconds(lambda: vad.stream().process(audio), repeat)
    windows = audio.size // vad.window
    print(f"== VAD: {per_run / windows * 1e3:.3f} ms per 32 ms window "
          f"({audio.size / 16000 / per_run:.0f}x real time)")


def bench_turn(models: Models, repeat: int) -> None:
    s = samples.load("turns")
    audio = resample(s.audio, s.rate, 16000)
    turn = models.turn()
    feats = _median_seconds(lambda: log_mel_features(audio), repeat * 3)
    total = _median_seconds(lambda: turn.predict(audio), repeat * 3)
    print(f"== turn model: {total * 1e3:.1f} ms per prediction (features {feats * 1e3:.1f} ms)")


def bench_denoise(models: Models, repeat: int) -> None:
    print("== denoiser: real-time factor (streamed in 40 ms chunks) and noise floor change")
    for kind in KINDS:
        d = models.denoiser(kind)
        row = []
        for name in ("noisy_10db", "noisy_0db", "babble_5db"):
            s = samples.load(name)
            speech = s.speech_mask()
            out = d.process(s.audio)
            clean = s.clean.astype(np.float64)[speech]
            snr_in = _db(clean) - _db(s.audio[speech] - clean)
            snr_out = _db(clean) - _db(out[speech] - clean)
            row.append(f"{name} floor {_db(out[~speech]) - _db(s.audio[~speech]):+.1f} dB, "
                       f"SNR {snr_in:.1f}->{snr_out:.1f} dB")
        s = samples.load("noisy_0db")
        chunks = np.array_split(s.audio, max(1, s.audio.size // 960))

        def run(d=d, chunks=chunks):
            stream = d.stream()
            for c in chunks:
                stream.process(c)
            stream.flush()

        rtf = s.duration_s / _median_seconds(run, repeat)
        print(f"  {kind:<10} {rtf:5.1f}x real time\n    " + "\n    ".join(row))


def bench_transcriber(models: Models, repeat: int) -> None:
    s = samples.load("turns")
    audio = resample(s.audio, s.rate, 16000)
    tr = models.transcriber()
    whole = _median_seconds(lambda: list(tr.transcribe(audio)), repeat)
    seg = s.segments[0]
    one = resample(s.audio[seg.start - 7200 : seg.end + 12000], s.rate, 16000)
    single = _median_seconds(lambda: list(tr.transcribe(one)), repeat)
    print(f"== transcriber: {s.duration_s / whole:.1f}x real time on {s.duration_s:.1f} s; "
          f"one {one.size / 16000:.1f} s turn in {single * 1e3:.0f} ms")


def bench_voice(models: Models, repeat: int) -> None:
    voice = models.voice()
    texts = {
        "6 words": "Sure, I can help with that.",
        "15 words": "The large mushroom pizza will be ready in about twenty minutes, and delivery is free.",
        "long first": "I checked the menu for you and the restaurant on the corner offers three kinds of "
        "pizza with mushrooms today.",
    }
    print("== voice: time to first audio (median) and real-time factor")
    for label, text in texts.items():
        ttfa, totals, seconds = [], [], 0.0
        for _ in range(repeat):
            start = time.perf_counter()
            it = voice.synthesize(text)
            first = next(it)
            ttfa.append(time.perf_counter() - start)
            seconds = (first.size + sum(c.size for c in it)) / voice.sample_rate
            totals.append(time.perf_counter() - start)
        print(f"  {label:<11} first audio {statistics.median(ttfa) * 1e3:5.0f} ms; "
              f"{seconds:.1f} s of speech at {seconds / statistics.median(totals):.0f}x real time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for name in samples.NAMED:
        samples.ensure(name)
    bench_loads(args.repeat)
    models = Models.shared()
    models.preload()
    bench_vad(models, args.repeat)
    bench_turn(models, args.repeat)
    bench_denoise(models, args.repeat)
    bench_transcriber(models, args.repeat)
    bench_voice(models, max(args.repeat, 5))


if __name__ == "__main__":
    main()
