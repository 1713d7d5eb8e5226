"""The per-client rate limit of the match and CDS routes (limits' moving window): 429 with Retry-After past it."""

from __future__ import annotations

import math
import time

from fastapi import HTTPException
from limits import RateLimitItem, parse
from limits.errors import ConfigurationError as ConfigurationErrorOfLimits
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from matcher.errors import ConfigurationError
from matcher.settings import Settings

NAMESPACE = "trialmatch"


def shared_storage(settings: Settings) -> Storage:
    """The storage of the rate limit's counts and of the CDS JWTs' jti seen (TRIALMATCH_LIMITS_STORAGE)."""
    try:
        storage = storage_from_string(settings.limits_storage)
    except (ValueError, TypeError, ImportError, ConfigurationErrorOfLimits) as exc:
        raise ConfigurationError(f"TRIALMATCH_LIMITS_STORAGE: {exc}") from exc
    if not isinstance(storage, Storage):
        raise ConfigurationError("TRIALMATCH_LIMITS_STORAGE: an async+ storage cannot be used here; name the plain one")
    return storage


class RateLimit:
    """At most `settings.rate_limit` requests per client in the moving window; off when the setting is empty."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.item: RateLimitItem | None = None
        if not settings.rate_limit.strip():
            return
        try:
            self.item = parse(settings.rate_limit)
        except ValueError as exc:
            raise ConfigurationError(f"TRIALMATCH_RATE_LIMIT: {exc}") from exc
        self.limiter = MovingWindowRateLimiter(storage)

    def hit(self, client: str) -> None:
        """Count one request of `client`; HTTPException 429 (with Retry-After, in seconds) once over the limit."""
        if self.item is None:
            return
        if self.limiter.hit(self.item, NAMESPACE, client):
            return
        stats = self.limiter.get_window_stats(self.item, NAMESPACE, client)
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        raise HTTPException(
            429,
            f"more than {self.item} requests from this client; retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )
