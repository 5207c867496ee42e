"""Runs as the API shows them: `Run`, `RunShort` and `ListOfRuns` of the official spec."""

from __future__ import annotations

import itertools
import math
from typing import Any

import msgspec

from .._status import RunStatus
from ._actors import PayPerEvent
from ._params import Page
from ._runs import Run, RunList
from ._time import format_time

# Prices of the free plan, in USD.
_USD_PER_COMPUTE_UNIT = 0.4
_USD_PER_KVS_READ = 0.000005
_USD_PER_KVS_WRITE = 0.00005
_USD_PER_KVS_LIST = 0.00005
_MIB = 1024 * 1024
_APIFY_MARGIN = 0.2
"""The share of a pay-per-event price that goes to Apify."""

USAGE_SAMPLE_SECS = 0.1
"""A live run's figures that grow with time (duration, compute units, costs) are measured
again once it has been alive this much longer; in between, its cached body is served."""


def _compute_units(run: Run) -> float:
    """Memory in GB times hours: the platform's measure of what a run used."""
    return run.options.memory_mbytes / 1024 * run.alive_secs() / 3600


def _usage(run: Run) -> tuple[dict[str, Any], dict[str, Any], float]:
    """`usage`, `usageUsd` and `usageTotalUsd`."""
    counts: dict[str, Any] = {
        "ACTOR_COMPUTE_UNITS": round(_compute_units(run), 6),
        "DATASET_READS": 0,
        "DATASET_WRITES": 0,
        "KEY_VALUE_STORE_READS": run.store.reads,
        "KEY_VALUE_STORE_WRITES": run.store.writes,
        "KEY_VALUE_STORE_LISTS": run.store.lists,
        "REQUEST_QUEUE_READS": 0,
        "REQUEST_QUEUE_WRITES": 0,
        "DATA_TRANSFER_INTERNAL_GBYTES": 0.0,
        "DATA_TRANSFER_EXTERNAL_GBYTES": 0.0,
        "PROXY_RESIDENTIAL_TRANSFER_GBYTES": 0.0,
        "PROXY_SERPS": 0,
    }
    usd: dict[str, Any] = dict.fromkeys(counts, 0.0)
    usd["ACTOR_COMPUTE_UNITS"] = round(_compute_units(run) * _USD_PER_COMPUTE_UNIT, 8)
    usd["KEY_VALUE_STORE_READS"] = round(run.store.reads * _USD_PER_KVS_READ, 8)
    usd["KEY_VALUE_STORE_WRITES"] = round(run.store.writes * _USD_PER_KVS_WRITE, 8)
    usd["KEY_VALUE_STORE_LISTS"] = round(run.store.lists * _USD_PER_KVS_LIST, 8)
    return counts, usd, round(sum(usd.values()), 8)


def _stats(run: Run) -> dict[str, Any]:
    seconds = run.alive_secs()
    memory_bytes = run.options.memory_mbytes * _MIB
    busy = not run.status.is_terminal and run.status is not RunStatus.READY
    used = seconds > 0 and run.status is not RunStatus.READY
    return {
        "inputBodyLen": run.input_body_len or 0,
        "migrationCount": 0,
        "rebootCount": run.reboot_count,
        "restartCount": run.restart_count,
        "resurrectCount": run.resurrect_count,
        "memAvgBytes": memory_bytes * 0.3 if used else 0.0,
        "memMaxBytes": int(memory_bytes * 0.45) if used else 0,
        "memCurrentBytes": int(memory_bytes * 0.35) if busy else 0,
        "cpuAvgUsage": 25.0 if used else 0.0,
        "cpuMaxUsage": 80.0 if used else 0.0,
        "cpuCurrentUsage": 20.0 if busy else 0.0,
        "netRxBytes": 0,
        "netTxBytes": 0,
        "durationMillis": int(seconds * 1000),
        "runTimeSecs": round(seconds, 3),
        "metamorph": len(run.metamorphs),
        "computeUnits": round(_compute_units(run), 6),
    }


def _options(run: Run) -> dict[str, Any]:
    options = run.options
    shown: dict[str, Any] = {
        "build": options.build,
        "timeoutSecs": math.ceil(options.timeout_secs),
        "memoryMbytes": options.memory_mbytes,
        "diskMbytes": 2 * options.memory_mbytes,
    }
    if options.max_items is not None:
        shown["maxItems"] = options.max_items
    if options.max_total_charge_usd is not None:
        shown["maxTotalChargeUsd"] = options.max_total_charge_usd
    return shown


def _meta(run: Run) -> dict[str, Any]:
    return {
        "origin": run.meta.origin,
        "clientIp": run.meta.client_ip,
        "userAgent": run.meta.user_agent,
    }


def _pricing_info(pricing: PayPerEvent) -> dict[str, Any]:
    """A `PayPerEventActorPricingInfo`."""
    since = format_time(pricing.since)
    return {
        "pricingModel": "PAY_PER_EVENT",
        "pricingPerEvent": {
            "actorChargeEvents": {
                name: {"eventTitle": name, "eventDescription": name, "eventPriceUsd": price}
                for name, price in pricing.events.items()
            }
        },
        "apifyMarginPercentage": _APIFY_MARGIN,
        "createdAt": since,
        "startedAt": since,
        "minimalMaxTotalChargeUsd": None,
    }


def _finished_at(run: Run) -> str | None:
    return None if run.finished_at is None else format_time(run.finished_at)


def run_data(run: Run, *, with_costs: bool = True) -> dict[str, Any]:
    """A `Run`; without `usageUsd` and `usageTotalUsd` for anonymous readers."""
    usage, usage_usd, usage_total_usd = _usage(run)
    data: dict[str, Any] = {
        "id": run.id,
        "actId": run.actor.id,
        "userId": run.user_id,
        "actorTaskId": None if run.task is None else run.task.id,
        "startedAt": format_time(run.started_at),
        "finishedAt": _finished_at(run),
        "status": run.status.value,
        "statusMessage": run.status_message,
        "isStatusMessageTerminal": run.is_status_message_terminal,
        "meta": _meta(run),
        "stats": _stats(run),
        "options": _options(run),
        "buildId": run.build.id,
        "buildNumber": run.build.number,
        "exitCode": run.exit_code,
        "generalAccess": run.general_access.value,
        "defaultKeyValueStoreId": run.store.id,
        "defaultDatasetId": run.dataset_id,
        "defaultRequestQueueId": run.request_queue_id,
        "storageIds": {
            "datasets": {"default": run.dataset_id},
            "keyValueStores": {"default": run.store.id},
            "requestQueues": {"default": run.request_queue_id},
        },
        "containerUrl": run.container_url,
        "isContainerServerReady": False,
        "usage": usage,
        "metamorphs": [
            {
                "createdAt": format_time(event.created_at),
                "actorId": event.actor_id,
                "buildId": event.build_id,
                "inputKey": event.input_key,
            }
            for event in run.metamorphs
        ],
        "platformUsageBillingModel": "USER",
        "chargedEventCounts": dict(run.charged_event_counts),
    }
    if run.actor.pay_per_event is not None:
        data["pricingInfo"] = _pricing_info(run.actor.pay_per_event)
    if with_costs:
        data["usageTotalUsd"] = usage_total_usd
        data["usageUsd"] = usage_usd
    return data


def run_body(run: Run, *, with_costs: bool) -> bytes:
    """The encoded `{"data": run}`, as GET and every operation on a run answer it.

    Shaping and encoding a run is about a third of what a GET costs the emulator, and most
    GETs are of runs that have not changed since the last one, so the body is kept on the run
    and encoded again only when what it shows has changed: an attribute of the run (any
    assignment drops the kept body), the reads, writes and lists of its store, the time it has
    been alive (in steps of `USAGE_SAMPLE_SECS`), or whether the costs are shown.
    """
    store = run.store
    key = (
        with_costs,
        store.reads,
        store.writes,
        store.lists,
        int(run.alive_secs() / USAGE_SAMPLE_SECS),
    )
    body = run.cached_body(key)
    if body is None:
        body = msgspec.json.encode({"data": run_data(run, with_costs=with_costs)})
        run.cache_body(key, body)
    return body


def run_short(run: Run) -> dict[str, Any]:
    """A `RunShort`, as list endpoints show runs."""
    return {
        "id": run.id,
        "actId": run.actor.id,
        "userId": run.user_id,
        "actorTaskId": None if run.task is None else run.task.id,
        "status": run.status.value,
        "startedAt": format_time(run.started_at),
        "finishedAt": _finished_at(run),
        "buildId": run.build.id,
        "buildNumber": run.build.number,
        "meta": _meta(run),
        "usageTotalUsd": _usage(run)[2],
        "defaultKeyValueStoreId": run.store.id,
        "defaultDatasetId": run.dataset_id,
        "defaultRequestQueueId": run.request_queue_id,
    }


def runs_page(runs: RunList, page: Page) -> dict[str, Any]:
    """A `ListOfRuns` page of `runs` (given in start order)."""
    ordered = reversed(runs) if page.desc else iter(runs)
    items = [
        run_short(run) for run in itertools.islice(ordered, page.offset, page.offset + page.limit)
    ]
    return {
        "total": len(runs),
        "offset": page.offset,
        "limit": page.limit,
        "desc": page.desc,
        "count": len(items),
        "items": items,
    }
