"""Authentication: a token in `Authorization: Bearer` or in `?token=`."""

from __future__ import annotations

import hmac

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from ._errors import ApiError

ANONYMOUS_ROUTE = "actor-run"
"""The name of the one route that answers without a token (the run id is the credential)."""


def request_token(request: web.Request) -> str | None:
    """The token the request carries, if any; the header wins over the query."""
    scheme, _, credentials = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.query.get("token") or None


def token_matches(given: str, expected: bytes) -> bool:
    """Whether a given token is the expected one, in constant time."""
    return hmac.compare_digest(given.encode(), expected)


def auth_middleware(token: str) -> Middleware:
    """Reject requests without the token (401), except anonymous reads of a run."""
    expected = token.encode()

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Unknown paths and methods answer 404 / 405 whoever asks.
        if request.match_info.http_exception is None:
            given = request_token(request)
            if given is None:
                anonymous_ok = request.match_info.route.name == ANONYMOUS_ROUTE
                if not (anonymous_ok and request.method in (hdrs.METH_GET, hdrs.METH_HEAD)):
                    raise ApiError(
                        401,
                        "token-not-provided",
                        "Authentication token was not provided. Send it in the Authorization "
                        "header as 'Bearer <token>'.",
                    )
            elif not token_matches(given, expected):
                raise ApiError(401, "invalid-token", "Authentication token is not valid.")
        return await handler(request)

    return authenticate
