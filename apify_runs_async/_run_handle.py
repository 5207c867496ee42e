"""`RunHandle`: the client's run methods bound to one run id."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from ._models import Record, Run
from ._retries import Retries

if TYPE_CHECKING:
    from ._client import ApifyRuns
    from ._requests import RunInput


class RunHandle:
    """One run's operations, like the official client's `RunClient`.

    >>> handle = client.run(run.id)
    >>> finished = await handle.wait_for_finish()
    """

    def __init__(self, client: ApifyRuns, run_id: str) -> None:
        self._client = client
        self.run_id = run_id

    def __repr__(self) -> str:
        return f"<RunHandle {self.run_id}>"

    async def get(
        self, *, wait_for_finish: float | None = None, retries: Retries | None = None
    ) -> Run | None:
        return await self._client.get(self.run_id, wait_for_finish=wait_for_finish, retries=retries)

    async def abort(self, *, gracefully: bool | None = None, retries: Retries | None = None) -> Run:
        return await self._client.abort(self.run_id, gracefully=gracefully, retries=retries)

    async def metamorph(
        self,
        *,
        target_actor_id: str,
        target_actor_build: str | None = None,
        run_input: RunInput = None,
        content_type: str | None = None,
        retries: Retries | None = None,
    ) -> Run:
        return await self._client.metamorph(
            self.run_id,
            target_actor_id=target_actor_id,
            target_actor_build=target_actor_build,
            run_input=run_input,
            content_type=content_type,
            retries=retries,
        )

    async def resurrect(
        self,
        *,
        build: str | None = None,
        memory_mbytes: int | None = None,
        timeout_secs: float | None = None,
        max_items: int | None = None,
        max_total_charge_usd: float | None = None,
        restart_on_error: bool | None = None,
        retries: Retries | None = None,
    ) -> Run:
        return await self._client.resurrect(
            self.run_id,
            build=build,
            memory_mbytes=memory_mbytes,
            timeout_secs=timeout_secs,
            max_items=max_items,
            max_total_charge_usd=max_total_charge_usd,
            restart_on_error=restart_on_error,
            retries=retries,
        )

    async def reboot(self, *, retries: Retries | None = None) -> Run:
        return await self._client.reboot(self.run_id, retries=retries)

    async def update(
        self,
        *,
        status_message: str | None = None,
        is_status_message_terminal: bool | None = None,
        general_access: str | None = None,
        retries: Retries | None = None,
    ) -> Run:
        return await self._client.update(
            self.run_id,
            status_message=status_message,
            is_status_message_terminal=is_status_message_terminal,
            general_access=general_access,
            retries=retries,
        )

    async def delete(self, *, retries: Retries | None = None) -> None:
        await self._client.delete(self.run_id, retries=retries)

    async def get_record(
        self, key: str = "OUTPUT", *, retries: Retries | None = None
    ) -> Record | None:
        return await self._client.get_record(self.run_id, key, retries=retries)

    async def record_exists(self, key: str, *, retries: Retries | None = None) -> bool:
        return await self._client.record_exists(self.run_id, key, retries=retries)

    async def get_log(self, *, retries: Retries | None = None) -> str:
        return await self._client.get_log(self.run_id, retries=retries)

    def stream_log(self, *, retries: Retries | None = None) -> AsyncGenerator[str, None]:
        return self._client.stream_log(self.run_id, retries=retries)

    async def charge(
        self,
        event_name: str,
        *,
        count: int = 1,
        idempotency_key: str | None = None,
        retries: Retries | None = None,
    ) -> None:
        await self._client.charge(
            self.run_id, event_name, count=count, idempotency_key=idempotency_key, retries=retries
        )

    async def wait_for_finish(
        self, *, wait_secs: float | None = None, retries: Retries | None = None
    ) -> Run | None:
        return await self._client.wait_for_finish(self.run_id, wait_secs=wait_secs, retries=retries)

    def watch(
        self, *, poll_interval: float | None = 5.0, retries: Retries | None = None
    ) -> AsyncGenerator[Run, None]:
        return self._client.watch(self.run_id, poll_interval=poll_interval, retries=retries)
