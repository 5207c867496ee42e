"""Decoding runs: every example in the official spec, and what a newer API could send.

Each test that decodes runs three ways: the client's own path (`run_response_decoder`), and the
plain msgspec calls anyone holding a run from elsewhere (a webhook, a file) would make:
`msgspec.json.decode(body, type=Run)` and `msgspec.convert(mapping, Run)`.
"""

from __future__ import annotations

import copy
import enum
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apify_runs_async import (
    GeneralAccess,
    PricingInfo,
    PricingModel,
    Run,
    RunOrigin,
    RunStatus,
    is_terminal,
)
from apify_runs_async._models import run_response_decoder
from tests.spec import run_response_examples, spec

EXAMPLES = run_response_examples()

Decode = Callable[[dict[str, Any]], Run]


def _by_the_client(body: dict[str, Any]) -> Run:
    return run_response_decoder.decode(json.dumps(body).encode()).data


def _by_json_decode(body: dict[str, Any]) -> Run:
    return msgspec.json.decode(json.dumps(body["data"]).encode(), type=Run)


def _by_convert(body: dict[str, Any]) -> Run:
    return msgspec.convert(body["data"], Run)


@pytest.fixture(
    scope="module",  # hypothesis refuses function-scoped fixtures
    params=[_by_the_client, _by_json_decode, _by_convert],
    ids=["client", "msgspec.json.decode", "msgspec.convert"],
)
def decode(request: pytest.FixtureRequest) -> Decode:
    """Decodes a `{"data": run}` body one of the three ways."""
    way: Decode = request.param
    return way


def test_the_spec_has_run_examples() -> None:
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize(("where", "body"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_every_spec_example_decodes_field_by_field(
    where: str, body: dict[str, Any], decode: Decode
) -> None:
    data = body["data"]
    run = decode(body)
    assert run.id == data["id"]
    assert run.act_id == data["actId"]
    assert run.user_id == data["userId"]
    assert run.actor_task_id == data.get("actorTaskId")
    assert run.status == data["status"]
    assert run.status == RunStatus(data["status"])  # a status this version knows
    assert run.started_at == datetime.fromisoformat(data["startedAt"])
    assert run.started_at.tzinfo is not None
    assert run.finished_at is not None and run.finished_at.tzinfo is not None
    assert run.status_message == data.get("statusMessage")
    assert run.meta.origin == data["meta"]["origin"]
    assert run.meta.origin == RunOrigin(data["meta"]["origin"])
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
    assert run.usage.actor_compute_units == data["usage"]["ACTOR_COMPUTE_UNITS"]
    assert run.usage_usd.proxy_serps == data["usageUsd"]["PROXY_SERPS"]
    assert run.usage_total_usd == data["usageTotalUsd"]
    assert run.is_terminal is RunStatus(data["status"]).is_terminal


def test_model_covers_every_property_of_the_spec_run_schema() -> None:
    properties = spec()["components"]["schemas"]["Run"]["properties"]
    encoded_names = {field.encode_name for field in msgspec.structs.fields(Run)}
    assert set(properties) <= encoded_names


def _example() -> dict[str, Any]:
    return copy.deepcopy(EXAMPLES[0][1])


def test_usage_attributes_are_the_snake_case_of_the_wire_names(decode: Decode) -> None:
    body = _example()
    for key in ("usage", "usageUsd"):
        names = spec()["components"]["schemas"]["RunUsage" if key == "usage" else "RunUsageUsd"]
        body["data"][key] = {name: n for n, name in enumerate(names["properties"], start=1)}
    run = decode(body)
    for key, usage in (("usage", run.usage), ("usageUsd", run.usage_usd)):
        for name, amount in body["data"][key].items():
            assert getattr(usage, name.lower()) == amount, (key, name)
    assert run.usage is not None and run.usage_usd is not None
    assert run.usage.actor_compute_units == body["data"]["usage"]["ACTOR_COMPUTE_UNITS"]
    assert run.usage_usd.dataset_reads == body["data"]["usageUsd"]["DATASET_READS"]


def test_unknown_fields_are_ignored(decode: Decode) -> None:
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
def test_unknown_enum_values_are_kept_as_strings(
    field: str, path: tuple[str, ...], decode: Decode
) -> None:
    body = _example()
    target = body["data"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = "SOMETHING-NEW"
    run = decode(body)
    value = {"status": run.status, "origin": run.meta.origin, "access": run.general_access}[field]
    assert value == "SOMETHING-NEW"
    assert type(value) is str


def test_known_enum_values_equal_their_members(decode: Decode) -> None:
    body = _example()
    body["data"]["status"] = "TIMING-OUT"
    body["data"]["meta"]["origin"] = "SCHEDULER"
    body["data"]["generalAccess"] = "ANYONE_WITH_ID_CAN_READ"
    run = decode(body)
    assert run.status == RunStatus.TIMING_OUT
    assert run.meta.origin == RunOrigin.SCHEDULER
    assert run.general_access == GeneralAccess.ANYONE_WITH_ID_CAN_READ
    assert run.status != RunStatus.TIMED_OUT and run.meta.origin != RunOrigin.API
    match (run.status, run.meta.origin, run.general_access):
        case (RunStatus.TIMING_OUT, RunOrigin.SCHEDULER, GeneralAccess.ANYONE_WITH_ID_CAN_READ):
            matched = True
        case _:
            matched = False
    assert matched
    # Plain strings, whether known or not: the same type for a value from a newer API.
    assert type(run.status) is str and type(run.meta.origin) is str
    by_status: dict[str, str] = {RunStatus.TIMING_OUT: "hashes alike"}
    assert by_status[run.status] == "hashes alike"
    assert not run.is_terminal


def _status_by_match(status: str) -> str:
    match status:
        case RunStatus.READY:
            return "READY"
        case RunStatus.RUNNING:
            return "RUNNING"
        case RunStatus.SUCCEEDED:
            return "SUCCEEDED"
        case RunStatus.FAILED:
            return "FAILED"
        case RunStatus.TIMING_OUT:
            return "TIMING-OUT"
        case RunStatus.TIMED_OUT:
            return "TIMED-OUT"
        case RunStatus.ABORTING:
            return "ABORTING"
        case RunStatus.ABORTED:
            return "ABORTED"
        case _:
            return "unknown"


@pytest.mark.parametrize("status", [*spec()["components"]["schemas"]["ActorJobStatus"]["enum"]])
def test_a_decoded_status_matches_its_member(status: str, decode: Decode) -> None:
    body = _example()
    body["data"]["status"] = status
    run = decode(body)
    assert _status_by_match(run.status) == status
    assert run.status == getattr(RunStatus, status.replace("-", "_"))


def test_an_unknown_status_matches_no_member(decode: Decode) -> None:
    body = _example()
    body["data"]["status"] = "PAUSED"
    assert _status_by_match(decode(body).status) == "unknown"


@pytest.mark.parametrize(
    ("enum_cls", "schema", "path"),
    [
        (RunOrigin, "RunOrigin", ("meta", "origin")),
        (GeneralAccess, "GeneralAccess", ("generalAccess",)),
    ],
)
def test_decoded_origins_and_access_levels_equal_their_members(
    enum_cls: type[enum.StrEnum], schema: str, path: tuple[str, ...], decode: Decode
) -> None:
    for value in spec()["components"]["schemas"][schema]["enum"]:
        body = _example()
        target = body["data"]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        run = decode(body)
        decoded = run.meta.origin if schema == "RunOrigin" else run.general_access
        assert decoded == getattr(enum_cls, value)  # members are named as the wire spells them


def test_an_unknown_status_is_terminal_only_once_finished(decode: Decode) -> None:
    body = _example()
    body["data"]["status"] = "PAUSED"
    body["data"]["finishedAt"] = None
    assert not decode(body).is_terminal
    assert not is_terminal("PAUSED", None)
    body["data"]["finishedAt"] = "2030-01-01T00:00:00.000Z"
    assert decode(body).is_terminal
    assert is_terminal("PAUSED", datetime(2030, 1, 1, tzinfo=UTC))
    assert not is_terminal("PAUSED")  # with no finish time known


@pytest.mark.parametrize("status", [*spec()["components"]["schemas"]["ActorJobStatus"]["enum"]])
@pytest.mark.parametrize("finished_at", [None, "2030-01-01T00:00:00.000Z"])
def test_a_known_status_alone_decides_whether_a_run_is_terminal(
    status: str, finished_at: str | None, decode: Decode
) -> None:
    body = _example()
    body["data"]["status"] = status
    body["data"]["finishedAt"] = finished_at
    run = decode(body)
    expected = status in ("SUCCEEDED", "FAILED", "TIMED-OUT", "ABORTED")
    assert run.is_terminal is expected
    assert is_terminal(status) is expected
    assert is_terminal(status, run.finished_at) is expected


def test_optional_fields_absent_or_null_become_none(decode: Decode) -> None:
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


def test_a_missing_required_field_is_an_error(decode: Decode) -> None:
    body = _example()
    del body["data"]["id"]
    with pytest.raises(msgspec.ValidationError, match="id"):
        decode(body)


COMMON_PRICING = {
    "apifyMarginPercentage": 0.2,
    "createdAt": "2024-03-01T10:00:00.000Z",
    "startedAt": "2024-03-02T10:00:00.000Z",
}


def test_pricing_info_says_its_pricing_model(decode: Decode) -> None:
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
    assert isinstance(info, PricingInfo)
    assert info.pricing_model == PricingModel.PAY_PER_EVENT == "PAY_PER_EVENT"
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
    ("model", "extra", "fields"),
    [
        (
            "PRICE_PER_DATASET_ITEM",
            {"unitName": "result", "pricePerUnitUsd": 0.002},
            {"unit_name": "result", "price_per_unit_usd": 0.002, "trial_minutes": None},
        ),
        (
            "PRICE_PER_DATASET_ITEM",
            {"unitName": "page", "tieredPricing": {"FREE": {"tieredPricePerUnitUsd": 0.004}}},
            {"unit_name": "page", "price_per_unit_usd": None},
        ),
        (
            "FLAT_PRICE_PER_MONTH",
            {"trialMinutes": 1440, "pricePerUnitUsd": 30},
            {"trial_minutes": 1440, "price_per_unit_usd": 30, "unit_name": None},
        ),
        ("FREE", {}, {"unit_name": None, "price_per_unit_usd": None, "pricing_per_event": None}),
    ],
)
def test_other_pricing_models(
    model: str, extra: dict[str, Any], fields: dict[str, Any], decode: Decode
) -> None:
    body = _example()
    body["data"]["pricingInfo"] = {**COMMON_PRICING, "pricingModel": model, **extra}
    info = decode(body).pricing_info
    assert info is not None and info.pricing_model == model
    assert info.started_at == datetime(2024, 3, 2, 10, tzinfo=UTC)
    for name, value in fields.items():
        assert getattr(info, name) == value, name
    if "tieredPricing" in extra:
        assert info.tiered_pricing is not None
        assert info.tiered_pricing["FREE"].tiered_price_per_unit_usd == 0.004


def test_an_unknown_pricing_model_is_kept_not_fatal(decode: Decode) -> None:
    body = _example()
    body["data"]["pricingInfo"] = {**COMMON_PRICING, "pricingModel": "PAY_PER_THOUGHT", "x": 1}
    info = decode(body).pricing_info
    assert isinstance(info, PricingInfo)
    assert info.pricing_model == "PAY_PER_THOUGHT"
    assert info.apify_margin_percentage == 0.2  # the fields every model has are still read
    assert info.created_at == datetime(2024, 3, 1, 10, tzinfo=UTC)


def test_an_unknown_pricing_model_needs_only_its_name(decode: Decode) -> None:
    body = _example()
    body["data"]["pricingInfo"] = {"pricingModel": "PAY_PER_THOUGHT", "thoughts": [1]}
    info = decode(body).pricing_info
    assert info is not None and info.pricing_model == "PAY_PER_THOUGHT"
    assert info.apify_margin_percentage is None and info.started_at is None


def test_a_known_pricing_model_with_bad_fields_is_an_error(decode: Decode) -> None:
    body = _example()
    body["data"]["pricingInfo"] = {"pricingModel": "FREE", "apifyMarginPercentage": "lots"}
    with pytest.raises(msgspec.ValidationError):
        decode(body)


def test_metamorphs_decode(decode: Decode) -> None:
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


def test_pricing_models_match_the_spec() -> None:
    mapping = spec()["components"]["schemas"]["ActorRunPricingInfo"]["discriminator"]["mapping"]
    assert {m.value for m in PricingModel} == set(mapping)
    assert all(m.name == m.value for m in PricingModel)


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
def test_the_decoder_gives_a_run_or_a_msgspec_error(
    changes: dict[str, Any], decode: Decode
) -> None:
    body = _example()
    body["data"].update(changes)
    try:
        run = decode(body)
    except msgspec.ValidationError:
        return  # becomes InvalidResponseError in the client
    assert isinstance(run, Run)
    assert run.is_terminal in (True, False)
