"""Crawlee for Python schedules the crawl; each page's work is an Actor run.

A `BasicCrawler` fetches nothing by itself: its request handler hands each URL to a scraper
Actor through one `ApifyRuns` shared by every handler, saves the run's items with Crawlee's
`push_data`, and enqueues the links they list. Crawlee keeps the queue, the retries and the
concurrency (at most `CONCURRENCY` runs at once); the client keeps the runs: a run that fails
raises `RunFailedError` in the handler, so Crawlee retries the request, with a new run; a
handler that is cancelled (its timeout, Ctrl-C) aborts its run on the way out.

Runs against an in-process Apify emulator with a stand-in scraper Actor, unless APIFY_TOKEN is
set: then against the real API with the Actor named by $SCRAPER_ACTOR, which must take
`{"url": ...}` and push `{"url": ..., "title": ..., "links": [...]}` for the page. The URLs are
never fetched here: the stand-in makes up their pages.

    pip install crawlee
    python examples/crawlee_actor_runs.py
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import msgspec
from crawlee import ConcurrencySettings
from crawlee.crawlers import BasicCrawler, BasicCrawlingContext
from crawlee.storage_clients import MemoryStorageClient

from apify_runs_async import ApifyRuns
from apify_runs_async.emulator import ActorContext, ApifyEmulator

START_URLS = ["https://shop.example/category/1", "https://shop.example/category/2"]
CONCURRENCY = 4
MAX_DEPTH = 2
"""Links of links, no deeper: each page has two, so 2 + 4 + 8 pages in all."""


class Page(msgspec.Struct):
    """A dataset item of the scraper Actor; fields beyond these are ignored."""

    url: str
    title: str
    links: list[str] = []


_failed_once: set[str] = set()


async def scraper(ctx: ActorContext) -> None:
    """The stand-in scraper Actor: makes up a page with two links; fails once on some URLs."""
    url: str = ctx.input["url"]
    ctx.set_status_message(f"Scraping {url}")
    if await ctx.sleep(0.1):  # aborted
        return
    if url.endswith("/2") and url not in _failed_once:
        _failed_once.add(url)
        raise RuntimeError(f"{url}: the page did not load")
    links = [f"{url}/{n}" for n in (1, 2)]
    ctx.push_data({"url": url, "title": f"Page {url.removeprefix('https://')}", "links": links})


@contextlib.asynccontextmanager
async def connect() -> AsyncIterator[tuple[ApifyRuns, str]]:
    """A client and the scraper Actor: the real API if APIFY_TOKEN is set."""
    if os.environ.get("APIFY_TOKEN"):
        async with ApifyRuns() as client:
            yield client, os.environ["SCRAPER_ACTOR"]
        return
    async with (
        ApifyEmulator(actors={"example~scraper": scraper}) as emulator,
        ApifyRuns(emulator.token, base_url=emulator.base_url) as client,
    ):
        yield client, "example~scraper"


def make_crawler(client: ApifyRuns, actor: str) -> BasicCrawler[BasicCrawlingContext]:
    crawler = BasicCrawler[BasicCrawlingContext](
        # The queue and the results in memory: nothing written to ./storage.
        storage_client=MemoryStorageClient(),
        concurrency_settings=ConcurrencySettings(
            max_concurrency=CONCURRENCY, desired_concurrency=CONCURRENCY
        ),
        max_crawl_depth=MAX_DEPTH,
        max_request_retries=2,
        configure_logging=False,
    )

    async def scrape(context: BasicCrawlingContext) -> None:
        # One run per page; raise_on_failure: a failed run fails the request, Crawlee retries.
        result = await client.call(actor, {"url": context.request.url}, raise_on_failure=True)
        async for page in client.iterate_items(result.run, item_type=Page):
            await context.push_data({"url": page.url, "title": page.title, "run": result.run.id})
            await context.add_requests(page.links)

    crawler.router.default_handler(scrape)
    return crawler


async def main() -> None:
    async with connect() as (client, actor):
        crawler = make_crawler(client, actor)
        stats = await crawler.run(START_URLS)
        data = await crawler.get_data()
    for item in sorted(data.items, key=lambda item: str(item["url"])):
        print(f"{item['title']:<36} run {item['run']}")
    print(
        f"Scraped {len(data.items)} pages: {stats.requests_finished} requests finished,"
        f" {stats.requests_failed} failed after their retries"
    )


if __name__ == "__main__":
    asyncio.run(main())
