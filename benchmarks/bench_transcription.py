"""Live captions on the local engine: time to text and word error rate of transcription sessions.

    .venv/bin/python benchmarks/bench_transcription.py [--quick] [--dialect ga|preview]

One transcription session (``?intent=transcription``) per configuration over a real socket, with
our client; the recording is streamed in real time, as a microphone would send it, so the times
are the ones a captions reader sees. Configurations: the bundled recordings ``turns`` (clean, three
turns, words known) and ``noisy_10db`` (pink noise at 10 dB SNR), noise reduction off / near_field,
server_vad silence_duration_ms 300 / 500 / 800 (``--quick``: ``turns`` only, silence 500).

Per configuration it prints the medians over the recording's turns of

* ``first delta``: speech_stopped -> first transcription delta (Whisper's decoding of the turn);
* ``done``: speech_stopped -> ``.completed``;
* ``speech end -> text``: the true end of speech (when its last sample was sent) -> ``.completed``,
  i.e. the silence window plus the decoding: what the silence setting costs a reader;

and the word error rate over the whole recording (turns joined), with the number of turns found.
The engine runs in this process (one GIL): the figures are for comparing settings within one run,
on whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
from dataclasses import dataclass

from realtime_nb import samples
from realtime_nb.client import Endpoint, RealtimeSession
from realtime_nb.engine import start_engine
from realtime_nb.protocol import ServerVad, SessionConfig
from realtime_nb.timeline import word_error_rate

COMPLETED = "conversation.item.input_audio_transcription.completed"


@dataclass
class Result:
    sample: str
    noise_reduction: str
    silence_ms: int
    turns: int
    expected_turns: int
    first_delta_ms: float
    done_ms: float
    speech_end_to_text_ms: float
    wer: float


def _median(values: list[float]) -> float:
    finite = [v for v in values if v == v]
    return statistics.median(finite) if finite else float("nan")


async def run_one(url: str, dialect: str, name: str, noise: str | None, silence_ms: int) -> Result:
    sample = samples.load(name)
    config = SessionConfig.for_transcription(
        noise_reduction=noise, turn_detection=ServerVad(silence_duration_ms=silence_ms)
    )
    endpoint = Endpoint.local(url, dialect=dialect).transcription()
    async with RealtimeSession(endpoint, config=config, timeout=120) as session:
        await session.stream_file(samples.ensure(name), speed=1.0, tail_silence_ms=silence_ms + 1000)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # every committed turn transcribed (or 3 minutes passed)
            table = session.log.transcripts()
            if len(table) and (table["status"] == "completed").all():
                break
            with contextlib.suppress(TimeoutError):
                await session.wait_for(COMPLETED, timeout=2)
        table = session.log.transcripts()
    text = " ".join(t for t in table["text"] if isinstance(t, str))
    return Result(
        name,
        noise or "off",
        silence_ms,
        len(table),
        len(sample.segments),
        _median(list(table["first_delta_ms"])),
        _median(list(table["done_ms"])),
        _median(list(table["speech_end_to_done_ms"])),
        word_error_rate(sample.text, text),
    )


async def main(quick: bool, dialect: str) -> None:
    names = ["turns"] if quick else ["turns", "noisy_10db"]
    silences = [500] if quick else [300, 500, 800]
    with start_engine() as engine:
        # warm up: the first transcription loads Whisper (and far-field runs load the denoiser)
        await run_one(engine.url, dialect, "single", "near_field", 500)
        print(f"transcription sessions on the local engine ({dialect}), recordings streamed in real time")
        head = "sample       noise       silence  turns  first delta  done      speech end -> text  WER"
        print(head)
        print("-" * len(head))
        for name in names:
            for noise in (None, "near_field"):
                for silence in silences:
                    r = await run_one(engine.url, dialect, name, noise, silence)
                    setting = f"{r.sample:<12} {r.noise_reduction:<11} {r.silence_ms:>5} ms"
                    times = (
                        f"{r.first_delta_ms:7.0f} ms  {r.done_ms:6.0f} ms  {r.speech_end_to_text_ms:8.0f} ms"
                    )
                    print(f"{setting}  {r.turns}/{r.expected_turns}    {times}         {r.wer:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one recording, silence 500 ms only")
    parser.add_argument("--dialect", choices=["ga", "preview"], default="ga")
    args = parser.parse_args()
    asyncio.run(main(args.quick, args.dialect))
