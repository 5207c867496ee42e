"""The HTTP endpoints: read and check each request, act on the runs, shape the answer.

A run is found by its id (`/v2/actor-runs/{runId}`), or as the last run of an Actor or a task
(`.../runs/last`, filtered by `status` and `origin`); every per-run operation is served under
each of these prefixes, like the real API does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler

from .._status import GeneralAccess, RunOrigin
from . import _params as params
from ._actors import Actor, Build, Catalog, Task
from ._auth import ANONYMOUS_ROUTE, request_token
from ._body import read_input, read_json_object
from ._datasets import Dataset, dataset_response, items_response
from ._errors import ApiError, invalid_input, json_body_response, json_response, not_found
from ._faults import Endpoint
from ._injection import end_stream, write_stream
from ._runs import Run, RunList, RunMeta, RunOptions, Runs
from ._shapes import run_body, runs_page
from ._storage import JSON_CONTENT_TYPE, KeyValueStore, Record, is_json_content_type
from ._store_shapes import keys_page, store_data
from ._webhooks import adhoc_webhooks


@dataclass(frozen=True, slots=True)
class Platform:
    """The emulated platform's state: what the handlers act on."""

    catalog: Catalog
    runs: Runs


PLATFORM = web.AppKey("platform", Platform)


def _platform(request: web.Request) -> Platform:
    return request.app[PLATFORM]


def _actor(request: web.Request) -> Actor:
    ref = request.match_info["actorId"]
    actor = _platform(request).catalog.actor(ref)
    if actor is None:
        raise not_found(f"Actor '{ref}' was not found.")
    return actor


def _task(request: web.Request) -> Task:
    ref = request.match_info["taskId"]
    task = _platform(request).catalog.task(ref)
    if task is None:
        raise not_found(f"Actor task '{ref}' was not found.")
    return task


def _locate(request: web.Request) -> Run:
    """The run a per-run path names: by id, or the last run of an Actor or a task."""
    match = request.match_info
    runs = _platform(request).runs
    owner: Actor | Task | None = None
    if "taskId" in match:
        owner = _task(request)
    elif "actorId" in match:
        owner = _actor(request)
    run_id = match["runId"]
    if owner is None or run_id != "last":
        found = runs.get(run_id)
        if found is None:
            raise not_found(f"Actor run '{run_id}' was not found.")
        return found
    status = params.choice(request.query, "status", params.STATUSES)
    origin = params.choice(request.query, "origin", params.ORIGINS)
    for run in reversed(runs.owned_by(owner)):
        if status in (None, run.status) and origin in (None, run.meta.origin):
            return run
    raise not_found("No run matches: the Actor or task has no such last run.")


def _run_response(request: web.Request, run: Run, *, status: int = 200) -> web.Response:
    # Costs are only for whoever authenticated; anybody with the run id may read the rest.
    with_costs = request_token(request) is not None
    return json_body_response(run_body(run, with_costs=with_costs), status=status)


def _resolve_build(actor: Actor, tag: str) -> Build:
    build = actor.resolve_build(tag)
    if build is None:
        raise ApiError(
            400, "unknown-build-tag", f"Build with tag '{tag}' was not found for the Actor."
        )
    return build


def _run_options(
    request: web.Request, actor: Actor, base: RunOptions | None
) -> tuple[RunOptions, Build]:
    """Run options from the query; what it leaves out comes from `base` or the Actor."""
    query = request.query
    tag = query.get("build") or (base.build if base else "latest")
    build = _resolve_build(actor, tag)
    timeout = params.number(query, "timeout")
    memory = params.memory_mbytes(query)
    max_items = params.integer(query, "maxItems")
    max_charge = params.number(query, "maxTotalChargeUsd")
    restart = params.flag(query, "restartOnError")
    if base is None:
        base = RunOptions(
            build=tag,
            timeout_secs=actor.default_timeout_secs,
            memory_mbytes=actor.default_memory_mbytes,
        )
    options = RunOptions(
        build=tag,
        timeout_secs=base.timeout_secs if timeout is None else timeout,
        memory_mbytes=base.memory_mbytes if memory is None else memory,
        max_items=base.max_items if max_items is None else max_items,
        max_total_charge_usd=base.max_total_charge_usd if max_charge is None else max_charge,
        restart_on_error=base.restart_on_error if restart is None else restart,
    )
    return options, build


def _task_input(task: Task, record: Record | None) -> Record:
    """The task's input with the request's JSON object shallow-merged over it."""
    given: dict[str, Any] = {}
    if record is not None:
        decoded = (
            msgspec.json.decode(record.value) if is_json_content_type(record.content_type) else None
        )
        if not isinstance(decoded, dict):
            raise invalid_input("The input of a task run must be a JSON object.")
        given = decoded
    return Record(msgspec.json.encode({**task.input, **given}), JSON_CONTENT_TYPE)


async def _start(request: web.Request, actor: Actor, task: Task | None) -> web.Response:
    query = request.query
    options, build = _run_options(request, actor, None)
    wait_secs = params.wait_secs(query)
    webhooks = adhoc_webhooks(params.webhooks(query))
    if task is None:
        params.choice(query, "forcePermissionLevel", params.PERMISSION_LEVELS)
    record = await read_input(request)
    if task is not None:
        record = _task_input(task, record)
    run = _platform(request).runs.start(
        actor=actor,
        build=build,
        task=task,
        options=options,
        meta=RunMeta(
            origin=RunOrigin.API.value,
            client_ip=request.remote,
            user_agent=request.headers.get("User-Agent"),
        ),
        input_record=record,
        webhooks=webhooks,
    )
    await run.wait_finished(wait_secs)
    response = _run_response(request, run, status=201)
    response.headers["Location"] = f"{request.url.origin()}/v2/actor-runs/{run.id}"
    return response


async def start_actor_run(request: web.Request) -> web.Response:
    return await _start(request, _actor(request), None)


async def start_task_run(request: web.Request) -> web.Response:
    task = _task(request)
    return await _start(request, task.actor, task)


async def get_run(request: web.Request) -> web.Response:
    run = _locate(request)
    await run.wait_finished(params.wait_secs(request.query))
    return _run_response(request, run)


async def update_run(request: web.Request) -> web.Response:
    run = _locate(request)
    body = await read_json_object(request)
    message = body.get("statusMessage")
    is_terminal = body.get("isStatusMessageTerminal")
    access = body.get("generalAccess")
    if message is not None and not isinstance(message, str):
        raise invalid_input("'statusMessage' must be a string.")
    if is_terminal is not None and not isinstance(is_terminal, bool):
        raise invalid_input("'isStatusMessageTerminal' must be a boolean.")
    if access is not None and access not in params.GENERAL_ACCESS:
        raise invalid_input(
            f"'generalAccess' must be one of {', '.join(sorted(params.GENERAL_ACCESS))}."
        )
    if is_terminal is not None and message is None:
        raise ApiError(
            400,
            "cannot-set-is-status-message-terminal",
            "'isStatusMessageTerminal' can only be set together with 'statusMessage'.",
        )
    if message is not None:
        run.set_status_message(message, is_terminal=bool(is_terminal))
    if access is not None:
        run.general_access = GeneralAccess(access)
    return _run_response(request, run)


async def delete_run(request: web.Request) -> web.Response:
    run = _locate(request)
    _platform(request).runs.delete(run)
    return web.Response(status=204)


async def abort_run(request: web.Request) -> web.Response:
    run = _locate(request)
    run.abort(gracefully=bool(params.flag(request.query, "gracefully")))
    return _run_response(request, run)


async def reboot_run(request: web.Request) -> web.Response:
    run = _locate(request)
    run.reboot()
    return _run_response(request, run)


async def metamorph_run(request: web.Request) -> web.Response:
    run = _locate(request)
    target_ref = request.query.get("targetActorId")
    if not target_ref:
        raise invalid_input("Parameter 'targetActorId' is required.")
    target = _platform(request).catalog.actor(target_ref)
    if target is None:
        raise not_found(f"Actor '{target_ref}' was not found.")
    tag = request.query.get("build") or "latest"
    build = _resolve_build(target, tag)
    record = await read_input(request)
    run.metamorph(target, build, tag, record)
    return _run_response(request, run)


async def resurrect_run(request: web.Request) -> web.Response:
    run = _locate(request)
    options, build = _run_options(request, run.actor, run.options)
    await run.resurrect(options, build)
    return _run_response(request, run)


async def charge_run(request: web.Request) -> web.Response:
    """Charge pay-per-event events; a repeated `idempotency-key` header counts once."""
    run = _locate(request)
    body = await read_json_object(request)
    event_name = body.get("eventName")
    count = body.get("count")
    if not isinstance(event_name, str) or not event_name:
        raise invalid_input("'eventName' must be a non-empty string.")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise invalid_input("'count' must be a whole number >= 1.")
    run.charge(event_name, count, idempotency_key=request.headers.get("idempotency-key"))
    return json_response({}, status=201)


def _list(request: web.Request, runs: RunList) -> web.Response:
    query = request.query
    page = params.page(query)
    statuses = params.statuses(query)
    after = params.moment(query, "startedAfter")
    before = params.moment(query, "startedBefore")
    selected = runs
    # Without filters, a page costs its own length, not the number of runs.
    if statuses is not None or after is not None or before is not None:
        selected = [
            run
            for run in runs
            if (statuses is None or run.status in statuses)
            and (after is None or run.started_at >= after)
            and (before is None or run.started_at <= before)
        ]
    return json_response({"data": runs_page(selected, page)})


async def list_runs(request: web.Request) -> web.Response:
    return _list(request, _platform(request).runs.all())


async def list_actor_runs(request: web.Request) -> web.Response:
    return _list(request, _platform(request).runs.owned_by(_actor(request)))


async def list_task_runs(request: web.Request) -> web.Response:
    return _list(request, _platform(request).runs.owned_by(_task(request)))


def _store(request: web.Request) -> KeyValueStore:
    """The store a path names: by its id, or as the default store of a run."""
    store_id = request.match_info.get("storeId")
    if store_id is None:
        return _locate(request).store
    store = _platform(request).runs.store(store_id)
    if store is None:
        raise not_found(f"Key-value store '{store_id}' was not found.")
    return store


async def get_store(request: web.Request) -> web.Response:
    data = store_data(
        _store(request),
        user_id=_platform(request).runs.user_id,
        api_origin=str(request.url.origin()),
    )
    return json_response({"data": data})


async def list_keys(request: web.Request) -> web.Response:
    query = request.query
    store = _store(request)
    if query.get("collection"):
        # Collections come from a store's schema, and the emulator's stores have none.
        raise ApiError(
            400,
            "invalid-collection",
            f"The key-value store has no schema, so no collection '{query['collection']}'.",
        )
    data = keys_page(
        store,
        exclusive_start_key=query.get("exclusiveStartKey") or None,
        limit=params.limit(query),
        prefix=query.get("prefix") or None,
        api_origin=str(request.url.origin()),
    )
    return json_response({"data": data})


async def get_record(request: web.Request) -> web.Response:
    """A record's value as stored, with its content type (HEAD: only whether it exists)."""
    store = _store(request)
    key = request.match_info["key"]
    record = store.get(key)
    if record is None:
        raise not_found(f"Record '{key}' was not found in the key-value store.")
    response = web.Response(body=record.value, headers={"Content-Type": record.content_type})
    if params.flag(request.query, "attachment"):
        response.headers["Content-Disposition"] = f'attachment; filename="{key}"'
    return response


# ANSI escape sequences (CSI like colours, and two-character ones), and the control
# characters that are not printable, which the API drops from logs unless asked for `raw`.
_NOT_PRINTABLE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]")


def _log_chunk(lines: list[str], *, raw: bool) -> bytes:
    text = "".join(f"{line}\n" for line in lines)
    return (text if raw else _NOT_PRINTABLE.sub("", text)).encode()


def _dataset(request: web.Request) -> Dataset:
    """The dataset a path names: by its id, or as the default dataset of a run."""
    dataset_id = request.match_info.get("datasetId")
    if dataset_id is None:
        return _locate(request).dataset
    dataset = _platform(request).runs.dataset(dataset_id)
    if dataset is None:
        raise not_found(f"Dataset '{dataset_id}' was not found.")
    return dataset


async def get_dataset(request: web.Request) -> web.Response:
    return dataset_response(request, _dataset(request))


async def get_dataset_items(request: web.Request) -> web.Response:
    return items_response(request, _dataset(request))


async def get_log(request: web.Request) -> web.StreamResponse:
    """The run's log as text, without ANSI escapes unless `raw`; with `stream=1`, kept open
    and fed until the run finishes. Both serve the log from its start: it only grows, so a
    reader that lost a stream skips as many bytes as it had read before."""
    run = _locate(request)
    query = request.query
    raw = bool(params.flag(query, "raw"))
    stream = bool(params.flag(query, "stream"))
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    if params.flag(query, "download"):
        headers["Content-Disposition"] = f'attachment; filename="{run.id}.log"'
    if not stream:
        return web.Response(body=_log_chunk(run.log_lines, raw=raw), headers=headers)
    response = web.StreamResponse(headers=headers)
    seen = 0
    try:
        # Inside the `try`: an injected fault may reset the connection as the stream starts.
        await response.prepare(request)
        while True:
            lines = run.log_lines[seen:]
            seen += len(lines)
            if lines and not await write_stream(request, response, _log_chunk(lines, raw=raw)):
                return response  # cut off, as a fault asked
            if run.status.is_terminal or _platform(request).runs.closing:
                break
            await run.wait_log(seen)
        await end_stream(request, response)
    except ConnectionResetError:
        pass  # the reader went away
    return response


# Each handler's endpoint name, for limiting faults to chosen endpoints.
_ENDPOINTS: dict[Handler, Endpoint] = {
    start_actor_run: Endpoint.START,
    start_task_run: Endpoint.START_TASK,
    get_run: Endpoint.GET,
    update_run: Endpoint.UPDATE,
    delete_run: Endpoint.DELETE,
    abort_run: Endpoint.ABORT,
    metamorph_run: Endpoint.METAMORPH,
    reboot_run: Endpoint.REBOOT,
    resurrect_run: Endpoint.RESURRECT,
    charge_run: Endpoint.CHARGE,
    list_runs: Endpoint.LIST,
    list_actor_runs: Endpoint.LIST,
    list_task_runs: Endpoint.LIST,
    get_record: Endpoint.RECORD,
    get_store: Endpoint.STORE,
    list_keys: Endpoint.KEYS,
    get_log: Endpoint.LOG,
    get_dataset: Endpoint.DATASET,
    get_dataset_items: Endpoint.ITEMS,
}


def endpoint_name(request: web.Request) -> str | None:
    """The endpoint the request is for, None when it matches no route."""
    # A path that matches no route has aiohttp's own handler, which is not in the map.
    found = _ENDPOINTS.get(request.match_info.handler)
    return None if found is None else found.value


def _add_run_operations(router: web.UrlDispatcher, base: str) -> None:
    router.add_post(f"{base}/abort", abort_run)
    router.add_post(f"{base}/metamorph", metamorph_run)
    router.add_post(f"{base}/reboot", reboot_run)
    router.add_post(f"{base}/resurrect", resurrect_run)
    router.add_get(f"{base}/log", get_log)
    # `add_get` answers HEAD too: on a record, whether it exists.
    router.add_get(f"{base}/key-value-store", get_store)
    router.add_get(f"{base}/key-value-store/keys", list_keys)
    router.add_get(f"{base}/key-value-store/records/{{key}}", get_record)
    router.add_get(f"{base}/dataset", get_dataset)
    router.add_get(f"{base}/dataset/items", get_dataset_items)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v2/actor-runs", list_runs)
    router.add_get("/v2/actor-runs/{runId}", get_run, name=ANONYMOUS_ROUTE)
    router.add_put("/v2/actor-runs/{runId}", update_run)
    router.add_delete("/v2/actor-runs/{runId}", delete_run)
    _add_run_operations(router, "/v2/actor-runs/{runId}")
    router.add_post("/v2/actor-runs/{runId}/charge", charge_run)
    # `/acts/` is the legacy spelling of `/actors/`; `{runId}` may be `last`.
    for actor_base in ("/v2/actors/{actorId}", "/v2/acts/{actorId}"):
        router.add_post(f"{actor_base}/runs", start_actor_run)
        router.add_get(f"{actor_base}/runs", list_actor_runs)
        router.add_get(f"{actor_base}/runs/{{runId}}", get_run)
        _add_run_operations(router, f"{actor_base}/runs/{{runId}}")
    router.add_post("/v2/actor-tasks/{taskId}/runs", start_task_run)
    router.add_get("/v2/actor-tasks/{taskId}/runs", list_task_runs)
    router.add_get("/v2/actor-tasks/{taskId}/runs/{runId:last}", get_run)
    _add_run_operations(router, "/v2/actor-tasks/{taskId}/runs/{runId:last}")
    router.add_get("/v2/key-value-stores/{storeId}", get_store)
    router.add_get("/v2/key-value-stores/{storeId}/keys", list_keys)
    router.add_get("/v2/key-value-stores/{storeId}/records/{key}", get_record)
    router.add_get("/v2/logs/{runId}", get_log)
    router.add_get("/v2/datasets/{datasetId}", get_dataset)
    router.add_get("/v2/datasets/{datasetId}/items", get_dataset_items)
