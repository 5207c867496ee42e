"""A small crawler: one Actor run per batch of URLs, results consumed as runs finish.

URLs are discovered while the crawl goes on (each page links to more), so new batches are added
to `call_many` as results come in, and at most `CONCURRENCY` runs go at once.

Runs against an in-process Apify emulator with a stand-in crawler Actor, unless APIFY_TOKEN is
set: then against the real API with the Actor named by $CRAWLER_ACTOR, which must take
`{"urls": [...]}` and push `{"url": ..., "title": ..., "links": [...]}` to its dataset, one
item per page. The items are read as typed `Page` Structs.

    python examples/crawler.py
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from apify_runs_async import ApifyRuns, RunStatus
from apify_runs_async.emulator import ActorContext, ApifyEmulator

SEEDS = [f"https://shop.example/category/{n}" for n in range(1, 5)]
BATCH_SIZE = 3
CONCURRENCY = 4
MAX_PAGES = 40


class Page(msgspec.Struct):
    """A dataset item of the crawler Actor; fields it has beyond these are ignored."""

    url: str
    title: str
    links: list[str] = []


async def page_titles(ctx: ActorContext) -> None:
    """The stand-in crawler Actor: "fetches" each URL and reports its title and links."""
    urls = ctx.input["urls"] if isinstance(ctx.input, dict) else []
    for done, url in enumerate(urls, 1):
        if await ctx.sleep(0.2):  # aborted or timing out
            return
        ctx.set_status_message(f"Crawled {done} of {len(urls)} pages")
        ctx.push_data(
            {
                "url": url,
                "title": f"Page {url.rsplit('/', 1)[-1]}",
                "links": [f"{url}/{n}" for n in range(2)],
            }
        )


@contextlib.asynccontextmanager
async def connect() -> AsyncIterator[tuple[ApifyRuns, str]]:
    """A client and the crawler Actor: the real API if APIFY_TOKEN is set."""
    if os.environ.get("APIFY_TOKEN"):
        async with ApifyRuns() as client:
            yield client, os.environ["CRAWLER_ACTOR"]
        return
    async with (
        ApifyEmulator(actors={"example~page-titles": page_titles}) as emulator,
        ApifyRuns(emulator.token, base_url=emulator.base_url) as client,
    ):
        yield client, "example~page-titles"


def batches(urls: list[str]) -> list[dict[str, Any]]:
    return [{"urls": urls[i : i + BATCH_SIZE]} for i in range(0, len(urls), BATCH_SIZE)]


async def crawl() -> None:
    seen = set(SEEDS)
    async with (
        connect() as (client, actor),
        client.call_many(actor, batches(SEEDS), concurrency=CONCURRENCY) as results,
    ):
        async for index, result in results:
            pages = [page async for page in client.iterate_items(result.run, item_type=Page)]
            print(f"batch {index}: {result.run.status}, {len(pages)} pages")
            if result.run.status != RunStatus.SUCCEEDED:
                continue
            found = []
            for page in pages:
                print(f"    {page.title:<12} {page.url}")
                for link in page.links:
                    if link not in seen and len(seen) < MAX_PAGES:
                        seen.add(link)
                        found.append(link)
            for batch in batches(found):
                results.add(batch)  # more work while the crawl goes on
    print(f"Crawled {len(seen)} pages.")


if __name__ == "__main__":
    asyncio.run(crawl())
