"""Read every item of a large dataset: ours into plain JSON values, ours into a msgspec Struct,
and apify-client's `iterate_items`, side by side.

The emulator runs in a process of its own, with two runs of `emulator~scripted` whose default
datasets hold generated items of about 200 bytes: ITEMS (1,000,000) and ITEMS / 10. Each
reader runs in a fresh worker process (`--worker`), so that its CPU time and its peak RSS are
its own: CPU µs per item (user + system, of the worker), items/s, and the growth of the peak
RSS from before the first request to the end. The small dataset shows whether memory stays
flat as the dataset grows.

    python benchmarks/dataset_items.py [--items 1000000]      # or: nox -s bench
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import subprocess
import sys
import time
from typing import Any

import anyio
import msgspec
from common import machine, print_targets, save, table

from apify_runs_async import ApifyRuns
from apify_runs_async.emulator import emulator_process

READERS = ("ours, plain", "ours, Struct", "apify-client")


class Item(msgspec.Struct):
    """What `generateItems` makes."""

    index: int
    seed: int
    payload: str


def _rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


def _cpu_secs() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def read_all(reader: str, base_url: str, token: str, run_id: str) -> dict[str, Any]:
    """In a worker: read every item of the run's dataset, and the figures of that."""
    count = 0
    if reader == "apify-client":
        apify_client: Any = importlib.import_module("apify_client")
        client = apify_client.ApifyClientAsync(token, api_url=base_url)
        dataset = client.run(run_id).dataset()
        rss_before, cpu_before, started = _rss_bytes(), _cpu_secs(), time.perf_counter()
        async for item in dataset.iterate_items():
            count += item["index"] >= 0
    else:
        item_type: Any = Item if reader == "ours, Struct" else Any
        async with ApifyRuns(token, base_url=base_url, rate_limits=None) as ours:
            rss_before, cpu_before, started = _rss_bytes(), _cpu_secs(), time.perf_counter()
            async for item in ours.iterate_items(run_id, item_type=item_type):
                count += (item.index if isinstance(item, Item) else item["index"]) >= 0
    secs = time.perf_counter() - started
    return {
        "items": count,
        "secs": secs,
        "cpu_us_per_item": (_cpu_secs() - cpu_before) / count * 1e6,
        "rss_growth_mb": (_rss_bytes() - rss_before) / 2**20,
    }


def run_worker(reader: str, base_url: str, token: str, run_id: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", reader, base_url, token, run_id],
        capture_output=True,
        check=True,
        text=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


async def make_runs(base_url: str, token: str, sizes: list[int]) -> dict[int, str]:
    async with ApifyRuns(token, base_url=base_url, rate_limits=None) as client:
        runs = {}
        for size in sizes:
            generate = {"count": size, "bytes": 200, "seed": 1}
            result = await client.call("emulator~scripted", {"generateItems": generate})
            runs[size] = result.run.id
        return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--name", default="dataset_items")
    parser.add_argument("--worker", nargs=4, metavar=("READER", "BASE_URL", "TOKEN", "RUN_ID"))
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(anyio.run(read_all, *args.worker)))
        return
    sizes = [args.items // 10, args.items]
    with emulator_process("--no-rate-limits") as emulator:
        runs = anyio.run(make_runs, emulator.base_url, emulator.token, sizes)
        cells = {
            (reader, size): run_worker(reader, emulator.base_url, emulator.token, runs[size])
            for size in sizes
            for reader in READERS
        }
    rows = []
    for (reader, size), cell in cells.items():
        assert cell["items"] == size, (reader, size, cell["items"])
        rate = size / cell["secs"]
        rows.append(
            [
                reader,
                f"{size:,}",
                f"{rate:,.0f}",
                f"{cell['cpu_us_per_item']:.2f}",
                f"{cell['rss_growth_mb']:.1f}",
            ]
        )
    print(table(rows, ["reader", "items", "items/s", "client CPU µs/item", "RSS growth MB"]))
    big = args.items
    official = cells["apify-client", big]
    plain, typed = cells["ours, plain", big], cells["ours, Struct", big]
    figures = {
        "machine": machine(),
        "cells": {f"{reader} @ {size}": cell for (reader, size), cell in cells.items()},
        "cpu_ratio_struct": official["cpu_us_per_item"] / typed["cpu_us_per_item"],
        "cpu_ratio_plain": official["cpu_us_per_item"] / plain["cpu_us_per_item"],
        "rate_ratio_plain": official["secs"] / plain["secs"],
        "rate_ratio_struct": official["secs"] / typed["secs"],
    }
    print(json.dumps({k: v for k, v in figures.items() if k != "cells"}, indent=1))
    print_targets(
        {
            "client CPU per item >= 5x lower than apify-client, into a Struct": figures[
                "cpu_ratio_struct"
            ]
            >= 5,
            "client CPU per item >= 2.5x lower, plain values": figures["cpu_ratio_plain"] >= 2.5,
            "items/s >= 3x apify-client's": min(
                figures["rate_ratio_plain"], figures["rate_ratio_struct"]
            )
            >= 3,
            "RSS growth under 64 MB for the big dataset": max(
                plain["rss_growth_mb"], typed["rss_growth_mb"]
            )
            < 64,
        }
    )
    print(f"written to {save(args.name, figures)}")


if __name__ == "__main__":
    main()
