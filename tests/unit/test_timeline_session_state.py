"""What the log hands the layers above it: canonical events, the session configuration in force along
the log (one precedence rule for the decoder, `turns()` and `WaveformCompare`), and the order check
of a recorded session."""

from __future__ import annotations

import numpy as np

from realtime_nb.audio import pcm_to_b64
from realtime_nb.protocol import Dialect, OrderViolation, SemanticVad, ServerVad, SessionConfig
from realtime_nb.timeline import EventLog
from realtime_nb.widgets.waveform import read_item

MS = 1_000_000
RATE = 24000
TONE = (0.3 * 32767 * np.sin(2 * np.pi * 300 * np.arange(2 * RATE) / RATE)).astype(np.int16)


def _vad(silence: int, prefix: int = 300) -> dict:
    return {"type": "server_vad", "prefix_padding_ms": prefix, "silence_duration_ms": silence}


def _ga(**audio_input: object) -> dict:
    return {"type": "realtime", "audio": {"input": audio_input}}


def _log(events: list[tuple[str, dict]], dialect: str = "ga") -> EventLog:
    log = EventLog(start_ns=0)
    for i, (direction, event) in enumerate(events):
        log.record(direction, event, dialect, t_ns=i * MS)
    return log


def _turn(item_id: str = "item_u") -> list[tuple[str, dict]]:
    item = {"id": item_id, "type": "message", "role": "user", "content": [{"type": "input_audio"}]}
    ids = {"item_id": item_id}
    kept = {**item, "content": [{"type": "input_audio", "audio": pcm_to_b64(TONE[:RATE])}]}
    return [
        ("sent", {"type": "input_audio_buffer.append", "audio": pcm_to_b64(TONE)}),
        ("received", {"type": "input_audio_buffer.speech_started", "audio_start_ms": 200, **ids}),
        ("received", {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 1800, **ids}),
        ("received", {"type": "input_audio_buffer.committed", "previous_item_id": None, **ids}),
        ("received", {"type": "conversation.item.added", "item": item, "previous_item_id": None}),
        ("received", {"type": "conversation.item.retrieved", "item": kept}),
    ]


# --- the precedence rule ---------------------------------------------------------------------


def test_a_request_is_in_force_until_the_server_answers_and_the_answer_wins():
    log = _log([
        ("received", {"type": "session.created", "session": _ga(turn_detection=_vad(500))}),
        ("sent", {"type": "session.update", "event_id": "c1", "session": _ga(turn_detection=_vad(900))}),
        ("received", {"type": "session.updated", "session": _ga(turn_detection=_vad(700))}),
    ])  # fmt: skip
    silences = [log.session_config(seq).turn_detection.silence_duration_ms for seq in range(3)]
    assert silences == [500, 900, 700]  # asked for 900, the service runs 700: the service is right
    assert log.session_config() == log.session_config(2)


def test_a_refused_request_is_withdrawn_and_the_audio_after_it_decodes_as_before():
    update = {"type": "session.update", "event_id": "c1", "session": {"input_audio_format": "g711_ulaw"}}
    refusal = {"type": "error", "error": {"type": "invalid_request_error", "code": "x", "message": "no",
                                          "event_id": "c1"}}  # fmt: skip
    log = _log([("received", {"type": "session.created", "session": {}}), ("sent", update)], "preview")
    assert log.session_config().input_format == "g711_ulaw"  # the client streams it at once
    log.record("received", refusal, "preview", t_ns=5 * MS)
    assert log.session_config().input_format == "pcm16"
    log.record("sent", {"type": "input_audio_buffer.append", "audio": pcm_to_b64(TONE[:480])}, "preview")
    assert log.frame()["audio_ms"].iloc[-1] == 20.0  # 960 bytes of pcm16, not of G.711


def test_a_request_the_protocol_refuses_never_takes_effect():
    no_type = {"audio": {"input": {"format": {"type": "audio/pcmu"}}}}  # GA requires session.type
    created = {"type": "session.created", "session": {"type": "realtime"}}
    log = _log([("received", created), ("sent", {"type": "session.update", "session": no_type})])
    assert log.session_config(1) == log.session_config(0) == SessionConfig()


def test_no_session_event_means_unknown_and_the_decoder_takes_the_defaults():
    log = _log([("sent", {"type": "input_audio_buffer.append", "audio": pcm_to_b64(TONE[:480])})])
    assert log.session_config() is None and log.frame()["audio_ms"].iloc[0] == 20.0


def test_turns_and_waveform_share_the_rule():
    """The client asks for 900 ms / 300 ms, the server answers 700 ms / 100 ms: both readers use 700 / 100."""
    asked = _ga(turn_detection=_vad(900, prefix=300))
    answered = _ga(turn_detection=_vad(700, prefix=100))
    log = _log([
        ("received", {"type": "session.created", "session": _ga(turn_detection=_vad(500))}),
        ("sent", {"type": "session.update", "event_id": "c1", "session": asked}),
        ("received", {"type": "session.updated", "session": answered}),
        *_turn(),
    ])  # fmt: skip
    assert log.turns().iloc[0]["silence_duration_ms"] == 700
    assert read_item(log, "item_u").speech_ms == (200 + 100, 1800 - 700)
    # while the answer is still out, both take the request
    pending = _log([
        ("received", {"type": "session.created", "session": _ga(turn_detection=_vad(500))}),
        ("sent", {"type": "session.update", "event_id": "c1", "session": asked}),
        *_turn(),
    ])  # fmt: skip
    assert pending.turns().iloc[0]["silence_duration_ms"] == 900
    assert read_item(pending, "item_u").speech_ms == (200 + 300, 1800 - 900)


def test_both_dialects_report_the_same_configuration():
    preview = {"input_audio_format": "g711_alaw", "voice": "echo", "turn_detection": {"type": "semantic_vad"},
               "input_audio_noise_reduction": {"type": "far_field"}, "modalities": ["text"]}  # fmt: skip
    ga = {"type": "realtime", "output_modalities": ["text"],
          "audio": {"input": {"format": {"type": "audio/pcma"}, "turn_detection": {"type": "semantic_vad"},
                              "noise_reduction": {"type": "far_field"}},
                    "output": {"voice": "echo"}}}  # fmt: skip
    configs = [
        _log([("received", {"type": "session.updated", "session": session})], dialect).session_config()
        for session, dialect in ((preview, "preview"), (ga, "ga"))
    ]
    assert configs[0] == configs[1]
    assert (configs[0].input_format, configs[0].turn_detection, configs[0].noise_reduction) == (
        "g711_alaw",
        SemanticVad(),
        "far_field",
    )


def test_a_value_newer_than_this_package_is_set_aside_and_the_rest_is_read():
    session = {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}},
                                             "output": {"voice": "a-voice-from-2027"}}}  # fmt: skip
    log = _log([("received", {"type": "session.updated", "session": session})])
    config = log.session_config()
    assert config.input_format == "g711_ulaw" and config.voice == SessionConfig().voice
    assert "unknown voice 'a-voice-from-2027'" in log.frame()["issue"].iloc[0]


# --- canonical events ------------------------------------------------------------------------


def test_canonical_events_speak_ga_and_the_wire_stays_in_event_json():
    content = [{"type": "audio", "transcript": "hi"}]
    item = {"id": "i1", "type": "message", "role": "assistant", "content": content}
    log = _log([
        ("received", {"type": "session.updated", "session": {"input_audio_format": "g711_ulaw",
                                                             "turn_detection": _vad(650)}}),
        ("received", {"type": "conversation.item.created", "previous_item_id": None, "item": item}),
        ("received", {"type": "response.audio.delta", "response_id": "r", "item_id": "i1",
                      "output_index": 0, "content_index": 0, "delta": pcm_to_b64(TONE[:240])}),
    ], "preview")  # fmt: skip
    frame = log.frame()
    wire = ["session.updated", "conversation.item.created", "response.audio.delta"]
    assert list(frame["wire_type"]) == wire
    assert [log.event_json(i)["type"] for i in range(3)] == list(frame["wire_type"])
    assert [log.canonical_event(i)["type"] for i in range(3)] == list(frame["type"])
    assert log.canonical_event(1)["item"]["content"][0]["type"] == "output_audio"
    assert log.event_json(1)["item"]["content"][0]["type"] == "audio"
    session = log.canonical_event(0)["session"]
    assert SessionConfig.from_wire(session, Dialect.GA) == log.session_config(0)
    assert log.session_config(0).turn_detection == ServerVad(silence_duration_ms=650)


def test_responses_name_the_modalities_canonically():
    created = {"type": "response.created", "response": {"id": "r", "status": "in_progress",
                                                        "modalities": ["audio", "text"]}}  # fmt: skip
    assert _log([("received", created)], "preview").responses().iloc[0]["output_modalities"] == "audio"


# --- the order of a recorded session ---------------------------------------------------------


def _session(*, misordered: bool = False) -> EventLog:
    rid, iid = "resp_1", "item_a"
    part = {"response_id": rid, "item_id": iid, "output_index": 0, "content_index": 0}
    message = {"id": iid, "type": "message", "role": "assistant", "status": "in_progress", "content": []}
    item = {"response_id": rid, "output_index": 0, "item": message}
    body = [
        ("received", {"type": "response.output_item.added", **item}),
        ("received", {"type": "conversation.item.added", "previous_item_id": None, "item": message}),
        ("received", {"type": "response.content_part.added", **part, "part": {"type": "audio"}}),
        ("received", {"type": "response.output_audio.delta", **part, "delta": pcm_to_b64(TONE[:2400])}),
        ("received", {"type": "response.output_audio.done", **part}),
        ("received", {"type": "response.content_part.done", **part, "part": {"type": "audio"}}),
        ("received", {"type": "response.output_item.done", **item}),
        ("received", {"type": "conversation.item.done", "previous_item_id": None, "item": message}),
    ]  # fmt: skip
    done = ("received", {"type": "response.done", "response": {"id": rid, "status": "completed"}})
    events = [
        ("received", {"type": "session.created", "session": {"type": "realtime"}}),
        ("sent", {"type": "response.create"}),
        ("received", {"type": "response.created",
                      "response": {"id": rid, "status": "in_progress", "usage": None}}),
        *([done, *body] if misordered else [*body, done]),
        ("received", {"type": "rate_limits.updated", "rate_limits": []}),
    ]  # fmt: skip
    return _log(events)


def test_a_recorded_session_passes_the_order_check():
    assert _session().check_order() == []


def test_a_misordered_session_fails_with_a_clear_violation_at_its_row():
    log = _session(misordered=True)
    problems = log.check_order()
    delta = int(log.frame().query("type == 'response.output_audio.delta'")["seq"].iloc[0])
    message = f"response.output_audio.delta #{delta} of response resp_1 outside its response.created .. "
    message += "response.done"
    assert OrderViolation("response", delta, message) in problems
    assert all(isinstance(p.at, int) for p in problems)  # every one points at a row
