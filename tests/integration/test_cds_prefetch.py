"""CDS Hooks patient-view against a real FHIR server: what the prefetch lacks is read from fhirServer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from matcher.api.app import create_app
from tests.api.test_cds import SERVICE, patient_id, prefetch_of
from tests.support.auth import DEV_HEADERS, dev_settings
from tests.support.cds_hooks import request_problems, response_problems

pytestmark = pytest.mark.integration
AS_OF = date(2026, 6, 30)
CASES = ("sle_eligible.json", "sle_pga_missing.json", "stale_labs_from_last_year.json", "age_17_too_young.json")


@pytest.fixture(scope="module")
def client(fhir_server: str, loaded: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = dev_settings(work_dir=tmp_path_factory.mktemp("cds-int"), cds_fhir_servers=fhir_server)
    with TestClient(create_app(settings, today=lambda: AS_OF), headers=DEV_HEADERS) as c:
        yield c


def call(client: TestClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    assert request_problems(body) == []
    response = client.post(SERVICE, json=body)
    assert response.status_code == 200, response.text
    assert response_problems(response.json()) == []
    cards: list[dict[str, Any]] = response.json()["cards"]
    return cards


def request(pid: str, prefetch: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/example", "patientId": pid},
        **extra,
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def shown(cards: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(c["summary"], c["detail"]) for c in cards]


@pytest.mark.parametrize("fixture", CASES)
def test_a_partial_prefetch_is_completed_from_the_real_server(
    client: TestClient, fhir_server: str, fixture: str
) -> None:
    pid = patient_id(fixture)
    full = call(client, request(pid, prefetch_of(fixture)))
    partial = prefetch_of(fixture)
    for key in ("observations", "medicationStatements", "medicationRequests", "procedures"):
        del partial[key]
    partial["conditions"] = None  # the EHR could not prefetch it
    authorization = {"access_token": "ehr-token", "token_type": "Bearer", "expires_in": 300,
                     "scope": "patient/*.read", "subject": "trialmatch", "patient": pid}  # fmt: skip
    completed = call(client, request(pid, partial, fhirServer=fhir_server, fhirAuthorization=authorization))
    assert shown(completed) == shown(full)
    assert bool(full) == (fixture != "age_17_too_young.json")


def test_without_any_prefetch_everything_is_read_from_the_real_server(client: TestClient, fhir_server: str) -> None:
    fixture = "sle_pga_missing.json"
    (card,) = call(client, request(patient_id(fixture), None, fhirServer=fhir_server))
    assert card["summary"] == "Possible candidate for NCT07161193 (SLE): 1 test to order"


def test_a_patient_the_server_does_not_have_is_404(client: TestClient, fhir_server: str) -> None:
    response = client.post(SERVICE, json=request("no-such-patient", None, fhirServer=fhir_server))
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
