"""Request bodies the engine's HTTP endpoints read, sans-I/O: media types and multipart/form-data.

Only what a WebRTC call sends is read: a ``Content-Type`` value, and a ``multipart/form-data`` body
of small text fields (the SDK's unified call sends ``sdp`` and ``session``). The parser is strict on
structure (a bad body is refused with a message saying what is wrong, rather than half-read) and
bounded by the body size the front door already enforced.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FormError", "FormField", "parse_content_type", "parse_form_data"]

_MAX_BOUNDARY = 70  # RFC 2046
_MAX_PARTS = 16  # a call sends two fields; anything far beyond that is not a call


class FormError(ValueError):
    """A malformed multipart/form-data body (the message says what is wrong)."""


@dataclass(frozen=True)
class FormField:
    name: str
    content_type: str | None  # the part's media type, lower case, without parameters
    data: bytes
    filename: str | None = None


def parse_content_type(value: str | None) -> tuple[str, dict[str, str]]:
    """``"multipart/form-data; boundary=x"`` -> ``("multipart/form-data", {"boundary": "x"})``.

    The media type is lower-cased, parameter names too; ``("", {})`` when there is no header.
    """
    if not value:
        return "", {}
    media, params = _split_params(value)
    return media.strip().lower(), params


def _split_params(value: str) -> tuple[str, dict[str, str]]:
    """A header value of the form ``token; name=value; name="quoted; value"``."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
        elif quoted and char == "\\":
            current.append(char)
            escaped = True
        elif char == '"':
            current.append(char)
            quoted = not quoted
        elif char == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    params: dict[str, str] = {}
    for part in parts[1:]:
        name, sep, raw = part.partition("=")
        if not sep:
            continue
        raw = raw.strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        params[name.strip().lower()] = raw
    return parts[0], params


def parse_form_data(content_type: str, body: bytes) -> dict[str, FormField]:
    """The fields of a ``multipart/form-data`` body, by name. Raises FormError when malformed.

    A field named twice is an error (which one would count?), as is a body without the closing
    boundary (a truncated upload must not pass as a complete one).
    """
    media, params = parse_content_type(content_type)
    if media != "multipart/form-data":
        raise FormError(f"expected multipart/form-data, got {media or 'no Content-Type'}")
    boundary = params.get("boundary", "")
    if not boundary:
        raise FormError("the Content-Type multipart/form-data has no boundary parameter")
    if len(boundary) > _MAX_BOUNDARY:
        raise FormError(f"the multipart boundary is longer than {_MAX_BOUNDARY} characters")
    try:
        delimiter = b"--" + boundary.encode("ascii")
    except UnicodeEncodeError:
        raise FormError("the multipart boundary is not ASCII") from None

    # The first delimiter may follow a preamble; every later one starts on a new line.
    if body.startswith(delimiter):
        position = 0
    else:
        position = body.find(b"\r\n" + delimiter)
        if position < 0:
            raise FormError("the body does not contain the boundary named in Content-Type")
        position += 2
    fields: dict[str, FormField] = {}
    while True:
        position += len(delimiter)
        if body[position : position + 2] == b"--":
            return fields  # the closing delimiter; an epilogue may follow and is ignored
        if body[position : position + 2] != b"\r\n":
            raise FormError("a multipart boundary is not followed by a line break")
        position += 2
        end = body.find(b"\r\n" + delimiter, position)
        if end < 0:
            raise FormError("the multipart body ends before its closing boundary (truncated?)")
        field = _parse_part(body[position:end])
        if field.name in fields:
            raise FormError(f"the form field {field.name!r} is given more than once")
        if len(fields) >= _MAX_PARTS:
            raise FormError(f"more than {_MAX_PARTS} form fields")
        fields[field.name] = field
        position = end + 2


def _parse_part(part: bytes) -> FormField:
    head, sep, data = part.partition(b"\r\n\r\n")
    if not sep:
        if part.startswith(b"\r\n"):  # no header at all: an empty head, then the data
            head, data = b"", part[2:]
        else:
            raise FormError("a multipart part has no blank line between its headers and its data")
    headers: dict[str, str] = {}
    for line in head.split(b"\r\n") if head else []:
        name, colon, value = line.partition(b":")
        if not colon:
            raise FormError(f"a multipart part has a malformed header line: {line[:60]!r}")
        try:
            headers[name.decode("ascii").strip().lower()] = value.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise FormError("a multipart part header is not ASCII/UTF-8 text") from None
    disposition = headers.get("content-disposition")
    if disposition is None:
        raise FormError("a multipart part has no Content-Disposition header")
    kind, params = _split_params(disposition)
    if kind.strip().lower() != "form-data" or not params.get("name"):
        raise FormError("a multipart part's Content-Disposition is not form-data with a name")
    part_type = parse_content_type(headers.get("content-type"))[0] or None
    return FormField(params["name"], part_type, data, params.get("filename"))
