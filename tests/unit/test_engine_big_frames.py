"""big_frames: the same results (and errors) as json.loads / base64.b64decode, in loop-friendly pieces."""

from __future__ import annotations

import base64
import binascii
import json

import numpy as np
import pytest

from realtime_nb.engine import big_frames

AUDIO = base64.b64encode(
    np.random.default_rng(1).integers(0, 255, 3 * 2**20, dtype=np.uint8).tobytes()
).decode()


@pytest.mark.parametrize(
    "event",
    [
        {"type": "input_audio_buffer.append", "audio": AUDIO, "event_id": "evt_1"},
        {"event_id": "e", "type": "input_audio_buffer.append", "audio": AUDIO},
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": AUDIO}]},
        },
        {"type": "x", "audio": "small", "pad": AUDIO},  # the big string is not the audio
        {"type": "x", "audio": AUDIO[:-1] + "é"},  # non-ASCII is fine in a JSON string
        {"type": "x", "audio": 5, "pad": AUDIO},
    ],
)
def test_loads_equals_json_loads(event) -> None:
    for text in (json.dumps(event), json.dumps(event, indent=1), json.dumps(event, separators=(",", ":"))):
        assert big_frames.loads(text) == json.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"x","audio":"' + AUDIO + '","audio":"last wins"}',
        '{"type":"x","audio":"' + AUDIO[:1000] + "\\n" + AUDIO + '"}',  # an escape: the parser decides
        '{"type":"x","audio":"' + AUDIO + '"',  # unterminated object
        '{"type":"x","audio":"' + AUDIO,  # unterminated string
        '{"type":"x","audio":"' + AUDIO[:1000] + "\x01" + AUDIO + '"}',  # a control character
        '["audio":"' + AUDIO + '"]',
        '{"type":"x","audio":"' + AUDIO + '"} trailing',
    ],
)
def test_odd_frames_give_what_json_loads_gives(text) -> None:
    try:
        expected: object = json.loads(text)
    except json.JSONDecodeError as exc:
        with pytest.raises(json.JSONDecodeError) as got:
            big_frames.loads(text)
        assert type(got.value) is type(exc)
    else:
        assert big_frames.loads(text) == expected


def test_a_deeply_nested_big_frame_is_no_recursion_problem() -> None:
    text = '{"type":"x","audio":"' + AUDIO + '","deep":' + "[" * 500 + "]" * 500 + "}"
    assert big_frames.loads(text) == json.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        AUDIO,
        AUDIO[:-4] + "QQ==",
        AUDIO + "A",
        AUDIO[:4000] + "!" + AUDIO[4001:],
        AUDIO[:8] + "==" + AUDIO[10:],
        "",
    ],
)
def test_b64decode_equals_the_single_call(text) -> None:
    try:
        expected = base64.b64decode(text, validate=True)
    except binascii.Error:
        with pytest.raises(binascii.Error):
            big_frames.b64decode(text)
    else:
        assert big_frames.b64decode(text) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b'{"type":"x"}',
        json.dumps({"type": "x", "audio": AUDIO}).encode(),
        # multi-byte characters astride every slice boundary
        ("é" * (2**18 + 3) + "€" * 100_001 + "😀" * 70_001).encode(),
    ],
)
def test_utf8_equals_bytes_decode(data) -> None:
    assert big_frames.utf8(data) == data.decode()


@pytest.mark.parametrize(
    "data",
    [
        b'{"type":"\xff"}',
        b"a" * (2**18 - 1) + "é".encode() + b"a" * 2**19 + b"\xc3",  # a character cut at the end
        b"a" * (3 * 2**18 + 5) + b"\xed\xa0\x80" + b"a" * 10,  # a surrogate, far into a big frame
    ],
)
def test_utf8_errors_like_bytes_decode(data) -> None:
    with pytest.raises(UnicodeDecodeError) as ours:
        big_frames.utf8(data)
    with pytest.raises(UnicodeDecodeError) as theirs:
        data.decode()
    assert (ours.value.reason, ours.value.start, ours.value.end) == (
        theirs.value.reason,
        theirs.value.start,
        theirs.value.end,
    )
