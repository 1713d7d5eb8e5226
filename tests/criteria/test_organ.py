"""organ.py: SSc lung involvement; AAV renal involvement, or MPO/PR3-ANCA positivity."""

from __future__ import annotations

import pytest

from tests.support.fixturekit import ICD10, ICD10CM, SNOMED, PatientBuilder, ago


@pytest.mark.parametrize(
    ("setup", "status"),
    [
        (lambda p: p.condition(ICD10CM, "J84.10", "Pulmonary fibrosis", onset=ago(years=1)), "pass"),
        (lambda p: p.condition(ICD10, "I27.0", "Primary pulmonary hypertension", onset=ago(years=1)), "pass"),
        (
            lambda p: p.condition(
                ICD10CM, "J84.10", "Pulmonary fibrosis", onset=ago(years=1), verification="differential"
            ),
            "review",
        ),
        (
            lambda p: p.condition(
                ICD10,
                "I27.0",
                "Pulmonary hypertension",
                onset=ago(years=4),
                clinical="resolved",
                abatement=ago(years=3),
            ),
            "review",
        ),
        (lambda p: None, "unknown"),
    ],
)
def test_ssc_lung_involvement(criterion, setup, status):
    p = PatientBuilder("ssc").condition(ICD10, "M34.0", "SSc", onset=ago(years=2))
    setup(p)
    assert criterion(p, "organ_involvement").status == status


@pytest.mark.parametrize(
    ("setup", "status"),
    [
        (lambda p: p.serology("29644-2", "PR3", "positive", ago(200)), "pass"),
        (lambda p: p.serology("29643-4", "MPO", "negative", ago(200)), "unknown"),
        (lambda p: p.condition(ICD10CM, "M31.31", "GPA with renal involvement", onset=ago(years=1)), "pass"),
        (lambda p: p.procedure(SNOMED, "48426002", "Fine needle biopsy of kidney", ago(300)), "review"),
        (lambda p: p.serology("29644-2", "PR3", "positive", ago(years=6)), "unknown"),  # older than five years
    ],
)
def test_aav_organ_involvement(criterion, setup, status):
    p = PatientBuilder("aav").condition(ICD10, "M31.3", "GPA", onset=ago(years=2))
    setup(p)
    result = criterion(p, "organ_involvement")
    assert result.status == status
    if status == "unknown":
        assert {n.params.get("item") for n in result.needs} >= {"renal_vasculitis", "mpo_anca", "pr3_anca"}


@pytest.mark.parametrize(
    ("system", "code", "cohort"),
    [(SNOMED, "55464009", "sle"), (ICD10, "L10.0", "pemphigus"), (SNOMED, "69896004", "ra")],
)
def test_cohorts_without_an_organ_rule_pass_and_say_so(run, system, code, cohort):
    result = run(PatientBuilder("organ").condition(system, code, "disease", onset=ago(years=2)))
    assert result.cohort == cohort
    organ = result.criterion("organ_involvement")
    assert organ.status == "pass"
    assert organ.findings[0].message == "organ.not_required"


def test_without_a_cohort_there_is_nothing_to_judge_by(criterion):
    result = criterion(PatientBuilder("none"), "organ_involvement")
    assert result.status == "unknown"
    assert result.findings[0].message == "cohort.none"
