"""Application logs carry resource ids only: every route that takes patient data, run over every fixture with
logs captured at DEBUG (TRIALMATCH_DEBUG off), leaves no patient's name or birth date in any log record."""

from __future__ import annotations

import contextlib
import copy
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from matcher.api.app import create_app
from matcher.cli import main
from matcher.settings import Settings
from tests.support.identities import fixture_bundles, fixture_identities, leaks

TOKEN = {"authorization": "Bearer s3cret"}
FHIR = {"content-type": "application/fhir+json"}
CDS = "/cds-services/trialmatch-nct07161193"
#: loggers the CLI quietens to WARNING; here they speak at DEBUG like every other
CHATTY = ("alembic", "httpx", "httpcore", "trialmatch")


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One stored night of the bundled fixtures, for the report route."""
    folder = tmp_path_factory.mktemp("logged-night")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRIALMATCH_WORK_DIR", str(folder))
        patch.delenv("TRIALMATCH_FHIR_BASE_URL", raising=False)
        out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            assert main(["nightly", "--as-of", "2026-06-30", "--out", str(folder / "report")]) == 0
        yield folder


def patient_of(bundle: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    return found


def prefetch(bundle: dict[str, Any], templates: dict[str, str]) -> dict[str, Any]:
    """The prefetch a CDS client sends for the patient of `bundle`: the Patient, and a searchset per template."""
    resources = [e["resource"] for e in bundle["entry"]]
    given: dict[str, Any] = {"patient": patient_of(bundle)}
    for key, template in templates.items():
        if key == "patient":
            continue
        rtype = template.split("?", 1)[0]
        kinds = {rtype, "Medication"} if rtype == "MedicationRequest" else {rtype}
        given[key] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": r} for r in resources if r["resourceType"] in kinds],
        }
    return given


def test_no_route_logs_a_patient_s_name_or_birth_date(
    work_dir: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRIALMATCH_DEBUG", raising=False)
    settings = Settings(
        _env_file=None, work_dir=work_dir, api_token=SecretStr("s3cret"), allow_static_token=True, rate_limit=""
    )
    assert not settings.debug
    for name in CHATTY:
        caplog.set_level(logging.DEBUG, logger=name)
    caplog.set_level(logging.DEBUG)
    run_id = orjson.loads((work_dir / "report" / "summary.json").read_bytes())["run"]
    seen: set[int] = set()
    with TestClient(create_app(settings), headers=TOKEN) as api:
        templates = api.get("/cds-services").json()["services"][0]["prefetch"]
        for path in fixture_bundles():
            body = path.read_bytes()
            bundle = orjson.loads(body)
            pid = patient_of(bundle)["id"]
            seen.add(api.post("/match?as_of=2026-06-30", content=body, headers=FHIR).status_code)
            seen.add(
                api.post(
                    "/match?as_of=2026-06-30", content=body, headers={**FHIR, "accept": FHIR["content-type"]}
                ).status_code
            )
            seen.add(api.get(f"/patients/{pid}/match", params={"as_of": "2026-06-30"}).status_code)
            seen.add(api.get(f"/patients/{pid}/match", headers={"accept": FHIR["content-type"]}).status_code)
            seen.add(api.get(f"/patients/{pid}/page", params={"as_of": "2026-06-30"}).status_code)
            seen.add(api.post("/getClinicalTrial", json={"patientData": bundle}).status_code)
            hook = {
                "hook": "patient-view",
                "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
                "context": {"userId": "Practitioner/1", "patientId": pid},
                "prefetch": prefetch(bundle, templates),
            }
            seen.add(api.post(CDS, json=hook).status_code)
            # a resource that is not valid FHIR: the 422 names the problem, the log does not quote the record
            broken = copy.deepcopy(bundle)
            patient_of(broken)["gender"] = 7
            seen.add(api.post("/match", content=orjson.dumps(broken), headers=FHIR).status_code)
        for lang in ("en", "zh"):
            seen.add(api.get(f"/runs/{run_id}/report", params={"lang": lang}).status_code)
        seen.add(api.get("/audit").status_code)
    assert seen == {200, 422}, "every request answered (422: the broken ones)"
    records = caplog.records
    assert any("Patient/" in r.getMessage() for r in records), "the logs did capture patient-level lines"
    assert leaks(records, fixture_identities()) == []


def test_the_check_finds_a_name_or_a_birth_date_wherever_it_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    bundle = orjson.loads(fixture_bundles()[0].read_bytes())
    patient = patient_of(bundle)
    log = logging.getLogger("trialmatch.test")
    with caplog.at_level(logging.DEBUG):
        log.debug("evaluating %s", patient["name"][0]["family"])
        log.info("born %s", patient["birthDate"])
        log.warning(f"patient {patient['name'][0]['given'][0]}")  # the leak being looked for
    found = {identity for identity, _ in leaks(caplog.records, fixture_identities())}
    assert {patient["name"][0]["family"], patient["birthDate"], patient["name"][0]["given"][0]} <= found
    caplog.clear()  # the leaks logged on purpose are not the suite's
