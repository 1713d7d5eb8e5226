"""Fetching one patient: $everything when offered, else parallel searches; patient=id or Patient/id; the cache."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx

from matcher.errors import PatientNotFoundError
from matcher.fhir.client import FhirClient
from matcher.fhir.fetch import Fetched, FetchOptions, PatientFetcher, chunk_codes
from matcher.fhir.source import ServerSource

BASE = "https://fhir.example/r4"
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-01-01"}


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def caps(
    everything: bool,
    types: tuple[str, ...] = (
        "Patient",
        "Condition",
        "Observation",
        "MedicationRequest",
        "MedicationStatement",
        "MedicationAdministration",
        "Procedure",
        "Medication",
    ),
) -> dict[str, Any]:
    resources = []
    for t in types:
        entry: dict[str, Any] = {"type": t, "searchParam": [{"name": "patient"}]}
        if t == "Patient" and everything:
            entry["operation"] = [{"name": "everything"}]
        if t == "Observation":
            entry["searchParam"].append({"name": "combo-code"})
        if t == "MedicationRequest":
            entry["searchInclude"] = ["MedicationRequest:medication"]
        resources.append(entry)
    return {"resourceType": "CapabilityStatement", "rest": [{"mode": "server", "resource": resources}]}


async def fetcher(mappings, **options: Any) -> PatientFetcher:
    http = httpx.AsyncClient()
    return PatientFetcher(FhirClient(BASE, http, sleep=lambda s: asyncio.sleep(0)), mappings, FetchOptions(**options))


@respx.mock
async def test_everything_is_one_request_when_the_server_offers_it(mappings):
    respx.get(f"{BASE}/metadata").respond(json=caps(everything=True))
    route = respx.get(f"{BASE}/Patient/p1/$everything").respond(
        json=searchset(PATIENT, {"resourceType": "Patient", "id": "linked"}, {"resourceType": "Condition", "id": "c1"})
    )
    got = await (await fetcher(mappings)).fetch("p1")
    assert got.method == "everything" and route.call_count == 1
    assert [r["id"] for r in got.resources] == ["p1", "c1"]  # another patient is not kept
    assert got.requests == 2  # metadata and $everything


@respx.mock
async def test_searches_run_when_everything_is_not_offered(mappings):
    respx.get(f"{BASE}/metadata").respond(json=caps(everything=False))
    respx.get(f"{BASE}/Patient/p1").respond(json=PATIENT)
    obs = respx.get(f"{BASE}/Observation").respond(json=searchset({"resourceType": "Observation", "id": "o1"}))
    meds = respx.get(f"{BASE}/MedicationRequest").respond(
        json=searchset(
            {"resourceType": "MedicationRequest", "id": "m1", "medicationReference": {"reference": "Medication/x"}}
        )
    )
    for rtype in ("Condition", "MedicationAdministration", "Procedure"):
        respx.get(f"{BASE}/{rtype}").respond(json=searchset())
    statements = respx.get(f"{BASE}/MedicationStatement").respond(json=searchset())
    medication = respx.get(f"{BASE}/Medication/x").respond(json={"resourceType": "Medication", "id": "x"})
    got = await (await fetcher(mappings)).fetch("p1")
    assert got.method == "search"
    assert {r["id"] for r in got.resources} == {"p1", "o1", "m1", "x"}
    params = obs.calls[0].request.url.params
    assert params["patient"] == "p1" and "1742-6" in params["combo-code"] and params["_count"] == "1000"
    assert meds.calls[0].request.url.params["_include"] == "MedicationRequest:medication"
    assert "_include" not in statements.calls[0].request.url.params  # the server offers no include there
    assert medication.called  # not included by the server: read afterwards
    assert got.requests == 1 + 1 + 6 + 1


@respx.mock
async def test_servers_that_want_patient_references_are_learnt(mappings):
    respx.get(f"{BASE}/metadata").respond(json=caps(everything=False, types=("Patient", "Condition")))
    respx.get(f"{BASE}/Patient/p1").respond(json=PATIENT)
    route = respx.get(f"{BASE}/Condition").mock(
        side_effect=lambda request: (
            httpx.Response(200, json=searchset({"resourceType": "Condition", "id": "c1"}))
            if request.url.params["patient"] == "Patient/p1"
            else httpx.Response(400)
        )
    )
    f = await fetcher(mappings)
    got = await f.fetch("p1")
    assert {r["id"] for r in got.resources} == {"p1", "c1"}
    assert f.patient_style == "reference" and route.call_count == 2


@respx.mock
async def test_unknown_patient(mappings):
    respx.get(f"{BASE}/metadata").respond(json=caps(everything=False))
    respx.get(f"{BASE}/Patient/gone").respond(404)
    with pytest.raises(PatientNotFoundError):
        await (await fetcher(mappings)).fetch("gone")
    respx.get(f"{BASE}/metadata").respond(json=caps(everything=True))
    respx.get(f"{BASE}/Patient/gone/$everything").respond(404)
    with pytest.raises(PatientNotFoundError):
        await (await fetcher(mappings, everything="always")).fetch("gone")


def test_long_code_lists_are_split_under_the_url_limit():
    codes = [f"{i:05d}-1" for i in range(1000)]
    chunks = chunk_codes(codes, 500)
    assert [c for chunk in chunks for c in chunk] == codes
    assert all(len(",".join(chunk)) <= 500 for chunk in chunks)


class FakeFetcher:
    def __init__(self) -> None:
        self.calls = 0
        self.client = type("C", (), {"base_url": BASE})()

    async def fetch(self, patient_id: str):
        self.calls += 1
        await asyncio.sleep(0.01)
        return Fetched(patient_id, [dict(PATIENT, id=patient_id)], requests=3)


async def test_cache_hits_expire_after_the_ttl_and_concurrent_asks_share_one_fetch():
    now = [0.0]
    inner = FakeFetcher()
    source = ServerSource(inner, ttl=60, maxsize=10, timer=lambda: now[0])  # type: ignore[arg-type]
    first, second = await asyncio.gather(source.fetch("p1"), source.fetch("p1"))
    assert inner.calls == 1 and not first.cached and first.requests == 3
    assert second.resources == first.resources
    hit = await source.fetch("p1")
    assert hit.cached and hit.requests == 0
    now[0] = 61.0
    assert not (await source.fetch("p1")).cached
    assert inner.calls == 2
