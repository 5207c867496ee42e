"""Client settings: where the API is, how to authenticate, how long to wait."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass

import aiohttp
import yarl

from . import _validation as check
from ._version import __version__

DEFAULT_BASE_URL = "https://api.apify.com"
TOKEN_ENV = "APIFY_TOKEN"
BASE_URL_ENV = "APIFY_API_BASE_URL"

USER_AGENT = (
    f"apify-runs-async/{__version__} "
    f"(Python {platform.python_version()}; aiohttp {aiohttp.__version__})"
)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long to wait for the API, in seconds.

    `connect` bounds opening a connection to the server; waiting for a free connection in the
    pool is not bounded, as runs being followed hold theirs for up to a minute (bound a whole
    call with `anyio.fail_after` instead). `read` bounds the wait for each chunk of a
    response; a long-poll (`waitForFinish`) extends it by the time the server may hold the
    request, so a long-poll never trips it.
    """

    connect: float = 10.0
    read: float = 30.0

    def __post_init__(self) -> None:
        check.positive(self.connect, "Timeouts.connect")
        check.positive(self.read, "Timeouts.read")


def resolve_token(token: str | None) -> str | None:
    """The token given, else $APIFY_TOKEN; None means anonymous (enough to GET a run)."""
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
        if token is None:
            return None
    if not isinstance(token, str):
        raise TypeError(f"token must be a str, not {type(token).__name__}")
    # Secrets read from files often end in a newline; anything else unprintable is a mistake.
    token = token.strip()
    if not token or not token.isprintable() or " " in token:
        raise ValueError(
            "token must be non-empty, without spaces or control characters "
            "(or None to use $APIFY_TOKEN)"
        )
    return token


def resolve_base_url(base_url: str | None) -> str:
    """The API origin given, else $APIFY_API_BASE_URL, else https://api.apify.com.

    A trailing slash or `/v2` is dropped, since every path the client sends starts with `/v2`.
    """
    raw = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    url = yarl.URL(raw.rstrip("/").removesuffix("/v2"))
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"base_url must be an http:// or https:// URL, got {raw!r}")
    if url.user or url.password or url.query_string or url.fragment:
        raise ValueError("base_url must not carry credentials, a query or a fragment")
    return str(url)
