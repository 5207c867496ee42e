"""Retries and reconciliation, against a purpose-built server that answers as each test says.

The emulator's own fault injection is exercised in `test_faults.py`; here each answer is
chosen exactly, so every branch (a refusal after a try in doubt, a lookup that fails...) is
reached on purpose.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from aiohttp import web

from apify_runs_async import (
    ApifyConnectionError,
    ApifyRuns,
    ApifyTimeoutError,
    BadRequestError,
    ConflictError,
    CoolDown,
    ForbiddenError,
    NotFoundError,
    RateLimitError,
    Retries,
    RunStatus,
    ServerError,
    Timeouts,
    UnauthorizedError,
    UncertainOutcomeError,
)
from tests.fake_api import FakeApi, Reply, drop, error_reply, in_turn, json_reply
from tests.helpers import FAST_RETRIES, ONE_TRY, RUN_ID, run_body
from tests.spec import run_response_examples

pytestmark = [pytest.mark.anyio, pytest.mark.client_options(retries=FAST_RETRIES)]

RUN = run_response_examples()[0][1]["data"]


def run_list(*user_agents: str) -> dict[str, Any]:
    items = [
        {
            "id": f"run{index}",
            "startedAt": datetime.now(UTC).isoformat(),
            "status": "RUNNING",
            "meta": {"origin": "API", "userAgent": agent},
        }
        for index, agent in enumerate(user_agents)
    ]
    return {
        "data": {
            "total": len(items),
            "offset": 0,
            "limit": 100,
            "count": len(items),
            "desc": True,
            "items": items,
        }
    }


def lost(user_agents: list[str]) -> Reply:
    """Drop the connection without an answer, noting the User-Agent the try carried."""

    async def reply(request: web.Request) -> web.StreamResponse:
        user_agents.append(request.headers["User-Agent"])
        return await drop(request)

    return reply


OK = json_reply(200, run_body())
UNAVAILABLE = error_reply(503, "server-error", "Try again later")


def sent(fake_api: FakeApi) -> list[str]:
    return [f"{r.method} {r.path}" for r in fake_api.requests]


# --- What is retried --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_passing_failures_are_retried(
    fake_client: ApifyRuns, fake_api: FakeApi, status: int
) -> None:
    fake_api.reply = in_turn(error_reply(status, "some-type", "passing"), OK)
    run = await fake_client.get(RUN_ID)
    assert run is not None and run.id == RUN["id"]
    assert sent(fake_api) == [f"GET /v2/actor-runs/{RUN_ID}"] * 2


async def test_a_dropped_connection_is_retried(fake_client: ApifyRuns, fake_api: FakeApi) -> None:
    fake_api.reply = in_turn(drop, drop, OK)
    assert await fake_client.get(RUN_ID) is not None
    assert len(fake_api.requests) == 3


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequestError),
        (401, UnauthorizedError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (409, ConflictError),
    ],
)
async def test_other_client_errors_are_never_retried(
    fake_client: ApifyRuns, fake_api: FakeApi, status: int, error: type[Exception]
) -> None:
    fake_api.reply = in_turn(error_reply(status, "some-type", "final"), OK)
    with pytest.raises(error, match="final"):
        await fake_client.update(RUN_ID, status_message="x")
    assert len(fake_api.requests) == 1


async def test_it_gives_up_after_max_tries(fake_api: FakeApi) -> None:
    fake_api.reply = UNAVAILABLE
    retries = Retries(max_tries=3, delay=lambda tries, retry_after: 0.001)
    async with ApifyRuns("t", base_url=fake_api.base_url, retries=retries) as client:
        with pytest.raises(ServerError, match=f"GET /v2/actor-runs/{RUN_ID}: 503"):
            await client.get(RUN_ID)
    assert len(fake_api.requests) == 3


async def test_retries_per_call_override_the_clients(fake_api: FakeApi) -> None:
    fake_api.reply = in_turn(UNAVAILABLE, UNAVAILABLE, OK)
    async with ApifyRuns("t", base_url=fake_api.base_url, retries=ONE_TRY) as client:
        with pytest.raises(ServerError):
            await client.get(RUN_ID)
        assert await client.get(RUN_ID, retries=FAST_RETRIES) is not None
    assert len(fake_api.requests) == 3


@pytest.mark.parametrize("operation", ["get", "update", "abort", "delete", "get_record"])
async def test_safe_operations_retry_freely(
    fake_client: ApifyRuns, fake_api: FakeApi, operation: str
) -> None:
    answer = json_reply(200, run_body())
    if operation == "delete":

        async def answer(request: web.Request) -> web.StreamResponse:
            return web.Response(status=204)

    fake_api.reply = in_turn(drop, UNAVAILABLE, answer)
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "get": lambda: fake_client.get(RUN_ID),
        "update": lambda: fake_client.update(RUN_ID, status_message="x"),
        "abort": lambda: fake_client.abort(RUN_ID),
        "delete": lambda: fake_client.delete(RUN_ID),
        "get_record": lambda: fake_client.get_record(RUN_ID),
    }
    await calls[operation]()
    assert len(fake_api.requests) == 3
    assert len(set(sent(fake_api))) == 1  # the same request, three times


# --- How long it waits ------------------------------------------------------------------------


def test_the_waits_after_a_start_have_their_defaults() -> None:
    # Tests set them small to run fast; a user gets these: a 404 after a start is waited out
    # for 3 s, and a start's lookup looks back to 10 s before its first try.
    retries = Retries()
    assert (retries.not_found_grace_secs, retries.lookup_margin_secs) == (3.0, 10.0)


async def test_retry_after_reaches_the_delay_in_seconds(fake_api: FakeApi) -> None:
    in_three_secs = email.utils.formatdate(time.time() + 3, usegmt=True)
    fake_api.reply = in_turn(
        json_reply(429, {"error": {"type": "rate-limit-exceeded"}}, {"Retry-After": "2"}),
        json_reply(503, {"error": {"type": "x"}}, {"Retry-After": in_three_secs}),
        json_reply(503, {"error": {"type": "x"}}, {"Retry-After": "soon"}),
        UNAVAILABLE,
        OK,
    )
    asked: list[float | None] = []

    def delay(tries: int, retry_after: float | None) -> float:
        asked.append(retry_after)
        return 0.001

    async with ApifyRuns("t", base_url=fake_api.base_url, retries=Retries(delay=delay)) as c:
        await c.get(RUN_ID)
    assert asked[0] == 2.0
    assert asked[1] is not None and 1.0 < asked[1] <= 3.0  # an HTTP date, a second granular
    assert asked[2:] == [None, None]  # unreadable, and absent


async def test_retry_after_is_waited_out(fake_api: FakeApi) -> None:
    limited = json_reply(429, {"error": {"type": "rate-limit-exceeded"}}, {"Retry-After": "1"})
    fake_api.reply = in_turn(limited, OK)
    async with ApifyRuns("t", base_url=fake_api.base_url) as client:
        started = anyio.current_time()
        await client.get(RUN_ID)
        assert anyio.current_time() - started >= 1.0


async def test_retry_after_is_capped(fake_api: FakeApi) -> None:
    limited = json_reply(429, {"error": {"type": "rate-limit-exceeded"}}, {"Retry-After": "30"})
    fake_api.reply = in_turn(limited, OK)
    retries = Retries(max_retry_after_secs=0.2)
    async with ApifyRuns("t", base_url=fake_api.base_url, retries=retries) as client:
        started = anyio.current_time()
        await client.get(RUN_ID)
        assert 0.2 <= anyio.current_time() - started < 2.0


async def test_waits_grow_exponentially_with_full_jitter(
    fake_api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "apify_runs_async.retries")
    fake_api.reply = UNAVAILABLE
    retries = Retries(max_tries=6, first_delay_secs=0.01, max_delay_secs=0.04)
    async with ApifyRuns("t", base_url=fake_api.base_url, retries=retries) as client:
        with pytest.raises(ServerError):
            await client.get(RUN_ID)
    waits = [float(m[1]) for m in re.finditer(r"try \d+ in ([\d.]+) s", caplog.text)]
    ceilings = [0.01, 0.02, 0.04, 0.04, 0.04]
    assert len(waits) == len(ceilings)
    assert all(0 <= wait <= ceiling + 0.005 for wait, ceiling in zip(waits, ceilings, strict=True))
    assert len(set(waits)) > 1  # jittered, not fixed


# --- Abort and delete: a refusal after a try in doubt ------------------------------------------


async def test_delete_counts_a_404_after_a_dropped_try_as_done(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    fake_api.reply = in_turn(drop, error_reply(404, "record-not-found", "no such run"))
    await fake_client.delete(RUN_ID)
    assert len(fake_api.requests) == 2


async def test_delete_of_a_missing_run_still_fails(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    # A 429 is refused before any work: it leaves no doubt, so the 404 after it is real.
    fake_api.reply = in_turn(
        error_reply(429, "rate-limit-exceeded", "slow"),
        error_reply(404, "record-not-found", "no such run"),
    )
    with pytest.raises(NotFoundError):
        await fake_client.delete(RUN_ID)
    assert len(fake_api.requests) == 2


async def test_abort_after_a_dropped_try_returns_the_aborted_run(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    fake_api.reply = in_turn(
        drop,
        error_reply(400, "job-finished", "Cannot abort the run: it has already finished."),
        json_reply(200, run_body(status="ABORTED")),
    )
    run = await fake_client.abort(RUN_ID)
    assert run.status == RunStatus.ABORTED
    assert sent(fake_api) == [
        f"POST /v2/actor-runs/{RUN_ID}/abort",
        f"POST /v2/actor-runs/{RUN_ID}/abort",
        f"GET /v2/actor-runs/{RUN_ID}",
    ]


async def test_abort_of_a_run_that_succeeded_meanwhile_still_fails(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    fake_api.reply = in_turn(
        drop,
        error_reply(400, "job-finished", "Cannot abort the run: it has already finished."),
        json_reply(200, run_body(status="SUCCEEDED")),
    )
    with pytest.raises(BadRequestError, match="job-finished"):
        await fake_client.abort(RUN_ID)


# --- Start: found by its nonce, never sent twice blindly ---------------------------------------


def _nonce(user_agent: str) -> str:
    found = re.search(r"nonce/(\w+)", user_agent)
    assert found is not None, user_agent
    return found[1]


async def test_a_start_that_failed_plainly_is_looked_for_then_sent_again(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    fake_api.reply = in_turn(UNAVAILABLE, json_reply(200, run_list("someone else")), OK)
    run = await fake_client.start("me~actor", {"a": 1})
    assert run.id == RUN["id"]
    assert sent(fake_api) == [
        "POST /v2/actors/me~actor/runs",
        "GET /v2/actors/me~actor/runs",
        "POST /v2/actors/me~actor/runs",
    ]
    first, lookup, second = fake_api.requests
    assert _nonce(first.headers["User-Agent"]) != _nonce(second.headers["User-Agent"])
    assert lookup.query["desc"] == "true"
    assert json.loads(second.body) == {"a": 1}


async def test_a_start_whose_answer_was_lost_is_adopted(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    started_by_us: list[str] = []

    async def listing(request: web.Request) -> web.StreamResponse:
        return await json_reply(200, run_list("other", started_by_us[0]))(request)

    fake_api.reply = in_turn(lost(started_by_us), listing, json_reply(200, run_body(id="run1")))
    run = await fake_client.start("me~actor")
    assert run.id == "run1"
    assert sent(fake_api) == [
        "POST /v2/actors/me~actor/runs",
        "GET /v2/actors/me~actor/runs",
        "GET /v2/actor-runs/run1",  # the whole run, as start returns it
    ]


async def test_a_start_answered_with_an_unreadable_run_is_adopted(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    # The 201 says the run exists, though its body is not a run: look it up, don't start again.
    agents: list[str] = []

    async def created(request: web.Request) -> web.StreamResponse:
        agents.append(request.headers["User-Agent"])
        return await json_reply(201, {"data": {"id": 17}})(request)

    async def listing(request: web.Request) -> web.StreamResponse:
        return await json_reply(200, run_list(agents[0]))(request)

    fake_api.reply = in_turn(created, listing, json_reply(200, run_body(id="run0")))
    run = await fake_client.start("me~actor")
    assert run.id == "run0"
    assert [r.method for r in fake_api.requests] == ["POST", "GET", "GET"]


async def test_a_rate_limited_start_is_sent_again_without_looking(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    fake_api.reply = in_turn(error_reply(429, "rate-limit-exceeded", "slow down"), OK)
    await fake_client.start("me~actor")
    assert sent(fake_api) == ["POST /v2/actors/me~actor/runs"] * 2


async def test_a_start_that_cannot_be_checked_is_uncertain_not_repeated(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    fake_api.reply = in_turn(drop, error_reply(403, "insufficient-permissions", "no listing"))
    with pytest.raises(UncertainOutcomeError) as caught:
        await fake_client.start("me~actor")
    error = caught.value
    assert [r.method for r in fake_api.requests].count("POST") == 1
    assert error.nonce == _nonce(fake_api.requests[0].headers["User-Agent"])
    assert f"nonce/{error.nonce}" in str(error)
    assert "no listing" in str(error) and "POST /v2/actors/me~actor/runs" in str(error)
    assert isinstance(error.__cause__, ApifyConnectionError)


async def test_a_start_that_kept_failing_plainly_raises_its_own_error(
    fake_api: FakeApi,
) -> None:
    fake_api.reply = _by_method(post=UNAVAILABLE, get=json_reply(200, run_list()))
    retries = Retries(max_tries=3, delay=lambda tries, retry_after: 0.001)
    async with ApifyRuns("t", base_url=fake_api.base_url, retries=retries) as client:
        with pytest.raises(ServerError, match="503"):
            await client.start("me~actor")
    # Each failed try was checked before the next, and the last one before giving up.
    assert sent(fake_api) == ["POST /v2/actors/me~actor/runs", "GET /v2/actors/me~actor/runs"] * 3


def _by_method(*, post: Reply, get: Reply) -> Reply:
    async def reply(request: web.Request) -> web.StreamResponse:
        return await (post if request.method == "POST" else get)(request)

    return reply


async def test_one_try_sends_a_start_once_and_reports_what_happened(
    fake_api: FakeApi,
) -> None:
    fake_api.reply = drop
    async with ApifyRuns("t", base_url=fake_api.base_url, retries=ONE_TRY) as client:
        with pytest.raises(ApifyConnectionError) as caught:
            await client.start("me~actor")
    assert caught.value.maybe_processed
    assert sent(fake_api) == ["POST /v2/actors/me~actor/runs"]


# --- Metamorph, reboot, resurrect: counted before and after ------------------------------------


async def test_a_lost_metamorph_is_adopted(fake_client: ApifyRuns, fake_api: FakeApi) -> None:
    morphed = {"createdAt": "2019-11-30T07:39:24.202Z", "actorId": "x", "buildId": "y"}
    fake_api.reply = in_turn(
        json_reply(200, run_body(status="RUNNING")),
        drop,
        json_reply(200, run_body(status="RUNNING", metamorphs=[morphed])),
    )
    run = await fake_client.metamorph(RUN_ID, target_actor_id="me~other")
    assert run.metamorphs is not None and len(run.metamorphs) == 1
    assert sent(fake_api) == [
        f"GET /v2/actor-runs/{RUN_ID}",
        f"POST /v2/actor-runs/{RUN_ID}/metamorph",
        f"GET /v2/actor-runs/{RUN_ID}",
    ]


async def test_a_reboot_that_left_no_trace_is_sent_again(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    running = json_reply(200, run_body(status="RUNNING", stats={"rebootCount": 2}))
    rebooted = json_reply(200, run_body(status="RUNNING", stats={"rebootCount": 3}))
    fake_api.reply = in_turn(running, UNAVAILABLE, running, rebooted)
    run = await fake_client.reboot(RUN_ID)
    assert run.stats.reboot_count == 3
    assert sent(fake_api) == [
        f"GET /v2/actor-runs/{RUN_ID}",
        f"POST /v2/actor-runs/{RUN_ID}/reboot",
        f"GET /v2/actor-runs/{RUN_ID}",
        f"POST /v2/actor-runs/{RUN_ID}/reboot",
    ]


async def test_a_resurrect_done_twice_meanwhile_is_uncertain(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    fake_api.reply = in_turn(
        json_reply(200, run_body(stats={"resurrectCount": 1})),
        drop,
        json_reply(200, run_body(status="RUNNING", stats={"resurrectCount": 3})),
    )
    with pytest.raises(UncertainOutcomeError, match="done 2 times") as caught:
        await fake_client.resurrect(RUN_ID)
    assert caught.value.run is not None and caught.value.run.stats.resurrect_count == 3
    assert [r.method for r in fake_api.requests].count("POST") == 1


async def test_a_change_to_a_missing_run_is_not_found_before_any_post(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    fake_api.reply = error_reply(404, "record-not-found", "no such run")
    with pytest.raises(NotFoundError, match=f"POST /v2/actor-runs/{RUN_ID}/reboot"):
        await fake_client.reboot(RUN_ID)
    assert sent(fake_api) == [f"GET /v2/actor-runs/{RUN_ID}"]


# --- The overall deadline ---------------------------------------------------------------------


def _slow(secs: float, then: Reply = OK) -> Reply:
    async def reply(request: web.Request) -> web.StreamResponse:
        await anyio.sleep(secs)
        return await then(request)

    return reply


async def test_the_total_timeout_bounds_a_call_with_its_retries(fake_api: FakeApi) -> None:
    fake_api.reply = UNAVAILABLE
    retries = Retries(max_tries=1000, delay=lambda tries, retry_after: 0.05)
    async with ApifyRuns(
        "t", base_url=fake_api.base_url, retries=retries, timeouts=Timeouts(total=0.5)
    ) as client:
        started = anyio.current_time()
        with pytest.raises(
            ApifyTimeoutError, match=rf"GET /v2/actor-runs/{RUN_ID}: no answer within 0.5 s"
        ):
            await client.get(RUN_ID)
        assert anyio.current_time() - started < 1.5
    assert 2 <= len(fake_api.requests) < 20


async def test_the_total_timeout_is_stretched_by_a_long_poll(fake_api: FakeApi) -> None:
    fake_api.reply = _slow(0.8)
    async with ApifyRuns("t", base_url=fake_api.base_url, timeouts=Timeouts(total=0.5)) as client:
        assert await client.get(RUN_ID, wait_for_finish=1) is not None


async def test_a_start_out_of_time_in_doubt_is_uncertain(fake_api: FakeApi) -> None:
    fake_api.reply = _slow(2)
    async with ApifyRuns(
        "t", base_url=fake_api.base_url, timeouts=Timeouts(total=0.3), retries=FAST_RETRIES
    ) as client:
        with pytest.raises(UncertainOutcomeError, match=r"no answer within 0\.3 s") as caught:
            await client.start("me~actor")
    assert caught.value.nonce is not None
    assert isinstance(caught.value.__cause__, ApifyTimeoutError)


async def test_the_total_timeout_composes_with_fail_after(fake_api: FakeApi) -> None:
    fake_api.reply = _slow(2)
    async with ApifyRuns("t", base_url=fake_api.base_url, timeouts=Timeouts(total=0.2)) as client:
        # The caller's deadline is later: the client's own ends the call, as its own error.
        with anyio.fail_after(5):
            with pytest.raises(ApifyTimeoutError):
                await client.get(RUN_ID)
        # The caller's deadline is sooner: it wins, as anyio's plain TimeoutError.
        with pytest.raises(TimeoutError) as caught:
            with anyio.fail_after(0.1):
                await client.get(RUN_ID, retries=ONE_TRY)
        assert not isinstance(caught.value, ApifyTimeoutError)


async def test_rate_limit_errors_carry_retry_after(fake_api: FakeApi) -> None:
    fake_api.reply = json_reply(
        429, {"error": {"type": "rate-limit-exceeded", "message": "slow"}}, {"Retry-After": "7"}
    )
    async with ApifyRuns("t", base_url=fake_api.base_url, retries=ONE_TRY) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.get(RUN_ID)
    assert caught.value.retry_after == 7.0


# --- Found in review: each case once broke "never twice" or "as documented" --------------------


async def test_a_start_still_at_work_after_a_timeout_is_uncertain_not_repeated(
    fake_api: FakeApi,
) -> None:
    # A busy API queues the first start: the client times out, looks, finds nothing yet.
    created: list[str] = []

    async def slow_start(request: web.Request) -> web.StreamResponse:
        await anyio.sleep(0.6)
        created.append(request.headers["User-Agent"])
        return await OK(request)

    async def listing(request: web.Request) -> web.StreamResponse:
        return await json_reply(200, run_list(*created))(request)

    fake_api.reply = _by_method(post=slow_start, get=listing)
    async with ApifyRuns(
        "t", base_url=fake_api.base_url, retries=FAST_RETRIES, timeouts=Timeouts(read=0.3)
    ) as client:
        with pytest.raises(UncertainOutcomeError, match="timed out"):
            await client.start("me~actor")
        await anyio.sleep(0.6)  # the first try finishes meanwhile
    assert len(created) == 1
    assert [r.method for r in fake_api.requests].count("POST") == 1


async def test_runs_are_looked_for_by_the_servers_clock(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    # The server's clock is two hours ahead of this machine's: its runs still count as new.
    ahead = datetime.now(UTC) + timedelta(hours=2)
    agents: list[str] = []

    async def listing(request: web.Request) -> web.StreamResponse:
        body = run_list(agents[0])
        body["data"]["items"][0]["startedAt"] = ahead.isoformat()
        date = email.utils.format_datetime(ahead, usegmt=True)
        return await json_reply(200, body, {"Date": date})(request)

    fake_api.reply = in_turn(lost(agents), listing, json_reply(200, run_body(id="run0")))
    run = await fake_client.start("me~actor")
    assert run.id == "run0"
    assert [r.method for r in fake_api.requests].count("POST") == 1


async def test_the_total_timeout_bounds_the_account_limit_cool_down(fake_api: FakeApi) -> None:
    fake_api.reply = error_reply(400, "concurrent-runs-limit-exceeded", "too many runs")
    async with ApifyRuns(
        "t",
        base_url=fake_api.base_url,
        timeouts=Timeouts(total=0.5),
        limit_cool_down=CoolDown(first_secs=0.3, max_secs=0.3, give_up_secs=10),
    ) as client:
        started = anyio.current_time()
        with pytest.raises(ApifyTimeoutError, match=r"no answer within 0\.5 s"):
            await client.start("me~actor")
        assert anyio.current_time() - started < 1.5


async def test_one_try_out_of_time_in_doubt_is_uncertain(fake_api: FakeApi) -> None:
    fake_api.reply = _slow(2)
    async with ApifyRuns(
        "t", base_url=fake_api.base_url, timeouts=Timeouts(total=0.3), retries=ONE_TRY
    ) as client:
        with pytest.raises(UncertainOutcomeError, match=r"no answer within 0\.3 s"):
            await client.start("me~actor")


@pytest.mark.parametrize("value", ["-5", "5_0", "1e3", "soon", ""])
async def test_an_unreadable_retry_after_is_ignored(fake_api: FakeApi, value: str) -> None:
    limited = json_reply(429, {"error": {"type": "rate-limit-exceeded"}}, {"Retry-After": value})
    fake_api.reply = limited
    async with ApifyRuns("t", base_url=fake_api.base_url, retries=ONE_TRY) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.get(RUN_ID)
    assert caught.value.retry_after is None


async def test_a_404_that_is_not_the_apis_after_a_dropped_delete_still_fails(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    # A proxy's 404 page says nothing about the run.
    fake_api.reply = in_turn(drop, error_reply(404, "page-not-found", "no such page"))
    with pytest.raises(NotFoundError, match="page-not-found"):
        await fake_client.delete(RUN_ID)


async def test_a_lookup_answered_slowly_still_looks_back_to_the_first_try(
    fake_client: ApifyRuns, fake_api: FakeApi
) -> None:
    # The list page comes 1.75 s after it was asked for (a busy server, or its own retries):
    # the runs to look through still go back to the first try, not to 1.75 s after it. The
    # wait is past the lookup's margin by more than the 0.2 s and the Date header's second.
    retries = dataclasses.replace(FAST_RETRIES, lookup_margin_secs=0.25)
    first_try = datetime.now(UTC)
    agents: list[str] = []

    async def slow_listing(request: web.Request) -> web.StreamResponse:
        if request.query["offset"] == "0":
            # A full page of runs started just after the first try, before ours was listed.
            await anyio.sleep(1.75)
            body = run_list(*[f"another client {n}" for n in range(100)])
            for item in body["data"]["items"]:
                item["startedAt"] = (first_try + timedelta(seconds=0.2)).isoformat()
        else:
            body = run_list(agents[0])
            body["data"]["items"][0]["startedAt"] = first_try.isoformat()
        date = email.utils.format_datetime(datetime.now(UTC), usegmt=True)
        return await json_reply(200, body, {"Date": date})(request)

    adopted = json_reply(200, run_body(id="run0"))
    fake_api.reply = in_turn(lost(agents), slow_listing, slow_listing, adopted)
    run = await fake_client.start("me~actor", retries=retries)
    assert run.id == "run0"
    assert [r.method for r in fake_api.requests].count("POST") == 1
