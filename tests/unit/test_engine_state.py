"""Transition tables and turn detectors in isolation (scripted VAD probabilities on the audio clock)."""

from __future__ import annotations

import pytest

from realtime_nb.engine.state import (
    BUFFER_TABLE,
    DETECTION_RESTARTS,
    ITEM_TABLE,
    RESPONSE_TABLE,
    RUN_TABLE,
    SESSION_TABLE,
    VAD_TABLE,
    BufferState,
    BufferTrigger,
    EngineSessionState,
    IllegalTransition,
    ItemState,
    ItemTrigger,
    ResponseState,
    ResponseTrigger,
    RunPhase,
    RunTrigger,
    SessionTrigger,
    VadTrigger,
    advance,
    allowed,
)
from realtime_nb.engine.turn_detection import (
    EAGERNESS,
    SemanticVadDetector,
    ServerVadDetector,
    SpeechStarted,
    TurnEnded,
    VadState,
)
from realtime_nb.protocol import SemanticVad, ServerVad

FRAME = 32.0


def feed(detector, probs: list[float]) -> list[tuple[int, object]]:
    """(frame index, decision) for every decision."""
    out = []
    for i, p in enumerate(probs):
        for d in detector.feed(p, i * FRAME, (i + 1) * FRAME):
            out.append((i, d))
    return out


def test_terminal_states_accept_nothing():
    for state in (
        ResponseState.COMPLETED,
        ResponseState.CANCELLED,
        ResponseState.INCOMPLETE,
        ResponseState.FAILED,
    ):
        for trigger in ResponseTrigger:
            with pytest.raises(IllegalTransition, match="not allowed"):
                advance("response", RESPONSE_TABLE, state, trigger)
    for trigger in SessionTrigger:
        with pytest.raises(IllegalTransition):
            advance("session", SESSION_TABLE, EngineSessionState.CLOSED, trigger)


def test_legal_paths():
    assert (
        advance("s", SESSION_TABLE, EngineSessionState.OPEN, SessionTrigger.EXPIRE)
        is EngineSessionState.EXPIRED
    )
    assert (
        advance("s", SESSION_TABLE, EngineSessionState.EXPIRED, SessionTrigger.CLOSE)
        is EngineSessionState.CLOSED
    )
    assert advance("b", BUFFER_TABLE, BufferState.HOLDING, BufferTrigger.SPEECH_START) is BufferState.SPEECH
    assert advance("i", ITEM_TABLE, ItemState.IN_PROGRESS, ItemTrigger.INTERRUPT) is ItemState.INCOMPLETE
    with pytest.raises(IllegalTransition):  # speech cannot start in an empty buffer (no audio yet)
        advance("b", BUFFER_TABLE, BufferState.EMPTY, BufferTrigger.SPEECH_START)
    with pytest.raises(IllegalTransition):  # an item being generated cannot be truncated
        advance("i", ITEM_TABLE, ItemState.IN_PROGRESS, ItemTrigger.TRUNCATE)


TABLES = {
    "session": (SESSION_TABLE, EngineSessionState, SessionTrigger),
    "input buffer": (BUFFER_TABLE, BufferState, BufferTrigger),
    "response": (RESPONSE_TABLE, ResponseState, ResponseTrigger),
    "item": (ITEM_TABLE, ItemState, ItemTrigger),
    "response run": (RUN_TABLE, RunPhase, RunTrigger),
    "turn detector": (VAD_TABLE, VadState, VadTrigger),
}


@pytest.mark.parametrize("machine", sorted(TABLES))
def test_allowed_is_exactly_where_advance_does_not_raise(machine):
    table, states, triggers = TABLES[machine]
    assert set(table) == set(states), "every state has its row"
    for state in table:
        assert set(table[state].values()) <= set(states)
        for trigger in triggers:
            if allowed(table, state, trigger):
                assert advance(machine, table, state, trigger) is table[state][trigger]
            else:
                with pytest.raises(IllegalTransition, match=f"{machine}: '{trigger.value}'"):
                    advance(machine, table, state, trigger)


def test_buffer_edges_for_turns_commits_timeouts_and_restarts():
    b = BufferState
    edges = {
        (b.EMPTY, BufferTrigger.APPEND): b.HOLDING,
        (b.HOLDING, BufferTrigger.SPEECH_START): b.SPEECH,
        (b.SPEECH, BufferTrigger.APPEND): b.SPEECH,
        (b.SPEECH, BufferTrigger.TURN_END): b.EMPTY,
        (b.SPEECH, BufferTrigger.TURN_END_WITH_TAIL): b.HOLDING,  # the audio after the turn stays
        (b.HOLDING, BufferTrigger.COMMIT): b.EMPTY,
        (b.SPEECH, BufferTrigger.COMMIT): b.EMPTY,
        (b.EMPTY, BufferTrigger.IDLE_TIMEOUT): b.EMPTY,  # the service commits a silent item
        (b.HOLDING, BufferTrigger.IDLE_TIMEOUT): b.EMPTY,
        (b.SPEECH, BufferTrigger.RESTART_DETECTION): b.HOLDING,  # speech so far is no turn yet
        (b.HOLDING, BufferTrigger.RESTART_DETECTION): b.HOLDING,
        (b.EMPTY, BufferTrigger.RESTART_DETECTION): b.EMPTY,
    }
    for (state, trigger), target in edges.items():
        assert advance("b", BUFFER_TABLE, state, trigger) is target
    for state in BufferState:
        assert advance("b", BUFFER_TABLE, state, BufferTrigger.CLEAR) is b.EMPTY
    refused = [
        (b.EMPTY, BufferTrigger.COMMIT),  # input_audio_buffer_commit_empty
        (b.SPEECH, BufferTrigger.IDLE_TIMEOUT),  # the user is speaking: not idle
        (b.EMPTY, BufferTrigger.TURN_END),  # a turn ends only in speech
        (b.HOLDING, BufferTrigger.TURN_END_WITH_TAIL),
        (b.SPEECH, BufferTrigger.SPEECH_START),
    ]
    for state, trigger in refused:
        assert not allowed(BUFFER_TABLE, state, trigger)


def test_detection_restarts_on_every_trigger_that_ends_what_it_followed():
    assert set(BufferTrigger) - DETECTION_RESTARTS == {BufferTrigger.APPEND, BufferTrigger.SPEECH_START}
    for trigger in DETECTION_RESTARTS:  # none of them can leave the buffer in speech
        assert all(edges.get(trigger) is not BufferState.SPEECH for edges in BUFFER_TABLE.values())


def test_run_phases():
    r = RunPhase
    assert advance("run", RUN_TABLE, r.HEARING, RunTrigger.HEARD) is r.RESPONDING
    assert advance("run", RUN_TABLE, r.RESPONDING, RunTrigger.SPEAK) is r.SPEAKING
    for phase in (r.HEARING, r.RESPONDING, r.SPEAKING):  # cancel, limit or failure at any point
        assert advance("run", RUN_TABLE, phase, RunTrigger.END) is r.DONE
    assert not allowed(RUN_TABLE, r.HEARING, RunTrigger.SPEAK)  # nothing to say before the responder
    assert not allowed(RUN_TABLE, r.SPEAKING, RunTrigger.HEARD)
    for trigger in RunTrigger:
        with pytest.raises(IllegalTransition, match="not allowed in state 'done'"):
            advance("response run", RUN_TABLE, r.DONE, trigger)


def test_server_vad_needs_three_frames_and_reports_the_first():
    det = ServerVadDetector(ServerVad(silence_duration_ms=200))
    assert feed(det, [0.1, 0.9, 0.1, 0.9, 0.9, 0.1]) == []  # runs of 1 and 2 frames: no speech
    assert det.state is VadState.QUIET
    decisions = feed(det, [0.1, 0.9, 0.9, 0.9, 0.9])
    assert decisions == [(3, SpeechStarted(1 * FRAME))]


def test_server_vad_hysteresis_and_silence_window():
    det = ServerVadDetector(ServerVad(threshold=0.5, silence_duration_ms=200), release_delta=0.15)
    probs = [0.9] * 5 + [0.4] * 20 + [0.2] * 10  # 0.4 is below threshold but above the release (0.35)
    decisions = feed(det, probs)
    assert decisions[0] == (2, SpeechStarted(0.0))
    (i, ended) = decisions[1]
    silence_start = 25 * FRAME
    assert ended == TurnEnded(silence_start + 200) and i == 25 + 6  # 7 frames of 32 ms >= 200 ms
    assert det.state is VadState.QUIET


def test_server_vad_dates_a_short_decay_tail_from_the_threshold_crossing():
    det = ServerVadDetector(ServerVad(threshold=0.5, silence_duration_ms=200), release_delta=0.15)
    decisions = feed(det, [0.9] * 5 + [0.45, 0.4] + [0.1] * 10)  # 64 ms of decay, then silence
    assert decisions[1][1] == TurnEnded(5 * FRAME + 200)


def test_server_vad_speech_resuming_resets_the_silence():
    det = ServerVadDetector(ServerVad(silence_duration_ms=200))
    decisions = feed(det, [0.9] * 4 + [0.1] * 5 + [0.9] * 2 + [0.1] * 7)
    assert [type(d) for _, d in decisions] == [SpeechStarted, TurnEnded]
    assert decisions[1][1] == TurnEnded(11 * FRAME + 200)


def _level_from(loud_until_ms: float, loud_db: float = -20.0, quiet_db: float = -70.0, *, resume_ms=None):
    """A level function for a scripted signal: loud until ``loud_until_ms``, then quiet (and loud
    again from ``resume_ms``). Each span's level is that of its loudest part, as an RMS would be."""

    def level(start_ms: float, end_ms: float) -> float:
        loud = start_ms < loud_until_ms or (resume_ms is not None and end_ms > resume_ms)
        return loud_db if loud else quiet_db

    return level


def test_server_vad_dates_the_pause_from_the_energy_offset_when_the_vad_lags():
    # Speech really ends at 140 ms; the VAD still says 0.9 until frame 7 (224 ms), as Silero does.
    det = ServerVadDetector(ServerVad(silence_duration_ms=200), level=_level_from(140.0))
    decisions = feed(det, [0.9] * 7 + [0.1] * 10)
    ended = decisions[1][1]
    assert isinstance(ended, TurnEnded)
    assert 140.0 <= ended.end_ms - 200 <= 148.0  # within one 8 ms step of the true end


def test_server_vad_keeps_the_vad_date_when_nothing_stands_out():
    # Steady noise as loud as the speech: no offset in the level, so the VAD's own date stands.
    det = ServerVadDetector(ServerVad(silence_duration_ms=200), level=lambda a, b: -30.0)
    decisions = feed(det, [0.9] * 7 + [0.1] * 10)
    assert decisions[1][1] == TurnEnded(7 * FRAME + 200)


def test_server_vad_moves_the_date_back_at_most_the_search_span():
    det = ServerVadDetector(ServerVad(silence_duration_ms=200), level=_level_from(40.0))
    decisions = feed(det, [0.9] * 12 + [0.1] * 10)  # the VAD lags the level by 344 ms
    assert decisions[1][1] == TurnEnded(12 * FRAME + 200)  # too far back to be the VAD's tail


def test_server_vad_ends_between_frames_once_the_processed_audio_covers_the_window():
    det = ServerVadDetector(ServerVad(silence_duration_ms=200), level=_level_from(5 * FRAME))
    assert [type(d) for _, d in feed(det, [0.9] * 5 + [0.1] * 6)] == [SpeechStarted]
    # the pause began at 160 ms; frames cover up to 352 ms; the window ends at 360 ms
    assert det.advance(355.0) == []
    assert det.advance(361.0) == [TurnEnded(360.0)]
    assert det.state is VadState.QUIET and det.advance(400.0) == []


def test_server_vad_waits_for_the_vad_when_the_partial_window_is_loud():
    level = _level_from(5 * FRAME, resume_ms=11 * FRAME + 4)  # the talker resumes after frame 10
    det = ServerVadDetector(ServerVad(silence_duration_ms=200), level=level)
    feed(det, [0.9] * 5 + [0.1] * 6)
    assert det.advance(365.0) == []
    assert det.state is VadState.PAUSED  # still undecided: the next frames will tell


def test_server_vad_without_a_level_decides_on_frames_only():
    det = ServerVadDetector(ServerVad(silence_duration_ms=200))
    feed(det, [0.9] * 5 + [0.1] * 6)
    assert det.advance(1000.0) == []


def test_semantic_vad_asks_the_model_per_eagerness():
    asked: list[float] = []

    def ask(now_ms: float) -> float:  # stands in for the end-of-turn model: first unsure, then sure
        asked.append(now_ms)
        return 0.3 if len(asked) == 1 else 0.99

    det = SemanticVadDetector(SemanticVad(eagerness="medium"), ask)
    decisions = feed(det, [0.9] * 10 + [0.1] * 60)
    policy = EAGERNESS["medium"]
    silence_start = 10 * FRAME
    assert (
        asked[0] - silence_start >= policy.ask_after_ms
        and asked[0] - silence_start < policy.ask_after_ms + FRAME
    )
    assert asked[1] - asked[0] >= 500 - FRAME
    assert decisions[-1][1] == TurnEnded(asked[1])


def test_semantic_vad_forced_end_at_max_wait():
    det = SemanticVadDetector(SemanticVad(eagerness="high"), lambda now: 0.0)
    decisions = feed(det, [0.9] * 5 + [0.0] * 80)
    end = decisions[-1][1]
    assert isinstance(end, TurnEnded) and end.end_ms - 5 * FRAME >= EAGERNESS["high"].max_wait_ms
    assert end.end_ms - 5 * FRAME < EAGERNESS["high"].max_wait_ms + FRAME


def test_eagerness_mapping_is_ordered():
    low, medium, high = EAGERNESS["low"], EAGERNESS["medium"], EAGERNESS["high"]
    assert EAGERNESS["auto"] == medium
    assert low.ask_after_ms > medium.ask_after_ms > high.ask_after_ms
    assert low.threshold > medium.threshold > high.threshold
    assert (low.max_wait_ms, medium.max_wait_ms, high.max_wait_ms) == (8000, 4000, 2000)


def _onset_level(onset_ms: float, loud_db: float = -20.0, floor_db: float = -120.0):
    """A level function for speech beginning at ``onset_ms`` over a floor: a span is as loud as its
    loudest part, as an RMS would be."""

    def level(start_ms: float, end_ms: float) -> float:
        return loud_db if end_ms > onset_ms else floor_db

    return level


def test_server_vad_dates_the_start_from_the_energy_onset_when_the_vad_lags():
    # Speech begins at 70 ms; the VAD's first frame over the threshold is frame 3 (96 ms), as Silero's is.
    det = ServerVadDetector(ServerVad(silence_duration_ms=200), level=_onset_level(70.0))
    [(i, started)] = feed(det, [0.1, 0.1, 0.2, 0.9, 0.9, 0.9])
    assert i == 5 and isinstance(started, SpeechStarted)
    assert 62.0 <= started.start_ms <= 70.0  # within one 8 ms step of the true onset


def test_the_energy_onset_never_lets_a_single_frame_start_speech():
    det = ServerVadDetector(ServerVad(silence_duration_ms=200), level=_onset_level(0.0))
    assert feed(det, [0.1, 0.9, 0.1, 0.9, 0.9, 0.1, 0.1]) == []  # loud all along; runs of 1 and 2 frames
    assert det.state is VadState.QUIET


def test_server_vad_dates_the_start_later_inside_a_first_frame_that_began_in_silence():
    det = ServerVadDetector(ServerVad(silence_duration_ms=200), level=_onset_level(110.0))
    assert feed(det, [0.1, 0.1, 0.1, 0.9, 0.9, 0.9]) == [(5, SpeechStarted(104.0))]


def test_over_noise_the_start_only_moves_earlier():
    # Over a floor 20 dB under the speech, a rise inside the first frame is no evidence that the
    # speech began later (its first part may be under the noise): the VAD's date stands.
    det = ServerVadDetector(ServerVad(silence_duration_ms=200), level=_onset_level(110.0, floor_db=-40.0))
    assert feed(det, [0.1, 0.1, 0.1, 0.9, 0.9, 0.9]) == [(5, SpeechStarted(96.0))]
    det = ServerVadDetector(ServerVad(silence_duration_ms=200), level=_onset_level(600.0, floor_db=-40.0))
    [(_, started)] = feed(det, [0.1] * 20 + [0.9] * 3)
    assert 592.0 <= started.start_ms <= 600.0  # 40 ms before the VAD's 640 ms


def test_server_vad_keeps_the_vad_start_when_no_rise_stands_out():
    # Steady noise as loud as the speech: loud all the way back, so no rise to date.
    det = ServerVadDetector(ServerVad(silence_duration_ms=200), level=lambda a, b: -30.0)
    assert feed(det, [0.1] * 10 + [0.9] * 3) == [(12, SpeechStarted(10 * FRAME))]


def test_server_vad_moves_the_start_back_at_most_the_search_span():
    det = ServerVadDetector(ServerVad(silence_duration_ms=200), level=_onset_level(400.0))
    assert feed(det, [0.1] * 20 + [0.9] * 3) == [(22, SpeechStarted(20 * FRAME))]  # 240 ms is too far


def test_the_vad_date_is_the_rule_before_the_energy_onset():
    for det in (
        ServerVadDetector(ServerVad(silence_duration_ms=200), level=_onset_level(70.0), date_onset=False),
        SemanticVadDetector(SemanticVad(), lambda now: 0.0, level=_onset_level(70.0), date_onset=False),
    ):
        assert not det.date_onset
        assert feed(det, [0.1, 0.1, 0.2, 0.9, 0.9, 0.9]) == [(5, SpeechStarted(3 * FRAME))]
    det = SemanticVadDetector(SemanticVad(), lambda now: 0.0, level=_onset_level(70.0))
    [(_, started)] = feed(det, [0.1, 0.1, 0.2, 0.9, 0.9, 0.9])
    assert det.date_onset and 62.0 <= started.start_ms <= 70.0
