"""GET /patients/{id}/match against a real FHIR server equals `trialmatch match` on the same patient's Bundle."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from matcher.api.app import create_app
from matcher.codes.model import Mappings
from matcher.pipeline import match_bundle
from matcher.serialize import result_json
from tests.integration.conftest import fixture_bundles
from tests.integration.servers import flaky_proxy, free_port, serve_app, silent_server
from tests.support.auth import DEV_HEADERS, dev_settings

pytestmark = pytest.mark.integration
AS_OF = date(2026, 6, 30)
SYNTHEA_AS_OF = date(2021, 4, 1)


def as_of_for(path: Path) -> date:
    return SYNTHEA_AS_OF if path.parent.name == "synthea" else AS_OF


def api(**settings: Any) -> TestClient:
    return TestClient(create_app(dev_settings(**settings), today=lambda: AS_OF), headers=DEV_HEADERS)


def expected(mappings: Mappings, path: Path) -> dict[str, Any]:
    return result_json(match_bundle(path.read_bytes(), as_of_for(path), mappings, path.name))


def through(client: TestClient, pid: str, path: Path) -> dict[str, Any]:
    response = client.get(f"/patients/{pid}/match", params={"as_of": as_of_for(path).isoformat()})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture(scope="module")
def files(mappings: Mappings, loaded: dict[str, Path]) -> dict[str, dict[str, Any]]:
    return {pid: expected(mappings, path) for pid, path in loaded.items()}


@pytest.mark.parametrize("everything", ["always", "never"])
def test_every_loaded_patient_matches_as_from_its_bundle(fhir_server, loaded, files, everything):
    with api(fhir_base_url=fhir_server, fhir_everything=everything) as client:
        different = [path.name for pid, path in loaded.items() if through(client, pid, path) != files[pid]]
    assert different == []
    assert len(loaded) == len(fixture_bundles())  # every fixture was loaded and compared


def test_paging_one_record_at_a_time(fhir_server, loaded, files):
    sample = dict(sorted(loaded.items(), key=lambda kv: kv[1].name)[:6])
    sample.update({pid: p for pid, p in loaded.items() if p.name.startswith(("Randall", "Stan"))})
    settings = {"fhir_base_url": fhir_server, "fhir_everything": "never", "cache_ttl": 0}
    with api(**settings, fhir_page_size=1, fhir_request_budget=2000) as paged, api(**settings) as whole:
        for pid, path in sample.items():
            query = {"as_of": as_of_for(path).isoformat()}
            one_by_one = paged.get(f"/patients/{pid}/match", params=query)
            at_once = whole.get(f"/patients/{pid}/match", params=query)
            assert one_by_one.json() == files[pid], path.name
            # one request per resource instead of one per search: the pages really were followed
            assert int(one_by_one.headers["x-fhir-requests"]) > int(at_once.headers["x-fhir-requests"]) + 5


@pytest.fixture(scope="module")
def flaky(fhir_server) -> Iterator[str]:
    with serve_app(flaky_proxy(fhir_server, fail_every=3)) as root:
        yield f"{root}/fhir"


@pytest.mark.parametrize("everything", ["always", "never"])
def test_a_server_answering_429_and_503_still_yields_the_right_result(flaky, loaded, files, everything):
    settings = {"fhir_base_url": flaky, "fhir_everything": everything, "fhir_backoff": 0.01, "fhir_retries": 4}
    with api(**settings) as client:
        for pid, path in list(loaded.items())[:12]:
            assert through(client, pid, path) == files[pid], path.name


def test_unknown_patient_is_404_operation_outcome(fhir_server):
    with api(fhir_base_url=fhir_server) as client:
        response = client.get("/patients/no-such-patient/match")
    assert response.status_code == 404
    assert response.json()["issue"][0]["code"] == "not-found"


def test_second_request_is_a_cache_hit(fhir_server, loaded):
    pid, path = next(iter(loaded.items()))
    with api(fhir_base_url=fhir_server, cache_ttl=60) as client:
        first = client.get(f"/patients/{pid}/match", params={"as_of": as_of_for(path).isoformat()})
        second = client.get(f"/patients/{pid}/match", params={"as_of": as_of_for(path).isoformat()})
    assert first.headers["x-cache"] == "miss" and int(first.headers["x-fhir-requests"]) >= 1
    assert second.headers["x-cache"] == "hit" and second.headers["x-fhir-requests"] == "0"
    assert first.json() == second.json()


def test_a_server_that_is_down_is_502_within_the_timeout():
    closed = f"http://127.0.0.1:{free_port()}/fhir"  # nothing listens there any more
    started = time.monotonic()
    with api(fhir_base_url=closed, fhir_retries=2, fhir_backoff=0.05, fhir_connect_timeout=1) as client:
        response = client.get("/patients/p1/match")
    assert response.status_code == 502
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "unreachable" in response.json()["issue"][0]["diagnostics"]
    assert time.monotonic() - started < 10


def test_a_server_that_hangs_is_504_within_the_timeout():
    with silent_server() as hung:
        started = time.monotonic()
        with api(fhir_base_url=hung, fhir_read_timeout=0.5, fhir_retries=1, fhir_backoff=0.05) as client:
            response = client.get("/patients/p1/match")
        elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.json()["issue"][0]["code"] == "timeout"
    assert elapsed < 5
