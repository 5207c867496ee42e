"""Key-value stores as the API shows them: `KeyValueStore` and `ListOfKeys` of the spec."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ._storage import KeyValueStore
from ._time import format_time


def store_data(store: KeyValueStore, *, user_id: str, api_origin: str) -> dict[str, Any]:
    """A `KeyValueStore`; `api_origin` (like `http://127.0.0.1:5000`) roots its public URLs."""
    base = f"{api_origin}/v2/key-value-stores/{store.id}"
    return {
        "id": store.id,
        "name": None,
        "userId": user_id,
        "createdAt": format_time(store.created_at),
        "modifiedAt": format_time(store.modified_at),
        "accessedAt": format_time(store.accessed_at),
        "actId": store.actor_id,
        "actRunId": store.run_id,
        "consoleUrl": f"https://console.apify.com/storage/key-value-stores/{store.id}",
        "keysPublicUrl": f"{base}/keys",
        "recordsPublicUrl": f"{base}/records",
        "generalAccess": "FOLLOW_USER_SETTING",
        "stats": {
            "readCount": store.reads,
            "writeCount": store.writes,
            "deleteCount": 0,
            "listCount": store.lists,
            "storageBytes": store.storage_bytes(),
        },
    }


def keys_page(
    store: KeyValueStore,
    *,
    exclusive_start_key: str | None,
    limit: int,
    prefix: str | None,
    api_origin: str,
) -> dict[str, Any]:
    """A `ListOfKeys`: at most `limit` keys after `exclusive_start_key`, in key order."""
    found = store.keys(after=exclusive_start_key, prefix=prefix)
    page = found[:limit]
    truncated = len(found) > limit
    base = f"{api_origin}/v2/key-value-stores/{store.id}/records"
    return {
        "items": [
            {
                "key": key,
                "size": len(record.value),
                "recordPublicUrl": f"{base}/{quote(key, safe='')}",
            }
            for key, record in page
        ],
        "count": len(page),
        "limit": limit,
        "exclusiveStartKey": exclusive_start_key,
        "isTruncated": truncated,
        "nextExclusiveStartKey": page[-1][0] if truncated else None,
    }
