"""EventLog figures: record() cost per event, frame() over 100k events, turns() over 1000 turns, and the
memory of a one-hour session's rows without its audio.

The session model: the client streams 40 ms pcm16 appends continuously (25/s = 90 000/h) and every 10 s
a server-VAD turn happens (speech_started ... response.done: 2 s of answer audio as 20 audio deltas of
100 ms with 20 transcript deltas, the done events, rate limits and the input transcription).

Run: .venv/bin/python benchmarks/bench_timeline.py
"""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc
from collections.abc import Iterator

import numpy as np

from realtime_nb.audio import pcm_to_b64
from realtime_nb.protocol import new_id
from realtime_nb.timeline import EventLog

APPEND_AUDIO = pcm_to_b64((np.sin(np.arange(960) / 7) * 3000).astype(np.int16))  # 40 ms
DELTA_AUDIO = pcm_to_b64((np.sin(np.arange(2400) / 5) * 6000).astype(np.int16))  # 100 ms
MS = 1_000_000
TURN_EVERY_MS = 10_000
DELTAS_PER_TURN = 20


def _turn_events(t0: int, audio_ms: int) -> list[tuple[int, str, dict]]:
    """Server events of one VAD turn (GA names), starting at t0 ms; `audio_ms` = audio clock then."""
    user, assistant, rid = new_id("item"), new_id("item"), new_id("resp")
    base = {"response_id": rid, "item_id": assistant, "output_index": 0, "content_index": 0}
    message = {
        "id": assistant,
        "type": "message",
        "role": "assistant",
        "status": "in_progress",
        "content": [],
    }
    user_item = {
        "id": user,
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [{"type": "input_audio", "transcript": None}],
    }
    events: list[tuple[int, dict]] = [
        (0, {"type": "input_audio_buffer.speech_started", "audio_start_ms": audio_ms, "item_id": user}),
        (
            2500,
            {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": audio_ms + 2500, "item_id": user},
        ),
        (2510, {"type": "input_audio_buffer.committed", "previous_item_id": None, "item_id": user}),
        (2512, {"type": "conversation.item.added", "previous_item_id": None, "item": user_item}),
        (2513, {"type": "conversation.item.done", "previous_item_id": None, "item": user_item}),
        (
            2550,
            {
                "type": "response.created",
                "response": {
                    "object": "realtime.response",
                    "id": rid,
                    "status": "in_progress",
                    "output_modalities": ["audio"],
                    "usage": None,
                    "metadata": None,
                },
            },
        ),
        (
            2560,
            {"type": "response.output_item.added", "response_id": rid, "output_index": 0, "item": message},
        ),
        (2561, {"type": "conversation.item.added", "previous_item_id": user, "item": message}),
        (2562, {"type": "response.content_part.added", **base, "part": {"type": "audio", "transcript": ""}}),
    ]
    for i in range(DELTAS_PER_TURN):
        events.append(
            (2700 + 100 * i, {"type": "response.output_audio_transcript.delta", **base, "delta": " word"})
        )
        events.append((2701 + 100 * i, {"type": "response.output_audio.delta", **base, "delta": DELTA_AUDIO}))
    end = 2700 + 100 * DELTAS_PER_TURN
    usage = {
        "total_tokens": 300,
        "input_tokens": 200,
        "output_tokens": 100,
        "input_token_details": {"cached_tokens": 128, "text_tokens": 20, "audio_tokens": 180},
    }
    events += [
        (end, {"type": "response.output_audio.done", **base}),
        (end + 1, {"type": "response.output_audio_transcript.done", **base, "transcript": "word " * 20}),
        (
            end + 2,
            {"type": "response.content_part.done", **base, "part": {"type": "audio", "transcript": "..."}},
        ),
        (
            end + 3,
            {"type": "response.output_item.done", "response_id": rid, "output_index": 0, "item": message},
        ),
        (end + 4, {"type": "conversation.item.done", "previous_item_id": user, "item": message}),
        (
            end + 5,
            {
                "type": "response.done",
                "response": {
                    "object": "realtime.response",
                    "id": rid,
                    "status": "completed",
                    "output": [message],
                    "usage": usage,
                },
            },
        ),
        (
            end + 6,
            {
                "type": "rate_limits.updated",
                "rate_limits": [
                    {"name": "tokens", "limit": 40000, "remaining": 39700, "reset_seconds": 0.45}
                ],
            },
        ),
        (
            end + 300,
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": user,
                "content_index": 0,
                "transcript": "a sentence the user said",
            },
        ),
    ]
    return [(t0 + dt, "received", {**event, "event_id": new_id("event")}) for dt, event in events]


def session(duration_ms: int) -> Iterator[tuple[str, dict, int]]:
    """(direction, event, t_ns) of a session of `duration_ms`, in time order, generated lazily."""
    server: list[tuple[int, str, dict]] = []
    next_turn = 1000
    for k in range(duration_ms // 40):
        t = 40 * k
        if t >= next_turn:
            server += _turn_events(t, t)
            next_turn += TURN_EVERY_MS
        while server and server[0][0] <= t:
            ts, direction, event = server.pop(0)
            yield direction, event, ts * MS
        yield (
            "sent",
            {"type": "input_audio_buffer.append", "event_id": new_id("event"), "audio": APPEND_AUDIO},
            t * MS,
        )
    for ts, direction, event in server:
        yield direction, event, ts * MS


def bench_record(n_events: int = 30_000) -> None:
    events = list(_take(session(3_600_000), n_events))
    log = EventLog()
    kinds: dict[str, list[int]] = {"append": [], "audio delta": [], "other": []}
    clock = time.perf_counter_ns
    for direction, event, t_ns in events:
        start = clock()
        log.record(direction, event, "ga", t_ns=t_ns)
        took = clock() - start
        kind = event["type"]
        key = {"input_audio_buffer.append": "append", "response.output_audio.delta": "audio delta"}.get(
            kind, "other"
        )
        kinds[key].append(took)
    everything = [x for values in kinds.values() for x in values]
    print(
        f"record(): median {statistics.median(everything) / 1000:.1f} µs per event "
        f"over {len(everything)} events (goal <= 20 µs)"
    )
    for kind, values in kinds.items():
        print(
            f"  {kind:12s} median {statistics.median(values) / 1000:6.1f} µs  p95 "
            f"{np.percentile(values, 95) / 1000:6.1f} µs  (n={len(values)})"
        )


def bench_frame(n_events: int = 100_000) -> None:
    log = EventLog()
    for direction, event, t_ns in _take(session(10**9), n_events):
        log.record(direction, event, "ga", t_ns=t_ns)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        frame = log.frame()
        times.append(time.perf_counter() - start)
    print(
        f"frame(): median {statistics.median(times) * 1000:.0f} ms for {len(frame)} events (goal <= 1000 ms)"
    )


def bench_turns(n_turns: int = 1000) -> None:
    log = EventLog()
    for direction, event, t_ns in session(n_turns * TURN_EVERY_MS):
        log.record(direction, event, "ga", t_ns=t_ns)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        turns = log.turns()
        times.append(time.perf_counter() - start)
    print(
        f"turns(): median {statistics.median(times) * 1000:.0f} ms for {len(turns)} turns "
        f"({len(log)} events in the log; goal <= 200 ms)"
    )
    start = time.perf_counter()
    responses = log.responses()
    print(f"responses(): {(time.perf_counter() - start) * 1000:.0f} ms for {len(responses)} responses")
    print(
        "  median end of speech -> first audio in this model: "
        f"{turns['stop_to_first_audio_ms'].median():.0f} ms"
    )


def bench_memory() -> None:
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    log = EventLog()
    for direction, event, t_ns in session(3_600_000):
        log.record(direction, event, "ga", t_ns=t_ns)
    total = tracemalloc.get_traced_memory()[0] - base
    stores = log._rec.stores().values()
    audio = sum(sys.getsizeof(seg.data) for store in stores for seg in store.segments)
    tracemalloc.stop()
    rows = total - audio
    print(
        f"memory, 1 h session ({len(log)} events): rows and payloads {rows / 2**20:.1f} MiB "
        f"({rows / len(log):.0f} B/event; goal <= 100 MB), PCM stores {audio / 2**20:.0f} MiB (excluded)"
    )


def _take(iterator: Iterator, n: int) -> Iterator:
    for i, item in enumerate(iterator):
        if i >= n:
            return
        yield item


if __name__ == "__main__":
    bench_record()
    bench_frame()
    bench_turns()
    bench_memory()
