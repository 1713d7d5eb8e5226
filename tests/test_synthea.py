"""The ten Synthea patients in fixtures/synthea: all evaluate, keep the contract, and read as their records say."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from matcher.pipeline import match_bundle
from matcher.serialize import result_json
from tests.support.contract import contract_problems

SYNTHEA = Path(__file__).resolve().parent.parent / "fixtures" / "synthea"
FILES = sorted(SYNTHEA.glob("*.json"))
#: the Synthea data ends in 2021; read it then so that its labs are inside their windows
AS_OF = date(2021, 4, 1)


def result(mappings, name: str, as_of: date = AS_OF):
    [path] = [f for f in FILES if f.name.startswith(name)]
    return result_json(match_bundle(path.read_bytes(), as_of, mappings, path.name))


def test_ten_patients_are_bundled():
    assert len(FILES) == 10
    assert (SYNTHEA / "NOTICE").is_file()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name.split("_")[0])
@pytest.mark.parametrize("as_of", [AS_OF, date(2026, 6, 30)])
def test_every_patient_evaluates_and_keeps_the_contract(mappings, path, as_of):
    assert contract_problems(result_json(match_bundle(path.read_bytes(), as_of, mappings, path.name))) == []


@pytest.mark.parametrize("name", ["Asa", "Hershel", "Randall"])
def test_active_rheumatoid_arthritis_is_the_ra_cohort(mappings, name):
    r = result(mappings, name)
    assert r["cohort"] == "ra"
    assert {c["id"]: c["status"] for c in r["criteria"]}["diagnosis"] == "pass"


def test_resolved_rheumatoid_arthritis_fails_the_diagnosis(mappings):
    statuses = {c["id"]: c["status"] for c in result(mappings, "Willy")["criteria"]}
    assert statuses["diagnosis"] == "fail"


def test_methotrexate_orders_count_as_standard_therapy(mappings):
    # an active order runs until as_of; a stopped one without an end date cannot be measured
    hershel = {c["id"]: c for c in result(mappings, "Hershel")["criteria"]}
    assert hershel["refractory"]["status"] == "pass"
    assert "methotrexate from 2018-08-12, ongoing" in hershel["refractory"]["reason"]
    willy = {c["id"]: c["status"] for c in result(mappings, "Willy")["criteria"]}
    assert willy["refractory"] == "review"


def test_blood_creatinine_38483_4_is_read(mappings):
    r = result(mappings, "Stan")
    renal = next(c for c in r["criteria"] if c["id"] == "renal_function")
    assert any(e.get("code") == "http://loinc.org|38483-4" for e in renal["evidence"])


def test_epilepsy_and_deaths_are_read(mappings):
    thanh = {c["id"]: c["status"] for c in result(mappings, "Thanh")["criteria"]}
    assert thanh["neurologic"] == "fail"
    laticia = {c["id"]: c["status"] for c in result(mappings, "Laticia")["criteria"]}
    assert laticia["alive"] == "fail"


def test_five_years_later_every_lab_is_stale(mappings):
    r = result(mappings, "Stan", date(2026, 6, 30))
    statuses = {c["id"]: c["status"] for c in r["criteria"]}
    assert statuses["liver_function"] == statuses["bilirubin"] == "unknown"
