"""The Actors and the task every emulator has.

- `apify~hello-world`: says hello, waits about a second, stores `OUTPUT`.
- `emulator~scripted`: plays the scenario its input describes, so that any HTTP client can
  drive any run: `{"steps": [{"sleepSecs": 0.2, "statusMessage": "Crawling 1/3"}],
  "outcome": "SUCCEEDED" | "FAILED", "exitCode": 0, "output": <any JSON>}`.
  Items for the default dataset: `"pushItems": [{...}, ...]` on a step is pushed when the
  step runs (after its sleep); `"generateItems": {"count": N, "bytes": B, "seed": S}` on a
  step pushes N synthetic items of about B bytes each, the same ones for the same seed
  (`{"index": i, "seed": S, "payload": "..."}`), without a huge input. Both may also be
  given at the top level: pushed after the last step. `"logLines": N` on a step writes N
  lines to the log (`Step S line L`) when it runs.
  It is pay-per-event for any event name, so that its runs can be charged without set-up.
- `emulator~scripted-task`: a task of `emulator~scripted` with two short steps.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ._context import ActorContext
from ._faults import is_whole

HELLO_WORLD = "apify~hello-world"
SCRIPTED = "emulator~scripted"
SCRIPTED_TASK = "emulator~scripted-task"

SCRIPTED_TASK_INPUT: Mapping[str, Any] = {
    "steps": [
        {"sleepSecs": 0.1, "statusMessage": "Task step 1/2"},
        {"sleepSecs": 0.1, "statusMessage": "Task step 2/2"},
    ],
    "output": {"task": True},
}

_OUTCOMES = ("SUCCEEDED", "FAILED")


@dataclass(frozen=True, slots=True)
class HelloWorld:
    """`apify~hello-world`, taking `seconds` to say hello."""

    seconds: float

    async def __call__(self, ctx: ActorContext) -> None:
        ctx.set_status_message("Starting")
        ctx.log("Hello world!")
        if await ctx.sleep(self.seconds):
            ctx.set_status_message("Stopped early")
            return
        ctx.set_record("OUTPUT", {"message": "Hello world!"})
        ctx.set_status_message("Done", is_terminal=True)


class ScriptError(ValueError):
    """The input of `emulator~scripted` does not describe a scenario."""


class ScriptedFailure(Exception):
    """`emulator~scripted` failing because its input says so."""


@dataclass(frozen=True, slots=True)
class _Generate:
    count: int
    bytes: int
    seed: int


@dataclass(frozen=True, slots=True)
class _Items:
    """What a step (or the end of the script) pushes to the default dataset."""

    push: tuple[dict[str, Any], ...] = ()
    generate: _Generate | None = None


@dataclass(frozen=True, slots=True)
class _Step:
    sleep_secs: float
    status_message: str | None
    items: _Items = _Items()
    log_lines: int = 0


@dataclass(frozen=True, slots=True)
class _Script:
    steps: tuple[_Step, ...]
    succeed: bool
    exit_code: int
    output: Any
    has_output: bool
    items: _Items = _Items()


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _parse_items(where: str, source: dict[str, Any]) -> _Items:
    push = source.get("pushItems", [])
    if not isinstance(push, list) or not all(isinstance(item, dict) for item in push):
        raise ScriptError(f"Invalid input: {where}pushItems must be a list of objects")
    spec = source.get("generateItems")
    if spec is None:
        return _Items(tuple(push))
    if not isinstance(spec, dict):
        raise ScriptError(f"Invalid input: {where}generateItems must be an object")
    count, size, seed = spec.get("count", 0), spec.get("bytes", 100), spec.get("seed", 0)
    if not (is_whole(count, minimum=0) and is_whole(size, minimum=0) and isinstance(seed, int)):
        raise ScriptError(
            f"Invalid input: {where}generateItems needs whole numbers count, bytes and seed"
        )
    return _Items(tuple(push), _Generate(count, size, seed))


def parse_script(script_input: Any) -> _Script:
    """Read the scenario, or raise ScriptError saying what is wrong with it."""
    if script_input is None:
        script_input = {}
    if not isinstance(script_input, dict):
        raise ScriptError("Invalid input: expected a JSON object")
    steps_input = script_input.get("steps", [])
    if not isinstance(steps_input, list):
        raise ScriptError("Invalid input: 'steps' must be a list")
    steps = []
    for index, step in enumerate(steps_input):
        if not isinstance(step, dict):
            raise ScriptError(f"Invalid input: steps[{index}] must be an object")
        sleep_secs = step.get("sleepSecs", 0)
        message = step.get("statusMessage")
        if not _number(sleep_secs):
            raise ScriptError(f"Invalid input: steps[{index}].sleepSecs must be a number >= 0")
        if message is not None and not isinstance(message, str):
            raise ScriptError(f"Invalid input: steps[{index}].statusMessage must be a string")
        log_lines = step.get("logLines", 0)
        if not is_whole(log_lines, minimum=0):
            raise ScriptError(f"Invalid input: steps[{index}].logLines must be a whole number")
        items = _parse_items(f"steps[{index}].", step)
        steps.append(_Step(float(sleep_secs), message, items, log_lines))
    outcome = script_input.get("outcome", "SUCCEEDED")
    if outcome not in _OUTCOMES:
        raise ScriptError("Invalid input: 'outcome' must be 'SUCCEEDED' or 'FAILED'")
    succeed = outcome == "SUCCEEDED"
    exit_code = script_input.get("exitCode", 0 if succeed else 1)
    if not isinstance(exit_code, int) or isinstance(exit_code, bool):
        raise ScriptError("Invalid input: 'exitCode' must be an integer")
    return _Script(
        tuple(steps),
        succeed,
        exit_code,
        script_input.get("output"),
        "output" in script_input,
        _parse_items("", script_input),
    )


_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_POOL = 4096
_GENERATE_CHUNK = 10_000
"""Generated items are pushed this many at a time, letting other tasks run in between."""


def generated_items(count: int, size: int, seed: int) -> Iterator[dict[str, Any]]:
    """`count` items, each about `size` bytes as JSON: the same ones for the same seed.

    A payload is a slice of one random text drawn from the seed, so that making a million
    items costs a slice each, not a million draws.
    """
    text = "".join(random.Random(seed).choices(_ALPHABET, k=_POOL)) * (size // _POOL + 2)
    for index in range(count):
        # `{"index":…,"seed":…,"payload":"…"}` around the payload: 31 bytes and the digits.
        room = max(size - 31 - len(str(index)) - len(str(seed)), 0)
        start = index * 7919 % _POOL
        yield {"index": index, "seed": seed, "payload": text[start : start + room]}


async def _push(ctx: ActorContext, items: _Items) -> None:
    if items.push:
        ctx.push_data(list(items.push))
    spec = items.generate
    if spec is None:
        return
    generated = generated_items(spec.count, spec.bytes, spec.seed)
    for start in range(0, spec.count, _GENERATE_CHUNK):
        chunk = min(_GENERATE_CHUNK, spec.count - start)
        ctx.push_data(list(itertools.islice(generated, chunk)))
        await asyncio.sleep(0)


async def scripted(ctx: ActorContext) -> None:
    """`emulator~scripted`: each step sleeps, then sets its status message."""
    script = parse_script(ctx.input)
    for number, step in enumerate(script.steps):
        if await ctx.sleep(step.sleep_secs):
            return  # asked to stop (abort or timeout): stop promptly
        if step.status_message is not None:
            ctx.set_status_message(step.status_message)
        for line in range(step.log_lines):
            ctx.log(f"Step {number} line {line}")
            if line % _GENERATE_CHUNK == _GENERATE_CHUNK - 1:
                await asyncio.sleep(0)  # let the log's readers in
        await _push(ctx, step.items)
    await _push(ctx, script.items)
    if script.has_output:
        ctx.set_record("OUTPUT", script.output)
    ctx.exit_code = script.exit_code
    if not script.succeed:
        raise ScriptedFailure("The run failed, as its input asked")
