"""Start options are declared once and checked the same way by every method that takes them;
the retry policy's schedule and its settings for the waits after a start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from apify_runs_async import ApifyConnectionError, ApifyRuns, Retries
from tests.fake_api import FakeApi, json_reply
from tests.helpers import ONE_TRY, run_body

pytestmark = pytest.mark.anyio

NOWHERE = "http://127.0.0.1:9"  # the discard port: a request sent would fail to connect


@pytest.fixture
async def offline() -> AsyncIterator[ApifyRuns]:
    async with ApifyRuns("secret-token", base_url=NOWHERE, retries=ONE_TRY) as client:
        yield client


async def test_a_misspelt_option_fails_as_a_misspelt_keyword_would(offline: ApifyRuns) -> None:
    options: dict[str, Any] = {"memory_mb": 256}  # not memory_mbytes
    for call in (offline.start, offline.call, offline.start_task, offline.call_task):
        with pytest.raises(TypeError, match="unexpected keyword argument 'memory_mb'"):
            await call("a~b", None, **options)
    with pytest.raises(TypeError, match="memory_mb"):
        offline.call_many("a~b", [{}], concurrency=1, **options)


async def test_a_task_takes_no_content_type_or_permission_level(offline: ApifyRuns) -> None:
    bad: list[dict[str, Any]] = [
        {"content_type": "text/plain"},
        {"force_permission_level": "FULL_PERMISSIONS"},
    ]
    for options in bad:
        with pytest.raises(TypeError, match=next(iter(options))):
            await offline.start_task("a~b", None, **options)
        with pytest.raises(TypeError, match=next(iter(options))):
            await offline.call_task("a~b", None, **options)


async def test_none_is_the_same_as_no_option(fake_api: FakeApi) -> None:
    fake_api.reply = json_reply(201, run_body())
    async with ApifyRuns("t", base_url=fake_api.base_url) as client:
        await client.start("a~b", None, build=None, memory_mbytes=None, webhooks=None)
        await client.start_task("a~b", None, timeout_secs=None, max_items=None)
    assert [r.query for r in fake_api.requests] == [{}, {}]


async def test_good_options_reach_the_api_under_their_api_names(fake_api: FakeApi) -> None:
    fake_api.reply = json_reply(201, run_body())
    async with ApifyRuns("t", base_url=fake_api.base_url) as client:
        await client.start_task(
            "me/task", {"a": 1}, memory_mbytes=1024, timeout_secs=1.5, restart_on_error=True
        )
    sent = fake_api.requests[0]
    assert sent.path == "/v2/actor-tasks/me~task/runs"
    assert sent.query == {"memory": "1024", "timeout": "2", "restartOnError": "true"}
    assert sent.body == b'{"a":1}'


async def test_a_bad_option_of_call_many_fails_before_any_run(offline: ApifyRuns) -> None:
    with pytest.raises(ValueError, match="memory_mbytes"):
        offline.call_many("a~b", [{}], concurrency=1, memory_mbytes=100)
    # A good one goes as far as sending: the failure is the connection's.
    with pytest.raises(ApifyConnectionError):
        await offline.start("a~b", None, memory_mbytes=128)


def test_the_backoff_schedule_doubles_within_its_ceiling() -> None:
    retries = Retries(first_delay_secs=1, max_delay_secs=5)
    for tries_failed, ceiling in [(1, 1), (2, 2), (3, 4), (4, 5), (9, 5)]:
        waits = [retries.wait(tries_failed, None) for _ in range(200)]
        assert min(waits) >= 0 and max(waits) <= ceiling
        assert max(waits) > ceiling / 2  # jittered over the whole range, not a fixed wait
    assert retries.wait(1, 7.0) == 7.0  # the server's wish, as it is
    assert Retries(max_retry_after_secs=3).wait(1, 7.0) == 3


def test_a_delay_function_need_not_be_hashable() -> None:
    class Waits:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self, tries: int, retry_after: float | None) -> float:
            return 0.01 * tries

    assert Retries(delay=Waits()).wait(3, None) == pytest.approx(0.03)


@pytest.mark.parametrize("field", ["not_found_grace_secs", "lookup_margin_secs"])
def test_the_waits_after_a_start_are_checked(field: str) -> None:
    negative: dict[str, Any] = {field: -1}
    not_a_number: dict[str, Any] = {field: "3"}
    with pytest.raises(ValueError, match=f"Retries.{field}"):
        Retries(**negative)
    with pytest.raises(TypeError, match=f"Retries.{field}"):
        Retries(**not_a_number)
