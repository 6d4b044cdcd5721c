"""Request bodies and heads the front door reads: media types, multipart/form-data, the sniff rule."""

from __future__ import annotations

import json

import httpx
import pytest

from realtime_nb.engine.form_data import FormError, parse_content_type, parse_form_data
from realtime_nb.engine.front_door import classify_head

OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
SESSION = {"type": "realtime", "instructions": "Sé breve; ünïcode ok."}


def _sdk_style_body() -> tuple[str, bytes]:
    """A body encoded the way the openai SDK's `realtime.calls.create` sends it (through httpx)."""
    files = [
        ("sdp", (None, OFFER.encode(), "application/sdp")),
        ("session", (None, json.dumps(SESSION).encode(), "application/json")),
    ]
    request = httpx.Request("POST", "http://127.0.0.1/v1/realtime/calls", files=files)
    return request.headers["Content-Type"], request.read()


def _body(boundary: str, *parts: bytes, close: bool = True) -> bytes:
    out = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return out + (b"--" + boundary.encode() + b"--\r\n" if close else b"")


def _part(name: str, data: bytes, content_type: str | None = None) -> bytes:
    head = f'Content-Disposition: form-data; name="{name}"\r\n'
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    return head.encode() + b"\r\n" + data


def test_content_type_values() -> None:
    assert parse_content_type(None) == ("", {})
    assert parse_content_type("Application/SDP; charset=UTF-8") == ("application/sdp", {"charset": "UTF-8"})
    assert parse_content_type('multipart/form-data; boundary="a; b=c"') == (
        "multipart/form-data",
        {"boundary": "a; b=c"},
    )


def test_the_sdk_encoding_is_read_field_by_field() -> None:
    content_type, body = _sdk_style_body()
    fields = parse_form_data(content_type, body)
    assert set(fields) == {"sdp", "session"}
    assert fields["sdp"].data.decode() == OFFER and fields["sdp"].content_type == "application/sdp"
    assert json.loads(fields["session"].data) == SESSION
    assert fields["session"].content_type == "application/json"


def test_a_preamble_an_epilogue_and_a_part_without_content_type_are_fine() -> None:
    body = b"preamble to ignore\r\n" + _body("XyZ", _part("sdp", OFFER.encode())) + b"epilogue"
    fields = parse_form_data("multipart/form-data; boundary=XyZ", body)
    assert fields["sdp"].data.decode() == OFFER and fields["sdp"].content_type is None


def test_empty_field_data_is_kept_empty() -> None:
    fields = parse_form_data("multipart/form-data; boundary=b", _body("b", _part("sdp", b"")))
    assert fields["sdp"].data == b""


MALFORMED = {
    "not multipart": ("application/json", b"{}", "expected multipart/form-data"),
    "no boundary": ("multipart/form-data", _body("b", _part("sdp", b"x")), "no boundary"),
    "other boundary": ("multipart/form-data; boundary=zz", _body("b", _part("sdp", b"x")), "boundary"),
    "truncated": (
        "multipart/form-data; boundary=b",
        _body("b", _part("sdp", b"x"), close=False)[:-2],
        "closing boundary",
    ),
    "field twice": (
        "multipart/form-data; boundary=b",
        _body("b", _part("sdp", b"x"), _part("sdp", b"y")),
        "more than once",
    ),
    "no disposition": (
        "multipart/form-data; boundary=b",
        _body("b", b"Content-Type: text/plain\r\n\r\nx"),
        "Content-Disposition",
    ),
    "disposition without name": (
        "multipart/form-data; boundary=b",
        _body("b", b"Content-Disposition: form-data\r\n\r\nx"),
        "with a name",
    ),
    "header line without colon": (
        "multipart/form-data; boundary=b",
        _body("b", b"Content-Disposition form-data\r\n\r\nx"),
        "malformed header",
    ),
    "no blank line": (
        "multipart/form-data; boundary=b",
        _body("b", b'Content-Disposition: form-data; name="sdp"'),
        "no blank line",
    ),
    "boundary too long": ("multipart/form-data; boundary=" + "b" * 71, b"", "longer than 70"),
    "garbage after boundary": ("multipart/form-data; boundary=b", b"--bXX\r\n", "line break"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_bodies_are_refused_with_what_is_wrong(case: str) -> None:
    content_type, body, says = MALFORMED[case]
    with pytest.raises(FormError, match=says):
        parse_form_data(content_type, body)


def test_a_flood_of_parts_is_refused() -> None:
    body = _body("b", *(_part(f"f{i}", b"x") for i in range(40)))
    with pytest.raises(FormError, match="more than 16"):
        parse_form_data("multipart/form-data; boundary=b", body)


# --- which connections are WebSocket upgrades --------------------------------------------------------

UPGRADE = (
    b"GET /v1/realtime?model=m HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
    b"Upgrade: websocket\r\nSec-WebSocket-Key: abc\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (UPGRADE, "websocket"),
        (UPGRADE.replace(b"Upgrade: websocket", b"upgrade:  WebSocket "), "websocket"),
        (UPGRADE.replace(b"Upgrade: websocket", b"Upgrade: foo, websocket"), "websocket"),
        (UPGRADE.replace(b"Upgrade: websocket", b"Upgrade: h2c"), "http"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "http"),
        (b"GET / HTTP/1.1\nHost: x\n\n", "http"),  # bare line feeds end a head too
        (b"POST /v1/realtime/calls HTTP/1.1\r\n", "http"),  # decided without waiting for the head
        (b"POST", "http"),
        (b"OPTI", "http"),
        (b"\x16\x03\x01", "http"),  # a TLS hello: not ours to hand to websockets
        (b"G", None),
        (b"GET", None),
        (b"GET /v1/realtime HTTP/1.1\r\nHost: x\r\n", None),  # head not over yet
        (b"", None),
    ],
)
def test_classify_head(data: bytes, kind: str | None) -> None:
    assert classify_head(data, 64 * 1024) == kind


def test_a_head_that_never_ends_goes_to_http_which_refuses_it() -> None:
    data = b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 2000
    assert classify_head(data, 4096) is None
    assert classify_head(data + b"a" * 3000, 4096) == "http"
