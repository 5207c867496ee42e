"""Starting runs: POST /v2/actors/{actorId}/runs (and /acts/), its parameters and its body."""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import zlib
from datetime import datetime
from typing import Any

import pytest

from .support import Api, steps

pytestmark = pytest.mark.anyio

_ID = re.compile(r"^[A-Za-z0-9]{17}$")
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LIMIT = 9_437_184


async def test_answers_201_with_a_location_and_the_run(api: Api) -> None:
    response = await api.request(
        "POST",
        "/v2/actors/apify~hello-world/runs",
        schema="RunResponse",
        expect=201,
        json={"hello": "world"},
    )
    run = response.data
    assert response.headers["Location"] == f"{api.emulator.base_url}/v2/actor-runs/{run['id']}"
    assert run["status"] == "READY"
    again = await api.request(
        "GET",
        response.headers["Location"].removeprefix(api.emulator.base_url),
        schema="RunResponse",
        expect=200,
    )
    assert again.data["id"] == run["id"]


async def test_a_new_run_has_every_field_the_api_gives(api: Api) -> None:
    run = await api.start("apify~hello-world", headers={"User-Agent": "my-agent/1.2"})
    listed = await api.request(
        "GET", "/v2/actors/apify~hello-world/runs", schema="ListOfRunsResponse"
    )
    act_id = listed.data["items"][0]["actId"]
    for key in ("id", "actId", "userId", "buildId", "defaultKeyValueStoreId"):
        assert _ID.match(run[key]), (key, run[key])
    assert run["actId"] == act_id
    assert run["actorTaskId"] is None
    assert _TIME.match(run["startedAt"])
    assert run["finishedAt"] is None
    assert run["exitCode"] is None
    assert run["buildNumber"] == "0.0.1"
    assert run["generalAccess"] == "FOLLOW_USER_SETTING"
    assert run["meta"] == {"origin": "API", "clientIp": "127.0.0.1", "userAgent": "my-agent/1.2"}
    assert run["options"] == {
        "build": "latest",
        "timeoutSecs": 3600,
        "memoryMbytes": 1024,
        "diskMbytes": 2048,
    }
    assert run["storageIds"] == {
        "datasets": {"default": run["defaultDatasetId"]},
        "keyValueStores": {"default": run["defaultKeyValueStoreId"]},
        "requestQueues": {"default": run["defaultRequestQueueId"]},
    }
    assert len({run["defaultDatasetId"], run["defaultKeyValueStoreId"], run["id"]}) == 3
    assert run["containerUrl"].startswith("https://")
    assert run["metamorphs"] == []
    assert run["stats"]["rebootCount"] == run["stats"]["resurrectCount"] == 0
    assert isinstance(run["usageTotalUsd"], float)


async def test_finished_runs_report_time_usage_and_exit_code(api: Api) -> None:
    run = await api.start("emulator~scripted", {"steps": steps("a", "b", sleep=0.1)})
    done = await api.finished(run["id"])
    assert done["exitCode"] == 0
    assert _TIME.match(done["finishedAt"])
    started = datetime.fromisoformat(done["startedAt"])
    finished = datetime.fromisoformat(done["finishedAt"])
    assert finished >= started
    stats = done["stats"]
    assert stats["durationMillis"] >= 200
    assert stats["runTimeSecs"] >= 0.2
    expected_compute_units = 1024 / 1024 * stats["runTimeSecs"] / 3600
    assert stats["computeUnits"] == pytest.approx(expected_compute_units, rel=0.05)
    assert done["usage"]["ACTOR_COMPUTE_UNITS"] == pytest.approx(stats["computeUnits"], rel=0.05)
    assert done["usageTotalUsd"] > 0
    assert done["usageTotalUsd"] == pytest.approx(sum(done["usageUsd"].values()))


async def test_the_legacy_acts_prefix_and_the_actor_id_work_too(api: Api) -> None:
    first = await api.start("apify~hello-world")
    response = await api.request(
        "POST", f"/v2/acts/{first['actId']}/runs", schema="RunResponse", expect=201
    )
    assert response.data["actId"] == first["actId"]


async def test_unknown_actor_is_404(api: Api) -> None:
    await api.error("POST", "/v2/actors/nobody~nothing/runs", 404, "record-not-found")
    await api.error("POST", "/v2/acts/AAAAAAAAAAAAAAAAA/runs", 404, "record-not-found")


async def test_run_options_from_the_query(api: Api) -> None:
    run = await api.start(
        "apify~hello-world",
        params={"memory": 256, "timeout": 120, "maxItems": 10, "maxTotalChargeUsd": 2.5},
    )
    assert run["options"] == {
        "build": "latest",
        "timeoutSecs": 120,
        "memoryMbytes": 256,
        "diskMbytes": 512,
        "maxItems": 10,
        "maxTotalChargeUsd": 2.5,
    }


@pytest.mark.parametrize("build", ["latest", "0.0", "0.0.1"])
async def test_known_builds(api: Api, build: str) -> None:
    run = await api.start("apify~hello-world", params={"build": build})
    assert run["options"]["build"] == build
    assert run["buildNumber"] == "0.0.1"


async def test_unknown_build_tag_is_400(api: Api) -> None:
    await api.error(
        "POST",
        "/v2/actors/apify~hello-world/runs",
        400,
        "unknown-build-tag",
        params={"build": "beta"},
    )


@pytest.mark.parametrize(
    "params",
    [
        {"memory": 100},
        {"memory": 300},
        {"memory": 64},
        {"memory": 65536},
        {"memory": "lots"},
        {"memory": 1024.5},
        {"timeout": -1},
        {"timeout": "soon"},
        {"waitForFinish": -1},
        {"waitForFinish": "nan"},
        {"maxItems": -5},
        {"maxItems": 1.5},
        {"maxTotalChargeUsd": -0.1},
        {"restartOnError": "maybe"},
        {"forcePermissionLevel": "ROOT"},
    ],
)
async def test_invalid_parameters_are_400_invalid_input(api: Api, params: dict[str, Any]) -> None:
    await api.error(
        "POST", "/v2/actors/apify~hello-world/runs", 400, "invalid-input", params=params
    )


@pytest.mark.parametrize("memory", [128, 512, 2048, 32768])
async def test_memory_powers_of_two_are_accepted(api: Api, memory: int) -> None:
    run = await api.start("apify~hello-world", params={"memory": memory})
    assert run["options"]["memoryMbytes"] == memory
    assert run["options"]["diskMbytes"] == 2 * memory


@pytest.mark.parametrize("value", ["true", "false", "1", "0", "TRUE"])
async def test_boolean_parameters_accept_words_and_digits(api: Api, value: str) -> None:
    await api.start("apify~hello-world", params={"restartOnError": value})


@pytest.mark.parametrize("level", ["LIMITED_PERMISSIONS", "FULL_PERMISSIONS"])
async def test_force_permission_level(api: Api, level: str) -> None:
    await api.start("apify~hello-world", params={"forcePermissionLevel": level})


def _webhooks(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


async def test_webhooks_parameter_accepts_base64_json(api: Api) -> None:
    hooks = [{"eventTypes": ["ACTOR.RUN.SUCCEEDED"], "requestUrl": "http://127.0.0.1:9/hook"}]
    await api.start("apify~hello-world", params={"webhooks": _webhooks(hooks)})


@pytest.mark.parametrize(
    "value",
    [
        "%%%not-base64%%%",
        base64.b64encode(b"not json").decode(),
        _webhooks({"eventTypes": ["ACTOR.RUN.FAILED"], "requestUrl": "https://x"}),
        _webhooks([{"eventTypes": [], "requestUrl": "https://x"}]),
        _webhooks([{"eventTypes": ["ACTOR.RUN.FAILED"]}]),
        _webhooks(["https://x"]),
    ],
)
async def test_bad_webhooks_are_400_invalid_input(api: Api, value: str) -> None:
    await api.error(
        "POST",
        "/v2/actors/apify~hello-world/runs",
        400,
        "invalid-input",
        params={"webhooks": value},
    )


async def test_json_input_is_stored_as_the_input_record(api: Api) -> None:
    run_input = {"query": "coffee", "max": 3, "nested": {"ok": True}}
    run = await api.start("apify~hello-world", run_input)
    record = await api.record(run["id"], "INPUT")
    assert record.status == 200
    assert record.headers["Content-Type"].startswith("application/json")
    assert record.json == run_input
    assert run["stats"]["inputBodyLen"] == len(json.dumps(run_input).encode())


async def test_any_content_type_is_stored_as_given(api: Api) -> None:
    run = await api.start(
        "apify~hello-world", data=b"<html>hi</html>", headers={"Content-Type": "text/html"}
    )
    record = await api.record(run["id"], "INPUT")
    assert record.headers["Content-Type"] == "text/html"
    assert record.body == b"<html>hi</html>"


async def test_no_body_means_no_input_record(api: Api) -> None:
    run = await api.start("apify~hello-world")
    await api.error(
        "GET", f"/v2/actor-runs/{run['id']}/key-value-store/records/INPUT", 404, "record-not-found"
    )


async def test_invalid_json_is_400(api: Api) -> None:
    await api.error(
        "POST",
        "/v2/actors/apify~hello-world/runs",
        400,
        "run-input-body-not-valid-json",
        data=b'{"broken": ',
        headers={"Content-Type": "application/json"},
    )


async def test_gzip_bodies_are_accepted(api: Api) -> None:
    run_input = {"compressed": "yes" * 100}
    run = await api.start(
        "apify~hello-world",
        data=gzip.compress(json.dumps(run_input).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert (await api.record(run["id"], "INPUT")).json == run_input


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
async def test_deflate_bodies_are_accepted(api: Api, wbits: int) -> None:
    compressor = zlib.compressobj(wbits=wbits)
    data = compressor.compress(b'{"deflated": true}') + compressor.flush()
    run = await api.start(
        "apify~hello-world",
        data=data,
        headers={"Content-Type": "application/json", "Content-Encoding": "deflate"},
    )
    assert (await api.record(run["id"], "INPUT")).json == {"deflated": True}


@pytest.mark.parametrize("encoding", ["br", "compress", "zstd", "gzip, br"])
async def test_other_encodings_are_415(api: Api, encoding: str) -> None:
    await api.error(
        "POST",
        "/v2/actors/apify~hello-world/runs",
        415,
        "unsupported-content-encoding",
        data=b"{}",
        headers={"Content-Type": "application/json", "Content-Encoding": encoding},
    )


async def test_a_corrupt_gzip_body_is_400(api: Api) -> None:
    await api.error(
        "POST",
        "/v2/actors/apify~hello-world/runs",
        400,
        "invalid-input",
        data=gzip.compress(b'{"a": 1}')[:-6],
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )


async def test_a_body_of_exactly_the_limit_is_accepted(api: Api) -> None:
    run = await api.start(
        "apify~hello-world",
        data=io.BytesIO(b"x" * LIMIT),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert run["stats"]["inputBodyLen"] == LIMIT


async def test_a_body_over_the_limit_is_413(api: Api) -> None:
    await api.error(
        "POST",
        "/v2/actors/apify~hello-world/runs",
        413,
        "request-too-large",
        data=io.BytesIO(b"x" * (LIMIT + 1)),
        headers={"Content-Type": "application/octet-stream"},
    )


async def test_a_chunked_body_over_the_limit_is_413(api: Api) -> None:
    async def chunks() -> Any:
        for _ in range(10):
            yield b"x" * (LIMIT // 9)

    await api.error(
        "POST",
        "/v2/actors/apify~hello-world/runs",
        413,
        "request-too-large",
        data=chunks(),
        headers={"Content-Type": "application/octet-stream"},
    )


async def test_a_gzip_body_inflating_over_the_limit_is_413(api: Api) -> None:
    bomb = gzip.compress(b"0" * (LIMIT + 1))
    assert len(bomb) < LIMIT // 100
    await api.error(
        "POST",
        "/v2/actors/apify~hello-world/runs",
        413,
        "request-too-large",
        data=bomb,
        headers={"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"},
    )


async def test_wait_for_finish_on_start(api: Api) -> None:
    run = await api.start("apify~hello-world", params={"waitForFinish": 10})
    assert run["status"] == "SUCCEEDED"
    assert run["exitCode"] == 0


async def test_wait_for_finish_on_start_gives_up_after_the_time(api: Api) -> None:
    run = await api.start(
        "emulator~scripted", {"steps": steps("slow", sleep=5)}, params={"waitForFinish": 0.2}
    )
    assert run["status"] == "RUNNING"
