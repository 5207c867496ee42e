"""Query parameter parsing, property by property."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import MultiDict

from apify_runs_async.emulator import _params as params
from apify_runs_async.emulator._errors import ApiError


@given(st.integers(min_value=-(2**40), max_value=2**40))
def test_memory_is_a_power_of_two_in_range(memory: int) -> None:
    query = MultiDict({"memory": str(memory)})
    valid = 128 <= memory <= 32768 and memory & (memory - 1) == 0
    if valid:
        assert params.memory_mbytes(query) == memory
    else:
        with pytest.raises(ApiError) as raised:
            params.memory_mbytes(query)
        assert (raised.value.status, raised.value.type) == (400, "invalid-input")


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_wait_secs_is_capped_and_never_negative(value: float) -> None:
    query = MultiDict({"waitForFinish": repr(value)})
    if value >= 0 and value != float("inf"):
        assert params.wait_secs(query) == min(value, 60.0)
    else:
        with pytest.raises(ApiError):
            params.wait_secs(query)


@given(st.text(max_size=8))
def test_flags_accept_exactly_true_false_1_0(value: str) -> None:
    query = MultiDict({"flag": value})
    if value.lower() in ("true", "1"):
        assert params.flag(query, "flag") is True
    elif value.lower() in ("false", "0"):
        assert params.flag(query, "flag") is False
    else:
        with pytest.raises(ApiError):
            params.flag(query, "flag")


def test_absent_parameters_are_none() -> None:
    empty: MultiDict[str] = MultiDict()
    assert params.flag(empty, "x") is None
    assert params.number(empty, "x") is None
    assert params.memory_mbytes(empty) is None
    assert params.statuses(empty) is None
    assert params.webhooks(empty) is None
    assert params.page(empty) == params.Page(offset=0, limit=1000, desc=False)


def test_statuses_from_lists_and_repeats() -> None:
    query = MultiDict([("status", "READY, RUNNING"), ("status", "FAILED"), ("status", "")])
    assert params.statuses(query) == frozenset({"READY", "RUNNING", "FAILED"})


@given(st.lists(st.sampled_from(["a", "b", "ACTOR.RUN.FAILED"]), min_size=1))
def test_webhooks_in_both_base64_alphabets(event_types: list[str]) -> None:
    hooks = [{"eventTypes": event_types, "requestUrl": "https://example.com/?a=b"}]
    raw = json.dumps(hooks).encode()
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw).rstrip(b"=")):
        assert params.webhooks(MultiDict({"webhooks": encoded.decode()})) == hooks
