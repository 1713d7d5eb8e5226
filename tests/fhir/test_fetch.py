"""Fetching one patient: $everything when offered, else parallel searches; patient=id or Patient/id; the cache."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import httpx
import pytest
import respx

from matcher.errors import InputError, PatientNotFoundError
from matcher.fhir.client import Budget, FhirClient, query_chunks
from matcher.fhir.fetch import Fetched, FetchOptions, PatientFetcher
from matcher.fhir.patients import ServerSource
from matcher.settings import Settings, shipped

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


@pytest.fixture
async def fetcher(mappings):
    """A fetcher factory; its HTTP clients are closed after the test."""
    clients: list[httpx.AsyncClient] = []

    def make(**options: Any) -> PatientFetcher:
        clients.append(httpx.AsyncClient())
        client = FhirClient(BASE, clients[-1], sleep=lambda s: asyncio.sleep(0))
        return PatientFetcher(client, mappings, replace(FetchOptions.from_settings(shipped()), **options))

    yield make
    for http in clients:
        await http.aclose()


@respx.mock
async def test_everything_is_one_request_when_the_server_offers_it(fetcher):
    respx.get(f"{BASE}/metadata").respond(json=caps(everything=True))
    route = respx.get(f"{BASE}/Patient/p1/$everything").respond(
        json=searchset(PATIENT, {"resourceType": "Patient", "id": "linked"}, {"resourceType": "Condition", "id": "c1"})
    )
    got = await fetcher().fetch("p1")
    assert got.method == "everything" and route.call_count == 1
    assert [r["id"] for r in got.resources] == ["p1", "c1"]  # another patient is not kept
    assert got.requests == 2  # metadata and $everything


@respx.mock
async def test_searches_run_when_everything_is_not_offered(fetcher):
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
    got = await fetcher().fetch("p1")
    assert got.method == "search"
    assert {r["id"] for r in got.resources} == {"p1", "o1", "m1", "x"}
    params = obs.calls[0].request.url.params
    assert params["patient"] == "p1" and "1742-6" in params["combo-code"] and params["_count"] == "1000"
    assert meds.calls[0].request.url.params["_include"] == "MedicationRequest:medication"
    assert "_include" not in statements.calls[0].request.url.params  # the server offers no include there
    assert medication.called  # not included by the server: read afterwards
    assert got.requests == 1 + 1 + 6 + 1


@respx.mock
async def test_servers_that_want_patient_references_are_learnt(fetcher):
    respx.get(f"{BASE}/metadata").respond(json=caps(everything=False, types=("Patient", "Condition")))
    respx.get(f"{BASE}/Patient/p1").respond(json=PATIENT)
    route = respx.get(f"{BASE}/Condition").mock(
        side_effect=lambda request: (
            httpx.Response(200, json=searchset({"resourceType": "Condition", "id": "c1"}))
            if request.url.params["patient"] == "Patient/p1"
            else httpx.Response(400)
        )
    )
    f = fetcher()
    got = await f.fetch("p1")
    assert {r["id"] for r in got.resources} == {"p1", "c1"}
    assert f.patient_style == "reference" and route.call_count == 2


@respx.mock
async def test_unknown_patient(fetcher):
    respx.get(f"{BASE}/metadata").respond(json=caps(everything=False))
    respx.get(f"{BASE}/Patient/gone").respond(404)
    with pytest.raises(PatientNotFoundError):
        await fetcher().fetch("gone")
    respx.get(f"{BASE}/metadata").respond(json=caps(everything=True))
    respx.get(f"{BASE}/Patient/gone/$everything").respond(404)
    with pytest.raises(PatientNotFoundError):
        await fetcher(everything="always").fetch("gone")


def test_long_code_lists_are_split_under_the_url_limit():
    codes = [f"http://loinc.org|{i:05d}-1" for i in range(1000)]
    others = [("_count", "1000"), ("_elements", "subject")]
    chunks = query_chunks(f"{BASE}/Condition", "code", codes, others, 800)
    assert [c for chunk in chunks for c in chunk.split(",")] == codes
    lengths = [len(str(httpx.URL(f"{BASE}/Condition", params=[*others, ("code", c)]))) for c in chunks]
    assert max(lengths) <= 800 < max(lengths) + 40  # full, but never over: the encoding is counted


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


@respx.mock
async def test_everything_reads_the_medications_it_did_not_bring(fetcher):
    respx.get(f"{BASE}/metadata").respond(json=caps(everything=True))
    request = {
        "resourceType": "MedicationAdministration",
        "id": "m1",
        "status": "completed",
        "medicationReference": {"reference": "Medication/kymriah/_history/3"},
    }
    respx.get(f"{BASE}/Patient/p1/$everything").respond(json=searchset(PATIENT, request))
    read = respx.get(f"{BASE}/Medication/kymriah").respond(json={"resourceType": "Medication", "id": "kymriah"})
    got = await fetcher().fetch("p1")
    assert read.called
    assert {r["id"] for r in got.resources} == {"p1", "m1", "kymriah"}


async def test_one_caller_giving_up_does_not_cancel_the_others():
    inner = FakeFetcher()
    source = ServerSource(inner, ttl=0, maxsize=10)  # type: ignore[arg-type]
    impatient = asyncio.create_task(source.fetch("p1"))
    patient = asyncio.create_task(source.fetch("p1"))
    await asyncio.sleep(0)
    impatient.cancel()
    got = await patient
    assert got.patient_id == "p1" and inner.calls == 1


def test_the_fetch_options_are_the_settings():
    settings = Settings(
        _env_file=None,
        fhir_concurrency=2,
        fhir_page_size=50,
        fhir_everything="never",
        fhir_max_url_length=1500,
        fhir_request_budget=7,
        fhir_deadline=9.5,
    )
    assert FetchOptions.from_settings(settings) == FetchOptions(
        concurrency=2, page_size=50, everything="never", max_url_length=1500, budget=7, deadline=9.5
    )


@respx.mock(assert_all_mocked=True)
@pytest.mark.parametrize("patient_id", [".", "..", "...", "a/b", "p1?x=1", "", "x" * 65])
async def test_an_id_that_would_change_the_url_path_is_refused_before_any_request(fetcher, patient_id):
    # GET /patients/./match made the service ask the hospital's server for Patient/$everything (everyone)
    # and GET /fhir/Patient, with its own credentials
    with pytest.raises(InputError, match="not a FHIR resource id"):
        await fetcher().fetch(patient_id)
    assert respx.calls.call_count == 0


@respx.mock
async def test_a_read_puts_only_a_valid_id_in_the_path(fetcher):
    client = fetcher().client
    with pytest.raises(InputError):
        await client.read("Patient", "..", Budget(5))
    assert respx.calls.call_count == 0
