"""GET /runs/{id}/report: the stored night's page, behind the API's authentication."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from matcher.api.app import create_app
from matcher.explain import text
from tests.support.auth import DEV_HEADERS, dev_settings


def client(work_dir: Path, **settings: object) -> TestClient:
    return TestClient(create_app(dev_settings(work_dir=work_dir, **settings)), headers=DEV_HEADERS)


def test_the_report_page_is_served_in_both_languages(work_dir, night):
    api = client(work_dir)
    for lang in ("en", "zh"):
        response = api.get(f"/runs/{night.run.id}/report", params={"lang": lang})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert text("ui.title", lang) in response.text
    prefix = api.get(f"/runs/{night.run.id[:8]}/report")
    assert prefix.status_code == 200 and night.run.id in prefix.text


def test_an_unknown_run_or_language_is_a_4xx_operation_outcome(work_dir):
    api = client(work_dir)
    missing = api.get("/runs/00000000-0000-0000-0000-000000000000/report")
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"
    assert api.get("/runs/abcd1234/report", params={"lang": "fr"}).status_code in (400, 422)
    assert api.get("/runs/..%2F..%2Fetc/report").status_code in (400, 404, 422)


def test_the_report_needs_the_token_like_every_patient_route(work_dir, night):
    api = TestClient(create_app(dev_settings(work_dir=work_dir)))
    assert api.get(f"/runs/{night.run.id}/report").status_code == 401
    ok = api.get(f"/runs/{night.run.id}/report", headers=DEV_HEADERS)
    assert ok.status_code == 200
