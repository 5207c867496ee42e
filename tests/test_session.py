"""Who owns the aiohttp session, and what happens around open and close."""

from __future__ import annotations

import aiohttp
import pytest

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


def test_the_default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APIFY_API_BASE_URL", raising=False)
    assert ApifyRuns("t").base_url == "https://api.apify.com"


def test_the_public_surface_is_pinned() -> None:
    assert sorted(apify_runs_async.__all__) == sorted(
        [
            "TERMINAL_STATUSES",
            "ActorChargeEvent",
            "ApiError",
            "ApifyConnectionError",
            "ApifyError",
            "ApifyRuns",
            "ApifyTimeoutError",
            "BadRequestError",
            "ClientClosedError",
            "ConflictError",
            "FlatPricePerMonthPricingInfo",
            "ForbiddenError",
            "FreePricingInfo",
            "GeneralAccess",
            "InvalidResponseError",
            "JsonInput",
            "Metamorph",
            "NotFoundError",
            "PayPerEventPricingInfo",
            "PaymentRequiredError",
            "PricePerDatasetItemPricingInfo",
            "PricingInfo",
            "PricingPerEvent",
            "RateLimitError",
            "Record",
            "RequestTooLargeError",
            "Run",
            "RunHandle",
            "RunInput",
            "RunMeta",
            "RunOptions",
            "RunOrigin",
            "RunStats",
            "RunStatus",
            "RunUsage",
            "RunUsageUsd",
            "ServerError",
            "StorageIds",
            "TieredPrice",
            "Timeouts",
            "TransportError",
            "UnauthorizedError",
            "UnknownPricingInfo",
            "__version__",
            "is_terminal",
        ]
    )
    for name in apify_runs_async.__all__:
        assert hasattr(apify_runs_async, name), name
