"""Inclusions on the disease itself: a current diagnosis of the cohort's disease, documented for six months."""

from __future__ import annotations

from datetime import date

from matcher.criteria.cohort import Cohort
from matcher.criteria.common import without_cohort
from matcher.criteria.context import UNCONFIRMED, Context, activity_on, condition_evidence
from matcher.criteria.criterion import reads_per_cohort
from matcher.criteria.measure import observation_evidence, pick, read_polarity
from matcher.criteria.reads import Reads, Window
from matcher.outcome import CriterionResult, Outcome, Status
from matcher.record import ConditionFact

MIN_DURATION_MONTHS = 6  # protocol: documented disease history and diagnosis for >= 6 months
#: the value set of codes that say the disease is in remission (mappings/diagnoses.toml)
CODED_REMISSION = "coded_remission"


def qualifying(ctx: Context, cohort: Cohort) -> list[ConditionFact]:
    """The cohort's disease as recorded by as_of (any clinical status; refuted ones were never kept)."""
    return ctx.recorded(cohort.valueset)


def _diagnosis_reads(cohort: Cohort) -> Reads:
    """The cohort's disease, codes of remission, and the serology shown beside the diagnosis."""
    return Reads(
        valuesets=(cohort.valueset, CODED_REMISSION),
        analytes=dict.fromkeys(cohort.serology, Window.autoantibodies),
    )


@reads_per_cohort(_diagnosis_reads)
def diagnosis(ctx: Context, cohort: Cohort | None) -> CriterionResult:
    """Inclusions 1.8, 2.7, 3.7/3.9, 4.7, 5.7, 6.8, 7.7: a current diagnosis of the cohort's disease."""
    out = Outcome("diagnosis", "inclusion")
    if cohort is None:
        return out.say("fail", "diagnosis.none").result(cohort_specific=True)
    for cond in qualifying(ctx, cohort):
        tier, code = cond.matches[cohort.valueset]
        out.cite(condition_evidence(cond, code=str(code), item=cohort.valueset))
        params = {"cohort": cohort.id, "label": cond.label, "date": str(cond.first_known or "undated")}
        state = activity_on(cond, ctx.as_of)
        if state == "inactive":
            out.say("fail", "diagnosis.inactive", clinical=cond.clinical_status or "abated", **params)
        elif state == "unclear":
            out.say("review", "diagnosis.maybe_over", ended=str(cond.abatement), **params)
        elif CODED_REMISSION in cond.matches:
            out.say("review", "diagnosis.coded_remission", clinical=cond.clinical_status or "no status", **params)
        elif tier == "review":
            out.say("review", "diagnosis.subtype", **params)
        elif cond.verification_status in UNCONFIRMED:
            out.say("review", "diagnosis.unconfirmed", verification=cond.verification_status, **params)
        else:
            out.say("pass", "diagnosis.active", **params)
    _supporting_serology(ctx, out, cohort)
    # one current, confirmed entry is enough: older resolved entries of the same disease do not undo it
    return out.result(out.first_of("pass", "review", default="fail"), cohort_specific=True)


def _supporting_serology(ctx: Context, out: Outcome, cohort: Cohort) -> None:
    for analyte in cohort.serology:
        p = pick(ctx, analyte, ctx.m.windows.autoantibodies, read_polarity(ctx, analyte))
        if p.chosen is not None:
            fact = p.chosen.fact
            out.say(None, "diagnosis.serology", item=analyte, polarity=p.chosen.value, date=str(fact.when))
            out.cite(observation_evidence(fact))


@reads_per_cohort(lambda cohort: Reads(valuesets=(cohort.valueset,)))
def disease_duration(ctx: Context, cohort: Cohort | None) -> CriterionResult:
    """Inclusion n.3 (every cohort): documented disease history and diagnosis for >= 6 months before screening."""
    if cohort is None:
        return without_cohort("disease_duration")
    out = Outcome("disease_duration", "inclusion")
    cutoff = months_before(ctx.as_of, MIN_DURATION_MONTHS)
    dated = [(c, c.first_known) for c in qualifying(ctx, cohort) if c.first_known is not None]
    if not dated:
        out.say("unknown", "duration.undated", cohort=cohort.id)
        out.need("need.diagnosis_date", cohort=cohort.id)
        return out.result(cohort_specific=True)
    # confirmed entries date the disease; a differential or provisional one only when there is no other
    confirmed = [(c, s) for c, s in dated if c.verification_status not in UNCONFIRMED]
    basis = confirmed or dated
    # the entry surely oldest decides: a partial date counts at its latest possible day
    first, since = min(basis, key=lambda pair: (pair[1].hi, pair[1].lo))
    source = "onset" if first.onset is not None else "recorded"
    out.cite(condition_evidence(first, item=cohort.valueset))
    status: Status
    if since.hi <= cutoff:
        status = "pass"
    elif min(s.lo for _, s in basis) > cutoff:
        status = "fail"
    else:
        status = "review"  # a partial date (a year, a month) straddles the six-month mark
    # entries left out of the basis (unconfirmed ones beside confirmed) that reach back six months
    earlier = [(c, s) for c, s in dated if confirmed and c.verification_status in UNCONFIRMED and s.lo <= cutoff]
    if status != "pass" and earlier:
        # an unconfirmed entry reaches back six months: whether the disease was there then is a person's call
        status = "review"
        older, when = min(earlier, key=lambda pair: (pair[1].lo, pair[1].hi))
        out.say(
            "review",
            "duration.unconfirmed_earlier",
            label=older.label,
            date=str(when),
            verification=older.verification_status,
        )
        out.cite(condition_evidence(older, item=cohort.valueset))
    out.say(
        status,
        "duration.since",
        cohort=cohort.id,
        date=str(since),
        source=source,
        cutoff=cutoff.isoformat(),
        months=MIN_DURATION_MONTHS,
    )
    return out.result(cohort_specific=True)


def months_before(day: date, months: int) -> date:
    """The same day of the month `months` earlier (clamped to the month's last day)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    for dom in (day.day, 30, 29, 28):
        try:
            return date(year, month, dom)
        except ValueError:
            continue
    raise AssertionError("unreachable")
