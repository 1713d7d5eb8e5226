"""The one retry policy of FHIR requests, on tenacity: what is retried, how long to wait, and when to stop."""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import tenacity

from matcher.errors import UpstreamError
from matcher.settings import Settings

log = logging.getLogger("trialmatch.fhir")

#: answers worth another try, after a pause; every other 4xx is final
RETRY_STATUSES = frozenset({429, 502, 503, 504})
T = TypeVar("T")


class Transient(Exception):
    """An attempt that failed in a way worth another try (a status above, a timeout, a lost connection).

    Carries the error to raise when the tries run out, and the pause the server asked for (Retry-After).
    """

    def __init__(self, failure: UpstreamError, retry_after: float | None = None) -> None:
        super().__init__(str(failure))
        self.failure, self.retry_after = failure, retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failed request is tried again, and how long to wait: full jitter on an exponential backoff."""

    retries: int
    backoff: float  # seconds before the first retry (doubling each time, with jitter)
    backoff_max: float

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(settings.fhir_retries, settings.fhir_backoff, settings.fhir_backoff_max)

    def delay(self, attempt: int, retry_after: float | None, rng: Callable[[], float]) -> float:
        """Full jitter on an exponential backoff; a server's Retry-After is the least we wait."""
        ceiling = min(self.backoff_max, self.backoff * float(2**attempt))
        jittered: float = ceiling * rng()
        return max(jittered, retry_after) if retry_after is not None else jittered

    async def run(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        deadline: float,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[Any]],
        rng: Callable[[], float],
        what: str,
    ) -> T:
        """`attempt`, tried again after a pause while it fails with `Transient`, as long as the retries last
        and no pause would end after `deadline` (on `clock`); then its last failure is raised."""

        def pause(state: tenacity.RetryCallState) -> float:
            return self.delay(state.attempt_number - 1, _transient(state).retry_after, rng)

        tries = tenacity.stop_after_attempt(self.retries + 1)

        def stop(state: tenacity.RetryCallState) -> bool:
            return tries(state) or clock() + state.upcoming_sleep > deadline

        def announce(state: tenacity.RetryCallState) -> None:
            reason = _transient(state).failure
            log.info("retrying %s in %.2fs (attempt %d): %s", what, state.upcoming_sleep, state.attempt_number, reason)

        retrying = tenacity.AsyncRetrying(
            sleep=lambda seconds: sleep(float(seconds)),
            retry=tenacity.retry_if_exception_type(Transient),
            wait=pause,
            stop=stop,
            before_sleep=announce,
            reraise=True,
        )
        try:
            result: T = await retrying(attempt)
        except Transient as exc:
            raise exc.failure from None
        return result


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date (counted from `now`, seconds since the epoch)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _transient(state: tenacity.RetryCallState) -> Transient:
    """The failure of the attempt just made (only `Transient` failures are retried)."""
    failure = state.outcome.exception() if state.outcome is not None else None
    if not isinstance(failure, Transient):
        raise TypeError(f"retrying after {failure!r}, which is not transient")
    return failure
