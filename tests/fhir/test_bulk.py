"""Bulk Data export against respx: kick-off, polling as told, download, clean-up, Groups, and its options."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from typing import Any

import httpx
import pytest
import respx

from matcher.errors import InputError, UpstreamError, UpstreamTimeoutError
from matcher.fhir.bulk import BulkExporter, ExportOptions
from matcher.fhir.client import FhirClient
from matcher.settings import Settings, shipped

BASE = "https://fhir.example/r4"
STATUS = f"{BASE}/bulk-status/1"
AS_OF = date(2026, 6, 30)


@pytest.fixture
async def client(sleeps):
    async with httpx.AsyncClient() as http:
        yield FhirClient(BASE, http, sleep=sleeps, rng=lambda: 1.0)


def exporter(client: FhirClient, **options: Any) -> BulkExporter:
    """An exporter with the shipped settings, but for `options`."""
    return BulkExporter(client, replace(ExportOptions.from_settings(shipped()), **options))


def ndjson(*resources: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in resources)


@respx.mock
async def test_export_kicks_off_polls_as_told_downloads_and_cleans_up(client, sleeps, tmp_path):
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
    got, files = await exporter(client).export(tmp_path, since="2026-06-01T00:00:00Z", types=["Patient"], as_of=AS_OF)
    assert got.transaction_time == "2026-06-30T01:00:00Z"
    assert [t for t, _ in files] == ["Patient", "Condition"]
    assert files[0][1].read_bytes().startswith(b'{"resourceType": "Patient"')
    params = kickoff.calls[0].request.url.params
    assert params["_type"] == "Patient" and params["_since"] == "2026-06-01T00:00:00Z"
    assert kickoff.calls[0].request.headers["prefer"] == "respond-async"
    assert status.call_count == 3 and sleeps.pauses == [7.0, 2.0]  # Retry-After, then our own backoff
    assert deleted.called


@respx.mock
async def test_an_empty_group_is_refused_before_anything_is_exported(client, tmp_path):
    respx.get(f"{BASE}/Group/g1").respond(json={"resourceType": "Group", "id": "g1", "type": "person", "actual": True})
    kickoff = respx.get(f"{BASE}/Group/g1/$export")
    with pytest.raises(InputError, match="no members"):
        await exporter(client).export(tmp_path, group="g1", as_of=AS_OF)
    assert not kickoff.called


@respx.mock
async def test_a_group_export_keeps_its_current_members(client, tmp_path):
    respx.get(f"{BASE}/Group/g1").respond(
        json={
            "resourceType": "Group",
            "id": "g1",
            "type": "person",
            "actual": True,
            "member": [
                {"entity": {"reference": "Patient/a"}},
                {"entity": {"reference": "Patient/b"}, "period": {"end": "2025-01-01"}},  # ended
            ],
        }
    )
    kickoff = respx.get(f"{BASE}/Group/g1/$export").respond(202, headers={"Content-Location": STATUS})
    respx.get(STATUS).respond(json={"transactionTime": "t", "output": []})
    respx.delete(STATUS).respond(202)
    export = exporter(client)
    manifest, files = await export.export(tmp_path, group="g1", as_of=AS_OF)
    assert kickoff.called and files == [] and manifest.transaction_time == "t"
    assert export.members == {"a"}
    assert export.requests == 4  # the Group, kick-off, one status check, the clean-up


@respx.mock
async def test_a_failed_export_is_an_upstream_error_and_still_cleaned_up(client, tmp_path):
    respx.get(f"{BASE}/Patient/$export").respond(202, headers={"Content-Location": STATUS})
    respx.get(STATUS).respond(500, json={"resourceType": "OperationOutcome"})
    deleted = respx.delete(STATUS).respond(202)
    with pytest.raises(UpstreamError, match="export failed"):
        await exporter(client).export(tmp_path, as_of=AS_OF)
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
        await exporter(client).export(tmp_path, as_of=AS_OF)


@respx.mock
async def test_polling_backs_off_to_its_ceiling_and_stops_at_the_timeout(sleeps, tmp_path):
    now = [0.0]

    async def sleep(seconds: float) -> None:  # time passes while the exporter waits
        await sleeps(seconds)
        now[0] += seconds

    respx.get(f"{BASE}/Patient/$export").respond(202, headers={"Content-Location": STATUS})
    respx.get(STATUS).respond(202)
    deleted = respx.delete(STATUS).respond(202)
    async with httpx.AsyncClient() as http:
        client = FhirClient(BASE, http, sleep=sleep, clock=lambda: now[0])
        with pytest.raises(UpstreamTimeoutError, match="did not finish in time"):
            await exporter(client, poll_max=4.0, timeout=20.0).export(tmp_path, as_of=AS_OF)
    assert sleeps.pauses == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]  # the next 4 s would end after 20 s
    assert deleted.called


def test_the_export_options_are_the_settings():
    settings = Settings(_env_file=None, export_budget=12, export_timeout=30.0, export_poll_max=5.0)
    options = ExportOptions.from_settings(settings)
    assert (options.budget, options.timeout, options.poll_max) == (12, 30.0, 5.0)
