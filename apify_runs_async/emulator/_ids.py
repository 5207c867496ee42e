"""Random identifiers shaped like Apify's."""

from __future__ import annotations

import secrets
import string

_ALPHANUMERIC = string.ascii_letters + string.digits
_LOWER_ALPHANUMERIC = string.ascii_lowercase + string.digits


def _random(alphabet: str, length: int) -> str:
    # One draw of a number below base**length, written in that base: as uniform as a
    # choice per character, at a fraction of the cost (a run takes four ids).
    base = len(alphabet)
    number = secrets.randbelow(base**length)
    digits = []
    for _ in range(length):
        number, digit = divmod(number, base)
        digits.append(alphabet[digit])
    return "".join(digits)


def new_id() -> str:
    """A 17-character alphanumeric id, like `HG7ML7M8z78YcAPEB`."""
    return _random(_ALPHANUMERIC, 17)


def new_token() -> str:
    """An API token shaped like Apify's personal tokens."""
    return "apify_api_" + _random(_ALPHANUMERIC, 36)


def new_container_url() -> str:
    return f"https://{_random(_LOWER_ALPHANUMERIC, 12)}.runs.apify.net"
