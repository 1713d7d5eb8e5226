"""FHIR NDJSON: many patients in per-type files or one Bundle per line, read in one pass; bad lines reported."""

from __future__ import annotations

import json
from pathlib import Path

from matcher.fhir.ndjson import NdjsonReader, Skipped, read_ndjson
from matcher.record import PatientRecord
from tests.support.fixturekit import SNOMED, PatientBuilder, ago


def patients(n: int) -> list[PatientBuilder]:
    out = []
    for i in range(n):
        p = PatientBuilder(f"ndjson-{i}")
        p.condition(SNOMED, "69896004", "Rheumatoid arthritis", onset=ago(years=2))
        p.lab("1742-6", "ALT", 20 + i, "U/L", ago(5))
        p.med_request("105586", "Methotrexate 10 MG Oral Tablet", ago(200))
        out.append(p)
    return out


def export(tmp_path: Path, builders: list[PatientBuilder]) -> list[Path]:
    """Bulk Data style: one file per resource type."""
    by_type: dict[str, list[str]] = {}
    for b in builders:
        for entry in b.bundle()["entry"]:
            res = entry["resource"]
            by_type.setdefault(res["resourceType"], []).append(json.dumps(res))
    paths = []
    for rtype, lines in by_type.items():
        path = tmp_path / f"{rtype}.ndjson"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    # Observations before Patients: the order of files must not matter
    return sorted(paths, key=lambda p: p.name != "Observation.ndjson")


def test_per_type_files_are_grouped_by_patient(tmp_path, mappings):
    builders = patients(5)
    out = list(read_ndjson(export(tmp_path, builders), mappings))
    records = [r for r in out if isinstance(r, PatientRecord)]
    assert {r.patient.ref for r in records} == {f"Patient/{b.pid}" for b in builders}
    for r in records:
        assert len(r.results("alt")) == 1 and len(r.medications) == 1 and len(r.conditions) == 1


def test_a_bad_line_and_a_bad_patient_are_reported_and_the_rest_goes_on(tmp_path, mappings):
    builders = patients(3)
    paths = export(tmp_path, builders)
    obs = tmp_path / "Observation.ndjson"
    broken = {
        "resourceType": "Observation",
        "id": "bad",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "1742-6"}]},
        "subject": {"reference": f"Patient/{builders[0].pid}"},
        "valueQuantity": {"value": "x"},
    }
    obs.write_text(obs.read_text() + "{oops\n" + json.dumps(broken) + "\n", encoding="utf-8")
    out = list(read_ndjson(paths, mappings))
    skipped = [s for s in out if isinstance(s, Skipped)]
    records = [r for r in out if isinstance(r, PatientRecord)]
    assert {s.error for s in skipped if s.patient is None} == {"not JSON"}
    assert [s.patient for s in skipped if s.patient] == [f"Patient/{builders[0].pid}"]
    assert len(records) == 2


def test_one_bundle_per_line(tmp_path, mappings):
    path = tmp_path / "bundles.ndjson"
    path.write_text("\n".join(json.dumps(b.bundle()) for b in patients(3)) + "\n", encoding="utf-8")
    out = list(read_ndjson([path], mappings))
    assert len([r for r in out if isinstance(r, PatientRecord)]) == 3


def test_resources_without_their_patient_are_reported(tmp_path, mappings):
    b = patients(1)[0]
    path = tmp_path / "Observation.ndjson"
    obs = [e["resource"] for e in b.bundle()["entry"] if e["resource"]["resourceType"] == "Observation"]
    path.write_text(json.dumps(obs[0]) + "\n", encoding="utf-8")
    [skipped] = list(read_ndjson([path], mappings))
    assert isinstance(skipped, Skipped) and "no Patient resource" in skipped.error


def test_a_watcher_that_trips_on_one_resource_costs_that_patient_only(tmp_path, mappings):
    builders = patients(3)
    seen: set[str] = set()

    def watch(pid: str, resource: dict[str, object]) -> None:
        if pid == builders[1].pid:
            raise ValueError("a bug in the watcher")
        seen.add(pid)

    reader = NdjsonReader(mappings, watch=watch)
    for path in export(tmp_path, builders):
        reader.read(path)
    out = list(reader.results())
    assert [s.patient for s in out if isinstance(s, Skipped)] == [f"Patient/{builders[1].pid}"]
    assert {r.patient.ref for r in out if isinstance(r, PatientRecord)} == {
        f"Patient/{builders[0].pid}",
        f"Patient/{builders[2].pid}",
    }
    assert seen == {builders[0].pid, builders[2].pid}
