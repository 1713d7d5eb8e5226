"""Hostile or heavy requests: the web server's own log lines carry no traceback or exception message unless
debugging is on, and one request's work is bounded."""

from __future__ import annotations

import logging

import pytest
from fastapi import HTTPException, Request
from fastapi.testclient import TestClient

from matcher.api.app import create_app
from matcher.api.body import json_body
from matcher.api.quiet import NoTracebacks, quiet_server_logs
from tests.support.auth import DEV_HEADERS, dev_settings


def logged(caplog: pytest.LogCaptureFixture, name: str) -> str:
    logger = logging.getLogger(name)
    try:
        raise ValueError("Patient Wang Fang, born 1980-01-02, creatinine 2.3")
    except ValueError:
        logger.exception("Exception in ASGI application")
    return "\n".join(caplog.handler.format(r) for r in caplog.records if r.name == name)


def test_an_exception_that_reaches_uvicorn_is_logged_as_its_type_only(caplog):
    quiet_server_logs(debug=False)
    caplog.set_level(logging.INFO)
    text = logged(caplog, "uvicorn.error")
    assert "Exception in ASGI application (ValueError)" in text
    assert "Traceback" not in text and "Wang Fang" not in text and "1980-01-02" not in text


def test_debugging_keeps_the_traceback(caplog):
    logger = logging.getLogger("uvicorn.test.debug")
    caplog.set_level(logging.INFO)
    text = logged(caplog, "uvicorn.test.debug")  # no filter installed on this logger
    assert "Traceback" in text
    assert not any(isinstance(f, NoTracebacks) for f in logger.filters)


def test_a_bundle_with_too_many_entries_is_refused_with_413(tmp_path):
    # a Bundle of 200,000 Observations pinned a core for 22 s: the entry count is bounded first
    api = TestClient(create_app(dev_settings(work_dir=tmp_path, max_bundle_entries=3)))
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", "id": "p"}}]
        + [{"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}}] * 3,
    }
    response = api.post("/match", json=bundle, headers=DEV_HEADERS)
    assert response.status_code == 413 and response.json()["resourceType"] == "OperationOutcome"
    assert "at most 3" in response.json()["issue"][0]["diagnostics"]


async def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit():
    # a chunked upload (no Content-Length) used to be read whole before its size was checked
    received = 0

    async def receive() -> dict[str, object]:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b" " * 1000, "more_body": received < 2000}  # 2 MB in all

    scope = {"type": "http", "method": "POST", "headers": [(b"content-type", b"application/fhir+json")]}
    with pytest.raises(HTTPException) as refused:
        await json_body(Request(scope, receive), max_bytes=10_000)
    assert refused.value.status_code == 413
    assert received == 11  # stopped at the first chunk past the limit, not after reading 2 MB


@pytest.mark.parametrize("as_of", ["0", "1700000000", "2026-6-30", "30/06/2026", "2026-06-30T00:00"])
def test_as_of_is_a_date_as_the_schema_says_or_a_400(tmp_path, as_of):
    # as_of=0 was read as 1970-01-01 (a Unix time) although the OpenAPI document says date
    with TestClient(create_app(dev_settings(work_dir=tmp_path))) as api:
        response = api.get(
            "/patients/0a42e90a-7166-5d28-aef9-c0c85e46e852/match", params={"as_of": as_of}, headers=DEV_HEADERS
        )
        assert response.status_code in (400, 422) and response.json()["resourceType"] == "OperationOutcome"
        ok = api.get(
            "/patients/0a42e90a-7166-5d28-aef9-c0c85e46e852/match", params={"as_of": "2026-06-30"}, headers=DEV_HEADERS
        )
        assert ok.status_code == 200


def test_readiness_names_what_is_down_while_liveness_stays_ok(tmp_path):
    # /health answered ok while the FHIR server and the database were down
    with TestClient(create_app(dev_settings(work_dir=tmp_path))) as api:
        ready = api.get("/health/ready")  # open, like /health: a probe sends no token
        assert ready.status_code == 200 and ready.json() == {"status": "ok", "checks": {"fhir": "ok", "database": "ok"}}
    dead = dev_settings(
        work_dir=tmp_path,
        fhir_base_url="http://127.0.0.1:9/fhir",  # nothing listens on the discard port
        database_url=f"sqlite:///{tmp_path / 'missing' / 'no' / 'such.db'}",
        fhir_retries=0,
    )
    with TestClient(create_app(dead)) as api:
        assert api.get("/health").status_code == 200
        down = api.get("/health/ready")
        assert down.status_code == 503 and down.json()["status"] == "unavailable"
        assert down.json()["checks"]["fhir"] != "ok"
