"""Reading what a run produced: its records and its log, against the emulator; a missing run
is told from a missing record."""

from __future__ import annotations

import pytest

from apify_runs_async import ApifyRuns, NotFoundError
from tests.fake_api import FakeApi, error_reply, in_turn, json_reply
from tests.helpers import SHORT_GRACE, run_body, script

pytestmark = pytest.mark.anyio

MISSING_RUN = "noSuchRun0000000"


async def test_a_record_a_missing_key_and_a_missing_run(client: ApifyRuns) -> None:
    result = await client.call("emulator~scripted", script(output={"pages": 3}))
    record = await client.get_record(result.run, "OUTPUT")  # a Run, or its id
    assert record is not None and record.json() == {"pages": 3}
    assert await client.get_record(result.run.id, "NOT-THERE") is None
    with pytest.raises(NotFoundError, match=f"GET /v2/actor-runs/{MISSING_RUN}"):
        await client.get_record(MISSING_RUN, "OUTPUT")


async def test_whether_a_record_exists(client: ApifyRuns) -> None:
    result = await client.call("emulator~scripted", script(output=[1, 2]))
    assert await client.record_exists(result.run, "OUTPUT") is True
    assert await client.run(result.run.id).record_exists("INPUT") is True
    assert await client.record_exists(result.run.id, "NOT-THERE") is False
    with pytest.raises(NotFoundError, match=MISSING_RUN):
        await client.record_exists(MISSING_RUN, "OUTPUT")


async def test_record_exists_asks_with_head(fake_api: FakeApi) -> None:
    fake_api.reply = json_reply(200, {})
    async with ApifyRuns("t", base_url=fake_api.base_url) as client:
        assert await client.record_exists("r1", "OUTPUT") is True
    sent = fake_api.requests[0]
    assert (sent.method, sent.path) == ("HEAD", "/v2/actor-runs/r1/key-value-store/records/OUTPUT")


async def test_the_log(client: ApifyRuns) -> None:
    result = await client.call("apify/hello-world")
    log = await client.get_log(result.run)
    assert "Hello world!" in log
    assert log == await client.run(result.run.id).get_log()
    with pytest.raises(NotFoundError, match=f"GET /v2/actor-runs/{MISSING_RUN}/log"):
        await client.get_log(MISSING_RUN)


async def test_call_reads_the_output_without_checking_the_run_again(
    fake_api: FakeApi,
) -> None:
    # A finished run without OUTPUT: call() has just seen the run, so the 404 is the record's.
    replies = [
        json_reply(201, run_body(status="RUNNING")),
        json_reply(200, run_body(status="SUCCEEDED")),
        error_reply(404, "record-not-found", "Record was not found"),
    ]
    fake_api.reply = in_turn(*replies)
    async with ApifyRuns("t", base_url=fake_api.base_url, retries=SHORT_GRACE) as client:
        result = await client.call("me~actor")
    assert result.output is None
    assert [r.method for r in fake_api.requests] == ["POST", "GET", "GET"]


@pytest.mark.parametrize("bad_key", ["", "a/b", "x" * 257, "?q"])
async def test_bad_keys_fail_before_any_request(fake_api: FakeApi, bad_key: str) -> None:
    async with ApifyRuns("t", base_url=fake_api.base_url) as client:
        with pytest.raises(ValueError, match="key"):
            await client.get_record("r1", bad_key)
        with pytest.raises(ValueError, match="key"):
            await client.record_exists("r1", bad_key)
        with pytest.raises(ValueError, match="run"):
            await client.get_log("a/b")
    assert fake_api.requests == []
