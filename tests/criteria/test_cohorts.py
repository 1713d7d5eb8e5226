"""Cohort-specific inclusions: diagnosis, six months' history, activity thresholds, organ involvement; age."""

from __future__ import annotations

from datetime import date

import pytest
from fixturekit import ICD10, ICD10CM, SNOMED, PatientBuilder, ago, cc

from matcher.criteria.diagnosis import months_before
from matcher.explain import reason


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
    ("birth", "status"),
    [
        ("2008-06-30", "pass"),  # 18 today
        ("2008-07-01", "fail"),  # 18 tomorrow
        ("1955-07-01", "pass"),  # 70, turns 71 tomorrow
        ("1955-06-30", "fail"),  # 71 today
        ("2008", "review"),  # 17 or 18
        ("1990-03", "pass"),
        (None, "unknown"),
    ],
)
def test_age(criterion, birth, status):
    assert criterion(PatientBuilder("age", birth=birth), "age").status == status


def test_deceased_patient_is_not_a_candidate(run):
    result = run(PatientBuilder("dead", deceased=ago(10)))
    assert result.criterion("alive").status == "fail"
    assert result.verdict == "ineligible"


def test_the_any_score_worklist_carries_every_index_code(criterion, mappings):
    p = PatientBuilder("ra").condition(SNOMED, "69896004", "RA", onset=ago(years=2))
    [need] = criterion(p, "disease_activity").needs
    assert need.message == "need.any_score" and len(need.codes) == len(need.params["scores"].split(","))
