"""Ad-hoc webhooks: the ones a start attaches to its run with the `webhooks` parameter, and
the events of a run they are called for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yarl

from .._status import RunStatus
from .._webhook_models import WebhookEventType as EventType  # one list, the client's
from ._errors import invalid_input
from ._ids import new_id
from ._webhook_templates import check_template

FINAL_EVENTS = {
    RunStatus.SUCCEEDED: EventType.SUCCEEDED,
    RunStatus.FAILED: EventType.FAILED,
    RunStatus.ABORTED: EventType.ABORTED,
    RunStatus.TIMED_OUT: EventType.TIMED_OUT,
}
"""The event of each final status."""

# Accepted, as the API accepts them, though a run never causes them.
_OTHER_EVENTS = frozenset(
    {
        "ACTOR.BUILD.ABORTED",
        "ACTOR.BUILD.CREATED",
        "ACTOR.BUILD.FAILED",
        "ACTOR.BUILD.SUCCEEDED",
        "ACTOR.BUILD.TIMED_OUT",
        "TEST",
    }
)
EVENT_TYPES = frozenset(EventType) | _OTHER_EVENTS


@dataclass(frozen=True, slots=True)
class Webhook:
    """One ad-hoc webhook of a run."""

    id: str
    event_types: frozenset[str]
    request_url: str
    payload_template: str | None = None
    headers_template: str | None = None
    interpolate_strings: bool = False
    do_not_retry: bool = False


def _optional(webhook: dict[str, Any], index: int, key: str, kind: type) -> Any:
    value = webhook.get(key)
    if value is not None and not isinstance(value, kind):
        raise invalid_input(f"Webhook {index}: '{key}' must be a {kind.__name__}.")
    return value


def _webhook(index: int, raw: dict[str, Any]) -> Webhook:
    """One webhook as `params.webhooks` decoded it (its eventTypes and requestUrl present)."""
    unknown = sorted(set(raw["eventTypes"]) - EVENT_TYPES)
    if unknown:
        raise invalid_input(f"Webhook {index} has unknown event types: {', '.join(unknown)}.")
    url = yarl.URL(raw["requestUrl"])
    if not url.absolute or url.scheme not in ("http", "https"):
        raise invalid_input(f"Webhook {index}: 'requestUrl' must be an http(s) URL.")
    payload = _optional(raw, index, "payloadTemplate", str)
    headers = _optional(raw, index, "headersTemplate", str)
    for key, template in (("payloadTemplate", payload), ("headersTemplate", headers)):
        if template is not None:
            try:
                check_template(template, headers=key == "headersTemplate")
            except ValueError as error:
                raise invalid_input(f"Webhook {index}: '{key}' {error}.") from None
    return Webhook(
        id=new_id(),
        event_types=frozenset(raw["eventTypes"]),
        request_url=raw["requestUrl"],
        payload_template=payload,
        headers_template=headers,
        interpolate_strings=bool(_optional(raw, index, "shouldInterpolateStrings", bool)),
        do_not_retry=bool(_optional(raw, index, "doNotRetry", bool)),
    )


def adhoc_webhooks(decoded: Sequence[dict[str, Any]] | None) -> tuple[Webhook, ...]:
    """The webhooks of a start's `webhooks` parameter; raises 400 `invalid-input`.

    (`idempotencyKey` and `ignoreSslErrors` are accepted and ignored: each start makes its
    run's own webhooks.)
    """
    return tuple(_webhook(index, raw) for index, raw in enumerate(decoded or ()))
