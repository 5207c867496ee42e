"""A local emulation of the Apify runs API, for tests and demos.

>>> from apify_runs_async.emulator import ApifyEmulator, ActorContext
>>> async def my_actor(ctx: ActorContext) -> None:
...     ctx.set_status_message("Working")
...     ctx.set_record("OUTPUT", {"ok": True})
>>> async with ApifyEmulator(actors={"janedoe~my-actor": my_actor}) as emu:
...     ...  # POST {emu.base_url}/v2/actors/janedoe~my-actor/runs with emu.token

Run it as a process with `python -m apify_runs_async.emulator`.
"""

from .._rate_limits import RateLimits
from ._context import ActorContext, ActorHandler
from ._faults import FaultKind, Faults, InjectedFault
from ._process import EmulatorProcess, emulator_process
from ._server import ApifyEmulator
from ._webhook_delivery import DispatchStatus, WebhookCall, WebhookDispatch, WebhookRetries

__all__ = [
    "ActorContext",
    "ActorHandler",
    "ApifyEmulator",
    "DispatchStatus",
    "EmulatorProcess",
    "FaultKind",
    "Faults",
    "InjectedFault",
    "RateLimits",
    "WebhookCall",
    "WebhookDispatch",
    "WebhookRetries",
    "emulator_process",
]
