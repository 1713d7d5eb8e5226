"""The candidate funnel against respx: exact codes searched in short chunks, prefixes scanned, a Group's members."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import httpx
import pytest
import respx

from matcher.fhir.client import FhirClient
from matcher.jobs.funnel import FunnelOptions, ServerFunnel, has_disease_code
from matcher.settings import shipped

BASE = "https://fhir.example/r4"


async def no_sleep(seconds: float) -> None:
    pass


@pytest.fixture
async def client():
    async with httpx.AsyncClient() as http:
        yield FhirClient(BASE, http, sleep=no_sleep, rng=lambda: 1.0)


@respx.mock
async def test_funnel_searches_codes_scans_prefixes_and_narrows_to_a_group(client, mappings):
    def conditions(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        if params.get("code", "").endswith("|"):  # a scan of one code system: we filter
            entries = [
                {
                    "resource": {
                        "resourceType": "Condition",
                        "subject": {"reference": "Patient/chinese"},
                        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "M32.101"}]},
                    }
                },
                {
                    "resource": {
                        "resourceType": "Condition",
                        "subject": {"reference": "Patient/flu"},
                        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "J10.1"}]},
                    }
                },
            ]
        else:
            entries = [{"resource": {"resourceType": "Condition", "subject": {"reference": "Patient/snomed"}}}]
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": entries})

    route = respx.get(f"{BASE}/Condition").mock(side_effect=conditions)
    funnel = ServerFunnel(client, mappings, replace(FunnelOptions.from_settings(shipped()), max_url_length=2000))
    found, requests = await funnel.candidates(None, date(2026, 6, 30))
    assert found == {"chinese", "snomed"}
    assert requests == route.call_count > 2  # the exact codes are split over several short searches
    assert all(len(str(c.request.url)) <= 2000 for c in route.calls)
    assert all(c.request.url.params["_elements"] in ("subject", "code,subject") for c in route.calls)
    respx.get(f"{BASE}/Group/g").respond(
        json={
            "resourceType": "Group",
            "id": "g",
            "type": "person",
            "actual": True,
            "member": [
                {"entity": {"reference": "Patient/snomed"}},
                {"entity": {"reference": "Patient/chinese"}, "period": {"end": "2025-01-01"}},  # ended
            ],
        }
    )
    narrowed, _ = await funnel.candidates("g", date(2026, 6, 30))
    assert narrowed == {"snomed"}


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ({"coding": [{"system": "http://snomed.info/sct", "code": "69896004"}]}, True),
        ({"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]}, False),
        ("oops", False),
        ({"coding": "oops"}, False),
    ],
)
def test_the_disease_watch_reads_codes_and_never_trips_on_a_malformed_one(mappings, code, expected):
    assert has_disease_code({"resourceType": "Condition", "code": code}, mappings) is expected
