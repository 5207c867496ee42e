"""Every run operation, over real HTTP to the emulator."""

from __future__ import annotations

import anyio
import pytest

from apify_runs_async import (
    ApifyRuns,
    BadRequestError,
    GeneralAccess,
    NotFoundError,
    Run,
    RunHandle,
    RunStatus,
    UnauthorizedError,
)
from apify_runs_async._config import USER_AGENT
from apify_runs_async.emulator import ApifyEmulator
from tests.helpers import script

pytestmark = pytest.mark.anyio

SLOW = script("working", step_secs=30)  # runs long enough to act on it while RUNNING


async def running(client: ApifyRuns, run_input: object = SLOW, **options: object) -> Run:
    """A run of emulator~scripted that has reached RUNNING."""
    run = await client.start("emulator~scripted", run_input, **options)  # type: ignore[arg-type]
    for _ in range(100):
        got = await client.get(run.id)
        assert got is not None
        if got.status == RunStatus.RUNNING:
            return got
        await anyio.sleep(0.02)
    raise AssertionError("the run never reached RUNNING")


async def test_start_sends_every_option(client: ApifyRuns) -> None:
    run = await client.start(
        "emulator/scripted",
        script("a"),
        build="latest",
        timeout_secs=120,
        memory_mbytes=2048,
        max_items=10,
        max_total_charge_usd=1.5,
        restart_on_error=False,
        webhooks=[{"event_types": ["ACTOR.RUN.SUCCEEDED"], "request_url": "https://x.test/h"}],
        force_permission_level="LIMITED_PERMISSIONS",
    )
    assert run.status in (RunStatus.READY, RunStatus.RUNNING)
    assert run.options.memory_mbytes == 2048
    assert run.options.timeout_secs == 120
    assert run.options.build == "latest"
    assert run.options.max_items == 10
    assert run.options.max_total_charge_usd == 1.5
    assert run.meta.user_agent is not None
    assert run.meta.user_agent.startswith(f"{USER_AGENT} nonce/")
    assert run.meta.origin == "API"
    assert run.started_at.tzinfo is not None


async def test_start_stores_a_json_input_as_the_input_record(client: ApifyRuns) -> None:
    run_input = {"steps": [], "url": "https://example.com", "list": [1, 2, 3]}
    run = await client.start("emulator~scripted", run_input)
    record = await client.get_record(run.id, "INPUT")
    assert record is not None
    assert record.content_type.startswith("application/json")
    assert record.json() == run_input


async def test_start_sends_bytes_and_str_as_they_are(client: ApifyRuns) -> None:
    run = await client.start("emulator~scripted", b"\x00\x01raw", content_type="image/png")
    record = await client.get_record(run.id, "INPUT")
    assert record is not None and record.body == b"\x00\x01raw"
    assert record.content_type.startswith("image/png")
    run = await client.start("emulator~scripted", "plain words", content_type="text/plain")
    record = await client.get_record(run.id, "INPUT")
    assert record is not None and record.text() == "plain words"


async def test_start_with_wait_for_finish_returns_the_finished_run(client: ApifyRuns) -> None:
    run = await client.start("emulator~scripted", script("a", output={"n": 1}), wait_for_finish=30)
    assert run.status == RunStatus.SUCCEEDED
    assert run.exit_code == 0 and run.finished_at is not None
    output = await client.get_record(run.id)
    assert output is not None and output.json() == {"n": 1}


async def test_hello_world(client: ApifyRuns) -> None:
    run = await client.start("apify~hello-world", wait_for_finish=10)
    assert run.status == RunStatus.SUCCEEDED
    output = await client.get_record(run.id, "OUTPUT")
    assert output is not None and output.json() == {"message": "Hello world!"}


async def test_a_failing_run(client: ApifyRuns) -> None:
    run = await client.start(
        "emulator~scripted", script("a", outcome="FAILED", exit_code=3), wait_for_finish=30
    )
    assert run.status == RunStatus.FAILED
    assert run.exit_code == 3


async def test_start_task_merges_input_and_marks_the_task(client: ApifyRuns) -> None:
    run = await client.start_task("emulator~scripted-task", {"output": {"mine": 1}})
    assert run.actor_task_id is not None
    finished = await client.wait_for_finish(run.id, wait_secs=30)
    assert finished is not None and finished.status == RunStatus.SUCCEEDED
    output = await client.get_record(run.id)
    assert output is not None and output.json() == {"mine": 1}


async def test_start_of_an_unknown_actor(client: ApifyRuns) -> None:
    with pytest.raises(NotFoundError, match="POST /v2/actors/nobody~nothing/runs: 404"):
        await client.start("nobody/nothing")


async def test_a_wrong_token_is_refused(emulator: ApifyEmulator) -> None:
    async with ApifyRuns("wrong-token", base_url=emulator.base_url) as client:
        with pytest.raises(UnauthorizedError) as caught:
            await client.start("emulator~scripted")
    assert caught.value.error_type == "invalid-token"
    assert "wrong-token" not in str(caught.value)


async def test_get(client: ApifyRuns) -> None:
    run = await client.start("emulator~scripted", script("a"))
    got = await client.get(run.id)
    assert got is not None and got.id == run.id and got.act_id == run.act_id
    assert await client.get("NoSuchRun12345678") is None
    finished = await client.get(run.id, wait_for_finish=30)
    assert finished is not None and finished.status == RunStatus.SUCCEEDED


async def test_abort(client: ApifyRuns) -> None:
    run = await running(client)
    aborted = await client.abort(run.id)
    assert aborted.status == RunStatus.ABORTED
    assert aborted.finished_at is not None
    with pytest.raises(BadRequestError, match="abort"):
        await client.abort(run.id)


async def test_a_graceful_abort_goes_through_aborting(client: ApifyRuns) -> None:
    run = await running(client)
    aborting = await client.abort(run.id, gracefully=True)
    assert aborting.status == RunStatus.ABORTING
    finished = await client.wait_for_finish(run.id, wait_secs=30)
    assert finished is not None and finished.status == RunStatus.ABORTED


async def test_metamorph(client: ApifyRuns, emulator: ApifyEmulator) -> None:
    run = await running(client)
    morphed = await client.metamorph(
        run.id, target_actor_id="apify/hello-world", run_input={"new": "input"}
    )
    assert morphed.act_id != run.act_id
    assert morphed.metamorphs is not None and len(morphed.metamorphs) == 1
    assert morphed.metamorphs[0].actor_id == morphed.act_id
    assert morphed.metamorphs[0].input_key == "INPUT-METAMORPH-1"
    record = await client.get_record(run.id, "INPUT-METAMORPH-1")
    assert record is not None and record.json() == {"new": "input"}
    finished = await client.wait_for_finish(run.id, wait_secs=30)
    assert finished is not None and finished.status == RunStatus.SUCCEEDED
    output = await client.get_record(run.id)
    assert output is not None and output.json() == {"message": "Hello world!"}


async def test_metamorph_of_a_finished_run_is_refused(client: ApifyRuns) -> None:
    run = await client.start("emulator~scripted", wait_for_finish=30)
    with pytest.raises(BadRequestError, match="metamorph"):
        await client.metamorph(run.id, target_actor_id="apify~hello-world")


async def test_resurrect(client: ApifyRuns) -> None:
    run = await client.start("emulator~scripted", script("a"), wait_for_finish=30)
    assert run.status == RunStatus.SUCCEEDED
    revived = await client.resurrect(run.id, memory_mbytes=512, timeout_secs=60)
    assert revived.id == run.id
    assert revived.status in (RunStatus.READY, RunStatus.RUNNING)
    assert revived.stats.resurrect_count == 1
    assert revived.options.memory_mbytes == 512
    assert revived.default_dataset_id == run.default_dataset_id
    finished = await client.wait_for_finish(run.id, wait_secs=30)
    assert finished is not None and finished.status == RunStatus.SUCCEEDED
    with pytest.raises(BadRequestError):
        await client.resurrect((await running(client)).id)


async def test_reboot(client: ApifyRuns) -> None:
    run = await running(client)
    rebooted = await client.reboot(run.id)
    assert rebooted.stats.reboot_count == 1
    assert rebooted.status == RunStatus.RUNNING
    await client.abort(run.id)
    with pytest.raises(BadRequestError, match="reboot"):
        await client.reboot(run.id)


async def test_update(client: ApifyRuns) -> None:
    run = await running(client)
    updated = await client.update(run.id, status_message="Halfway there")
    assert updated.status_message == "Halfway there"
    updated = await client.update(run.id, status_message="Done", is_status_message_terminal=True)
    assert updated.is_status_message_terminal is True
    updated = await client.update(run.id, general_access=GeneralAccess.RESTRICTED)
    assert updated.general_access == GeneralAccess.RESTRICTED
    got = await client.get(run.id)
    assert got is not None and got.status_message == "Done"
    await client.abort(run.id)


async def test_delete(client: ApifyRuns) -> None:
    run = await running(client)
    with pytest.raises(BadRequestError, match="DELETE"):
        await client.delete(run.id)
    await client.abort(run.id)
    await client.delete(run.id)
    assert await client.get(run.id) is None
    with pytest.raises(NotFoundError):
        await client.delete(run.id)


async def test_get_record_of_a_missing_key(client: ApifyRuns) -> None:
    run = await client.start("emulator~scripted", wait_for_finish=30)
    assert await client.get_record(run.id, "NOT-THERE") is None


async def test_wait_for_finish(client: ApifyRuns) -> None:
    run = await client.start("emulator~scripted", script("a", "b"))
    finished = await client.wait_for_finish(run.id)
    assert finished is not None and finished.status == RunStatus.SUCCEEDED
    assert finished.status_message == "b"


async def test_wait_for_finish_gives_up_after_wait_secs(client: ApifyRuns) -> None:
    run = await running(client)
    started = anyio.current_time()
    last = await client.wait_for_finish(run.id, wait_secs=1)
    assert last is not None and last.status == RunStatus.RUNNING
    assert 0.9 <= anyio.current_time() - started < 5
    await client.abort(run.id)


async def test_the_run_handle(client: ApifyRuns) -> None:
    run = await running(client)
    handle = client.run(run.id)
    assert isinstance(handle, RunHandle) and run.id in repr(handle)
    got = await handle.get()
    assert got is not None and got.id == run.id
    assert (await handle.update(status_message="via handle")).status_message == "via handle"
    assert (await handle.reboot()).stats.reboot_count == 1
    morphed = await handle.metamorph(target_actor_id="emulator~scripted", run_input=SLOW)
    assert morphed.metamorphs is not None
    assert (await handle.abort()).status == RunStatus.ABORTED
    assert (await handle.resurrect()).stats.resurrect_count == 1
    await handle.abort()
    finished = await handle.wait_for_finish()
    assert finished is not None and finished.status == RunStatus.ABORTED
    statuses = [s.status async for s in handle.watch()]
    assert statuses == [RunStatus.ABORTED]
    assert await handle.get_record("INPUT") is not None
    await handle.delete()
    assert await handle.get() is None
