"""Memory of a client process holding 10,000 decoded runs: ours and apify_client's.

The body of each run is the docs' example of a start-run response (see decode.py), made
distinct per run: its id, storage ids, container URL, times, status and message, and a few
numbers vary, so no two runs could share a string. The parent process writes the bodies to a
temporary file; each client is then measured in a fresh process of its own (this script run
again with `--measure ours` or `--measure official`), so that neither's imports nor its freed
memory count against the other. In that process:

1. import the client (the RSS then is reported too);
2. read the bodies, decode 200 as a warm-up and drop them, `gc.collect()`, and take the RSS
   (psutil);
3. decode every body the way the client does with each response, keeping the runs:
   ours `run_response_decoder.decode(body).data` (what `_responses.run` returns), apify_client's
   `RunResponse.model_validate(json.loads(body)).data` (its `_resource_clients/run.py`);
4. `gc.collect()` and take the RSS again. The growth is what holding the runs costs, together
   with whatever the decoding left behind (freed but not returned to the system).

The bodies stay alive through both readings of step 2 and 4, so their memory is in both and out
of the difference whatever the allocator does with freed blocks: freeing 10,000 blocks of 3 KB
between the readings would hand back a share of them that depends on fragmentation, not on the
client. That the runs do not hold on to their bodies is checked instead: after step 4 each body
must have no referrer other than the list of bodies.

Cross-check: the runs are dropped, `tracemalloc` is started, and every body is decoded again
into a list made beforehand; the traced bytes still allocated, over the number of runs, are the
bytes per run as Python's allocator sees them (no fragmentation, no allocator overhead).

    nox -s bench                       # or: python benchmarks/memory.py --runs 10000
"""

from __future__ import annotations

import argparse
import copy
import gc
import importlib
import json
import random
import string
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from common import machine, print_targets, save, table

WARM_UP_RUNS = 200
STATUSES = ("SUCCEEDED", "FAILED", "RUNNING", "TIMED-OUT", "ABORTED", "READY")
TARGET_RATIO = 3.0  # ours holds runs in at least 3x less memory


def random_id(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits, k=17))


def distinct_bodies(count: int, seed: int) -> list[bytes]:
    """`count` start-run bodies, the docs' example with the fields that differ per run varied."""
    # Imported here, in the parent only: decode.py imports our client, which must not be in
    # the process that measures apify_client.
    from decode import docs_example, load_spec

    template = docs_example(load_spec())
    rng = random.Random(seed)
    epoch = datetime(2025, 1, 1, tzinfo=UTC)
    bodies = []
    for n in range(count):
        example = copy.deepcopy(template)
        run = example["data"]
        run["id"] = random_id(rng)
        started = epoch + timedelta(seconds=n, milliseconds=rng.randrange(1000))
        duration = timedelta(milliseconds=rng.randrange(1_000, 600_000))
        run["startedAt"] = started.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        finished = started + duration
        run["finishedAt"] = finished.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        run["status"] = STATUSES[n % len(STATUSES)]
        run["statusMessage"] = f"Crawled {rng.randrange(10_000)} of {rng.randrange(10_000)} pages"
        for key, storage in (
            ("defaultKeyValueStoreId", "keyValueStores"),
            ("defaultDatasetId", "datasets"),
            ("defaultRequestQueueId", "requestQueues"),
        ):
            run[key] = random_id(rng)
            run["storageIds"][storage]["default"] = run[key]
        run["containerUrl"] = f"https://{random_id(rng).lower()}.runs.apify.net"
        run["meta"]["clientIp"] = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{n % 256}"
        run["stats"]["durationMillis"] = duration // timedelta(milliseconds=1)
        run["stats"]["runTimeSecs"] = duration.total_seconds()
        run["stats"]["computeUnits"] = round(rng.random(), 5)
        run["stats"]["memAvgBytes"] = rng.random() * 1e9
        run["usageTotalUsd"] = round(rng.random(), 4)
        bodies.append(json.dumps(example, separators=(",", ":")).encode())
    return bodies


def decoder_for(client: str) -> tuple[Callable[[bytes], Any], Callable[[Any], str]]:
    """How `client` turns a response body into a run, and how to read the run's id back."""
    if client == "ours":
        models = importlib.import_module("apify_runs_async._models")
        decoder: Any = models.run_response_decoder
        return (lambda body: decoder.decode(body).data), (lambda run: run.id)
    official: Any = importlib.import_module("apify_client._models")
    run_response = official.RunResponse
    return (lambda body: run_response.model_validate(json.loads(body)).data), (lambda run: run.id)


def measure(client: str, bodies_path: Path) -> dict[str, Any]:
    """The figures for one client, in this (fresh) process: see the module's docstring."""
    me = psutil.Process()
    decode, run_id = decoder_for(client)
    rss_after_imports = me.memory_info().rss
    bodies = bodies_path.read_bytes().split(b"\n")
    warm_up = [decode(body) for body in bodies[:WARM_UP_RUNS]]
    del warm_up
    gc.collect()
    rss_before = me.memory_info().rss
    runs = [decode(body) for body in bodies]
    gc.collect()
    rss_holding = me.memory_info().rss
    assert [run_id(run) for run in runs[:3]] == [json.loads(b)["data"]["id"] for b in bodies[:3]]
    # A body nothing decoded: referred to by its list, the loop's name and getrefcount's argument.
    control = [bytes(bytearray(bodies[0]))]
    alone = next(sys.getrefcount(body) for body in control)
    bodies_kept_alive = sum(1 for body in bodies if sys.getrefcount(body) > alone)

    del runs
    gc.collect()
    traced_runs: list[Any] = [None] * len(bodies)
    tracemalloc.start()
    for index, body in enumerate(bodies):
        traced_runs[index] = decode(body)
    gc.collect()
    traced_bytes, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    count = len(bodies)
    return {
        "runs": count,
        "rss_after_imports_mb": round(rss_after_imports / 2**20, 1),
        "rss_before_mb": round(rss_before / 2**20, 1),
        "rss_holding_runs_mb": round(rss_holding / 2**20, 1),
        "rss_growth_mb": round((rss_holding - rss_before) / 2**20, 1),
        "rss_growth_kb_per_run": round((rss_holding - rss_before) / 1024 / count, 2),
        "traced_kb_per_run": round(traced_bytes / 1024 / count, 2),
        "bodies_kept_alive_by_runs": bodies_kept_alive,
    }


def run_measurement(client: str, bodies_path: Path) -> dict[str, Any]:
    """`measure(client)` in a fresh Python process: this script with `--measure`."""
    done = subprocess.run(
        [sys.executable, __file__, "--measure", client, "--bodies", str(bodies_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"measuring {client} failed:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--name", default="memory", help="results file name (no suffix)")
    parser.add_argument("--measure", choices=("ours", "official"), help=argparse.SUPPRESS)
    parser.add_argument("--bodies", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.measure:  # the child process: print the figures as one line of JSON
        print(json.dumps(measure(args.measure, args.bodies)))
        return

    bodies = distinct_bodies(args.runs, args.seed)
    average = sum(map(len, bodies)) / len(bodies)
    print(f"{len(bodies):,} distinct bodies, {average:,.0f} bytes each on average")
    with tempfile.TemporaryDirectory() as directory:
        bodies_path = Path(directory) / "bodies.jsonl"
        bodies_path.write_bytes(b"\n".join(bodies))
        del bodies
        figures = {client: run_measurement(client, bodies_path) for client in ("ours", "official")}

    ours, official = figures["ours"], figures["official"]
    result: dict[str, Any] = {
        "runs": args.runs,
        "ours": ours,
        "official": official,
        "rss_ratio_official_over_ours": round(
            official["rss_growth_kb_per_run"] / ours["rss_growth_kb_per_run"], 2
        ),
        "traced_ratio_official_over_ours": round(
            official["traced_kb_per_run"] / ours["traced_kb_per_run"], 2
        ),
        "machine": machine(),
    }
    result["targets"] = {
        f"at least {TARGET_RATIO:g}x less memory for {args.runs:,} runs (RSS)": (
            result["rss_ratio_official_over_ours"] >= TARGET_RATIO
        ),
        "no run keeps its response body alive": (
            ours["bodies_kept_alive_by_runs"] == official["bodies_kept_alive_by_runs"] == 0
        ),
    }

    save(args.name, result)
    rows = [
        [
            name,
            f["rss_growth_mb"],
            f["rss_growth_kb_per_run"],
            f["traced_kb_per_run"],
            f["rss_after_imports_mb"],
        ]
        for name, f in (("ours (msgspec Run)", ours), ("apify_client (pydantic Run)", official))
    ]
    header = [
        f"holding {args.runs:,} runs",
        "RSS growth MB",
        "RSS KB per run",
        "traced KB per run",
        "RSS after imports MB",
    ]
    print()
    print(table(rows, header))
    print()
    for key in ("rss_ratio_official_over_ours", "traced_ratio_official_over_ours", "machine"):
        print(f"{key}: {result[key]}")
    print()
    print_targets(result["targets"])


if __name__ == "__main__":
    main()
