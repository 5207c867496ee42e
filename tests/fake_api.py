"""A purpose-built server on 127.0.0.1 for answers the emulator never gives.

Each test sets `fake.reply` to a coroutine that answers one request; every request received
is recorded in `fake.requests`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

Reply = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


def json_reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    async def reply(request: web.Request) -> web.StreamResponse:
        return web.Response(
            status=status, text=json.dumps(body), content_type="application/json", headers=headers
        )

    return reply


def body_reply(
    status: int,
    body: bytes,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Reply:
    """These very bytes, whatever they are."""

    async def reply(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=body, content_type=content_type, headers=headers)

    return reply


def error_reply(status: int, error_type: str, message: str) -> Reply:
    return json_reply(status, {"error": {"type": error_type, "message": message}})


def in_turn(*replies: Reply) -> Reply:
    """Each reply once, in order; the last one for every request after that."""
    left = list(replies)

    async def reply(request: web.Request) -> web.StreamResponse:
        answer = left.pop(0) if len(left) > 1 else left[0]
        return await answer(request)

    return reply


async def drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without an answer."""
    assert request.transport is not None
    request.transport.close()
    return web.Response()


class FakeApi:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.reply: Reply = error_reply(500, "not-configured", "the test set no reply")
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Received(request.method, request.path, dict(request.query), dict(request.headers), body)
        )
        return await self.reply(request)

    async def __aenter__(self) -> FakeApi:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # An answer a test left sleeping is cut short when it ends, not waited for.
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@contextlib.asynccontextmanager
async def raw_server(reply: bytes) -> AsyncIterator[str]:
    """A TCP server on 127.0.0.1 that answers every connection with `reply`, byte for byte.

    For answers no HTTP server library would write, such as a malformed status line.
    """

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        host, port = server.sockets[0].getsockname()[:2]
        yield f"http://{host}:{port}"
