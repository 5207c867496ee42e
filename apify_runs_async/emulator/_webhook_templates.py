"""Webhook templates: a JSON-like text whose `{{variable}}` placeholders are replaced by the
JSON of the variable, as the platform fills `payloadTemplate` and `headersTemplate`.

`{{resource.id}}` reads into a variable; a name that leads nowhere is `null`. Placeholders
inside string literals are left alone unless the webhook asks for `shouldInterpolateStrings`:
then they are replaced by the value's text (a string as it is, anything else as JSON).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

# A JSON string literal (kept whole, so that its placeholders are found only on purpose), or
# a placeholder outside any string.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\{\{\s*([A-Za-z_][\w.]*)\s*\}\}')
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")

DEFAULT_PAYLOAD_TEMPLATE = """{
    "userId": {{userId}},
    "createdAt": {{createdAt}},
    "eventType": {{eventType}},
    "eventData": {{eventData}},
    "resource": {{resource}}
}"""
"""The platform's payload when a webhook gives no template."""


def lookup(variables: Mapping[str, Any], name: str) -> Any:
    """The value of `name` (dotted: `resource.stats.runTimeSecs`); None if there is none."""
    value: Any = variables
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _in_string(value: Any) -> str:
    text = value if isinstance(value, str) else _json(value)
    return _json(text)[1:-1]  # escaped for the inside of a string literal


def interpolate(template: str, variables: Mapping[str, Any], *, in_strings: bool = False) -> str:
    """The template with each placeholder replaced by its variable's JSON."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is not None:
            return _json(lookup(variables, name))
        literal = match.group(0)
        if not in_strings:
            return literal
        return _PLACEHOLDER.sub(lambda inner: _in_string(lookup(variables, inner[1])), literal)

    return _TOKEN.sub(replace, template)


def check_template(template: str, *, headers: bool) -> None:
    """Raise ValueError unless the template gives JSON (an object, for `headers`) whatever
    its variables are."""
    try:
        decoded = msgspec.json.decode(interpolate(template, {}))
    except msgspec.DecodeError:
        raise ValueError("is not JSON once its {{variables}} are filled in") from None
    if headers and not isinstance(decoded, dict):
        raise ValueError("must give a JSON object of headers")


def render_headers(
    template: str, variables: Mapping[str, Any], *, in_strings: bool
) -> dict[str, str]:
    """The headers a `headersTemplate` gives: strings as they are, other values as JSON."""
    decoded = msgspec.json.decode(interpolate(template, variables, in_strings=in_strings))
    if not isinstance(decoded, dict):
        return {}
    return {
        str(name): value if isinstance(value, str) else _json(value)
        for name, value in decoded.items()
    }
