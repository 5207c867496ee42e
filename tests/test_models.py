"""Decoding runs: every example in the official spec, and what a newer API could send."""

from __future__ import annotations

import copy
import enum
import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apify_runs_async import (
    FreePricingInfo,
    GeneralAccess,
    PayPerEventPricingInfo,
    PricePerDatasetItemPricingInfo,
    Run,
    RunOrigin,
    RunStatus,
    UnknownPricingInfo,
)
from apify_runs_async._models import run_response_decoder
from tests.spec import run_response_examples, spec

EXAMPLES = run_response_examples()


def decode(body: dict[str, Any]) -> Run:
    return run_response_decoder.decode(json.dumps(body).encode()).data


def test_the_spec_has_run_examples() -> None:
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize(("where", "body"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_every_spec_example_decodes_field_by_field(where: str, body: dict[str, Any]) -> None:
    data = body["data"]
    run = decode(body)
    assert run.id == data["id"]
    assert run.act_id == data["actId"]
    assert run.user_id == data["userId"]
    assert run.actor_task_id == data.get("actorTaskId")
    assert run.status == data["status"]
    assert isinstance(run.status, RunStatus)
    assert run.started_at == datetime.fromisoformat(data["startedAt"])
    assert run.started_at.tzinfo is not None
    assert run.finished_at is not None and run.finished_at.tzinfo is not None
    assert run.status_message == data.get("statusMessage")
    assert run.meta.origin == data["meta"]["origin"]
    assert isinstance(run.meta.origin, RunOrigin)
    assert run.meta.user_agent == data["meta"].get("userAgent")
    assert run.stats.resurrect_count == data["stats"].get("resurrectCount")
    assert run.stats.compute_units == data["stats"].get("computeUnits")
    assert run.options.memory_mbytes == data["options"]["memoryMbytes"]
    assert run.options.timeout_secs == data["options"]["timeoutSecs"]
    assert run.build_id == data["buildId"]
    assert run.exit_code == data.get("exitCode")
    assert run.general_access == data["generalAccess"]
    assert run.default_key_value_store_id == data["defaultKeyValueStoreId"]
    assert run.default_dataset_id == data["defaultDatasetId"]
    assert run.default_request_queue_id == data["defaultRequestQueueId"]
    assert run.storage_ids is not None and run.storage_ids.datasets is not None
    assert run.storage_ids.datasets.default == data["storageIds"]["datasets"]["default"]
    assert run.usage is not None and run.usage_usd is not None
    assert run.usage.ACTOR_COMPUTE_UNITS == data["usage"]["ACTOR_COMPUTE_UNITS"]
    assert run.usage_usd.PROXY_SERPS == data["usageUsd"]["PROXY_SERPS"]
    assert run.usage_total_usd == data["usageTotalUsd"]
    assert run.is_terminal is RunStatus(data["status"]).is_terminal


def test_model_covers_every_property_of_the_spec_run_schema() -> None:
    properties = spec()["components"]["schemas"]["Run"]["properties"]
    encoded_names = {field.encode_name for field in msgspec.structs.fields(Run)}
    assert set(properties) <= encoded_names


def _example() -> dict[str, Any]:
    return copy.deepcopy(EXAMPLES[0][1])


def test_unknown_fields_are_ignored() -> None:
    body = _example()
    body["data"]["brandNewField"] = {"nested": [1, 2]}
    body["data"]["meta"]["anotherNewField"] = True
    body["data"]["stats"]["gpuSeconds"] = 12.5
    body["extraTopLevel"] = 1
    assert decode(body).id == body["data"]["id"]


@pytest.mark.parametrize(
    ("field", "path"),
    [("status", ("status",)), ("origin", ("meta", "origin")), ("access", ("generalAccess",))],
)
def test_unknown_enum_values_are_kept_as_strings(field: str, path: tuple[str, ...]) -> None:
    body = _example()
    target = body["data"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = "SOMETHING-NEW"
    run = decode(body)
    value = {"status": run.status, "origin": run.meta.origin, "access": run.general_access}[field]
    assert value == "SOMETHING-NEW"
    assert type(value) is str


def test_known_enum_values_become_members() -> None:
    body = _example()
    body["data"]["status"] = "TIMING-OUT"
    body["data"]["meta"]["origin"] = "SCHEDULER"
    body["data"]["generalAccess"] = "ANYONE_WITH_ID_CAN_READ"
    run = decode(body)
    assert run.status is RunStatus.TIMING_OUT
    assert run.meta.origin is RunOrigin.SCHEDULER
    assert run.general_access is GeneralAccess.ANYONE_WITH_ID_CAN_READ
    assert not run.is_terminal


def test_an_unknown_status_is_terminal_only_once_finished() -> None:
    body = _example()
    body["data"]["status"] = "PAUSED"
    body["data"]["finishedAt"] = None
    assert not decode(body).is_terminal
    body["data"]["finishedAt"] = "2030-01-01T00:00:00.000Z"
    assert decode(body).is_terminal


def test_optional_fields_absent_or_null_become_none() -> None:
    body = _example()
    data = body["data"]
    for key in ("actorTaskId", "exitCode", "statusMessage", "finishedAt", "usage", "usageUsd"):
        data[key] = None
    for key in ("storageIds", "gitBranchName", "usageTotalUsd", "isContainerServerReady"):
        del data[key]
    data["stats"] = {}
    run = decode(body)
    assert run.actor_task_id is None and run.exit_code is None and run.finished_at is None
    assert run.usage is None and run.usage_usd is None and run.storage_ids is None
    assert run.git_branch_name is None and run.usage_total_usd is None
    assert run.stats.reboot_count is None and run.pricing_info is None
    assert run.metamorphs is None and run.charged_event_counts is None


def test_a_missing_required_field_is_an_error() -> None:
    body = _example()
    del body["data"]["id"]
    with pytest.raises(msgspec.ValidationError, match="id"):
        decode(body)


COMMON_PRICING = {
    "apifyMarginPercentage": 0.2,
    "createdAt": "2024-03-01T10:00:00.000Z",
    "startedAt": "2024-03-02T10:00:00.000Z",
}


def test_pricing_info_is_a_union_tagged_on_pricing_model() -> None:
    body = _example()
    body["data"]["pricingInfo"] = {
        **COMMON_PRICING,
        "pricingModel": "PAY_PER_EVENT",
        "pricingPerEvent": {
            "actorChargeEvents": {
                "page-crawled": {
                    "eventTitle": "Page",
                    "eventDescription": "One page crawled",
                    "eventPriceUsd": 0.001,
                },
                "tiered": {
                    "eventTitle": "T",
                    "eventDescription": "d",
                    "eventTieredPricingUsd": {"FREE": {"tieredEventPriceUsd": 0.5}},
                },
            }
        },
        "minimalMaxTotalChargeUsd": 0.5,
    }
    body["data"]["chargedEventCounts"] = {"page-crawled": 150}
    run = decode(body)
    info = run.pricing_info
    assert isinstance(info, PayPerEventPricingInfo)
    assert info.apify_margin_percentage == 0.2
    assert info.created_at == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert info.pricing_per_event is not None
    events = info.pricing_per_event.actor_charge_events
    assert events is not None
    assert events["page-crawled"].event_price_usd == 0.001
    tiers = events["tiered"].event_tiered_pricing_usd
    assert tiers is not None and tiers["FREE"].tiered_event_price_usd == 0.5
    assert run.charged_event_counts == {"page-crawled": 150}


@pytest.mark.parametrize(
    ("model", "extra", "cls"),
    [
        (
            "PRICE_PER_DATASET_ITEM",
            {"unitName": "result", "pricePerUnitUsd": 0.002},
            PricePerDatasetItemPricingInfo,
        ),
        ("FREE", {}, FreePricingInfo),
    ],
)
def test_other_pricing_models(model: str, extra: dict[str, Any], cls: type) -> None:
    body = _example()
    body["data"]["pricingInfo"] = {**COMMON_PRICING, "pricingModel": model, **extra}
    assert isinstance(decode(body).pricing_info, cls)


def test_an_unknown_pricing_model_is_kept_not_fatal() -> None:
    body = _example()
    body["data"]["pricingInfo"] = {**COMMON_PRICING, "pricingModel": "PAY_PER_THOUGHT", "x": 1}
    info = decode(body).pricing_info
    assert isinstance(info, UnknownPricingInfo)
    assert info.pricing_model == "PAY_PER_THOUGHT"
    assert info.data["x"] == 1


def test_a_known_pricing_model_with_bad_fields_is_an_error() -> None:
    body = _example()
    body["data"]["pricingInfo"] = {"pricingModel": "FREE", "apifyMarginPercentage": "lots"}
    with pytest.raises(msgspec.ValidationError):
        decode(body)


def test_metamorphs_decode() -> None:
    body = _example()
    body["data"]["metamorphs"] = [
        {
            "createdAt": "2024-01-01T00:00:00.000Z",
            "actorId": "abc",
            "buildId": "def",
            "inputKey": "INPUT-METAMORPH-1",
        }
    ]
    (metamorph,) = decode(body).metamorphs or []
    assert metamorph.input_key == "INPUT-METAMORPH-1"
    assert metamorph.created_at.tzinfo is not None


def test_terminal_statuses() -> None:
    terminal = {s for s in RunStatus if s.is_terminal}
    assert terminal == {
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.TIMED_OUT,
        RunStatus.ABORTED,
    }
    assert {s.value for s in RunStatus} == set(
        spec()["components"]["schemas"]["ActorJobStatus"]["enum"]
    )


@pytest.mark.parametrize(
    ("enum_cls", "schema"), [(RunOrigin, "RunOrigin"), (GeneralAccess, "GeneralAccess")]
)
def test_enums_match_the_spec(enum_cls: type[enum.StrEnum], schema: str) -> None:
    assert {m.value for m in enum_cls} == set(spec()["components"]["schemas"][schema]["enum"])


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_RUN_KEYS = sorted(spec()["components"]["schemas"]["Run"]["properties"])


@settings(max_examples=300, deadline=None)
@given(changes=st.dictionaries(st.sampled_from([*_RUN_KEYS, "newField"]), _json_values, max_size=4))
def test_the_decoder_gives_a_run_or_a_msgspec_error(changes: dict[str, Any]) -> None:
    body = _example()
    body["data"].update(changes)
    try:
        run = decode(body)
    except msgspec.ValidationError:
        return  # becomes InvalidResponseError in the client
    assert isinstance(run, Run)
    assert run.is_terminal in (True, False)
