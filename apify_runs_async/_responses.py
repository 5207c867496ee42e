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


def _is_success(response: Response) -> bool:
    # A 3xx counts as a failure too: redirects are followed only where one is expected.
    return 200 <= response.status < 300


def _error_detail(response: Response) -> tuple[str | None, str]:
    """The API's error type and message, or (None, "") if the body is not the API's error."""
    try:
        detail = error_response_decoder.decode(response.body).error
    except ValueError:  # msgspec.DecodeError, or UnicodeDecodeError for invalid UTF-8
        return None, ""
    return detail.type, detail.message or ""


def error_for(request: Request, response: Response) -> ApiError:
    """The exception for an error response, with the server's own type and message."""
    error_type, message = _error_detail(response)
    if not message:  # not the API's shape: a proxy's page, say; show what it was instead
        message = excerpt(response.body) or "(empty body)"
    return api_error(
        request.method,
        request.path,
        status=response.status,
        error_type=error_type,
        message=message,
    )


def _is_missing(response: Response) -> bool:
    """The API's own "no such run or record", unlike a 404 from a wrong URL."""
    return response.status == 404 and _error_detail(response)[0] == "record-not-found"


def run(request: Request, response: Response) -> Run:
    """The `Run` in a successful response; raises the matching error otherwise."""
    if not _is_success(response):
        raise error_for(request, response)
    try:
        return run_response_decoder.decode(response.body).data
    except msgspec.ValidationError as exc:
        raise _invalid(request, response, f"is not a run ({exc})") from None
    except ValueError:  # msgspec.DecodeError, or UnicodeDecodeError for invalid UTF-8
        raise _invalid(request, response, "is not valid JSON") from None


def run_or_none(request: Request, response: Response) -> Run | None:
    """Like `run`, but None where the API says the run does not exist."""
    return None if _is_missing(response) else run(request, response)


def record_or_none(request: Request, response: Response, key: str) -> Record | None:
    """The record in a response, or None where the API says it does not exist."""
    if _is_missing(response):
        return None
    if not _is_success(response):
        raise error_for(request, response)
    content_type = response.headers.get("Content-Type", "application/octet-stream")
    return Record(key, content_type, response.body)


def no_content(request: Request, response: Response) -> None:
    """Success without data (delete); raises the matching error otherwise."""
    if not _is_success(response):
        raise error_for(request, response)


def _invalid(request: Request, response: Response, reason: str) -> InvalidResponseError:
    return InvalidResponseError(
        request.method,
        request.path,
        status=response.status,
        reason=reason,
        excerpt=excerpt(response.body),
    )
