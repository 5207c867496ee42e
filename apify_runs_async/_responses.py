"""Turn a response into data or a typed exception: pure functions, no I/O."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple, NoReturn, TypeVar

import msgspec
from multidict import istr

from . import _validation as check
from ._errors import (
    ApiError,
    InvalidItemError,
    InvalidResponseError,
    api_error,
    excerpt,
    shortened,
)
from ._http import Request, Response
from ._models import (
    DataEnvelope,
    Dataset,
    ItemPage,
    KeyList,
    Record,
    Run,
    RunList,
    dataset_response_decoder,
    error_response_decoder,
    key_list_decoder,
    run_list_decoder,
    run_response_decoder,
)

T = TypeVar("T")


def _require_success(request: Request, response: Response) -> None:
    """The matching error unless the response is a success. A 3xx is a failure too:
    redirects are followed only where one is expected."""
    if not 200 <= response.status < 300:
        raise error_for(request, response)


class _Undecodable(Exception):
    """A body `_decode` could not read; `reason` says why (`... response {reason}`)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _decode(decoder: msgspec.json.Decoder[T], body: bytes, what: str) -> T:
    """`body` decoded: the one place that decodes what a server sent, success or error.

    Whatever the bytes (invalid UTF-8, nesting thousands deep, numbers out of range, a wrong
    shape), the result is data or `_Undecodable`, never another exception.
    """
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise _Undecodable(f"is not {what} ({exc})") from None
    except ValueError:  # msgspec.DecodeError, or UnicodeDecodeError for invalid UTF-8
        raise _Undecodable("is not valid JSON") from None
    except RecursionError:  # a hostile body nested thousands deep
        raise _Undecodable("is nested too deeply") from None


def _error_detail(response: Response) -> tuple[str | None, str]:
    """The API's error type and message, or (None, "") if the body is not the API's error."""
    try:
        detail = _decode(error_response_decoder, response.body, "an error").error
    except _Undecodable:
        return None, ""
    return detail.type, detail.message or ""


_ERROR_TYPE_CHARS = 100  # the API's are short words, such as `record-not-found`


def error_for(request: Request, response: Response) -> ApiError:
    """The exception for an error response, with the server's own type and message."""
    error_type, message = _error_detail(response)
    # Not the API's shape (a proxy's page, say): show what it was instead.
    message = shortened(message) if message else excerpt(response.body) or "(empty body)"
    return api_error(
        request.method,
        request.path,
        status=response.status,
        error_type=None if error_type is None else shortened(error_type, _ERROR_TYPE_CHARS),
        message=message,
        retry_after=retry_after(response.headers.get("Retry-After")),
    )


def retry_after(value: str | None) -> float | None:
    """The wait a `Retry-After` header asks for, in seconds: it gives seconds or an HTTP date.

    None when it is absent or unreadable; a date in the past is no wait at all.
    """
    if value is None:
        return None
    seconds = value.strip(" \t")  # HTTP's whitespace only: float() would refuse some others
    if _SECONDS.fullmatch(seconds):
        return float(seconds)
    when = _http_date(value)
    return None if when is None else max(0.0, (when - datetime.now(UTC)).total_seconds())


_SECONDS = re.compile(r"[0-9]{1,9}(\.[0-9]+)?")  # RFC 9110 says whole; a fraction is harmless


def _http_date(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)  # GMT, by RFC 9110


def _is_missing(response: Response) -> bool:
    """The API's own "no such run or record", unlike a 404 from a wrong URL."""
    return response.status == 404 and _error_detail(response)[0] == "record-not-found"


_CONTENT_TYPE = istr("Content-Type")  # looked up as it is, not lowercased on every response
_JSON = "application/json"


def _data(
    request: Request,
    response: Response,
    decoder: msgspec.json.Decoder[DataEnvelope[T]],
    what: str,
) -> T:
    """The `data` of a successful JSON response; raises the matching error otherwise."""
    if not 200 <= response.status < 300:  # `_require_success`, inline: every response comes here
        raise error_for(request, response)
    content_type = response.headers.get(_CONTENT_TYPE, "")
    if not (content_type.startswith(_JSON) or content_type.lower().startswith(_JSON)):
        raise _invalid(request, response, f"has Content-Type {content_type!r}, not JSON")
    try:
        return _decode(decoder, response.body, what).data
    except _Undecodable as exc:
        raise _invalid(request, response, exc.reason) from None


def run(request: Request, response: Response) -> Run:
    """The `Run` in a successful response; raises the matching error otherwise."""
    found = _data(request, response, run_response_decoder, "a run")
    # The run asked for (checked when asked) needs no more checks: one comparison, as every
    # run decoded comes through here.
    if found.id != request.run_id:
        if request.run_id is not None:  # a proxy's or a cache's mix-up: never passed off
            raise _invalid(request, response, f"is about run {found.id!r}, not the one asked for")
        if not (found.id.isalnum() and found.id.isascii()):
            _check_id(request, response, found.id)
    return found


def _check_id(request: Request, response: Response, run_id: str) -> None:
    # Ids go into later URLs: one from a hostile server must not change them.
    try:
        check.resource_id(run_id, "the run's id")
    except ValueError as exc:
        raise _invalid(request, response, f"is not a run ({exc})") from None


def run_list(request: Request, response: Response) -> RunList:
    """A page of a run list; raises the matching error otherwise."""
    page = _data(request, response, run_list_decoder, "a list of runs")
    for item in page.items:
        _check_id(request, response, item.id)
    return page


def run_list_and_time(request: Request, response: Response) -> tuple[RunList, datetime | None]:
    """A page of a run list and the server's time (its Date header, if it has a readable
    one): what a start's look-up reckons with."""
    return run_list(request, response), _http_date(response.headers.get("Date"))


def run_or_none(request: Request, response: Response) -> Run | None:
    """Like `run`, but None where the API says the run does not exist."""
    if response.status == 404 and _is_missing(response):
        return None
    return run(request, response)


def record_or_none(request: Request, response: Response) -> Record | None:
    """The record in a response, or None where the API says it does not exist."""
    key = request.path.rpartition("/")[2]
    if _is_missing(response):
        return None
    _require_success(request, response)
    content_type = response.headers.get("Content-Type", "application/octet-stream")
    return Record(key, content_type, response.body)


def refuse(request: Request, response: Response) -> NoReturn:
    """Raise the error for a response that is not a success."""
    raise error_for(request, response)


def key_list(request: Request, response: Response) -> KeyList:
    """A page of a key-value store's keys; raises the matching error otherwise."""
    return _data(request, response, key_list_decoder, "a list of keys")


def found(request: Request, response: Response) -> bool:
    """Whether a HEAD found what it asked about; raises the matching error otherwise. A HEAD's
    404 has no body to say what was missing."""
    if response.status == 404:
        return False
    _require_success(request, response)
    return True


def text(request: Request, response: Response) -> str:
    """A text body (a log), decoded as UTF-8; raises the matching error otherwise."""
    _require_success(request, response)
    return response.body.decode("utf-8", errors="replace")


def content(request: Request, response: Response) -> bytes:
    """A body as it is (an export of dataset items); raises the matching error otherwise."""
    _require_success(request, response)
    return response.body


def no_content(request: Request, response: Response) -> None:
    """Success without data (delete); raises the matching error otherwise."""
    _require_success(request, response)


def dataset(request: Request, response: Response) -> Dataset:
    """The `Dataset` in a successful response; raises the matching error otherwise."""
    return _data(request, response, dataset_response_decoder, "a dataset")


def dataset_or_none(request: Request, response: Response) -> Dataset | None:
    """Like `dataset`, but None where the API says the dataset does not exist."""
    if response.status == 404 and _is_missing(response):
        return None
    return dataset(request, response)


class ItemDecoders(NamedTuple):
    """The decoders of a page of items of one type: all at once, and one by one (to name the
    item that does not fit)."""

    name: str
    page: msgspec.json.Decoder[list[Any]]
    item: msgspec.json.Decoder[Any]


_item_decoders: dict[object, ItemDecoders] = {}
_raw_items = msgspec.json.Decoder(list[msgspec.Raw])


def item_decoders(item_type: object) -> ItemDecoders:
    """The decoders for `item_type` (a Struct, TypedDict, dataclass... or `Any` for plain JSON),
    built once per type. A type msgspec cannot decode into raises `TypeError`."""
    decoders = _item_decoders.get(item_type)
    if decoders is None:
        try:
            page = msgspec.json.Decoder(list[item_type])  # type: ignore[valid-type]
            item = msgspec.json.Decoder(item_type)
        except TypeError as exc:
            raise TypeError(f"item_type {item_type!r} cannot be decoded into: {exc}") from None
        name = getattr(item_type, "__name__", repr(item_type))
        decoders = _item_decoders[item_type] = ItemDecoders(name, page, item)
    return decoders


_PAGINATION = tuple(
    istr(f"X-Apify-Pagination-{name}") for name in ("Offset", "Limit", "Count", "Total")
)
_DESC = istr("X-Apify-Pagination-Desc")


def item_page(request: Request, response: Response, decoders: ItemDecoders) -> ItemPage[Any]:
    """A page of dataset items, with its pagination headers; raises the matching error
    otherwise (`InvalidItemError` names an item that does not fit the type)."""
    _require_success(request, response)
    figures = []
    for header in _PAGINATION:
        value = response.headers.get(header, "")
        # At most 18 digits: int() refuses thousands, and no dataset is that large anyway.
        if not (value.isdigit() and value.isascii() and len(value) <= 18):
            raise _invalid(request, response, f"has {header} {value!r}, not a whole number")
        figures.append(int(value))
    offset, limit, count, total = figures
    desc = response.headers.get(_DESC, "false").lower() == "true"
    try:
        items = _decode(decoders.page, response.body, "a list of items")
    except _Undecodable as exc:
        raise _bad_item(request, response, decoders, offset, total, desc) or _invalid(
            request, response, exc.reason
        ) from None
    return ItemPage(items, total=total, offset=offset, limit=limit, count=count, desc=desc)


def _bad_item(
    request: Request,
    response: Response,
    decoders: ItemDecoders,
    offset: int,
    total: int,
    desc: bool,
) -> InvalidItemError | None:
    """The error naming the first item that does not fit, found by decoding one at a time."""
    try:
        raws = _decode(_raw_items, response.body, "a list")
    except _Undecodable:
        return None  # not a list at all, or not JSON
    for position, raw in enumerate(raws):
        try:
            _decode(decoders.item, raw, f"a {decoders.name}")
        except _Undecodable as exc:
            index = total - 1 - (offset + position) if desc else offset + position
            return InvalidItemError(
                request.method,
                request.path,
                status=response.status,
                index=index,
                reason=exc.reason,
                excerpt=excerpt(bytes(raw)),
            )
    return None


def _invalid(request: Request, response: Response, reason: str) -> InvalidResponseError:
    return InvalidResponseError(
        request.method,
        request.path,
        status=response.status,
        reason=reason,
        excerpt=excerpt(response.body),
    )
