"""One line per request answered: method, path, status, time taken.

The query string is left out: it may carry the token (`?token=...`), which must not end up
in a log.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger


def access_line(method: str, path: str, status: int, secs: float) -> str:
    """`GET /v2/actor-runs/abc 200 1.2 ms`."""
    return f"{method} {path} {status} {secs * 1000:.1f} ms"


class AccessLogger(AbstractAccessLogger):
    """aiohttp's access log, as `access_line`s at INFO on the logger it is given."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(access_line(request.method, request.path, response.status, time))
