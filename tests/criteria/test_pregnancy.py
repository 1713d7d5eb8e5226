"""Pregnancy and lactation: current states, status observations and hCG; screening stays on the worklist."""

from __future__ import annotations

import pytest

from matcher.explain import reason, render_need
from tests.support.fixturekit import ICD10, ICD10CM, LOINC, SNOMED, PatientBuilder, ago, cc


def woman(birth: str = "1992-01-01") -> PatientBuilder:
    return PatientBuilder("pregnancy", sex="female", birth=birth)


def test_men_pass_without_a_worklist_entry(criterion):
    result = criterion(PatientBuilder("man", sex="male"), "pregnancy")
    assert result.status == "pass"
    assert not result.needs


def test_a_pregnancy_recorded_for_a_patient_of_male_gender_still_excludes(criterion):
    # Patient.gender is administrative gender: a trans man can be pregnant
    p = PatientBuilder("man", sex="male").condition(SNOMED, "77386006", "Pregnant", onset=ago(60))
    result = criterion(p, "pregnancy")
    assert result.status == "fail"
    assert [f.message for f in result.findings if f.status == "fail"] == ["pregnancy.state"]


def test_a_positive_hcg_of_a_patient_recorded_as_male_excludes_and_says_what_else_it_may_be(criterion):
    # hCG is also a germ-cell tumour marker
    result = criterion(PatientBuilder("man", sex="male").lab("2106-3", "hCG", 250, "m[IU]/mL", ago(5)), "pregnancy")
    assert result.status == "fail"
    assert "tumour marker" in reason(result)


def test_a_woman_without_records_passes_but_the_worklist_asks_for_hcg(criterion):
    result = criterion(woman(), "pregnancy")
    assert result.status == "pass"
    assert "negative hCG" in render_need(result.needs[0])


def test_a_recent_negative_hcg_clears_the_worklist(criterion):
    result = criterion(woman().serology("2106-3", "hCG", "negative", ago(7)), "pregnancy")
    assert result.status == "pass"
    assert not result.needs


@pytest.mark.parametrize(
    ("setup", "status"),
    [
        (lambda p: p.lab("2106-3", "hCG", 250, "m[IU]/mL", ago(7)), "fail"),
        (lambda p: p.lab("2106-3", "hCG", 2, "m[IU]/mL", ago(7)), "pass"),
        (lambda p: p.lab("2106-3", "hCG", 250, "[IU]/L", ago(7)), "fail"),
        (lambda p: p.serology("2106-3", "hCG", "positive", ago(100)), "review"),  # older positive, no negative
        (lambda p: p.serology("2106-3", "hCG", "positive", ago(400)), "pass"),
        (lambda p: p.condition(SNOMED, "77386006", "Pregnant", onset=ago(60)), "fail"),
        (lambda p: p.condition(SNOMED, "77386006", "Pregnant", onset=ago(400)), "review"),  # never closed
        (
            lambda p: p.condition(
                SNOMED, "77386006", "Pregnant", onset=ago(200), clinical="resolved", abatement=ago(20)
            ),
            "pass",
        ),
        (lambda p: p.condition(SNOMED, "19169002", "Miscarriage in first trimester", onset=ago(60)), "pass"),
        (lambda p: p.obs(LOINC, "82810-3", "Pregnancy status", ago(5), answer=cc(LOINC, "LA15173-0")), "fail"),
        (lambda p: p.obs(LOINC, "82810-3", "Pregnancy status", ago(5), answer=cc(LOINC, "LA26683-5")), "pass"),
        (lambda p: p.obs(LOINC, "63895-7", "Breastfeeding", ago(5), answer=cc(LOINC, "LA29252-6")), "fail"),
    ],
)
def test_pregnancy_and_lactation(criterion, setup, status):
    p = woman()
    setup(p)
    assert criterion(p, "pregnancy").status == status


def test_women_past_childbearing_age_get_no_hcg_request(criterion):
    result = criterion(woman(birth="1962-01-01"), "pregnancy")
    assert result.status == "pass"
    assert not result.needs


BREASTFEEDING = cc(LOINC, "LA29252-6", "Currently breastfeeding")
NOT_BREASTFEEDING = cc(LOINC, "LA29253-4", "Not currently breastfeeding")


@pytest.mark.parametrize(
    ("setup", "status"),
    [
        # a positive hCG outside its 30-day window stays a question for the longest a pregnancy lasts (42 weeks)
        (lambda p: p.lab("2106-3", "hCG", 250, "m[IU]/mL", ago(35)), "review"),
        (lambda p: p.lab("2106-3", "hCG", 250, "m[IU]/mL", ago(290)), "review"),
        (lambda p: p.lab("2106-3", "hCG", 250, "m[IU]/mL", ago(300)), "pass"),
        # ... unless a later negative settles it, even one outside the window
        (
            lambda p: p.lab("2106-3", "hCG", 250, "m[IU]/mL", ago(120)).lab("2106-3", "hCG", 1, "m[IU]/mL", ago(60)),
            "pass",
        ),
        # ... or a recorded end of that pregnancy
        (
            lambda p: p.lab("2106-3", "hCG", 250, "m[IU]/mL", ago(90)).condition(
                SNOMED, "19169002", "Miscarriage in first trimester", onset=ago(50)
            ),
            "pass",
        ),
        # an end recorded before the positive says nothing about it
        (
            lambda p: p.condition(SNOMED, "19169002", "Miscarriage in first trimester", onset=ago(200)).lab(
                "2106-3", "hCG", 250, "m[IU]/mL", ago(90)
            ),
            "review",
        ),
        # a pregnancy still open in the record, followed by a miscarriage, has ended
        (
            lambda p: p.condition(SNOMED, "77386006", "Pregnant", onset=ago(120)).condition(
                SNOMED, "19169002", "Miscarriage in first trimester", onset=ago(100)
            ),
            "pass",
        ),
        # lactation has no natural end: it stays a question until recorded as ended
        (lambda p: p.obs(LOINC, "63895-7", "Breastfeeding", ago(500), answer=BREASTFEEDING), "review"),
        (
            lambda p: p.obs(LOINC, "63895-7", "Breastfeeding", ago(500), answer=BREASTFEEDING).obs(
                LOINC, "63895-7", "Breastfeeding", ago(100), answer=NOT_BREASTFEEDING
            ),
            "pass",
        ),
    ],
)
def test_pregnancy_is_not_forgotten_after_its_window(criterion, setup, status):
    p = woman()
    setup(p)
    result = criterion(p, "pregnancy")
    assert result.status == status, reason(result)
    if status == "review":
        assert result.review == "chart"  # someone reads the chart before she is called in


def test_a_recorded_end_is_cited_as_evidence(criterion):
    p = woman().lab("2106-3", "hCG", 250, "m[IU]/mL", ago(90))
    p.condition(SNOMED, "19169002", "Miscarriage in first trimester", onset=ago(50))
    result = criterion(p, "pregnancy")
    assert "end of pregnancy recorded" in reason(result)
    assert {e.item for e in result.evidence} >= {"pregnancy_end", "hcg"}


HCG_POSITIVE = ("2106-3", "hCG", 250, "m[IU]/mL")


@pytest.mark.parametrize(
    "setup",
    [
        # an end that is not confirmed, not finished, or not dated settles nothing
        lambda p: p.condition(ICD10, "O03.9", "Miscarriage", onset=ago(30), verification="provisional"),
        lambda p: p.procedure(SNOMED, "57797005", "Induced termination of pregnancy", ago(30), status="stopped"),
        lambda p: p.condition(ICD10CM, "O03.9", "Miscarriage", recorded=ago(1)),
        # codes that say the pregnancy goes on
        lambda p: p.condition(ICD10CM, "O02.81", "Inappropriate change in quantitative hCG", onset=ago(30)),
        lambda p: p.condition(
            ICD10CM, "O00.91", "Unspecified ectopic pregnancy with intrauterine pregnancy", onset=ago(30)
        ),
        # an equivocal result after the positive is not a negative
        lambda p: p.obs(LOINC, "2106-3", "hCG", ago(50), text="equivocal"),
    ],
)
def test_only_a_firm_end_or_a_later_negative_settles_an_old_positive(criterion, setup):
    p = woman().lab(*HCG_POSITIVE, ago(100))
    setup(p)
    result = criterion(p, "pregnancy")
    assert (result.status, result.review) == ("review", "chart"), reason(result)
