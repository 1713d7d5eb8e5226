"""Bulk Data export and the candidate funnel against respx: kick-off, polling, download, merges, searches."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx
import pytest
import respx

from matcher.errors import InputError, UpstreamError
from matcher.fhir.bulk import BulkExporter
from matcher.fhir.client import FhirClient
from matcher.fhir.mirror import Mirror
from matcher.jobs.funnel import FunnelOptions, ServerFunnel, has_disease_code

BASE = "https://fhir.example/r4"
STATUS = f"{BASE}/bulk-status/1"
AS_OF = date(2026, 6, 30)


class Sleeps:
    def __init__(self) -> None:
        self.pauses: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


@pytest.fixture
async def client():
    sleeps = Sleeps()
    async with httpx.AsyncClient() as http:
        c = FhirClient(BASE, http, sleep=sleeps, rng=lambda: 1.0)
        c.pauses = sleeps.pauses  # type: ignore[attr-defined]
        yield c


def ndjson(*resources: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in resources)


@respx.mock
async def test_export_kicks_off_polls_as_told_downloads_and_cleans_up(client, tmp_path):
    kickoff = respx.get(f"{BASE}/Patient/$export").respond(202, headers={"Content-Location": STATUS})
    manifest = {
        "transactionTime": "2026-06-30T01:00:00Z",
        "requiresAccessToken": True,
        "output": [
            {"type": "Patient", "url": f"{BASE}/files/p.ndjson"},
            {"type": "Condition", "url": f"{BASE}/files/c.ndjson"},
        ],
    }
    status = respx.get(STATUS).mock(
        side_effect=[
            httpx.Response(202, headers={"Retry-After": "7", "X-Progress": "10%"}),
            httpx.Response(202),
            httpx.Response(200, json=manifest),
        ]
    )
    respx.get(f"{BASE}/files/p.ndjson").respond(content=ndjson({"resourceType": "Patient", "id": "a"}))
    respx.get(f"{BASE}/files/c.ndjson").respond(content=ndjson({"resourceType": "Condition", "id": "c"}))
    deleted = respx.delete(STATUS).respond(202)
    got, files = await BulkExporter(client).export(
        tmp_path, since="2026-06-01T00:00:00Z", types=["Patient"], as_of=AS_OF
    )
    assert got.transaction_time == "2026-06-30T01:00:00Z"
    assert [t for t, _ in files] == ["Patient", "Condition"]
    assert files[0][1].read_bytes().startswith(b'{"resourceType": "Patient"')
    params = kickoff.calls[0].request.url.params
    assert params["_type"] == "Patient" and params["_since"] == "2026-06-01T00:00:00Z"
    assert kickoff.calls[0].request.headers["prefer"] == "respond-async"
    assert status.call_count == 3 and client.pauses == [7.0, 2.0]  # Retry-After, then our own backoff
    assert deleted.called


@respx.mock
async def test_an_empty_group_is_refused_before_anything_is_exported(client, tmp_path):
    respx.get(f"{BASE}/Group/g1").respond(json={"resourceType": "Group", "id": "g1", "type": "person", "actual": True})
    kickoff = respx.get(f"{BASE}/Group/g1/$export")
    with pytest.raises(InputError, match="no members"):
        await BulkExporter(client).export(tmp_path, group="g1", as_of=AS_OF)
    assert not kickoff.called


@respx.mock
async def test_a_failed_export_is_an_upstream_error_and_still_cleaned_up(client, tmp_path):
    respx.get(f"{BASE}/Patient/$export").respond(202, headers={"Content-Location": STATUS})
    respx.get(STATUS).respond(500, json={"resourceType": "OperationOutcome"})
    deleted = respx.delete(STATUS).respond(202)
    with pytest.raises(UpstreamError, match="export failed"):
        await BulkExporter(client).export(tmp_path, as_of=AS_OF)
    assert deleted.called


@respx.mock
async def test_files_elsewhere_that_want_our_token_are_refused(client, tmp_path):
    respx.get(f"{BASE}/Patient/$export").respond(202, headers={"Content-Location": STATUS})
    respx.get(STATUS).respond(
        json={
            "transactionTime": "t",
            "requiresAccessToken": True,
            "output": [{"type": "Patient", "url": "https://files.example/p.ndjson"}],
        }
    )
    respx.delete(STATUS).respond(202)
    with pytest.raises(UpstreamError, match="another host"):
        await BulkExporter(client).export(tmp_path, as_of=AS_OF)


def test_mirror_replace_then_merge_a_delta_with_deletions(tmp_path):
    mirror = Mirror(tmp_path / "mirror")
    full = tmp_path / "full"
    full.mkdir()
    (full / "Observation.0000.ndjson").write_bytes(
        ndjson({"resourceType": "Observation", "id": "o1", "v": 1}, {"resourceType": "Observation", "id": "o2", "v": 1})
    )
    (full / "Patient.0001.ndjson").write_bytes(ndjson({"resourceType": "Patient", "id": "p"}))
    mirror.replace(
        [("Observation", full / "Observation.0000.ndjson"), ("Patient", full / "Patient.0001.ndjson")],
        "2026-06-01T00:00:00Z",
    )
    first = mirror.current()
    delta = tmp_path / "delta"
    delta.mkdir()
    (delta / "Observation.0000.ndjson").write_bytes(
        ndjson({"resourceType": "Observation", "id": "o2", "v": 2}, {"resourceType": "Observation", "id": "o3", "v": 1})
    )
    (delta / "deleted.0001.ndjson").write_bytes(
        ndjson(
            {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [{"request": {"method": "DELETE", "url": "Observation/o1"}}],
            }
        )
    )
    mirror.merge(
        [("Observation", delta / "Observation.0000.ndjson"), ("deleted", delta / "deleted.0001.ndjson")],
        "2026-06-02T00:00:00Z",
    )
    assert mirror.transaction_time() == "2026-06-02T00:00:00Z"
    assert first is not None
    assert not first[0].exists()  # the old generation goes once the new one is current
    lines = [json.loads(line) for f in mirror.files() for line in f.read_text().splitlines()]
    observations = {r["id"]: r["v"] for r in lines if r["resourceType"] == "Observation"}
    assert observations == {"o2": 2, "o3": 1}
    assert [r["id"] for r in lines if r["resourceType"] == "Patient"] == ["p"]


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
    funnel = ServerFunnel(client, mappings, FunnelOptions(max_url_length=2000))
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
