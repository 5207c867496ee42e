"""The official client (apify-client) against the emulator: it is the reference for what the
real API gives. Skipped unless `apify_client` is installed (it is not a dev dependency):

    python3 -m venv /tmp/official
    /tmp/official/bin/pip install apify-client==3.4.0 pytest anyio jsonschema
    /tmp/official/bin/pip install -e .
    /tmp/official/bin/python -m pytest tests/emulator/test_official_client.py
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from apify_runs_async.emulator import ActorContext, ApifyEmulator

from .support import fast_emulator, steps

apify_client = pytest.importorskip("apify_client")
errors = pytest.importorskip("apify_client.errors")

pytestmark = pytest.mark.anyio

LONG = {"steps": steps("working", sleep=30)}


async def _waiting(ctx: ActorContext) -> None:
    ctx.set_status_message("Waiting")
    await asyncio.sleep(3600)


@pytest.fixture
async def emu() -> AsyncIterator[ApifyEmulator]:
    async with fast_emulator(actors={"janedoe~waiting": _waiting}) as emulator:
        yield emulator


@pytest.fixture
def official_client(emu: ApifyEmulator) -> Any:
    # No retries: a retried 5xx would hide an emulator bug behind a slow pass.
    return apify_client.ApifyClientAsync(token=emu.token, api_url=emu.base_url, max_retries=0)


async def _running(official_client: Any, actor: str = "janedoe~waiting", **options: Any) -> Any:
    run = await official_client.actor(actor).start(**options)
    for _ in range(200):
        run = await official_client.run(run.id).get()
        if run.status == "RUNNING":
            return run
        await asyncio.sleep(0.01)
    raise AssertionError(f"run still {run.status}")


async def test_start_with_input_memory_and_timeout(official_client: Any) -> None:
    run = await official_client.actor("emulator~scripted").start(
        run_input={"steps": steps("one"), "output": {"ok": True}},
        memory_mbytes=512,
        run_timeout=timedelta(seconds=120),
        build="latest",
        max_items=10,
        restart_on_error=False,
    )
    assert run.status == "READY"
    assert run.options.memory_mbytes == 512
    assert run.options.disk_mbytes == 1024
    assert run.options.timeout_secs == 120
    assert run.options.max_items == 10
    assert run.meta.origin == "API"
    assert "ApifyClient" in (run.meta.user_agent or "")
    stored = await official_client.key_value_store(run.default_key_value_store_id).get_record(
        "INPUT"
    )
    assert stored["value"]["output"] == {"ok": True}


async def test_start_with_a_large_gzipped_input(official_client: Any) -> None:
    big = {"steps": [], "padding": "x" * 200_000}  # large enough for the client to gzip it
    run = await official_client.actor("emulator~scripted").start(run_input=big)
    stored = await official_client.run(run.id).key_value_store().get_record("INPUT")
    assert stored["value"] == big


async def test_call_waits_for_the_end(official_client: Any) -> None:
    run = await official_client.actor("emulator~scripted").call(
        run_input={"steps": steps("a", "b"), "output": [1, 2]}, logger=None
    )
    assert run.status == "SUCCEEDED"
    assert run.exit_code == 0
    assert run.status_message == "b"
    output = await official_client.key_value_store(run.default_key_value_store_id).get_record(
        "OUTPUT"
    )
    assert output["value"] == [1, 2]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_call_with_a_logger_streams_the_log(official_client: Any) -> None:
    # With a logger, `call` streams the log (`?stream=1`) and polls the status message, then
    # sleeps ~6 s to catch the final message: keep the run itself short.
    collect = _Collect()
    logger = logging.getLogger("official-client-test")
    logger.addHandler(collect)
    logger.setLevel(logging.DEBUG)
    try:
        run = await official_client.actor("apify~hello-world").call(logger=logger)
    finally:
        logger.removeHandler(collect)
    assert (run.status, run.status_message) == ("SUCCEEDED", "Done")
    streamed = "\n".join(collect.messages)
    # The client logs a streamed line once the next one arrives, and stops streaming when the
    # run ends: the last lines may be cut (on the real API too), the first ones are there.
    assert "Run created" in streamed
    assert "Starting apify~hello-world" in streamed
    assert "Message: Done" in streamed  # from the status message watcher


async def test_task_start_and_call(official_client: Any) -> None:
    run = await official_client.task("emulator~scripted-task").start(
        task_input={"output": {"mine": 1}}
    )
    assert run.actor_task_id is not None
    done = await official_client.run(run.id).wait_for_finish()
    assert done.status == "SUCCEEDED"
    output = await official_client.run(run.id).key_value_store().get_record("OUTPUT")
    assert output["value"] == {"mine": 1}
    called = await official_client.task(run.actor_task_id).call()
    assert called.status == "SUCCEEDED"


async def test_get_and_wait_for_finish(official_client: Any) -> None:
    run = await official_client.actor("apify~hello-world").start()
    got = await official_client.run(run.id).get()
    assert got.id == run.id
    assert got.usage_total_usd is not None
    done = await official_client.run(run.id).wait_for_finish()
    assert (done.status, done.status_message) == ("SUCCEEDED", "Done")
    assert done.finished_at is not None
    assert done.stats.run_time_secs > 0
    assert await official_client.run("AAAAAAAAAAAAAAAAA").get() is None


async def test_wait_for_finish_with_a_duration(official_client: Any) -> None:
    run = await official_client.actor("emulator~scripted").start(run_input=LONG)
    current = await official_client.run(run.id).wait_for_finish(wait_duration=timedelta(seconds=1))
    assert current.status == "RUNNING"


async def test_update(official_client: Any) -> None:
    run = await _running(official_client)
    updated = await official_client.run(run.id).update(
        status_message="Halfway", is_status_message_terminal=True, general_access="RESTRICTED"
    )
    assert updated.status_message == "Halfway"
    assert updated.is_status_message_terminal is True
    assert updated.general_access == "RESTRICTED"
    with pytest.raises(errors.ApifyApiError) as raised:
        await official_client.run(run.id).update(is_status_message_terminal=True)
    assert raised.value.status_code == 400
    assert raised.value.type == "cannot-set-is-status-message-terminal"


async def test_abort(official_client: Any) -> None:
    run = await _running(official_client)
    aborted = await official_client.run(run.id).abort()
    assert aborted.status == "ABORTED"
    with pytest.raises(errors.ApifyApiError) as raised:
        await official_client.run(run.id).abort()
    assert (raised.value.status_code, raised.value.type) == (400, "job-finished")


async def test_abort_gracefully(official_client: Any) -> None:
    run = await official_client.actor("emulator~scripted").start(run_input=LONG)
    aborting = await official_client.run(run.id).abort(gracefully=True)
    assert aborting.status in ("ABORTING", "ABORTED")
    done = await official_client.run(run.id).wait_for_finish()
    assert done.status == "ABORTED"


async def test_metamorph(official_client: Any) -> None:
    run = await _running(official_client)
    morphed = await official_client.run(run.id).metamorph(
        target_actor_id="emulator~scripted",
        run_input={"output": {"morphed": True}},
        target_actor_build="latest",
    )
    assert morphed.stats.metamorph == 1
    [event] = morphed.metamorphs
    assert event.input_key == "INPUT-METAMORPH-1"
    assert event.actor_id == morphed.act_id != run.act_id
    done = await official_client.run(run.id).wait_for_finish()
    assert done.status == "SUCCEEDED"
    output = await official_client.run(run.id).key_value_store().get_record("OUTPUT")
    assert output["value"] == {"morphed": True}


async def test_resurrect(official_client: Any) -> None:
    run = await official_client.actor("emulator~scripted").call(
        run_input={"outcome": "FAILED"}, memory_mbytes=256, logger=None
    )
    assert run.status == "FAILED"
    resurrected = await official_client.run(run.id).resurrect(memory_mbytes=512)
    assert resurrected.status == "RUNNING"
    assert resurrected.stats.resurrect_count == 1
    assert resurrected.options.memory_mbytes == 512
    assert resurrected.finished_at is None
    done = await official_client.run(run.id).wait_for_finish()
    assert done.status == "FAILED"


async def test_reboot(official_client: Any) -> None:
    run = await _running(official_client)
    rebooted = await official_client.run(run.id).reboot()
    assert rebooted.status == "RUNNING"
    assert rebooted.stats.reboot_count == 1


async def test_delete(official_client: Any) -> None:
    run = await _running(official_client)
    with pytest.raises(errors.ApifyApiError) as raised:
        await official_client.run(run.id).delete()
    assert (raised.value.status_code, raised.value.type) == (400, "cannot-remove-running-run")
    await official_client.run(run.id).abort()
    await official_client.run(run.id).delete()
    assert await official_client.run(run.id).get() is None


async def test_list_runs(official_client: Any) -> None:
    first = await official_client.actor("apify~hello-world").call(logger=None)
    second = await official_client.actor("emulator~scripted").start(run_input=LONG)
    page = await official_client.runs().list()
    assert [item.id for item in page.items] == [first.id, second.id]
    assert page.total == 2
    newest = await official_client.runs().list(desc=True, limit=1)
    assert [item.id for item in newest.items] == [second.id]
    finished = await official_client.runs().list(status="SUCCEEDED")
    assert [item.id for item in finished.items] == [first.id]
    either = await official_client.runs().list(status=["SUCCEEDED", "READY", "RUNNING"])
    assert either.total == 2
    since = await official_client.runs().list(started_after=second.started_at)
    assert [item.id for item in since.items] == [second.id]
    of_actor = await official_client.actor("emulator~scripted").runs().list()
    assert [item.id for item in of_actor.items] == [second.id]
    live_or_failed = (
        await official_client.actor("emulator~scripted")
        .runs()
        .list(status=["RUNNING", "READY", "FAILED"])
    )
    assert [item.id for item in live_or_failed.items] == [second.id]
    assert (
        await official_client.actor("emulator~scripted").runs().list(status="FAILED")
    ).total == 0
    until = await official_client.runs().list(started_before=first.started_at)
    assert [item.id for item in until.items] == [first.id]
    iterated = [item.id async for item in official_client.runs().iterate()]
    assert iterated == [first.id, second.id]


async def test_last_run(official_client: Any) -> None:
    first = await official_client.actor("emulator~scripted").call(logger=None)
    second = await official_client.actor("emulator~scripted").start(run_input=LONG)
    last = await official_client.actor("emulator~scripted").last_run().get()
    assert last.id == second.id
    succeeded = await official_client.actor("emulator~scripted").last_run(status="SUCCEEDED").get()
    assert succeeded.id == first.id
    from_api = await official_client.actor("emulator~scripted").last_run(origin="API").get()
    assert from_api.id == second.id
    aborted = await official_client.actor("emulator~scripted").last_run().abort()
    assert aborted.status == "ABORTED"
    assert await official_client.actor("apify~hello-world").last_run().get() is None


async def test_output_from_the_default_store(official_client: Any) -> None:
    run = await official_client.actor("apify~hello-world").call(logger=None)
    store = official_client.key_value_store(run.default_key_value_store_id)
    record = await store.get_record("OUTPUT")
    assert record["value"] == {"message": "Hello world!"}
    assert record["content_type"].startswith("application/json")
    assert await store.get_record("MISSING") is None
    via_run = await official_client.run(run.id).key_value_store().get_record("OUTPUT")
    assert via_run["value"] == record["value"]
    assert await store.record_exists("OUTPUT")


async def _colourful(ctx: ActorContext) -> None:
    ctx.log("\x1b[31mred\x1b[0m")


async def test_log(official_client: Any, emu: ApifyEmulator) -> None:
    run = await official_client.actor("apify~hello-world").call(logger=None)
    log = await official_client.run(run.id).log().get()
    assert "Hello world!" in log
    assert "SUCCEEDED" in log
    assert await official_client.log(run.id).get() == log
    assert await official_client.log("AAAAAAAAAAAAAAAAA").get() is None
    emu.register_actor("janedoe~colourful", _colourful)
    coloured = await official_client.actor("janedoe~colourful").call(logger=None)
    assert " red\n" in await official_client.run(coloured.id).log().get()
    raw = await official_client.run(coloured.id).log().get(raw=True)
    assert " \x1b[31mred\x1b[0m\n" in raw
    async with official_client.run(coloured.id).log().stream(raw=True) as response:
        assert b"".join([chunk async for chunk in response.aiter_bytes()]).decode() == raw


async def test_errors_carry_the_api_type(official_client: Any) -> None:
    with pytest.raises(errors.ApifyApiError) as raised:
        await official_client.actor("nobody~nothing").start()
    assert (raised.value.status_code, raised.value.type) == (404, "record-not-found")
    with pytest.raises(errors.ApifyApiError) as raised:
        await official_client.actor("apify~hello-world").start(memory_mbytes=100)
    assert (raised.value.status_code, raised.value.type) == (400, "invalid-input")
    wrong = apify_client.ApifyClientAsync(
        token="wrong", api_url=official_client._base_url.removesuffix("/v2"), max_retries=0
    )
    with pytest.raises(errors.ApifyApiError) as raised:
        await wrong.runs().list()
    assert (raised.value.status_code, raised.value.type) == (401, "invalid-token")


async def test_dataset_items_and_the_dataset(official_client: Any) -> None:
    pushed = [{"n": 1, "tags": ["a", "b"]}, {}, {"n": 3, "#hidden": True, "tags": []}]
    generated = {"count": 2500, "bytes": 120, "seed": 3}
    run = await official_client.actor("emulator~scripted").call(
        run_input={"steps": [{"pushItems": pushed}, {"generateItems": generated}]}, logger=None
    )
    dataset_client = official_client.run(run.id).dataset()
    page = await dataset_client.list_items(limit=3)
    assert page.items == pushed
    assert (page.total, page.offset, page.count, page.limit, page.desc) == (2503, 0, 3, 3, False)
    everything = await dataset_client.list_items()
    assert everything.limit == 999_999_999_999  # what the API says without a limit
    assert (everything.count, len(everything.items)) == (2503, 2503)
    backwards = await dataset_client.list_items(offset=1, limit=2, desc=True, fields=["index"])
    assert backwards.items == [{"index": 2498}, {"index": 2497}]
    assert backwards.desc is True
    clean = await dataset_client.list_items(limit=3, clean=True)
    assert clean.items == [{"n": 1, "tags": ["a", "b"]}, {"n": 3, "tags": []}]
    assert clean.count == 3  # rows read, not items returned
    # `iterate_items` pages by 1000 rows: every item once, in order.
    items = [item async for item in dataset_client.iterate_items()]
    assert items[:3] == pushed
    assert [item["index"] for item in items[3:]] == list(range(2500))
    # Unwind: the empty array gives no item, and the iterator still reads every row.
    unwound = [
        item async for item in dataset_client.iterate_items(limit=3, unwind=["tags"], chunk_size=2)
    ]
    assert unwound == [{"n": 1, "tags": "a"}, {"n": 1, "tags": "b"}, {}]
    dataset = await official_client.dataset(run.default_dataset_id).get()
    assert dataset.id == run.default_dataset_id
    assert (dataset.item_count, dataset.clean_item_count) == (2503, 2502)
    assert dataset.act_run_id == run.id
    assert await official_client.dataset("AAAAAAAAAAAAAAAAA").get() is None


async def _three_records(ctx: ActorContext) -> None:
    for key in ("b", "a", "c"):
        ctx.set_record(key, {"key": key})


async def test_key_value_store(official_client: Any, emu: ApifyEmulator) -> None:
    emu.register_actor("janedoe~three", _three_records)
    run = await official_client.actor("janedoe~three").call(logger=None)
    store = official_client.key_value_store(run.default_key_value_store_id)
    info = await store.get()
    assert (info.id, info.act_run_id) == (run.default_key_value_store_id, run.id)
    keys = await store.list_keys()
    # `call` sends an input, so the store has an `INPUT` record too.
    assert [item.key for item in keys.items] == ["INPUT", "a", "b", "c"]
    assert not keys.is_truncated
    first = await store.list_keys(limit=2)
    assert [item.key for item in first.items] == ["INPUT", "a"]
    assert (first.is_truncated, first.next_exclusive_start_key) == (True, "a")
    rest = await store.list_keys(exclusive_start_key="a")
    assert [item.key for item in rest.items] == ["b", "c"]
    assert [item.key async for item in store.iterate_keys(limit=3)] == ["INPUT", "a", "b"]
    assert [item.key async for item in store.iterate_keys()] == ["INPUT", "a", "b", "c"]
    assert (await store.get_record("b"))["value"] == {"key": "b"}
    assert await store.record_exists("c")
    assert not await store.record_exists("d")
    via_run = official_client.run(run.id).key_value_store()
    assert (await via_run.get()).id == info.id
    assert [item.key for item in (await via_run.list_keys(prefix="a")).items] == ["a"]
    assert await via_run.record_exists("a")
    assert not await via_run.record_exists("d")
    assert await official_client.key_value_store("AAAAAAAAAAAAAAAAA").get() is None
    assert not await official_client.key_value_store("AAAAAAAAAAAAAAAAA").record_exists("a")


async def test_charge(official_client: Any) -> None:
    run = await official_client.actor("emulator~scripted").start(run_input=LONG)
    assert run.pricing_info.pricing_model == "PAY_PER_EVENT"
    await official_client.run(run.id).charge("page", count=2)
    await official_client.run(run.id).charge("page", count=5, idempotency_key="once")
    await official_client.run(run.id).charge("page", count=5, idempotency_key="once")
    await official_client.run(run.id).charge("result")
    charged = await official_client.run(run.id).get()
    assert charged.charged_event_counts == {"page": 7, "result": 1}
    free = await official_client.actor("apify~hello-world").start()
    with pytest.raises(errors.ApifyApiError) as raised:
        await official_client.run(free.id).charge("page")
    assert (raised.value.status_code, raised.value.type) == (
        400,
        "cannot-charge-non-pay-per-event-actor",
    )
