"""Bad arguments fail before any request, with a message that names the argument.

The client here points at a port nobody listens on: had a request been sent, the error would
be an ApifyConnectionError, not the ValueError or TypeError the tests expect.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apify_runs_async import ApifyConnectionError, ApifyRuns, CoolDown, RateLimits, Timeouts
from apify_runs_async import _validation as check
from tests.helpers import ONE_TRY

pytestmark = pytest.mark.anyio

NOWHERE = "http://127.0.0.1:9"  # the discard port: closed on any sane test machine


@pytest.fixture
async def offline() -> AsyncIterator[ApifyRuns]:
    async with ApifyRuns("secret-token", base_url=NOWHERE) as client:
        yield client


BAD_IDS = ["", "a/b/c", "..", "a..b", "has space", "tab\there", "new\nline", "nul\x00", "é", "?q"]


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_bad_run_ids_are_refused(offline: ApifyRuns, bad: str) -> None:
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: offline.get(bad),
        lambda: offline.abort(bad),
        lambda: offline.reboot(bad),
        lambda: offline.delete(bad),
        lambda: offline.update(bad, status_message="x"),
        lambda: offline.resurrect(bad),
        lambda: offline.metamorph(bad, target_actor_id="a~b"),
        lambda: offline.wait_for_finish(bad),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="run_id"):
            await call()
    # What a run produced is read from `run`: an id or a Run.
    for reading in (offline.get_record(bad), offline.record_exists(bad, "K"), offline.get_log(bad)):
        with pytest.raises(ValueError, match="run "):
            await reading
    with pytest.raises(ValueError, match="run_id"):
        offline.watch(bad)
    with pytest.raises(ValueError, match="run_id"):
        offline.run(bad)


@pytest.mark.parametrize("bad", [*BAD_IDS, "owner/"])
async def test_bad_actor_and_task_ids_are_refused(offline: ApifyRuns, bad: str) -> None:
    with pytest.raises(ValueError, match="actor_id"):
        await offline.start(bad)
    with pytest.raises(ValueError, match="task_id"):
        await offline.start_task(bad)
    with pytest.raises(ValueError, match="target_actor_id"):
        await offline.metamorph("run1", target_actor_id=bad)


@pytest.mark.parametrize("bad", ["", "a/b", "..", "white space", "x" * 257, 'quote"', "?"])
async def test_bad_record_keys_are_refused(offline: ApifyRuns, bad: str) -> None:
    with pytest.raises(ValueError, match="key"):
        await offline.get_record("run1", bad)


def test_record_keys_may_use_what_the_platform_allows() -> None:
    assert check.record_key("INPUT-METAMORPH-1") == "INPUT-METAMORPH-1"
    assert check.record_key("it's(ok)!_.") == "it's(ok)!_."


async def test_ids_of_the_wrong_type_are_refused(offline: ApifyRuns) -> None:
    with pytest.raises(TypeError, match="run_id"):
        await offline.get(123)  # type: ignore[arg-type]


def test_owner_slash_name_becomes_owner_tilde_name() -> None:
    assert check.actor_id("janedoe/my-actor", "actor_id") == "janedoe~my-actor"
    assert check.actor_id("janedoe~my-actor", "actor_id") == "janedoe~my-actor"
    assert check.actor_id("HDSasDasz78YcAPEB", "actor_id") == "HDSasDasz78YcAPEB"


@pytest.mark.parametrize("memory", [0, 64, 100, 127, 129, 1000, 3072, 65536, -256, True, 1024.0])
async def test_memory_must_be_a_power_of_two_in_range(offline: ApifyRuns, memory: Any) -> None:
    with pytest.raises((ValueError, TypeError), match="memory_mbytes"):
        await offline.start("a~b", memory_mbytes=memory)
    with pytest.raises((ValueError, TypeError), match="memory_mbytes"):
        await offline.resurrect("run1", memory_mbytes=memory)


@pytest.mark.parametrize("memory", [128, 256, 1024, 32768])
def test_valid_memory(memory: int) -> None:
    assert check.memory_mbytes(memory) == memory


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"timeout_secs": -1}, "timeout_secs"),
        ({"timeout_secs": float("nan")}, "timeout_secs"),
        ({"wait_for_finish": -1}, "wait_for_finish"),
        ({"wait_for_finish": 61}, "wait_for_finish"),
        ({"max_items": 0}, "max_items"),
        ({"max_items": 1.5}, "max_items"),
        ({"max_total_charge_usd": -0.01}, "max_total_charge_usd"),
        ({"restart_on_error": "yes"}, "restart_on_error"),
        ({"build": ""}, "build"),
        ({"build": "has space"}, "build"),
        ({"force_permission_level": "ROOT"}, "force_permission_level"),
        ({"webhooks": {"event_types": ["x"]}}, "webhooks"),
        ({"webhooks": [{"request_url": "https://x"}]}, "webhooks"),
        ({"webhooks": [{"event_types": [], "request_url": "https://x"}]}, "webhooks"),
        ({"webhooks": [{"event_types": ["A"]}]}, "webhooks"),
        ({"webhooks": ["not a dict"]}, "webhooks"),
    ],
)
async def test_bad_start_options(offline: ApifyRuns, kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises((ValueError, TypeError), match=name):
        await offline.start("a~b", **kwargs)


@pytest.mark.parametrize(
    ("run_input", "content_type", "name"),
    [
        (42, None, "run_input"),
        ({1, 2}, None, "run_input"),
        (b"raw", None, "content_type"),
        ("text", None, "content_type"),
        ({"a": 1}, "text/plain", "content_type"),
        (None, "application/json", "content_type"),
        ({"a": object()}, None, "run_input"),
        (b"raw", "text/plain\r\nX-Evil: 1", "content_type"),
    ],
)
async def test_bad_run_input(
    offline: ApifyRuns, run_input: Any, content_type: str | None, name: str
) -> None:
    with pytest.raises((ValueError, TypeError), match=name):
        await offline.start("a~b", run_input, content_type=content_type)


async def test_bad_get_and_watch_options(offline: ApifyRuns) -> None:
    with pytest.raises(ValueError, match="wait_for_finish"):
        await offline.get("run1", wait_for_finish=61)
    with pytest.raises(ValueError, match="wait_for_finish"):
        await offline.get("run1", wait_for_finish=-0.5)
    with pytest.raises(ValueError, match="wait_secs"):
        await offline.wait_for_finish("run1", wait_secs=-1)
    for interval in (0, 0.5, 61, -1):
        with pytest.raises(ValueError, match="poll_interval"):
            offline.watch("run1", poll_interval=interval)
    with pytest.raises(TypeError, match="gracefully"):
        await offline.abort("run1", gracefully="yes")  # type: ignore[arg-type]


async def test_bad_update_options(offline: ApifyRuns) -> None:
    with pytest.raises(ValueError, match="status_message"):
        await offline.update("run1")
    with pytest.raises(ValueError, match="general_access"):
        await offline.update("run1", general_access="EVERYONE")
    with pytest.raises(TypeError, match="status_message"):
        await offline.update("run1", status_message=5)  # type: ignore[arg-type]


async def test_a_valid_call_does_reach_for_the_network(offline: ApifyRuns) -> None:
    # The counterpart of every test above: with good arguments, a request is attempted.
    with pytest.raises(ApifyConnectionError, match="GET /v2/actor-runs/run1"):
        await offline.get("run1", retries=ONE_TRY)


def test_bad_client_settings() -> None:
    with pytest.raises(ValueError, match="base_url"):
        ApifyRuns(base_url="ftp://example.com")
    with pytest.raises(ValueError, match="base_url"):
        ApifyRuns(base_url="https://user:pass@example.com")
    with pytest.raises(ValueError, match="token"):
        ApifyRuns("   ")
    with pytest.raises(ValueError, match="max_connections"):
        ApifyRuns(max_connections=0)
    with pytest.raises(ValueError, match=r"Timeouts\.read"):
        Timeouts(read=0)
    with pytest.raises(ValueError, match=r"Timeouts\.connect"):
        Timeouts(connect=-1)
    with pytest.raises(TypeError, match=r"Timeouts\.read"):
        Timeouts(read="slow")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"CoolDown\.first_secs"):
        CoolDown(first_secs=0)
    with pytest.raises(ValueError, match=r"RateLimits\.run_start_per_sec"):
        RateLimits(run_start_per_sec=0)


@given(st.text(min_size=1, max_size=40))
def test_accepted_ids_are_always_url_safe(value: str) -> None:
    try:
        accepted = check.resource_id(value, "run_id")
    except ValueError:
        return
    assert accepted == value
    assert ".." not in accepted
    assert all(c.isascii() and (c.isalnum() or c in "._~-") for c in accepted)


@given(st.integers(min_value=-(2**40), max_value=2**40))
def test_memory_accepts_exactly_the_powers_of_two_in_range(value: int) -> None:
    valid = value in {2**n for n in range(7, 16)}
    try:
        check.memory_mbytes(value)
    except ValueError:
        assert not valid
    else:
        assert valid
