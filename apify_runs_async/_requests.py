"""Build each API request from checked arguments: pure functions, no I/O.

The twin of `_responses.py`: one function per operation turns its arguments into a `Request`,
checking each (see `_validation.py`) before anything is sent. `ApifyRuns` sends what these
build; `_reconcile.py` builds its look-ups here too.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypedDict

import msgspec

from . import _validation as check
from ._http import Request
from ._webhook_receiver import WebhookReceiver  # at run time too: `get_type_hints` of options

JSON = "application/json"
MAX_LIST_LIMIT = 1000  # the most items one page of a list holds
MAX_IDEMPOTENCY_KEY_CHARS = 256

JsonInput = Mapping[str, Any] | Sequence[Any]
"""A run input sent as JSON: a dict, or a list."""

RunInput = JsonInput | bytes | str | None
"""A run input: JSON (a dict or list), or bytes / str sent as they are with `content_type`."""


class TaskStartOptions(TypedDict, total=False):
    """The options of a run of a task: `start_task`, `call_task`. None is the same as not
    giving the option: the Actor's or task's own setting applies."""

    build: str | None
    timeout_secs: float | None
    memory_mbytes: int | None
    max_items: int | None
    max_total_charge_usd: float | None
    restart_on_error: bool | None
    webhooks: Sequence[Mapping[str, Any] | WebhookReceiver] | WebhookReceiver | None


class StartOptions(TaskStartOptions, total=False):
    """The options of a run of an Actor: `start`, `call`, `call_many`."""

    content_type: str | None
    force_permission_level: str | None


START_OPTIONS = frozenset(StartOptions.__annotations__)
_TASK_START_OPTIONS = frozenset(TaskStartOptions.__annotations__)
_RESURRECT_OPTIONS = _TASK_START_OPTIONS - {"webhooks"}


# --- Runs -----------------------------------------------------------------------------------


def start(
    actor_id: str, run_input: RunInput, wait_for_finish: float | None, options: StartOptions
) -> Request:
    path = f"/v2/actors/{check.actor_id(actor_id, 'actor_id')}/runs"
    params = start_params(options, wait_for_finish)
    body, content_type = encode_input(run_input, options.get("content_type"), "run_input")
    return Request("POST", path, params, body, content_type, _hold(params))


def start_task(
    task_id: str,
    task_input: JsonInput | None,
    wait_for_finish: float | None,
    options: TaskStartOptions,
) -> Request:
    path = f"/v2/actor-tasks/{check.actor_id(task_id, 'task_id')}/runs"
    params = start_params(options, wait_for_finish, allowed=_TASK_START_OPTIONS)
    body, content_type = encode_input(task_input, None, "task_input")
    return Request("POST", path, params, body, content_type, _hold(params))


def get_run(run_id: str, wait_for_finish: float | None = None) -> Request:
    if wait_for_finish is None:
        return poll_run(check.resource_id(run_id, "run_id"), 0)
    hold = math.ceil(check.wait_secs(wait_for_finish, "wait_for_finish"))
    return poll_run(check.resource_id(run_id, "run_id"), hold)


def poll_run(run_id: str, hold: int) -> Request:
    """GET a run whose id is checked already, held up to `hold` whole seconds."""
    params = {"waitForFinish": str(hold)} if hold else None
    return Request("GET", f"/v2/actor-runs/{run_id}", params, long_poll_secs=hold, run_id=run_id)


def abort(run_id: str, gracefully: bool | None) -> Request:
    params = _query(gracefully=_flag(gracefully, "gracefully"))
    return Request("POST", f"{run_path(run_id)}/abort", params, run_id=run_id)


def metamorph(
    run_id: str,
    target_actor_id: str,
    target_actor_build: str | None,
    run_input: RunInput,
    content_type: str | None,
) -> Request:
    params = _query(
        targetActorId=check.actor_id(target_actor_id, "target_actor_id"),
        build=_tag(target_actor_build, "target_actor_build"),
    )
    body, body_type = encode_input(run_input, content_type, "run_input")
    return Request("POST", f"{run_path(run_id)}/metamorph", params, body, body_type, run_id=run_id)


def resurrect(run_id: str, options: Mapping[str, Any]) -> Request:
    """`options`: those of `start_task` but `webhooks`, as the original run's defaults."""
    params = start_params(options, allowed=_RESURRECT_OPTIONS)
    return Request("POST", f"{run_path(run_id)}/resurrect", params, run_id=run_id)


def reboot(run_id: str) -> Request:
    return Request("POST", f"{run_path(run_id)}/reboot", run_id=run_id)


def update(
    run_id: str,
    status_message: str | None,
    is_status_message_terminal: bool | None,
    general_access: str | None,
) -> Request:
    body: dict[str, str | bool] = {}
    if status_message is not None:
        body["statusMessage"] = check.text(status_message, "status_message")
    if is_status_message_terminal is not None:
        body["isStatusMessageTerminal"] = check.flag(
            is_status_message_terminal, "is_status_message_terminal"
        )
    if general_access is not None:
        body["generalAccess"] = check.general_access(general_access)
    if not body:
        raise ValueError(
            "update() needs status_message, is_status_message_terminal or general_access"
        )
    return Request("PUT", run_path(run_id), None, msgspec.json.encode(body), JSON, run_id=run_id)


def delete(run_id: str) -> Request:
    return Request("DELETE", run_path(run_id), run_id=run_id)


def run_store(run_id: str) -> str:
    """The path of a run's default key-value store."""
    return f"{run_path(run_id)}/key-value-store"


def store(store_id: str) -> str:
    """The path of a key-value store given by its id."""
    return f"/v2/key-value-stores/{check.resource_id(store_id, 'store_id')}"


def get_record(store_path: str, key: str) -> Request:
    return Request("GET", f"{store_path}/records/{check.record_key(key)}", record_read=True)


def record_exists(store_path: str, key: str) -> Request:
    return Request("HEAD", f"{store_path}/records/{check.record_key(key)}")


def get_store(store_path: str) -> Request:
    return Request("GET", store_path)


def list_keys(store_path: str, prefix: str | None, start_after: str | None) -> Request:
    """A page of the store's keys after `start_after`, of those that start with `prefix`."""
    params = _query(
        prefix=None if prefix is None else check.record_key(prefix, "prefix"),
        exclusiveStartKey=start_after,
        limit=str(MAX_LIST_LIMIT),
    )
    return Request("GET", f"{store_path}/keys", params)


def get_log(run_id: str) -> Request:
    # A log may be long: it may be as large as a record, and redirected as one.
    return Request("GET", f"{run_path(run_id)}/log", record_read=True)


def charge(run_id: str, event_name: str, count: int, idempotency_key: str | None) -> Request:
    """Charge a pay-per-event run. The key is sent with every try, so a retried charge is
    counted once; one is made up when none is given."""
    body = {
        "eventName": check.tag(event_name, "event_name"),
        "count": check.positive_int(count, "count"),
    }
    if idempotency_key is None:
        idempotency_key = f"{run_id}-{secrets.token_hex(16)}"
    key = check.header_value(idempotency_key, "idempotency_key")
    if len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise ValueError(f"idempotency_key must be at most {MAX_IDEMPOTENCY_KEY_CHARS} characters")
    return Request(
        "POST",
        f"{run_path(run_id)}/charge",
        body=msgspec.json.encode(body),
        content_type=JSON,
        headers={"idempotency-key": key},
    )


def stream_log(run_id: str) -> Request:
    # A quiet run sends nothing: a chunk may take as long as a long-poll's answer. A stream
    # that times out is opened again, and the API sends the whole log again from its start.
    return Request(
        "GET", f"{run_path(run_id)}/log", {"stream": "1"}, long_poll_secs=check.MAX_WAIT_SECS
    )


def list_runs(
    actor_id: str | None,
    task_id: str | None,
    *,
    status: str | Iterable[str] | None,
    offset: int,
    limit: int | None,
    desc: bool | None,
    started_after: datetime | None,
    started_before: datetime | None,
) -> Request:
    """A page of an Actor's runs, a task's, or (with neither) all the user's."""
    if limit is not None and check.positive_int(limit, "limit") > MAX_LIST_LIMIT:
        raise ValueError(f"limit must be at most {MAX_LIST_LIMIT}, got {limit!r}")
    params = _query(
        status=_statuses(status),
        offset=str(check.non_negative_int(offset, "offset")),
        limit=None if limit is None else str(limit),
        desc=_flag(desc, "desc"),
        startedAfter=_moment(started_after, "started_after"),
        startedBefore=_moment(started_before, "started_before"),
    )
    return Request("GET", runs_path(actor_id, task_id), params)


def runs_page(
    runs_path: str,
    *,
    offset: int,
    limit: int,
    desc: bool,
    started_after: datetime | None = None,
) -> Request:
    """A page of the runs at `runs_path` (an Actor's or a task's), as a start's look-up reads."""
    params = {"desc": "true" if desc else "false", "limit": str(limit), "offset": str(offset)}
    after = _moment(started_after, "started_after")
    if after is not None:
        params["startedAfter"] = after
    return Request("GET", runs_path, params)


def last_run(
    actor_id: str | None, task_id: str | None, status: str | None, origin: str | None
) -> Request:
    """The last run of an Actor or a task, of a status or origin if given."""
    if actor_id is None and task_id is None:
        raise ValueError("the last run is an Actor's or a task's: give actor_id or task_id")
    params = _query(
        status=None if status is None else check.tag(status, "status"),
        origin=None if origin is None else check.tag(origin, "origin"),
    )
    return Request("GET", f"{runs_path(actor_id, task_id)}/last", params)


def runs_path(actor_id: str | None, task_id: str | None) -> str:
    if actor_id is not None and task_id is not None:
        raise ValueError("give actor_id or task_id, not both")
    if actor_id is not None:
        return f"/v2/actors/{check.actor_id(actor_id, 'actor_id')}/runs"
    if task_id is not None:
        return f"/v2/actor-tasks/{check.actor_id(task_id, 'task_id')}/runs"
    return "/v2/actor-runs"


def _statuses(value: str | Iterable[str] | None) -> str | None:
    """One status, or several: the API takes them comma-separated."""
    if value is None:
        return None
    statuses = [value] if isinstance(value, str) else list(check.many(value, "status"))
    if not statuses:
        raise ValueError("status must name at least one status")
    return ",".join(check.tag(status, "status") for status in statuses)


def _moment(value: datetime | None, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- Dataset items ----------------------------------------------------------------------------

ITEM_FORMATS = ("json", "jsonl", "csv")


class ItemFilters(TypedDict, total=False):
    """How dataset items are picked and shaped: `list_items`, `iterate_items`,
    `download_items`. None is the same as not giving the option.

    `fields` and `omit` keep or drop fields; `unwind` spreads an array (or object) field into
    items of their own; `flatten` turns nested objects into `a.b` fields; `clean` skips empty
    items and hidden (`#`) fields, as `skip_empty` and `skip_hidden` do one each; `desc`
    reads newest first; `view` picks a view of the dataset's schema.
    """

    fields: str | Sequence[str] | None
    omit: str | Sequence[str] | None
    unwind: str | Sequence[str] | None
    flatten: str | Sequence[str] | None
    clean: bool | None
    desc: bool | None
    skip_empty: bool | None
    skip_hidden: bool | None
    view: str | None


_ITEM_FILTERS = frozenset(ItemFilters.__annotations__)


def dataset_path(dataset_id: str) -> str:
    return f"/v2/datasets/{check.resource_id(dataset_id, 'dataset_id')}"


def run_dataset_path(run_id: str) -> str:
    """A run's default dataset, which the API serves under the run."""
    return f"{run_path(run_id)}/dataset"


def run_items_path(run_id: str) -> str:
    return f"{run_dataset_path(run_id)}/items"


def get_dataset(dataset_id: str) -> Request:
    return Request("GET", dataset_path(dataset_id))


def item_params(filters: Mapping[str, Any]) -> dict[str, str]:
    """The filters as the API names them, each checked (misspelt ones as keywords are)."""
    for name in filters:
        if name not in _ITEM_FILTERS:
            raise TypeError(f"got an unexpected keyword argument {name!r}")
    return _query(
        fields=_names(filters.get("fields"), "fields"),
        omit=_names(filters.get("omit"), "omit"),
        unwind=_names(filters.get("unwind"), "unwind"),
        flatten=_names(filters.get("flatten"), "flatten"),
        clean=_flag(filters.get("clean"), "clean"),
        desc=_flag(filters.get("desc"), "desc"),
        skipEmpty=_flag(filters.get("skip_empty"), "skip_empty"),
        skipHidden=_flag(filters.get("skip_hidden"), "skip_hidden"),
        view=_tag(filters.get("view"), "view"),
    )


def list_items(
    items_path: str, params: Mapping[str, str], offset: int, limit: int | None
) -> Request:
    """A page of items (JSON) at `items_path`, with checked `item_params`."""
    query = dict(params)
    query["offset"] = str(check.non_negative_int(offset, "offset"))
    if limit is not None:
        query["limit"] = str(check.positive_int(limit, "limit"))
    # Items may be many and large: a page may be as large as a record.
    return Request("GET", items_path, query, record_read=True)


def download_items(items_path: str, params: Mapping[str, str], item_format: str) -> Request:
    """Every item at `items_path` in `item_format` (json, jsonl or csv)."""
    if item_format not in ITEM_FORMATS:
        raise ValueError(f"format must be one of {', '.join(ITEM_FORMATS)}, got {item_format!r}")
    return Request("GET", items_path, {**params, "format": item_format}, record_read=True)


def _names(value: str | Iterable[str] | None, name: str) -> str | None:
    """Field names, one or several: the API takes them comma-separated."""
    if value is None:
        return None
    if not isinstance(value, str | Iterable):
        raise TypeError(f"{name} must be a str or a list of them, not {type(value).__name__}")
    names = [value] if isinstance(value, str) else list(value)
    if not names:
        raise ValueError(f"{name} must name at least one field")
    return ",".join(check.tag(field, name) for field in names)


# --- Parts of requests ------------------------------------------------------------------------


def run_path(run_id: str) -> str:
    return f"/v2/actor-runs/{check.resource_id(run_id, 'run_id')}"


def start_params(
    options: Mapping[str, Any],
    wait_for_finish: float | None = None,
    *,
    allowed: frozenset[str] = START_OPTIONS,
) -> dict[str, str]:
    """The start options as the API names them, each checked: shared by start, start_task and
    resurrect, and checked up front by call_many so that a bad one fails before any run."""
    # Options come as **kwargs: a misspelt one must fail as a misspelt keyword would.
    for name in options:
        if name not in allowed:
            raise TypeError(f"got an unexpected keyword argument {name!r}")
    params = _query(
        build=_tag(options.get("build"), "build"),
        restartOnError=_flag(options.get("restart_on_error"), "restart_on_error"),
    )
    if (timeout_secs := options.get("timeout_secs")) is not None:
        params["timeout"] = _whole_seconds(check.non_negative(timeout_secs, "timeout_secs"))
    if (memory := options.get("memory_mbytes")) is not None:
        params["memory"] = str(check.memory_mbytes(memory))
    if (max_items := options.get("max_items")) is not None:
        params["maxItems"] = str(check.positive_int(max_items, "max_items"))
    if (usd := options.get("max_total_charge_usd")) is not None:
        params["maxTotalChargeUsd"] = _decimal(check.non_negative(usd, "max_total_charge_usd"))
    if wait_for_finish is not None:
        params["waitForFinish"] = _whole_seconds(
            check.wait_secs(wait_for_finish, "wait_for_finish")
        )
    if (webhooks := options.get("webhooks")) is not None:
        params["webhooks"] = check.webhooks(webhooks)
    if (level := options.get("force_permission_level")) is not None:
        params["forcePermissionLevel"] = check.permission_level(level)
    if (content_type := options.get("content_type")) is not None:
        check.header_value(content_type, "content_type")
    return params


def encode_input(
    value: object, content_type: str | None, name: str
) -> tuple[bytes | None, str | None]:
    """The request body and its content type for a run input."""
    check.run_input(value, content_type, name)
    if value is None:
        return None, None
    if isinstance(value, bytes | str):
        return (value.encode() if isinstance(value, str) else value), content_type
    try:
        return msgspec.json.encode(value), JSON
    except (TypeError, msgspec.EncodeError) as exc:
        raise TypeError(f"{name} cannot be encoded as JSON: {exc}") from exc


def _hold(params: Mapping[str, str]) -> int:
    """How long the server may hold a start: its waitForFinish, in whole seconds."""
    return int(params.get("waitForFinish", 0))


def _whole_seconds(value: float) -> str:
    # The API takes whole seconds; a fraction is rounded up, so the wait is never shorter.
    return str(math.ceil(value))


def _decimal(value: float) -> str:
    # Plain notation: str(1e-07) would be "1e-07", which a query parser may not read.
    return format(Decimal(repr(value)), "f") if isinstance(value, float) else str(value)


def _tag(value: object, name: str) -> str | None:
    return None if value is None else check.tag(value, name)


def _flag(value: object, name: str) -> str | None:
    return None if value is None else ("true" if check.flag(value, name) else "false")


def _query(**params: str | None) -> dict[str, str]:
    """Query parameters, leaving out the ones not given."""
    return {name: value for name, value in params.items() if value is not None}
