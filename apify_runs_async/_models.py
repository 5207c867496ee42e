"""Typed models of the API's run objects, decoded with msgspec.

Forward compatibility is the rule: responses may carry fields and enum values this version does
not know. Unknown fields are ignored, unknown enum values stay plain strings, and an optional
field that is absent or null becomes None.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec

from ._status import GeneralAccess, RunOrigin, RunStatus

if TYPE_CHECKING:
    StatusField = RunStatus | str
    OriginField = RunOrigin | str
    AccessField = GeneralAccess | str
else:
    # Runs are decoded in two tiers (see `TwoTierDecoder`). msgspec decodes enums natively, but
    # not a union of an Enum and str: the fast tier takes the enums' values only, and a value
    # this version does not know sends the body to the lenient twins below, which keep it as a
    # plain str. Type checkers see what either tier gives.
    StatusField = RunStatus
    OriginField = RunOrigin
    AccessField = GeneralAccess

__all__ = [
    "ActorChargeEvent",
    "CallResult",
    "FlatPricePerMonthPricingInfo",
    "FreePricingInfo",
    "Metamorph",
    "PayPerEventPricingInfo",
    "PricePerDatasetItemPricingInfo",
    "PricingInfo",
    "PricingPerEvent",
    "Record",
    "Run",
    "RunMeta",
    "RunOptions",
    "RunStats",
    "RunUsage",
    "RunUsageUsd",
    "StorageIds",
    "TieredPrice",
    "UnknownPricingInfo",
]


class _Model(msgspec.Struct, kw_only=True, rename="camel", gc=False):
    """Base of every model: keyword-only, camelCase on the wire.

    `gc=False`: models are plain data that never form reference cycles, so the cyclic garbage
    collector need not scan them; with thousands of runs in memory its pauses stay short.
    """


def _open_enum(value: str, members: dict[str, Any]) -> Any:
    return members.get(value, value)


_STATUSES: dict[str, RunStatus] = {m.value: m for m in RunStatus}
_ORIGINS: dict[str, RunOrigin] = {m.value: m for m in RunOrigin}
_ACCESS: dict[str, GeneralAccess] = {m.value: m for m in GeneralAccess}


class RunMeta(_Model):
    """Where and how the run was started."""

    origin: OriginField
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


class _Usage(_Model, rename=None):
    """Usage keys are upper case on the wire (`ACTOR_COMPUTE_UNITS`), hence no renaming."""

    ACTOR_COMPUTE_UNITS: float | None = None
    DATA_TRANSFER_INTERNAL_GBYTES: float | None = None
    DATA_TRANSFER_EXTERNAL_GBYTES: float | None = None
    PROXY_RESIDENTIAL_TRANSFER_GBYTES: float | None = None


class RunUsage(_Usage):
    """Platform usage of the run, in the units of each service."""

    DATASET_READS: int | None = None
    DATASET_WRITES: int | None = None
    KEY_VALUE_STORE_READS: int | None = None
    KEY_VALUE_STORE_WRITES: int | None = None
    KEY_VALUE_STORE_LISTS: int | None = None
    REQUEST_QUEUE_READS: int | None = None
    REQUEST_QUEUE_WRITES: int | None = None
    PROXY_SERPS: int | None = None


class RunUsageUsd(_Usage):
    """Platform usage of the run, in US dollars."""

    DATASET_READS: float | None = None
    DATASET_WRITES: float | None = None
    KEY_VALUE_STORE_READS: float | None = None
    KEY_VALUE_STORE_WRITES: float | None = None
    KEY_VALUE_STORE_LISTS: float | None = None
    REQUEST_QUEUE_READS: float | None = None
    REQUEST_QUEUE_WRITES: float | None = None
    PROXY_SERPS: float | None = None


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


# --- Pricing info: a union tagged on `pricingModel` -------------------------------------------


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


class _PricingInfo(_Model, tag_field="pricingModel"):
    apify_margin_percentage: float
    created_at: datetime
    started_at: datetime
    notified_about_future_change_at: datetime | None = None
    notified_about_change_at: datetime | None = None
    reason_for_change: str | None = None
    is_price_change_notification_suppressed: bool | None = None
    force_contains_significant_price_change: bool | None = None


class PayPerEventPricingInfo(_PricingInfo, tag="PAY_PER_EVENT"):
    """The Actor charges per event."""

    pricing_per_event: PricingPerEvent | None = None
    minimal_max_total_charge_usd: float | None = None


class PricePerDatasetItemPricingInfo(_PricingInfo, tag="PRICE_PER_DATASET_ITEM"):
    """The Actor charges per result stored in the dataset."""

    unit_name: str | None = None
    price_per_unit_usd: float | None = None
    tiered_pricing: dict[str, TieredPrice] | None = None


class FlatPricePerMonthPricingInfo(_PricingInfo, tag="FLAT_PRICE_PER_MONTH"):
    """The Actor is rented for a monthly price."""

    trial_minutes: int | None = None
    price_per_unit_usd: float | None = None


class FreePricingInfo(_PricingInfo, tag="FREE"):
    """The Actor is free."""


class UnknownPricingInfo(_Model):
    """A pricing model this version does not know; `data` holds the raw object."""

    pricing_model: str
    data: dict[str, Any]


_KnownPricingInfo = (
    PayPerEventPricingInfo
    | PricePerDatasetItemPricingInfo
    | FlatPricePerMonthPricingInfo
    | FreePricingInfo
)
PricingInfo = _KnownPricingInfo | UnknownPricingInfo

_KNOWN_PRICING_MODELS = frozenset(
    cls.__struct_config__.tag
    for cls in (
        PayPerEventPricingInfo,
        PricePerDatasetItemPricingInfo,
        FlatPricePerMonthPricingInfo,
        FreePricingInfo,
    )
)
_pricing_decoder = msgspec.json.Decoder(_KnownPricingInfo)
_raw_object_decoder = msgspec.json.Decoder(dict[str, Any])


def _decode_pricing_info(raw: msgspec.Raw) -> PricingInfo | None:
    if len(raw) == 4 and bytes(raw) == b"null":  # a Raw never equals bytes itself
        return None
    try:
        known: _KnownPricingInfo = _pricing_decoder.decode(raw)
        return known
    except msgspec.ValidationError:
        data = _raw_object_decoder.decode(raw)
        model = data.get("pricingModel")
        if not isinstance(model, str) or model in _KNOWN_PRICING_MODELS:
            raise  # a known model with bad fields is an error, not something new
        return UnknownPricingInfo(pricing_model=model, data=data)


if TYPE_CHECKING:
    OptionalPricingInfo = PricingInfo | None
else:
    # The fast tier knows the tagged union of known models; the lenient one keeps it raw and
    # makes a model this version does not know an `UnknownPricingInfo`.
    OptionalPricingInfo = _KnownPricingInfo | None


# --- The run ----------------------------------------------------------------------------------


class Run(_Model):
    """An Actor run, as returned by every run endpoint.

    >>> run.status, run.default_dataset_id
    (<RunStatus.SUCCEEDED: 'SUCCEEDED'>, 'wmKPijuyDnPZAPRMk')
    """

    id: str  # checked by `_responses`, as it goes into later URLs
    act_id: str
    user_id: str
    status: StatusField
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
    pricing_info: OptionalPricingInfo = None
    charged_event_counts: dict[str, int] | None = None
    build_number: str | None = None
    exit_code: int | None = None
    general_access: AccessField | None = None
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
        status added by a newer API cannot make a waiter poll forever.
        """
        if isinstance(self.status, RunStatus):
            return self.status.is_terminal
        return self.finished_at is not None


# --- The lenient twins: for a run with a value this version does not know ----------------------


class _LenientRunMeta(RunMeta):
    origin: str

    def __post_init__(self) -> None:
        self.origin = _open_enum(self.origin, _ORIGINS)


class _LenientRun(Run):
    """A `Run` whose enums and pricing info may hold values this version does not know."""

    status: str
    meta: _LenientRunMeta
    general_access: str | None = None
    pricing_info: msgspec.Raw = None  # type: ignore[assignment]  # decoded below; null too

    def __post_init__(self) -> None:
        self.status = _open_enum(self.status, _STATUSES)
        if self.general_access is not None:
            self.general_access = _open_enum(self.general_access, _ACCESS)
        if self.pricing_info is not None:
            self.pricing_info = _decode_pricing_info(self.pricing_info)  # type: ignore[assignment]


class Record(msgspec.Struct, frozen=True, gc=False):
    """A key-value store record: its key, content type and raw body."""

    key: str
    content_type: str
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON (raises `msgspec.DecodeError` if it is not JSON)."""
        return msgspec.json.decode(self.body)

    def text(self) -> str:
        """The body decoded as UTF-8 text."""
        return self.body.decode()


class CallResult(msgspec.Struct, frozen=True, gc=False):
    """A run followed to its end, with its output (the `OUTPUT` record), if it has one.

    `run` is terminal unless the wait ran out first; then `output` is None.
    """

    run: Run
    output: Record | None


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


class _UserAgent(_Model):
    user_agent: str | None = None


class RunListItem(_Model):
    """A run as list endpoints show it; only what finding a started run needs."""

    id: str  # checked by `_responses`, as it goes into later URLs
    started_at: datetime
    meta: _UserAgent


class RunListPage(_Model):
    items: list[RunListItem]


class TwoTierDecoder(Generic[T]):
    """Decodes with the fast types, whose enums msgspec decodes natively; a body with a value
    they do not know (a new status, origin or pricing model) is decoded again, leniently."""

    def __init__(self, fast: type[T], lenient: type[Any]) -> None:  # lenient: a subtype of T
        self._decode_fast = msgspec.json.Decoder(fast).decode
        self._lenient: msgspec.json.Decoder[T] = msgspec.json.Decoder(lenient)

    def decode(self, body: bytes) -> T:
        try:
            return self._decode_fast(body)
        except msgspec.ValidationError:
            return self._lenient.decode(body)


run_response_decoder: TwoTierDecoder[DataEnvelope[Run]] = TwoTierDecoder(
    DataEnvelope[Run], DataEnvelope[_LenientRun]
)
run_list_decoder = msgspec.json.Decoder(DataEnvelope[RunListPage])
error_response_decoder = msgspec.json.Decoder(ErrorEnvelope)
