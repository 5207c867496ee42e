"""examples/crawlee_actor_runs.py: Crawlee's BasicCrawler handing its pages to Actor runs.

Crawlee is not a dependency: `nox -s crawlee` installs it and runs these tests."""

from __future__ import annotations

import pytest

pytest.importorskip("crawlee")

from apify_runs_async import ApifyRuns
from apify_runs_async.emulator import ApifyEmulator
from examples.crawlee_actor_runs import MAX_DEPTH, make_crawler, scraper
from tests.test_examples import run_example

pytestmark = pytest.mark.anyio


async def test_crawler_runs_one_actor_run_per_page(
    apify_emulator: ApifyEmulator, apify_client: ApifyRuns
) -> None:
    apify_emulator.register_actor("janedoe~scraper", scraper)
    crawler = make_crawler(apify_client, "janedoe~scraper")
    stats = await crawler.run(["https://a.example/1"])
    items = (await crawler.get_data()).items
    pages = 2 ** (MAX_DEPTH + 1) - 1  # two links a page
    assert len(items) == stats.requests_finished == pages
    # Each page from a run of its own; the first runs of pages ".../2" failed, and their
    # requests were retried with new runs.
    runs = (await apify_client.list_runs("janedoe~scraper")).items
    succeeded = {run.id for run in runs if run.status == "SUCCEEDED"}
    assert {item["run"] for item in items} == succeeded
    assert len(succeeded) == pages
    assert any(run.status == "FAILED" for run in runs)


def test_crawlee_example() -> None:
    # Crawlee logs each retry on stderr.
    lines = run_example("crawlee_actor_runs.py", quiet=False).splitlines()
    assert lines[-1] == "Scraped 14 pages: 14 requests finished, 0 failed after their retries"
    assert len(lines) == 15
