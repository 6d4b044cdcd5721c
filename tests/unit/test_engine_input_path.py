"""The input path on its own (what sweeps run offline) makes the live session's exact decisions.

Real models; speech synthesized with known boundaries (realtime_nb.samples). The same audio goes
through an EngineSession as input_audio_buffer.append events and through an InputPath built from a
SessionConfig with no session at all: speech_started / speech_stopped and the committed audio must
match to the millisecond and the sample.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest
import test_engine_session as _session_tests
from test_engine_audio import stream, vad_session
from test_engine_session import Driver

from realtime_nb import samples
from realtime_nb.audio import decode
from realtime_nb.engine.input_path import BufferStatus, InputPath, SpeechStart, SpeechStop, Utterance
from realtime_nb.engine.state import BufferState, IllegalTransition
from realtime_nb.protocol import Dialect, SemanticVad, ServerVad, SessionConfig

RATE = 24000
CHUNK = RATE * 20 // 1000  # the 20 ms appends of test_engine_audio.stream
driver = _session_tests.driver
models = _session_tests.models

DETECTIONS = {
    "server_vad": ServerVad(create_response=False),
    "semantic_vad": SemanticVad(eagerness="high", create_response=False),
}


def _live(d: Driver, audio: np.ndarray) -> tuple[list[tuple[str, int]], list[np.ndarray]]:
    """What the session sent about turns, and the audio of each committed turn (retrieved)."""
    events = stream(d, audio)
    marks = [
        (e["type"].rsplit(".", 1)[1], e.get("audio_start_ms", e.get("audio_end_ms")))
        for e in events
        if e["type"] in ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped")
    ]
    turns = []
    for e in events:
        if e["type"] == "input_audio_buffer.speech_stopped":
            out = d.send("conversation.item.retrieve", item_id=e["item_id"])
            turns.append(decode(base64.b64decode(out[0]["item"]["content"][0]["audio"]), "pcm16"))
    return marks, turns


def _offline(path: InputPath, audio: np.ndarray) -> tuple[list[tuple[str, int]], list[np.ndarray]]:
    decisions = [d for lo in range(0, audio.size, CHUNK) for d in path.feed(audio[lo : lo + CHUNK])]
    marks = [
        ("speech_started", round(d.audio_start_ms))
        if isinstance(d, SpeechStart)
        else ("speech_stopped", round(d.audio_end_ms))
        for d in decisions
    ]
    return marks, [d.audio for d in decisions if isinstance(d, SpeechStop)]


@pytest.mark.parametrize("noise_reduction", [None, "near_field", "far_field"])
@pytest.mark.parametrize("detection", sorted(DETECTIONS))
def test_offline_path_decides_exactly_as_the_live_session(driver, models, detection, noise_reduction):
    sample = samples.load("noisy_10db" if noise_reduction else "turns")
    config = SessionConfig(turn_detection=DETECTIONS[detection], noise_reduction=noise_reduction)

    d = driver(Dialect.GA)
    turn_detection = config.to_wire(Dialect.GA)["audio"]["input"]["turn_detection"]
    nr = None if noise_reduction is None else {"type": noise_reduction}
    vad_session(d, turn_detection, noise_reduction=nr)
    assert (d.session.config.turn_detection, d.session.config.noise_reduction) == (
        config.turn_detection,
        noise_reduction,
    )
    live_marks, live_turns = _live(d, sample.audio)

    path = InputPath.for_config(models, config)
    try:
        marks, turns = _offline(path, sample.audio)
    finally:
        path.close()

    assert [kind for kind, _ in live_marks].count("speech_stopped") >= len(sample.segments)
    assert marks == live_marks
    assert len(turns) == len(live_turns)
    for offline, live in zip(turns, live_turns, strict=True):
        assert np.array_equal(offline, live)


def test_offline_path_accepts_wire_bytes(models):
    sample = samples.load("turns")
    config = SessionConfig(turn_detection=ServerVad(create_response=False))
    a, b = InputPath.for_config(models, config), InputPath.for_config(models, config)
    try:
        chunks = [sample.audio[lo : lo + CHUNK] for lo in range(0, sample.audio.size, CHUNK)]
        as_arrays = [d for c in chunks for d in a.feed(c)]
        as_bytes = [d for c in chunks for d in b.feed(c.astype("<i2").tobytes())]
    finally:
        a.close()
        b.close()
    strip = [(type(d), d.audio_start_ms, getattr(d, "audio_end_ms", None)) for d in as_arrays]
    assert strip == [(type(d), d.audio_start_ms, getattr(d, "audio_end_ms", None)) for d in as_bytes]
    assert len(strip) == 2 * len(sample.segments)


def test_the_turn_in_progress_is_carried_by_the_buffer_status(models):
    audio = np.concatenate([samples.load("single").audio, np.zeros(RATE, np.int16)])
    path = InputPath.for_config(models, SessionConfig(turn_detection=ServerVad(create_response=False)))
    seen: list[tuple[BufferState, str | None]] = []
    try:
        for lo in range(0, audio.size, CHUNK):
            for decision in path.feed(audio[lo : lo + CHUNK]):
                speech = path.status.speech
                seen.append((path.state, None if speech is None else speech.item_id))
                if isinstance(decision, SpeechStart):
                    assert speech == Utterance(decision.item_id, decision.audio_start_ms)
    finally:
        path.close()
    (started, start_item), (stopped, stop_item) = seen
    assert (started, stopped) == (BufferState.SPEECH, BufferState.HOLDING)  # the tail after the turn
    assert start_item is not None and stop_item is None
    with pytest.raises(ValueError):  # no speech without SPEECH, no SPEECH without speech
        BufferStatus(BufferState.HOLDING, Utterance("item_x", 0.0))
    with pytest.raises(ValueError):
        BufferStatus(BufferState.SPEECH)


def test_a_new_turn_detection_restarts_detection_on_the_buffered_audio(models):
    sample = samples.load("single")
    path = InputPath.for_config(models, SessionConfig(turn_detection=ServerVad(create_response=False)))
    try:
        start_ms = sample.segments[0].ms()[0]
        middle = int((start_ms + 500) * RATE / 1000)
        decisions = [d for lo in range(0, middle, CHUNK) for d in path.feed(sample.audio[lo : lo + CHUNK])]
        assert [type(d) for d in decisions] == [SpeechStart] and path.state is BufferState.SPEECH
        path.reconfigure(
            input_format="pcm16",
            noise_reduction=None,
            denoiser=None,
            turn_detection=SemanticVad(create_response=False),
        )
        assert (path.state, path.status.speech, path.vad_state.value) == (BufferState.HOLDING, None, "quiet")
        path.clear()
        before = (path.status, path.buffered_samples)
        with pytest.raises(IllegalTransition, match="input buffer: 'commit' is not allowed in state 'empty'"):
            path.commit()  # the session refuses it first (commit_empty); the table is the backstop
        assert (path.status, path.buffered_samples) == before
    finally:
        path.close()
