"""Every exception this package raises on purpose.

    ApifyError                     base of them all
    ├── ClientClosedError          the client is not open (use `async with ApifyRuns()`)
    ├── WrongEventLoopError        the client was used from an event loop it was not opened in
    ├── ApiError                   the API answered with an error status
    │   ├── BadRequestError          400: invalid input, a limit hit, a finished run...
    │   ├── UnauthorizedError        401: token missing or invalid
    │   ├── PaymentRequiredError     402
    │   ├── ForbiddenError           403
    │   ├── NotFoundError            404
    │   ├── ConflictError            409
    │   ├── RequestTooLargeError     413
    │   ├── RateLimitError           429
    │   └── ServerError              5xx
    ├── TransportError             no usable HTTP response arrived
    │   ├── ApifyConnectionError     the connection failed or dropped
    │   └── ApifyTimeoutError        a connect or read timeout (also a TimeoutError)
    ├── InvalidResponseError       a response body that is not the JSON it should be
    │   ├── ResponseTooLargeError    a response body over the client's size cap
    │   └── InvalidItemError         a dataset item that does not fit the `item_type` asked for
    ├── UncertainOutcomeError      a start, metamorph, reboot or resurrect may or may not
    │                              have happened, and the client could not find out which
    ├── RunFailedError             call(raise_on_failure=True): the run FAILED, ABORTED...
    └── InvalidWebhookError        a webhook body that is not Apify's payload (a ValueError)

Invalid arguments raise the built-in `ValueError` or `TypeError` before any request is sent.
Messages name the HTTP method and the path, never the query string; no error carries the token,
even where the server echoes it: any text a server sent shows `***` in its place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:
    from ._models import Record, Run

__all__ = [
    "ApiError",
    "ApifyConnectionError",
    "ApifyError",
    "ApifyTimeoutError",
    "BadRequestError",
    "ClientClosedError",
    "ConflictError",
    "ForbiddenError",
    "InvalidItemError",
    "InvalidResponseError",
    "InvalidWebhookError",
    "NotFoundError",
    "PaymentRequiredError",
    "RateLimitError",
    "RequestTooLargeError",
    "ResponseTooLargeError",
    "RunFailedError",
    "ServerError",
    "TransportError",
    "UnauthorizedError",
    "UncertainOutcomeError",
    "WrongEventLoopError",
]


_EXCERPT_CHARS = 200
_MESSAGE_CHARS = 1000
_MIN_SECRET_CHARS = 8  # shorter, and `***` would stand for common words (tests' tokens)

# Every form of every token a client of this process was given, longest first: a server that
# echoes one must not get it into a message or a log line.
_secrets: list[str] = []
_longest_secret = 0  # in UTF-8 bytes, which is at least as many characters


def register_secret(secret: str) -> None:
    """Have `secret` (and its URL-encoded forms) show as `***` in every message and log line
    made of server text, from now on, in this process."""
    global _longest_secret
    if len(secret) < _MIN_SECRET_CHARS:
        return
    for form in (secret, quote(secret), quote(secret, safe=""), quote_plus(secret)):
        if form not in _secrets:
            _secrets.append(form)
            _longest_secret = max(_longest_secret, len(form.encode()))
    _secrets.sort(key=len, reverse=True)


def redacted(text: str) -> str:
    """`text` with every registered secret replaced by `***`."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


def excerpt(body: bytes) -> str:
    """The start of a response body, for error messages."""
    # Cut far enough on that a secret starting within the excerpt is whole, to be redacted.
    start = body[: _EXCERPT_CHARS * 4 + _longest_secret].decode("utf-8", errors="replace")
    return shortened(start, _EXCERPT_CHARS)


def shortened(text: str, limit: int = _MESSAGE_CHARS) -> str:
    """Server text made safe for a message or a log line: one line, no control characters
    (which could forge log lines or move a terminal's cursor), no registered secret, at
    most `limit` characters."""
    # Cut after any secret that starts within the limit: a part of one would not be redacted.
    head = text[: limit + 1 + _longest_secret]
    # Most text is printable already: checked at C speed, not rebuilt char by char.
    clean = head if head.isprintable() else "".join(c if c.isprintable() else " " for c in head)
    clean = redacted(clean)
    return clean[:limit] + ("..." if len(clean) > limit else "")


class ApifyError(Exception):
    """Base class of every error raised by apify_runs_async.

    An error that ends a `call`, `call_task` or `call_many` early names the runs it had
    started and not seen finish: `aborted_run_ids` were aborted, `running_run_ids` were left
    running (`abort_on_exit=False`, or the abort failed).
    """

    aborted_run_ids: tuple[str, ...] = ()
    running_run_ids: tuple[str, ...] = ()


class ClientClosedError(ApifyError, RuntimeError):
    """The client was used before `async with` entered it, or after it was closed."""


class WrongEventLoopError(ApifyError, RuntimeError):
    """The client was used from an event loop other than the one it was opened in: its
    connections belong to that loop. Open a client in each loop (each thread) instead."""


class _RequestError(ApifyError):
    """An error tied to one request, which it names as `METHOD /path`."""

    def __init__(self, method: str, path: str, detail: str) -> None:
        self.method = method
        self.path = path
        # The message without `METHOD /path: `; redacted whole, as it may quote the server in
        # ways `shortened` does not see (a field's value in a validation error, say).
        self.detail = detail = redacted(detail)
        super().__init__(f"{method} {path}: {detail}")


class ApiError(_RequestError):
    """The API answered with an error status.

    `status` is the HTTP status, `error_type` the API's machine-readable type (such as
    `record-not-found`), `message` the API's own message, and `retry_after` the seconds the
    server asked the client to wait (its `Retry-After` header), if it said.
    """

    def __init__(
        self,
        method: str,
        path: str,
        *,
        status: int,
        error_type: str | None,
        message: str,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.error_type = error_type
        self.message = message
        self.retry_after = retry_after
        kind = f" {error_type}" if error_type else ""
        super().__init__(method, path, f"{status}{kind}: {message}")


class BadRequestError(ApiError):
    """400: invalid input, a platform limit hit, or an operation on a finished run."""


class UnauthorizedError(ApiError):
    """401: the token is missing or invalid."""


class PaymentRequiredError(ApiError):
    """402: the account cannot pay for this."""


class ForbiddenError(ApiError):
    """403: the token lacks the permission."""


class NotFoundError(ApiError):
    """404: no such run, Actor, task or record."""


class ConflictError(ApiError):
    """409: the resource is in a conflicting state."""


class RequestTooLargeError(ApiError):
    """413: the request body is over the API's limit (9,437,184 bytes)."""


class RateLimitError(ApiError):
    """429: too many requests."""


class ServerError(ApiError):
    """5xx: the API failed."""


_ERRORS_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    402: PaymentRequiredError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    413: RequestTooLargeError,
    429: RateLimitError,
}


def api_error(
    method: str,
    path: str,
    *,
    status: int,
    error_type: str | None,
    message: str,
    retry_after: float | None = None,
) -> ApiError:
    """The exception for an error response: the one place that maps a status to a class."""
    cls = ServerError if status >= 500 else _ERRORS_BY_STATUS.get(status, ApiError)
    return cls(
        method, path, status=status, error_type=error_type, message=message, retry_after=retry_after
    )


class TransportError(_RequestError):
    """No usable HTTP response arrived.

    `maybe_processed` is False only when the request surely never reached the server (the
    connection could not be opened); otherwise the server may have acted on it.
    """

    def __init__(self, method: str, path: str, detail: str, *, maybe_processed: bool) -> None:
        self.maybe_processed = maybe_processed
        super().__init__(method, path, detail)


class ApifyConnectionError(TransportError):
    """The connection could not be made, or it broke before the response was complete."""


class ApifyTimeoutError(TransportError, TimeoutError):
    """The server did not accept the connection, or did not answer, in time."""


class InvalidResponseError(_RequestError):
    """The response body is not valid JSON, or not of the expected shape.

    `status` is the HTTP status of the response and `excerpt` the start of its body.
    """

    def __init__(self, method: str, path: str, *, status: int, reason: str, excerpt: str) -> None:
        self.status = status
        self.excerpt = excerpt
        super().__init__(method, path, f"{status} response {reason}: {excerpt!r}")


class ResponseTooLargeError(InvalidResponseError):
    """The response body is over the client's cap (`max_response_bytes`), so it was refused."""


class InvalidItemError(InvalidResponseError):
    """A dataset item that does not fit the `item_type` it was to be decoded into.

    `index` is the item's position in the dataset, counted as the page was read (from its
    `offset`, in its order); `excerpt` is the start of the item.
    """

    def __init__(
        self, method: str, path: str, *, status: int, index: int, reason: str, excerpt: str
    ) -> None:
        self.index = index
        super().__init__(
            method, path, status=status, reason=f"has item {index}, which {reason}", excerpt=excerpt
        )


class UncertainOutcomeError(_RequestError):
    """A start, metamorph, reboot or resurrect failed in a way that leaves its outcome unknown.

    The request may have reached the server, and the client could not find out whether it
    did: it never guesses, so it neither repeated the request nor assumed it had failed.
    `run` is the run as last seen (None if unknown), and `__cause__` the failure that made
    the outcome unknown. For a start, `nonce` is the mark its User-Agent carried: a run
    whose `meta.user_agent` contains it is the one this call started.
    """

    def __init__(
        self, method: str, path: str, detail: str, *, run: Run | None, nonce: str | None = None
    ) -> None:
        self.run = run
        self.nonce = nonce
        super().__init__(method, path, f"outcome unknown: {detail}")


class RunFailedError(ApifyError):
    """A run followed with `raise_on_failure=True` ended other than SUCCEEDED.

    `run` is the finished run and `output` its OUTPUT record, if any.
    """

    def __init__(self, run: Run, output: Record | None) -> None:
        self.run = run
        self.output = output
        detail = f": {shortened(run.status_message)}" if run.status_message else ""
        super().__init__(f"run {run.id} of Actor {run.act_id} ended {run.status}{detail}")


class InvalidWebhookError(ApifyError, ValueError):
    """A webhook request's body is not Apify's payload: not JSON, or missing what it must
    have. The receiver answers such a request 400."""


def run_not_found(method: str, path: str) -> ApiError:
    """The error for a run that does not exist, or stayed missing past a start's grace."""
    return not_found(method, path, "the run does not exist (or no longer exists)")


def not_found(method: str, path: str, message: str) -> ApiError:
    """The API's own 404, for what the client found missing by asking again."""
    return api_error(method, path, status=404, error_type="record-not-found", message=message)


def detail_of(error: BaseException | None) -> str:
    """What went wrong, without the method and path (which a message names already)."""
    return getattr(error, "detail", None) or str(error)
