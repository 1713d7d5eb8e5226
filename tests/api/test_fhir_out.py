"""FHIR-shaped results: `Accept: application/fhir+json` on the match routes answers a validated R4 Bundle of
ResearchStudy, ResearchSubject and Parameters; any other Accept keeps the MatchResult JSON of the contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.researchstudy import ResearchStudy
from fhir.resources.R4B.researchsubject import ResearchSubject
from pydantic import BaseModel

from matcher.api.app import create_app
from matcher.api.fhir_out import InvalidOutputError, checked, research_study, wants_fhir
from matcher.jobs.audit_store import audit_trail
from matcher.settings import Settings
from tests.support.auth import DEV_HEADERS, dev_settings
from tests.support.contract import contract_problems

#: the development token, on purpose, so these tests are about the answers (auth is tested on its own)
AUTH = DEV_HEADERS


def make_settings(work_dir: Path) -> Settings:
    return dev_settings(work_dir=work_dir)


FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures"
FHIR_IN = {"content-type": "application/fhir+json"}
ASK_FHIR = FHIR_IN | {"accept": "application/fhir+json"}
MODELS: dict[str, type[BaseModel]] = {
    "ResearchStudy": ResearchStudy,
    "ResearchSubject": ResearchSubject,
    "Parameters": Parameters,
}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("work"))


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, today=lambda: date(2026, 6, 30)), headers=AUTH) as test_client:
        yield test_client


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def by_type(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Bundle's entries by resource type (one of each), each with its fullUrl."""
    out = {e["resource"]["resourceType"]: e for e in bundle["entry"]}
    assert len(out) == len(bundle["entry"]) == 3
    return out


def criteria(parameters: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each criterion of the Parameters: id -> {kind, status, review, reason, evidence: [references]}."""
    out: dict[str, dict[str, Any]] = {}
    for p in parameters["parameter"]:
        if p["name"] != "criterion":
            continue
        c: dict[str, Any] = {"evidence": []}
        for part in p["part"]:
            if part["name"] == "evidence":
                c["evidence"].append(part["valueReference"]["reference"])
            else:
                c[part["name"]] = part.get("valueCode", part.get("valueString"))
        out[c.pop("id")] = c
    return out


@pytest.mark.parametrize(
    ("name", "verdict", "status"),
    [
        ("sle_eligible.json", "eligible", "eligible"),
        ("sle_pga_missing.json", "possibly_eligible", "candidate"),
        ("atrial_fibrillation_needs_review.json", "possibly_eligible", "candidate"),
        ("hbsag_positive.json", "ineligible", "ineligible"),
    ],
)
def test_the_fhir_answer_is_a_valid_bundle_that_says_what_the_match_result_says(client, name, verdict, status):
    plain = client.post("/match?as_of=2026-06-30", content=fixture(name), headers=FHIR_IN)
    response = client.post("/match?as_of=2026-06-30", content=fixture(name), headers=ASK_FHIR)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert "Accept" in [v.strip() for v in response.headers["vary"].split(",")]
    result, bundle = plain.json(), response.json()
    assert result["verdict"] == verdict

    Bundle.model_validate(bundle)
    entries = by_type(bundle)
    for kind, entry in entries.items():
        MODELS[kind].model_validate(entry["resource"])
        assert entry["fullUrl"].startswith("urn:uuid:")
    assert bundle["type"] == "collection"

    study = entries["ResearchStudy"]["resource"]
    assert {"system": "http://clinicaltrials.gov", "value": "NCT07161193", "use": "official"} in study["identifier"]
    assert "Anti-CD19" in study["title"]
    assert {c["text"] for c in study["condition"]} >= {"Systemic lupus erythematosus", "Pemphigus"}
    assert len(study["condition"]) == 7

    subject = entries["ResearchSubject"]["resource"]
    assert subject["status"] == status
    assert subject["individual"]["reference"] == result["patient"]
    assert subject["study"]["reference"] == entries["ResearchStudy"]["fullUrl"]

    parameters = entries["Parameters"]["resource"]
    top = {p["name"]: p for p in parameters["parameter"] if "part" not in p}
    assert top["verdict"]["valueCode"] == verdict
    assert top["score"]["valueDecimal"] == result["score"]
    assert top["asOf"]["valueDate"] == "2026-06-30"
    assert top["subject"]["valueReference"]["reference"] == entries["ResearchSubject"]["fullUrl"]
    assert top.get("cohort", {}).get("valueCode") == result["cohort"]
    # every criterion, with its status, review kind, reason and evidence references
    said = criteria(parameters)
    assert list(said) == [c["id"] for c in result["criteria"]]
    for c in result["criteria"]:
        got = said[c["id"]]
        assert got["kind"] == c["kind"] and got["status"] == c["status"]
        assert got.get("review") == c.get("review")
        assert got["reason"] == c["reason"]
        assert got["evidence"] == [e["reference"] for e in c["evidence"]]
    missing = [p for p in parameters["parameter"] if p["name"] == "missing"]
    assert len(missing) == len(result["missing"])


def test_review_kinds_and_the_worklist_travel_in_the_parameters(client):
    response = client.post("/match?as_of=2026-06-30", content=fixture("sle_pga_missing.json"), headers=ASK_FHIR)
    said = criteria(by_type(response.json())["Parameters"]["resource"])
    assert said["consent"] == said["consent"] | {"status": "review", "review": "screening"}
    assert said["disease_activity"]["status"] == "unknown"
    params = by_type(response.json())["Parameters"]["resource"]["parameter"]
    codes = [
        part["valueCoding"] for p in params if p["name"] == "missing" for part in p["part"] if "valueCoding" in part
    ]
    assert codes, "the worklist names what to order, with codes"


@pytest.mark.parametrize(
    "accept",
    [None, "application/json", "*/*", "application/fhir+json;q=0.5, application/json", "text/html"],
)
def test_any_other_accept_keeps_the_match_result_exactly(client, accept):
    headers = FHIR_IN | ({"accept": accept} if accept else {})
    response = client.post("/match?as_of=2026-06-30", content=fixture("sle_eligible.json"), headers=headers)
    reference = client.post("/match?as_of=2026-06-30", content=fixture("sle_eligible.json"), headers=FHIR_IN)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == reference.content
    assert contract_problems(response.json()) == []


@pytest.mark.parametrize(
    ("accept", "fhir"),
    [
        ("application/fhir+json", True),
        ("APPLICATION/FHIR+JSON; fhirVersion=4.0", True),
        ("application/json;q=0.5, application/fhir+json", True),
        ("application/fhir+json, */*;q=0.1", True),
        ("application/fhir+json;q=0.4, application/json;q=0.9", False),
        ("application/fhir+json, application/json", False),  # a tie keeps the contract
        ("application/fhir+json;q=0", False),
        ("application/fhir+json;q=abc", False),
        ("*/*", False),
        ("", False),
        (None, False),
    ],
)
def test_content_negotiation(accept, fhir):
    assert wants_fhir(accept) is fhir


def test_the_patient_route_answers_fhir_too_and_keeps_its_headers(settings):
    bundle = json.loads(fixture("sle_pga_missing.json"))
    pid = bundle["entry"][0]["resource"]["id"]
    with TestClient(create_app(settings), headers=AUTH) as client:
        response = client.get(f"/patients/{pid}/match", params={"as_of": "2026-06-30"}, headers=ASK_FHIR)
        plain = client.get(f"/patients/{pid}/match", params={"as_of": "2026-06-30"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.headers["x-cache"] == "miss"
    assert "x-fhir-requests" in response.headers
    Bundle.model_validate(response.json())
    subject = by_type(response.json())["ResearchSubject"]["resource"]
    assert subject["status"] == "candidate"
    assert subject["individual"]["reference"] == f"Patient/{pid}" == plain.json()["patient"]


def test_errors_stay_operation_outcomes_when_fhir_is_asked(client):
    response = client.post("/match", content=b'{"resourceType": "Patient"}', headers=ASK_FHIR)
    assert response.status_code == 422
    assert response.json()["resourceType"] == "OperationOutcome"


def test_an_invalid_resource_is_never_sent():
    subject = {
        "resourceType": "ResearchSubject",
        "status": "maybe",
        "study": {"reference": "ResearchStudy/x"},
        "individual": {"reference": "Patient/1"},
    }
    with pytest.raises(InvalidOutputError, match="ResearchSubject"):
        checked(subject)
    inside = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": subject}]}
    with pytest.raises(InvalidOutputError, match=r"ResearchSubject\.status"):
        checked(inside)
    with pytest.raises(InvalidOutputError, match="individual"):
        checked({k: v for k, v in subject.items() if k != "individual"} | {"status": "candidate"})
    searchset = {"resourceType": "Bundle", "type": "searchset", "entry": [{"search": {"mode": "best"}}]}
    with pytest.raises(InvalidOutputError, match=r"Bundle\.entry\.search\.mode"):
        checked(searchset)
    assert checked(subject | {"status": "candidate"})["status"] == "candidate"


def test_the_study_is_a_copy_each_time():
    study = research_study()
    study["title"] = "changed"
    assert research_study()["title"] != "changed"


def test_the_openapi_document_shows_the_fhir_answer(client):
    spec = client.get("/openapi.json").json()
    for path, method in (("/match", "post"), ("/patients/{patient_id}/match", "get")):
        content = spec["paths"][path][method]["responses"]["200"]["content"]
        assert "MatchResultOut" in json.dumps(content["application/json"])
        assert content["application/fhir+json"]["example"]["resourceType"] == "Bundle"


def test_the_audit_trail_reads_the_verdict_from_the_fhir_answer(tmp_path):
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings), headers=AUTH) as client:
        body = fixture("sle_pga_missing.json")
        response = client.post("/match?as_of=2026-06-30", content=body, headers=ASK_FHIR)
    assert response.status_code == 200
    [row] = audit_trail(settings.database).page(10)
    details = {d["type"]: d["valueString"] for d in row.event["entity"][0]["detail"]}
    assert details["verdict"] == "possibly_eligible"
    subject = by_type(response.json())["ResearchSubject"]["resource"]
    assert row.event["entity"][0]["what"] == subject["individual"]
