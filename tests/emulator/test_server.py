"""The emulator as an object: serving, registering Actors, shutting down cleanly."""

from __future__ import annotations

import asyncio
import logging
import re
import time

import aiohttp
import pytest

from apify_runs_async.emulator import ActorContext, ApifyEmulator

from .support import Api, fast_emulator, steps

pytestmark = pytest.mark.anyio


async def _noop(ctx: ActorContext) -> None:
    return None


async def test_serves_on_a_free_local_port_with_a_generated_token() -> None:
    async with ApifyEmulator() as emu:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", emu.base_url)
        assert int(emu.base_url.rsplit(":", 1)[1]) > 0
        assert len(emu.token) >= 20
    async with ApifyEmulator() as other:
        assert other.token != emu.token


async def test_uses_the_given_token(session: aiohttp.ClientSession) -> None:
    async with ApifyEmulator("my-secret") as emu:
        assert emu.token == "my-secret"
        api = Api(session, emu)
        await api.request("GET", "/v2/actor-runs", schema="ListOfRunsResponse", expect=200)


async def test_base_url_needs_a_started_emulator() -> None:
    emu = ApifyEmulator()
    with pytest.raises(RuntimeError):
        _ = emu.base_url
    await emu.start()
    try:
        assert emu.base_url.startswith("http://")
        with pytest.raises(RuntimeError):
            await emu.start()
    finally:
        await emu.close()
    await emu.close()  # twice is fine
    with pytest.raises(RuntimeError):
        _ = emu.base_url


async def test_register_actor_returns_an_id_both_names_reach(
    session: aiohttp.ClientSession,
) -> None:
    async with fast_emulator() as emu:
        actor_id = emu.register_actor("janedoe~my-actor", _noop)
        assert re.fullmatch(r"[A-Za-z0-9]{17}", actor_id)
        api = Api(session, emu)
        by_name = await api.start("janedoe~my-actor")
        by_id = await api.start(actor_id)
        assert by_name["actId"] == by_id["actId"] == actor_id


async def test_actors_given_to_the_constructor_are_registered(
    session: aiohttp.ClientSession,
) -> None:
    async with fast_emulator(actors={"janedoe~from-ctor": _noop}) as emu:
        run = await Api(session, emu).start("janedoe~from-ctor")
        assert (await Api(session, emu).finished(run["id"]))["status"] == "SUCCEEDED"


async def test_actor_and_task_names_may_be_given_with_a_slash(
    session: aiohttp.ClientSession,
) -> None:
    # As the client takes them: `owner/name` is the API's `owner~name`.
    async with fast_emulator(actors={"janedoe/from-ctor": _noop}) as emu:
        emu.register_actor("janedoe/registered", _noop)
        emu.register_task("janedoe/a-task", "janedoe/registered", {})
        api = Api(session, emu)
        for actor in ("janedoe~from-ctor", "janedoe~registered"):
            run = await api.start(actor)
            assert (await api.finished(run["id"]))["status"] == "SUCCEEDED"
        with pytest.raises(ValueError, match="already"):
            emu.register_actor("janedoe~registered", _noop)
        task = await api.request(
            "POST", "/v2/actor-tasks/janedoe~a-task/runs", schema="RunResponse", expect=201
        )
        assert task.data["status"] in ("READY", "RUNNING")


@pytest.mark.parametrize("name", ["no-tilde", "a~b~c", "~name", "user~", "a b~c", "a/b/c"])
async def test_register_actor_rejects_bad_names(name: str) -> None:
    emu = ApifyEmulator()
    with pytest.raises(ValueError, match="username~name"):
        emu.register_actor(name, _noop)


async def test_an_access_log_names_each_request_without_its_query(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("tests.access")
    async with fast_emulator(access_log=logger) as emu:
        with caplog.at_level(logging.INFO, logger="tests.access"):
            await Api(session, emu).request(
                "GET", "/v2/actor-runs/missing", params={"token": emu.token}, expect=404
            )
    [line] = [record.getMessage() for record in caplog.records]
    assert re.fullmatch(r"GET /v2/actor-runs/missing 404 \d+\.\d ms", line)
    assert emu.token not in caplog.text


async def test_register_actor_rejects_duplicates_and_bad_defaults() -> None:
    emu = ApifyEmulator()
    emu.register_actor("janedoe~twice", _noop)
    with pytest.raises(ValueError, match="already"):
        emu.register_actor("janedoe~twice", _noop)
    with pytest.raises(ValueError, match="built-in"):
        emu.register_actor("apify~hello-world", _noop)
    with pytest.raises(ValueError, match="power of 2"):
        emu.register_actor("janedoe~memory", _noop, default_memory_mbytes=1000)


async def test_actor_defaults_apply_to_runs(session: aiohttp.ClientSession) -> None:
    async with fast_emulator() as emu:
        emu.register_actor(
            "janedoe~big", _noop, default_memory_mbytes=4096, default_timeout_secs=60
        )
        run = await Api(session, emu).start("janedoe~big")
        assert run["options"]["memoryMbytes"] == 4096
        assert run["options"]["diskMbytes"] == 8192
        assert run["options"]["timeoutSecs"] == 60


async def test_register_task(session: aiohttp.ClientSession) -> None:
    async with fast_emulator() as emu:
        task_id = emu.register_task(
            "janedoe~my-task", "emulator~scripted", {"output": {"from": "task"}}
        )
        api = Api(session, emu)
        started = await api.request(
            "POST", f"/v2/actor-tasks/{task_id}/runs", schema="RunResponse", expect=201
        )
        assert started.data["actorTaskId"] == task_id
        await api.finished(started.data["id"])
        assert (await api.record(started.data["id"], "OUTPUT")).json == {"from": "task"}
        with pytest.raises(ValueError, match="no Actor"):
            emu.register_task("janedoe~other", "janedoe~missing", {})


def _run_tasks() -> list[asyncio.Task[object]]:
    return [
        task
        for task in asyncio.all_tasks()
        if task.get_name().startswith("apify-emulator-run-") and not task.done()
    ]


async def test_close_cancels_every_run_and_releases_waiting_requests(
    session: aiohttp.ClientSession,
) -> None:
    cancelled = asyncio.Event()

    async def stubborn(ctx: ActorContext) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            cancelled.set()

    emu = fast_emulator(actors={"janedoe~stubborn": stubborn})
    await emu.start()
    api = Api(session, emu)
    run = await api.start("janedoe~stubborn")
    await api.start("emulator~scripted", {"steps": steps("long", sleep=3600)})
    await api.wait_for(run["id"], "RUNNING")
    assert len(_run_tasks()) == 2

    url = f"{emu.base_url}/v2/actor-runs/{run['id']}?waitForFinish=60"
    held = asyncio.create_task(session.get(url, headers={"Authorization": f"Bearer {emu.token}"}))
    await asyncio.sleep(0.1)
    began = time.monotonic()
    await emu.close()
    assert time.monotonic() - began < 2
    assert cancelled.is_set()
    assert _run_tasks() == []
    # The held request was answered (with the run still RUNNING) or cut: it did not hang.
    try:
        response = await asyncio.wait_for(held, 3)
    except aiohttp.ClientError:
        pass
    else:
        body = await response.json()
        response.release()
        assert body["data"]["status"] == "RUNNING"


async def test_unknown_paths_answer_404_page_not_found(api: Api) -> None:
    for path in ["/", "/v2", "/v2/nothing-here", "/v2/actor-runs/x/y/z", "/v1/actor-runs"]:
        await api.error("GET", path, 404, "page-not-found")
    # ... whether or not a token comes along.
    await api.error("GET", "/v2/nothing-here", 404, "page-not-found", token=None)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v2/actor-runs", {"GET"}),
        ("POST", "/v2/actor-runs/abc", {"GET", "PUT", "DELETE"}),
        ("GET", "/v2/actor-runs/abc/abort", {"POST"}),
        ("PUT", "/v2/actors/apify~hello-world/runs", {"GET", "POST"}),
        ("PATCH", "/v2/key-value-stores/abc/records/OUTPUT", {"GET"}),
    ],
)
async def test_wrong_methods_answer_405(
    api: Api, method: str, path: str, allowed: set[str]
) -> None:
    response = await api.request(method, path, expect=405)
    assert response.json["error"]["type"] == "method-not-allowed"
    assert allowed <= set(response.headers["Allow"].split(","))


def _request_handlers() -> list[asyncio.Task[object]]:
    return [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "") == "RequestHandler._handle_request"
    ]


async def test_an_abandoned_long_poll_holds_nothing(api: Api) -> None:
    run = await api.start("emulator~scripted", {"steps": steps("long", sleep=3600)})
    url = f"{api.emulator.base_url}/v2/actor-runs/{run['id']}"
    headers = {"Authorization": f"Bearer {api.emulator.token}"}
    poll = asyncio.create_task(api.session.get(url, params={"waitForFinish": 60}, headers=headers))
    for _ in range(100):
        if _request_handlers():
            break
        await asyncio.sleep(0.01)
    assert _request_handlers()  # the server is holding the poll
    poll.cancel()
    with pytest.raises(asyncio.CancelledError):
        await poll
    for _ in range(100):
        if not _request_handlers():
            break
        await asyncio.sleep(0.01)
    assert _request_handlers() == []


def test_the_public_names() -> None:
    import apify_runs_async.emulator as emulator

    assert sorted(emulator.__all__) == [
        "ActorContext",
        "ActorHandler",
        "ApifyEmulator",
        "DispatchStatus",
        "EmulatorProcess",
        "FaultKind",
        "Faults",
        "InjectedFault",
        "RateLimits",
        "WebhookCall",
        "WebhookDispatch",
        "WebhookRetries",
        "emulator_process",
    ]
