"""record x trial x as_of -> MatchResult: every criterion, the best cohort, the verdict and the score. No I/O."""

from __future__ import annotations

from datetime import date

from matcher import __version__
from matcher.codes.model import Mappings
from matcher.criteria.cohort import Cohort
from matcher.criteria.context import Context
from matcher.outcome import SEVERITY, CohortSummary, CriterionResult, MatchResult, Status, Verdict
from matcher.record import PatientRecord
from matcher.trial import NCT07161193, Trial

#: the dates a question may be asked on: look-back windows and therapy periods are counted from as_of
#: in calendar days, which Python's dates cannot do near year 1 or 9999
EARLIEST_AS_OF, LATEST_AS_OF = date(1900, 1, 1), date(2199, 12, 31)

#: weight of each status in the score: passes count fully, reviews half, a fail a little (so that
#: within one verdict more passes and fewer unknowns always rank higher), an unknown nothing
SCORE_WEIGHTS: dict[Status, float] = {"pass": 1.0, "review": 0.5, "fail": 0.25, "unknown": 0.0}


def as_of_problem(as_of: date) -> str | None:
    """Why a date cannot be the date of the question, or None when it can."""
    if EARLIEST_AS_OF <= as_of <= LATEST_AS_OF:
        return None
    return f"as_of {as_of.isoformat()} is outside {EARLIEST_AS_OF.isoformat()} to {LATEST_AS_OF.isoformat()}"


def evaluate(record: PatientRecord, as_of: date, mappings: Mappings, trial: Trial = NCT07161193) -> MatchResult:
    """Judge every criterion of `trial` for the record as of `as_of`: the best-fitting cohort, the verdict
    (CONTRACT.md section 1), the score, and each criterion's findings in the protocol's reading order."""
    ctx = Context(record, as_of, trial.view(mappings))
    opening = [check(ctx) for check in trial.opening]
    general = [check(ctx) for check in trial.general]
    exclusions = [check(ctx) for check in trial.exclusions]
    options: list[tuple[Cohort | None, list[CriterionResult]]] = [
        (c, [check(ctx, c) for check in trial.per_cohort]) for c in candidate_cohorts(ctx, trial)
    ]
    if not options:
        options = [(None, [check(ctx, None) for check in trial.per_cohort])]
    cohort, specific = min(options, key=lambda opt: _cohort_key(opt, trial))
    # the protocol's reading order: age, the disease criteria, the other inclusions, then the exclusions
    criteria = (*opening, *specific, *general, *exclusions)
    return MatchResult(
        trial=trial.id,
        patient=record.patient.ref,
        as_of=as_of,
        verdict=verdict_of(criteria),
        cohort=cohort.id if cohort else None,
        score=score_of(criteria),
        criteria=criteria,
        cohorts=tuple(
            CohortSummary(c.id, {r.id: r.status for r in results}) for c, results in options if c is not None
        ),
        notes=record.skipped,
        versions={"matcher": __version__, "mappings": mappings.provenance.digest},
    )


def candidate_cohorts(ctx: Context, trial: Trial) -> list[Cohort]:
    """Cohorts whose disease the record mentions (in any clinical status)."""
    return [c for c in trial.cohorts if ctx.recorded(c.valueset)]


def _cohort_key(option: tuple[Cohort | None, list[CriterionResult]], trial: Trial) -> tuple[int, ...]:
    """Fewer fails, then fewer unknowns, then fewer chart reviews, then fewer reviews of any kind; ties go to
    the protocol's cohort order."""
    cohort, results = option
    counts = {s: sum(r.status == s for r in results) for s in SEVERITY}
    charts = sum(r.chart_review for r in results)
    order = trial.cohorts.index(cohort) if cohort else 0
    return counts["fail"], counts["unknown"], charts, counts["review"], order


def verdict_of(criteria: tuple[CriterionResult, ...] | list[CriterionResult]) -> Verdict:
    """CONTRACT.md section 1: any fail rules out; an unknown or a chart to read leaves the patient possibly
    eligible; `eligible` means only the screening visit's own checks remain."""
    if any(c.status == "fail" for c in criteria):
        return "ineligible"
    if any(c.status == "unknown" or c.chart_review for c in criteria):
        return "possibly_eligible"
    return "eligible"


def score_of(criteria: tuple[CriterionResult, ...] | list[CriterionResult]) -> float:
    if not criteria:
        return 0.0
    return round(sum(SCORE_WEIGHTS[c.status] for c in criteria) / len(criteria), 4)
