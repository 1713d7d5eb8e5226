"""The audit trail: an AuditEvent per access to patient data or decision, append-only, read by administrators."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError as SQLDatabaseError

from matcher.api.app import create_app
from matcher.jobs.audit_store import AuditTrail, audit_trail
from matcher.settings import Settings

FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures"
FHIR = {"content-type": "application/fhir+json"}


def patient_id(name: str) -> str:
    bundle = json.loads((FIXTURES / name).read_text())
    pid: str = next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    return pid


TOKEN = {"authorization": "Bearer s3cret"}
ISSUER = "https://idp.example.org"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The development token, enabled: a caller the API lets in."""
    return Settings(_env_file=None, work_dir=tmp_path, api_token=SecretStr("s3cret"), allow_static_token=True)


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, today=lambda: date(2026, 6, 30)), headers=TOKEN) as client:
        yield client


def events(settings: Settings) -> list[dict[str, Any]]:
    """The stored AuditEvents, oldest first."""
    return [row.event for row in reversed(audit_trail(settings.database).page(500))]


def detail(event: dict[str, Any]) -> dict[str, str]:
    return {d["type"]: d["valueString"] for d in event["entity"][0].get("detail", ())}


def test_a_fetched_patient_s_match_is_recorded_as_a_valid_r4_audit_event(api, settings):
    pid = patient_id("hbsag_positive.json")
    response = api.get(f"/patients/{pid}/match", params={"as_of": "2026-06-30"})
    assert response.status_code == 200
    [event] = events(settings)
    AuditEvent.model_validate(event)  # FHIR R4 (R4B models) accepts it
    assert event["entity"][0]["what"] == {"reference": f"Patient/{pid}"}
    assert detail(event)["route"] == "GET /patients/{patient_id}/match"
    assert event["action"] == "R" and event["type"]["code"] == "rest"
    assert event["subtype"][1]["code"] == "GET /patients/{patient_id}/match"
    assert event["agent"][0]["requestor"] is True
    assert event["source"]["observer"]["display"].startswith("trialmatch ")
    assert event["outcome"] == "0" and event["outcomeDesc"] == "HTTP 200"
    assert detail(event)["verdict"] == "ineligible"


def test_a_decision_on_a_posted_bundle_names_the_patient_and_the_verdict(api, settings):
    body = (FIXTURES / "sle_eligible.json").read_bytes()
    response = api.post("/match", content=body, headers=FHIR)
    assert response.status_code == 200
    [event] = events(settings)
    assert event["action"] == "E" and event["outcome"] == "0"
    assert event["entity"][0]["what"] == {"reference": f"Patient/{patient_id('sle_eligible.json')}"}
    assert detail(event)["verdict"] == response.json()["verdict"] == "eligible"


def test_refused_and_failed_requests_are_recorded_too(api, settings):
    api.post("/match", content=b"{nope", headers=FHIR)
    api.get("/patients/not-a-fixture/match")
    recorded = events(settings)
    assert [e["outcome"] for e in recorded] == ["4", "4"]
    assert recorded[0]["entity"][0]["what"] == {"display": "no patient identified"}
    assert recorded[1]["entity"][0]["what"] == {"reference": "Patient/not-a-fixture"}
    assert all(AuditEvent.model_validate(e) for e in recorded)


def test_health_and_unknown_routes_are_not_audited(api, settings):
    assert api.get("/health").status_code == 200
    assert api.get("/nowhere").status_code == 404
    assert events(settings) == []


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwt_settings(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> Settings:
    """JWT callers from one issuer, its public key in a file."""
    key_file = tmp_path / "issuer.pem"
    key_file.write_bytes(
        signing_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return Settings(
        _env_file=None, work_dir=tmp_path, jwt_issuer=ISSUER, jwt_audience="trialmatch", jwt_key_file=key_file
    )


def bearer(key: rsa.RSAPrivateKey, sub: str, scope: str, **claims: Any) -> dict[str, str]:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": "trialmatch", "sub": sub, "scope": scope, "iat": now, "exp": now + 300, **claims}
    return {"authorization": "Bearer " + jwt.encode(payload, key, algorithm="RS256")}


def test_the_agent_is_the_caller_s_token_subject_and_issuer(jwt_settings, signing_key):
    pid = patient_id("sle_eligible.json")
    who = bearer(signing_key, "coordinator-7", "trialmatch/match.read", client_id="ehr")
    with TestClient(create_app(jwt_settings), headers=who) as api:
        assert api.get(f"/patients/{pid}/match").status_code == 200
    [event] = events(jwt_settings)
    agent = event["agent"][0]
    assert agent["who"]["identifier"] == {"system": ISSUER, "value": "coordinator-7"}
    assert agent["altId"] == "ehr" and agent["requestor"] is True
    row = audit_trail(jwt_settings.database).page(1)[0]
    assert (row.agent, row.issuer, row.patient_id) == ("coordinator-7", ISSUER, pid)


def test_refused_callers_are_recorded_with_whether_they_presented_a_token(jwt_settings, signing_key):
    with TestClient(create_app(jwt_settings)) as api:
        assert api.get("/patients/p-1/match").status_code == 401
        assert api.get("/patients/p-1/match", headers={"authorization": "Bearer abc"}).status_code == 401
        wrong_scope = bearer(signing_key, "coordinator-7", "trialmatch/report.read")
        assert api.get("/patients/p-1/match", headers=wrong_scope).status_code == 403
    recorded = events(jwt_settings)
    assert [e["outcome"] for e in recorded] == ["4", "4", "4"]
    assert [e["outcomeDesc"] for e in recorded] == ["HTTP 401", "HTTP 401", "HTTP 403"]
    assert [e["agent"][0]["who"].get("display") for e in recorded] == [
        "anonymous (no bearer token)",
        "bearer token presented",
        "coordinator-7",
    ]
    assert all(e["entity"][0]["what"] == {"reference": "Patient/p-1"} for e in recorded)
    assert all("abc" not in json.dumps(e) for e in recorded)  # the token itself is never recorded


def test_administrators_read_the_trail_a_page_at_a_time(jwt_settings, signing_key):
    coordinator = bearer(signing_key, "coordinator-7", "trialmatch/match.read")
    admin = bearer(signing_key, "admin-1", "trialmatch/audit.read")
    with TestClient(create_app(jwt_settings)) as api:
        for n in range(5):
            api.get(f"/patients/p-{n}/match", headers=coordinator)
        refused = api.get("/audit", headers=coordinator)
        first = api.get("/audit", params={"limit": 3}, headers=admin)
        second = api.get(first.json()["link"][1]["url"], headers=admin)
        one = api.get("/audit", params={"patient": "p-0"}, headers=admin)
        bad = api.get("/audit", params={"limit": 0}, headers=admin)
    assert refused.status_code == 403 and refused.json()["resourceType"] == "OperationOutcome"
    assert first.status_code == 200 and first.headers["content-type"].startswith("application/fhir+json")
    page = Bundle.model_validate(first.json())
    assert page.type == "searchset"
    assert [link.relation for link in page.link or ()] == ["self", "next"]
    whom = [e["resource"]["entity"][0]["what"].get("reference") for e in first.json()["entry"]]
    # newest first: the refused read of the trail, then the last patients
    assert whom == [None, "Patient/p-4", "Patient/p-3"]
    assert [e["resource"]["entity"][0]["what"].get("reference") for e in second.json()["entry"]] == [
        "Patient/p-2",
        "Patient/p-1",
        "Patient/p-0",
    ]
    assert [e["resource"]["entity"][0]["what"]["reference"] for e in one.json()["entry"]] == ["Patient/p-0"]
    assert bad.status_code == 400
    assert all(AuditEvent.model_validate(e["resource"]) for e in first.json()["entry"])


def test_an_answer_that_cannot_be_audited_is_not_given(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")  # the database's folder cannot be created under a file
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite:///{blocked}/sub/audit.db",
        api_token=SecretStr("s3cret"),
        allow_static_token=True,
    )
    with TestClient(create_app(settings), headers=TOKEN) as api:
        response = api.get(f"/patients/{patient_id('sle_eligible.json')}/match")
    assert response.status_code == 500
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "audit trail" in response.json()["issue"][0]["diagnostics"]
    assert "verdict" not in response.text


def test_the_table_is_append_only(settings):
    trail = AuditTrail(settings.database)
    try:
        assert not any(hasattr(trail, name) for name in ("update", "delete", "remove", "purge"))
        pid = patient_id("sle_eligible.json")
        with TestClient(create_app(settings), headers=TOKEN) as api:
            assert api.get(f"/patients/{pid}/match").status_code == 200
        with trail.engine.connect() as connection:
            for statement in ("UPDATE audit_events SET patient_id = 'other'", "DELETE FROM audit_events"):
                with pytest.raises(SQLDatabaseError, match="append-only"):
                    connection.execute(text(statement))
        assert len(events(settings)) == 1
    finally:
        trail.close()


def test_pages_of_the_trail_newest_first(settings):
    trail = audit_trail(settings.database)
    with TestClient(create_app(settings), headers=TOKEN) as api:
        for n in range(5):
            api.get(f"/patients/p-{n}/match")
    first = trail.page(2)
    assert [r.patient_id for r in first] == ["p-4", "p-3"]
    second = trail.page(2, before=first[-1].seq)
    assert [r.patient_id for r in second] == ["p-2", "p-1"]
    assert [r.patient_id for r in trail.page(10, patient_id="p-0")] == ["p-0"]


def test_a_cds_call_is_recorded_with_the_patient_its_context_names(api, settings):
    hook = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/1", "patientId": "cds-42"},
    }
    assert api.post("/cds-services/trialmatch-nct07161193", json=hook).status_code == 412  # neither prefetch nor server
    [event] = events(settings)
    assert event["entity"][0]["what"] == {"reference": "Patient/cds-42"}
    assert event["outcome"] == "4" and event["action"] == "E"
    assert detail(event)["route"] == "POST /cds-services/trialmatch-nct07161193"


def test_a_route_that_answers_no_match_result_notes_the_patient_and_verdict(api, settings):
    bundle = json.loads((FIXTURES / "hbsag_positive.json").read_text())
    assert api.post("/getClinicalTrial", json={"patientData": bundle}).status_code == 200
    [event] = events(settings)
    assert event["entity"][0]["what"] == {"reference": f"Patient/{patient_id('hbsag_positive.json')}"}
    assert detail(event)["verdict"] == "ineligible"


class _Broken:
    """A patient source with a bug."""

    name = "broken"

    async def fetch(self, patient_id: str) -> Any:
        raise RuntimeError("a bug")


def test_an_internal_error_is_recorded_as_a_serious_failure(settings):
    @asynccontextmanager
    async def broken() -> AsyncIterator[Any]:
        yield _Broken()

    app = create_app(settings, source=broken)
    with TestClient(app, headers=TOKEN, raise_server_exceptions=False) as api:
        response = api.get("/patients/p-9/match")
    assert response.status_code == 500 and response.json()["resourceType"] == "OperationOutcome"
    [event] = events(settings)
    assert (event["outcome"], event["outcomeDesc"]) == ("8", "HTTP 500")
    assert event["entity"][0]["what"] == {"reference": "Patient/p-9"}
