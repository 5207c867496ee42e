"""Fault injection: each kind over real HTTP, its seed, its limits, its log and its CLI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import signal
import subprocess
import sys
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from apify_runs_async.emulator import (
    ApifyEmulator,
    FaultKind,
    Faults,
    InjectedFault,
    emulator_process,
)
from apify_runs_async.emulator._faults import ENDPOINTS
from apify_runs_async.emulator._routes import _ENDPOINTS, add_routes

from .support import Api, Response, fast_emulator, steps

pytestmark = pytest.mark.anyio

START = "/v2/actors/emulator~scripted/runs"


def _only(kind: str, *endpoints: str, **options: Any) -> Faults:
    """Exactly the next request on these endpoints gets this fault."""
    return Faults.parse(f"{kind}=1", endpoints=endpoints, max_faults=1, **options)


async def _list(api: Api, *, expect: int | None = None) -> Response:
    return await api.request("GET", "/v2/actor-runs", schema="ListOfRunsResponse", expect=expect)


async def _run_count(api: Api) -> int:
    total: int = (await _list(api, expect=200)).data["total"]
    return total


def _auth(emu: ApifyEmulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {emu.token}"}


# -- Statuses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "error_type"),
    [
        ("status503", 503, "internal-server-error"),
        ("status500", 500, "internal-server-error"),
        ("status429", 429, "rate-limit-exceeded"),
    ],
)
async def test_a_status_fault_answers_it_without_doing_the_operation(
    api: Api, kind: str, status: int, error_type: str
) -> None:
    api.emulator.faults = _only(kind, "start")
    response = await api.request("POST", START, json={"steps": []}, expect=status)
    assert response.json["error"]["type"] == error_type
    assert "injected fault" in response.json["error"]["message"]
    assert response.headers.get("Retry-After") == ("1" if status == 429 else None)
    assert await _run_count(api) == 0
    await api.start("emulator~scripted", {"steps": []})  # max_faults=1: the next one is fine
    assert await _run_count(api) == 1
    assert api.emulator.injected_faults == (InjectedFault(FaultKind(kind), "start", "POST", START),)


async def test_retry_after_is_configurable(api: Api) -> None:
    api.emulator.faults = _only("status429", "list", retry_after_secs=7)
    response = await _list(api, expect=429)
    assert response.headers["Retry-After"] == "7"


async def test_faults_come_before_authentication(api: Api) -> None:
    api.emulator.faults = _only("status503", "list")
    await api.error("GET", "/v2/actor-runs", 503, "internal-server-error", token="wrong")
    await api.error("GET", "/v2/actor-runs", 401, "invalid-token", token="wrong")


# -- Dropped connections -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "runs_started"),
    [("reset_before", 0), ("reset_after", 1)],
    ids=["reset_before_does_nothing", "reset_after_starts_the_run_unheard"],
)
async def test_a_reset_drops_the_connection(
    api: Api, session: aiohttp.ClientSession, kind: str, runs_started: int
) -> None:
    emu = api.emulator
    emu.faults = _only(kind, "start")
    with pytest.raises(aiohttp.ClientConnectionError):
        await session.post(emu.base_url + START, json={"steps": []}, headers=_auth(emu))
    assert await _run_count(api) == runs_started
    assert [fault.kind for fault in emu.injected_faults] == [FaultKind(kind)]


async def test_reset_after_aborts_the_run_but_the_client_never_hears(
    api: Api, session: aiohttp.ClientSession
) -> None:
    emu = api.emulator
    run = await api.start("emulator~scripted", {"steps": steps("working", sleep=30)})
    emu.faults = _only("reset_after", "abort")
    with pytest.raises(aiohttp.ClientConnectionError):
        await session.post(f"{emu.base_url}/v2/actor-runs/{run['id']}/abort", headers=_auth(emu))
    assert (await api.run(run["id"]))["status"] == "ABORTED"


async def test_an_answer_without_a_body_to_cut_is_dropped_whole(api: Api) -> None:
    """`truncate` on a 204: nothing at all comes back, yet the run is deleted."""
    emu = api.emulator
    run = await api.start("emulator~scripted", {"steps": []}, params={"waitForFinish": 10})
    emu.faults = _only("truncate", "delete")
    host, port = emu.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"DELETE /v2/actor-runs/{run['id']} HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {emu.token}\r\n\r\n".encode()
    )
    with contextlib.suppress(ConnectionResetError):  # a reset, or at least nothing
        assert await reader.read() == b""
    writer.close()
    with contextlib.suppress(ConnectionResetError):
        await writer.wait_closed()
    await api.error("GET", f"/v2/actor-runs/{run['id']}", 404, "record-not-found")


# -- Cut-off bodies ----------------------------------------------------------------------------


async def test_truncate_sends_half_the_body_and_closes(
    api: Api, session: aiohttp.ClientSession
) -> None:
    emu = api.emulator
    emu.faults = _only("truncate", "start")
    async with session.post(
        emu.base_url + START, json={"steps": []}, headers=_auth(emu)
    ) as response:
        assert response.status == 201
        assert int(response.headers["Content-Length"]) > 100
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    assert await _run_count(api) == 1


async def test_truncate_cuts_a_streamed_log_before_its_end(
    api: Api, session: aiohttp.ClientSession
) -> None:
    emu = api.emulator
    run = await api.start("emulator~scripted", {"steps": []}, params={"waitForFinish": 10})
    emu.faults = _only("truncate", "log")
    lines: list[bytes] = []
    async with session.get(
        f"{emu.base_url}/v2/actor-runs/{run['id']}/log",
        params={"stream": "1"},
        headers=_auth(emu),
    ) as response:
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            async for line in response.content:
                lines.append(line)
    # Every line came, then the connection closed without the stream's end.
    assert b"".join(lines).decode() == await api.log(run["id"])


# -- Delays ------------------------------------------------------------------------------------


async def test_delay_holds_the_answer(api: Api) -> None:
    run = await api.start("emulator~scripted", {"steps": []})
    api.emulator.faults = _only("delay", "get", delay_secs=0.3)
    began = time.monotonic()
    await api.run(run["id"])
    assert time.monotonic() - began >= 0.3
    began = time.monotonic()
    await api.run(run["id"])
    assert time.monotonic() - began < 0.3


async def test_a_read_timeout_during_a_delay_is_ambiguous(
    api: Api, session: aiohttp.ClientSession
) -> None:
    emu = api.emulator
    run = await api.start("emulator~scripted", {"steps": steps("working", sleep=30)})
    emu.faults = _only("delay", "update", delay_secs=1.0)
    with pytest.raises(asyncio.TimeoutError):
        await session.put(
            f"{emu.base_url}/v2/actor-runs/{run['id']}",
            json={"statusMessage": "changed"},
            headers=_auth(emu),
            timeout=aiohttp.ClientTimeout(sock_read=0.1),
        )
    assert (await api.run(run["id"]))["statusMessage"] == "changed"


# -- Which requests ----------------------------------------------------------------------------


def _paths(run_id: str, store_id: str, dataset_id: str) -> list[tuple[str, str, str]]:
    """(method, path, endpoint) for every route, under each of its prefixes."""
    actor = "/v2/actors/emulator~scripted/runs"
    legacy = "/v2/acts/emulator~scripted/runs"
    task = "/v2/actor-tasks/emulator~scripted-task/runs"
    by_id = f"/v2/actor-runs/{run_id}"
    paths = [
        ("POST", actor, "start"),
        ("POST", legacy, "start"),
        ("POST", task, "start-task"),
        ("GET", "/v2/actor-runs", "list"),
        ("GET", actor, "list"),
        ("GET", legacy, "list"),
        ("GET", task, "list"),
        ("PUT", by_id, "update"),
        ("DELETE", by_id, "delete"),
        ("GET", f"/v2/key-value-stores/{store_id}/records/OUTPUT", "record"),
        ("GET", f"/v2/logs/{run_id}", "log"),
        ("GET", f"/v2/datasets/{dataset_id}", "dataset"),
        ("GET", f"/v2/datasets/{dataset_id}/items", "items"),
    ]
    for run in (by_id, f"{actor}/last", f"{legacy}/{run_id}", f"{task}/last"):
        paths += [
            ("GET", run, "get"),
            ("POST", f"{run}/abort", "abort"),
            ("POST", f"{run}/metamorph", "metamorph"),
            ("POST", f"{run}/reboot", "reboot"),
            ("POST", f"{run}/resurrect", "resurrect"),
            ("GET", f"{run}/log", "log"),
            ("GET", f"{run}/key-value-store/records/OUTPUT", "record"),
            ("GET", f"{run}/dataset", "dataset"),
            ("GET", f"{run}/dataset/items", "items"),
        ]
    return paths


async def test_every_route_has_its_endpoint_name(api: Api) -> None:
    run = await api.start("emulator~scripted", {"steps": []})
    api.emulator.faults = Faults(status500=1.0)
    paths = _paths(run["id"], run["defaultKeyValueStoreId"], run["defaultDatasetId"])
    for method, path, _ in paths:
        await api.error(method, path, 500, "internal-server-error")
    assert api.emulator.injected_faults == tuple(
        InjectedFault(FaultKind.STATUS500, endpoint, method, path)
        for method, path, endpoint in paths
    )


def test_every_route_is_named() -> None:
    app = web.Application()
    add_routes(app.router)
    handlers = {route.handler for route in app.router.routes()}
    assert handlers == set(_ENDPOINTS)
    assert {endpoint.value for endpoint in _ENDPOINTS.values()} == ENDPOINTS


async def test_paths_that_match_no_endpoint_get_no_fault(api: Api) -> None:
    api.emulator.faults = Faults(status500=1.0)
    await api.error("GET", "/v2/nothing-here", 404, "page-not-found")
    await api.error("PATCH", "/v2/actor-runs", 405, "method-not-allowed")
    assert api.emulator.injected_faults == ()


async def test_faults_can_be_limited_to_endpoints(api: Api) -> None:
    run = await api.start("emulator~scripted", {"steps": []})
    api.emulator.faults = Faults(status503=1.0, endpoints=frozenset({"list", "log"}))
    await api.run(run["id"])
    await api.request("GET", f"/v2/actor-runs/{run['id']}/log", expect=503)
    await _list(api, expect=503)
    await api.request("POST", f"/v2/actor-runs/{run['id']}/abort", schema="RunResponse")
    assert [fault.endpoint for fault in api.emulator.injected_faults] == ["log", "list"]


async def test_max_faults_stops_injecting(api: Api) -> None:
    api.emulator.faults = Faults(status503=1.0, max_faults=2)
    statuses = [(await _list(api)).status for _ in range(4)]
    assert statuses == [503, 503, 200, 200]
    api.emulator.faults = api.emulator.faults  # counts anew
    await _list(api, expect=503)


# -- Seed, runtime changes, records, log -------------------------------------------------------


def _expected_statuses(seed: int, count: int) -> list[int]:
    """One draw per request over the cumulative rates 0.25 (503), 0.5 (500), 0.75 (429)."""
    rng = random.Random(seed)
    return [(503, 500, 429, 200)[min(int(rng.random() / 0.25), 3)] for _ in range(count)]


async def test_the_seed_fixes_the_sequence_of_faults(api: Api) -> None:
    faults = Faults(status503=0.25, status500=0.25, status429=0.25, seed=7)

    async def statuses() -> list[int]:
        api.emulator.faults = faults  # seeds the generator again
        return [(await _list(api)).status for _ in range(20)]

    first = await statuses()
    assert first == _expected_statuses(7, 20)
    assert await statuses() == first
    api.emulator.faults = Faults(status503=0.25, status500=0.25, status429=0.25, seed=8)
    assert _expected_statuses(8, 20) != first
    assert [(await _list(api)).status for _ in range(20)] == (_expected_statuses(8, 20))


async def test_faults_given_at_construction_and_switched_off() -> None:
    async with (
        fast_emulator(faults=_only("status503", "list")) as emu,
        aiohttp.ClientSession() as session,
    ):
        api = Api(session, emu)
        assert emu.faults == _only("status503", "list")
        await _list(api, expect=503)
        emu.faults = Faults(status503=1.0)
        emu.faults = None
        await _list(api, expect=200)
        assert len(emu.injected_faults) == 1


async def test_each_fault_is_logged_at_info_without_the_query(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="apify_runs_async.emulator")
    api.emulator.faults = _only("status503", "start")
    await api.request("POST", START, json={"steps": []}, token_in_query=True, expect=503)
    assert [(record.levelno, record.getMessage()) for record in caplog.records] == [
        (logging.INFO, f"fault status503 start POST {START}")
    ]
    assert api.emulator.token not in caplog.text


# -- Faults.parse and validation ---------------------------------------------------------------


def test_parse_the_issue_spec() -> None:
    spec = (
        "status503=0.05,status500=0.02,status429=0.05,reset_before=0.02,"
        "reset_after=0.02,truncate=0.01,delay=0.05:2.0"
    )
    assert Faults.parse(spec, seed=7) == Faults(
        status503=0.05,
        status500=0.02,
        status429=0.05,
        reset_before=0.02,
        reset_after=0.02,
        truncate=0.01,
        delay=0.05,
        delay_secs=2.0,
        seed=7,
    )


def test_parse_options() -> None:
    faults = Faults.parse(
        " status503 = 0.5 , delay=0.5",
        endpoints=["start", "get"],
        delay_secs=0.25,
        retry_after_secs=3,
        max_faults=4,
    )
    assert faults == Faults(
        status503=0.5,
        delay=0.5,
        delay_secs=0.25,
        retry_after_secs=3,
        endpoints=frozenset({"start", "get"}),
        max_faults=4,
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "fault spec item '' is not KIND=RATE"),
        ("status503", "fault spec item 'status503' is not KIND=RATE"),
        ("status503=0.1,", "fault spec item '' is not KIND=RATE"),
        ("bogus=0.1", "unknown fault kind 'bogus' in 'bogus=0.1'"),
        ("status503=x", "the rate of 'status503=x' is not a number"),
        ("status503=1.5", "the rate of status503 must be a number from 0 to 1, got 1.5"),
        ("truncate=-0.1", "the rate of truncate must be a number from 0 to 1"),
        ("status500=nan", "the rate of status500 must be a number from 0 to 1"),
        ("status503=0.6,delay=0.6:1", "the fault rates sum to 1.2, more than 1"),
        ("status503=0.1,status503=0.2", "fault kind 'status503' is given twice"),
        ("status503=0.1:2", "only delay and webhook_delay take ':SECONDS', not 'status503=0.1:2'"),
        ("delay=0.1:", "the seconds of 'delay=0.1:' (delay=RATE:SECONDS) is not a number"),
        ("delay=0.1:soon", "the seconds of 'delay=0.1:soon'"),
        ("delay=0.1:-1", "delay_secs must be a number of seconds >= 0, got -1.0"),
        ("delay=0.1:inf", "delay_secs must be a number of seconds >= 0, got inf"),
    ],
)
def test_parse_errors_name_the_bad_part(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        Faults.parse(spec)


@pytest.mark.parametrize(
    ("endpoints", "message"),
    [
        (["start", "strat"], "unknown endpoint 'strat' (endpoints: abort, "),
        ([], "endpoints is empty"),
        ("start", "endpoints must be a collection of names, not the string 'start'"),
    ],
)
def test_unknown_endpoints_are_refused(endpoints: list[str] | str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        Faults.parse("status503=1", endpoints=endpoints)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retry_after_secs": -1}, "retry_after_secs must be whole seconds >= 0"),
        ({"retry_after_secs": 1.5}, "retry_after_secs must be whole seconds >= 0"),
        ({"max_faults": -1}, "max_faults must be an integer >= 0 or None"),
        ({"seed": "7"}, "seed must be an integer or None"),
        ({"endpoints": frozenset({"nope"})}, "unknown endpoint 'nope'"),
    ],
)
def test_the_constructor_validates_too(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        Faults(**options)


def test_rates_that_round_above_1_are_accepted() -> None:
    assert Faults(status503=0.1, status500=0.2, delay=0.7).choose(0.999) is FaultKind.DELAY


def test_a_draw_walks_the_cumulative_rates() -> None:
    faults = Faults(status503=0.1, truncate=0.2)
    assert [faults.choose(draw) for draw in (0.0, 0.0999, 0.1, 0.2999, 0.3001, 0.99)] == [
        FaultKind.STATUS503,
        FaultKind.STATUS503,
        FaultKind.TRUNCATE,
        FaultKind.TRUNCATE,
        None,
        None,
    ]


def test_setting_something_else_than_faults_is_refused() -> None:
    emu = ApifyEmulator()
    with pytest.raises(TypeError, match="faults must be a Faults or None, got str"):
        emu.faults = "status503=1"  # type: ignore[assignment]


# -- The CLI -----------------------------------------------------------------------------------


async def test_the_cli_injects_seeded_faults_and_logs_each_on_stderr() -> None:
    args = ("--faults", "status503=0.25,status500=0.25,status429=0.25", "--seed", "7")
    limits = ("--fault-endpoints", "list,log", "--retry-after-secs", "2", "--no-rate-limits")
    with emulator_process(*args, *limits, env={"PYTHONWARNINGS": "error"}) as emu:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {emu.token}"}) as s:
            statuses = []
            for _ in range(20):
                async with s.get(f"{emu.base_url}/v2/actor-runs") as response:
                    statuses.append(response.status)
                    if response.status == 429:
                        assert response.headers["Retry-After"] == "2"
                # Not a chosen endpoint: never a fault, and no draw.
                async with s.get(f"{emu.base_url}/v2/actor-runs/nope") as response:
                    assert response.status == 404
        emu.process.send_signal(signal.SIGTERM)
        stdout, _ = emu.process.communicate(timeout=10)
        assert emu.process.returncode == 0
        assert stdout == ""
        stderr = emu.stderr()
    assert statuses == _expected_statuses(7, 20)
    names = {503: "status503", 500: "status500", 429: "status429"}
    assert stderr.splitlines() == [
        f"fault {names[status]} list GET /v2/actor-runs" for status in statuses if status != 200
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--faults", "bogus=1"], "unknown fault kind 'bogus'"),
        (["--faults", "status503=1", "--fault-endpoints", "start,strat"], "unknown endpoint"),
        (["--seed", "7"], "--seed needs --faults"),
    ],
)
def test_the_cli_refuses_bad_fault_options(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "apify_runs_async.emulator", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert message in result.stderr
