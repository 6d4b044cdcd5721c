"""Engine session figures: audio-path cost per append and end-of-speech -> first audio delta.

Streams the Piper "turns" sample (3 utterances) in 20 ms appends through a real EngineSession
(server_vad, silence 500 ms, create_response on), the way the websockets adapter would, and prints:

* median / p95 wall time of one append (decode, resample, VAD, turn logic), with and without
  far_field noise reduction;
* per turn: true end of speech -> speech_stopped on the audio clock, plus the wall time of the append
  that ended the turn (the cached opening of the reply goes out in that same call), i.e. the latency
  from end of speech to the first response audio delta when audio arrives in real time;
* the wall time of the reply's jobs (private transcription, responder, first synthesized chunk).

Run: .venv/bin/python benchmarks/bench_engine_session.py
"""

from __future__ import annotations

import base64
import json
import statistics
import time

import numpy as np

from realtime_nb import samples
from realtime_nb.engine.models import Models
from realtime_nb.engine.session import EngineSession

RATE = 24000
CHUNK_MS = 20


def _append(pcm: np.ndarray) -> str:
    return json.dumps(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm.tobytes()).decode()}
    )


def run(noise_reduction: str | None) -> None:
    sample = samples.load("turns")
    models = Models.shared()
    s = EngineSession(models, "ga", now=0.0)
    td = {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "create_response": True,
        "interrupt_response": False,
    }
    nr = None if noise_reduction is None else {"type": noise_reduction}
    s.receive_text(
        json.dumps(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {"input": {"turn_detection": td, "noise_reduction": nr}},
                },
            }
        ),
        0.0,
    )
    s.events_to_send()
    step = RATE * CHUNK_MS // 1000
    costs, turns, job_times = [], [], []
    for k, lo in enumerate(range(0, sample.audio.size, step)):
        now = k * CHUNK_MS / 1000
        t0 = time.perf_counter()
        s.receive_text(_append(sample.audio[lo : lo + step]), now)
        cost = time.perf_counter() - t0
        costs.append(cost)
        events = s.events_to_send()
        names = [e["type"] for e in events]
        if "input_audio_buffer.speech_stopped" in names:
            stop = events[names.index("input_audio_buffer.speech_stopped")]
            first_audio = "response.output_audio.delta" in names
            turns.append((stop["audio_end_ms"], cost, first_audio))
            t1 = time.perf_counter()
            s.run_jobs_inline(now)
            job_times.append(time.perf_counter() - t1)
            s.events_to_send()
    costs_ms = np.array(costs) * 1000
    print(f"== noise_reduction={noise_reduction}")
    median, p95 = np.median(costs_ms), np.percentile(costs_ms, 95)
    speed = CHUNK_MS / median
    print(f"append of {CHUNK_MS} ms: median {median:.2f} ms, p95 {p95:.2f} ms ({speed:.0f}x real time)")
    for seg, (end_ms, cost, first_audio) in zip(sample.segments, turns, strict=False):
        true_end = seg.ms()[1]
        latency = end_ms - true_end + CHUNK_MS + cost * 1000
        print(
            f"turn ending at {true_end:7.0f} ms: "
            f"speech_stopped at +{end_ms - true_end:4.0f} ms (audio clock); "
            f"first audio delta in the same call: {first_audio}; "
            f"that call took {cost * 1000:.1f} ms; "
            f"end of speech to first audio ~ {latency:.0f} ms"
        )
    jobs_ms = statistics.median(job_times) * 1000
    print(f"whole reply jobs (hear + respond + synthesize all) per turn: median {jobs_ms:.0f} ms")


if __name__ == "__main__":
    run(None)
    run("far_field")
