"""WebSocket vs WebRTC on the local engine over loopback, the same audio through both (one run).

    .venv/bin/python benchmarks/bench_webrtc.py [--quick] [--only latency|load|media] [--calls N]
        [--baseline DIR]

``--baseline DIR`` runs parts 2 and 3 first on the engine from another source tree (a directory
holding ``realtime_nb/``, e.g. ``git archive COMMIT realtime_nb | tar -x -C DIR``), then on this one,
back to back: on a busy machine that is the only fair before/after.

The engine runs as `realtime-nb serve --preload -v` in a subprocess (as bench_engine.py does), so the
clients here do not share its GIL. Speech is `realtime_nb.samples.load("turns")` (three utterances,
10.7 s), repeated; server VAD with 500 ms of silence. Every figure is printed minus that silence.

1. Latency, one session per transport streaming the same audio in real time. "End of speech" is when
   the client sent the audio at ``audio_end_ms - silence`` (the append's time over WebSocket, the
   outgoing track frame's time over WebRTC), from the log's `turns()`. Three figures per transport:

   * end of speech -> ``input_audio_buffer.speech_stopped`` received;
   * end of speech -> the answer's first *packet* received: WebSocket, the first
     ``response.output_audio.delta`` (what WebSocket measurements usually quote); WebRTC, the first
     track frame reaching -40 dBFS (a track has no "first packet" of an answer: the frames before it
     are the idle stream and the reply's own leading near-silence, which the client cannot tell
     apart). These two are NOT the same measure: the engine's synthesized speech starts with about
     50 ms of near-silence, which the WebSocket figure does not wait for and the WebRTC one does;
   * end of speech -> the answer's first *audible sample* received, the same measure on both: the
     first sample reaching -40 dBFS, at the arrival of the packet carrying it plus its offset in that
     packet, i.e. when it would sound if every packet were played the moment it arrived (WebSocket:
     the delta's arrival + the sample's position in the delta; WebRTC: the frame's arrival + its
     position in the 20 ms frame). This counts the reply's leading silence on both sides, by its
     audio clock, and is what the goals are checked against: WebRTC <= silence + 150 ms p95, and
     WebRTC - WebSocket <= 60 ms (p95).

2. Load: N concurrent WebRTC calls (8; 2 with --quick; ``--calls``) for ~43 s each, placed by client
   peers in two separate worker processes (this script with ``--worker``), so the engine's process is
   measured alone. Printed for the whole run and per 10 s window (by when each turn's speech ended):
   the calls live; the engine's CPU seconds per call-second, and in brackets its event loop thread's
   (where every call's media, VAD and events run); the peers' CPU per call-second; the
   speech_stopped delay beyond the silence window (p50 / p95 / max); the backlog, i.e. how much later
   the window's median speech_stopped comes than the first window's (an engine that keeps up
   holds it near 0; one that falls behind sees it grow by the time it lacks); and turns with no
   answer. Then missed turns, ICE consent losses (aioice's "Consent to send expired", counted in the
   engine's log and in the peers') and calls that ended early, and the verdict, **keeps up: yes/no**,
   with its rule: every window's median speech_stopped delay within GOAL_BACKLOG_MS of the first
   window's, every window's p95 within GOAL_P95_MS, no missed turn, no consent lost, no call ended
   early. On a machine other work keeps busy the engine and its peers get only their share of the
   cores, so these figures are pessimistic there; compare builds back to back (``--baseline``).

3. Media cost: the engine's per-call media path (decoding, resampling, VAD and turn detection in;
   upsampling and Opus encoding out) in CPU milliseconds per call-second, run flat out over 60 s of
   call audio in a process of its own (``--media-cost``; see `_media_cost`). CPU time, not wall time,
   so load barely moves it: the figure to compare builds by on a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import _pct, _summary

from realtime_nb import samples
from realtime_nb.client import Endpoint, RealtimeSession
from realtime_nb.client.errors import ConnectionClosedError
from realtime_nb.protocol import PCM_RATE, ServerVad, SessionConfig

SILENCE_MS = 500
AUDIBLE_DBFS = -40.0
AUDIBLE_LEVEL = 32768 * 10 ** (AUDIBLE_DBFS / 20)
GOAL_FIRST_AUDIO_MS = 150  # beyond the silence window, p95
GOAL_ADDED_MS = 60
GOAL_BACKLOG_MS = 100  # load: no window's median speech_stopped delay above the first window's + this
GOAL_P95_MS = 500  # load: nor any window's p95 above this
TICKS = os.sysconf("SC_CLK_TCK")
WORKERS = 2  # processes placing the load's calls


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _wav(passes: int, folder: Path) -> tuple[Path, int]:
    sample = samples.load("turns")
    audio = np.concatenate([sample.audio] * passes)
    path = samples.Sample(audio, sample.rate, (), "turns_x").save(folder / f"turns_x{passes}.wav")
    return path, len(sample.segments) * passes


def _session(url: str, transport: str) -> RealtimeSession:
    config = SessionConfig(
        turn_detection=ServerVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=SILENCE_MS)
    )
    kw: dict[str, Any] = {"transport": transport, "config": config, "timeout": 60.0}
    return RealtimeSession(Endpoint.local(url), **kw)


def _first_audible_sample_t(log: Any, rid: str, transport: str) -> float:
    """The log time (s) at which the response's first sample reaching AUDIBLE_LEVEL arrived, counted
    from its packet's arrival plus its offset in that packet (see the module docstring)."""
    if transport == "webrtc":
        rec = log._rec  # the recorder's track audio: no public per-chunk accessor on EventLog
        t_ns = rec.track.first_sample_t_ns(rid, AUDIBLE_LEVEL)
        return float("nan") if t_ns is None else (t_ns - rec.start_ns) / 1e9
    frame = log.frame()
    deltas = frame[(frame["type"] == "response.output_audio.delta") & (frame["response_id"] == rid)]
    pcm = log.response_audio(rid)
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) >= AUDIBLE_LEVEL)
    if not loud.size:
        return float("nan")
    position, start = int(loud[0]), 0
    for t, ms in zip(deltas["t"], deltas["audio_ms"], strict=True):
        n = round(ms * PCM_RATE / 1000)
        if position < start + n:
            return float(t) + (position - start) / PCM_RATE
        start += n
    return float("nan")


def _measures(log: Any, transport: str) -> list[dict[str, float]]:
    """Per turn, in ms beyond the silence window: speech_stopped, first packet, first audible sample,
    and when (s after the first turn's end of speech) the turn ended."""
    packet_col = "t_first_audible" if transport == "webrtc" else "t_first_audio"
    rows = []
    turns = log.turns(audible_dbfs=AUDIBLE_DBFS).to_dict("records")
    ends = [t["t_speech_end"] for t in turns if np.isfinite(t.get("t_speech_end", np.nan))]
    origin = min(ends, default=0.0)
    log_start_s = (log._rec.start_ns or 0) / 1e9  # the log's times are seconds after this monotonic time
    for t in turns:
        end = t.get("t_speech_end")
        if end is None or not np.isfinite(end):
            continue
        rid = t.get("response_id")
        sample_t = _first_audible_sample_t(log, rid, transport) if isinstance(rid, str) else np.nan

        def beyond(value: Any, end: float = end) -> float:
            ok = value is not None and np.isfinite(value)
            return (value - end) * 1000 - SILENCE_MS if ok else float("nan")

        rows.append(
            {
                "at_s": end - origin,
                "t": end + log_start_s,
                "stopped": beyond(t.get("t_speech_stopped")),
                "packet": beyond(t.get(packet_col)),
                "sample": beyond(sample_t),
            }
        )
    return rows


async def _one_stream(
    url: str, transport: str, wav: Path, expected: int
) -> tuple[list[dict[str, float]], float, str | None, float]:
    """Stream ``wav`` in real time (+2 s of silence), wait for every answer; the per-turn measures,
    how long the call was live (s), if it ended early why (the turns measured until then count), and
    when it ended (monotonic s)."""
    t0 = time.monotonic()
    s = _session(url, transport)
    dropped = None
    try:
        async with s:
            await s.stream_file(wav, tail_silence_ms=2000)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                frame = s.log.frame()
                done = (frame["type"] == "response.done").sum()
                stopped = (frame["type"] == "output_audio_buffer.stopped").sum()
                if done >= expected and (transport == "websocket" or stopped >= expected):
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.3)
    except ConnectionClosedError as exc:
        dropped = str(exc)
    return _measures(s.log, transport), time.monotonic() - t0, dropped, time.monotonic()


def _column(rows: list[dict[str, float]], key: str) -> list[float]:
    return [r[key] for r in rows if np.isfinite(r[key])]


async def bench_latency(url: str, passes: int, folder: Path) -> None:
    wav, expected = _wav(passes, folder)
    print(
        f"1. latency, the same {expected} turns through each transport (beyond the {SILENCE_MS} ms silence;"
        " see the docstring for what each line measures)"
    )
    results: dict[str, list[dict[str, float]]] = {}
    packet_name = {"websocket": "first delta", "webrtc": "first frame >= -40 dBFS"}
    for transport in ("websocket", "webrtc"):
        rows, _, dropped, _ = await _one_stream(url, transport, wav, expected)
        if dropped:
            print(f"   {transport:9s} the call ended early: {dropped}")
        results[transport] = rows
        print(
            f"   {transport:9s} end of speech -> speech_stopped          {_summary(_column(rows, 'stopped'))}"
        )
        packet = _summary(_column(rows, "packet"))
        print(f"   {transport:9s} end of speech -> {packet_name[transport]:23s} {packet}")
        print(
            f"   {transport:9s} end of speech -> first audible sample    {_summary(_column(rows, 'sample'))}"
        )
        print(f"   {transport:9s} answered {len(_column(rows, 'sample'))}/{expected}")
    ws, rtc = _column(results["websocket"], "sample"), _column(results["webrtc"], "sample")
    for q, name in ((50, "p50"), (95, "p95")):
        print(f"   WebRTC - WebSocket, first audible sample {name}: {_pct(rtc, q) - _pct(ws, q):+7.1f} ms")
    p95 = _pct(rtc, 95)
    added = p95 - _pct(ws, 95)
    print(
        f"   goal: WebRTC first audible sample <= silence + {GOAL_FIRST_AUDIO_MS} ms p95: {p95:.1f} ms -> "
        f"{'met' if p95 <= GOAL_FIRST_AUDIO_MS else 'NOT met'}"
    )
    print(
        f"   goal: WebRTC adds <= {GOAL_ADDED_MS} ms over WebSocket (first audible sample, p95): "
        f"{added:+.1f} ms -> {'met' if added <= GOAL_ADDED_MS else 'NOT met'}"
    )


class _ConsentCounter(logging.Handler):
    """Counts aioice's "Consent to send expired" (RFC 7675: the peer stopped answering ICE checks for
    ~30 s, and aioice ends the call), which it logs at INFO on ``aioice.ice``."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "Consent to send expired" in record.getMessage():
            self.count += 1


async def _worker(url: str, calls: int, passes: int) -> None:
    """``--worker``: place `calls` concurrent WebRTC calls and print their measures as one JSON line
    (times on the machine's monotonic clock, which every process shares)."""
    consent = _ConsentCounter()
    ice_log = logging.getLogger("aioice.ice")
    ice_log.setLevel(logging.INFO)
    ice_log.addHandler(consent)
    with tempfile.TemporaryDirectory() as tmp:
        wav, expected = _wav(passes, Path(tmp))
        outcomes = await asyncio.gather(*(_one_stream(url, "webrtc", wav, expected) for _ in range(calls)))
    calls_out = [{"rows": r, "live_s": live, "end": end, "dropped": why} for r, live, why, end in outcomes]
    print(json.dumps({"expected": expected, "calls": calls_out, "consent_lost": consent.count}))


class _Engine:
    """`realtime-nb serve --preload -v` from a given source tree, its log in a file (consent losses and
    why calls ended are read from it)."""

    def __init__(self, source: Path, log_path: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(source)}
        self._log = log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "realtime_nb.cli", "serve", "--port", "0", "--preload", "-v"],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
        )
        self.log_path = log_path
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            found = re.search(r"listening on (ws://\S+)", line)
            if found:
                self.url = found.group(1)
                return
        raise RuntimeError(f"realtime-nb serve from {source} did not start (see {log_path})")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self._log.close()

    def log_counts(self) -> tuple[int, dict[str, int]]:
        """Consent losses, and calls the engine ended for a reason other than the peer hanging up."""
        text = self.log_path.read_text(errors="replace")
        reasons: dict[str, int] = {}
        for reason in re.findall(r"call rtc_\S+ closed: (.*)", text):
            if reason != "hung up":
                reasons[reason] = reasons.get(reason, 0) + 1
        return text.count("Consent to send expired"), reasons


def _thread_cpu_s(pid: int, tid: int) -> float:
    with open(f"/proc/{pid}/task/{tid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def _sample_cpu(peer_pids: list[int], engine: int, out: list[tuple[float, ...]]) -> None:
    """Every second: (time, engine CPU s, engine loop thread CPU s, peers' CPU s), cumulative (a peer
    process that has exited keeps its last reading)."""
    peers = dict.fromkeys(peer_pids, 0.0)
    while True:
        for pid in peers:
            with contextlib.suppress(OSError, IndexError, ValueError):
                peers[pid] = _cpu_s(pid)
        out.append((time.monotonic(), _cpu_s(engine), _thread_cpu_s(engine, engine), sum(peers.values())))
        await asyncio.sleep(1.0)


def _at(samples_: list[tuple[float, ...]], t: float) -> tuple[float, ...]:
    """The cumulative CPU sample nearest to time t."""
    return min(samples_, key=lambda s: abs(s[0] - t))


async def bench_load(engine: _Engine, calls: int, passes: int, label: str) -> dict[str, Any]:
    """The load section (see the module docstring, 2); returns its verdict figures."""
    workers = min(WORKERS, calls)
    share = [calls // workers + (1 if i < calls % workers else 0) for i in range(workers)]
    print(
        f"2. {label}: {calls} concurrent WebRTC calls, {passes * 10.7:.0f} s of speech each, placed from "
        f"{workers} worker processes (the engine's process measured alone)"
    )
    me = Path(__file__).resolve()
    cpu0, t0 = _cpu_s(engine.pid), time.monotonic()
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(me),
            "--worker",
            engine.url,
            str(n),
            str(passes),
            stdout=asyncio.subprocess.PIPE,
        )
        for n in share
    ]
    samples_: list[tuple[float, ...]] = []
    sampler = asyncio.ensure_future(_sample_cpu([p.pid for p in procs], engine.pid, samples_))
    outputs = [await p.communicate() for p in procs]
    sampler.cancel()
    wall, cpu = time.monotonic() - t0, _cpu_s(engine.pid) - cpu0
    reports = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    expected = reports[0]["expected"]
    per_call = [c for r in reports for c in r["calls"]]
    call_s = sum(c["live_s"] for c in per_call)
    loop_cpu = samples_[-1][2] - samples_[0][2]
    peers_cpu = samples_[-1][3] - samples_[0][3]
    print(
        f"   whole run: engine {cpu / call_s:.3f} CPU s per call-second ({cpu / wall:.2f} cores, of which "
        f"its event loop thread {loop_cpu / wall:.2f}); peers {peers_cpu / call_s:.3f} "
        f"({peers_cpu / wall:.2f} cores); {calls} calls, {wall:.1f} s, {call_s:.0f} call-s; "
        f"this machine has {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    engine_consent, engine_ended = engine.log_counts()
    peer_consent = sum(r.get("consent_lost", 0) for r in reports)
    dropped = [c for c in per_call if c["dropped"]]
    for reason in sorted({c["dropped"] for c in dropped}):
        count = sum(1 for c in dropped if c["dropped"] == reason)
        print(f"   {count} of {calls} calls ended early: {reason}")
    for reason, count in sorted(engine_ended.items()):
        print(f"   the engine ended {count} call(s): {reason}")
    windows: dict[int, list[dict[str, float]]] = {}
    missed = 0
    for c in per_call:
        missed += max(expected - len(c["rows"]), 0)  # turns never detected
        for r in c["rows"]:
            windows.setdefault(int((r["t"] - t0) // 10), []).append(r)
    missed += sum(1 for rows in windows.values() for r in rows if not np.isfinite(r["sample"]))
    print(
        "   window    calls  engine CPU s/call-s (loop)  peers   speech_stopped delay p50 / p95 / max"
        "   backlog  missed"
    )
    first_median = None
    medians: list[float] = []
    worst_p95 = 0.0
    for w in sorted(windows):
        lo, hi = t0 + 10 * w, t0 + 10 * w + 10
        live = sum(max(0.0, min(hi, c["end"]) - max(lo, c["end"] - c["live_s"])) for c in per_call) / 10
        a, b = _at(samples_, lo), _at(samples_, hi)
        span = max(b[0] - a[0], 1e-9) * max(live, 1e-9)
        stopped = _column(windows[w], "stopped")
        med = float(np.median(stopped)) if stopped else float("nan")
        if first_median is None and stopped:
            first_median = med
        medians.append(med)
        worst_p95 = max(worst_p95, _pct(stopped, 95) if stopped else 0.0)
        backlog = med - first_median if first_median is not None else float("nan")
        missed_w = sum(1 for r in windows[w] if not np.isfinite(r["sample"]))
        engine_w, loop_w, peers_w = ((b[i] - a[i]) / span for i in (1, 2, 3))
        print(
            f"   {10 * w:3d}-{10 * w + 10:3d} s {live:5.1f}  {engine_w:8.3f} ({loop_w:.3f})"
            f"        {peers_w:6.3f}   {med:7.0f} / {_pct(stopped, 95):6.0f} / "
            f"{max(stopped, default=float('nan')):6.0f} ms   {backlog:+6.0f} ms {missed_w:4d}"
        )
    growth = max((m - medians[0] for m in medians if np.isfinite(m)), default=0.0) if medians else 0.0
    consent = engine_consent + peer_consent
    lost = len(dropped) + sum(engine_ended.values())
    keeps_up = (
        bool(medians)
        and growth <= GOAL_BACKLOG_MS
        and worst_p95 <= GOAL_P95_MS
        and not (consent or lost or missed)
    )
    print(
        f"   missed turns: {missed} of {calls * expected}; consent losses: {consent} (engine "
        f"{engine_consent}, peers {peer_consent}); calls ended early: {lost}"
    )
    print(
        f"   keeps up: {'yes' if keeps_up else 'no'} (rule: every 10 s window's median speech_stopped delay "
        f"within {GOAL_BACKLOG_MS} ms of the first window's (growth here {growth:+.0f} ms), every window's "
        f"p95 <= {GOAL_P95_MS} ms (worst {worst_p95:.0f} ms), no missed turn, no consent lost, no call ended "
        "early)"
    )
    return {"keeps_up": keeps_up, "engine_cpu_per_call_s": cpu / call_s, "growth_ms": growth}


MEDIA_SECONDS = 60.0  # call-seconds each media-cost run plays through


async def _media_cost(seconds: float) -> None:
    """``--media-cost``: the engine's per-call media path, timed in CPU seconds (all threads of this
    process), not wall time, so a loaded machine barely moves it. One call's worth of audio each way,
    run as fast as it goes:

    * in: the "turns" sample as Opus packets from a peer, through the receiver's decoding as the
      engine runs it (`_rtc_loopback.decode_audio_on_loop`'s decoder when this tree has it, else
      aiortc's decoder thread with its queue and hand-back to the loop), `MicrophoneReader` and a
      WebRTC `EngineSession` with server VAD (resampling, Silero VAD, the turn detector);
    * out: `PlayoutTrack.recv` (the session's output frame, 2x upsampling, Opus encoding) with a reply
      playing 40 % of the time and silence otherwise, its pacing clock moved on so it never sleeps.

    Not included, the same in any build: aiortc's RTP, SRTP and socket work, the models' jobs."""
    import av
    from aiortc.jitterbuffer import JitterFrame
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters
    from aiortc.rtcrtpreceiver import RemoteStreamTrack

    from realtime_nb import _rtc_loopback
    from realtime_nb.engine.models import Models
    from realtime_nb.engine.rtc_media import MicrophoneReader, PlayoutTrack
    from realtime_nb.engine.session import EngineSession

    sample = samples.load("turns")
    pcm48 = np.repeat(sample.audio, 2)  # 48 kHz is what a peer sends; the content is what matters
    encoder = av.CodecContext.create("libopus", "w")
    encoder.bit_rate, encoder.format, encoder.layout, encoder.sample_rate = 64000, "s16", "mono", 48000
    packets = []
    for i in range(0, pcm48.size - 959, 960):
        frame = av.AudioFrame.from_ndarray(pcm48[i : i + 960].reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48000, i
        packets += [bytes(p) for p in encoder.encode(frame)]
    models = Models.shared()
    models.vad()
    frames_n = int(seconds / 0.02)
    opus = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)

    def session() -> EngineSession:
        s = EngineSession(models, "ga", now=0.0, transport="webrtc")
        td = {"type": "server_vad", "silence_duration_ms": 500, "create_response": False}
        update = {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"turn_detection": td}}},
        }
        s.receive_text(json.dumps(update), 0.0)
        return s

    # in
    s, reader, track = session(), MicrophoneReader(), RemoteStreamTrack(kind="audio")

    class Receiver:  # what LoopDecoder reads of aiortc's receiver
        pass

    receiver = Receiver()
    receiver.track = track  # type: ignore[attr-defined]
    loop = asyncio.get_running_loop()
    if hasattr(_rtc_loopback, "LoopDecoder"):
        decoder_queue: Any = _rtc_loopback.LoopDecoder(receiver)
        thread = None
    else:
        import queue
        import threading

        from aiortc.rtcrtpreceiver import decoder_worker

        decoder_queue = queue.Queue()
        thread = threading.Thread(
            target=decoder_worker, args=(loop, decoder_queue, track._queue, threading.Event())
        )
        thread.start()
    cpu0 = time.process_time()
    for n in range(frames_n):
        decoder_queue.put((opus, JitterFrame(packets[n % len(packets)], n * 960)))
        frame = await track.recv()
        s.receive_audio(reader.convert(frame), n * 0.02)
    in_cpu = time.process_time() - cpu0
    decoder_queue.put(None)
    if thread is not None:
        thread.join()

    # out
    reply = np.concatenate([sample.audio[: int(PCM_RATE * 4)], np.zeros(int(PCM_RATE * 6), np.int16)])
    clock = [0.0]

    def tick() -> float:
        clock[0] += 0.02
        return clock[0]

    def pull(now: float) -> np.ndarray:
        k = round(now / 0.02) % (reply.size // 480)
        return reply[k * 480 : (k + 1) * 480]

    playout = PlayoutTrack(pull, clock=tick)
    cpu0 = time.process_time()
    for _ in range(frames_n):
        await playout.recv()
    out_cpu = time.process_time() - cpu0
    print(json.dumps({"in_ms": in_cpu / seconds * 1000, "out_ms": out_cpu / seconds * 1000}))


async def bench_media(trees: list[tuple[str, Path]]) -> None:
    print(
        f"3. the engine's media path per call, in CPU ms per call-second ({MEDIA_SECONDS:.0f} s of call "
        "audio each way, run flat out; CPU time, so machine load barely moves it; see _media_cost)"
    )
    me = Path(__file__).resolve()
    for label, source in trees:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(me),
            "--media-cost",
            str(MEDIA_SECONDS),
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(source)},
        )
        out, _ = await proc.communicate()
        r = json.loads(out.decode().strip().splitlines()[-1])
        print(
            f"   {label:40s} in (decode, resample, VAD, turns) {r['in_ms']:6.1f}   out (upsample, Opus) "
            f"{r['out_ms']:6.1f}   total {r['in_ms'] + r['out_ms']:6.1f} ms per call-second"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (1 pass, 2 calls)")
    parser.add_argument("--only", choices=("latency", "load", "media"), help="run one of the parts")
    parser.add_argument("--calls", type=int, help="concurrent calls in the load part (default 8; 2 quick)")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="first run the load part on the engine from DIR (a tree holding realtime_nb/, e.g. "
        "`git archive COMMIT realtime_nb | tar -x -C DIR`), then on this one, back to back",
    )
    parser.add_argument("--worker", nargs=3, metavar=("URL", "CALLS", "PASSES"), help=argparse.SUPPRESS)
    parser.add_argument("--media-cost", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.media_cost:
        await _media_cost(args.media_cost)
        return
    if args.worker:
        url, calls, passes = args.worker
        await _worker(url, int(calls), int(passes))
        return
    here = Path(__file__).resolve().parent.parent
    calls = args.calls or (2 if args.quick else 8)
    passes = 1 if args.quick else 4
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "latency"):
            engine = _Engine(here, Path(tmp) / "latency.log")
            try:
                await bench_latency(engine.url, 1 if args.quick else 3, Path(tmp))
            finally:
                engine.stop()
        trees = [("baseline " + str(args.baseline), args.baseline.resolve())] if args.baseline else []
        trees.append(("this tree", here))
        if args.only in (None, "load"):
            results = []
            for label, source in trees:
                engine = _Engine(source, Path(tmp) / "load.log")
                try:
                    results.append(await bench_load(engine, calls, passes, label))
                finally:
                    engine.stop()
            if len(results) == 2:
                before, after = results
                print(
                    f"   back to back: engine CPU s per call-second {before['engine_cpu_per_call_s']:.3f} -> "
                    f"{after['engine_cpu_per_call_s']:.3f}; speech_stopped growth {before['growth_ms']:+.0f}"
                    f" -> {after['growth_ms']:+.0f} ms; keeps up {'yes' if before['keeps_up'] else 'no'} -> "
                    f"{'yes' if after['keeps_up'] else 'no'}"
                )
        if args.only in (None, "media"):
            await bench_media(trees)


if __name__ == "__main__":
    asyncio.run(main())
