"""Decode the `{"data": Run}` body of "start run" into a typed object, N times, several ways.

The body is the docs' example of the 201 response of `POST /v2/actors/{actorId}/runs`. The
vendored spec (tests/data/openapi.json) gives that response no inline example: the docs render
it from the `RunResponse` schema, property by property, from each property's own example, and
`docs_example()` does the same here (an enum's first value where a property has no example, the
discriminator's value for the pricing model, a fixed date for a date-time without an example).
It is encoded compactly, as the emulator sends it (`--indent 2` for pretty-printed JSON), and
its size is printed. `--example abort` uses the spec's one inline run example instead (abort's
200 response: no pricing info, no usage).

Each way is timed with `time.perf_counter_ns` over the whole loop of `--count` decodes (100,000),
best of `--repeat` rounds (3: about 45 s on 2 cores; each round times every way once, so a busy
spell on the machine hits them alike), with the garbage collector on as in a client. Compared:

- ours: `apify_runs_async._responses.run(request, response)`, what our client does with every
  response body (status and Content-Type checked, then the decoder); and the bare decoder;
- apify_client's per-response path, mirrored from `_resource_clients/run.py`: its
  `response_to_dict(response)` (`_utils/http.py`: `response.json()` on the impit `Response`, a
  dict check) then `RunResponse.model_validate(result).data`, on an `impit.Response` built once;
  and the same with `json.loads(body)` in place of impit's `json()`, as issue 5 words it;
- pydantic's own JSON parser: `RunResponse.model_validate_json(body).data`, and
  `Run.model_validate_json` on the body of the run alone;
- untyped: `json.loads(body)` and `msgspec.json.decode(body)`.

Every typed result is checked to agree on id, status and started_at, so no row times a no-op.
apify_client is installed only in the bench session:

    nox -s bench                       # or: python benchmarks/decode.py --count 100000
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
from common import machine, print_targets, save, table
from multidict import CIMultiDict, CIMultiDictProxy

from apify_runs_async._http import Request, Response
from apify_runs_async._models import run_response_decoder
from apify_runs_async._responses import run as run_from_response

SPEC_PATH = Path(__file__).parent.parent / "tests" / "data" / "openapi.json"
START_RUN = "/v2/actors/{actorId}/runs"
ABORT_RUN = "/v2/actor-runs/{runId}/abort"
DATE_TIME = "2019-11-30T07:34:24.202Z"  # for a date-time property that has no example
PLACEHOLDERS: dict[str, Any] = {"string": "string", "integer": 0, "number": 0, "boolean": True}

TARGET_VS_OFFICIAL = 8.0  # ours at least this many times faster than apify_client's path
TARGET_VS_MSGSPEC = 1.0  # ours no slower than untyped msgspec.json.decode


def load_spec() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as file:
        spec: dict[str, Any] = json.load(file)
    return spec


def docs_example(spec: dict[str, Any]) -> dict[str, Any]:
    """The 201 response of start run as the docs show it: built from the schema's examples."""
    schema = spec["paths"][START_RUN]["post"]["responses"]["201"]["content"]["application/json"]
    example: dict[str, Any] = sample(spec, schema["schema"])
    return example


def sample(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    """An example value for `schema`, the way an API docs renderer makes one."""
    if "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    if "example" in schema:
        return schema["example"]
    if schema.get("examples"):
        return schema["examples"][0]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("oneOf", "anyOf"):
        alternatives = [alt for alt in schema.get(key, ()) if alt.get("type") != "null"]
        if alternatives:
            value = sample(spec, alternatives[0])
            discriminator = schema.get("discriminator")
            if discriminator and isinstance(value, dict):
                ref = alternatives[0].get("$ref")
                tags = [tag for tag, to in discriminator.get("mapping", {}).items() if to == ref]
                if tags:
                    value[discriminator["propertyName"]] = tags[0]
            return value
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(sample(spec, part))
        return merged
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        value = {name: sample(spec, prop) for name, prop in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties")
        if not value and isinstance(extra, dict):
            value = {"additionalProp1": sample(spec, extra)}
        return value
    if kind == "array":
        return [sample(spec, schema.get("items", {}))]
    if kind == "string" and schema.get("format") == "date-time":
        return DATE_TIME
    return PLACEHOLDERS.get(str(kind))


def abort_example(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec's one inline example of a run response (abort run, 200)."""
    content = spec["paths"][ABORT_RUN]["post"]["responses"]["200"]["content"]
    example: dict[str, Any] = content["application/json"]["example"]
    return example


def official_models() -> tuple[Any, Any, Callable[[Any], Any], Any]:
    """apify_client's `Run`, `RunResponse`, `response_to_dict`, and impit (bench session only)."""
    models: Any = importlib.import_module("apify_client._models")
    http_utils: Any = importlib.import_module("apify_client._utils.http")
    impit: Any = importlib.import_module("impit")
    return models.Run, models.RunResponse, http_utils.response_to_dict, impit


def time_loop(decode: Callable[[], object], count: int) -> int:
    """Nanoseconds taken by `count` calls of `decode`, timed over the whole loop."""
    loop = range(count)
    started = time.perf_counter_ns()
    for _ in loop:
        decode()
    return time.perf_counter_ns() - started


def best_times(ways: dict[str, Callable[[], object]], count: int, repeat: int) -> dict[str, float]:
    """µs per call of each way, best of `repeat` rounds.

    Rounds are interleaved (every way once per round) so that a busy spell on the machine
    falls on all of them alike rather than on one.
    """
    best: dict[str, int] = {}
    for round_number in range(1, repeat + 1):
        for name, decode in ways.items():
            gc.collect()
            elapsed = time_loop(decode, count)
            best[name] = min(best.get(name, elapsed), elapsed)
        print(f"round {round_number} of {repeat} done", flush=True)
    return {name: nanos / count / 1000 for name, nanos in best.items()}


def key_fields(result: object) -> tuple[str, str, datetime]:
    """id, status and started_at of a decoded run, typed or a dict of the wire's JSON."""
    if isinstance(result, dict):
        return result["id"], result["status"], datetime.fromisoformat(result["startedAt"])
    run: Any = result  # our Struct or apify_client's pydantic model: the same attribute names
    return run.id, str(getattr(run.status, "value", run.status)), run.started_at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="decodes per round")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best one counts")
    parser.add_argument("--example", choices=("docs", "abort"), default="docs")
    parser.add_argument("--indent", type=int, default=0, help="pretty-print the body (0: compact)")
    parser.add_argument("--name", default="decode", help="results file name (no suffix)")
    args = parser.parse_args()

    spec = load_spec()
    example = docs_example(spec) if args.example == "docs" else abort_example(spec)
    indent = args.indent or None
    separators = None if indent else (",", ":")
    body = json.dumps(example, indent=indent, separators=separators).encode()
    run_body = json.dumps(example["data"], indent=indent, separators=separators).encode()
    print(f"body: {len(body):,} bytes ({args.example} example of a run response)")

    Run, RunResponse, response_to_dict, impit = official_models()
    request = Request("POST", "/v2/actors/emulator~scripted/runs")
    headers = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json; charset=utf-8"}))
    response = Response(201, headers, body)
    impit_response = impit.Response(
        201, content=body, headers={"content-type": "application/json; charset=utf-8"}
    )
    decoder = run_response_decoder
    loads = json.loads
    untyped = msgspec.json.decode

    ways: dict[str, Callable[[], object]] = {
        "ours: _responses.run(request, response)": lambda: run_from_response(request, response),
        "ours: run_response_decoder.decode(body).data": lambda: decoder.decode(body).data,
        "apify_client per response: response_to_dict(impit) + RunResponse.model_validate": (
            lambda: RunResponse.model_validate(response_to_dict(impit_response)).data
        ),
        "apify_client per response, json.loads + RunResponse.model_validate": (
            lambda: RunResponse.model_validate(loads(body)).data
        ),
        "pydantic: RunResponse.model_validate_json(body).data": (
            lambda: RunResponse.model_validate_json(body).data
        ),
        "pydantic: Run.model_validate_json(run body)": lambda: Run.model_validate_json(run_body),
        "untyped: json.loads(body)": lambda: loads(body)["data"],
        "untyped: msgspec.json.decode(body)": lambda: untyped(body)["data"],
    }
    fields = {name: key_fields(decode()) for name, decode in ways.items()}
    expected = fields["untyped: json.loads(body)"]
    for name, got in fields.items():
        assert got == expected, f"{name} decoded {got}, not {expected}"
    print(f"every way agrees: id {expected[0]}, status {expected[1]}, started_at {expected[2]}")

    micros = best_times(ways, args.count, args.repeat)

    ours = micros["ours: _responses.run(request, response)"]
    msgspec_untyped = micros["untyped: msgspec.json.decode(body)"]
    official_exact = micros[
        "apify_client per response: response_to_dict(impit) + RunResponse.model_validate"
    ]
    official_loads = micros["apify_client per response, json.loads + RunResponse.model_validate"]
    official = min(official_exact, official_loads)  # the faster of the two: the harder target
    result: dict[str, Any] = {
        "body_bytes": len(body),
        "example": args.example,
        "count": args.count,
        "repeat": args.repeat,
        "us_per_run": {name: round(value, 3) for name, value in micros.items()},
        "apify_client_per_response_over_ours": round(official / ours, 2),
        "apify_client_response_to_dict_path_over_ours": round(official_exact / ours, 2),
        "apify_client_json_loads_path_over_ours": round(official_loads / ours, 2),
        "ours_over_untyped_msgspec": round(ours / msgspec_untyped, 2),
        "bare_decoder_over_untyped_msgspec": round(
            micros["ours: run_response_decoder.decode(body).data"] / msgspec_untyped, 2
        ),
        "machine": machine(),
    }
    result["targets"] = {
        f"ours at least {TARGET_VS_OFFICIAL:g}x faster than apify_client's per-response path": (
            result["apify_client_per_response_over_ours"] >= TARGET_VS_OFFICIAL
        ),
        "ours no slower than untyped msgspec.json.decode": (
            ours <= msgspec_untyped * TARGET_VS_MSGSPEC
        ),
    }

    save(args.name, result)
    rows = [
        [name, f"{value:.2f}", f"{value / ours:.2f}x"]
        for name, value in sorted(micros.items(), key=lambda item: item[1])
    ]
    print()
    print(table(rows, ["way", "µs per run", "÷ ours"]))
    print()
    for key, value in result.items():
        if key not in ("targets", "us_per_run"):
            print(f"{key}: {value}")
    print()
    print_targets(result["targets"])


if __name__ == "__main__":
    main()
