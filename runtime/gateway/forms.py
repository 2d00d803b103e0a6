"""multipart/form-data in and out (audio transcriptions, image edits, file uploads).

The gateway parses the form once (python-multipart, Starlette's parser) and sends the upstream a
form it writes itself from what it parsed, never the client's bytes: a form that two parsers read
differently (a boundary trick, a duplicate part) cannot show the policy one thing and the model
another.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header

from runtime.endpoints import FormFile
from runtime.errors import ApiError

__all__ = ["Form", "parse_form", "write_form"]


@dataclass
class Form:
    fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[FormFile] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        return next((value for key, value in self.fields if key == name), None)

    def as_dict(self) -> dict[str, str]:
        """The text fields (the last value of a repeated one)."""
        return dict(self.fields)


def _bad(message: str) -> ApiError:
    return ApiError(400, message, code="invalid_multipart")


def parse_form(content_type: str, body: bytes) -> Form:
    """The fields and files of a multipart body, or a 400 saying what is wrong with it."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise _bad("this endpoint takes multipart/form-data with a boundary")
    parts: list[tuple[dict[bytes, bytes], bytearray]] = []
    header: list[bytes] = [b"", b""]

    def on_part_begin() -> None:
        parts.append(({}, bytearray()))

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header[0] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header[1] += data[start:end]

    def on_header_end() -> None:
        parts[-1][0][header[0].lower()] = header[1]
        header[0], header[1] = b"", b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1][1].extend(data[start:end])

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except Exception as exc:  # the parser's own errors; the message names no content
        raise _bad(f"the multipart body cannot be parsed ({type(exc).__name__})") from None
    form = Form()
    for headers, data in parts:
        disposition, params = parse_options_header(headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in params:
            raise _bad("every part needs Content-Disposition: form-data with a name")
        name = _header_text(params[b"name"], "a field name")
        if b"filename" in params:
            content_type = _header_text(headers.get(b"content-type", b"application/octet-stream"), "a content type")
            if not _MEDIA_TYPE.match(content_type):
                raise _bad(f"the content type of file field {name!r} is not a media type")
            filename = _header_text(params[b"filename"], "a file name")
            form.files.append(FormFile(name, filename, content_type, bytes(data)))
        else:
            form.fields.append((name, _text(bytes(data), f"field {name!r}")))
    return form


_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+(\s*;[^\x00-\x1f\x7f]*)?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _header_text(raw: bytes, what: str) -> str:
    """A name from a part's headers: text without control characters (they would end a header)."""
    value = _text(raw, what)
    if _CONTROL.search(value):
        raise _bad(f"{what} holds a control character")
    return value


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(f"{what} is not UTF-8") from None


def write_form(form: Form) -> tuple[bytes, str]:
    """(body, content type) of a multipart form holding exactly these fields and files."""
    boundary = "gateway-" + secrets.token_hex(16)
    out = bytearray()
    for name, value in form.fields:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    for f in form.files:
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(f.field)}"; '
            f'filename="{_quoted(f.filename)}"\r\nContent-Type: {_quoted(f.content_type)}\r\n\r\n'
        ).encode()
        out += f.data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def _quoted(value: str) -> str:
    # Names are quoted strings (control characters were refused when they were parsed).
    return value.replace("\\", "\\\\").replace('"', '\\"')
