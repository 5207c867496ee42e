"""Authentication: Bearer header or `?token=`; anonymous reads of a run hide its costs."""

from __future__ import annotations

import logging

import pytest

from .support import Api

pytestmark = pytest.mark.anyio

_PROTECTED = [
    ("GET", "/v2/actor-runs"),
    ("POST", "/v2/actors/apify~hello-world/runs"),
    ("GET", "/v2/actors/apify~hello-world/runs"),
    ("GET", "/v2/actors/apify~hello-world/runs/last"),
    ("POST", "/v2/actor-tasks/emulator~scripted-task/runs"),
    ("PUT", "/v2/actor-runs/{run}"),
    ("DELETE", "/v2/actor-runs/{run}"),
    ("POST", "/v2/actor-runs/{run}/abort"),
    ("POST", "/v2/actor-runs/{run}/reboot"),
    ("GET", "/v2/actor-runs/{run}/log"),
    ("GET", "/v2/actor-runs/{run}/key-value-store/records/INPUT"),
]


async def test_token_in_the_authorization_header(api: Api) -> None:
    await api.request("GET", "/v2/actor-runs", schema="ListOfRunsResponse", expect=200)


async def test_token_in_the_query(api: Api) -> None:
    await api.request(
        "GET", "/v2/actor-runs", schema="ListOfRunsResponse", expect=200, token_in_query=True
    )


async def test_header_scheme_is_case_insensitive(api: Api) -> None:
    await api.request(
        "GET",
        "/v2/actor-runs",
        schema="ListOfRunsResponse",
        expect=200,
        token=None,
        headers={"Authorization": f"bearer {api.emulator.token}"},
    )


@pytest.mark.parametrize(("method", "path"), _PROTECTED)
async def test_missing_token_is_401_token_not_provided(api: Api, method: str, path: str) -> None:
    run = await api.start("emulator~scripted", {"x": 1})
    await api.error(method, path.format(run=run["id"]), 401, "token-not-provided", token=None)


@pytest.mark.parametrize(("method", "path"), _PROTECTED)
@pytest.mark.parametrize("in_query", [False, True])
async def test_wrong_token_is_401_invalid_token(
    api: Api, method: str, path: str, in_query: bool
) -> None:
    run = await api.start("emulator~scripted", {"x": 1})
    await api.error(
        method,
        path.format(run=run["id"]),
        401,
        "invalid-token",
        token=api.emulator.token + "x",
        token_in_query=in_query,
    )


async def test_a_wrong_token_loses_even_with_a_right_one_in_the_query(api: Api) -> None:
    # The header is the one that counts.
    await api.error(
        "GET",
        "/v2/actor-runs",
        401,
        "invalid-token",
        token="wrong",
        params={"token": api.emulator.token},
    )


async def test_anonymous_run_reads_hide_the_costs(api: Api) -> None:
    run = await api.start("apify~hello-world")
    authenticated = await api.run(run["id"])
    assert "usageUsd" in authenticated
    assert "usageTotalUsd" in authenticated
    anonymous = await api.request(
        "GET", f"/v2/actor-runs/{run['id']}", schema="RunResponse", expect=200, token=None
    )
    assert anonymous.data["id"] == run["id"]
    assert "usageUsd" not in anonymous.data
    assert "usageTotalUsd" not in anonymous.data
    assert anonymous.data["usage"]  # usage counts themselves are not costs
    # waitForFinish works for anonymous readers too.
    finished = await api.request(
        "GET",
        f"/v2/actor-runs/{run['id']}",
        schema="RunResponse",
        expect=200,
        token=None,
        params={"waitForFinish": 10},
    )
    assert finished.data["status"] == "SUCCEEDED"


async def test_anonymous_reads_still_reject_a_wrong_token(api: Api) -> None:
    run = await api.start("apify~hello-world")
    await api.error("GET", f"/v2/actor-runs/{run['id']}", 401, "invalid-token", token="nope")


async def test_anonymous_reads_of_a_missing_run_are_404(api: Api) -> None:
    await api.error("GET", "/v2/actor-runs/AAAAAAAAAAAAAAAAA", 404, "record-not-found", token=None)


async def test_the_token_is_never_logged(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    run = await api.start("apify~hello-world", token_in_query=True)
    await api.request(
        "GET", f"/v2/actor-runs/{run['id']}", schema="RunResponse", token_in_query=True
    )
    await api.error("GET", "/v2/nothing", 404, "page-not-found", token_in_query=True)
    # Requests are logged (so the check below means something), their tokens are not.
    assert f"/v2/actor-runs/{run['id']}" in caplog.text
    assert api.emulator.token not in caplog.text
