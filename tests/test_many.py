"""Many runs at once: watch_many, as_completed and call_many, over HTTP to the emulator."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace

import aiohttp
import anyio
import pytest

from apify_runs_async import (
    ApifyRuns,
    BadRequestError,
    CoolDown,
    NotFoundError,
    Run,
    RunStatus,
    Timeouts,
    is_terminal,
)
from apify_runs_async.emulator import ActorContext, ApifyEmulator, EmulatorProcess
from tests.helpers import SHORT_GRACE, RequestCounter, script

pytestmark = pytest.mark.anyio


async def start_scripted(client: ApifyRuns, *step_secs: float) -> list[Run]:
    return [
        await client.start("emulator~scripted", script(f"step of {secs}", step_secs=secs))
        for secs in step_secs
    ]


async def test_watch_many_delivers_every_transition_of_every_run(client: ApifyRuns) -> None:
    runs = await start_scripted(client, 0.3, 0.6, 0.9)
    failing = await client.start("emulator~scripted", script("doomed", outcome="FAILED"))
    seen: dict[str, list[tuple[str, str | None]]] = {}
    async with client.watch_many([*runs, failing.id], poll_interval=1) as updates:
        async for run_id, run in updates:
            assert run.id == run_id
            seen.setdefault(run_id, []).append((run.status, run.status_message))
    assert set(seen) == {r.id for r in runs} | {failing.id}
    for run_id, history in seen.items():
        terminal = [status for status, _ in history if is_terminal(status)]
        assert len(terminal) == 1, history
        assert history[-1][0] == terminal[0]
        expected = RunStatus.FAILED if run_id == failing.id else RunStatus.SUCCEEDED
        assert terminal[0] == expected
        assert history[0][0] in (RunStatus.READY, RunStatus.RUNNING)


async def test_as_completed_yields_in_the_order_runs_finish(client: ApifyRuns) -> None:
    runs = await start_scripted(client, 0.9, 0.1, 0.5)  # started slowest first
    async with client.as_completed([r.id for r in runs]) as finished:
        order = [run.id async for run in finished]
    assert order == [runs[1].id, runs[2].id, runs[0].id]


async def test_runs_fed_late_through_an_async_iterable(client: ApifyRuns) -> None:
    send, receive = anyio.create_memory_object_stream[str](10)
    started: list[str] = []
    finished: list[str] = []

    async def feed_slowly() -> None:
        async with send:
            for secs in (0.2, 0.2, 0.2):
                (run,) = await start_scripted(client, secs)
                started.append(run.id)
                await send.send(run.id)
                await anyio.sleep(0.2)

    async with anyio.create_task_group() as group, receive:
        group.start_soon(feed_slowly)
        async with client.as_completed(receive) as results:
            async for run in results:
                assert run.is_terminal
                finished.append(run.id)
    assert sorted(finished) == sorted(started)
    assert len(finished) == 3


async def test_runs_added_while_watching(client: ApifyRuns) -> None:
    (first,) = await start_scripted(client, 0.2)
    added: list[str] = []
    terminal: list[str] = []
    async with client.watch_many([first]) as updates:
        async for run_id, run in updates:
            if not run.is_terminal:
                continue
            terminal.append(run_id)
            if len(added) < 2:  # each finished run brings a new one, as a crawler would
                (more,) = await start_scripted(client, 0.2)
                added.append(more.id)
                updates.add(more.id)
    assert terminal == [first.id, *added]
    with pytest.raises(RuntimeError, match="ended"):
        updates.add(first.id)


async def test_a_run_given_twice_is_followed_once(client: ApifyRuns) -> None:
    (run,) = await start_scripted(client, 0.2)
    async with client.as_completed([run.id, run, run.id]) as finished:
        assert [r.id async for r in finished] == [run.id]


async def test_nothing_to_follow_ends_at_once(client: ApifyRuns) -> None:
    async with client.watch_many([]) as updates:
        assert [item async for item in updates] == []


@pytest.mark.client_options(retries=SHORT_GRACE)
async def test_a_missing_run_raises_its_own_error(client: ApifyRuns) -> None:
    (run,) = await start_scripted(client, 30)
    with pytest.raises(NotFoundError, match="NoSuchRun"):
        async with client.as_completed([run.id, "NoSuchRun"]) as finished:
            async for _ in finished:
                pass
    await client.abort(run.id)


@pytest.mark.client_options(retries=SHORT_GRACE)
async def test_a_failing_last_job_fails_the_loop_not_after_it(client: ApifyRuns) -> None:
    (run,) = await start_scripted(client, 0.1)
    after_the_loop = False
    with pytest.raises(NotFoundError, match="NoSuchRun"):
        async with client.as_completed([run.id, "NoSuchRun"]) as finished:
            async for _ in finished:
                pass
            after_the_loop = True  # must not run on partial results
    assert not after_the_loop


async def test_a_failing_async_source_fails_the_loop(client: ApifyRuns) -> None:
    async def ids() -> AsyncIterator[str]:
        yield (await start_scripted(client, 0.1))[0].id
        raise OSError("the source broke")

    after_the_loop = False
    with pytest.raises(OSError, match="the source broke"):
        async with client.as_completed(ids()) as finished:
            async for _ in finished:
                pass
            after_the_loop = True
    assert not after_the_loop


async def test_an_error_keeps_its_cause(client: ApifyRuns) -> None:
    (run,) = await start_scripted(client, 0.1)
    with pytest.raises(RuntimeError) as caught:
        async with client.as_completed([run]) as finished:
            async for _ in finished:
                try:
                    raise KeyError("inner")
                except KeyError as inner:
                    raise RuntimeError("outer") from inner
    assert isinstance(caught.value.__cause__, KeyError)


async def test_more_runs_than_connections(emulator: ApifyEmulator) -> None:
    # Each run followed holds a connection while it long-polls: the others wait for one,
    # and a short connect timeout must not count that wait.
    async with ApifyRuns(
        emulator.token,
        base_url=emulator.base_url,
        max_connections=2,
        timeouts=Timeouts(connect=0.2),
    ) as client:
        runs = await start_scripted(client, 0.6, 0.6, 0.6, 0.6, 0.6)
        async with client.as_completed(runs) as finished:
            statuses = [run.status async for run in finished]
    assert statuses == [RunStatus.SUCCEEDED] * 5


async def test_bad_ids_fail_before_any_request(client: ApifyRuns) -> None:
    with pytest.raises(ValueError, match="run_id"):
        async with client.watch_many(["fine", "not/fine"]):
            pytest.fail("a bad id must fail on entering")
    with pytest.raises(ValueError, match="poll_interval"):
        client.watch_many([], poll_interval=0)


@pytest.fixture
async def remote(separate_emulator: EmulatorProcess) -> AsyncIterator[ApifyRuns]:
    async with ApifyRuns(separate_emulator.token, base_url=separate_emulator.base_url) as c:
        yield c


async def test_breaking_out_leaks_no_task(remote: ApifyRuns) -> None:
    runs = await start_scripted(remote, 30, 30, 30)
    tasks_before = asyncio.all_tasks()
    async with remote.watch_many(runs, poll_interval=None) as updates:
        async for _ in updates:
            break
    assert asyncio.all_tasks() == tasks_before
    for run in runs:
        await remote.abort(run.id)


async def test_cancelling_leaks_no_task(remote: ApifyRuns) -> None:
    runs = await start_scripted(remote, 30, 30)
    tasks_before = asyncio.all_tasks()
    seen = 0
    with anyio.move_on_after(0.5):
        async with remote.watch_many([r.id for r in runs], poll_interval=None) as updates:
            async for _ in updates:
                seen += 1
    assert seen == 2  # the first status of each, then the long-polls were cancelled
    assert asyncio.all_tasks() == tasks_before
    for run in runs:
        await remote.abort(run.id)


class Gauge:
    """An Actor that records how many of its runs were going at once."""

    def __init__(self) -> None:
        self.running = self.peak = 0

    async def __call__(self, ctx: ActorContext) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await ctx.sleep(0.15)
            ctx.set_record("OUTPUT", {"echo": ctx.input})
        finally:
            self.running -= 1


async def test_call_many_reads_its_inputs_as_runs_can_start() -> None:
    gauge = Gauge()
    taken = 0

    def inputs() -> Iterator[dict[str, int]]:
        nonlocal taken
        for n in range(1_000_000):  # far more than could ever be started here
            taken += 1
            yield {"n": n}

    async with (
        ApifyEmulator(actors={"me~gauge": gauge}) as emulator,
        ApifyRuns(emulator.token, base_url=emulator.base_url) as client,
        client.call_many("me/gauge", inputs(), concurrency=3) as results,
    ):
        tasks_at_start = len(asyncio.all_tasks())
        async for index, _ in results:
            if index >= 5:
                break
    assert taken < 20
    assert tasks_at_start < 50


async def test_call_many_keeps_to_its_concurrency() -> None:
    gauge = Gauge()
    async with (
        ApifyEmulator(actors={"me~gauge": gauge}) as emulator,
        ApifyRuns(emulator.token, base_url=emulator.base_url) as client,
        client.call_many("me/gauge", [{"n": n} for n in range(8)], concurrency=3) as results,
    ):
        outputs = {index: result.output async for index, result in results}
    assert gauge.peak == 3
    assert sorted(outputs) == list(range(8))
    for index, output in outputs.items():
        assert output is not None and output.json() == {"echo": {"n": index}}


class LimitCounter:
    """Counts the 400 answers to starts that say an account limit was hit."""

    def __init__(self) -> None:
        self.refusals: Counter[str] = Counter()
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_end.append(self._on_end)

    async def _on_end(
        self,
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        if params.method == "POST" and params.response.status == 400:
            body = await params.response.json()
            self.refusals[body["error"]["type"]] += 1


@pytest.mark.parametrize(
    ("limit", "error_type"),
    [
        ({"max_concurrent_runs": 2}, "concurrent-runs-limit-exceeded"),
        ({"max_total_memory_mbytes": 2048}, "actor-memory-limit-exceeded"),
    ],
)
async def test_account_limits_are_waited_out(limit: dict[str, int], error_type: str) -> None:
    counter = LimitCounter()
    gauge = Gauge()
    async with (
        ApifyEmulator(actors={"me~gauge": gauge}, **limit) as emulator,  # type: ignore[arg-type]
        aiohttp.ClientSession(trace_configs=[counter.trace]) as session,
        ApifyRuns(
            emulator.token,
            base_url=emulator.base_url,
            session=session,
            limit_cool_down=CoolDown(first_secs=0.05, max_secs=0.2),
        ) as client,
        client.call_many(
            "me/gauge", [{"n": n} for n in range(6)], concurrency=6, memory_mbytes=1024
        ) as results,
    ):
        statuses = [result.run.status async for _, result in results]
    assert statuses == [RunStatus.SUCCEEDED] * 6
    assert counter.refusals[error_type] > 0, "the limit was never hit"
    assert gauge.peak == 2


async def test_a_cool_down_retries_only_limit_errors(emulator: ApifyEmulator) -> None:
    counter = RequestCounter()
    async with (
        aiohttp.ClientSession(trace_configs=[counter.trace]) as session,
        ApifyRuns(
            emulator.token,
            base_url=emulator.base_url,
            session=session,
            limit_cool_down=CoolDown(first_secs=0.05, max_secs=0.1),
        ) as client,
    ):
        with pytest.raises(BadRequestError) as caught:
            await client.start("emulator~scripted", b"{not json", content_type="application/json")
    assert caught.value.error_type == "run-input-body-not-valid-json"
    posts = [method for method, _ in counter.sent if method == "POST"]
    assert len(posts) == 1, "a 400 that is not a limit must not be retried"


async def test_without_a_cool_down_a_limit_is_raised() -> None:
    async with (
        ApifyEmulator(max_concurrent_runs=1) as emulator,
        ApifyRuns(emulator.token, base_url=emulator.base_url, limit_cool_down=None) as client,
    ):
        await client.start("emulator~scripted", script("busy", step_secs=30))
        with pytest.raises(BadRequestError) as caught:
            await client.start("emulator~scripted")
    assert caught.value.error_type == "concurrent-runs-limit-exceeded"


async def test_call_many_checks_its_arguments_first(client: ApifyRuns) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        client.call_many("emulator~scripted", [], concurrency=0)
    with pytest.raises(ValueError, match="memory_mbytes"):
        client.call_many("emulator~scripted", [], concurrency=1, memory_mbytes=3)
    with pytest.raises(ValueError, match="actor_id"):
        client.call_many("bad/actor/id", [], concurrency=1)
    with pytest.raises(TypeError, match=r"inputs\[1\]"):
        async with client.call_many("emulator~scripted", [{}, 42], concurrency=1):  # type: ignore[list-item]
            pytest.fail("a bad input must fail on entering")
