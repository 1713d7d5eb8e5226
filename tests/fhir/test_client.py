"""The FHIR client's failure modes with respx: paging, 401 renewal, 404, 429 Retry-After, 5xx, timeouts, bad pages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import httpx
import pytest
import respx

from matcher.errors import AuthorizationError, ConfigurationError, UpstreamError, UpstreamTimeoutError
from matcher.fhir.client import CAPABILITIES_RETRY, Budget, FhirClient
from matcher.fhir.connect import fhir_client
from matcher.fhir.retry import RetryPolicy
from matcher.settings import Settings, shipped

BASE = "https://fhir.example/r4"
#: five retries from 1 s: room for a deadline to come first
PATIENT = RetryPolicy(retries=5, backoff=1.0, backoff_max=30)


class CountingAuth:
    def __init__(self) -> None:
        self.token = 1
        self.invalidated = 0

    async def headers(self, client: httpx.AsyncClient) -> dict[str, str]:
        return {"Authorization": f"Bearer t{self.token}"}

    def invalidate(self, used: str | None = None) -> None:
        assert used == f"Bearer t{self.token}"  # the client says which token was refused
        self.invalidated += 1
        self.token += 1


def bundle(*ids: str, next_url: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": "Condition", "id": i}} for i in ids],
    }
    if next_url:
        out["link"] = [{"relation": "next", "url": next_url}]
    return out


@pytest.fixture
async def client(sleeps):
    async with httpx.AsyncClient() as http:
        yield FhirClient(
            BASE, http, policy=RetryPolicy(retries=3, backoff=0.5, backoff_max=8), sleep=sleeps, rng=lambda: 1.0
        )


async def collect(client: FhirClient, budget: Budget | None = None) -> list[str]:
    return [e["resource"]["id"] async for e in client.search("Condition", [("patient", "p1")], budget or Budget(50))]


@respx.mock
async def test_search_follows_next_links_to_the_end(client):
    first = respx.get(f"{BASE}/Condition", params={"patient": "p1"}).respond(
        json=bundle("a", "b", next_url=f"{BASE}/Condition?page=2")
    )
    second = respx.get(f"{BASE}/Condition", params={"page": "2"}).respond(
        json=bundle("c", next_url="Condition?page=3")
    )  # a relative next link works too
    third = respx.get(f"{BASE}/Condition", params={"page": "3"}).respond(json=bundle("d"))
    assert await collect(client) == ["a", "b", "c", "d"]
    assert first.called and second.called and third.called


@respx.mock
async def test_paging_that_goes_round_in_circles_is_stopped(client):
    respx.get(f"{BASE}/Condition", params={"patient": "p1"}).respond(json=bundle("a", next_url=f"{BASE}/Condition?p=2"))
    respx.get(f"{BASE}/Condition", params={"p": "2"}).respond(json=bundle("b", next_url=f"{BASE}/Condition?p=2"))
    with pytest.raises(UpstreamError, match="go round in a circle"):
        await collect(client)


@respx.mock
async def test_next_links_to_another_host_are_not_followed(client):
    respx.get(f"{BASE}/Condition").respond(json=bundle("a", next_url="https://evil.example/steal"))
    with pytest.raises(UpstreamError, match="outside itself"):
        await collect(client)


@respx.mock
async def test_429_is_retried_after_the_time_the_server_asks(client, sleeps):
    route = respx.get(f"{BASE}/Condition").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "3"}),
            httpx.Response(429, headers={"Retry-After": "1"}),
            httpx.Response(200, json=bundle("a")),
        ]
    )
    assert await collect(client) == ["a"]
    assert route.call_count == 3
    assert sleeps.pauses == [3.0, 1.0]  # backoff with jitter 1.0 gives 0.5 then 1.0; Retry-After wins


@respx.mock
async def test_5xx_then_success_backs_off_exponentially(client, sleeps):
    respx.get(f"{BASE}/Condition").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(502),
            httpx.Response(504),
            httpx.Response(200, json=bundle("a")),
        ]
    )
    assert await collect(client) == ["a"]
    assert sleeps.pauses == [0.5, 1.0, 2.0]


@respx.mock
async def test_pauses_are_full_jitter_below_a_capped_exponential(sleeps):
    respx.get(f"{BASE}/Condition").mock(
        side_effect=[*(httpx.Response(503) for _ in range(5)), httpx.Response(200, json=bundle("a"))]
    )
    async with httpx.AsyncClient() as http:
        policy = RetryPolicy(retries=5, backoff=1.0, backoff_max=5.0)
        client = FhirClient(BASE, http, policy=policy, sleep=sleeps, rng=lambda: 0.25)
        assert await collect(client) == ["a"]
    assert sleeps.pauses == [0.25, 0.5, 1.0, 1.25, 1.25]  # a quarter of 1, 2, 4, then of the ceiling 5


@respx.mock
async def test_retry_after_is_the_least_pause_not_the_most(client, sleeps):
    respx.get(f"{BASE}/Condition").mock(
        side_effect=[httpx.Response(503, headers={"Retry-After": "0"}), httpx.Response(200, json=bundle("a"))]
    )
    assert await collect(client) == ["a"]
    assert sleeps.pauses == [0.5]  # the backoff is longer than the server asked


@respx.mock
async def test_persistent_5xx_gives_up_with_the_url_and_status(client):
    respx.get(f"{BASE}/Condition").respond(503)
    with pytest.raises(UpstreamError) as caught:
        await collect(client)
    assert caught.value.status == 503
    assert caught.value.url is not None and caught.value.url.startswith(f"{BASE}/Condition")


@respx.mock
async def test_other_4xx_are_not_retried(client, sleeps):
    route = respx.get(f"{BASE}/Condition").respond(400, json={"resourceType": "OperationOutcome"})
    with pytest.raises(UpstreamError) as caught:
        await collect(client)
    assert route.call_count == 1 and sleeps.pauses == []
    assert caught.value.status == 400


@respx.mock
async def test_timeouts_are_retried_then_reported_as_timeouts(client, sleeps):
    route = respx.get(f"{BASE}/Condition").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(UpstreamTimeoutError):
        await collect(client)
    assert route.call_count == 4  # the first try and three retries


@respx.mock
async def test_connection_errors_are_retried(client):
    respx.get(f"{BASE}/Condition").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=bundle("a"))]
    )
    assert await collect(client) == ["a"]


@respx.mock
async def test_401_renews_the_token_once(sleeps):
    auth = CountingAuth()
    route = respx.get(f"{BASE}/Condition").mock(
        side_effect=[httpx.Response(401), httpx.Response(200, json=bundle("a"))]
    )
    async with httpx.AsyncClient() as http:
        client = FhirClient(BASE, http, auth=auth, sleep=sleeps)
        assert await collect(client) == ["a"]
    assert auth.invalidated == 1
    assert route.calls[1].request.headers["authorization"] == "Bearer t2"


@respx.mock
async def test_the_token_is_renewed_once_per_request_even_across_retries(sleeps):
    auth = CountingAuth()
    route = respx.get(f"{BASE}/Condition").mock(
        side_effect=[httpx.Response(401), httpx.Response(503), httpx.Response(401), httpx.Response(200)]
    )
    async with httpx.AsyncClient() as http:
        client = FhirClient(BASE, http, auth=auth, sleep=sleeps)
        with pytest.raises(AuthorizationError):
            await collect(client)
    assert auth.invalidated == 1 and route.call_count == 3 and len(sleeps.pauses) == 1


@respx.mock
async def test_a_second_401_is_an_authorization_error(sleeps):
    respx.get(f"{BASE}/Condition").respond(401)
    async with httpx.AsyncClient() as http:
        client = FhirClient(BASE, http, auth=CountingAuth(), sleep=sleeps)
        with pytest.raises(AuthorizationError):
            await collect(client)


@respx.mock
async def test_read_of_a_missing_resource_is_none(client):
    respx.get(f"{BASE}/Patient/nope").respond(404, json={"resourceType": "OperationOutcome"})
    assert await client.read("Patient", "nope", Budget(5)) is None


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>proxy error</html>"),
        httpx.Response(200, json={"resourceType": "OperationOutcome"}),
        httpx.Response(200, json=["not", "a", "bundle"]),
    ],
)
@respx.mock
async def test_a_malformed_page_is_an_upstream_error(client, response):
    respx.get(f"{BASE}/Condition").mock(return_value=response)
    with pytest.raises(UpstreamError, match="Bundle"):
        await collect(client)


@respx.mock
async def test_the_request_budget_caps_pages_and_retries(client):
    respx.get(f"{BASE}/Condition", params={"patient": "p1"}).respond(json=bundle("a", next_url=f"{BASE}/Condition?p=1"))
    for i in range(1, 10):
        respx.get(f"{BASE}/Condition", params={"p": str(i)}).respond(
            json=bundle(str(i), next_url=f"{BASE}/Condition?p={i + 1}")
        )
    with pytest.raises(UpstreamError, match="budget of 4"):
        await collect(client, Budget(4, what="Patient/p1"))


@respx.mock
async def test_no_retry_starts_after_the_deadline(sleeps):
    now = [100.0]
    route = respx.get(f"{BASE}/Condition").respond(503)
    async with httpx.AsyncClient() as http:
        client = FhirClient(BASE, http, sleep=sleeps, clock=lambda: now[0], rng=lambda: 1.0, policy=PATIENT)
        with pytest.raises(UpstreamError):
            await collect(client, Budget(50, deadline=101.5))
    assert route.call_count == 2  # the pause of 2 s before the third try would end after the deadline


@respx.mock
async def test_a_retry_after_date_is_read_on_the_injected_wall_clock(sleeps):
    respx.get(f"{BASE}/Condition").mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:04 GMT"}),
            httpx.Response(200, json=bundle("a")),
        ]
    )
    async with httpx.AsyncClient() as http:
        client = FhirClient(BASE, http, sleep=sleeps, wall_clock=lambda: 1445412480.0, rng=lambda: 0.0)
        assert await collect(client) == ["a"]
    assert sleeps.pauses == [4.0]


@respx.mock
async def test_no_request_starts_after_the_deadline_and_each_is_cut_short(sleeps):
    now = [100.0]
    route = respx.get(f"{BASE}/Condition").respond(json=bundle("a"))
    async with httpx.AsyncClient(timeout=30) as http:
        client = FhirClient(BASE, http, sleep=sleeps, clock=lambda: now[0])
        assert await collect(client, Budget(50, deadline=102.0)) == ["a"]
        assert route.calls[0].request.extensions["timeout"]["read"] == pytest.approx(2.0)
        now[0] = 103.0
        with pytest.raises(UpstreamTimeoutError, match="ran out"):
            await collect(client, Budget(50, deadline=102.0))
    assert route.call_count == 1


@respx.mock
async def test_a_server_without_a_capability_statement_is_asked_once(sleeps):
    route = respx.get(f"{BASE}/metadata").respond(404)
    async with httpx.AsyncClient() as http:
        client = FhirClient(BASE, http, sleep=sleeps)
        assert await client.capabilities(Budget(5)) == {}
        assert await client.capabilities(Budget(5)) == {}
    assert route.call_count == 1


@respx.mock
async def test_a_download_retries_as_asked_within_the_deadline_and_is_cut_short(sleeps, tmp_path):
    now = [100.0]
    url = f"{BASE}/files/Condition.ndjson"
    route = respx.get(url).mock(
        side_effect=[httpx.Response(503, headers={"Retry-After": "3"}), httpx.Response(503), httpx.Response(200)]
    )

    async def sleep(seconds: float) -> None:  # time passes while the client waits
        await sleeps(seconds)
        now[0] += seconds

    async with httpx.AsyncClient(timeout=30) as http:
        client = FhirClient(BASE, http, sleep=sleep, clock=lambda: now[0], rng=lambda: 1.0, policy=PATIENT)
        with pytest.raises(UpstreamError, match="not available yet"):
            await client.download(url, tmp_path / "out.ndjson", Budget(50, deadline=103.5), authenticated=False)
    assert sleeps.pauses == [3.0]  # the server's Retry-After; the next pause would end after the deadline
    assert route.call_count == 2
    assert route.calls[0].request.extensions["timeout"]["read"] == pytest.approx(3.5)


@respx.mock
async def test_a_download_is_retried_after_a_lost_connection_and_other_4xx_are_final(sleeps, tmp_path):
    url = f"{BASE}/files/Condition.ndjson"
    route = respx.get(url).mock(side_effect=[httpx.ConnectError("reset"), httpx.Response(200, content=b"{}\n")])
    gone = respx.get(f"{BASE}/files/gone.ndjson").respond(404)
    async with httpx.AsyncClient() as http:
        client = FhirClient(BASE, http, sleep=sleeps, rng=lambda: 1.0)
        assert await client.download(url, tmp_path / "out.ndjson", Budget(5), authenticated=False) == 3
        with pytest.raises(UpstreamError, match="could not be downloaded") as caught:
            await client.download(f"{BASE}/files/gone.ndjson", tmp_path / "gone.ndjson", Budget(5), authenticated=False)
    assert route.call_count == 2 and sleeps.pauses == [0.5]
    assert gone.call_count == 1 and caught.value.status == 404


@respx.mock
async def test_a_download_renews_the_token_once_on_401(sleeps, tmp_path):
    auth = CountingAuth()
    url = f"{BASE}/files/Condition.ndjson"
    route = respx.get(url).mock(side_effect=[httpx.Response(401), httpx.Response(200, content=b'{"a": 1}\n')])
    async with httpx.AsyncClient() as http:
        client = FhirClient(BASE, http, auth=auth, sleep=sleeps)
        size = await client.download(url, tmp_path / "out.ndjson", Budget(5), authenticated=True)
    assert size == 9 and (tmp_path / "out.ndjson").read_bytes() == b'{"a": 1}\n'
    assert auth.invalidated == 1 and sleeps.pauses == []
    assert route.calls[0].request.headers["authorization"] == "Bearer t1"
    assert route.calls[1].request.headers["authorization"] == "Bearer t2"


@respx.mock
async def test_a_second_401_on_a_download_is_an_authorization_error(sleeps, tmp_path):
    auth = CountingAuth()
    url = f"{BASE}/files/Condition.ndjson"
    route = respx.get(url).respond(401)
    async with httpx.AsyncClient() as http:
        client = FhirClient(BASE, http, auth=auth, sleep=sleeps)
        with pytest.raises(AuthorizationError):
            await client.download(url, tmp_path / "out.ndjson", Budget(5), authenticated=True)
    assert auth.invalidated == 1 and route.call_count == 2


class SlowBody(httpx.AsyncByteStream):
    """A body that trickles in: one byte every 0.5 s, 10 in all (each read is quick; the whole is not)."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(10):
            await asyncio.sleep(0.5)
            yield b"x"


@pytest.mark.parametrize("kind", ["send", "download"])
@respx.mock
async def test_a_slow_body_cannot_outlive_the_deadline(sleeps, tmp_path, kind):
    url = f"{BASE}/files/Condition.ndjson"
    route = respx.get(url).mock(side_effect=lambda request: httpx.Response(200, stream=SlowBody()))
    async with httpx.AsyncClient(timeout=30) as http:
        client = FhirClient(BASE, http, sleep=sleeps, clock=time.monotonic)  # a real clock: the bound is real time
        started = time.monotonic()
        budget = Budget(50, deadline=started + 0.3)
        attempt: Coroutine[Any, Any, object]
        if kind == "send":
            attempt = client.send(url, budget)
        else:
            attempt = client.download(url, tmp_path / "out.ndjson", budget, authenticated=False)
        with pytest.raises(UpstreamTimeoutError) as caught:
            await attempt
        elapsed = time.monotonic() - started
    assert elapsed < 0.8  # the body would take 5 s
    assert caught.value.url == url
    assert route.call_count == 1 and sleeps.pauses == []  # the deadline has passed: no retry


async def test_a_client_without_a_server_url_is_a_configuration_error():
    async with httpx.AsyncClient() as http:
        with pytest.raises(ConfigurationError, match="TRIALMATCH_FHIR_BASE_URL"):
            fhir_client(shipped(), http)


@respx.mock
async def test_a_failed_capability_discovery_is_tried_again_later(sleeps):
    # one 503 on first contact used to be remembered for the life of the process: searches for good
    now = [1000.0]
    route = respx.get(f"{BASE}/metadata").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(200, json={"resourceType": "CapabilityStatement", "status": "active"}),
        ]
    )
    policy = RetryPolicy.from_settings(Settings(_env_file=None, fhir_retries=0))
    async with httpx.AsyncClient() as http:
        client = FhirClient(BASE, http, policy=policy, sleep=sleeps, clock=lambda: now[0])
        assert await client.capabilities(Budget(5)) == {}
        now[0] += CAPABILITIES_RETRY - 1
        assert await client.capabilities(Budget(5)) == {}  # not asked again at once, for every patient
        assert route.call_count == 1
        now[0] += 2
        assert (await client.capabilities(Budget(5)))["resourceType"] == "CapabilityStatement"
        assert await client.capabilities(Budget(5)) != {}  # an answer is kept
    assert route.call_count == 2
