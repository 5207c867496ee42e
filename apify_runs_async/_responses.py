"""Turn a response into data or a typed exception: pure functions, no I/O."""

from __future__ import annotations

import msgspec

from ._errors import ApiError, InvalidResponseError, api_error
from ._http import Request, Response
from ._models import Record, Run, error_response_decoder, run_response_decoder

_EXCERPT_CHARS = 200


def excerpt(body: bytes) -> str:
    """The start of a body, for error messages."""
    text = body[: _EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
    return text[:_EXCERPT_CHARS] + ("..." if len(text) > _EXCERPT_CHARS else "")


def error_for(request: Request, response: Response) -> ApiError:
    """The exception for an error response, with the server's own type and message."""
    error_type: str | None = None
    message = ""
    try:
        detail = error_response_decoder.decode(response.body).error
        error_type, message = detail.type, detail.message or ""
    except msgspec.DecodeError:
        pass  # not the API's error shape: a proxy's page, say; show what it was instead
    if not message:
        message = excerpt(response.body) or "(empty body)"
    return api_error(
        request.method,
        request.path,
        status=response.status,
        error_type=error_type,
        message=message,
    )


def run(request: Request, response: Response) -> Run:
    """The `Run` in a successful response; raises the matching error otherwise."""
    if response.status >= 400:
        raise error_for(request, response)
    try:
        return run_response_decoder.decode(response.body).data
    except msgspec.ValidationError as exc:
        raise _invalid(request, response, f"is not a run ({exc})") from exc
    except msgspec.DecodeError as exc:
        raise _invalid(request, response, "is not valid JSON") from exc


def run_or_none(request: Request, response: Response) -> Run | None:
    """Like `run`, but None where the API says the run does not exist."""
    if response.status == 404 and _error_type(response) == "record-not-found":
        return None
    return run(request, response)


def record_or_none(request: Request, response: Response, key: str) -> Record | None:
    """The record in a response, or None where the API says it does not exist."""
    if response.status == 404 and _error_type(response) == "record-not-found":
        return None
    if response.status >= 400:
        raise error_for(request, response)
    content_type = response.headers.get("Content-Type", "application/octet-stream")
    return Record(key, content_type, response.body)


def no_content(request: Request, response: Response) -> None:
    """Success without data (delete); raises the matching error otherwise."""
    if response.status >= 400:
        raise error_for(request, response)


def _error_type(response: Response) -> str | None:
    try:
        return error_response_decoder.decode(response.body).error.type
    except msgspec.DecodeError:
        return None


def _invalid(request: Request, response: Response, reason: str) -> InvalidResponseError:
    return InvalidResponseError(
        request.method,
        request.path,
        status=response.status,
        reason=reason,
        excerpt=excerpt(response.body),
    )
