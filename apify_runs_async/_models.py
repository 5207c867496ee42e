"""Typed models of the API's run objects, decoded with msgspec.

Forward compatibility is the rule: responses may carry fields and enum values this version does
not know. Unknown fields are ignored, enumerations (status, origin, general access, pricing
model) are plain strings that compare equal to the constants in `_status`, and an optional field
that is absent or null becomes None. One set of types serves every caller: the client's decoder
below, and the plain msgspec calls on a run from anywhere else (a webhook's `resource`, a run
stored as JSON), `msgspec.json.decode(body, type=Run)` and `msgspec.convert(mapping, Run)`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

import msgspec

from . import _status

__all__ = [
    "ActorChargeEvent",
    "CallResult",
    "Dataset",
    "DatasetStats",
    "ItemPage",
    "Metamorph",
    "PricingInfo",
    "PricingPerEvent",
    "Record",
    "Run",
    "RunList",
    "RunMeta",
    "RunOptions",
    "RunStats",
    "RunSummary",
    "RunUsage",
    "RunUsageUsd",
    "StorageIds",
    "StoredKey",
    "TieredPrice",
]


class _Model(msgspec.Struct, kw_only=True, rename="camel", gc=False):
    """Base of every model: keyword-only, camelCase on the wire.

    `gc=False`: models are plain data that never form reference cycles, so the cyclic garbage
    collector need not scan them; with thousands of runs in memory its pauses stay short.
    """


class RunMeta(_Model):
    """Where and how the run was started."""

    origin: str  # compare with `RunOrigin` members
    client_ip: str | None = None
    user_agent: str | None = None
    schedule_id: str | None = None
    scheduled_at: datetime | None = None


class RunStats(_Model):
    """Resource statistics; all optional because the API fills them in as the run goes."""

    input_body_len: int | None = None
    migration_count: int | None = None
    reboot_count: int | None = None
    restart_count: int | None = None
    resurrect_count: int | None = None
    mem_avg_bytes: float | None = None
    mem_max_bytes: int | None = None
    mem_current_bytes: int | None = None
    cpu_avg_usage: float | None = None
    cpu_max_usage: float | None = None
    cpu_current_usage: float | None = None
    net_rx_bytes: int | None = None
    net_tx_bytes: int | None = None
    duration_millis: int | None = None
    run_time_secs: float | None = None
    metamorph: int | None = None
    compute_units: float | None = None


class RunOptions(_Model):
    """The options the run was started with."""

    build: str
    timeout_secs: int
    memory_mbytes: int
    disk_mbytes: int
    max_items: int | None = None
    max_total_charge_usd: float | None = None


class _Usage(_Model, rename="upper"):
    """Usage keys are upper case on the wire: `actor_compute_units` is `ACTOR_COMPUTE_UNITS`."""

    actor_compute_units: float | None = None
    data_transfer_internal_gbytes: float | None = None
    data_transfer_external_gbytes: float | None = None
    proxy_residential_transfer_gbytes: float | None = None


class RunUsage(_Usage):
    """Platform usage of the run, in the units of each service."""

    dataset_reads: int | None = None
    dataset_writes: int | None = None
    key_value_store_reads: int | None = None
    key_value_store_writes: int | None = None
    key_value_store_lists: int | None = None
    request_queue_reads: int | None = None
    request_queue_writes: int | None = None
    proxy_serps: int | None = None


class RunUsageUsd(_Usage):
    """Platform usage of the run, in US dollars."""

    dataset_reads: float | None = None
    dataset_writes: float | None = None
    key_value_store_reads: float | None = None
    key_value_store_writes: float | None = None
    key_value_store_lists: float | None = None
    request_queue_reads: float | None = None
    request_queue_writes: float | None = None
    proxy_serps: float | None = None


class Metamorph(_Model):
    """One metamorph of the run into another Actor."""

    created_at: datetime
    actor_id: str
    build_id: str
    input_key: str | None = None


class _StorageAliases(_Model):
    default: str | None = None


class StorageIds(_Model):
    """The run's storages by type (`default` plus any aliases)."""

    datasets: _StorageAliases | None = None
    key_value_stores: _StorageAliases | None = None
    request_queues: _StorageAliases | None = None


# --- Pricing info: one struct for every pricing model ----------------------------------------


class TieredPrice(_Model):
    """A price for one subscription tier."""

    tiered_event_price_usd: float | None = None
    tiered_price_per_unit_usd: float | None = None


class ActorChargeEvent(_Model):
    """One chargeable event of a pay-per-event Actor."""

    event_title: str
    event_description: str
    event_price_usd: float | None = None
    event_tiered_pricing_usd: dict[str, TieredPrice] | None = None
    is_primary_event: bool | None = None
    is_one_time_event: bool | None = None


class PricingPerEvent(_Model):
    """The charge events of a pay-per-event Actor, by event name."""

    actor_charge_events: dict[str, ActorChargeEvent] | None = None


class PricingInfo(_Model):
    """How the Actor charges for the run: `pricing_model` says how, and which fields apply.

    One struct for every model, rather than a union tagged on `pricingModel`: msgspec fails a
    tagged union on a tag it does not know, so a pricing model added by a newer API would fail
    the whole run. Here it decodes like the others (its own fields are ignored). Compare
    `pricing_model` with `PricingModel` members. The fields the API sends for every model are
    optional too, as a model this version does not know need not have them.
    """

    pricing_model: str
    apify_margin_percentage: float | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    notified_about_future_change_at: datetime | None = None
    notified_about_change_at: datetime | None = None
    reason_for_change: str | None = None
    is_price_change_notification_suppressed: bool | None = None
    force_contains_significant_price_change: bool | None = None
    # PAY_PER_EVENT
    pricing_per_event: PricingPerEvent | None = None
    minimal_max_total_charge_usd: float | None = None
    # PRICE_PER_DATASET_ITEM, and (the price per month) FLAT_PRICE_PER_MONTH
    price_per_unit_usd: float | None = None
    # PRICE_PER_DATASET_ITEM
    unit_name: str | None = None
    tiered_pricing: dict[str, TieredPrice] | None = None
    # FLAT_PRICE_PER_MONTH
    trial_minutes: int | None = None


# --- The run ----------------------------------------------------------------------------------


class Run(_Model):
    """An Actor run, as returned by every run endpoint (and as webhooks send it).

    >>> run.status, run.default_dataset_id
    ('SUCCEEDED', 'wmKPijuyDnPZAPRMk')
    >>> run.status == RunStatus.SUCCEEDED
    True
    """

    id: str  # checked by `_responses`, as it goes into later URLs
    act_id: str
    user_id: str
    status: str  # compare with `RunStatus` members
    started_at: datetime
    meta: RunMeta
    stats: RunStats
    options: RunOptions
    build_id: str
    default_key_value_store_id: str
    default_dataset_id: str
    default_request_queue_id: str
    actor_task_id: str | None = None
    finished_at: datetime | None = None
    status_message: str | None = None
    is_status_message_terminal: bool | None = None
    pricing_info: PricingInfo | None = None
    charged_event_counts: dict[str, int] | None = None
    build_number: str | None = None
    exit_code: int | None = None
    general_access: str | None = None  # compare with `GeneralAccess` members
    storage_ids: StorageIds | None = None
    container_url: str | None = None
    is_container_server_ready: bool | None = None
    git_branch_name: str | None = None
    usage: RunUsage | None = None
    usage_total_usd: float | None = None
    usage_usd: RunUsageUsd | None = None
    metamorphs: list[Metamorph] | None = None
    platform_usage_billing_model: str | None = None

    @property
    def is_terminal(self) -> bool:
        """Whether the run has finished: SUCCEEDED, FAILED, TIMED-OUT or ABORTED.

        A status this version does not know counts as terminal once `finished_at` is set, so a
        status added by a newer API cannot make a waiter poll forever (`is_terminal(status,
        finished_at)`, the same rule).
        """
        return _status.is_terminal(self.status, self.finished_at)


class Record(msgspec.Struct, frozen=True, gc=False):
    """A key-value store record: its key, content type and raw body."""

    key: str
    content_type: str
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON (raises `msgspec.DecodeError` if it is not JSON)."""
        try:
            return msgspec.json.decode(self.body)
        except RecursionError:  # nested thousands deep: as unreadable as any other non-JSON
            raise msgspec.DecodeError("JSON is nested too deeply") from None

    def text(self) -> str:
        """The body decoded as UTF-8 text."""
        return self.body.decode()


class CallResult(msgspec.Struct, frozen=True, gc=False):
    """A run followed to its end, with its output (the `OUTPUT` record), if it has one.

    `run` is terminal unless the wait ran out first; then `output` is None.
    """

    run: Run
    output: Record | None


# --- Datasets ---------------------------------------------------------------------------------


class DatasetStats(_Model):
    read_count: int | None = None
    write_count: int | None = None
    storage_bytes: int | None = None


class Dataset(_Model):
    """A dataset (`GET /v2/datasets/{id}`): its counts and where it came from."""

    id: str
    item_count: int
    created_at: datetime | None = None
    modified_at: datetime | None = None
    accessed_at: datetime | None = None
    name: str | None = None
    user_id: str | None = None
    clean_item_count: int | None = None
    act_id: str | None = None
    act_run_id: str | None = None
    general_access: str | None = None
    items_public_url: str | None = None
    console_url: str | None = None
    stats: DatasetStats | None = None


ItemT = TypeVar("ItemT")


class ItemPage(msgspec.Struct, Generic[ItemT], frozen=True, gc=False):
    """One page of dataset items, with the API's `X-Apify-Pagination-*` figures.

    `count` is the number of rows the page read from `offset`, not `len(items)`: filters
    (`clean`, `skip_empty`, `skip_hidden`) may drop rows and `unwind` may split them. The next
    page starts at `offset + count`. `limit` is the limit the API applied (999999999999 when
    none was asked for).
    """

    items: list[ItemT]
    total: int
    offset: int
    limit: int
    count: int
    desc: bool


# --- Response envelopes, and their decoders (built once) ---------------------------------------

T = TypeVar("T")


class DataEnvelope(msgspec.Struct, Generic[T]):
    """`{"data": ...}`, the shape of every successful JSON response."""

    data: T


class ErrorDetail(msgspec.Struct):
    type: str | None = None
    message: str | None = None


class ErrorEnvelope(msgspec.Struct):
    """`{"error": {"type": ..., "message": ...}}`, the shape of every error response."""

    error: ErrorDetail


class RunSummary(_Model):
    """A run as lists show it (the API's `RunShort`): enough to choose runs; `get` has the rest.

    >>> page = await client.list_runs("me/crawler", status=RunStatus.FAILED)
    >>> [summary.id for summary in page.items]
    """

    id: str  # checked by `_responses`, as it goes into later URLs
    started_at: datetime
    meta: RunMeta
    status: str  # compare with `RunStatus` members
    act_id: str | None = None
    user_id: str | None = None
    actor_task_id: str | None = None
    finished_at: datetime | None = None
    build_id: str | None = None
    build_number: str | None = None
    usage_total_usd: float | None = None
    default_key_value_store_id: str | None = None
    default_dataset_id: str | None = None
    default_request_queue_id: str | None = None

    @property
    def is_terminal(self) -> bool:
        """Whether the run had finished when it was listed (the rule of `Run.is_terminal`)."""
        return _status.is_terminal(self.status, self.finished_at)


class RunList(_Model):
    """One page of a run list: `items` from `offset`, of `total` runs that match."""

    items: list[RunSummary]
    total: int
    offset: int
    count: int
    desc: bool
    limit: int | None = None


class StoredKey(_Model):
    """A key of a key-value store, with the size of its record in bytes."""

    key: str
    size: int | None = None
    record_public_url: str | None = None


class KeyList(_Model):
    """One page of a key-value store's keys, in key order."""

    items: list[StoredKey]
    is_truncated: bool = False
    next_exclusive_start_key: str | None = None


run_response_decoder = msgspec.json.Decoder(DataEnvelope[Run])
run_list_decoder = msgspec.json.Decoder(DataEnvelope[RunList])
error_response_decoder = msgspec.json.Decoder(ErrorEnvelope)
key_list_decoder = msgspec.json.Decoder(DataEnvelope[KeyList])
dataset_response_decoder = msgspec.json.Decoder(DataEnvelope[Dataset])
