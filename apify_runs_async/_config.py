"""Client settings: where the API is, how to authenticate, how long to wait."""

from __future__ import annotations

import ipaddress
import os
import platform
from dataclasses import dataclass

import aiohttp
import yarl

from . import _validation as check
from ._errors import register_secret
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

    Each request, phase by phase:

    - waiting for a free connection of the client's own session (`max_connections`): not
      bounded, as runs being followed hold theirs for up to a minute (bound a whole call with
      `anyio.fail_after` instead). With a session lent to the client (`session=`), a wait in
      its pool counts against the next bound;
    - opening a connection: `connect` bounds the socket's;
    - connecting, sending and receiving the status line and headers, as a whole:
      `connect + read`, plus the seconds a long-poll (`waitForFinish`) lets the server hold
      the request; a server that trickles its headers is cut off there (checked every
      `read / 10` seconds, at most every second, so up to that much later);
    - the body: a whole body must arrive within `read` (a streamed log or download: each
      chunk, as it may rightly last for hours; a live run's log, a minute more, as a quiet
      run writes nothing, and a stream that times out sends the whole log again).

    `read` also bounds each wait for data, stretched by a long-poll's hold, so a long-poll
    never trips it.

    `total` (None: no limit) bounds each request of a call together with its retries, their
    waits and the checks a start makes, extended by a long-poll's hold; past it the call
    raises `ApifyTimeoutError`, or `UncertainOutcomeError` if a start or other change may have
    happened meanwhile. It bounds each request of `wait_for_finish` or `watch`, not the whole
    wait: use `wait_secs` or `anyio.fail_after` for that. It composes with `anyio.fail_after`
    around a call: whichever ends first wins.
    """

    connect: float = 10.0
    read: float = 30.0
    total: float | None = None

    def __post_init__(self) -> None:
        check.positive(self.connect, "Timeouts.connect")
        check.positive(self.read, "Timeouts.read")
        if self.total is not None:
            check.positive(self.total, "Timeouts.total")


def resolve_token(token: str | None) -> str | None:
    """The token given, else $APIFY_TOKEN; None means anonymous (enough to GET a run).

    The token is registered as a secret: no server can echo it into a message or a log line.
    """
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
    register_secret(token)
    return token


def resolve_base_url(base_url: str | None, *, allow_insecure_http: bool = False) -> str:
    """The API origin given, else $APIFY_API_BASE_URL, else https://api.apify.com.

    A trailing slash or `/v2` is dropped, since every path the client sends starts with `/v2`.
    Plain http:// is refused except to this machine (the emulator), unless allowed: it would
    send the token in the clear.
    """
    raw = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    url = yarl.URL(raw.rstrip("/").removesuffix("/v2"))
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"base_url must be an http:// or https:// URL, got {raw!r}")
    if url.user or url.password or url.query_string or url.fragment:
        raise ValueError("base_url must not carry credentials, a query or a fragment")
    if url.scheme == "http" and not allow_insecure_http and not _is_loopback(url.host):
        raise ValueError(
            f"base_url {raw!r} is plain http:// to another machine, which would send the token "
            "unencrypted; use https://, or pass allow_insecure_http=True"
        )
    return str(url)


def _is_loopback(host: str) -> bool:
    if host == "localhost":  # not *.localhost: some resolvers send those to DNS
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
