"""A fault proxy between trialmatch and a real FHIR server: for each fault, the API answers in time with the right
result or a 502/504 OperationOutcome, caches nothing partial, and the nightly job records the patient as an error
that a later `--resume` finishes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from matcher.api.app import create_app
from matcher.cli import main
from matcher.codes.model import Mappings
from matcher.jobs.store import Store
from matcher.pipeline import match_bundle
from matcher.serialize import result_json
from tests.integration.conftest import load
from tests.integration.servers import FAULTS, Faults, fault_proxy, sekmet, serve_app
from tests.support.auth import DEV_HEADERS, dev_settings

pytestmark = pytest.mark.integration
AS_OF = date(2026, 6, 30)
ROOT = Path(__file__).resolve().parents[2]
NAMES = ["sle_eligible.json", "ra_eligible_si_units.json", "hbsag_positive.json", "psoriasis_bsa_below_10.json"]
#: what GET /patients/{id}/match answers while the fault lasts: the right result (200), or 502/504
DURING = {
    "latency": 200,
    "429": 200,  # twice, with Retry-After: 1, then the server answers
    "503": 502,
    "reset": 502,
    "truncated": 502,
    "loop": 502,
    "endless": 502,
    "silent": 504,
}
#: what the OperationOutcome says of each fault that is not survived
SAYS = {
    "503": "503 from",
    "reset": "unreachable",
    "truncated": "not JSON",
    "loop": "go round in a circle",
    "endless": "request budget",
    "silent": "did not answer in time",
}
#: how many requests get the fault (0: every one while it lasts)
TIMES = {"429": 2}
#: short timeouts and few retries, so that every fault is over in seconds
FHIR = {"fhir_read_timeout": 1.0, "fhir_retries": 2, "fhir_backoff": 0.05, "fhir_deadline": 8.0}


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Path]]]:
    with sekmet(tmp_path_factory.mktemp("faulty-hospital")) as base:
        yield base, load(base, [ROOT / "fixtures" / n for n in NAMES])


@pytest.fixture(scope="module")
def proxy(hospital: tuple[str, dict[str, Path]]) -> Iterator[tuple[str, Faults]]:
    faults = Faults()
    with serve_app(fault_proxy(hospital[0], faults)) as root:
        yield f"{root}/fhir", faults


@pytest.fixture
def faults(proxy: tuple[str, Faults]) -> Iterator[Faults]:
    yield proxy[1]
    proxy[1].set(None)


def target(loaded: dict[str, Path]) -> tuple[str, Path]:
    return next((pid, path) for pid, path in loaded.items() if path.name == "sle_eligible.json")


def test_every_fault_is_listed() -> None:
    assert set(DURING) == set(FAULTS) and set(SAYS) == {k for k, status in DURING.items() if status != 200}


@pytest.mark.parametrize("kind", FAULTS)
def test_the_api_answers_in_time_and_caches_nothing_partial(
    kind: str, hospital: tuple[str, dict[str, Path]], proxy: tuple[str, Faults], faults: Faults, mappings: Mappings
) -> None:
    pid, path = target(hospital[1])
    right = result_json(match_bundle(path.read_bytes(), AS_OF, mappings, path.name))
    app = create_app(dev_settings(fhir_base_url=proxy[0], cache_ttl=60, **FHIR), today=lambda: AS_OF)
    with TestClient(app, headers=DEV_HEADERS) as client:
        faults.set(kind, target=pid, times=TIMES.get(kind, 0))
        started = time.monotonic()
        during = client.get(f"/patients/{pid}/match", params={"as_of": AS_OF.isoformat()})
        elapsed = time.monotonic() - started
        played = faults.hits
        faults.set(None)
        after = client.get(f"/patients/{pid}/match", params={"as_of": AS_OF.isoformat()})
    assert played >= (3 if kind == "endless" else 1), "the fault was never played"
    assert elapsed < 12, f"{kind}: answered after {elapsed:.1f} s"
    assert during.status_code == DURING[kind], during.text
    if during.status_code == 200:
        assert during.json() == right
        assert after.headers["x-cache"] == "hit"
    else:
        outcome = during.json()
        assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["severity"] == "error"
        assert SAYS[kind] in outcome["issue"][0]["diagnostics"]
        assert after.headers["x-cache"] == "miss"  # nothing of the failed attempt was kept
    if kind in ("429", "503"):
        assert elapsed >= 2 * faults.retry_after * 0.9  # Retry-After was honoured both times
    assert after.status_code == 200 and after.json() == right


def nightly(monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes], *argv: str) -> tuple[int, Any]:
    code = main(["nightly", "--as-of", AS_OF.isoformat(), "--batch", "faults", *argv])
    out = capsysbinary.readouterr().out.decode()
    return code, (json.loads(out) if out.strip().startswith("{") else None)


@pytest.mark.parametrize("kind", [k for k in FAULTS if DURING[k] != 200])
def test_the_nightly_job_records_the_patient_as_an_error_and_resume_finishes_it(
    kind: str,
    hospital: tuple[str, dict[str, Path]],
    proxy: tuple[str, Faults],
    faults: Faults,
    mappings: Mappings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    pid, path = target(hospital[1])
    database = f"sqlite:///{tmp_path / 'runs.db'}"
    settings = {"fhir_base_url": proxy[0], "database_url": database, "work_dir": str(tmp_path), "cache_ttl": 0, **FHIR}
    for key, value in settings.items():
        monkeypatch.setenv(f"TRIALMATCH_{key.upper()}", str(value))
    faults.set(kind, target=pid)
    code, _ = nightly(monkeypatch, capsysbinary)
    assert faults.hits >= 1, "the fault was never played"
    faults.set(None)
    assert code == 5, f"{kind}: the run should be incomplete"
    store = Store(database)
    try:
        [run] = store.runs()
        errors = {p: r for p, r in store.results([run.id]).items() if r.state == "error"}
        assert list(errors) == [pid] and errors[pid].detail
        others = {p: r.recorded_at for p, r in store.results([run.id]).items() if p != pid}
        code, ranked = nightly(monkeypatch, capsysbinary, "--resume")
        assert code == 0
        [resumed] = store.runs()
        assert resumed.id == run.id and resumed.status == "complete"
        after = store.results([run.id])
        assert set(after) == set(store.targets(run.id)) and after[pid].state == "evaluated"
        assert {p: r.recorded_at for p, r in after.items() if p != pid} == others  # only the failed one redone
    finally:
        store.close()
    right = result_json(match_bundle(path.read_bytes(), AS_OF, mappings, path.name))
    assert ranked is not None
    assert {c["patient"]: c for c in ranked["candidates"]}[f"Patient/{pid}"] == right
