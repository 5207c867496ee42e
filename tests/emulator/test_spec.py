"""The spec validator itself: it must accept the spec's own examples and catch bad bodies."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from .spec import spec, validate


def _run_example() -> dict[str, Any]:
    """The spec's example of the `POST /v2/actor-runs/{runId}/abort` 200 response."""
    operation = spec()["paths"]["/v2/actor-runs/{runId}/abort"]["post"]
    example = operation["responses"]["200"]["content"]["application/json"]["example"]
    assert isinstance(example, dict)
    return example


def test_accepts_the_spec_example() -> None:
    validate(_run_example(), "RunResponse")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("data", "status"), "WAITING"),
        (("data", "startedAt"), "yesterday"),
        (("data", "options", "memoryMbytes"), 64),
        (("data", "stats", "rebootCount"), -1),
        (("data", "buildNumber"), "1"),
        (("data", "generalAccess"), "EVERYONE"),
    ],
)
def test_rejects_a_wrong_field(path: tuple[str, ...], value: Any) -> None:
    body = copy.deepcopy(_run_example())
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        validate(body, "RunResponse")


@pytest.mark.parametrize("field", ["id", "status", "meta", "options", "defaultDatasetId"])
def test_rejects_a_missing_required_field(field: str) -> None:
    body = copy.deepcopy(_run_example())
    del body["data"][field]
    with pytest.raises(jsonschema.ValidationError):
        validate(body, "RunResponse")


def test_error_types_come_from_the_spec() -> None:
    validate({"error": {"type": "record-not-found", "message": "x"}}, "ErrorResponse")
    with pytest.raises(jsonschema.ValidationError):
        validate({"error": {"type": "no-such-error-type", "message": "x"}}, "ErrorResponse")


def test_list_items_are_run_shorts() -> None:
    page = {"total": 1, "offset": 0, "limit": 1000, "desc": False, "count": 1, "items": [{}]}
    with pytest.raises(jsonschema.ValidationError):
        validate({"data": page}, "ListOfRunsResponse")


def test_unknown_schema_names_fail_loudly() -> None:
    with pytest.raises(KeyError):
        validate({}, "NoSuchSchema")
