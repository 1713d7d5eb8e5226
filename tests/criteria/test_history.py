"""Coded-history exclusions read as the record stands: TB, neurologic, cardiac and QTc, infection, immunodeficiency."""

from __future__ import annotations

import pytest

from matcher.explain import reason
from tests.support.fixturekit import ICD10, ICD10CM, LOINC, SNOMED, PatientBuilder, ago, cc


def patient(sex: str = "male") -> PatientBuilder:
    return PatientBuilder("history", sex=sex)


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"onset": ago(months=5)}, "fail"),  # active now
        ({"onset": ago(years=3), "clinical": "resolved", "abatement": ago(years=2)}, "fail"),  # ended within 3 y
        ({"onset": ago(years=9), "clinical": "resolved", "abatement": ago(years=8)}, "pass"),
        ({"onset": ago(years=2), "clinical": "resolved"}, "fail"),  # began within 3 y, end not recorded
        ({"onset": ago(years=6), "clinical": "resolved"}, "review"),  # end not recorded: when was it active?
        ({"onset": ago(months=5), "verification": "refuted"}, "pass"),
        ({"onset": ago(months=5), "verification": "entered-in-error"}, "pass"),
    ],
)
def test_tuberculosis_within_three_years(criterion, kwargs, status):
    p = patient().condition(ICD10, "A15.0", "Tuberculosis of lung", **kwargs)
    assert criterion(p, "tuberculosis").status == status


def test_latent_tuberculosis_and_positive_igra_need_review(criterion):
    p = patient().condition(ICD10CM, "Z22.7", "Latent tuberculosis", onset=ago(years=1))
    assert criterion(p, "tuberculosis").status == "review"
    q = patient().serology("71773-6", "IGRA", "positive", ago(30))
    assert criterion(q, "tuberculosis").status == "review"


def test_nothing_recorded_passes_and_says_so(criterion):
    result = criterion(patient(), "tuberculosis")
    assert result.status == "pass"
    assert "no tuberculosis recorded" in reason(result)


@pytest.mark.parametrize(
    ("system", "code", "display", "status"),
    [
        (SNOMED, "84757009", "Epilepsy", "fail"),
        (ICD10, "G40.909", "Epilepsy, unspecified", "fail"),
        (ICD10, "I63.9", "Cerebral infarction", "fail"),
        (ICD10, "I61.9", "Intracerebral haemorrhage", "fail"),
        (SNOMED, "62564004", "Concussion with loss of consciousness", "fail"),
        (SNOMED, "62106007", "Concussion with no loss of consciousness", "review"),
        (SNOMED, "38341003", "Hypertension", "pass"),
    ],
)
def test_neurologic_history(criterion, system, code, display, status):
    # a history counts whatever its clinical status
    p = patient().condition(system, code, display, onset=ago(years=10), clinical="resolved")
    assert criterion(p, "neurologic").status == status


def ecg(p: PatientBuilder, qtc: float, unit: str = "ms", days: int = 10) -> PatientBuilder:
    return p.lab("8636-3", "QTc", qtc, unit, ago(days))


@pytest.mark.parametrize(
    ("sex", "qtc", "unit", "status"),
    [
        ("male", 440, "ms", "pass"),
        ("male", 460, "ms", "fail"),
        ("female", 460, "ms", "pass"),
        ("female", 480, "ms", "fail"),
        ("male", 0.49, "s", "fail"),
        (None, 460, "ms", "fail"),  # sex unknown: the stricter limit
    ],
)
def test_qtc_against_sex_specific_limit(criterion, sex, qtc, unit, status):
    assert criterion(ecg(PatientBuilder("qtc", sex=sex), qtc, unit), "cardiac").status == status


def test_qtc_inside_an_ecg_panel_component_is_read(criterion):
    p = patient()
    p.obs(
        LOINC,
        "11524-6",
        "EKG study",
        ago(10),
        components=[
            {
                "code": cc(LOINC, "8636-3", "QTc"),
                "valueQuantity": {"value": 499, "unit": "ms", "system": "http://unitsofmeasure.org", "code": "ms"},
            },
        ],
    )
    assert criterion(p, "cardiac").status == "fail"


@pytest.mark.parametrize(("code", "status"), [("88805009", "fail"), ("410429000", "fail"), ("49436004", "review")])
def test_cardiac_history_with_a_normal_ecg(criterion, code, status):
    p = ecg(patient().condition(SNOMED, code, "cardiac", onset=ago(years=3)), 420)
    assert criterion(p, "cardiac").status == status


def test_no_ecg_is_unknown_even_without_cardiac_history(criterion):
    result = criterion(patient(), "cardiac")
    assert result.status == "unknown"
    assert result.needs[0].params["code"] == "LOINC 8636-3"


def test_ecg_older_than_its_window_is_stale(criterion):
    assert criterion(ecg(patient(), 420, days=200), "cardiac").status == "unknown"


@pytest.mark.parametrize(
    ("code", "system", "kwargs", "status"),
    [
        ("J18.9", ICD10, {"onset": ago(5)}, "fail"),
        ("J18.9", ICD10, {"onset": ago(20), "clinical": "resolved", "abatement": ago(10)}, "pass"),
        ("J18.9", ICD10, {"onset": ago(400)}, "review"),  # still open after a year: is it current?
        ("N39.0", ICD10, {"onset": ago(5)}, "pass"),  # uncomplicated UTI is allowed
        ("43878008", SNOMED, {"onset": ago(5)}, "pass"),  # streptococcal pharyngitis is allowed
        ("N10", ICD10, {"onset": ago(5)}, "fail"),  # pyelonephritis is not an uncomplicated UTI
        ("40055000", SNOMED, {"onset": ago(years=4)}, "review"),  # chronic sinusitis
        ("444814009", SNOMED, {"onset": ago(5)}, "fail"),  # viral sinusitis
        ("J02.8", ICD10, {"onset": ago(5)}, "review"),  # pharyngitis: allowed only if bacterial
        ("197927001", SNOMED, {"onset": ago(5)}, "review"),  # recurrent UTI: complicated or not?
    ],
)
def test_active_infection(criterion, code, system, kwargs, status):
    p = patient().condition(system, code, "infection", **kwargs)
    assert criterion(p, "active_infection").status == status


@pytest.mark.parametrize(("code", "status"), [("D83.9", "fail"), ("D80.1", "fail"), ("B20", "fail")])
def test_immunodeficiency(criterion, code, status):
    p = patient().condition(ICD10, code, "immunodeficiency", onset=ago(years=2))
    assert criterion(p, "immunodeficiency").status == status
