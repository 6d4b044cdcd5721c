"""EventLog.save / load: one zip, exact round trip of rows and every audio store, no secrets in the
file, clear errors for files it cannot read."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from realtime_nb.audio import pcm_to_b64
from realtime_nb.timeline import FORMAT_VERSION, EventLog, LogFormatError

MS = 1_000_000
RNG = np.random.default_rng(11)
KEYS = [  # fakes; split so key scanners do not flag them
    "ek_9f8e7d6c5b4a39281706",
    "sk-" + "proj-abcdefghijklmnop",
    "0123456789abcdef0123456789abcdef",
]


def _noise(n: int) -> np.ndarray:
    return RNG.integers(-9000, 9000, n).astype(np.int16)


def _session_with_everything() -> EventLog:
    """A G.711 preview session touching every store, with secrets in its events."""
    log = EventLog(start_ns=0, wall_start_ns=1_750_000_000 * 10**9)
    rec = log.record
    rec(
        "received",
        {
            "type": "session.created",
            "event_id": "s0",
            "session": {
                "id": "sess",
                "input_audio_format": "g711_ulaw",
                "output_audio_format": "g711_alaw",
                "client_secret": {"value": KEYS[0], "expires_at": 1},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 300},
            },
        },
        "preview",
        t_ns=0,
    )
    rec(
        "sent",
        {
            "type": "session.update",
            "event_id": "c0",
            "session": {"instructions": "hi"},
            "api-key": KEYS[2],
            "authorization": f"Bearer {KEYS[1]}",
        },
        "preview",
        t_ns=MS,
    )
    for k in range(50):
        audio = pcm_to_b64(_noise(160), "g711_ulaw")
        rec(
            "sent",
            {"type": "input_audio_buffer.append", "event_id": f"a{k}", "audio": audio},
            "preview",
            t_ns=(10 + 20 * k) * MS,
            wire_bytes=len(audio) + 60,
        )
    rec(
        "received",
        {"type": "input_audio_buffer.speech_started", "audio_start_ms": 100, "item_id": "u1"},
        "preview",
        t_ns=300 * MS,
    )
    rec(
        "received",
        {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 800, "item_id": "u1"},
        "preview",
        t_ns=850 * MS,
    )
    rec("received", {"type": "input_audio_buffer.committed", "item_id": "u1"}, "preview", t_ns=860 * MS)
    rec(
        "received",
        {"type": "response.created", "response": {"id": "r1", "status": "in_progress"}},
        "preview",
        t_ns=900 * MS,
    )
    for k in range(4):
        silent = k == 0
        samples = np.zeros(400, np.int16) if silent else _noise(400)
        rec(
            "received",
            {
                "type": "response.audio.delta",
                "response_id": "r1",
                "item_id": "a1",
                "output_index": 0,
                "content_index": 0,
                "delta": pcm_to_b64(samples, "g711_alaw"),
            },
            "preview",
            t_ns=(950 + 10 * k) * MS,
        )
    rec(
        "received",
        {"type": "response.done", "response": {"id": "r1", "status": "completed"}},
        "preview",
        t_ns=1100 * MS,
    )
    rec(
        "sent",
        {
            "type": "conversation.item.create",
            "item": {
                "id": "mine",
                "type": "message",
                "role": "user",
                "content": [{"type": "input_audio", "audio": pcm_to_b64(_noise(80), "g711_ulaw")}],
            },
        },
        "preview",
        t_ns=1200 * MS,
    )
    rec(
        "received",
        {
            "type": "conversation.item.retrieved",
            "item": {
                "id": "u1",
                "type": "message",
                "role": "user",
                "content": [{"type": "input_audio", "audio": pcm_to_b64(_noise(800), "g711_ulaw")}],
            },
        },
        "preview",
        t_ns=1300 * MS,
    )
    log.record_problem("received", "protocol_error", "bad JSON", raw=f'{{"key": "{KEYS[0]}"', t_ns=1400 * MS)
    log.record_problem("received", "connection_closed", "closed", code=1006, reason=None, t_ns=1500 * MS)
    return log


def test_round_trip_is_exact(tmp_path):
    log = _session_with_everything()
    back = EventLog.load(log.save(tmp_path / "s.rtlog"))
    pd.testing.assert_frame_equal(back.frame(), log.frame())
    pd.testing.assert_frame_equal(back.turns(), log.turns())
    pd.testing.assert_frame_equal(back.responses(), log.responses())
    for get, key in (
        (lambda g: g.sent_audio(), None),
        (lambda g: g.response_audio("r1"), None),
        (lambda g: g.retrieved_audio("u1"), None),
        (lambda g: g.item_audio("mine"), None),
        (lambda g: g.item_audio("u1"), None),
        (lambda g: g.sent_audio(-5, 2000), None),
    ):
        np.testing.assert_array_equal(get(back), get(log))
        assert get(back).dtype == np.int16, key
    assert [back.event_json(i) for i in range(len(back))] == [log.event_json(i) for i in range(len(log))]
    assert back.item_span("u1") == log.item_span("u1")
    assert log.turns().iloc[0]["t_first_audible"] == pytest.approx(0.96)  # first delta was digital silence


def test_recording_goes_on_after_load_in_the_same_formats(tmp_path):
    log = _session_with_everything()
    back = EventLog.load(log.save(tmp_path / "s.rtlog"))
    audio = pcm_to_b64(_noise(160), "g711_ulaw")
    for target in (log, back):
        target.record(
            "sent", {"type": "input_audio_buffer.append", "audio": audio}, "preview", t_ns=2000 * MS
        )
    assert back.frame()["audio_ms"].iloc[-1] == 20.0
    # the 8 kHz stream is resampled per segment: the loaded part ends at the seam, the original filter
    # looks across it, so only the last few ms before the seam may differ
    seam = 50 * 480
    assert back.sent_audio().size == log.sent_audio().size == seam + 480
    np.testing.assert_array_equal(back.sent_audio()[: seam - 960], log.sent_audio()[: seam - 960])


def test_saved_file_holds_no_secret(tmp_path):
    path = _session_with_everything().save(tmp_path / "s.rtlog")
    blobs = [path.read_bytes()]
    with zipfile.ZipFile(path) as zf:
        blobs += [zf.read(name) for name in zf.namelist()]
    for secret in KEYS:
        assert not any(secret.encode() in blob for blob in blobs), secret


def test_file_layout(tmp_path):
    path = _session_with_everything().save(tmp_path / "s.rtlog")
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        meta = json.loads(zf.read("meta.json"))
        rows = zf.read("rows.jsonl").decode().splitlines()
    assert {
        "meta.json",
        "rows.jsonl",
        "audio/input.npy",
        "audio/response.npy",
        "audio/retrieved.npy",
        "audio/items.npy",
    } <= names
    assert meta["format_version"] == FORMAT_VERSION and meta["rows"] == len(rows)
    appends = [json.loads(r) for r in rows if '"input_audio_buffer.append"' in r]
    assert appends and all(
        "payload" not in r and r["shape"] == ["type", "event_id", "audio"] for r in appends
    )


def test_empty_log_round_trips(tmp_path):
    back = EventLog.load(EventLog().save(tmp_path / "e.rtlog"))
    assert len(back) == 0 and back.frame().empty and back.turns().empty and back.sent_audio().size == 0


def _rewrite(path, name: str, data: bytes | None) -> None:
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    if data is None:
        members.pop(name)
    else:
        members[name] = data
    with zipfile.ZipFile(path, "w") as zf:
        for n, blob in members.items():
            zf.writestr(n, blob)


def test_newer_format_version_is_refused_clearly(tmp_path):
    path = _session_with_everything().save(tmp_path / "s.rtlog")
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("meta.json"))
    meta["format_version"] = FORMAT_VERSION + 1
    _rewrite(path, "meta.json", json.dumps(meta).encode())
    with pytest.raises(LogFormatError, match=f"format version {FORMAT_VERSION + 1}.*upgrade realtime_nb"):
        EventLog.load(path)


@pytest.mark.parametrize(
    ("member", "data", "message"),
    [
        ("meta.json", None, "no readable meta.json"),
        ("meta.json", b'{"format": "something else"}', "not an EventLog file"),
        ("rows.jsonl", b'{"t_ns": 1}\n', "is damaged"),
        ("audio/input.npy", None, "is damaged"),
    ],
)
def test_damaged_files_give_clear_errors(tmp_path, member, data, message):
    path = _session_with_everything().save(tmp_path / "s.rtlog")
    _rewrite(path, member, data)
    with pytest.raises(LogFormatError, match=message):
        EventLog.load(path)


def test_not_a_zip(tmp_path):
    path = tmp_path / "x.rtlog"
    path.write_text("hello")
    with pytest.raises(LogFormatError, match="not an EventLog file"):
        EventLog.load(path)
    with pytest.raises(LogFormatError):
        EventLog.load(tmp_path / "missing.rtlog")
