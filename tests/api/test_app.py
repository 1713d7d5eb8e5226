"""The HTTP API: POST /match, /health, OpenAPI, bearer auth, and OperationOutcome for every error."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from matcher.api.app import create_app
from matcher.settings import Settings
from tests.support.auth import DEV_HEADERS, dev_settings
from tests.support.contract import contract_problems

FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures"
FHIR = {"content-type": "application/fhir+json"}


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(dev_settings(), today=lambda: date(2026, 6, 30)), headers=DEV_HEADERS)


def outcome(response) -> dict[str, Any]:
    """The one issue of an OperationOutcome answer."""
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert response.headers["content-type"].startswith("application/fhir+json")
    issue: dict[str, Any] = body["issue"][0]
    return issue


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_match_answers_a_match_result(client):
    body = (FIXTURES / "aav_mpo_positive_eligible.json").read_bytes()
    response = client.post("/match?as_of=2026-06-30", content=body, headers=FHIR)
    assert response.status_code == 200
    result = response.json()
    assert result["verdict"] == "eligible" and result["cohort"] == "aav"
    assert contract_problems(result) == []


def test_as_of_defaults_to_the_injected_today(client):
    body = (FIXTURES / "sle_eligible.json").read_bytes()
    assert client.post("/match", content=body, headers=FHIR).json()["as_of"] == "2026-06-30"


@pytest.mark.parametrize(
    ("body", "status", "code", "text"),
    [
        (b"{nope", 400, "structure", "not JSON"),
        (b'{"resourceType": "Patient"}', 422, "structure", "not a Bundle"),
        (b'{"resourceType": "Bundle", "entry": []}', 422, "invalid", "holds no Patient"),
        (
            json.dumps(
                {
                    "resourceType": "Bundle",
                    "entry": [
                        {"resource": {"resourceType": "Patient", "id": "a"}},
                        {"resource": {"resourceType": "Patient", "id": "b"}},
                    ],
                }
            ).encode(),
            422,
            "invalid",
            "2 Patients",
        ),
        (
            json.dumps(
                {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "id": "a", "gender": 7}}]}
            ).encode(),
            422,
            "invalid",
            "gender",
        ),
    ],
)
def test_bad_bundles_answer_4xx_operation_outcomes(client, body, status, code, text):
    response = client.post("/match?as_of=2026-06-30", content=body, headers=FHIR)
    assert response.status_code == status
    issue = outcome(response)
    assert issue["code"] == code and text in issue["diagnostics"]
    assert "Traceback" not in response.text


def test_bad_query_unsupported_media_and_unknown_route(client):
    body = (FIXTURES / "sle_eligible.json").read_bytes()
    assert outcome(client.post("/match?as_of=yesterday", content=body, headers=FHIR))["code"] == "invalid"
    for day in ("0005-01-01", "9999-12-31"):  # look-back windows cannot be counted from there
        response = client.post(f"/match?as_of={day}", content=body, headers=FHIR)
        assert response.status_code == 400 and "is outside 1900-01-01 to 2199-12-31" in outcome(response)["diagnostics"]
    response = client.post("/match", content=body, headers={"content-type": "text/plain"})
    assert response.status_code == 415 and outcome(response)["code"] == "not-supported"
    response = client.get("/nowhere")
    assert response.status_code == 404 and outcome(response)["code"] == "not-found"


def test_too_large_a_body_is_refused(tmp_path):
    small = TestClient(create_app(dev_settings(max_body_bytes=100)), headers=DEV_HEADERS)
    response = small.post("/match", content=b"{" + b" " * 200 + b"}", headers=FHIR)
    assert response.status_code == 413 and outcome(response)["code"] == "too-costly"


def test_the_development_token_only_when_explicitly_allowed():
    body = (FIXTURES / "sle_eligible.json").read_bytes()
    off = TestClient(create_app(Settings(_env_file=None, api_token=SecretStr("s3cret"))))
    refused = off.post("/match", content=body, headers={**FHIR, "authorization": "Bearer s3cret"})
    assert refused.status_code == 401 and outcome(refused)["code"] == "login"
    secured = TestClient(create_app(Settings(_env_file=None, api_token=SecretStr("s3cret"), allow_static_token=True)))
    response = secured.post("/match", content=body, headers=FHIR)
    assert response.status_code == 401 and outcome(response)["code"] == "login"
    assert response.headers["www-authenticate"] == 'Bearer realm="trialmatch"'
    wrong = secured.post("/match", content=body, headers={**FHIR, "authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = secured.post("/match", content=body, headers={**FHIR, "authorization": "Bearer s3cret"})
    assert right.status_code == 200
    assert secured.get("/health").status_code == 200  # probes need no token


def test_openapi_documents_the_routes_and_their_errors(client):
    spec = client.get("/openapi.json").json()
    match = spec["paths"]["/match"]["post"]
    assert "application/fhir+json" in match["requestBody"]["content"]
    assert {"200", "400", "401", "422"} <= set(match["responses"])
    assert "MatchResultOut" in json.dumps(match["responses"]["200"])
    # errors are documented as what they are served as
    assert set(match["responses"]["422"]["content"]) == {"application/fhir+json"}
    assert "OperationOutcomeOut" in json.dumps(match["responses"]["422"])
    assert "/health" in spec["paths"]


def test_without_a_fhir_server_the_bundled_fixtures_are_the_source():
    bundle = json.loads((FIXTURES / "hbsag_positive.json").read_text())
    pid = bundle["entry"][0]["resource"]["id"]
    with TestClient(create_app(dev_settings()), headers=DEV_HEADERS) as client:
        response = client.get(f"/patients/{pid}/match", params={"as_of": "2026-06-30"})
        missing = client.get("/patients/not-a-fixture/match")
        bad_id = client.get("/patients/has spaces!/match")
    assert response.status_code == 200
    assert response.json()["verdict"] == "ineligible"
    assert response.headers["x-cache"] == "miss"
    assert missing.status_code == 404 and outcome(missing)["code"] == "not-found"
    assert bad_id.status_code == 400
