"""Client-side rate limiting: requests paced per resource, per run start and per token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace

import aiohttp
import anyio
import pytest
from aiohttp import web

from apify_runs_async import ApifyRuns, RateLimits
from apify_runs_async._rate_limits import limited_resource
from apify_runs_async.emulator import ApifyEmulator
from tests.fake_api import FakeApi
from tests.helpers import RUN_ID, script
from tests.spec import run_response_examples

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/v2/actor-runs/abc", ("/v2/actor-runs/abc", False)),
        ("POST", "/v2/actor-runs/abc/abort", ("/v2/actor-runs/abc", False)),
        ("POST", "/v2/actor-runs/abc/metamorph", ("/v2/actor-runs/abc", True)),
        (
            "GET",
            "/v2/actor-runs/abc/key-value-store/records/OUTPUT",
            ("/v2/actor-runs/abc", False),
        ),
        ("POST", "/v2/actors/me~a/runs", ("/v2/actors/me~a", True)),
        ("GET", "/v2/actors/me~a/runs", ("/v2/actors/me~a", False)),
        ("POST", "/v2/actor-tasks/me~t/runs", ("/v2/actor-tasks/me~t", True)),
    ],
)
def test_which_limit_a_request_counts_against(
    method: str, path: str, expected: tuple[str, bool]
) -> None:
    assert limited_resource(method, path) == expected


def test_the_defaults_are_apifys_documented_limits() -> None:
    limits = RateLimits()
    assert (limits.per_resource_per_sec, limits.run_start_per_sec) == (60, 400)
    assert limits.per_token_per_minute == 250_000
    with pytest.raises(ValueError, match="per_resource_per_sec"):
        RateLimits(per_resource_per_sec=0)


@pytest.fixture
def arrivals(fake_api: FakeApi) -> list[float]:
    """When each request reached the server."""
    times: list[float] = []
    body = run_response_examples()[0][1]

    async def reply(request: web.Request) -> web.Response:
        times.append(anyio.current_time())
        # Each run's answer is about that run.
        run_id = request.path.split("/")[3] if request.path.startswith("/v2/actor-runs/") else ""
        answer = {"data": {**body["data"], "id": run_id or body["data"]["id"]}}
        return web.json_response(answer, status=201 if request.method == "POST" else 200)

    fake_api.reply = reply
    return times


async def _burst(client: ApifyRuns, count: int, run_id: str = RUN_ID) -> float:
    started = anyio.current_time()
    async with anyio.create_task_group() as group:
        for _ in range(count):
            group.start_soon(client.get, run_id)
    return anyio.current_time() - started


@pytest.fixture
async def limited(fake_api: FakeApi) -> AsyncIterator[ApifyRuns]:
    limits = RateLimits(per_resource_per_sec=20, run_start_per_sec=40)
    async with ApifyRuns("t", base_url=fake_api.base_url, rate_limits=limits) as client:
        yield client


def _most_in_any_second(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1) for start in times)


async def test_requests_to_one_run_are_paced(limited: ApifyRuns, arrivals: list[float]) -> None:
    took = await _burst(limited, 40)
    # A burst of half a second's worth (10), then 20 a second: 30 more take 1.5 s.
    assert 1.4 <= took < 3
    assert len(arrivals) == 40
    assert _most_in_any_second(arrivals) <= 10 + 20


async def test_each_run_has_its_own_limit(limited: ApifyRuns, arrivals: list[float]) -> None:
    async with anyio.create_task_group() as group:
        for run_id in (RUN_ID, "r2", "r3"):
            group.start_soon(_burst, limited, 20, run_id)
    # 20 requests to each of three runs take 0.5 s, not the 2.5 s one shared limit would.
    assert len(arrivals) == 60
    assert arrivals[-1] - arrivals[0] < 1.2


async def test_starts_have_their_own_higher_limit(
    limited: ApifyRuns, arrivals: list[float]
) -> None:
    started = anyio.current_time()
    async with anyio.create_task_group() as group:
        for _ in range(40):
            group.start_soon(limited.start, "me~actor")
    took = anyio.current_time() - started
    # 40 a second with a burst of 20: 40 starts take 0.5 s (the per-resource 20/s: 1.5 s).
    assert 0.4 <= took < 1.2


async def test_the_global_limit_spans_every_resource(
    fake_api: FakeApi, arrivals: list[float]
) -> None:
    limits = RateLimits(per_token_per_minute=1200)  # 20 a second, over all runs
    async with ApifyRuns("t", base_url=fake_api.base_url, rate_limits=limits) as client:
        started = anyio.current_time()
        async with anyio.create_task_group() as group:
            for n in range(40):
                group.start_soon(client.get, f"run{n}")
        assert anyio.current_time() - started >= 1.4


async def test_queued_requests_keep_to_both_limits(
    fake_api: FakeApi, arrivals: list[float]
) -> None:
    # The global bucket falls behind first; requests then queued on one run's bucket must still
    # go out at that run's pace, not at the global one's.
    limits = RateLimits(per_resource_per_sec=5, run_start_per_sec=50, per_token_per_minute=600)
    async with ApifyRuns("t", base_url=fake_api.base_url, rate_limits=limits) as client:
        async with anyio.create_task_group() as group:
            for n in range(24):
                group.start_soon(client.get, f"run{n % 8}")
        run_times: list[float] = []

        async def timed_get() -> None:
            await client.get("one-run")
            run_times.append(anyio.current_time())

        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(timed_get)
    assert _most_in_any_second(sorted(run_times)) <= 5 + 2  # 5/s plus a burst of two


async def test_a_small_global_limit_still_lets_the_first_request_go(
    fake_api: FakeApi, arrivals: list[float]
) -> None:
    limits = RateLimits(per_token_per_minute=60)  # one a second
    async with ApifyRuns("t", base_url=fake_api.base_url, rate_limits=limits) as client:
        started = anyio.current_time()
        await client.get(RUN_ID)
        assert anyio.current_time() - started < 0.3
        await client.get("r2")
        assert anyio.current_time() - started >= 0.9


async def test_limits_can_be_switched_off(fake_api: FakeApi, arrivals: list[float]) -> None:
    async with ApifyRuns("t", base_url=fake_api.base_url, rate_limits=None) as client:
        took = await _burst(client, 100)
    assert took < 1
    assert len(arrivals) == 100


async def test_the_client_keeps_within_the_emulators_limits() -> None:
    limits = RateLimits(per_resource_per_sec=20, run_start_per_sec=40, per_token_per_minute=12000)
    statuses: list[int] = []

    async def on_end(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        statuses.append(params.response.status)

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_end)
    async with (
        ApifyEmulator(rate_limits=limits) as emulator,
        aiohttp.ClientSession(trace_configs=[trace]) as session,
        ApifyRuns(
            emulator.token, base_url=emulator.base_url, session=session, rate_limits=limits
        ) as client,
    ):
        runs = [
            await client.start("emulator~scripted", script("a", step_secs=30)) for _ in range(30)
        ]
        async with anyio.create_task_group() as group:
            for run in runs[:3]:
                for _ in range(25):
                    group.start_soon(client.get, run.id)
        for run in runs:
            await client.abort(run.id)
    assert len(statuses) == 30 + 75 + 30
    assert set(statuses) == {200, 201}, "the emulator refused a request: the client went over"
