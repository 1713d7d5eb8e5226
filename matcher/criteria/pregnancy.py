"""Exclusion (2): pregnant or lactating now, from coded states, pregnancy/lactation status and hCG results."""

from __future__ import annotations

from datetime import timedelta

from matcher.criteria.common import code_label, note_passed_over
from matcher.criteria.context import Context, activity_on, condition_evidence, exclusion_status
from matcher.criteria.measure import observation_evidence, pick, read_polarity
from matcher.outcome import CriterionResult, Outcome, Status

#: a pregnancy recorded as active for longer than this is probably a record nobody closed
PREGNANCY_MAX_DAYS = 300
#: women are screened with an hCG test up to this age (child-bearing potential, absent other records)
CHILDBEARING_MAX_AGE = 55


def pregnancy(ctx: Context) -> CriterionResult:
    out = Outcome("pregnancy", "exclusion")
    # records are read whatever Patient.gender says: it is administrative gender, not biological sex
    found = _coded_states(ctx, out)
    found |= _observed(ctx, out, "pregnancy_status")
    found |= _observed(ctx, out, "lactation_status")
    found |= _observed(ctx, out, "hcg")
    if not found:
        out.say("pass", "pregnancy.none")
    if ctx.record.patient.sex == "male":
        return out.say(None, "pregnancy.male").result()
    ages = ctx.age_range()
    tested = any(f.message == "pregnancy.negative" and f.params.get("item") == "hcg" for f in out.findings)
    if out.status == "pass" and not tested and (ages is None or ages[0] < CHILDBEARING_MAX_AGE):
        code = ctx.m.analytes["hcg"].primary_code
        out.need("need.hcg", code, keep=True, code=code_label(code))
    return out.result()


def _coded_states(ctx: Context, out: Outcome) -> bool:
    found = False
    oldest = ctx.as_of - timedelta(days=PREGNANCY_MAX_DAYS)
    for valueset in ("pregnancy", "lactation"):
        for cond in ctx.recorded(valueset):
            state = activity_on(cond, ctx.as_of)
            if state == "inactive":
                continue
            found = True
            out.cite(condition_evidence(cond, code=str(cond.matches[valueset][1]), item=valueset))
            since = cond.first_known
            when = str(since or "undated")
            stale = valueset == "pregnancy" and since is not None and since.hi < oldest
            if stale:
                out.say("review", "pregnancy.stale_state", item=valueset, label=cond.label, date=when)
            elif exclusion_status(cond, valueset) == "review" or state == "unclear":
                out.say("review", "history.needs_review", item=valueset, label=cond.label, date=when)
            else:
                out.say("fail", "pregnancy.state", item=valueset, label=cond.label, date=when)
    return found


def _observed(ctx: Context, out: Outcome, item: str) -> bool:
    """hCG, pregnancy status, breastfeeding status: positive inside the window excludes; an older positive
    with no later negative, or a newer result that could not be read, needs a person."""
    window = ctx.m.windows.pregnancy_test
    recent = pick(ctx, item, window, read_polarity(ctx, item))
    for found in recent.usable:
        if found.value == "positive":
            # the contract excludes on any positive hCG; in a patient recorded as male the reason says it
            # may be a tumour marker, for the coordinator who reads it
            male_hcg = item == "hcg" and ctx.record.patient.sex == "male"
            message = "pregnancy.positive_male" if male_hcg else "pregnancy.positive"
            out.say("fail", message, item=item, date=str(found.fact.when), window=window)
            out.cite(observation_evidence(found.fact))
            return True
    if recent.chosen is not None:
        fact = recent.chosen.fact
        status: Status = "pass" if recent.chosen.value == "negative" else "review"
        message = "pregnancy.negative" if status == "pass" else "pregnancy.indeterminate"
        out.say(status, message, item=item, date=str(fact.when), window=window)
        out.cite(observation_evidence(fact))
        note_passed_over(out, recent, item, "review")
        return status == "review" or bool(recent.passed_over)
    note_passed_over(out, recent, item, "review")
    older = pick(ctx, item, PREGNANCY_MAX_DAYS, read_polarity(ctx, item))
    if older.chosen is not None and older.chosen.value == "positive":
        out.say("review", "pregnancy.old_positive", item=item, date=str(older.chosen.fact.when), window=window)
        out.cite(observation_evidence(older.chosen.fact))
        return True
    return bool(recent.passed_over)
