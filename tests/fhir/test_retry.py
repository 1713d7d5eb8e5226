"""The one retry policy on its own: which failures are tried again, the pauses, and when it stops."""

from __future__ import annotations

import pytest

from matcher.errors import AuthorizationError, UpstreamError
from matcher.fhir.retry import RetryPolicy, Transient, parse_retry_after
from matcher.settings import Settings

POLICY = RetryPolicy(retries=3, backoff=0.5, backoff_max=8.0)


class Attempts:
    """An attempt that fails with the given errors in turn, then answers 'ok'; the clock moves with sleep."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0
        self.now = 0.0
        self.pauses: list[float] = []

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds

    async def run(self, policy: RetryPolicy = POLICY, deadline: float = float("inf"), rng: float = 1.0) -> str:
        return await policy.run(
            self, deadline=deadline, clock=lambda: self.now, sleep=self.sleep, rng=lambda: rng, what="the test"
        )


def transient(retry_after: float | None = None) -> Transient:
    return Transient(UpstreamError("busy", url="u", status=503), retry_after)


async def test_transient_failures_are_tried_again_after_growing_pauses():
    attempts = Attempts(transient(), transient(), transient())
    assert await attempts.run() == "ok"
    assert attempts.calls == 4 and attempts.pauses == [0.5, 1.0, 2.0]


async def test_when_the_retries_run_out_the_last_failure_itself_is_raised():
    attempts = Attempts(*(transient() for _ in range(4)))
    with pytest.raises(UpstreamError, match="busy") as caught:
        await attempts.run()
    assert not isinstance(caught.value, Transient) and caught.value.status == 503
    assert attempts.calls == 4 and len(attempts.pauses) == 3


async def test_other_failures_are_final_at_once():
    attempts = Attempts(AuthorizationError("refused"))
    with pytest.raises(AuthorizationError):
        await attempts.run()
    assert attempts.calls == 1 and attempts.pauses == []


async def test_no_pause_may_end_after_the_deadline():
    attempts = Attempts(transient(), transient(), transient())
    with pytest.raises(UpstreamError):
        await attempts.run(deadline=1.6)
    assert attempts.pauses == [0.5, 1.0]  # then 2 s from 1.5 would end at 3.5


async def test_the_server_s_retry_after_is_the_least_pause():
    attempts = Attempts(transient(retry_after=5.0), transient(retry_after=0.0))
    assert await attempts.run() == "ok"
    assert attempts.pauses == [5.0, 1.0]


@pytest.mark.parametrize(
    ("attempt", "rng", "expected"),
    [(0, 1.0, 0.5), (3, 1.0, 4.0), (6, 1.0, 8.0), (6, 0.5, 4.0), (2, 0.0, 0.0)],
)
def test_full_jitter_below_a_capped_exponential(attempt, rng, expected):
    assert POLICY.delay(attempt, None, lambda: rng) == expected


def test_retry_after_as_date_or_seconds():
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after("7", now=now) == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=now) == 30.0  # counted on the clock given
    assert parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now=now) == 0.0  # in the past: retry now
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None, now=now) is None


def test_the_retry_policy_is_the_settings():
    settings = Settings(_env_file=None, fhir_retries=2, fhir_backoff=0.25, fhir_backoff_max=4.0)
    assert RetryPolicy.from_settings(settings) == RetryPolicy(retries=2, backoff=0.25, backoff_max=4.0)
