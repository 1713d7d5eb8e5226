"""activity.py: each cohort's disease-activity scores against the protocol's thresholds, BILAG grades."""

from __future__ import annotations

import pytest

from matcher.explain import reason
from tests.support.fixturekit import ICD10, SNOMED, PatientBuilder, ago, cc


def sle(**scores: float) -> PatientBuilder:
    p = PatientBuilder("sle").condition(SNOMED, "55464009", "SLE", onset=ago(years=2))
    for name, value in scores.items():
        p.score(name.replace("_", "-"), value, ago(10))
    return p


@pytest.mark.parametrize(
    ("scores", "status"),
    [
        ({"selena_sledai": 8, "sle_pga": 1}, "pass"),
        ({"selena_sledai": 7, "sle_pga": 2}, "fail"),
        ({"selena_sledai": 12, "sle_pga": 0.5}, "fail"),
        ({"selena_sledai": 12}, "unknown"),
        ({"sledai_2k": 12, "sle_pga": 1.5}, "review"),  # a related instrument: a person confirms
        ({"selena_sledai": 130, "sle_pga": 1.5}, "unknown"),  # outside the instrument's range
    ],
)
def test_sle_activity(criterion, scores, status):
    assert criterion(sle(**scores), "disease_activity").status == status


@pytest.mark.parametrize(("grades", "status"), [(["A", "D"], "pass"), (["B", "B"], "pass"), (["B", "C"], "fail")])
def test_bilag_when_recorded(criterion, grades, status):
    p = sle(selena_sledai=10, sle_pga=1.5)
    p.obs(
        "urn:trialmatch:disease-activity",
        "bilag-2004",
        "BILAG",
        ago(10),
        components=[
            {"code": cc("urn:example:bilag", f"system-{i}"), "valueCodeableConcept": cc("urn:example:grade", g)}
            for i, g in enumerate(grades)
        ],
    )
    assert criterion(p, "disease_activity").status == status


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("Renal C, Mucocutaneous C (alopecia)", "fail"),  # the last letter of a word is not a grade
        ("1A 2C", "pass"),
        ("2 B, Renal C", "pass"),
        ("C - anaemia", "fail"),
    ],
)
def test_bilag_grades_written_as_text(criterion, value, status):
    p = sle(selena_sledai=10, sle_pga=1.5)
    p.obs("urn:trialmatch:disease-activity", "bilag-2004", "BILAG", ago(10), text=value)
    assert criterion(p, "disease_activity").status == status


def test_a_bilag_recorded_but_unusable_is_not_read_as_not_recorded(criterion):
    p = sle(selena_sledai=10, sle_pga=1.5)
    p.obs("urn:trialmatch:disease-activity", "bilag-2004", "BILAG", ago(10), text="C C D D E", status="preliminary")
    result = criterion(p, "disease_activity")
    assert result.status == "unknown"
    assert "preliminary" in reason(result)


@pytest.mark.parametrize(
    ("bsa", "pasi", "spga", "status"),
    [(10, 10, 3, "pass"), (9, 12, 4, "fail"), (12, 9.9, 4, "fail"), (12, 12, 2, "fail"), (None, 12, 4, "unknown")],
)
def test_psoriasis_activity(criterion, bsa, pasi, spga, status):
    p = PatientBuilder("pso").condition(ICD10, "L40.0", "Psoriasis vulgaris", onset=ago(years=2))
    if bsa is not None:
        p.score("psoriasis-bsa", bsa, ago(10), unit="%")
    p.score("pasi", pasi, ago(10))
    p.score("spga", spga, ago(10))
    assert criterion(p, "disease_activity").status == status


@pytest.mark.parametrize(
    ("scores", "status"),
    [({"das28-crp": 3.3}, "pass"), ({"das28-crp": 3.2}, "fail"), ({"cdai": 9, "sdai": 12}, "pass"), ({}, "unknown")],
)
def test_ra_activity_any_index(criterion, scores, status):
    p = PatientBuilder("ra").condition(SNOMED, "69896004", "RA", onset=ago(years=2))
    for name, value in scores.items():
        p.score(name, value, ago(10))
    result = criterion(p, "disease_activity")
    assert result.status == status
    if status == "unknown":
        assert len(result.needs) == 1


@pytest.mark.parametrize(("pdai", "status"), [(9, "pass"), (8, "fail"), (None, "unknown")])
def test_pemphigus_pdai(criterion, pdai, status):
    p = PatientBuilder("pem").condition(ICD10, "L10.0", "Pemphigus vulgaris", onset=ago(years=2))
    if pdai is not None:
        p.score("pdai", pdai, ago(10))
    assert criterion(p, "disease_activity").status == status


def test_stale_activity_score_is_unknown(criterion):
    p = PatientBuilder("pem").condition(ICD10, "L10.0", "Pemphigus vulgaris", onset=ago(years=2))
    p.score("pdai", 30, ago(400))
    result = criterion(p, "disease_activity")
    assert result.status == "unknown"
    assert "older than the 90-day window" in reason(result)


def test_cohorts_without_a_threshold_pass_and_say_so(criterion):
    p = PatientBuilder("ssc").condition(ICD10, "M34.0", "SSc", onset=ago(years=2))
    result = criterion(p, "disease_activity")
    assert result.status == "pass"
    assert "sets no disease-activity threshold" in reason(result)


def test_the_any_score_worklist_carries_every_index_code(criterion, mappings):
    p = PatientBuilder("ra").condition(SNOMED, "69896004", "RA", onset=ago(years=2))
    [need] = criterion(p, "disease_activity").needs
    assert need.message == "need.any_score" and len(need.codes) == len(need.params["scores"].split(","))
