"""Argument checks that run before any request is sent.

Each check raises `ValueError` (or `TypeError` for a wrong type) whose message starts with the
argument's name, and returns the value in the form the API wants.
"""

from __future__ import annotations

import base64
import math
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import msgspec

from ._status import GeneralAccess

T = TypeVar("T")

# URL-unreserved characters only: an id never needs escaping, so it can never smuggle a path
# segment, a query or a fragment into the URL.
_MAX_ID_CHARS = 200
_ID_PATTERN = re.compile(rf"[A-Za-z0-9._~-]{{1,{_MAX_ID_CHARS}}}")

# What the platform allows in a key-value store key; none of these needs escaping in a path.
_RECORD_KEY_PATTERN = re.compile(r"[A-Za-z0-9!\-_.'()]{1,256}")

MAX_WAIT_SECS = 60
_PERMISSION_LEVELS = frozenset({"LIMITED_PERMISSIONS", "FULL_PERMISSIONS"})
_GENERAL_ACCESS = frozenset(GeneralAccess)


def resource_id(value: object, name: str) -> str:
    """A run, store or build id: non-empty, URL-safe, without `..`."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if value.isalnum() and value.isascii() and len(value) <= _MAX_ID_CHARS:
        return value  # the usual id, checked without the pattern (every run decode does this)
    if not value:
        raise ValueError(f"{name} must not be empty")
    if not _ID_PATTERN.fullmatch(value) or ".." in value or value == ".":
        raise ValueError(
            f"{name} {value!r} is not a valid id: use letters, digits and . _ ~ - only "
            "(no slashes, '..', whitespace or control characters)"
        )
    return value


def record_key(value: object, name: str = "key") -> str:
    """A key-value store key: 1 to 256 of a-z A-Z 0-9 ! - _ . ' ( )."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not _RECORD_KEY_PATTERN.fullmatch(value) or value in (".", ".."):
        raise ValueError(
            f"{name} {value!r} is not a valid record key: use 1 to 256 of a-z A-Z 0-9 ! - _ . ' ( )"
        )
    return value


def actor_id(value: object, name: str) -> str:
    """An Actor or task id, or `owner/name`, which the API spells `owner~name`."""
    if isinstance(value, str) and value.count("/") == 1 and "~" not in value:
        owner, _, actor = value.partition("/")
        if owner and actor:
            value = f"{owner}~{actor}"
    return resource_id(value, name)


def _number(value: object, name: str) -> float:
    # bool is an int subclass, but `memory_mbytes=True` is surely a mistake.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if isinstance(value, int) and abs(value) > sys.float_info.max:
        raise ValueError(f"{name} is too large, got {value!r}")
    return value


def non_negative(value: object, name: str) -> float:
    number = _number(value, name)
    if number < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return number


def positive(value: object, name: str) -> float:
    number = _number(value, name)
    if number <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return number


def non_negative_int(value: object, name: str) -> int:
    number = _number(value, name)
    if not isinstance(number, int) or number < 0:
        raise ValueError(f"{name} must be a whole number of at least 0, got {value!r}")
    return number


def positive_int(value: object, name: str) -> int:
    number = _number(value, name)
    if not isinstance(number, int) or number < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
    return number


def memory_mbytes(value: object, name: str = "memory_mbytes") -> int:
    number = _number(value, name)
    if not isinstance(number, int) or number < 128 or number > 32768 or number & (number - 1):
        raise ValueError(f"{name} must be a power of 2 from 128 to 32768, got {value!r}")
    return number


def wait_secs(value: object, name: str) -> float:
    number = non_negative(value, name)
    if number > MAX_WAIT_SECS:
        raise ValueError(f"{name} must be at most {MAX_WAIT_SECS} seconds, got {value!r}")
    return number


def flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return value


_IDEMPOTENCY_KEY_PATTERN = re.compile(r"[A-Za-z0-9._~:@+=-]{1,128}")


def idempotency_key(value: object, name: str = "idempotency_key") -> str:
    """A caller's key for a start: 1 to 128 of a-z A-Z 0-9 . _ ~ : @ + = -, which the start
    carries in its User-Agent as one word."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not _IDEMPOTENCY_KEY_PATTERN.fullmatch(value):
        raise ValueError(
            f"{name} {value!r} is not a valid idempotency key: use 1 to 128 of "
            "a-z A-Z 0-9 . _ ~ : @ + = -"
        )
    return value


def duration_secs(value: object, name: str) -> float:
    """A positive length of time, in seconds or as a `timedelta`."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    return positive(value, name)


def text(value: object, name: str) -> str:
    """A free-form string such as a status message."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    return value


def tag(value: object, name: str) -> str:
    """A short word such as a build tag: non-empty, no whitespace or control characters."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value or any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError(f"{name} must be non-empty, without whitespace, got {value!r}")
    return value


def header_value(value: object, name: str) -> str:
    """A value sent in an HTTP header, such as a content type: one printable line."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value.strip() or not value.isprintable():
        raise ValueError(f"{name} must be one printable line, got {value!r}")
    return value


def permission_level(value: object, name: str = "force_permission_level") -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if value not in _PERMISSION_LEVELS:
        raise ValueError(f"{name} must be one of {sorted(_PERMISSION_LEVELS)}, got {value!r}")
    return str(value)


def general_access(value: object, name: str = "general_access") -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if value not in _GENERAL_ACCESS:
        raise ValueError(f"{name} must be one of {sorted(_GENERAL_ACCESS)}, got {value!r}")
    return str(value)


# The official Python client takes webhooks with snake_case keys; the API wants camelCase.
_WEBHOOK_KEYS = {
    "event_types": "eventTypes",
    "request_url": "requestUrl",
    "payload_template": "payloadTemplate",
    "headers_template": "headersTemplate",
    "idempotency_key": "idempotencyKey",
    "ignore_ssl_errors": "ignoreSslErrors",
    "do_not_retry": "doNotRetry",
    "should_interpolate_strings": "shouldInterpolateStrings",
}


def webhooks(value: object, name: str = "webhooks") -> str:
    """Ad-hoc webhooks, as the Base64-encoded JSON list the API takes in a query parameter.

    A `WebhookReceiver`, alone or in the list, stands for its `ad_hoc_webhook()`."""
    if _ad_hoc(value) is not None:
        value = [value]
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a list of dicts, not {type(value).__name__}")
    encoded: list[dict[str, Any]] = []
    for index, webhook in enumerate(value):
        where = f"{name}[{index}]"
        if (ad_hoc := _ad_hoc(webhook)) is not None:
            webhook = ad_hoc()
        if not isinstance(webhook, Mapping):
            raise TypeError(f"{where} must be a dict, not {type(webhook).__name__}")
        camel = {_WEBHOOK_KEYS.get(str(key), str(key)): item for key, item in webhook.items()}
        event_types = camel.get("eventTypes")
        if (
            not isinstance(event_types, Sequence)
            or isinstance(event_types, str)
            or not event_types
            or not all(isinstance(event, str) and event for event in event_types)
        ):
            raise ValueError(f"{where} needs 'event_types', a non-empty list of event names")
        if not isinstance(camel.get("requestUrl"), str) or not camel["requestUrl"]:
            raise ValueError(f"{where} needs 'request_url', the URL to call")
        encoded.append(camel)
    try:
        as_json = msgspec.json.encode(encoded)
    except (TypeError, msgspec.EncodeError) as exc:
        raise TypeError(f"{name} cannot be encoded as JSON: {exc}") from None
    return base64.b64encode(as_json).decode("ascii")


def _ad_hoc(value: object) -> Callable[[], Mapping[str, Any]] | None:
    """The `ad_hoc_webhook` method of a `WebhookReceiver` (duck-typed: that module imports
    this one)."""
    method = getattr(value, "ad_hoc_webhook", None)
    return method if callable(method) else None


def of_type(value: T, cls: type[Any], name: str, *, optional: bool = False) -> T:
    """`value` if it is a `cls` (or None, if `optional`); a TypeError naming it otherwise."""
    if not (isinstance(value, cls) or (optional and value is None)):
        wanted = f"a {cls.__name__} or None" if optional else f"a {cls.__name__}"
        raise TypeError(f"{name} must be {wanted}, got {type(value).__name__}")
    return value


def many(values: T, name: str) -> T:
    """A list or iterable of runs or inputs. A str is iterable too, but surely not what's meant."""
    if isinstance(values, str | bytes):
        raise TypeError(f"{name} must be a list or an iterable of them, not a single str")
    return values


def optional_wait(value: float | None, name: str = "wait_secs") -> float | None:
    return None if value is None else non_negative(value, name)


def poll_interval(value: float | None, name: str = "poll_interval") -> float | None:
    if value is not None:
        interval = non_negative(value, name)
        if not 1 <= interval <= MAX_WAIT_SECS:
            raise ValueError(f"{name} must be 1 to 60 seconds, got {value!r}")
    return value


def run_input(value: object, content_type: str | None, name: str) -> None:
    """Whether `value` can be sent as a run input with `content_type`."""
    if value is None:
        if content_type is not None:
            raise ValueError("content_type is given but there is no input to send")
    elif isinstance(value, bytes | str):
        if content_type is None:
            raise ValueError(f"content_type is required when {name} is bytes or str")
        header_value(content_type, "content_type")
    elif not isinstance(value, Mapping | Sequence):
        raise TypeError(
            f"{name} must be a dict or list (sent as JSON), or bytes / str with content_type; "
            f"got {type(value).__name__}"
        )
    elif content_type is not None and not content_type.startswith("application/json"):
        raise ValueError(f"a dict or list {name} is sent as JSON; content_type {content_type!r}")


def destination(value: object, name: str = "to") -> None:
    """Where a download goes: a file path, or a binary stream open for writing."""
    if not isinstance(value, str | os.PathLike) and not callable(getattr(value, "write", None)):
        raise TypeError(
            f"{name} must be a file path or a binary stream, not {type(value).__name__}"
        )
