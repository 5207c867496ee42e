"""The official OpenAPI spec (a copy of apify-docs' bundle), and the examples it holds."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).parent / "data" / "openapi.json"


@functools.cache
def spec() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as file:
        loaded: dict[str, Any] = json.load(file)
    return loaded


def run_response_examples() -> list[tuple[str, dict[str, Any]]]:
    """Every example of a `RunResponse` body in the spec, named by where it is; copies, which
    a test may change without changing them for the others."""
    found: list[tuple[str, dict[str, Any]]] = []
    for path, operations in spec()["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {}).get("application/json", {})
                if "RunResponse" not in json.dumps(content.get("schema", {})):
                    continue
                examples = [content["example"]] if "example" in content else []
                examples += [e["value"] for e in content.get("examples", {}).values()]
                name = f"{method.upper()} {path} {status}"
                found += [(name, copy.deepcopy(example)) for example in examples]
    return found
