"""Exclusion (2): pregnant or lactating now, from coded states, pregnancy/lactation status and hCG results.

A pregnancy is not forgotten when its evidence leaves the hCG window: a positive hCG or a pregnancy
record stays a question (a chart review) until a later negative, a recorded end of the pregnancy
(delivery, miscarriage, termination) or the longest a pregnancy lasts says otherwise. Lactation stays a
question until it is recorded as ended.
"""

from __future__ import annotations

from datetime import date, timedelta

from matcher.criteria.common import code_label, note_passed_over
from matcher.criteria.context import (
    UNCONFIRMED,
    Context,
    activity_on,
    condition_evidence,
    exclusion_status,
    procedure_evidence,
)
from matcher.criteria.criterion import reads
from matcher.criteria.measure import observation_evidence, pick, read_polarity
from matcher.criteria.reads import Reads, Window
from matcher.outcome import CriterionResult, Outcome, Status
from matcher.record import PartialDate

#: the longest a pregnancy lasts (42 weeks): older evidence of one is about a pregnancy that has ended
PREGNANCY_MAX_DAYS = 294
#: lactation has no natural end date: a positive breastfeeding status is read over the whole record
#: (back to 1900, the earliest as_of) until a later negative or an end says otherwise
WHOLE_RECORD = date(1900, 1, 1)
#: women are screened with an hCG test up to this age (child-bearing potential, absent other records)
CHILDBEARING_MAX_AGE = 55
#: the value set of records that say a pregnancy ended (mappings/pregnancy_end.toml)
PREGNANCY_END = "pregnancy_end"


@reads(
    Reads(
        valuesets=("pregnancy", "lactation", PREGNANCY_END),
        # inside the test window a positive excludes; an older positive stays a question (see above)
        analytes={
            "hcg": (Window.pregnancy_test, PREGNANCY_MAX_DAYS),
            "pregnancy_status": (Window.pregnancy_test, PREGNANCY_MAX_DAYS),
            "lactation_status": (Window.pregnancy_test, Window.whole_record),
        },
    )
)
def pregnancy(ctx: Context) -> CriterionResult:
    """Exclusion (2): pregnant or lactating women."""
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


def _lookback(ctx: Context, item: str) -> int:
    """Days before as_of in which a positive result still raises a question."""
    if item == "lactation_status":
        return (ctx.as_of - WHOLE_RECORD).days
    return PREGNANCY_MAX_DAYS


def _ended_after(ctx: Context, out: Outcome, since: PartialDate | None) -> bool:
    """A firm record that the pregnancy ended, dated surely on or after `since` (and by as_of): cite the first.

    Firm means: a `match`-tier code (a past history of miscarriage does not say which pregnancy), a
    confirmed Condition dated by its onset or end (a history entered today says nothing of when), or a
    completed Procedure.
    """
    if since is None:
        return False
    for cond in ctx.recorded(PREGNANCY_END):
        when = cond.onset or cond.abatement
        firm = cond.matches[PREGNANCY_END][0] == "match" and cond.verification_status not in UNCONFIRMED
        if firm and when is not None and when.lo >= since.hi:
            out.say(None, "pregnancy.ended", label=cond.label, date=str(when))
            out.cite(condition_evidence(cond, code=str(cond.matches[PREGNANCY_END][1]), item=PREGNANCY_END))
            return True
    for proc in ctx.procedures(PREGNANCY_END):
        firm = proc.matches[PREGNANCY_END][0] == "match" and proc.status == "completed"
        if firm and proc.start is not None and proc.start.lo >= since.hi:
            out.say(None, "pregnancy.ended", label=proc.label, date=str(proc.start))
            out.cite(procedure_evidence(proc, item=PREGNANCY_END))
            return True
    return False


def _coded_states(ctx: Context, out: Outcome) -> bool:
    found = False
    oldest = ctx.as_of - timedelta(days=PREGNANCY_MAX_DAYS)
    for valueset in ("pregnancy", "lactation"):
        for cond in ctx.recorded(valueset):
            state = activity_on(cond, ctx.as_of)
            if state == "inactive":
                continue
            since = cond.first_known
            if valueset == "pregnancy" and _ended_after(ctx, out, since):
                out.cite(condition_evidence(cond, code=str(cond.matches[valueset][1]), item=valueset))
                continue
            found = True
            out.cite(condition_evidence(cond, code=str(cond.matches[valueset][1]), item=valueset))
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
    that nothing later settles, or a newer result that could not be read, needs a person."""
    window = ctx.m.windows.pregnancy_test
    read = read_polarity(ctx, item)
    recent = pick(ctx, item, window, read)
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
    # nothing usable inside the window: the newest older positive stays a question unless a negative after
    # it settles it (an equivocal result settles nothing)
    older = pick(ctx, item, _lookback(ctx, item), read)
    newest_positive = next((u for u in older.usable if u.value == "positive"), None)
    if newest_positive is None:
        return bool(recent.passed_over)
    fact = newest_positive.fact
    if any(
        u.value == "negative" and u.fact.when is not None and fact.when is not None and u.fact.when.lo > fact.when.hi
        for u in older.usable
    ):
        return bool(recent.passed_over)
    out.cite(observation_evidence(fact))
    if item != "lactation_status" and _ended_after(ctx, out, fact.when):
        out.say(None, "pregnancy.old_positive_ended", item=item, date=str(fact.when))
        return bool(recent.passed_over)
    out.say("review", "pregnancy.old_positive", item=item, date=str(fact.when), window=window)
    return True
