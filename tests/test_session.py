"""Who owns the aiohttp session, and what happens around open and close."""

from __future__ import annotations

import asyncio
import warnings

import aiohttp
import anyio
import pytest
from aiohttp import web

import apify_runs_async
from apify_runs_async import ApifyRuns, ClientClosedError
from tests.fake_api import FakeApi, error_reply

pytestmark = pytest.mark.anyio


async def test_use_before_open_and_after_close(fake_api: FakeApi) -> None:
    client = ApifyRuns("t", base_url=fake_api.base_url)
    with pytest.raises(ClientClosedError, match="not open yet"):
        await client.get("r1")
    async with client:
        fake_api.reply = error_reply(404, "record-not-found", "no")
        assert await client.get("r1") is None
    with pytest.raises(ClientClosedError, match="closed"):
        await client.get("r1")
    with pytest.raises(ClientClosedError, match="opened twice"):
        async with client:
            pass
    assert fake_api.requests and len(fake_api.requests) == 1
    await client.aclose()  # closing again is harmless


async def test_a_borrowed_session_is_never_closed(fake_api: FakeApi) -> None:
    fake_api.reply = error_reply(404, "record-not-found", "no")
    async with aiohttp.ClientSession() as session:
        async with ApifyRuns("t", base_url=fake_api.base_url, session=session) as client:
            assert await client.get("r1") is None
        assert not session.closed
        async with session.get(f"{fake_api.base_url}/still-usable") as response:
            assert response.status == 404
    assert [r.path for r in fake_api.requests] == ["/v2/actor-runs/r1", "/still-usable"]


async def test_token_and_base_url_come_from_the_environment(
    fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APIFY_TOKEN", "from-env")
    monkeypatch.setenv("APIFY_API_BASE_URL", fake_api.base_url + "/v2/")
    fake_api.reply = error_reply(404, "record-not-found", "no")
    async with ApifyRuns() as client:
        assert client.base_url == fake_api.base_url
        await client.get("r1")
    (request,) = fake_api.requests
    assert request.headers["Authorization"] == "Bearer from-env"
    assert request.path == "/v2/actor-runs/r1"
    assert request.headers["User-Agent"].startswith(
        f"apify-runs-async/{apify_runs_async.__version__}"
    )


async def test_without_a_token_no_authorization_is_sent(
    fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("APIFY_TOKEN", raising=False)
    fake_api.reply = error_reply(404, "record-not-found", "no")
    async with ApifyRuns(base_url=fake_api.base_url) as client:
        assert "token=none" in repr(client)
        await client.get("r1")
    assert "Authorization" not in fake_api.requests[0].headers


async def test_a_borrowed_session_cannot_change_error_handling(fake_api: FakeApi) -> None:
    fake_api.reply = error_reply(404, "record-not-found", "no")
    async with (
        aiohttp.ClientSession(raise_for_status=True) as session,
        ApifyRuns("t", base_url=fake_api.base_url, session=session) as client,
    ):
        assert await client.get("r1") is None


async def test_unusable_borrowed_sessions_are_refused(fake_api: FakeApi) -> None:
    with warnings.catch_warnings():  # session auth is deprecated in aiohttp 3.14, not gone
        warnings.simplefilter("ignore", DeprecationWarning)
        async with aiohttp.ClientSession(auth=aiohttp.BasicAuth("user", "pass")) as session:
            with pytest.raises(ValueError, match="session"):
                async with ApifyRuns("t", base_url=fake_api.base_url, session=session):
                    pass
    closed = aiohttp.ClientSession()
    await closed.close()
    with pytest.raises(ClientClosedError, match="session"):
        async with ApifyRuns("t", base_url=fake_api.base_url, session=closed):
            pass
    async with aiohttp.ClientSession() as session:
        client = ApifyRuns("t", base_url=fake_api.base_url, session=session)
        async with client:
            await session.close()
            with pytest.raises(ClientClosedError, match="session"):
                await client.get("r1")
    assert fake_api.requests == []


async def test_the_token_is_cleaned_of_a_trailing_newline(
    fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APIFY_TOKEN", "from-a-file\n")
    fake_api.reply = error_reply(404, "record-not-found", "no")
    async with ApifyRuns(base_url=fake_api.base_url) as client:
        await client.get("r1")
    assert fake_api.requests[0].headers["Authorization"] == "Bearer from-a-file"


@pytest.mark.parametrize("token", ["in\x00side", "two words", "tab\there", 42])
def test_a_malformed_token_is_refused_without_echoing_it(token: object) -> None:
    with pytest.raises((ValueError, TypeError), match="token") as caught:
        ApifyRuns(token)  # type: ignore[arg-type]
    assert str(token) not in str(caught.value)


async def test_max_connections_bounds_the_connections(fake_api: FakeApi) -> None:
    in_flight = peak = 0

    async def reply(request: web.Request) -> web.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.1)
        in_flight -= 1
        return web.json_response(
            {"error": {"type": "record-not-found", "message": "no"}}, status=404
        )

    fake_api.reply = reply
    async with (
        ApifyRuns("t", base_url=fake_api.base_url, max_connections=2) as client,
        anyio.create_task_group() as group,
    ):
        for _ in range(6):
            group.start_soon(client.get, "r1")
    assert len(fake_api.requests) == 6
    assert peak == 2


def test_the_default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APIFY_API_BASE_URL", raising=False)
    assert ApifyRuns("t").base_url == "https://api.apify.com"


def test_the_public_surface_is_pinned() -> None:
    assert sorted(apify_runs_async.__all__) == sorted(
        [
            "TERMINAL_STATUSES",
            "ActorChargeEvent",
            "ApiError",
            "TaskStartOptions",
            "StartOptions",
            "RunStream",
            "RunRef",
            "RunFailedError",
            "RateLimits",
            "CoolDown",
            "Dataset",
            "DatasetHandle",
            "DatasetStats",
            "InvalidItemError",
            "ItemFilters",
            "ItemPage",
            "CallResult",
            "CallStream",
            "ApifyConnectionError",
            "ApifyError",
            "ApifyRuns",
            "ApifyTimeoutError",
            "BadRequestError",
            "ClientClosedError",
            "WrongEventLoopError",
            "ConflictError",
            "ForbiddenError",
            "GeneralAccess",
            "InvalidResponseError",
            "InvalidWebhookError",
            "JsonInput",
            "KeyValueStore",
            "Metamorph",
            "NotFoundError",
            "PaymentRequiredError",
            "PricingInfo",
            "PricingModel",
            "PricingPerEvent",
            "RateLimitError",
            "Record",
            "RequestTooLargeError",
            "ResponseTooLargeError",
            "Retries",
            "Run",
            "RunHandle",
            "RunInput",
            "RunList",
            "RunMeta",
            "RunOptions",
            "RunOrigin",
            "RunStats",
            "RunStatus",
            "RunSummary",
            "RunUsage",
            "RunUsageUsd",
            "ServerError",
            "StorageIds",
            "StoredKey",
            "TieredPrice",
            "Timeouts",
            "TransportError",
            "UnauthorizedError",
            "UncertainOutcomeError",
            "WebhookEvent",
            "WebhookEventData",
            "WebhookEventType",
            "WebhookReceiver",
            "__version__",
            "is_terminal",
            "parse_webhook",
        ]
    )
    for name in apify_runs_async.__all__:
        assert hasattr(apify_runs_async, name), name
