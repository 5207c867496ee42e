"""Talking to an emulator over real HTTP in tests, validating every JSON body on the way."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import aiohttp

from apify_runs_async.emulator import ApifyEmulator

from .spec import validate

Spawn = Callable[..., tuple["subprocess.Popen[str]", str, str]]
"""`spawn(*args)`: the emulator process started with these arguments, its URL and token."""

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED-OUT", "ABORTED"})


def fast_emulator(**options: Any) -> ApifyEmulator:
    """An emulator with short timings (runs are RUNNING after 20 ms, graces last 0.3 s)."""
    timings: dict[str, Any] = {
        "ready_secs": 0.02,
        "abort_grace_secs": 0.3,
        "timeout_grace_secs": 0.3,
        "hello_world_secs": 0.1,
    }
    return ApifyEmulator(**{**timings, **options})


class _Default:
    """Marks 'send the emulator's token in the header'."""


DEFAULT: Final = _Default()


class Response:
    """A response already read: status, headers, raw body, and the JSON body if any."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes, json: Any) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.json = json

    @property
    def data(self) -> Any:
        return self.json["data"]


class Api:
    """A thin test client: every JSON body it gets is validated against the spec."""

    def __init__(self, session: aiohttp.ClientSession, emulator: ApifyEmulator) -> None:
        self.session = session
        self.emulator = emulator

    async def request(
        self,
        method: str,
        path: str,
        *,
        schema: str | None = None,
        raw: bool = False,
        expect: int | None = None,
        token: str | _Default | None = DEFAULT,
        token_in_query: bool = False,
        params: Mapping[str, Any] | list[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Response:
        """One request. `schema` names the spec schema of a 2xx JSON body, `raw` says a 2xx
        body is user data (a record); error bodies are always checked against
        `ErrorResponse`. `expect` is the status to assert."""
        sent_headers = dict(headers or {})
        query: list[tuple[str, str]] = list(
            params.items() if isinstance(params, Mapping) else params or []
        )
        query = [(key, str(value)) for key, value in query]
        the_token = self.emulator.token if isinstance(token, _Default) else token
        if the_token is not None and token_in_query:
            query.append(("token", the_token))
        elif the_token is not None:
            sent_headers["Authorization"] = f"Bearer {the_token}"
        url = self.emulator.base_url + path
        async with self.session.request(
            method, url, params=query, headers=sent_headers, **kwargs
        ) as response:
            body = await response.read()
            content_type = response.headers.get("Content-Type", "")
            decoded = None
            media_type = content_type.split(";", 1)[0].strip()  # not `application/jsonl`
            if media_type == "application/json" and method != "HEAD":
                decoded = await response.json()
                name = "ErrorResponse" if response.status >= 400 else schema
                if name is not None:
                    validate(decoded, name)
                else:
                    assert raw, f"{method} {path}: a JSON body without a schema to check"
            if expect is not None:
                assert response.status == expect, (response.status, body[:500])
            return Response(response.status, response.headers, body, decoded)

    async def error(
        self, method: str, path: str, status: int, error_type: str, **kwargs: Any
    ) -> str:
        """Assert an error answer with this status and type; return its message."""
        response = await self.request(method, path, expect=status, **kwargs)
        assert response.json["error"]["type"] == error_type, response.json
        message: str = response.json["error"]["message"]
        assert message
        return message

    async def start(
        self,
        actor: str,
        run_input: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Start a run of `actor` (JSON input unless `data=` is given); return the run."""
        if run_input is not None:
            kwargs["json"] = run_input
        response = await self.request(
            "POST",
            f"/v2/actors/{actor}/runs",
            schema="RunResponse",
            expect=201,
            params=params,
            **kwargs,
        )
        run: dict[str, Any] = response.data
        return run

    async def run(self, run_id: str, *, wait: float | None = None) -> dict[str, Any]:
        params = {} if wait is None else {"waitForFinish": wait}
        response = await self.request(
            "GET", f"/v2/actor-runs/{run_id}", schema="RunResponse", expect=200, params=params
        )
        run: dict[str, Any] = response.data
        return run

    async def post_run(
        self, run_id: str, action: str, *, expect: int = 200, **kwargs: Any
    ) -> dict[str, Any]:
        """POST `/v2/actor-runs/{run_id}/{action}` (abort, reboot, ...); return the run."""
        response = await self.request(
            "POST",
            f"/v2/actor-runs/{run_id}/{action}",
            schema="RunResponse",
            expect=expect,
            **kwargs,
        )
        run: dict[str, Any] = response.data
        return run

    async def finished(self, run_id: str) -> dict[str, Any]:
        """The run once it is final (fails the test if that takes over 10 s)."""
        run = await self.run(run_id, wait=10)
        assert run["status"] in TERMINAL, run["status"]
        return run

    async def wait_for(self, run_id: str, status: str, *, within: float = 5.0) -> dict[str, Any]:
        """Poll until the run has `status` (for statuses waitForFinish cannot wait for)."""
        deadline = time.monotonic() + within
        while True:
            run = await self.run(run_id)
            if run["status"] == status:
                return run
            assert time.monotonic() < deadline, f"still {run['status']}, expected {status}"
            await asyncio.sleep(0.01)

    async def record(self, run_id: str, key: str) -> Response:
        return await self.request(
            "GET", f"/v2/actor-runs/{run_id}/key-value-store/records/{key}", raw=True
        )

    async def log(self, run_id: str) -> str:
        response = await self.request("GET", f"/v2/actor-runs/{run_id}/log", expect=200)
        return response.body.decode()


def steps(*messages: str, sleep: float = 0.05) -> list[dict[str, Any]]:
    """Steps for `emulator~scripted`."""
    return [{"sleepSecs": sleep, "statusMessage": message} for message in messages]
