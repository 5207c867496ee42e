"""Records of the default key-value store, and the run's log."""

from __future__ import annotations

import asyncio

import pytest

from apify_runs_async import ApifyRuns
from apify_runs_async.emulator import ActorContext, ApifyEmulator

from .support import Api, steps

pytestmark = pytest.mark.anyio


async def _recorder(ctx: ActorContext) -> None:
    ctx.set_record("OUTPUT", {"json": True})
    ctx.set_record("TEXT", "plain text")
    ctx.set_record("BYTES", b"\x00\x01\x02")
    ctx.set_record("PAGE", "<p>hi</p>", content_type="text/html")
    ctx.set_record("LIST", [1, "two"])


async def test_records_keep_their_content_types(api: Api) -> None:
    api.emulator.register_actor("janedoe~recorder", _recorder)
    run = await api.start("janedoe~recorder", params={"waitForFinish": 10})
    expected = {
        "OUTPUT": ("application/json; charset=utf-8", b'{"json":true}'),
        "TEXT": ("text/plain; charset=utf-8", b"plain text"),
        "BYTES": ("application/octet-stream", b"\x00\x01\x02"),
        "PAGE": ("text/html", b"<p>hi</p>"),
        "LIST": ("application/json; charset=utf-8", b'[1,"two"]'),
    }
    for key, (content_type, body) in expected.items():
        for path in (
            f"/v2/actor-runs/{run['id']}/key-value-store/records/{key}",
            f"/v2/key-value-stores/{run['defaultKeyValueStoreId']}/records/{key}",
        ):
            response = await api.request("GET", path, raw=True, expect=200)
            assert response.headers["Content-Type"] == content_type
            assert response.body == body


async def test_record_reads_are_counted_in_the_usage(api: Api) -> None:
    api.emulator.register_actor("janedoe~recorder", _recorder)
    run = await api.start("janedoe~recorder", params={"waitForFinish": 10})
    assert run["usage"]["KEY_VALUE_STORE_WRITES"] == 5
    assert run["usage"]["KEY_VALUE_STORE_READS"] == 0
    await api.record(run["id"], "OUTPUT")
    await api.record(run["id"], "TEXT")
    assert (await api.run(run["id"]))["usage"]["KEY_VALUE_STORE_READS"] == 2


async def test_missing_records_and_stores_are_404(api: Api) -> None:
    run = await api.start("apify~hello-world", params={"waitForFinish": 10})
    await api.error(
        "GET", f"/v2/actor-runs/{run['id']}/key-value-store/records/NOPE", 404, "record-not-found"
    )
    await api.error(
        "GET",
        f"/v2/key-value-stores/{run['defaultKeyValueStoreId']}/records/NOPE",
        404,
        "record-not-found",
    )
    await api.error(
        "GET", "/v2/key-value-stores/AAAAAAAAAAAAAAAAA/records/OUTPUT", 404, "record-not-found"
    )
    await api.error(
        "GET",
        "/v2/actor-runs/AAAAAAAAAAAAAAAAA/key-value-store/records/OUTPUT",
        404,
        "record-not-found",
    )


async def test_attachment_and_head(api: Api) -> None:
    run = await api.start("apify~hello-world", params={"waitForFinish": 10})
    path = f"/v2/key-value-stores/{run['defaultKeyValueStoreId']}/records/OUTPUT"
    attached = await api.request("GET", path, raw=True, params={"attachment": "true"})
    assert attached.headers["Content-Disposition"] == 'attachment; filename="OUTPUT"'
    plain = await api.request("GET", path, raw=True)
    assert "Content-Disposition" not in plain.headers
    head = await api.request("HEAD", path, expect=200)
    assert head.body == b""
    await api.request("HEAD", path.replace("OUTPUT", "NOPE"), expect=404)


async def test_the_log_tells_the_story_of_the_run(api: Api) -> None:
    async def chatty(ctx: ActorContext) -> None:
        ctx.log("custom line")
        ctx.set_status_message("Working")
        raise RuntimeError("boom")

    api.emulator.register_actor("janedoe~chatty", chatty)
    run = await api.start("janedoe~chatty", params={"waitForFinish": 10})
    response = await api.request("GET", f"/v2/actor-runs/{run['id']}/log", expect=200)
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    lines = response.body.decode().splitlines()
    for line in lines:
        assert line[:24].endswith("Z") and line[10] == "T", line  # an ISO timestamp first
    text = "\n".join(line[25:] for line in lines)
    for expected in (
        "Run created",
        "Starting janedoe~chatty",
        "custom line",
        "Status message: Working",
        "ERROR RuntimeError: boom",
        "Run finished with status FAILED (exit code 1)",
    ):
        assert expected in text
    assert text.index("Run created") < text.index("custom line") < text.index("Run finished")
    same = await api.request("GET", f"/v2/logs/{run['id']}", expect=200)
    assert same.body == response.body


async def test_the_log_of_a_missing_run_is_404(api: Api) -> None:
    await api.error("GET", "/v2/actor-runs/AAAAAAAAAAAAAAAAA/log", 404, "record-not-found")
    await api.error("GET", "/v2/logs/AAAAAAAAAAAAAAAAA", 404, "record-not-found")


async def test_a_streamed_log_follows_the_run_until_it_ends(api: Api) -> None:
    run = await api.start("emulator~scripted", {"steps": steps("one", "two", "three", sleep=0.1)})
    url = f"{api.emulator.base_url}/v2/actor-runs/{run['id']}/log"
    headers = {"Authorization": f"Bearer {api.emulator.token}"}
    arrivals: list[tuple[float, str]] = []
    loop = asyncio.get_running_loop()
    async with api.session.get(url, params={"stream": "1"}, headers=headers) as response:
        assert response.status == 200
        async for line in response.content:
            arrivals.append((loop.time(), line.decode()))
    text = "".join(line for _, line in arrivals)
    assert "Status message: three" in text
    assert text.rstrip().endswith("(exit code 0)")  # it ended with the run
    first = next(when for when, line in arrivals if "Status message: one" in line)
    last = next(when for when, line in arrivals if "Status message: three" in line)
    assert last - first >= 0.15  # lines came as they happened, not all at the end


async def test_a_streamed_log_of_a_finished_run_ends_at_once(api: Api) -> None:
    run = await api.start("apify~hello-world", params={"waitForFinish": 10})
    streamed = await api.request(
        "GET", f"/v2/actor-runs/{run['id']}/log", expect=200, params={"stream": "true"}
    )
    assert streamed.body.decode() == await api.log(run["id"])


async def test_a_reader_leaving_a_streamed_log_is_no_error(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    run = await api.start("emulator~scripted", {"steps": steps("one", "two", sleep=0.1)})
    url = f"{api.emulator.base_url}/v2/actor-runs/{run['id']}/log"
    headers = {"Authorization": f"Bearer {api.emulator.token}"}
    response = await api.session.get(url, params={"stream": "1"}, headers=headers)
    await response.content.readline()
    response.close()  # leave while the run still logs
    done = await api.finished(run["id"])
    await asyncio.sleep(0.05)
    assert done["status"] == "SUCCEEDED"
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


async def _colourful(ctx: ActorContext) -> None:
    ctx.log("\x1b[32mINFO\x1b[0m  green\tand tabbed\x07")


async def test_ansi_escapes_are_dropped_unless_raw(api: Api) -> None:
    api.emulator.register_actor("janedoe~colourful", _colourful)
    run = await api.start("janedoe~colourful", params={"waitForFinish": 10})
    for path in (
        f"/v2/actor-runs/{run['id']}/log",
        f"/v2/logs/{run['id']}",
        "/v2/actors/janedoe~colourful/runs/last/log",
    ):
        clean = (await api.request("GET", path, expect=200)).body.decode()
        assert "INFO  green\tand tabbed\n" in clean
        assert "\x1b" not in clean and "\x07" not in clean
        for raw in ("1", "true"):
            verbatim = await api.request("GET", path, expect=200, params={"raw": raw})
            assert "\x1b[32mINFO\x1b[0m  green\tand tabbed\x07\n" in verbatim.body.decode()
        streamed = await api.request("GET", path, expect=200, params={"stream": "1", "raw": "1"})
        assert streamed.body == verbatim.body
        assert (await api.request("GET", path, params={"raw": "0"})).body.decode() == clean


async def test_download_asks_for_an_attachment(api: Api) -> None:
    run = await api.start("apify~hello-world", params={"waitForFinish": 10})
    for path in (f"/v2/actor-runs/{run['id']}/log", f"/v2/logs/{run['id']}"):
        for query in ({"download": "1"}, {"download": "true", "stream": "1"}):
            response = await api.request("GET", path, expect=200, params=query)
            assert response.headers["Content-Disposition"] == (
                f'attachment; filename="{run["id"]}.log"'
            )
            assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        plain = await api.request("GET", path, expect=200, params={"download": "false"})
        assert "Content-Disposition" not in plain.headers


@pytest.mark.parametrize("name", ["raw", "download", "stream"])
async def test_bad_log_flags_are_400(api: Api, name: str) -> None:
    run = await api.start("apify~hello-world", params={"waitForFinish": 10})
    await api.error("GET", f"/v2/logs/{run['id']}", 400, "invalid-input", params={name: "maybe"})


async def test_a_lost_stream_resumes_by_skipping_the_bytes_read(api: Api) -> None:
    """Every stream serves the log from its start, and the log only grows: a reader that
    lost its stream opens another and drops as many bytes as it had, repeating no line."""
    run = await api.start("emulator~scripted", {"steps": steps("one", "two", "three", sleep=0.1)})
    url = f"{api.emulator.base_url}/v2/actor-runs/{run['id']}/log"
    headers = {"Authorization": f"Bearer {api.emulator.token}"}
    received = b""
    async with api.session.get(url, params={"stream": "1"}, headers=headers) as response:
        while b"Status message: one" not in received:
            received += await response.content.readline()
    # The connection is gone; the run goes on logging.
    async with api.session.get(url, params={"stream": "1"}, headers=headers) as response:
        again = await response.read()
    assert again.startswith(received)
    received += again[len(received) :]
    assert received == (await api.log(run["id"])).encode()
    lines = received.decode().splitlines()
    assert len(lines) == len(set(lines))
    assert lines[-1].endswith("(exit code 0)")


async def test_a_scripted_step_writes_log_lines(emulator: ApifyEmulator) -> None:
    async with ApifyRuns(emulator.token, base_url=emulator.base_url) as client:
        result = await client.call(
            "emulator~scripted", {"steps": [{"logLines": 3}, {"logLines": 2}]}
        )
        log = await client.get_log(result.run)
    written = [line.split(" ", 1)[1] for line in log.splitlines() if " line " in line]
    assert written == [
        "Step 0 line 0",
        "Step 0 line 1",
        "Step 0 line 2",
        "Step 1 line 0",
        "Step 1 line 1",
    ]
    async with ApifyRuns(emulator.token, base_url=emulator.base_url) as client:
        bad = await client.call("emulator~scripted", {"steps": [{"logLines": -1}]})
    assert bad.run.status == "FAILED"
