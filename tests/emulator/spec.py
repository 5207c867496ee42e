"""Validate response bodies against the schemas of the official OpenAPI spec.

OpenAPI 3.1 schemas are JSON Schema 2020-12: the whole spec goes into one `referencing`
registry, so that the `$ref`s to `#/components/schemas/...` inside the schemas resolve.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema  # type: ignore[import-untyped]
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).parents[1] / "data" / "openapi.json"
_SPEC_URI = "urn:apify:openapi"


def _is_date_time(value: object) -> bool:
    # RFC 3339 wants a zone; `fromisoformat` raises on anything that is not a date-time.
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)


_formats = FormatChecker()
_formats.checks("date-time", raises=ValueError)(_is_date_time)
_formats.checks("uri")(_is_uri)


@functools.cache
def spec() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as file:
        loaded: dict[str, Any] = json.load(file)
    return loaded


@functools.cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(spec(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
    return registry


@functools.cache
def validator(schema_name: str) -> Any:
    """A validator for `#/components/schemas/<schema_name>`, checking formats too."""
    if schema_name not in spec()["components"]["schemas"]:
        raise KeyError(f"the spec has no schema {schema_name!r}")
    return Draft202012Validator(
        {"$ref": f"{_SPEC_URI}#/components/schemas/{schema_name}"},
        registry=_registry(),
        format_checker=_formats,
    )


def validate(body: Any, schema_name: str) -> None:
    """Raise `jsonschema.ValidationError` (the most relevant one) if `body` does not conform."""
    error = jsonschema.exceptions.best_match(validator(schema_name).iter_errors(body))
    if error is not None:
        raise error
