"""diagnosis.py: a current diagnosis of the cohort's disease (code tiers, status, verification), six months' history."""

from __future__ import annotations

from datetime import date

import pytest

from matcher.criteria.diagnosis import months_before
from tests.support.fixturekit import ICD10, ICD10CM, SNOMED, PatientBuilder, ago


@pytest.mark.parametrize(
    ("system", "code", "cohort"),
    [
        (SNOMED, "55464009", "sle"),
        (ICD10, "M32.101", "sle"),  # Chinese clinical-edition extension
        (ICD10, "M32101", "sle"),  # written without the dot
        (ICD10CM, "M32.14", "sle"),
        (ICD10, "M33.1", "iim"),
        (ICD10, "M34.0", "ssc"),
        (ICD10, "L10.0", "pemphigus"),
        (ICD10, "L40.0", "psoriasis"),
        (SNOMED, "69896004", "ra"),
        (ICD10CM, "M05.79", "ra"),
        (ICD10, "M31.3", "aav"),
        (ICD10, "M31.7", "aav"),
    ],
)
def test_each_disease_code_finds_its_cohort(run, system, code, cohort):
    result = run(PatientBuilder("dx").condition(system, code, "disease", onset=ago(years=2)))
    assert result.cohort == cohort
    assert result.criterion("diagnosis").status == "pass"


@pytest.mark.parametrize(
    ("system", "code", "status"),
    [
        (ICD10, "M32.0", "fail"),  # drug-induced lupus is not SLE
        (SNOMED, "200936003", "review"),  # lupus erythematosus: which kind?
        (ICD10, "L40.9", "review"),  # psoriasis, not said to be plaque
    ],
)
def test_diagnosis_tiers(run, system, code, status):
    assert (
        run(PatientBuilder("dx").condition(system, code, "x", onset=ago(years=2))).criterion("diagnosis").status
        == status
    )


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"clinical": "remission"}, "fail"),
        ({"clinical": "inactive"}, "fail"),
        ({"clinical": "resolved", "abatement": ago(years=1)}, "fail"),
        ({"clinical": "resolved", "abatement": ago(-30)}, "pass"),  # resolved only after as_of
        ({"verification": "provisional"}, "review"),
        ({"verification": "differential"}, "review"),
        ({"clinical": None}, "pass"),
    ],
)
def test_diagnosis_status_and_verification(run, kwargs, status):
    p = PatientBuilder("dx").condition(SNOMED, "69896004", "RA", onset=ago(years=2), **kwargs)
    assert run(p).criterion("diagnosis").status == status


@pytest.mark.parametrize(("code", "cohort"), [("698694005", "sle"), ("143441000119108", "ra")])
def test_a_code_saying_in_remission_is_not_a_current_diagnosis(run, code, cohort):
    result = run(PatientBuilder("remission").condition(SNOMED, code, "in remission", onset=ago(years=2)))
    assert result.cohort == cohort
    assert result.criterion("diagnosis").status == "review"
    assert result.criterion("diagnosis").findings[0].message == "diagnosis.coded_remission"


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"onset": ago(years=1)}, "pass"),
        ({"onset": ago(months=3)}, "fail"),
        ({"recorded": ago(years=2)}, "pass"),  # no onset: the recorded date is when it was documented
        ({"onset": str(int(ago()[:4]) - 2)}, "pass"),  # a year only, entirely before the cut-off
        ({"onset": str(int(ago()[:4]) - 1)}, "review"),  # a year that straddles the cut-off
        ({"onset": ago()[:7]}, "fail"),  # this month
        ({}, "unknown"),
    ],
)
def test_disease_duration(run, kwargs, status):
    p = PatientBuilder("dur").condition(SNOMED, "69896004", "RA", **kwargs)
    assert run(p).criterion("disease_duration").status == status


@pytest.mark.parametrize(
    ("older", "status"),
    [
        ({"verification": "differential"}, "review"),  # only an unconfirmed entry reaches back six months
        ({"verification": "confirmed"}, "pass"),
        ({"clinical": "resolved"}, "pass"),  # a documented history, even if it was once closed
    ],
)
def test_an_unconfirmed_older_entry_does_not_date_a_recent_diagnosis(run, older, status):
    p = PatientBuilder("dur").condition(SNOMED, "69896004", "RA", onset=ago(months=2))
    p.condition(SNOMED, "69896004", "RA", onset=ago(years=3), **older)
    result = run(p).criterion("disease_duration")
    assert result.status == status


def test_six_months_before_clamps_to_month_end():
    assert months_before(date(2026, 8, 31), 6) == date(2026, 2, 28)
    assert months_before(date(2026, 6, 30), 6) == date(2025, 12, 30)
