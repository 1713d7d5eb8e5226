"""An async FHIR R4 client on httpx: read, search with paging, retries with backoff, a request budget, auth."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from matcher.errors import AuthorizationError, BudgetExceededError, UpstreamError, UpstreamTimeoutError
from matcher.fhir.auth import Auth, NoAuth

log = logging.getLogger("trialmatch.fhir")

FHIR_JSON = "application/fhir+json"
#: answers worth another try, after a pause; every other 4xx is final
RETRY_STATUSES = frozenset({429, 502, 503, 504})
Params = list[tuple[str, str]] | dict[str, str]


@dataclass
class Budget:
    """Requests one piece of work (one patient) may send, retries and pages included; and its deadline."""

    limit: int
    deadline: float = float("inf")  # on the client's clock
    what: str = "this request"
    spent: int = 0

    def spend(self, now: float) -> None:
        if self.spent >= self.limit:
            raise BudgetExceededError(f"request budget of {self.limit} spent on {self.what}")
        if now >= self.deadline:
            raise UpstreamTimeoutError(f"the time allowed for {self.what} ran out")
        self.spent += 1

    def remaining(self, now: float) -> float:
        return self.deadline - now


@dataclass
class RetryPolicy:
    retries: int = 4
    backoff: float = 0.5  # seconds before the first retry (doubling each time, with jitter)
    backoff_max: float = 30.0

    def delay(self, attempt: int, retry_after: float | None, rng: Callable[[], float]) -> float:
        """Full jitter on an exponential backoff; a server's Retry-After is the least we wait."""
        ceiling = min(self.backoff_max, self.backoff * float(2**attempt))
        jittered: float = ceiling * rng()
        return max(jittered, retry_after) if retry_after is not None else jittered


@dataclass
class FhirClient:
    """One FHIR server: every request goes through `send`, which authenticates, retries and accounts."""

    base_url: str
    http: httpx.AsyncClient
    auth: Auth = field(default_factory=NoAuth)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], Any] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic
    rng: Callable[[], float] = random.random
    _capabilities: dict[str, Any] | None = field(default=None, init=False, repr=False)
    #: requests sent over the client's life (every attempt), for run summaries
    sent: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._origin = _origin(self.base_url)

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    async def send(
        self,
        path: str,
        budget: Budget,
        params: Params | None = None,
        *,
        method: str = "GET",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """A request with retries on 429/502/503/504 and connection errors; a 401 renews the token once."""
        url = self.url(path)
        if _origin(url) != self._origin:
            raise UpstreamError("the server pointed outside itself; not followed", url=_safe(url))
        attempt, renewed = 0, False
        while True:
            budget.spend(self.clock())
            self.sent += 1
            retry_after: float | None = None
            token: str | None = None
            bound = self._bound(budget)
            try:
                async with bound:  # the whole attempt, body included: httpx's timeouts are per read
                    credentials = await self.auth.headers(self.http)
                    token = credentials.get("Authorization")
                    sent = {"Accept": FHIR_JSON, **(headers or {}), **credentials}
                    response = await self.http.request(
                        method, url, params=_query(params), headers=sent, timeout=self._timeout(budget)
                    )
            except httpx.TimeoutException:
                failure: UpstreamError = UpstreamTimeoutError("the FHIR server did not answer in time", url=_safe(url))
            except TimeoutError:
                if not bound.expired():
                    raise
                # the deadline has passed: no retry
                raise UpstreamTimeoutError("the FHIR server did not answer in time", url=_safe(url)) from None
            except httpx.TransportError as exc:
                failure = UpstreamError(f"the FHIR server is unreachable ({type(exc).__name__})", url=_safe(url))
            else:
                status = response.status_code
                if status == 401:
                    self._refused(token, renewed, url)
                    renewed = True
                    continue
                if status not in RETRY_STATUSES:
                    return response
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                failure = (UpstreamTimeoutError if status == 504 else UpstreamError)(
                    "the FHIR server is not answering properly", url=_safe(url), status=status
                )
            await self._back_off(failure, attempt, retry_after, budget, url)
            attempt += 1

    async def _back_off(
        self, failure: UpstreamError, attempt: int, retry_after: float | None, budget: Budget, url: str
    ) -> None:
        """Wait before the next attempt, or raise `failure` when the retries or the budget's time are spent."""
        if attempt >= self.policy.retries:
            raise failure
        pause = self.policy.delay(attempt, retry_after, self.rng)
        if self.clock() + pause > budget.deadline:
            raise failure
        log.info("retrying %s in %.2fs (attempt %d): %s", _safe(url), pause, attempt + 1, failure)
        await self.sleep(pause)

    def _refused(self, token: str | None, renewed: bool, url: str) -> None:
        """A 401: the token used is invalidated so that the next attempt gets a new one; a second 401 is final."""
        if renewed:
            raise AuthorizationError("the FHIR server refused the credentials", url=_safe(url), status=401)
        self.auth.invalidate(token)

    def _bound(self, budget: Budget) -> asyncio.Timeout:
        """A bound on one whole attempt (reading the body included) at the budget's deadline; none without one."""
        remaining = budget.remaining(self.clock())
        return asyncio.timeout(None if remaining == float("inf") else max(remaining, 0.0))

    def _timeout(self, budget: Budget) -> httpx.Timeout:
        """The client's timeouts, cut short so that no request outlives the budget's deadline."""
        default = self.http.timeout
        remaining = budget.remaining(self.clock())
        if remaining == float("inf"):
            return default
        return httpx.Timeout(
            min(default.read or remaining, remaining),
            connect=min(default.connect or remaining, remaining),
            write=min(default.write or remaining, remaining),
            pool=min(default.pool or remaining, remaining),
        )

    async def download(self, url: str, dest: Path, budget: Budget, *, authenticated: bool) -> int:
        """Stream a file to disk (Bulk Data output); retried whole on transient failures. Returns its bytes.

        The token goes only to this server: a file elsewhere that requires it is refused.
        """
        same_server = _origin(url) == self._origin
        if authenticated and not same_server:
            raise UpstreamError("an export file on another host asks for our token; not sent", url=_safe(url))
        attempt, renewed = 0, False
        while True:
            budget.spend(self.clock())
            self.sent += 1
            retry_after: float | None = None
            token: str | None = None
            headers = {"Accept": "application/fhir+ndjson"}
            if authenticated:
                credentials = await self.auth.headers(self.http)
                token = credentials.get("Authorization")
                headers.update(credentials)
            bound = self._bound(budget)
            try:
                async with (
                    bound,  # the whole attempt, body included: httpx's timeouts are per read
                    self.http.stream("GET", url, headers=headers, timeout=self._timeout(budget)) as response,
                ):
                    status = response.status_code
                    if status == 200:
                        size = 0
                        with dest.open("wb") as out:
                            async for chunk in response.aiter_bytes():
                                out.write(chunk)
                                size += len(chunk)
                        return size
                    if status == 401 and authenticated:
                        self._refused(token, renewed, url)
                        renewed = True
                        continue
                    if status not in RETRY_STATUSES:
                        raise UpstreamError("an export file could not be downloaded", url=_safe(url), status=status)
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
                    failure = UpstreamError("an export file is not available yet", url=_safe(url), status=status)
            except httpx.TimeoutException:
                failure = UpstreamTimeoutError("an export file download timed out", url=_safe(url))
            except TimeoutError:
                if not bound.expired():
                    raise
                # the deadline has passed: no retry
                raise UpstreamTimeoutError("an export file download timed out", url=_safe(url)) from None
            except httpx.TransportError as exc:
                failure = UpstreamError(f"an export file download failed ({type(exc).__name__})", url=_safe(url))
            await self._back_off(failure, attempt, retry_after, budget, url)
            attempt += 1

    async def read(self, rtype: str, rid: str, budget: Budget) -> dict[str, Any] | None:
        """One resource, or None when the server has no such resource (404 or 410)."""
        response = await self.send(f"{rtype}/{rid}", budget)
        if response.status_code in (404, 410):
            return None
        return _resource(response, rtype)

    async def search(self, path: str, params: Params, budget: Budget) -> AsyncIterator[dict[str, Any]]:
        """Every entry of a search, page after page, following Bundle.link 'next' until there is none."""
        url: str | None = path
        query: Params | None = params
        seen: set[str] = set()
        while url is not None:
            response = await self.send(url, budget, query)
            if response.status_code >= 400:
                raise UpstreamError(
                    "the FHIR server refused a search", url=_safe(self.url(url)), status=response.status_code
                )
            page = _resource(response, "Bundle")
            for entry in page.get("entry", []) or []:
                if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                    yield entry
            url, query = _next_link(page, response), None
            if url is not None:
                if url in seen:
                    raise UpstreamError("the server's paging links go round in a circle", url=_safe(url))
                seen.add(url)

    async def capabilities(self, budget: Budget) -> dict[str, Any]:
        """The CapabilityStatement (cached for the client's life); empty when the server will not say."""
        if self._capabilities is None:
            try:
                response = await self.send("metadata", budget)
                self._capabilities = _resource(response, "CapabilityStatement") if response.status_code == 200 else {}
            except (AuthorizationError, BudgetExceededError, UpstreamTimeoutError):
                raise
            except UpstreamError as exc:
                # the server will not say: searches work everywhere; do not ask again for every patient
                log.warning("no CapabilityStatement from %s: %s", self.base_url, exc)
                self._capabilities = {}
        return self._capabilities


def query_chunks(url: str, name: str, values: list[str], others: list[tuple[str, str]], limit: int) -> list[str]:
    """Values joined with commas, in as few chunks as keep each whole URL (percent-encoded) under `limit`."""
    fixed = len(str(httpx.URL(url, params=[*others, (name, "")])))
    room = max(limit - fixed, 1)
    chunks: list[list[str]] = [[]]
    size = 0
    for value in values:
        cost = len(quote(value, safe="")) + (3 if chunks[-1] else 0)  # an encoded comma joins them
        if chunks[-1] and size + cost > room:
            chunks.append([])
            size, cost = 0, cost - 3
        chunks[-1].append(value)
        size += cost
    return [",".join(chunk) for chunk in chunks if chunk]


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _query(params: Params | None) -> httpx.QueryParams | None:
    return None if params is None else httpx.QueryParams(params)  # type: ignore[arg-type]


def _resource(response: httpx.Response, expected: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise UpstreamError(
            f"the FHIR server answered with something that is not JSON (expected a {expected})",
            url=_safe(str(response.request.url)),
            status=response.status_code,
        ) from None
    if not isinstance(body, dict) or body.get("resourceType") != expected:
        got = body.get("resourceType") if isinstance(body, dict) else type(body).__name__
        raise UpstreamError(
            f"the FHIR server answered a {got!s:.40} where a {expected} was expected",
            url=_safe(str(response.request.url)),
            status=response.status_code,
        )
    return body


def _next_link(page: dict[str, Any], response: httpx.Response) -> str | None:
    for link in page.get("link", []) or []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return urljoin(str(response.request.url), str(link["url"]))
    return None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _safe(url: str) -> str:
    """A URL fit for logs and errors (its query holds resource ids and codes, never patient data), shortened."""
    return url if len(url) <= 200 else url[:200] + "..."
