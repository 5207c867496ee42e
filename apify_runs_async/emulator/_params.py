"""Query parameters: parsed and checked as the API does, failing with 400 `invalid-input`."""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from multidict import MultiMapping

from .._status import GeneralAccess, RunOrigin, RunStatus
from ._errors import invalid_input
from ._time import parse_time

Query = MultiMapping[str]

MAX_WAIT_SECS = 60.0
MAX_LIMIT = 1000
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
PERMISSION_LEVELS = frozenset({"LIMITED_PERMISSIONS", "FULL_PERMISSIONS"})
STATUSES = frozenset(status.value for status in RunStatus)
ORIGINS = frozenset(origin.value for origin in RunOrigin)
GENERAL_ACCESS = frozenset(access.value for access in GeneralAccess)


def flag(query: Query, name: str) -> bool | None:
    """A boolean: `true`/`false`/`1`/`0`."""
    value = query.get(name)
    if value is None:
        return None
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise invalid_input(f"Parameter '{name}' must be a boolean (true, false, 1 or 0).")


def number(query: Query, name: str, *, integer: bool = False) -> float | None:
    """A finite number >= 0 (a whole one if `integer`)."""
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        parsed = float(value)
    except ValueError:
        parsed = math.nan
    if not math.isfinite(parsed) or parsed < 0 or (integer and not parsed.is_integer()):
        kind = "a whole number" if integer else "a number"
        raise invalid_input(f"Parameter '{name}' must be {kind} >= 0, got {value!r}.")
    return parsed


def integer(query: Query, name: str) -> int | None:
    parsed = number(query, name, integer=True)
    return None if parsed is None else int(parsed)


def memory_mbytes(query: Query) -> int | None:
    """`memory`: a power of 2 from 128 to 32768 MB."""
    memory = integer(query, "memory")
    if memory is not None and not (128 <= memory <= 32768 and memory.bit_count() == 1):
        raise invalid_input(
            f"Parameter 'memory' must be a power of 2 between 128 and 32768 MB, got {memory}."
        )
    return memory


def wait_secs(query: Query) -> float:
    """`waitForFinish`: seconds, at most 60 (larger values are treated as 60)."""
    return min(number(query, "waitForFinish") or 0.0, MAX_WAIT_SECS)


def choice(query: Query, name: str, allowed: Iterable[str]) -> str | None:
    value = query.get(name)
    if value is not None and value not in allowed:
        raise invalid_input(f"Parameter '{name}' must be one of {', '.join(sorted(allowed))}.")
    return value


def statuses(query: Query) -> frozenset[str] | None:
    """`status`: one status, a comma-separated list, or the parameter repeated."""
    values = [part.strip() for value in query.getall("status", []) for part in value.split(",")]
    values = [value for value in values if value]
    if not values:
        return None
    unknown = sorted(set(values) - STATUSES)
    if unknown:
        raise invalid_input(f"Parameter 'status' has unknown statuses: {', '.join(unknown)}.")
    return frozenset(values)


def moment(query: Query, name: str) -> datetime | None:
    value = query.get(name)
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise invalid_input(f"Parameter '{name}' must be an ISO 8601 date-time.") from None


@dataclass(frozen=True, slots=True)
class Page:
    offset: int
    limit: int
    desc: bool


def limit(query: Query) -> int:
    """`limit`: a limit above 1000 is treated as 1000, and so is 0, which the official client
    sends to mean "no limit"."""
    return min(integer(query, "limit") or MAX_LIMIT, MAX_LIMIT)


def page(query: Query) -> Page:
    """`offset`, `limit` (see `limit`) and `desc`."""
    return Page(
        offset=integer(query, "offset") or 0,
        limit=limit(query),
        desc=bool(flag(query, "desc")),
    )


def webhooks(query: Query) -> list[dict[str, Any]] | None:
    """`webhooks`: Base64 of a JSON list of `{eventTypes: [...], requestUrl: ...}`."""
    value = query.get("webhooks")
    if value is None:
        return None
    try:
        # A `+` sent unescaped in a query string arrives as a space.
        value = value.replace(" ", "+")
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_")
        decoded = msgspec.json.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise invalid_input("Parameter 'webhooks' must be Base64-encoded JSON.") from None
    if not isinstance(decoded, list):
        raise invalid_input("Parameter 'webhooks' must encode a JSON array of webhooks.")
    for index, webhook in enumerate(decoded):
        event_types = webhook.get("eventTypes") if isinstance(webhook, dict) else None
        url = webhook.get("requestUrl") if isinstance(webhook, dict) else None
        if (
            not isinstance(event_types, list)
            or not event_types
            or not all(isinstance(event, str) for event in event_types)
            or not isinstance(url, str)
            or not url
        ):
            raise invalid_input(
                f"Webhook {index} must have a non-empty 'eventTypes' list and a 'requestUrl'."
            )
    return decoded
