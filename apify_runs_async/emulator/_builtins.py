"""The Actors and the task every emulator has.

- `apify~hello-world`: says hello, waits about a second, stores `OUTPUT`.
- `emulator~scripted`: plays the scenario its input describes, so that any HTTP client can
  drive any run: `{"steps": [{"sleepSecs": 0.2, "statusMessage": "Crawling 1/3"}],
  "outcome": "SUCCEEDED" | "FAILED", "exitCode": 0, "output": <any JSON>}`. It is
  pay-per-event for any event name, so that its runs can be charged without set-up.
- `emulator~scripted-task`: a task of `emulator~scripted` with two short steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._context import ActorContext

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
class _Step:
    sleep_secs: float
    status_message: str | None


@dataclass(frozen=True, slots=True)
class _Script:
    steps: tuple[_Step, ...]
    succeed: bool
    exit_code: int
    output: Any
    has_output: bool


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


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
        steps.append(_Step(float(sleep_secs), message))
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
    )


async def scripted(ctx: ActorContext) -> None:
    """`emulator~scripted`: each step sleeps, then sets its status message."""
    script = parse_script(ctx.input)
    for step in script.steps:
        if await ctx.sleep(step.sleep_secs):
            return  # asked to stop (abort or timeout): stop promptly
        if step.status_message is not None:
            ctx.set_status_message(step.status_message)
    if script.has_output:
        ctx.set_record("OUTPUT", script.output)
    ctx.exit_code = script.exit_code
    if not script.succeed:
        raise ScriptedFailure("The run failed, as its input asked")
