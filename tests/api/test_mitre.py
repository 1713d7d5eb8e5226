"""POST /getClinicalTrial, held to MITRE clinical-trial-matching-service's shapes: `{"patientData": Bundle}` in
(server.ts ClinicalTrialMatchServiceRequest; query-parameters.ts), a searchset Bundle of ResearchStudy entries
with `search.mode` and `search.score` in [0, 1] out (searchset.ts SearchBundleEntry)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.researchstudy import ResearchStudy

from matcher.api.app import create_app
from matcher.api.mitre import QueryParameters, query_parameters, search_score, study_fits
from matcher.jobs.audit_store import audit_trail
from matcher.settings import Settings
from tests.support.auth import DEV_HEADERS, dev_settings

#: the development token, on purpose, so these tests are about the answers (auth is tested on its own)
AUTH = DEV_HEADERS


def make_settings(work_dir: Path) -> Settings:
    return dev_settings(work_dir=work_dir)


FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures"
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("work"))


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, today=lambda: date(2026, 6, 30)), headers=AUTH) as test_client:
        yield test_client


def patient(name: str, **params: str | float) -> dict[str, Any]:
    """A fixture's Bundle, with MITRE's Parameters resource (zipCode, phase ...) added when given."""
    bundle: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    if params:
        parameter = [
            {"name": k, "valueDecimal": v} if isinstance(v, float) else {"name": k, "valueString": v}
            for k, v in params.items()
        ]
        bundle["entry"].insert(0, {"resource": {"resourceType": "Parameters", "parameter": parameter}})
    return bundle


def ask(client: TestClient, body: Any) -> Any:
    return client.post("/getClinicalTrial", content=json.dumps(body).encode(), headers=JSON)


def searchset(response: Any) -> dict[str, Any]:
    """The answer, checked against MITRE's SearchSet: a valid searchset Bundle whose total counts its entries,
    each a ResearchStudy with search.mode "match" and a score in [0, 1]."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    Bundle.model_validate(body)
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset"
    assert body["total"] == len(body["entry"])
    for entry in body["entry"]:
        assert set(entry) == {"resource", "search"}
        ResearchStudy.model_validate(entry["resource"])
        assert entry["search"]["mode"] == "match"
        assert 0 <= entry["search"]["score"] <= 1
    return body


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("sle_eligible.json", True),
        ("sle_pga_missing.json", True),  # possibly eligible: still a match, scored lower
        ("hbsag_positive.json", False),
        ("no_autoimmune_disease.json", False),
    ],
)
def test_the_trial_is_a_match_unless_the_patient_is_ineligible(client, name, found):
    body = searchset(ask(client, {"patientData": patient(name)}))
    result = client.post("/match", content=(FIXTURES / name).read_bytes(), headers=JSON).json()
    assert body["total"] == (1 if found else 0)
    if found:
        entry = body["entry"][0]
        assert entry["search"]["score"] == search_score(result["verdict"], result["score"])
        study = entry["resource"]
        assert study["identifier"] == [
            {"use": "official", "system": "http://clinicaltrials.gov", "value": "NCT07161193"}
        ]
        assert study["title"] and study["status"] == "approved"
        assert study["phase"]["coding"][0]["code"] == "phase-1-phase-2"


def test_an_eligible_patient_scores_above_a_possibly_eligible_one(client):
    eligible = searchset(ask(client, {"patientData": patient("sle_eligible.json")}))
    possibly = searchset(ask(client, {"patientData": patient("sle_pga_missing.json")}))
    assert eligible["entry"][0]["search"]["score"] > possibly["entry"][0]["search"]["score"]


@pytest.mark.parametrize(
    ("verdict", "score", "expected"),
    [
        ("eligible", 0.0, 0.5),
        ("eligible", 0.94, 0.97),
        ("eligible", 1.0, 1.0),
        ("eligible", 7.0, 1.0),
        ("possibly_eligible", 1.0, 0.5),
        ("possibly_eligible", 0.5, 0.25),
        ("possibly_eligible", 0.0, 0.0),
    ],
)
def test_the_search_score_keeps_eligible_above_possibly_eligible(verdict, score, expected):
    assert search_score(verdict, score) == expected


def test_patient_data_as_a_string_is_still_read(client):
    body = searchset(ask(client, {"patientData": json.dumps(patient("sle_eligible.json"))}))
    assert body["total"] == 1


@pytest.mark.parametrize(
    ("params", "found"),
    [
        ({"zipCode": "01730", "travelRadius": 25.0}, True),  # no study sites are known: not applied
        ({"phase": "phase-2"}, True),
        ({"phase": "phase-1-phase-2"}, True),
        ({"phase": "phase-3"}, False),
        ({"recruitmentStatus": "approved"}, True),
        ({"recruitmentStatus": "NOT_YET_RECRUITING"}, True),
        ({"recruitmentStatus": "active"}, False),
        ({"recruitmentStatus": "active,approved"}, True),
    ],
)
def test_the_query_parameters_that_apply_to_one_trial_are_honoured(client, params, found):
    body = searchset(ask(client, {"patientData": patient("sle_eligible.json", **params)}))
    assert body["total"] == (1 if found else 0)


def test_query_parameters_are_read_as_mitre_reads_them():
    bundle = patient("sle_eligible.json", zipCode="01730", phase="phase-2", recruitmentStatus="approved")
    bundle["entry"][0]["resource"]["parameter"].append({"name": "travelRadius", "valueString": "12.5"})
    assert query_parameters(bundle) == QueryParameters("01730", 12.5, "phase-2", "approved")
    assert query_parameters({"resourceType": "Bundle"}) == QueryParameters()
    assert study_fits(QueryParameters(zip_code="99999", travel_radius=1.0))


@pytest.mark.parametrize(
    ("body", "headers", "status", "text"),
    [
        (b"{nope", JSON, 400, "not JSON"),
        (b"{}", JSON, 400, "no patientData"),
        (b"[1, 2]", JSON, 400, "no patientData"),
        (b'{"patientData": "{nope"}', JSON, 400, "not JSON"),
        (b'{"patientData": {"resourceType": "Patient"}}', JSON, 400, "not a FHIR Bundle"),
        (b'{"patientData": 7}', JSON, 400, "not a FHIR Bundle"),
        (b'{"patientData": {"resourceType": "Bundle", "entry": []}}', JSON, 422, "holds no Patient"),
        (b'{"patientData": {"resourceType": "Bundle"}}', {"content-type": "text/plain"}, 415, "text/plain"),
    ],
)
def test_bad_bodies_answer_an_operation_outcome(client, body, headers, status, text):
    response = client.post("/getClinicalTrial", content=body, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert text in outcome["issue"][0]["diagnostics"]


def test_a_travel_radius_that_is_not_a_number_is_refused(client):
    response = ask(client, {"patientData": patient("sle_eligible.json", travelRadius="far")})
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_the_route_is_in_the_openapi_document_with_examples(client):
    operation = client.get("/openapi.json").json()["paths"]["/getClinicalTrial"]["post"]
    assert "patientData" in operation["requestBody"]["content"]["application/json"]["example"]
    example = operation["responses"]["200"]["content"]["application/json"]["example"]
    Bundle.model_validate(example)
    assert example["type"] == "searchset" and example["entry"][0]["resource"]["resourceType"] == "ResearchStudy"
    assert set(operation["responses"]["400"]["content"]) == {"application/fhir+json"}


def test_the_route_needs_a_token(settings):
    with TestClient(create_app(settings)) as anonymous:
        response = ask(anonymous, {"patientData": patient("sle_eligible.json")})
    assert response.status_code == 401
    assert response.json()["resourceType"] == "OperationOutcome"


def test_the_audit_trail_names_the_patient_and_the_verdict(tmp_path):
    settings = make_settings(tmp_path)
    bundle = patient("hbsag_positive.json")
    with TestClient(create_app(settings, today=lambda: date(2026, 6, 30)), headers=AUTH) as client:
        assert searchset(ask(client, {"patientData": bundle}))["total"] == 0
    [row] = audit_trail(settings.database).page(10)
    pid = next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    assert row.event["entity"][0]["what"] == {"reference": f"Patient/{pid}"}
    details = {d["type"]: d["valueString"] for d in row.event["entity"][0]["detail"]}
    assert details["verdict"] == "ineligible" and details["route"] == "POST /getClinicalTrial"
