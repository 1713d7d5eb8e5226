"""Verdict, score, cohort choice and ranking, as the contract defines them."""

from __future__ import annotations

from datetime import date

import pytest

from matcher.evaluate import score_of, verdict_of
from matcher.outcome import CriterionResult, Finding, MatchResult
from matcher.rank import rank
from tests.support.fixturekit import ICD10, SNOMED, PatientBuilder, ago


def results(*statuses: str) -> list[CriterionResult]:
    """Criteria with these statuses; 'screening' and 'chart' are reviews of that kind."""
    out = []
    for i, s in enumerate(statuses):
        status, kind = ("review", s) if s in ("screening", "chart") else (s, None)
        out.append(CriterionResult(f"c{i}", "inclusion", status, (Finding("x", {}, status, kind),), review=kind))  # type: ignore[arg-type]
    return out


@pytest.mark.parametrize(
    ("statuses", "verdict"),
    [
        (("pass", "screening"), "eligible"),  # only the screening visit's own checks remain
        (("pass", "chart"), "possibly_eligible"),  # a chart to read before the call
        (("pass", "unknown", "screening"), "possibly_eligible"),
        (("pass", "unknown", "fail"), "ineligible"),
        (("chart", "fail"), "ineligible"),
        (("screening",), "eligible"),
        (("chart",), "possibly_eligible"),
    ],
)
def test_verdict(statuses, verdict):
    assert verdict_of(results(*statuses)) == verdict


@pytest.mark.parametrize(
    ("better", "worse"),
    [
        (("pass", "pass", "unknown"), ("pass", "unknown", "unknown")),  # more passed
        (("pass", "review", "unknown"), ("pass", "unknown", "unknown")),  # fewer unknown
        (("pass", "fail", "fail"), ("pass", "fail", "unknown")),  # fewer unknown, within ineligible
        (("pass", "pass", "fail"), ("pass", "fail", "fail")),
    ],
)
def test_score_orders_within_a_verdict(better, worse):
    assert verdict_of(results(*better)) == verdict_of(results(*worse))
    assert 0 <= score_of(results(*worse)) < score_of(results(*better)) <= 1


def test_ranking_puts_verdicts_first_then_score():
    def mr(pid: str, verdict: str, score: float) -> MatchResult:
        return MatchResult("NCT07161193", pid, date(2026, 6, 30), verdict, None, score, ())  # type: ignore[arg-type]

    ranked = rank(
        [
            mr("Patient/a", "ineligible", 0.9),
            mr("Patient/b", "eligible", 0.5),
            mr("Patient/c", "possibly_eligible", 0.8),
            mr("Patient/d", "eligible", 0.7),
        ]
    )
    assert [r.patient for r in ranked] == ["Patient/d", "Patient/b", "Patient/c", "Patient/a"]


def test_no_disease_means_no_cohort_and_cohort_criteria_on_the_worklist(run):
    result = run(PatientBuilder("none"))
    assert result.cohort is None
    assert result.criterion("diagnosis").status == "fail"
    assert result.criterion("refractory").status == "unknown"
    assert result.criterion("refractory").needs


def test_the_cohort_whose_criteria_fare_best_is_chosen(run):
    p = PatientBuilder("two")
    p.condition(SNOMED, "55464009", "SLE", onset=ago(years=3))
    p.condition(ICD10, "L10.0", "Pemphigus vulgaris", onset=ago(years=3))
    p.score("pdai", 30, ago(5))
    p.med_request("8640", "prednisone", ago(200))
    result = run(p)
    assert result.cohort == "pemphigus"
    assert {s.cohort for s in result.cohorts} == {"sle", "pemphigus"}


def test_every_criterion_id_appears_once_in_protocol_order(run):
    ids = [c.id for c in run(PatientBuilder("order")).criteria]
    assert len(ids) == len(set(ids))
    assert ids[:6] == ["age", "diagnosis", "disease_duration", "disease_activity", "organ_involvement", "refractory"]
    assert ids[-3:] == ["liver_function", "bilirubin", "renal_function"]


def test_as_of_moves_the_windows(run):
    p = PatientBuilder("time", sex="male")
    p.lab("1742-6", "ALT", 20, "U/L", "2026-01-10")
    p.lab("1920-8", "AST", 20, "U/L", "2026-01-10")
    assert run(p, date(2026, 2, 1)).criterion("liver_function").status == "pass"
    assert run(p, date(2026, 6, 30)).criterion("liver_function").status == "unknown"
    assert run(p, date(2025, 12, 31)).criterion("liver_function").status == "unknown"  # not yet measured
