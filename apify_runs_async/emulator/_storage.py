"""Key-value stores: records kept as bytes with the content type they were stored with."""

from __future__ import annotations

from typing import Any

import msgspec

from ._ids import new_id
from ._time import utc_now

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
BINARY_CONTENT_TYPE = "application/octet-stream"


class Record(msgspec.Struct, frozen=True, gc=False):
    # Bytes and text only, so never in a cycle: untracked, the collector skips the many kept.
    value: bytes
    content_type: str


def is_json_content_type(content_type: str) -> bool:
    """`application/json`, with or without parameters, and `application/*+json`."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def encode_value(value: Any, content_type: str | None) -> Record:
    """Bytes and text are stored as given; anything else is encoded as JSON."""
    if isinstance(value, bytes | bytearray | memoryview):
        return Record(bytes(value), content_type or BINARY_CONTENT_TYPE)
    if isinstance(value, str):
        return Record(value.encode(), content_type or TEXT_CONTENT_TYPE)
    return Record(msgspec.json.encode(value), content_type or JSON_CONTENT_TYPE)


def decode_record(record: Record) -> Any:
    """JSON records decoded, text records as `str`, anything else as `bytes`."""
    if is_json_content_type(record.content_type):
        return msgspec.json.decode(record.value)
    if record.content_type.lower().startswith("text/"):
        return record.value.decode(errors="replace")
    return record.value


class KeyValueStore:
    """One unnamed store; it counts reads, writes and lists for its stats and the run's usage.

    `actor_id` and `run_id` are the Actor and the run whose default store it is.
    """

    __slots__ = (
        "_records",
        "accessed_at",
        "actor_id",
        "created_at",
        "id",
        "lists",
        "modified_at",
        "reads",
        "run_id",
        "writes",
    )

    def __init__(self, *, actor_id: str | None = None, run_id: str | None = None) -> None:
        self.id = new_id()
        self.actor_id = actor_id
        self.run_id = run_id
        self._records: dict[str, Record] = {}
        self.reads = 0
        self.writes = 0
        self.lists = 0
        self.created_at = self.modified_at = self.accessed_at = utc_now()

    def set(self, key: str, record: Record) -> None:
        self._records[key] = record
        self.writes += 1
        self.modified_at = self.accessed_at = utc_now()

    def get(self, key: str) -> Record | None:
        self.reads += 1
        self.accessed_at = utc_now()
        return self._records.get(key)

    def peek(self, key: str) -> Record | None:
        """Like `get`, without counting a read (for the emulator's own use)."""
        return self._records.get(key)

    def keys(self, *, after: str | None, prefix: str | None) -> list[tuple[str, Record]]:
        """Records in key order (as the platform lists them) after `after`; counted as a list."""
        self.lists += 1
        self.accessed_at = utc_now()
        return [
            (key, self._records[key])
            for key in sorted(self._records)
            if (after is None or key > after) and (prefix is None or key.startswith(prefix))
        ]

    def storage_bytes(self) -> int:
        return sum(len(key) + len(record.value) for key, record in self._records.items())
