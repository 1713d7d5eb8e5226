"""The nightly job against a real FHIR server, on SQLite and PostgreSQL: funnel, bulk, resume, shards, diff."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from matcher.cli import main
from matcher.codes.model import Mappings
from matcher.errors import RunLockedError
from matcher.jobs.models import Result
from matcher.jobs.nightly import batch_key
from matcher.jobs.store import Store
from matcher.pipeline import rank_paths
from matcher.serialize import result_json
from tests.integration.conftest import fixture_bundles, load
from tests.integration.servers import create_database, flaky_proxy, postgres, sekmet, serve_app

pytestmark = pytest.mark.integration
AS_OF = "2026-06-30"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A FHIR server of our own, loaded with every fixture, that no other module changes."""
    with sekmet(tmp_path_factory.mktemp("hospital")) as base:
        load(base, fixture_bundles())
        yield base


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    # not under pytest's temporary folder: its parents are closed to the postgres user
    folder = Path(tempfile.mkdtemp(prefix="trialmatch-pg-"))
    try:
        with postgres(folder) as server:
            yield server
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    return create_database(request.getfixturevalue("pg_server"), f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="module")
def expected(mappings: Mappings) -> dict[str, dict[str, Any]]:
    """`trialmatch rank` over the same data: the candidates are those with one of the diseases."""
    ranked, skipped = rank_paths([ROOT / "fixtures"], date.fromisoformat(AS_OF), mappings)
    assert skipped == []
    return {r.patient: result_json(r) for r in ranked if r.cohort is not None}


def run_cli(
    monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes], env: dict[str, str], *argv: str
) -> tuple[int, Any, str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = main(list(argv))
    out, err = capsysbinary.readouterr()
    text = out.decode()
    return code, (json.loads(text) if text.strip().startswith(("{", "[")) else text), err.decode()


def environment(base: str, database: str, work: Path, **extra: str) -> dict[str, str]:
    return {
        "TRIALMATCH_FHIR_BASE_URL": base,
        "TRIALMATCH_DATABASE_URL": database,
        "TRIALMATCH_WORK_DIR": str(work),
        "TRIALMATCH_CACHE_TTL": "0",
        **extra,
    }


def by_patient(ranked: dict[str, Any]) -> dict[str, Any]:
    return {c["patient"]: c for c in ranked["candidates"]}


def test_funnel_finds_the_candidates_rank_finds(hospital, database, expected, tmp_path, monkeypatch, capsysbinary):
    code, ranked, err = run_cli(
        monkeypatch,
        capsysbinary,
        environment(hospital, database, tmp_path),
        "nightly",
        "--as-of",
        AS_OF,
        "--out",
        str(tmp_path / "report"),
    )
    assert code == 0, err
    assert by_patient(ranked) == expected
    assert [c["patient"] for c in ranked["candidates"]] == list(expected)  # the same order too
    assert "report written to" in err and (tmp_path / "report" / "candidates.json").is_file()
    store = Store(database)
    [run] = store.runs()
    assert run.status == "complete" and run.summary is not None and run.summary["errors"] == 0
    assert run.requests_sent > 0 and run.mappings_digest and run.matcher_version
    store.close()


def test_bulk_export_finds_the_candidates_rank_finds(hospital, database, expected, tmp_path, monkeypatch, capsysbinary):
    code, ranked, err = run_cli(
        monkeypatch, capsysbinary, environment(hospital, database, tmp_path), "nightly", "--bulk", "--as-of", AS_OF
    )
    assert code == 0, err
    assert by_patient(ranked) == expected
    store = Store(database)
    [run] = store.runs()
    assert run.mode == "bulk" and run.transaction_time
    store.close()


def test_shards_share_the_night_into_one_database(hospital, database, expected, tmp_path, monkeypatch, capsysbinary):
    env = environment(hospital, database, tmp_path)
    shards = []
    for k in range(3):
        code, ranked, err = run_cli(
            monkeypatch, capsysbinary, env, "nightly", "--as-of", AS_OF, "--shard", f"{k}/3", "--batch", "night"
        )
        assert code == 0, err
        shards.append(set(by_patient(ranked)))
    # every worker prints the whole night's candidates so far; the last one sees them all
    assert shards[-1] == set(expected)
    store = Store(database)
    runs = store.batch_runs("night")
    assert {(r.shard_index, r.shard_count) for r in runs} == {(0, 3), (1, 3), (2, 3)}
    targets = [set(store.targets(r.id)) for r in runs]
    assert not (targets[0] & targets[1]) and not (targets[1] & targets[2])
    # one funnel for the night: the first shard's, which the others read
    assert set(store.batch_candidates("night") or []) == set().union(*targets)
    first, second = runs[0].summary, runs[1].summary
    assert first is not None and second is not None
    assert first["requests_sent"] > second["requests_sent"] + 3
    store.close()


def test_a_killed_run_resumes_without_redoing_or_duplicating(hospital, database, tmp_path):
    """A slow server, one patient at a time; the job is killed halfway and resumed."""
    with serve_app(flaky_proxy(hospital, delay=0.05)) as root:
        env = {**os.environ, **environment(f"{root}/fhir", database, tmp_path, TRIALMATCH_NIGHTLY_CONCURRENCY="1")}
        command = [str(Path(sys.executable).parent / "trialmatch"), "nightly", "--as-of", AS_OF, "--batch", "night"]
        job = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        store = Store(database)
        try:
            deadline = time.monotonic() + 120
            while _count(store) < 10:
                assert time.monotonic() < deadline, "the job recorded nothing"
                assert job.poll() is None, "the job ended before it could be killed"
                time.sleep(0.1)
            job.send_signal(signal.SIGKILL)
            job.wait()
            [killed] = store.runs()
            done_before = {r.patient_id: r.recorded_at for r in store.results([killed.id]).values()}
            assert killed.status == "running" and 10 <= len(done_before) < len(store.targets(killed.id))
            resumed = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True, check=False)
            assert resumed.returncode == 0, resumed.stderr[-2000:]
            [run] = store.runs()
            assert run.id == killed.id and run.status == "complete"
            after = store.results([run.id])
            assert set(after) == set(store.targets(run.id))
            assert all(after[pid].recorded_at == when for pid, when in done_before.items())  # not redone
            assert _count(store) == len(after)  # one row per patient
        finally:
            store.close()
            if job.poll() is None:
                job.kill()


def _count(store: Store) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count()).select_from(Result)) or 0)


@pytest.fixture
def small_hospital(tmp_path: Path) -> Iterator[tuple[str, dict[str, Path]]]:
    """A server of its own with a few patients, for tests that change the data between two nights."""
    names = ["sle_eligible.json", "ra_eligible_si_units.json", "hbsag_positive.json", "psoriasis_bsa_below_10.json"]
    with sekmet(tmp_path / "small") as base:
        yield base, load(base, [ROOT / "fixtures" / n for n in names])


def test_diff_between_two_nights_names_what_moved(
    small_hospital, database, tmp_path, monkeypatch, capsysbinary, mappings
):
    base, loaded = small_hospital
    env = environment(base, database, tmp_path)
    assert run_cli(monkeypatch, capsysbinary, env, "nightly", "--as-of", AS_OF, "--batch", "night-1")[0] == 0
    by_name = {path.name: pid for pid, path in loaded.items()}
    sle, ra, hbv = by_name["sle_eligible.json"], by_name["ra_eligible_si_units.json"], by_name["hbsag_positive.json"]
    pso = by_name["psoriasis_bsa_below_10.json"]
    with httpx.Client(base_url=base, timeout=30) as http:  # the day's news on the server
        http.put(
            f"/Observation/alt-{sle}",
            json={
                "resourceType": "Observation",
                "id": f"alt-{sle}",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "1742-6"}]},
                "subject": {"reference": f"Patient/{sle}"},
                "effectiveDateTime": "2026-06-29",
                "valueQuantity": {"value": 500, "unit": "U/L", "system": "http://unitsofmeasure.org", "code": "U/L"},
            },
            headers={"content-type": "application/fhir+json"},
        ).raise_for_status()
        patient = http.get(f"/Patient/{ra}").json()
        http.put(
            f"/Patient/{ra}",
            json={**patient, "link": [{"other": {"reference": "Patient/survivor"}, "type": "replaced-by"}]},
        ).raise_for_status()
        for condition in http.get("/Condition", params={"patient": ra}).json().get("entry", []):
            http.delete(f"/Condition/{condition['resource']['id']}").raise_for_status()
        # inactive, its Conditions kept: the funnel still finds it, the fetched Patient says it is retired
        patient = http.get(f"/Patient/{pso}").json()
        http.put(f"/Patient/{pso}", json={**patient, "active": False}).raise_for_status()
        http.delete(f"/Patient/{hbv}")
        for condition in http.get("/Condition", params={"patient": hbv}).json().get("entry", []):
            http.delete(f"/Condition/{condition['resource']['id']}")
    assert run_cli(monkeypatch, capsysbinary, env, "nightly", "--as-of", AS_OF, "--batch", "night-2")[0] == 0
    code, changes, _ = run_cli(monkeypatch, capsysbinary, env, "diff", "--json")
    assert code == 0
    [dropped] = changes["dropped_out"]
    assert dropped["patient"] == f"Patient/{sle}" and dropped["moved"]["liver_function"] == ["pass", "fail"]
    removed = {c["patient"]: c for c in changes["deleted_or_merged"]}
    assert removed[f"Patient/{ra}"]["after"] == "merged" and "Patient/survivor" in removed[f"Patient/{ra}"]["detail"]
    assert removed[f"Patient/{hbv}"]["after"] == "gone"
    assert removed[f"Patient/{pso}"]["after"] == "gone" and "inactive" in removed[f"Patient/{pso}"]["detail"]
    code, text, _ = run_cli(monkeypatch, capsysbinary, env, "diff")
    assert "dropped out" in text and f"Patient/{sle}" in text
    code, listing, _ = run_cli(monkeypatch, capsysbinary, env, "runs")
    assert "night-1" in listing and "night-2" in listing
    # one page at a time: the latest run, then the ones before it
    code, first_page, _ = run_cli(monkeypatch, capsysbinary, env, "runs", "--limit", "1")
    assert "night-2" in first_page and "night-1" not in first_page
    latest = first_page.splitlines()[1].split()[0]
    code, next_page, _ = run_cli(monkeypatch, capsysbinary, env, "runs", "--limit", "1", "--before", latest[:8])
    assert "night-1" in next_page and "night-2" not in next_page


def test_incremental_export_merges_what_changed(small_hospital, database, tmp_path, monkeypatch, capsysbinary):
    base, loaded = small_hospital
    env = environment(base, database, tmp_path)
    code, first, err = run_cli(monkeypatch, capsysbinary, env, "nightly", "--bulk", "--as-of", AS_OF, "--batch", "b1")
    assert code == 0, err
    pid = next(p for p, path in loaded.items() if path.name == "psoriasis_bsa_below_10.json")
    assert by_patient(first)[f"Patient/{pid}"]["verdict"] == "ineligible"
    with httpx.Client(base_url=base, timeout=30) as http:
        http.put(
            f"/Observation/bsa-{pid}",
            json={
                "resourceType": "Observation",
                "id": f"bsa-{pid}",
                "status": "final",
                "code": {"coding": [{"system": "urn:trialmatch:disease-activity", "code": "psoriasis-bsa"}]},
                "subject": {"reference": f"Patient/{pid}"},
                "effectiveDateTime": "2026-06-29",
                "valueQuantity": {"value": 25, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"},
            },
        ).raise_for_status()
    code, second, err = run_cli(
        monkeypatch, capsysbinary, env, "nightly", "--bulk", "--since", "auto", "--as-of", AS_OF, "--batch", "b2"
    )
    assert code == 0, err
    assert by_patient(second)[f"Patient/{pid}"]["verdict"] == "eligible"  # the new BSA reached the merged copy
    assert set(by_patient(second)) == set(by_patient(first))  # the unchanged patients are still there
    store = Store(database)
    latest = store.runs()[0]
    assert latest.since == store.runs()[1].transaction_time
    store.close()


def test_a_malformed_patient_is_recorded_and_the_run_goes_on(
    small_hospital, database, tmp_path, monkeypatch, capsysbinary, caplog
):
    base, loaded = small_hospital
    pid = next(iter(loaded))
    bad = {
        "resourceType": "Observation",
        "id": "broken",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "1742-6"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "valueQuantity": {"value": "lots", "unit": "U/L"},
    }
    httpx.put(
        f"{base}/Observation/broken",
        content=orjson.dumps(bad),
        headers={"content-type": "application/fhir+json"},
        timeout=30,
    ).raise_for_status()
    code, ranked, err = run_cli(
        monkeypatch, capsysbinary, environment(base, database, tmp_path), "nightly", "--as-of", AS_OF
    )
    assert code == 5  # not complete: one patient could not be evaluated
    assert "1 errors" in err
    assert f"Patient/{pid} skipped: Patient/{pid}: Observation/broken is not valid FHIR R4" in caplog.text
    assert "lots" not in caplog.text  # the offending value is patient data: never logged
    assert len(ranked["candidates"]) == len(loaded) - 1
    store = Store(database)
    [run] = store.runs()
    assert run.status == "partial"  # every patient done, one in error: --resume retries it
    errors = [r for r in store.results([run.id]).values() if r.state == "error"]
    assert [e.patient_id for e in errors] == [pid]
    assert errors[0].detail is not None and "Observation/broken" in errors[0].detail
    store.close()


def test_an_empty_group_is_refused(small_hospital, database, tmp_path, monkeypatch, capsysbinary):
    base, _ = small_hospital
    httpx.put(
        f"{base}/Group/empty",
        json={"resourceType": "Group", "id": "empty", "type": "person", "actual": True},
        timeout=30,
    ).raise_for_status()
    env = environment(base, database, tmp_path)
    for extra in ([], ["--bulk"]):
        code, _, err = run_cli(monkeypatch, capsysbinary, env, "nightly", "--group", "empty", *extra)
        assert code == 2 and "refusing" in err


def test_a_group_of_former_members_is_refused_the_same_way_with_and_without_bulk(
    small_hospital, database, tmp_path, monkeypatch, capsysbinary
):
    base, loaded = small_hospital
    sle, ra = sorted(loaded)[:2]
    members = [
        {"entity": {"reference": f"Patient/{sle}"}, "inactive": True},
        {"entity": {"reference": f"Patient/{ra}"}, "period": {"start": "2019-01-01", "end": "2021-01-01"}},
    ]
    group = {"resourceType": "Group", "id": "former", "type": "person", "actual": True, "member": members}
    httpx.put(f"{base}/Group/former", json=group, timeout=30).raise_for_status()
    env = environment(base, database, tmp_path)
    for extra in ([], ["--bulk"]):
        code, _, err = run_cli(monkeypatch, capsysbinary, env, "nightly", "--group", "former", "--as-of", AS_OF, *extra)
        assert code == 2 and "no current Patient members" in err
    # one current member among former ones: the bulk path keeps to it, though the server exports them all
    group["member"] = [*members, {"entity": {"reference": f"Patient/{sorted(loaded)[2]}"}}]
    httpx.put(f"{base}/Group/former", json=group, timeout=30).raise_for_status()
    code, ranked, _ = run_cli(
        monkeypatch, capsysbinary, env, "nightly", "--group", "former", "--bulk", "--as-of", AS_OF
    )
    assert code == 0
    assert [c["patient"] for c in ranked["candidates"]] == [f"Patient/{sorted(loaded)[2]}"]


def test_a_bulk_run_killed_before_its_export_was_read_is_not_resumed_as_done(
    small_hospital, database, tmp_path, monkeypatch, capsysbinary
):
    base, loaded = small_hospital
    env = environment(base, database, tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    store = Store(database)  # what a kill during the export leaves: a running run, no export time, no targets
    store.start_run(
        batch=batch_key(date.fromisoformat(AS_OF), "bulk", None, base.rstrip("/")),
        shard=(0, 1),
        mode="bulk",
        source="x",
        group=None,
        as_of=date.fromisoformat(AS_OF),
        versions={"matcher": "0", "mappings": "0", "files": {}},
    )
    store.close()
    code, ranked, err = run_cli(monkeypatch, capsysbinary, env, "nightly", "--bulk", "--resume", "--as-of", AS_OF)
    assert code == 0, err
    assert len(ranked["candidates"]) == len(loaded)


def test_one_run_at_a_time_per_shard_in_either_database(database):
    # PostgreSQL holds an advisory lock on a connection of its own, SQLite a lock on a file: in both, a
    # second run of the same shard is refused with a clear message, and a lock dies with its holder
    first, second = Store(database), Store(database)
    try:
        with (
            first.shard_lock("night/funnel/all/x", (0, 1)),
            pytest.raises(RunLockedError, match="shard 0/1"),
            second.shard_lock("night/funnel/all/x", (0, 1)),
        ):
            pass
        with second.shard_lock("night/funnel/all/x", (0, 1)):
            pass
    finally:
        first.close()
        second.close()
