"""Rate limits: per resource, per run start, per token; on by default, and switched off."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from apify_runs_async.emulator import ApifyEmulator, RateLimits
from apify_runs_async.emulator._rate_limits import TokenBuckets

from .support import Api, Spawn, fast_emulator, steps

pytestmark = pytest.mark.anyio

HEADER = "X-RateLimit-Limit"
# Small limits keep the tests fast; each test exhausts one kind and stays clear of the others.
SMALL = RateLimits(per_resource_per_sec=5, run_start_per_sec=50, per_token_per_minute=10_000)
LONG = {"steps": steps("long", sleep=3600)}


@pytest.fixture
async def small() -> AsyncIterator[ApifyEmulator]:
    async with fast_emulator(rate_limits=SMALL) as emulator:
        yield emulator


@pytest.fixture
def api(small: ApifyEmulator, session: aiohttp.ClientSession) -> Api:
    return Api(session, small)


async def _statuses(api: Api, method: str, paths: list[str], **kwargs: Any) -> list[int]:
    """Send the requests one after another; their statuses."""
    return [(await api.request(method, path, raw=True, **kwargs)).status for path in paths]


async def _burst(api: Api, path: str, count: int, **kwargs: Any) -> list[int]:
    """Send `count` requests at once; their statuses."""
    responses = await asyncio.gather(
        *(api.request("GET", path, raw=True, **kwargs) for _ in range(count))
    )
    return [response.status for response in responses]


async def _assert_limited(
    api: Api, method: str, path: str, limit: int, unit: str, **kwargs: Any
) -> None:
    response = await api.request(method, path, raw=True, expect=429, **kwargs)
    assert response.json["error"] == {
        "type": "rate-limit-exceeded",
        "message": f"You have exceeded the rate limit of {limit} requests per {unit}",
    }


async def test_the_defaults_are_the_platforms(session: aiohttp.ClientSession) -> None:
    limits = RateLimits()
    assert (limits.per_resource_per_sec, limits.run_start_per_sec) == (60, 400)
    assert limits.per_token_per_minute == 250_000
    async with fast_emulator() as emu:
        api = Api(session, emu)
        started = await api.request(
            "POST", "/v2/actors/emulator~scripted/runs", schema="RunResponse", expect=201
        )
        assert started.headers[HEADER] == "400"
        path = f"/v2/actor-runs/{started.data['id']}"
        got = await api.request("GET", path, schema="RunResponse", expect=200)
        assert got.headers[HEADER] == "60"
        statuses = await _burst(api, path, 200)
        assert statuses.count(200) >= 59
        assert 429 in statuses


async def test_a_run_answers_429_past_its_limit(api: Api) -> None:
    run = await api.start("emulator~scripted", LONG)
    path = f"/v2/actor-runs/{run['id']}"
    for _ in range(5):
        response = await api.request("GET", path, schema="RunResponse", expect=200)
        assert response.headers[HEADER] == "5"
    response = await api.request("GET", path, expect=429)
    assert response.headers[HEADER] == "5"
    await _assert_limited(api, "GET", path, 5, "second")


async def test_every_path_of_a_run_counts_for_that_run_alone(api: Api) -> None:
    run = await api.start("emulator~scripted", {"output": 1}, params={"waitForFinish": 10})
    other = await api.start("emulator~scripted", LONG)
    actor = run["actId"]
    paths = [
        f"/v2/actor-runs/{run['id']}",
        f"/v2/actor-runs/{run['id']}/log",
        f"/v2/actor-runs/{run['id']}/key-value-store/records/OUTPUT",
        f"/v2/actors/{actor}/runs/{run['id']}",
        f"/v2/acts/{actor}/runs/{run['id']}/log",
    ]
    assert await _statuses(api, "GET", paths) == [200] * 5
    for path in [f"/v2/logs/{run['id']}", *paths]:
        await _assert_limited(api, "GET", path, 5, "second")
    # Another run, the Actor and the run's store each have their own bucket.
    assert (await api.run(other["id"]))["id"] == other["id"]
    await api.request("GET", f"/v2/actors/{actor}/runs", schema="ListOfRunsResponse", expect=200)
    store = run["defaultKeyValueStoreId"]
    await api.request("GET", f"/v2/key-value-stores/{store}/records/OUTPUT", raw=True, expect=200)


async def test_an_actor_counts_its_paths_by_name_and_by_id(api: Api) -> None:
    run = await api.start("emulator~scripted", LONG)
    actor = run["actId"]
    paths = [
        "/v2/actors/emulator~scripted/runs",
        f"/v2/acts/{actor}/runs",
        "/v2/actors/emulator~scripted/runs/last",
        f"/v2/actors/{actor}/runs/last/log",
        "/v2/acts/emulator~scripted/runs/last",
    ]
    assert await _statuses(api, "GET", paths) == [200] * 5
    await _assert_limited(api, "GET", f"/v2/actors/{actor}/runs", 5, "second")
    # Other Actors, the run itself, and starting runs of this Actor are counted apart.
    await api.request("GET", "/v2/actors/apify~hello-world/runs", raw=True, expect=200)
    assert (await api.run(run["id"]))["status"] in {"READY", "RUNNING"}
    await api.start("emulator~scripted")


async def test_a_task_and_a_store_have_their_own_buckets(api: Api) -> None:
    task = "emulator~scripted-task"
    run = (await api.request("POST", f"/v2/actor-tasks/{task}/runs", raw=True, expect=201)).json
    paths = [f"/v2/actor-tasks/{task}/runs", f"/v2/actor-tasks/{task}/runs/last"] * 2
    paths.append(f"/v2/actor-tasks/{task}/runs/last/log")
    assert await _statuses(api, "GET", paths) == [200] * 5
    await _assert_limited(api, "GET", f"/v2/actor-tasks/{task}/runs", 5, "second")
    # The task's Actor is another resource.
    await api.request("GET", "/v2/actors/emulator~scripted/runs", raw=True, expect=200)

    await api.finished(run["data"]["id"])
    store = run["data"]["defaultKeyValueStoreId"]
    record = f"/v2/key-value-stores/{store}/records/OUTPUT"
    assert await _statuses(api, "GET", [record] * 5) == [200] * 5
    await _assert_limited(api, "GET", record, 5, "second")


async def test_starts_have_their_own_limit_and_a_refused_start_starts_nothing(
    session: aiohttp.ClientSession,
) -> None:
    limits = RateLimits(per_resource_per_sec=50, run_start_per_sec=3, per_token_per_minute=10_000)
    async with fast_emulator(rate_limits=limits) as emu:
        api = Api(session, emu)
        start = "/v2/actors/emulator~scripted/runs"
        for _ in range(3):
            response = await api.request("POST", start, json=LONG, raw=True, expect=201)
            assert response.headers[HEADER] == "3"
        refused = await api.request("POST", start, json=LONG, expect=429)
        assert refused.headers[HEADER] == "3"
        await _assert_limited(api, "POST", start, 3, "second")
        listed = await api.request("GET", start, schema="ListOfRunsResponse", expect=200)
        assert listed.headers[HEADER] == "50"
        assert listed.data["total"] == 3
        assert (await api.request("GET", "/v2/actor-runs", raw=True)).json["data"]["total"] == 3
        # The legacy prefix is the same Actor; a task and another Actor are counted apart.
        await _assert_limited(
            api, "POST", f"/v2/acts/{listed.data['items'][0]['actId']}/runs", 3, "second"
        )
        task_start = "/v2/actor-tasks/emulator~scripted-task/runs"
        await api.request("POST", task_start, raw=True, expect=201)
        await api.request("POST", "/v2/actors/apify~hello-world/runs", raw=True, expect=201)


async def test_metamorphs_are_counted_per_run_apart_from_its_reads(
    session: aiohttp.ClientSession,
) -> None:
    limits = RateLimits(per_resource_per_sec=50, run_start_per_sec=2, per_token_per_minute=10_000)
    async with fast_emulator(rate_limits=limits) as emu:
        api = Api(session, emu)
        run = await api.start("emulator~scripted", LONG)
        await api.wait_for(run["id"], "RUNNING")
        metamorph = f"/v2/actor-runs/{run['id']}/metamorph"
        params = {"targetActorId": "emulator~scripted"}
        for _ in range(2):
            await api.request("POST", metamorph, json=LONG, params=params, raw=True, expect=200)
            await api.wait_for(run["id"], "RUNNING")
        await _assert_limited(api, "POST", metamorph, 2, "second")
        assert len((await api.run(run["id"]))["metamorphs"]) == 2


async def test_the_token_has_a_per_minute_limit_apart_from_other_ips(
    session: aiohttp.ClientSession,
) -> None:
    limits = RateLimits(per_resource_per_sec=100, run_start_per_sec=100, per_token_per_minute=4)
    async with fast_emulator(rate_limits=limits) as emu:
        api = Api(session, emu)
        run = await api.start("emulator~scripted", LONG)  # 1
        paths = ["/v2/actor-runs", f"/v2/actor-runs/{run['id']}", "/v2/nothing-here"]
        assert await _statuses(api, "GET", paths) == [200, 200, 404]  # 2, 3, 4
        for path in [*paths, "/v2/actors/apify~hello-world/runs"]:
            await _assert_limited(api, "GET", path, 4, "minute")
        # A request without the valid token is counted against its IP instead.
        await api.request("GET", f"/v2/actor-runs/{run['id']}", token=None, raw=True, expect=200)


async def test_requests_failing_authentication_count_against_the_ip(
    session: aiohttp.ClientSession,
) -> None:
    limits = RateLimits(per_resource_per_sec=100, run_start_per_sec=100, per_token_per_minute=3)
    async with fast_emulator(rate_limits=limits) as emu:
        api = Api(session, emu)
        await api.error("GET", "/v2/actor-runs", 401, "token-not-provided", token=None)
        await api.error("GET", "/v2/actor-runs", 401, "invalid-token", token="wrong")
        await api.error(
            "GET", "/v2/actor-runs", 401, "invalid-token", token_in_query=True, token="x"
        )
        await _assert_limited(api, "GET", "/v2/actor-runs", 3, "minute", token=None)
        await _assert_limited(api, "GET", "/v2/actor-runs/abc", 3, "minute", token="wrong")
        # ... while the token has its own bucket.
        await api.request("GET", "/v2/actor-runs", raw=True, expect=200)


async def test_a_bucket_refills_within_a_second(api: Api) -> None:
    run = await api.start("emulator~scripted", LONG)
    path = f"/v2/actor-runs/{run['id']}"
    assert await _statuses(api, "GET", [path] * 5) == [200] * 5
    await _assert_limited(api, "GET", path, 5, "second")
    await asyncio.sleep(1.05)
    assert await _statuses(api, "GET", [path] * 5) == [200] * 5


async def test_the_limits_apply_to_a_held_log_stream_too(api: Api) -> None:
    run = await api.start("emulator~scripted", {"steps": steps("a", "b")})
    response = await api.request(
        "GET", f"/v2/actor-runs/{run['id']}/log", params={"stream": 1}, expect=200
    )
    assert response.headers[HEADER] == "5"
    assert "Run finished" in response.body.decode()
    # Unknown paths have no endpoint, so no limit of their own.
    missing = await api.request("GET", "/v2/nothing-here", expect=404)
    assert HEADER not in missing.headers


async def test_none_switches_the_limits_off(session: aiohttp.ClientSession) -> None:
    async with fast_emulator(rate_limits=None) as emu:
        api = Api(session, emu)
        run = await api.start("emulator~scripted", LONG)
        statuses = await _burst(api, f"/v2/actor-runs/{run['id']}", 150)
        assert statuses == [200] * 150
        response = await api.request("GET", f"/v2/actor-runs/{run['id']}", schema="RunResponse")
        assert HEADER not in response.headers


async def _cli_burst(base_url: str, token: str, count: int) -> list[int]:
    headers = {"Authorization": f"Bearer {token}"}

    async def one(session: aiohttp.ClientSession) -> int:
        async with session.get(f"{base_url}/v2/actor-runs/nosuchrun", headers=headers) as r:
            await r.read()
            return r.status

    async with aiohttp.ClientSession() as session:
        return list(await asyncio.gather(*(one(session) for _ in range(count))))


async def test_the_process_limits_by_default_and_not_with_the_flag(spawn: Spawn) -> None:
    limited, base_url, token = spawn()
    assert 429 in await _cli_burst(base_url, token, 200)
    unlimited, base_url, token = spawn("--no-rate-limits")
    assert await _cli_burst(base_url, token, 100) == [404] * 100
    for process in (limited, unlimited):
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
        assert process.returncode == 0


@pytest.mark.parametrize(
    "limits",
    [
        {"per_resource_per_sec": 0},
        {"run_start_per_sec": -1},
        {"per_token_per_minute": "many"},
        {"per_resource_per_sec": True},
    ],
)
def test_limits_must_be_positive_numbers(limits: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError), match="must be a"):
        RateLimits(**limits)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_capacity_then_its_rate() -> None:
    clock = _Clock()
    buckets = TokenBuckets(3, 3.0, clock=clock)
    assert [buckets.take("a") for _ in range(4)] == [True, True, True, False]
    clock.now = 0.34  # one token back, a little over
    assert [buckets.take("a") for _ in range(2)] == [True, False]
    assert buckets.take("b")  # another key, another bucket
    clock.now = 100.0  # never more than the capacity
    assert [buckets.take("a") for _ in range(4)] == [True, True, True, False]


def test_idle_buckets_are_dropped_so_many_keys_leave_few_buckets() -> None:
    clock = _Clock()
    buckets = TokenBuckets(60, 60.0, clock=clock)
    for run in range(10_000):
        clock.now = run / 10_000  # 10,000 runs read within one second
        assert buckets.take(("run", run))
    assert len(buckets) == 10_000
    clock.now = 1.49995  # the first half has been idle for a second: full again
    buckets.take(("run", 0))
    assert len(buckets) == 5_001
    clock.now = 3.0
    buckets.take(("run", 1))
    assert len(buckets) == 1
    # A dropped bucket comes back full, as it would have been.
    assert all(buckets.take(("run", 2)) for _ in range(60))
    assert not buckets.take(("run", 2))


def test_a_per_minute_bucket_is_kept_until_it_is_full_again() -> None:
    clock = _Clock()
    buckets = TokenBuckets(250_000, 250_000 / 60, clock=clock)
    assert buckets.take("token")
    clock.now = 59.0
    buckets.take("other")
    assert len(buckets) == 2
    clock.now = 60.5
    buckets.take("other")
    assert len(buckets) == 1
