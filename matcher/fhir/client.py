"""An async FHIR R4 client on httpx: read, search, page and download, each request authenticated, budgeted, retried."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urljoin, urlsplit

import httpx

from matcher.errors import AuthorizationError, BudgetExceededError, UpstreamError, UpstreamTimeoutError
from matcher.fhir.auth import Auth, NoAuth
from matcher.fhir.refs import logical_id
from matcher.fhir.retry import RETRY_STATUSES, RetryPolicy, Transient, parse_retry_after
from matcher.settings import shipped

log = logging.getLogger("trialmatch.fhir")

FHIR_JSON = "application/fhir+json"
Params = list[tuple[str, str]] | dict[str, str]
T = TypeVar("T")


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


@dataclass(frozen=True)
class _Wording:
    """What a failed attempt is called in the errors: a search and a file download say it differently."""

    timeout: str
    unreachable: str


_SEARCH = _Wording("the FHIR server did not answer in time", "the FHIR server is unreachable")
_DOWNLOAD = _Wording("an export file download timed out", "an export file download failed")


#: seconds before a failed capability discovery is tried again
CAPABILITIES_RETRY = 300.0


@dataclass
class FhirClient:
    """One FHIR server: every request goes through `send`, which authenticates, retries and accounts."""

    base_url: str
    http: httpx.AsyncClient
    auth: Auth = field(default_factory=NoAuth)
    policy: RetryPolicy = field(default_factory=lambda: RetryPolicy.from_settings(shipped()))
    sleep: Callable[[float], Any] = asyncio.sleep
    #: the deadlines' clock (monotonic); and the wall clock, for Retry-After given as an HTTP date
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    rng: Callable[[], float] = random.random
    _capabilities: dict[str, Any] | None = field(default=None, init=False, repr=False)
    #: after a failed capability discovery, when (on `clock`) to ask again
    _ask_capabilities_at: float = field(default=0.0, init=False, repr=False)
    #: requests sent over the client's life (every attempt), for run summaries
    sent: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._origin = _origin(self.base_url)

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    def retry_after(self, response: httpx.Response) -> float | None:
        """The seconds a server asks us to wait (its Retry-After header), if it says."""
        return parse_retry_after(response.headers.get("retry-after"), now=self.wall_clock())

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

        async def once(credentials: dict[str, str]) -> httpx.Response:
            sent = {"Accept": FHIR_JSON, **(headers or {}), **credentials}
            response = await self.http.request(
                method, url, params=_query(params), headers=sent, timeout=self._timeout(budget)
            )
            status = response.status_code
            if status == 401:
                raise _Refused
            if status in RETRY_STATUSES:
                failure = (UpstreamTimeoutError if status == 504 else UpstreamError)(
                    "the FHIR server is not answering properly", url=_safe(url), status=status
                )
                raise Transient(failure, self.retry_after(response))
            return response

        return await self._retried(once, budget, url, _SEARCH, authenticated=True)

    async def download(self, url: str, dest: Path, budget: Budget, *, authenticated: bool) -> int:
        """Stream a file to disk (Bulk Data output); retried whole on transient failures. Returns its bytes.

        The token goes only to this server: a file elsewhere that requires it is refused.
        """
        same_server = _origin(url) == self._origin
        if authenticated and not same_server:
            raise UpstreamError("an export file on another host asks for our token; not sent", url=_safe(url))

        async def once(credentials: dict[str, str]) -> int:
            headers = {"Accept": "application/fhir+ndjson", **credentials}
            async with self.http.stream("GET", url, headers=headers, timeout=self._timeout(budget)) as response:
                status = response.status_code
                if status == 200:
                    return await _save(response, dest)
                if status == 401 and authenticated:
                    raise _Refused
                if status not in RETRY_STATUSES:
                    raise UpstreamError("an export file could not be downloaded", url=_safe(url), status=status)
                failure = UpstreamError("an export file is not available yet", url=_safe(url), status=status)
                raise Transient(failure, self.retry_after(response))

        return await self._retried(once, budget, url, _DOWNLOAD, authenticated=authenticated)

    async def _retried(
        self,
        once: Callable[[dict[str, str]], Awaitable[T]],
        budget: Budget,
        url: str,
        wording: _Wording,
        *,
        authenticated: bool,
    ) -> T:
        """`once` (one request, given the credentials) under the retry policy; a 401 (`_Refused`) renews the
        token and asks again at once, a second 401 is final."""
        renewed = False

        async def attempt() -> T:
            nonlocal renewed
            while True:
                async with self._attempt(budget, url, wording):
                    credentials = await self.auth.headers(self.http) if authenticated else {}
                    try:
                        return await once(credentials)
                    except _Refused:
                        pass
                if renewed:
                    raise AuthorizationError("the FHIR server refused the credentials", url=_safe(url), status=401)
                self.auth.invalidate(credentials.get("Authorization"))
                renewed = True

        return await self.policy.run(
            attempt, deadline=budget.deadline, clock=self.clock, sleep=self.sleep, rng=self.rng, what=_safe(url)
        )

    @asynccontextmanager
    async def _attempt(self, budget: Budget, url: str, wording: _Wording) -> AsyncIterator[None]:
        """One request on the budget, bounded whole (body included) by its deadline; transport failures
        become `Transient`, and the deadline passing is final (no retry)."""
        budget.spend(self.clock())
        self.sent += 1
        bound = self._bound(budget)
        try:
            async with bound:  # the whole attempt, body included: httpx's timeouts are per read
                yield
        except httpx.TimeoutException:
            raise Transient(UpstreamTimeoutError(wording.timeout, url=_safe(url))) from None
        except TimeoutError:
            if not bound.expired():
                raise
            # the deadline has passed: no retry
            raise UpstreamTimeoutError(wording.timeout, url=_safe(url)) from None
        except httpx.TransportError as exc:
            raise Transient(UpstreamError(f"{wording.unreachable} ({type(exc).__name__})", url=_safe(url))) from None

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

    async def read(self, rtype: str, rid: str, budget: Budget) -> dict[str, Any] | None:
        """One resource, or None when the server has no such resource (404 or 410)."""
        response = await self.send(f"{rtype}/{logical_id(rid)}", budget)
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
        """The CapabilityStatement, kept for the client's life once the server has answered; empty when it
        will not say. A failure (the server down for a moment) is not an answer: searches serve meanwhile,
        and the server is asked again CAPABILITIES_RETRY seconds later."""
        if self._capabilities is not None:
            return self._capabilities
        if self.clock() < self._ask_capabilities_at:
            return {}
        try:
            response = await self.send("metadata", budget)
        except (AuthorizationError, BudgetExceededError, UpstreamTimeoutError):
            raise
        except UpstreamError as exc:
            log.warning("no CapabilityStatement from %s for now (asking again later): %s", self.base_url, exc)
            self._ask_capabilities_at = self.clock() + CAPABILITIES_RETRY
            return {}
        # a 200 says what it offers; a 4xx says it will not say (searches work everywhere)
        self._capabilities = _resource(response, "CapabilityStatement") if response.status_code == 200 else {}
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


class _Refused(Exception):
    """The server answered 401 to the credentials sent."""


async def _save(response: httpx.Response, dest: Path) -> int:
    """A streamed body written to `dest`; its size in bytes."""
    size = 0
    with dest.open("wb") as out:
        async for chunk in response.aiter_bytes():
            out.write(chunk)
            size += len(chunk)
    return size


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
