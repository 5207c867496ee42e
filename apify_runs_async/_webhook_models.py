"""What an Actor run's webhook delivers: Apify's default payload, decoded with msgspec.

Forward compatible as `Run` is: unknown fields are ignored, and an event type this version
does not know is kept as a plain str (compare with `WebhookEventType` members). The receiver
(`_webhook_receiver.py`) does the HTTP; this module is pure: a body in, an event or an
`InvalidWebhookError` out.
"""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec

from ._errors import InvalidWebhookError
from ._models import Run, _Model

__all__ = ["WebhookEvent", "WebhookEventData", "WebhookEventType", "parse_webhook"]


class WebhookEventType(enum.StrEnum):
    """The run events a webhook can be set for; members compare equal to the wire strings."""

    CREATED = "ACTOR.RUN.CREATED"
    SUCCEEDED = "ACTOR.RUN.SUCCEEDED"
    FAILED = "ACTOR.RUN.FAILED"
    ABORTED = "ACTOR.RUN.ABORTED"
    TIMED_OUT = "ACTOR.RUN.TIMED_OUT"
    RESURRECTED = "ACTOR.RUN.RESURRECTED"


TERMINAL_EVENT_TYPES: tuple[WebhookEventType, ...] = (
    WebhookEventType.SUCCEEDED,
    WebhookEventType.FAILED,
    WebhookEventType.ABORTED,
    WebhookEventType.TIMED_OUT,
)

# Events whose `resource` is an Actor run: for these a resource that is not one is malformed.
_RUN_EVENT_PREFIX = "ACTOR.RUN."


class WebhookEventData(_Model):
    """What the event is about (the payload's `eventData`); ids missing from it are None."""

    actor_id: str | None = None
    actor_task_id: str | None = None
    actor_run_id: str | None = None
    actor_build_id: str | None = None


class WebhookEvent(_Model):
    """One webhook delivery of Apify's default payload.

    >>> event = parse_webhook(body)
    >>> event.event_type == WebhookEventType.SUCCEEDED, event.resource.status
    (True, 'SUCCEEDED')

    `resource` is the run as it was when the event happened; it is None for an event whose
    resource is not a run (a build's event, a `TEST` dispatch, or a kind this version does
    not know) and whose resource does not decode as one.
    """

    user_id: str
    created_at: datetime
    event_type: str  # compare with `WebhookEventType` members
    event_data: WebhookEventData = msgspec.field(default_factory=WebhookEventData)
    resource: Run | None = None


class _WireEvent(_Model):
    """The payload with `resource` left undecoded: whether it must be a run depends on
    `eventType`."""

    user_id: str
    created_at: datetime
    event_type: str
    event_data: WebhookEventData | None = None
    resource: msgspec.Raw = msgspec.Raw(b"null")


_event_decoder = msgspec.json.Decoder(_WireEvent)
_run_decoder = msgspec.json.Decoder(Run | None)


def parse_webhook(body: bytes | str) -> WebhookEvent:
    """The event a webhook request's body carries (Apify's default payload).

    Raises `InvalidWebhookError` (a `ValueError`) for a body that is not such a payload:
    not JSON, not UTF-8, nested too deep, or missing a field it must have.
    """
    if isinstance(body, str):
        try:
            body = body.encode()
        except UnicodeEncodeError:  # a lone surrogate: no request body could hold it
            raise InvalidWebhookError("the body is not valid UTF-8 text") from None
    elif not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError(f"body must be bytes or str, not {type(body).__name__}")
    try:
        wire = _event_decoder.decode(body)
        resource = _resource(wire)
    except msgspec.DecodeError as exc:  # ValidationError is one too
        raise InvalidWebhookError(f"the body is not a webhook payload: {exc}") from None
    except RecursionError:  # nested thousands deep: as unreadable as any other non-JSON
        raise InvalidWebhookError("the body is nested too deeply") from None
    return WebhookEvent(
        user_id=wire.user_id,
        created_at=wire.created_at,
        event_type=wire.event_type,
        event_data=wire.event_data or WebhookEventData(),
        resource=resource,
    )


def _resource(wire: _WireEvent) -> Run | None:
    if wire.event_type.startswith(_RUN_EVENT_PREFIX):
        run = _run_decoder.decode(wire.resource)
        if run is None:
            raise msgspec.ValidationError("a run event must have its run in `resource`")
        return run
    try:  # another kind of event: its resource may be a run, or anything else
        return _run_decoder.decode(wire.resource)
    except msgspec.DecodeError:
        return None
