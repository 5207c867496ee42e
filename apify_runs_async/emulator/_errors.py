"""API errors: one exception type that the error middleware turns into the API's error body.

Every error body is `{"error": {"type": ..., "message": ...}}`, where `type` is one of the
`ErrorType` values of the official spec.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler


class ApiError(Exception):
    """An error the API answers with, raised anywhere below the routes."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.type = error_type
        self.message = message


def invalid_input(message: str) -> ApiError:
    return ApiError(400, "invalid-input", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "record-not-found", message)


def json_response(payload: Any, *, status: int = 200) -> web.Response:
    """A JSON response encoded once, with msgspec."""
    return json_body_response(msgspec.json.encode(payload), status=status)


def json_body_response(body: bytes, *, status: int = 200) -> web.Response:
    """A response with JSON encoded already."""
    return web.Response(body=body, status=status, content_type="application/json", charset="utf-8")


def error_response(error: ApiError, *, headers: dict[str, str] | None = None) -> web.Response:
    response = json_response(
        {"error": {"type": error.type, "message": error.message}}, status=error.status
    )
    if headers:
        response.headers.update(headers)
    return response


_LOG = logging.getLogger("apify_runs_async.emulator")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into the API's error body; log each request at DEBUG."""
    response = await _answer(request, handler)
    # The path only, never the query string: it may carry the token.
    _LOG.debug("%s %s -> %d", request.method, request.path, response.status)
    return response


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error)
    except web.HTTPMethodNotAllowed as exc:
        return error_response(
            ApiError(405, "method-not-allowed", f"The endpoint does not allow {request.method}."),
            headers={"Allow": ",".join(sorted(exc.allowed_methods))},
        )
    except web.HTTPNotFound:
        return error_response(ApiError(404, "page-not-found", "There is no API endpoint here."))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(ApiError(exc.status, "invalid-request", exc.reason))
    except Exception:
        _LOG.exception("Unexpected error in %s %s", request.method, request.path)
        return error_response(
            ApiError(500, "internal-server-error", "The emulator failed to handle the request.")
        )
