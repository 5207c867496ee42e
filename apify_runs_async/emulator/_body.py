"""Request bodies: the size limit, `Content-Encoding`, and JSON checks.

aiohttp's own decompression is off (see `_server.py`), so that the limit applies to what the
client sent as well as to what it inflates to, and unknown encodings get the API's 415.
"""

from __future__ import annotations

import zlib
from typing import Any

import msgspec
from aiohttp import hdrs, web

from ._errors import ApiError, invalid_input
from ._storage import BINARY_CONTENT_TYPE, Record, is_json_content_type

MAX_BODY_BYTES = 9_437_184
"""The API's limit on a POST payload."""

_CHUNK_BYTES = 256 * 1024


def _too_large() -> ApiError:
    return ApiError(
        413,
        "request-too-large",
        f"The request body is larger than the limit of {MAX_BODY_BYTES} bytes.",
    )


def _encodings(request: web.Request) -> list[str]:
    """The body's encodings in the order they were applied; 415 for ones we cannot undo."""
    header = request.headers.get(hdrs.CONTENT_ENCODING, "")
    encodings = [token.strip().lower() for token in header.split(",") if token.strip()]
    encodings = [encoding for encoding in encodings if encoding != "identity"]
    for encoding in encodings:
        if encoding not in ("gzip", "x-gzip", "deflate"):
            raise ApiError(
                415,
                "unsupported-content-encoding",
                f"Content-Encoding {encoding!r} is not supported; use gzip or deflate.",
            )
    return encodings


def _inflate(data: bytes, wbits: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    inflated = inflater.decompress(data, MAX_BODY_BYTES + 1)
    if len(inflated) > MAX_BODY_BYTES or inflater.unconsumed_tail:
        raise _too_large()
    if not inflater.eof:
        raise zlib.error("the compressed body is truncated")
    return inflated


def _decode(data: bytes, encoding: str) -> bytes:
    try:
        if encoding != "deflate":
            return _inflate(data, 16 + zlib.MAX_WBITS)
        try:
            return _inflate(data, zlib.MAX_WBITS)
        except zlib.error:
            # Some clients send raw deflate data without the zlib wrapper.
            return _inflate(data, -zlib.MAX_WBITS)
    except zlib.error as exc:
        raise invalid_input(f"The request body could not be decoded as {encoding}: {exc}") from exc


async def read_body(request: web.Request) -> bytes:
    """The body, decoded; 413 past the limit, 415 for an unknown encoding."""
    encodings = _encodings(request)
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(_CHUNK_BYTES):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    data = b"".join(chunks)
    if data:
        for encoding in reversed(encodings):
            data = _decode(data, encoding)
    return data


async def read_input(request: web.Request) -> Record | None:
    """The body as a run input record, None when there is none; JSON bodies must parse."""
    data = await read_body(request)
    if not data:
        return None
    content_type = request.headers.get(hdrs.CONTENT_TYPE) or BINARY_CONTENT_TYPE
    if is_json_content_type(content_type):
        try:
            msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise ApiError(
                400, "run-input-body-not-valid-json", f"The input is not valid JSON: {exc}"
            ) from exc
    return Record(data, content_type)


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """A JSON object body (an empty body counts as `{}`)."""
    data = await read_body(request)
    if not data.strip():
        return {}
    try:
        decoded = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise invalid_input(f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(decoded, dict):
        raise invalid_input("The request body must be a JSON object.")
    return decoded
