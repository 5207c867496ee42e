"""Small things many test files share."""

from __future__ import annotations

from apify_runs_async import Retries

FAST_RETRIES = Retries(delay=lambda tries, retry_after: 0.001)
"""The default number of tries, with waits of a millisecond: retry tests run fast."""

ONE_TRY = Retries(max_tries=1)
"""No retries: for tests about how a single failure reads."""
