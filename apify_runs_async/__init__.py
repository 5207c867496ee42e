"""apify_runs_async: an asyncio-native client for Apify Actor runs.

>>> from apify_runs_async import ApifyRuns
>>> async with ApifyRuns() as client:
...     run = await client.start("apify/hello-world")
...     async for snapshot in client.watch(run.id):
...         print(snapshot.status, snapshot.status_message)
"""

from ._client import ApifyRuns
from ._config import Timeouts
from ._cool_down import CoolDown
from ._dataset_handle import DatasetHandle
from ._errors import (
    ApiError,
    ApifyConnectionError,
    ApifyError,
    ApifyTimeoutError,
    BadRequestError,
    ClientClosedError,
    ConflictError,
    ForbiddenError,
    InvalidItemError,
    InvalidResponseError,
    InvalidWebhookError,
    NotFoundError,
    PaymentRequiredError,
    RateLimitError,
    RequestTooLargeError,
    ResponseTooLargeError,
    RunFailedError,
    ServerError,
    TransportError,
    UnauthorizedError,
    UncertainOutcomeError,
    WrongEventLoopError,
)
from ._following import RunRef
from ._in_flight import CallStream
from ._models import (
    ActorChargeEvent,
    CallResult,
    Dataset,
    DatasetStats,
    ItemPage,
    Metamorph,
    PricingInfo,
    PricingPerEvent,
    Record,
    Run,
    RunList,
    RunMeta,
    RunOptions,
    RunStats,
    RunSummary,
    RunUsage,
    RunUsageUsd,
    StorageIds,
    StoredKey,
    TieredPrice,
)
from ._rate_limits import RateLimits
from ._requests import ItemFilters, JsonInput, RunInput, StartOptions, TaskStartOptions
from ._retries import Retries
from ._run_handle import RunHandle
from ._status import (
    TERMINAL_STATUSES,
    GeneralAccess,
    PricingModel,
    RunOrigin,
    RunStatus,
    is_terminal,
)
from ._stores import KeyValueStore
from ._streams import RunStream
from ._version import __version__
from ._webhook_models import WebhookEvent, WebhookEventData, WebhookEventType, parse_webhook
from ._webhook_receiver import WebhookReceiver

__all__ = [
    "TERMINAL_STATUSES",
    "ActorChargeEvent",
    "ApiError",
    "ApifyConnectionError",
    "ApifyError",
    "ApifyRuns",
    "ApifyTimeoutError",
    "BadRequestError",
    "CallResult",
    "CallStream",
    "ClientClosedError",
    "ConflictError",
    "CoolDown",
    "Dataset",
    "DatasetHandle",
    "DatasetStats",
    "ForbiddenError",
    "GeneralAccess",
    "InvalidItemError",
    "InvalidResponseError",
    "InvalidWebhookError",
    "ItemFilters",
    "ItemPage",
    "JsonInput",
    "KeyValueStore",
    "Metamorph",
    "NotFoundError",
    "PaymentRequiredError",
    "PricingInfo",
    "PricingModel",
    "PricingPerEvent",
    "RateLimitError",
    "RateLimits",
    "Record",
    "RequestTooLargeError",
    "ResponseTooLargeError",
    "Retries",
    "Run",
    "RunFailedError",
    "RunHandle",
    "RunInput",
    "RunList",
    "RunMeta",
    "RunOptions",
    "RunOrigin",
    "RunRef",
    "RunStats",
    "RunStatus",
    "RunStream",
    "RunSummary",
    "RunUsage",
    "RunUsageUsd",
    "ServerError",
    "StartOptions",
    "StorageIds",
    "StoredKey",
    "TaskStartOptions",
    "TieredPrice",
    "Timeouts",
    "TransportError",
    "UnauthorizedError",
    "UncertainOutcomeError",
    "WebhookEvent",
    "WebhookEventData",
    "WebhookEventType",
    "WebhookReceiver",
    "WrongEventLoopError",
    "__version__",
    "is_terminal",
    "parse_webhook",
]
