"""Runs of the built-in task `emulator~scripted-task`."""

from __future__ import annotations

from typing import Any

import pytest

from .support import Api, steps

pytestmark = pytest.mark.anyio


async def _start_task(api: Api, ref: str = "emulator~scripted-task", **kwargs: Any) -> Any:
    return await api.request(
        "POST", f"/v2/actor-tasks/{ref}/runs", schema="RunResponse", expect=201, **kwargs
    )


async def test_a_task_run_plays_the_task_input(api: Api) -> None:
    response = await _start_task(api)
    run = response.data
    assert response.headers["Location"].endswith(f"/v2/actor-runs/{run['id']}")
    scripted = await api.start("emulator~scripted")
    assert run["actId"] == scripted["actId"]
    assert run["actorTaskId"] is not None
    done = await api.finished(run["id"])
    assert (done["status"], done["statusMessage"]) == ("SUCCEEDED", "Task step 2/2")
    assert (await api.record(run["id"], "OUTPUT")).json == {"task": True}
    task_input = (await api.record(run["id"], "INPUT")).json
    assert [step["statusMessage"] for step in task_input["steps"]] == [
        "Task step 1/2",
        "Task step 2/2",
    ]


async def test_the_request_input_is_merged_over_the_task_input(api: Api) -> None:
    run = (await _start_task(api, json={"output": {"mine": 1}, "extra": "x"})).data
    stored = (await api.record(run["id"], "INPUT")).json
    assert stored["output"] == {"mine": 1}
    assert stored["extra"] == "x"
    assert len(stored["steps"]) == 2  # kept from the task
    await api.finished(run["id"])
    assert (await api.record(run["id"], "OUTPUT")).json == {"mine": 1}


async def test_a_task_is_addressable_by_id(api: Api) -> None:
    first = (await _start_task(api, json={"steps": []})).data
    second = (await _start_task(api, first["actorTaskId"], json={"steps": []})).data
    assert second["actorTaskId"] == first["actorTaskId"]


async def test_task_run_options(api: Api) -> None:
    run = (
        await _start_task(
            api,
            params={"memory": 512, "timeout": 30, "build": "0.0.1", "waitForFinish": 10},
            json={"steps": steps("quick", sleep=0.01)},
        )
    ).data
    assert run["status"] == "SUCCEEDED"
    assert run["options"]["memoryMbytes"] == 512
    assert run["options"]["timeoutSecs"] == 30
    assert run["options"]["build"] == "0.0.1"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": [1, 2]},
        {"json": "text"},
        {"data": b"plain", "headers": {"Content-Type": "text/plain"}},
    ],
)
async def test_a_task_input_must_be_an_object(api: Api, kwargs: dict[str, Any]) -> None:
    await api.error(
        "POST", "/v2/actor-tasks/emulator~scripted-task/runs", 400, "invalid-input", **kwargs
    )


async def test_task_errors(api: Api) -> None:
    await api.error("POST", "/v2/actor-tasks/no~task/runs", 404, "record-not-found")
    await api.error(
        "POST",
        "/v2/actor-tasks/emulator~scripted-task/runs",
        400,
        "unknown-build-tag",
        params={"build": "beta"},
    )
    await api.error(
        "POST",
        "/v2/actor-tasks/emulator~scripted-task/runs",
        400,
        "run-input-body-not-valid-json",
        data=b"{",
        headers={"Content-Type": "application/json"},
    )
