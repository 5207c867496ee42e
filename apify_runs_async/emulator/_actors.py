"""The Actors and tasks an emulator knows, addressable by id or by `username~name`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ._context import ActorHandler
from ._ids import new_id
from ._time import utc_now

_FULL_NAME = re.compile(r"^[A-Za-z0-9._-]+~[A-Za-z0-9._-]+$")
_MEMORY_RANGE = range(128, 32768 + 1)


@dataclass(frozen=True, slots=True)
class Build:
    id: str
    number: str


@dataclass(frozen=True, slots=True)
class PayPerEvent:
    """Pay-per-event pricing: the events a run may be charged for, with their prices in USD.

    With `any_event`, a run may be charged for events not listed too (`emulator~scripted`).
    """

    events: Mapping[str, float]
    any_event: bool = False
    since: datetime = field(default_factory=utc_now)

    def accepts(self, event_name: str) -> bool:
        return self.any_event or event_name in self.events


@dataclass(frozen=True, slots=True)
class Actor:
    """A registered Actor: one version `0.0` with one build `0.0.1`, tagged `latest`."""

    id: str
    full_name: str
    handler: ActorHandler
    default_memory_mbytes: int
    default_timeout_secs: int
    version: str = "0.0"
    build: Build = field(default_factory=lambda: Build(new_id(), "0.0.1"))
    pay_per_event: PayPerEvent | None = None
    """None: the Actor is not pay-per-event, and its runs cannot be charged."""

    def resolve_build(self, tag: str) -> Build | None:
        """The build a `build` parameter names: a tag, a version or a build number."""
        return self.build if tag in ("latest", self.version, self.build.number) else None


@dataclass(frozen=True, slots=True)
class Task:
    """A saved configuration of an Actor: its input is merged under each run's input."""

    id: str
    full_name: str
    actor: Actor
    input: Mapping[str, Any]


def _full_name(name: str) -> str:
    """`username~name`, also given as `username/name` (as the client and the API take it)."""
    full_name = name.replace("/", "~", 1)
    if not _FULL_NAME.match(full_name):
        raise ValueError(f"expected a name like 'username~name' or 'username/name', got {name!r}")
    return full_name


class Catalog:
    """Actors and tasks by id and by full name."""

    def __init__(self) -> None:
        self._actors: dict[str, Actor] = {}
        self._tasks: dict[str, Task] = {}

    def add_actor(
        self,
        full_name: str,
        handler: ActorHandler,
        *,
        default_memory_mbytes: int = 1024,
        default_timeout_secs: int = 3600,
        pay_per_event: PayPerEvent | None = None,
    ) -> Actor:
        full_name = _full_name(full_name)
        if full_name in self._actors:
            raise ValueError(f"an Actor named {full_name!r} is already registered (or built-in)")
        if default_memory_mbytes not in _MEMORY_RANGE or default_memory_mbytes.bit_count() != 1:
            raise ValueError("default_memory_mbytes must be a power of 2 between 128 and 32768")
        if default_timeout_secs < 0:
            raise ValueError("default_timeout_secs must not be negative")
        for event_name, price in (pay_per_event.events if pay_per_event else {}).items():
            if not event_name or event_name.startswith("apify-"):
                raise ValueError(f"event names must not be empty or start 'apify-': {event_name!r}")
            if not price >= 0:
                raise ValueError(f"the price of {event_name!r} must be a number >= 0")
        actor = Actor(
            new_id(),
            full_name,
            handler,
            default_memory_mbytes,
            default_timeout_secs,
            pay_per_event=pay_per_event,
        )
        self._actors[actor.id] = self._actors[full_name] = actor
        return actor

    def add_task(self, full_name: str, actor: Actor, task_input: Mapping[str, Any]) -> Task:
        full_name = _full_name(full_name)
        if full_name in self._tasks:
            raise ValueError(f"a task named {full_name!r} is already registered")
        task = Task(new_id(), full_name, actor, dict(task_input))
        self._tasks[task.id] = self._tasks[full_name] = task
        return task

    def actor(self, ref: str) -> Actor | None:
        """By id or `username~name` (a `/` is accepted for the `~`)."""
        return self._actors.get(ref.replace("/", "~"))

    def task(self, ref: str) -> Task | None:
        return self._tasks.get(ref.replace("/", "~"))
