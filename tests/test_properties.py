"""Properties of the argument checks and of the Run decoder, on inputs hypothesis generates.

Expected values come from the documented rules (the validators' docstrings, the OpenAPI spec),
never from the code under test. The bugs these properties found are pinned by the tests at
the end.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import posixpath
import re
import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import msgspec
import pytest
import yarl
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from apify_runs_async import (
    ApiError,
    ApifyError,
    GeneralAccess,
    InvalidResponseError,
    PricingInfo,
    Run,
    _status,
)
from apify_runs_async import _responses as responses
from apify_runs_async import _validation as check
from apify_runs_async._errors import register_secret
from apify_runs_async._http import Request, Response
from apify_runs_async._models import run_response_decoder
from tests.helpers import RUN_ID, everything_about
from tests.spec import run_response_examples, spec

# --- Shared strategies --------------------------------------------------------------------------

# An argument name, as the client passes it to a check; every error message must start with it.
names = st.from_regex(r"[a-z][a-z_]{0,19}", fullmatch=True)

# Values of types that no check accepts in place of a number or a str.
other_objects = (
    st.none()
    | st.binary(max_size=5)
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
    | st.complex_numbers(allow_nan=False, allow_infinity=False)
    | st.decimals(allow_nan=False)
    | st.builds(object)
)


@st.composite
def with_inserted(
    draw: st.DrawFn, base: st.SearchStrategy[str], piece: st.SearchStrategy[str]
) -> str:
    """A string from `base` with a string from `piece` inserted at any position."""
    text = draw(base)
    at = draw(st.integers(min_value=0, max_value=len(text)))
    return text[:at] + draw(piece) + text[at:]


def attempt(validate: Callable[[object, str], object], value: object, name: str) -> object:
    """What `validate` returns, or the ValueError it raises."""
    try:
        return validate(value, name)
    except ValueError as exc:
        return exc


def assert_refused(
    validate: Callable[[object, str], object], value: object, name: str, error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        validate(value, name)
    assert str(info.value).startswith(name), (value, str(info.value))


# --- Resource ids and actor ids -------------------------------------------------------------------

# RFC 3986's unreserved characters: what an id may hold, by the docstring of `resource_id`.
ID_ALPHABET = string.ascii_letters + string.digits + "._~-"


def texts(alphabet: str, min_size: int, max_size: int) -> st.SearchStrategy[str]:
    """Strings of `alphabet`, of any length in range, and often of nearly the longest."""
    near_longest = st.integers(min_value=max(min_size, max_size - 3), max_value=max_size)
    return st.text(alphabet, min_size=min_size, max_size=max_size) | near_longest.flatmap(
        lambda n: st.text(alphabet, min_size=n, max_size=n)
    )


valid_ids = texts(ID_ALPHABET, 1, 200).filter(lambda s: ".." not in s and s != ".")

# Each of these would change a URL (a segment, a query, a fragment, an escape) or is not ASCII.
URL_BREAKERS = [
    *"/?#%\\ \t\n\r\x00\x7f&=;:@+'\"<>[]{}|^`,$!*()",
    "..",
    "%2F",
    "%2e%2e",
    "\u2028",
    "\u00a0",
    "\uff0f",  # a full-width slash
    "é",
]
id_breakers = st.sampled_from(URL_BREAKERS) | st.characters().filter(lambda c: c not in ID_ALPHABET)
invalid_ids = (
    st.sampled_from(["", ".", ".."])
    | with_inserted(st.text(ID_ALPHABET, max_size=30), id_breakers)
    | texts(ID_ALPHABET, 201, 204)
)

BASE_URL = "https://api.apify.com"


def assert_path_segments(url: str, segments: tuple[str, ...]) -> None:
    """`url` has exactly `segments` as its path, and no query or fragment, however it is read."""
    expected_path = "/" + "/".join(segments)
    parsed = yarl.URL(url)
    assert parsed.parts == ("/", *segments)
    assert parsed.raw_path == expected_path  # nothing needed escaping
    assert parsed.query_string == "" and parsed.fragment == ""
    split = urlsplit(url)
    assert split.path == expected_path and split.query == "" and split.fragment == ""
    assert posixpath.normpath(split.path) == split.path  # no dot segment to collapse


@settings(max_examples=100, deadline=None)
@given(value=valid_ids, name=names)
def test_every_valid_id_is_accepted_unchanged_and_stays_one_path_segment(
    value: str, name: str
) -> None:
    assert check.resource_id(value, name) == value
    assert_path_segments(f"{BASE_URL}/v2/actor-runs/{value}", ("v2", "actor-runs", value))
    assert_path_segments(
        f"{BASE_URL}/v2/actor-runs/{value}/abort", ("v2", "actor-runs", value, "abort")
    )


@settings(max_examples=100, deadline=None)
@given(value=invalid_ids, name=names)
def test_every_invalid_id_is_refused_naming_the_argument(value: str, name: str) -> None:
    assert_refused(check.resource_id, value, name, ValueError)
    if "/" not in value:  # `owner/name` is an actor id: see the tests of actor_id below
        assert_refused(check.actor_id, value, name, ValueError)


@settings(max_examples=100, deadline=None)
@given(value=other_objects | st.booleans() | st.integers() | st.floats(), name=names)
def test_ids_of_another_type_are_a_type_error_naming_the_argument(value: object, name: str) -> None:
    assert_refused(check.resource_id, value, name, TypeError)
    assert_refused(check.actor_id, value, name, TypeError)
    assert_refused(check.record_key, value, name, TypeError)


@settings(max_examples=100, deadline=None)
@given(value=st.text(max_size=40), name=names)
def test_whatever_id_is_accepted_is_url_safe(value: str, name: str) -> None:
    accepted = attempt(check.resource_id, value, name)
    if isinstance(accepted, ValueError):
        assert str(accepted).startswith(name)
        return
    assert isinstance(accepted, str) and accepted == value
    assert set(accepted) <= set(ID_ALPHABET) and ".." not in accepted
    assert_path_segments(f"{BASE_URL}/v2/actor-runs/{accepted}", ("v2", "actor-runs", accepted))


# An owner or Actor name: an id without the `~` that joins the two.
name_parts = st.text(ID_ALPHABET.replace("~", ""), min_size=1, max_size=99).filter(
    lambda s: ".." not in s
)


@settings(max_examples=100, deadline=None)
@given(owner=name_parts, actor=name_parts, name=names)
def test_owner_slash_name_and_owner_tilde_name_are_the_same_actor(
    owner: str, actor: str, name: str
) -> None:
    expected = f"{owner}~{actor}"
    assert check.actor_id(f"{owner}/{actor}", name) == expected
    assert check.actor_id(expected, name) == expected
    assert_path_segments(
        f"{BASE_URL}/v2/actors/{expected}/runs", ("v2", "actors", expected, "runs")
    )


@settings(max_examples=150, deadline=None)
@given(
    value=st.text(ID_ALPHABET + "/", max_size=12) | st.text(max_size=12) | valid_ids,
    name=names,
)
def test_actor_id_normalisation_is_idempotent_and_leaves_no_slash(value: str, name: str) -> None:
    once = attempt(check.actor_id, value, name)
    if isinstance(once, ValueError):
        assert str(once).startswith(name)
        # Refused exactly when it is not an id, nor owner/name with both halves ids.
        owner, slash, actor = value.partition("/")
        assert slash or not (
            re.fullmatch(r"[A-Za-z0-9._~-]{1,200}", value) and ".." not in value and value != "."
        )
        assert not (
            slash
            and re.fullmatch(r"[A-Za-z0-9._-]+", owner)
            and re.fullmatch(r"[A-Za-z0-9._-]+", actor)
            and ".." not in value
        )
        return
    assert isinstance(once, str)
    assert check.actor_id(once, name) == once
    assert check.resource_id(once, name) == once
    assert "/" not in once
    assert once == (value.replace("/", "~") if "/" in value else value)


# --- Record keys ----------------------------------------------------------------------------------

# What the platform allows in a key-value store key, by the docstring of `record_key`.
KEY_ALPHABET = string.ascii_letters + string.digits + "!-_.'()"

valid_keys = texts(KEY_ALPHABET, 1, 256).filter(lambda s: s not in (".", ".."))
invalid_keys = (
    st.sampled_from(["", ".", ".."])
    | with_inserted(
        st.text(KEY_ALPHABET, max_size=30),
        st.sampled_from([c for c in URL_BREAKERS if not set(c) <= set(KEY_ALPHABET)])
        | st.characters().filter(lambda c: c not in KEY_ALPHABET),
    )
    | texts(KEY_ALPHABET, 257, 260)
)


@settings(max_examples=100, deadline=None)
@given(key=valid_keys, run_id=valid_ids, name=names)
def test_every_valid_record_key_is_accepted_and_stays_one_path_segment(
    key: str, run_id: str, name: str
) -> None:
    assert check.record_key(key, name) == key
    assert_path_segments(
        f"{BASE_URL}/v2/actor-runs/{run_id}/key-value-store/records/{key}",
        ("v2", "actor-runs", run_id, "key-value-store", "records", key),
    )


@settings(max_examples=80, deadline=None)
@given(key=invalid_keys, name=names)
def test_every_invalid_record_key_is_refused_naming_the_argument(key: str, name: str) -> None:
    assert_refused(check.record_key, key, name, ValueError)


# --- Numbers --------------------------------------------------------------------------------------

EDGES: list[int | float] = [
    0,
    0.0,
    -0.0,
    1,
    1.0,
    0.5,
    -1,
    5e-324,
    -5e-324,
    60,
    60.0,
    61,
    math.nextafter(60, math.inf),
    127,
    128,
    129,
    32768,
    32769,
    65536,
    2**1000,
    -(2**1000),
    math.inf,
    -math.inf,
    math.nan,
    1.7976931348623157e308,
]
# Ints beyond the range of a float are left to test_huge_ints_are_refused_naming_the_argument.
numbers = (
    st.integers(min_value=-(2**1000), max_value=2**1000)
    | st.floats()
    | st.sampled_from(EDGES)
    | st.integers(min_value=7, max_value=15).map(lambda k: 2**k)
)
POWERS_OF_TWO_IN_RANGE = {2**k for k in range(7, 16)}  # 128 .. 32768


def _finite(value: float) -> bool:
    return isinstance(value, int) or not (value != value or value in (math.inf, -math.inf))


# Each number check, with the rule its docstring or message states.
NUMBER_RULES: list[tuple[Callable[[object, str], object], Callable[[float], bool]]] = [
    (check.non_negative, lambda x: _finite(x) and x >= 0),
    (check.positive, lambda x: _finite(x) and x > 0),
    (check.positive_int, lambda x: isinstance(x, int) and x >= 1),
    (check.wait_secs, lambda x: _finite(x) and 0 <= x <= 60),
    (check.memory_mbytes, lambda x: isinstance(x, int) and x in POWERS_OF_TWO_IN_RANGE),
]


@settings(max_examples=120, deadline=None)
@given(value=numbers, name=names)
def test_number_checks_accept_exactly_what_their_rule_allows(value: float, name: str) -> None:
    for validate, rule in NUMBER_RULES:
        if rule(value):
            accepted = validate(value, name)
            assert accepted == value and type(accepted) is type(value), validate
        else:
            assert_refused(validate, value, name, ValueError)


@settings(max_examples=100, deadline=None)
@given(value=other_objects | st.booleans() | st.text(max_size=5), name=names)
def test_number_checks_refuse_other_types_and_bools_naming_the_argument(
    value: object, name: str
) -> None:
    for validate, _ in NUMBER_RULES:
        assert_refused(validate, value, name, TypeError)


@settings(max_examples=50, deadline=None)
@given(exponent=st.integers(min_value=7, max_value=15), name=names)
def test_memory_as_a_float_or_off_by_one_is_refused(exponent: int, name: str) -> None:
    power = 2**exponent
    assert check.memory_mbytes(power, name) == power
    for wrong in (float(power), power - 1, power + 1, power * 3 // 2, -power):
        assert_refused(check.memory_mbytes, wrong, name, ValueError)


# --- Flags, text, tags, header values, enumerations ----------------------------------------------


@settings(max_examples=100, deadline=None)
@given(value=st.booleans() | st.integers() | st.text(max_size=5) | other_objects, name=names)
def test_a_flag_is_exactly_a_bool(value: object, name: str) -> None:
    if isinstance(value, bool):
        assert check.flag(value, name) is value
    else:
        assert_refused(check.flag, value, name, TypeError)


@settings(max_examples=100, deadline=None)
@given(value=st.text() | st.integers() | other_objects, name=names)
def test_text_is_any_str_unchanged(value: object, name: str) -> None:
    if isinstance(value, str):
        assert check.text(value, name) == value
    else:
        assert_refused(check.text, value, name, TypeError)


# Printable, and neither whitespace nor a control character: letters, marks, digits,
# punctuation, symbols.
visible = st.characters(categories=["L", "M", "N", "P", "S"])
whitespace_or_control = (
    st.sampled_from(" \t\n")
    | st.sampled_from([*"\r\x0b\x0c\x00\x1b\x7f\x85", "\u2028", "\u3000", "\u00a0"])
    | st.characters(categories=["Cc", "Zs", "Zl", "Zp"])
)


@settings(max_examples=80, deadline=None)
@given(
    good=st.text(visible, min_size=1, max_size=20),
    bad=st.just("")
    | st.builds(
        lambda left, gap, right: left + gap + right,
        st.text(visible, max_size=10),
        whitespace_or_control,
        st.text(visible, max_size=10),
    ),
    name=names,
)
def test_a_tag_is_one_word(good: str, bad: str, name: str) -> None:
    assert check.tag(good, name) == good
    assert_refused(check.tag, bad, name, ValueError)
    assert_refused(check.tag, good.encode(), name, TypeError)


printable_line = st.text(visible | st.just(" "), max_size=30).filter(lambda s: s.strip() != "")
line_breakers = (
    st.sampled_from(["\r", "\n", "\r\n"])
    | st.sampled_from([*"\x00\x7f\x0b\x0c\x85", "\u2028", "\u2029"])
    | st.characters(categories=["Cc"])
)


@settings(max_examples=80, deadline=None)
@given(
    good=printable_line,
    bad=with_inserted(printable_line, line_breakers) | st.text(" ", max_size=3),
    anything=st.text(max_size=20),
    name=names,
)
def test_a_header_value_is_one_printable_line(
    good: str, bad: str, anything: str, name: str
) -> None:
    assert check.header_value(good, name) == good
    assert_refused(check.header_value, bad, name, ValueError)
    assert_refused(check.header_value, good.encode(), name, TypeError)
    accepted = attempt(check.header_value, anything, name)
    if isinstance(accepted, ValueError):
        assert str(accepted).startswith(name)
    else:  # whatever passes cannot split or end a header
        assert isinstance(accepted, str) and accepted.strip()
        assert not set(accepted) & {"\r", "\n", "\x00"}


SCHEMAS = spec()["components"]["schemas"]
GENERAL_ACCESS = SCHEMAS["GeneralAccess"]["enum"]
PERMISSION_LEVELS = ["LIMITED_PERMISSIONS", "FULL_PERMISSIONS"]  # the API's forcePermissionLevel

# Hashable values only: unhashable ones are test_unhashable_enum_values_name_the_argument's.
hashable_others = st.none() | st.integers() | st.binary(max_size=5) | st.builds(object)


@settings(max_examples=80, deadline=None)
@given(
    level=st.sampled_from(PERMISSION_LEVELS),
    access=st.sampled_from(GENERAL_ACCESS),
    other=st.text(max_size=30) | hashable_others,
    name=names,
)
def test_enumerated_arguments_take_exactly_the_api_values(
    level: str, access: str, other: object, name: str
) -> None:
    assert check.permission_level(level, name) == level
    assert check.general_access(access, name) == access
    assert check.general_access(GeneralAccess(access), name) == access
    error = ValueError if isinstance(other, str) else TypeError  # not a str: the wrong type
    if other not in PERMISSION_LEVELS:
        assert_refused(check.permission_level, other, name, error)
    if other not in GENERAL_ACCESS:
        assert_refused(check.general_access, other, name, error)


# --- Webhooks -------------------------------------------------------------------------------------

WEBHOOK_OPTIONS = [
    "payload_template",
    "headers_template",
    "idempotency_key",
    "ignore_ssl_errors",
    "do_not_retry",
    "should_interpolate_strings",
]


def camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(word.capitalize() for word in rest)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)
event_names = st.text(min_size=1, max_size=30)


@st.composite
def webhook_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid webhook, camelCase: what the API should receive for it."""
    webhook: dict[str, Any] = {
        "eventTypes": draw(st.lists(event_names, min_size=1, max_size=4)),
        "requestUrl": draw(st.text(min_size=1, max_size=40)),
    }
    for option in draw(st.sets(st.sampled_from(WEBHOOK_OPTIONS))):
        webhook[camel(option)] = draw(json_values)
    # Keys the client does not know pass through as they are.
    extra = st.from_regex(r"[a-z]{1,10}", fullmatch=True).filter(
        lambda k: k not in ("eventtypes", "requesturl")
    )
    webhook.update(draw(st.dictionaries(extra, json_values, max_size=2)))
    return webhook


def snake_case(webhook: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    """The webhook as a Python caller may spell it: the given camelCase keys in snake_case."""
    return {
        re.sub(r"[A-Z]", lambda m: "_" + m[0].lower(), k) if k in keys else k: v
        for k, v in webhook.items()
    }


@settings(max_examples=80, deadline=None)
@given(
    hooks=st.lists(webhook_specs(), max_size=3),
    spell_snake=st.lists(st.booleans(), min_size=3, max_size=3),
    as_tuple=st.booleans(),
    name=names,
)
def test_webhooks_are_base64_json_with_camel_case_keys(
    hooks: list[dict[str, Any]], spell_snake: list[bool], as_tuple: bool, name: str
) -> None:
    given_hooks = [
        snake_case(hook, set(hook) if snake else set())
        for hook, snake in zip(hooks, spell_snake, strict=False)
    ]
    encoded = check.webhooks(tuple(given_hooks) if as_tuple else given_hooks, name)
    assert isinstance(encoded, str) and encoded.isascii()
    assert json.loads(base64.b64decode(encoded, validate=True)) == json.loads(json.dumps(hooks))


@st.composite
def broken_webhooks(draw: st.DrawFn) -> tuple[object, type[Exception]]:
    """Webhooks the check must refuse, and the error it must raise."""
    good = draw(st.lists(webhook_specs(), max_size=2))
    kind = draw(st.sampled_from(["container", "item", "events", "url"]))
    if kind == "container":
        return draw(
            st.text(max_size=5) | st.binary(max_size=5) | st.just({}) | st.none()
        ), TypeError
    if kind == "item":
        item = draw(
            st.text(max_size=5) | st.integers() | st.none() | st.lists(st.text(), max_size=2)
        )
        return [*good, item], TypeError
    hook = draw(webhook_specs())
    key, snake = (
        ("eventTypes", "event_types") if kind == "events" else ("requestUrl", "request_url")
    )
    del hook[key]
    wrong: list[object] = (
        [[], "", [""], "EVENT", ["A", 1], ["A", None], None, 5, {"A": 1}]
        if kind == "events"
        else ["", None, 5, b"https://x", ["https://x"]]
    )
    if draw(st.booleans()):  # else the key is missing
        hook[draw(st.sampled_from([key, snake]))] = draw(st.sampled_from(wrong))
    return [*good, hook], ValueError


@settings(max_examples=80, deadline=None)
@given(case=broken_webhooks(), name=names)
def test_broken_webhooks_are_refused_naming_the_argument(
    case: tuple[object, type[Exception]], name: str
) -> None:
    value, error = case
    assert_refused(check.webhooks, value, name, error)


# --- The Run decoder ------------------------------------------------------------------------------

EXAMPLE: dict[str, Any] = run_response_examples()[0][1]
RUN_SCHEMA = SCHEMAS["Run"]
STATUSES: list[str] = SCHEMAS["ActorJobStatus"]["enum"]
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED-OUT", "ABORTED"}  # the statuses a run never leaves
ORIGINS: list[str] = SCHEMAS["RunOrigin"]["enum"]
PRICING_MODELS: list[str] = sorted(SCHEMAS["ActorRunPricingInfo"]["discriminator"]["mapping"])
# The fields the spec leaves out of `required`: absent or null, they must decode as None.
OPTIONAL_RUN_KEYS = sorted(set(RUN_SCHEMA["properties"]) - set(RUN_SCHEMA["required"]))
# `pricingInfo: null` is test_null_pricing_info_becomes_none's.
NULLABLE_RUN_KEYS = [k for k in OPTIONAL_RUN_KEYS if k != "pricingInfo"]
STATS_TYPES: dict[str, str] = {
    key: next(t for t in ([s["type"]] if isinstance(s["type"], str) else s["type"]) if t != "null")
    for key, s in SCHEMAS["RunStats"]["properties"].items()
}
META_OPTIONAL = ["clientIp", "userAgent", "scheduleId", "scheduledAt"]


def snake(camel_name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel_name).lower()


def decode(body: dict[str, Any]) -> Run:
    return run_response_decoder.decode(json.dumps(body).encode()).data


def example() -> dict[str, Any]:
    return copy.deepcopy(EXAMPLE)


def parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def as_sent(decoded: object, sent: object) -> bool:
    """Whether a decoded field holds what was sent: a whole number sent for a float field is
    held as the nearest float (2**53 + 1 as 2**53), as any JSON reader does."""
    if isinstance(decoded, float) and isinstance(sent, int) and not isinstance(sent, bool):
        return decoded == float(sent)
    return decoded == sent


def assert_decoded_as(run: Run, data: dict[str, Any]) -> None:
    """Every field this test knows of `run` equals the same field of the JSON it came from."""
    for key in ("id", "actId", "userId", "buildId", "defaultDatasetId", "defaultRequestQueueId"):
        assert getattr(run, snake(key)) == data[key], key
    assert run.default_key_value_store_id == data["defaultKeyValueStoreId"]
    for key in (
        "actorTaskId",
        "statusMessage",
        "isStatusMessageTerminal",
        "exitCode",
        "gitBranchName",
        "usageTotalUsd",
        "isContainerServerReady",
        "buildNumber",
        "containerUrl",
        "chargedEventCounts",
        "platformUsageBillingModel",
    ):
        assert getattr(run, snake(key)) == data.get(key), key
    # Enumerations stay plain str, known or not (a value from a newer API is no different).
    assert run.status == data["status"]
    assert type(run.status) is str
    assert run.started_at == parse_time(data["startedAt"])
    assert run.finished_at == parse_time(data.get("finishedAt"))
    access = data.get("generalAccess")
    assert run.general_access == access
    assert access is None or type(run.general_access) is str
    meta = data["meta"]
    assert run.meta.origin == meta["origin"]
    assert type(run.meta.origin) is str
    assert run.meta.client_ip == meta.get("clientIp")
    assert run.meta.user_agent == meta.get("userAgent")
    assert run.meta.schedule_id == meta.get("scheduleId")
    assert run.meta.scheduled_at == parse_time(meta.get("scheduledAt"))
    for key in STATS_TYPES:
        assert as_sent(getattr(run.stats, snake(key)), data["stats"].get(key)), key
    options = data["options"]
    assert run.options.build == options["build"]
    assert run.options.timeout_secs == options["timeoutSecs"]
    assert run.options.memory_mbytes == options["memoryMbytes"]
    assert run.options.disk_mbytes == options["diskMbytes"]
    for key in ("usage", "usageUsd"):
        usage = getattr(run, snake(key))
        if data.get(key) is None:
            assert usage is None
        else:
            known = SCHEMAS["RunUsage" if key == "usage" else "RunUsageUsd"]["properties"]
            for name, amount in data[key].items():
                if name in known:  # else a newer API's, ignored
                    assert as_sent(getattr(usage, name.lower()), amount), (key, name)
    storage_ids = data.get("storageIds")
    if storage_ids is None:
        assert run.storage_ids is None
    else:
        assert run.storage_ids is not None
        for key, aliases in storage_ids.items():
            decoded = getattr(run.storage_ids, snake(key), None)
            if isinstance(aliases, dict) and decoded is not None:
                assert decoded.default == aliases.get("default"), key


# Hypothesis draws these; `datetime.isoformat` writes them, with `Z` or an offset.
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=offsets
)
timestamps = st.builds(
    lambda moment, zulu: (
        moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if zulu else moment.isoformat()
    ),
    moments,
    st.booleans(),
)
# Keys no version of the API spells a field with (a hyphen), at any level.
unknown_keys = st.text(max_size=8).map(lambda s: "x-" + s)
unknown_fields = st.dictionaries(
    unknown_keys, json_values | st.integers() | st.just({"status": "nested"}), max_size=3
)
counts = st.integers(min_value=0, max_value=2**63 - 1)
amounts = st.floats(min_value=0, allow_infinity=False) | st.integers(min_value=0, max_value=2**53)


def stats_values(kind: str) -> st.SearchStrategy[Any]:
    return st.none() | (counts if kind == "integer" else amounts)


stats_objects = st.fixed_dictionaries(
    {}, optional={key: stats_values(kind) for key, kind in STATS_TYPES.items()}
)
statuses = st.sampled_from(STATUSES) | st.text(max_size=20)


@st.composite
def pricing_infos(draw: st.DrawFn) -> dict[str, Any]:
    """A pricing info object of a known or an unknown model."""
    model = draw(st.sampled_from(PRICING_MODELS) | st.text(max_size=20))
    info: dict[str, Any] = {
        "pricingModel": model,
        "apifyMarginPercentage": draw(amounts),
        "createdAt": draw(timestamps),
        "startedAt": draw(timestamps),
    }
    if draw(st.booleans()):
        info["reasonForChange"] = draw(st.none() | st.text(max_size=10))
    if model == "PAY_PER_EVENT":
        events = draw(
            st.dictionaries(
                st.text(max_size=10),
                st.fixed_dictionaries(
                    {"eventTitle": st.text(max_size=10), "eventDescription": st.text(max_size=10)},
                    optional={"eventPriceUsd": amounts, "isPrimaryEvent": st.booleans()},
                ),
                max_size=3,
            )
        )
        info["pricingPerEvent"] = {"actorChargeEvents": events}
        info["minimalMaxTotalChargeUsd"] = draw(st.none() | amounts)
    elif model in ("PRICE_PER_DATASET_ITEM", "FLAT_PRICE_PER_MONTH"):
        info["pricePerUnitUsd"] = draw(st.none() | amounts)
        info["unitName" if model == "PRICE_PER_DATASET_ITEM" else "trialMinutes"] = draw(
            st.text(max_size=10) if model == "PRICE_PER_DATASET_ITEM" else counts
        )
    info.update(draw(unknown_fields))
    return info


@st.composite
def run_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """`{"data": run}`: the spec's example, every field redrawn within what the API may send."""
    body = example()
    data = body["data"]
    data["id"] = draw(valid_ids)  # anything else is refused: see the next test
    data["status"] = draw(statuses)
    data["statusMessage"] = draw(st.none() | st.text(max_size=30))
    data["startedAt"] = draw(timestamps)
    data["finishedAt"] = draw(st.none() | timestamps)
    data["generalAccess"] = draw(st.sampled_from(GENERAL_ACCESS) | st.text(max_size=20))
    data["exitCode"] = draw(st.none() | st.integers(min_value=-(2**31), max_value=2**31))
    data["stats"] = draw(stats_objects)
    data["options"]["memoryMbytes"] = draw(st.sampled_from(sorted(POWERS_OF_TWO_IN_RANGE)))
    data["options"]["timeoutSecs"] = draw(counts)
    meta: dict[str, Any] = {"origin": draw(st.sampled_from(ORIGINS) | st.text(max_size=20))}
    data["meta"] = meta
    for key in draw(st.sets(st.sampled_from(META_OPTIONAL))):
        meta[key] = draw(st.none() | (timestamps if key == "scheduledAt" else st.text(max_size=30)))
    if draw(st.booleans()):
        data["pricingInfo"] = draw(pricing_infos())
    if draw(st.booleans()):
        data["chargedEventCounts"] = draw(st.dictionaries(st.text(max_size=8), counts, max_size=3))
    for key in draw(st.sets(st.sampled_from(OPTIONAL_RUN_KEYS), max_size=5)):
        data.pop(key, None)
    for key in draw(st.sets(st.sampled_from(NULLABLE_RUN_KEYS), max_size=5)):
        data[key] = None
    # Fields of a newer API, anywhere.
    objects = [body, data, meta, data["stats"], data["options"]]
    for key in ("storageIds", "usage", "usageUsd"):
        if isinstance(data.get(key), dict):
            objects.append(data[key])
    if isinstance(data.get("storageIds"), dict):
        objects += list(data["storageIds"].values())
    for target in draw(st.lists(st.sampled_from(objects), max_size=4)):
        target.update(draw(unknown_fields))
    return body


def assert_pricing_decoded_as(info: object, raw: dict[str, Any]) -> None:
    """One struct for every pricing model, known or not: each field as the JSON has it."""
    assert type(info) is PricingInfo
    assert info.pricing_model == raw["pricingModel"]
    assert info.apify_margin_percentage == raw.get("apifyMarginPercentage")
    assert info.created_at == parse_time(raw.get("createdAt"))
    assert info.started_at == parse_time(raw.get("startedAt"))
    assert info.reason_for_change == raw.get("reasonForChange")
    assert info.price_per_unit_usd == raw.get("pricePerUnitUsd")
    assert info.unit_name == raw.get("unitName")
    assert info.trial_minutes == raw.get("trialMinutes")
    assert info.minimal_max_total_charge_usd == raw.get("minimalMaxTotalChargeUsd")
    if "pricingPerEvent" not in raw:
        assert info.pricing_per_event is None
    else:
        assert info.pricing_per_event is not None
        events = info.pricing_per_event.actor_charge_events or {}
        raw_events = raw["pricingPerEvent"]["actorChargeEvents"]
        assert set(events) == set(raw_events)
        for event_name, event in events.items():
            assert event.event_title == raw_events[event_name]["eventTitle"]
            assert event.event_description == raw_events[event_name]["eventDescription"]
            assert event.event_price_usd == raw_events[event_name].get("eventPriceUsd")
            assert event.is_primary_event == raw_events[event_name].get("isPrimaryEvent")


def ok_response(body: bytes) -> Response:
    return Response(200, CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"})), body)


GET_RUN = Request("GET", f"/v2/actor-runs/{RUN_ID}")


@settings(max_examples=80, deadline=None)
@given(body=run_bodies())
def test_a_run_the_api_may_send_decodes_to_its_own_fields(body: dict[str, Any]) -> None:
    data = body["data"]
    run = decode(body)
    assert_decoded_as(run, data)
    if data.get("pricingInfo") is None:
        assert run.pricing_info is None
    else:
        assert_pricing_decoded_as(run.pricing_info, data["pricingInfo"])
    # The client's own path from a response to a Run gives the same run, and so do the plain
    # msgspec calls on the run alone (a webhook's `resource`, a run stored as JSON).
    assert responses.run(GET_RUN, ok_response(json.dumps(body).encode())) == run
    assert msgspec.json.decode(json.dumps(data).encode(), type=Run) == run
    assert msgspec.convert(data, Run) == run


@settings(max_examples=100, deadline=None)
@given(body=run_bodies(), breaker=st.sampled_from(URL_BREAKERS), at=st.integers(0, 20))
def test_a_run_id_that_would_change_a_url_is_refused(
    body: dict[str, Any], breaker: str, at: int
) -> None:
    # The id goes into every later URL: from a hostile server it must not reach one.
    run_id = body["data"]["id"]
    body["data"]["id"] = run_id[:at] + breaker + run_id[at:]
    with pytest.raises(InvalidResponseError, match="is not a run"):
        responses.run(GET_RUN, ok_response(json.dumps(body).encode()))


@settings(max_examples=100, deadline=None)
@given(info=pricing_infos())
def test_pricing_info_decodes_as_its_model_known_or_not(info: dict[str, Any]) -> None:
    body = example()
    body["data"]["pricingInfo"] = info
    assert_pricing_decoded_as(decode(body).pricing_info, info)


@settings(max_examples=100, deadline=None)
@given(status=statuses, finished_at=st.none() | timestamps)
def test_a_run_is_terminal_by_its_status_or_else_by_its_finish_time(
    status: str, finished_at: str | None
) -> None:
    body = example()
    body["data"]["status"] = status
    body["data"]["finishedAt"] = finished_at
    run = decode(body)
    # A status this version knows decides alone; one from a newer API counts as terminal once
    # the run has a finish time.
    expected = status in TERMINAL if status in STATUSES else finished_at is not None
    assert run.is_terminal is expected
    # The function is the same rule: given the finish time it agrees with the property, and
    # without one an unknown status is not terminal.
    assert _status.is_terminal(status, parse_time(finished_at)) is expected
    assert _status.is_terminal(run.status, run.finished_at) is run.is_terminal
    assert _status.is_terminal(status) is (status in TERMINAL)


DELETE: Any = object()  # a mutation that removes the key

# Paths to the objects of the example a mutation may reach into.
MUTABLE_PATHS: list[tuple[str, ...]] = [
    (),
    ("data",),
    ("data", "meta"),
    ("data", "stats"),
    ("data", "options"),
    ("data", "storageIds"),
    ("data", "storageIds", "datasets"),
    ("data", "usage"),
    ("data", "usageUsd"),
]


def _keys_at(path: tuple[str, ...]) -> list[str]:
    target: Any = EXAMPLE
    for key in path:
        target = target[key]
    return sorted(target)


mutations = st.lists(
    st.sampled_from(MUTABLE_PATHS).flatmap(
        lambda path: st.tuples(
            st.just(path),
            st.sampled_from([*_keys_at(path), "pricingInfo", "newField"]),
            st.just(DELETE) | json_values | pricing_infos(),
        )
    ),
    max_size=4,
)


@settings(max_examples=80, deadline=None)
@given(changes=mutations)
def test_any_mutation_decodes_to_its_own_fields_or_fails_validation(
    changes: list[tuple[tuple[str, ...], str, Any]],
) -> None:
    body = example()
    for path, key, value in changes:
        target: Any = body
        for step in path:
            target = target.get(step) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            continue  # an earlier change replaced or removed this object
        if value is DELETE:
            target.pop(key, None)
        else:
            target[key] = value
    try:
        run = decode(body)
    except msgspec.ValidationError:
        return  # InvalidResponseError in the client: see the next test
    assert_decoded_as(run, body["data"])
    raw_pricing = body["data"].get("pricingInfo")
    if raw_pricing is not None:
        assert_pricing_decoded_as(run.pricing_info, raw_pricing)


EXAMPLE_JSON = json.dumps(EXAMPLE).encode()
# Bodies, each with the reason the error must give for it (None: either will do).
garbage: st.SearchStrategy[tuple[bytes, str | None]] = (
    st.tuples(
        st.binary(max_size=300)
        | st.text(max_size=300).map(str.encode)
        | texts(string.printable, 195, 205).map(str.encode)
        | st.binary(min_size=195, max_size=900),
        st.none(),
    )
    | st.tuples(
        st.integers(min_value=0, max_value=len(EXAMPLE_JSON) - 1).map(lambda n: EXAMPLE_JSON[:n])
        | st.sampled_from([b"", b"\xff", b"{", b"nul", b'{"data": {', b"\xef\xbb\xbf{}"]),
        st.just("is not valid JSON"),
    )
    | st.tuples(
        json_values.map(lambda v: json.dumps(v).encode())
        | st.sampled_from([b"null", b"[]", b"{}", b'{"data": null}', b'{"data": []}']),
        st.just("is not a run"),
    )
)


@settings(max_examples=100, deadline=None)
@given(case=garbage)
def test_a_body_that_is_not_a_run_is_an_invalid_response_with_an_excerpt(
    case: tuple[bytes, str | None],
) -> None:
    body, reason = case
    with pytest.raises(InvalidResponseError) as info:
        responses.run(GET_RUN, ok_response(body))
    error = info.value
    assert error.status == 200
    assert str(error).startswith(f"GET {GET_RUN.path}: 200 response ")
    assert ("is not valid JSON" in str(error)) != ("is not a run" in str(error))
    if reason is not None:
        assert reason in str(error)
    # The excerpt is the start of the body, as printable text, cut at 200 characters.
    text = "".join(c if c.isprintable() else " " for c in body.decode("utf-8", errors="replace"))
    start = error.excerpt.removesuffix("...") if len(text) > 200 else error.excerpt
    assert text.startswith(start)
    assert len(start) == min(len(text), 200)
    assert error.excerpt.endswith("...") is (len(text) > 200)


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(min_value=0, max_value=len(EXAMPLE_JSON) - 1))
def test_a_truncated_run_is_not_valid_json(cut: int) -> None:
    body = EXAMPLE_JSON[:cut]
    with pytest.raises(InvalidResponseError, match="is not valid JSON") as info:
        responses.run(GET_RUN, ok_response(body))
    assert body.decode()[:200] in info.value.excerpt


# --- Whatever a hostile server sends: a typed error, never the token ---------------------------

HOSTILE_TOKEN = "tok/SECRET+props=91c4"
# The forms a server may echo it in: as it is, and URL-encoded.
TOKEN_FORMS = [HOSTILE_TOKEN, quote(HOSTILE_TOKEN, safe=""), quote_plus(HOSTILE_TOKEN)]
register_secret(HOSTILE_TOKEN)  # as a client given it does: kept out of every message


class _Item(msgspec.Struct):
    n: int


# Every reader of `_responses`, with a request it may be given (a run-level one names its run).
READERS: dict[str, tuple[Request, Callable[[Request, Response], object]]] = {
    "run": (Request("GET", "/v2/actor-runs/r1", run_id="r1"), responses.run),
    "run_or_none": (Request("GET", "/v2/actor-runs/r1", run_id="r1"), responses.run_or_none),
    "started_run": (Request("POST", "/v2/acts/a~b/runs"), responses.run),
    "run_list": (Request("GET", "/v2/acts/a~b/runs"), responses.run_list),
    "run_list_and_time": (Request("GET", "/v2/acts/a~b/runs"), responses.run_list_and_time),
    "record_or_none": (
        Request("GET", "/v2/key-value-stores/s/records/k"),
        responses.record_or_none,
    ),
    "key_list": (Request("GET", "/v2/key-value-stores/s/keys"), responses.key_list),
    "found": (Request("HEAD", "/v2/key-value-stores/s/records/k"), responses.found),
    "text": (Request("GET", "/v2/actor-runs/r1/log"), responses.text),
    "content": (Request("GET", "/v2/datasets/d/items"), responses.content),
    "no_content": (Request("DELETE", "/v2/actor-runs/r1"), responses.no_content),
    "refuse": (Request("GET", "/v2/actor-runs/r1/log"), responses.refuse),
    "dataset": (Request("GET", "/v2/datasets/d"), responses.dataset),
    "dataset_or_none": (Request("GET", "/v2/datasets/d"), responses.dataset_or_none),
    "items": (
        Request("GET", "/v2/datasets/d/items"),
        lambda rq, rs: responses.item_page(rq, rs, responses.item_decoders(Any)),
    ),
    "typed_items": (
        Request("GET", "/v2/datasets/d/items"),
        lambda rq, rs: responses.item_page(rq, rs, responses.item_decoders(_Item)),
    ),
}

echoed_token = st.sampled_from(TOKEN_FORMS)
hostile_text = st.text(max_size=40) | with_inserted(st.text(max_size=300), echoed_token)
hostile_bodies = (
    st.binary(max_size=400)
    | hostile_text.map(str.encode)
    | st.builds(
        lambda t, m: json.dumps({"error": {"type": t, "message": m}}).encode(),
        hostile_text | st.integers() | st.none(),
        hostile_text | json_values,
    )
    | st.builds(
        lambda at, depth, inner: at + b"[" * depth + inner + b"]" * depth + b"}" * at.count(b"{"),
        st.sampled_from([b"", b'{"error": {"more": ', b'{"data": ', b'{"data": {"more": ']),
        st.integers(min_value=0, max_value=5000),  # past the nesting msgspec allows
        st.binary(max_size=10),
    )
    | json_values.map(lambda value: json.dumps({"data": value}).encode())
    | st.sampled_from([b'{"error": {"type": 1e999}}', b'{"a": 1, "a": 2}', b"\xff" * 10])
)
header_values = (
    hostile_text
    | st.integers().map(str)
    | st.floats().map(str)
    | st.datetimes().map(lambda moment: moment.strftime("%a, %d %b %Y %H:%M:%S GMT"))
    | st.sampled_from(["application/json", "application/json; charset=utf-8", "true", "-1"])
)
HEADER_NAMES = [
    "Content-Type",
    "Retry-After",
    "Date",
    "Content-Encoding",
    *(f"X-Apify-Pagination-{n}" for n in ("Offset", "Limit", "Count", "Total", "Desc")),
]
hostile_headers = st.dictionaries(st.sampled_from(HEADER_NAMES), header_values, max_size=7)


@settings(max_examples=150, deadline=None)
@given(
    reader=st.sampled_from(sorted(READERS)),
    status=st.integers(min_value=100, max_value=599),
    headers=hostile_headers,
    body=hostile_bodies,
)
def test_any_response_is_data_or_a_typed_error_without_the_token(
    reader: str, status: int, headers: dict[str, str], body: bytes
) -> None:
    request, read = READERS[reader]
    response = Response(status, CIMultiDictProxy(CIMultiDict(headers)), body)
    error: ApifyError | None = None
    try:
        read(request, response)
    except ApifyError as raised:  # anything else fails the test
        error = raised
    if error is None:
        return
    assert not [t for t in everything_about(error) for form in TOKEN_FORMS if form in t]
    if isinstance(error, ApiError):
        assert error.status == status
        assert error.retry_after is None or error.retry_after >= 0


@settings(max_examples=150, deadline=None)
@given(value=header_values)
def test_any_retry_after_is_a_wait_or_none(value: str) -> None:
    wait = responses.retry_after(value)
    assert wait is None or (wait >= 0 and math.isfinite(wait))


# --- Bugs these properties found, now fixed ----------------------------------------------------


def test_null_pricing_info_becomes_none() -> None:
    body = example()
    body["data"]["pricingInfo"] = None
    assert decode(body).pricing_info is None


def test_a_deeply_nested_body_is_an_invalid_response() -> None:
    depth = 100_000
    body = EXAMPLE_JSON[:-2] + b', "newField": ' + b"[" * depth + b"]" * depth + b"}}"
    with pytest.raises(InvalidResponseError):
        responses.run(GET_RUN, ok_response(body))


@pytest.mark.parametrize("validate", [validate for validate, _ in NUMBER_RULES])
def test_huge_ints_are_refused_naming_the_argument(
    validate: Callable[[object, str], object],
) -> None:
    assert_refused(validate, 10**400, "some_arg", ValueError)


@pytest.mark.parametrize("validate", [check.permission_level, check.general_access])
def test_unhashable_enum_values_name_the_argument(
    validate: Callable[[object, str], object],
) -> None:
    assert_refused(validate, ["FULL_PERMISSIONS"], "some_arg", TypeError)


@pytest.mark.parametrize("value", ["0\x1f", "\x1c5", "7\u2028"])
def test_a_retry_after_with_odd_whitespace_is_unreadable_not_a_crash(value: str) -> None:
    assert responses.retry_after(value) is None


def test_a_webhook_value_json_cannot_hold_names_the_argument() -> None:
    hook = {"event_types": ["ACTOR.RUN.SUCCEEDED"], "request_url": "https://x", "x": object()}
    assert_refused(check.webhooks, [hook], "webhooks", TypeError)
