"""Exclusion (2): pregnant or lactating now, from coded states, pregnancy/lactation status and hCG results."""

from __future__ import annotations

from datetime import timedelta

from matcher.criteria.common import code_label
from matcher.criteria.context import Context, condition_evidence, is_active
from matcher.criteria.measure import observation_evidence, pick, read_polarity
from matcher.outcome import CriterionResult, Outcome, Status

#: a pregnancy recorded as active for longer than this is probably a record nobody closed
PREGNANCY_MAX_DAYS = 300
#: women are screened with an hCG test up to this age (child-bearing potential, absent other records)
CHILDBEARING_MAX_AGE = 55


def pregnancy(ctx: Context) -> CriterionResult:
    out = Outcome("pregnancy", "exclusion")
    if ctx.record.patient.sex == "male":
        return out.say("pass", "pregnancy.male").result()
    found = _coded_states(ctx, out)
    found |= _status_observations(ctx, out)
    found |= _hcg(ctx, out)
    if not found:
        out.say("pass", "pregnancy.none")
    ages = ctx.age_range()
    tested = any(f.message == "pregnancy.hcg" and f.status == "pass" for f in out.findings)
    if out.status == "pass" and not tested and (ages is None or ages[0] < CHILDBEARING_MAX_AGE):
        code = ctx.m.analytes["hcg"].primary_code
        out.need("need.hcg", code, keep=True, code=code_label(code))
    return out.result()


def _coded_states(ctx: Context, out: Outcome) -> bool:
    found = False
    oldest = ctx.as_of - timedelta(days=PREGNANCY_MAX_DAYS)
    for valueset in ("pregnancy", "lactation"):
        for cond in ctx.current_conditions(valueset):
            if not is_active(cond, ctx.as_of):
                continue
            found = True
            out.cite(condition_evidence(cond, code=str(cond.matches[valueset][1]), item=valueset))
            since = cond.first_known
            stale = valueset == "pregnancy" and since is not None and since.hi < oldest
            tier = cond.matches[valueset][0]
            if stale or tier == "review":
                out.say(
                    "review",
                    "pregnancy.stale_state" if stale else "history.needs_review",
                    item=valueset,
                    label=cond.label,
                    date=str(since or "undated"),
                )
            else:
                out.say("fail", "pregnancy.state", item=valueset, label=cond.label, date=str(since or "undated"))
    return found


def _status_observations(ctx: Context, out: Outcome) -> bool:
    found = False
    for item in ("pregnancy_status", "lactation_status"):
        p = pick(ctx, item, ctx.m.windows.pregnancy_test, read_polarity(ctx, item))
        if p.chosen is None or p.chosen.value == "negative":
            continue
        found = True
        fact = p.chosen.fact
        status: Status = "fail" if p.chosen.value == "positive" else "review"
        out.say(status, "pregnancy.status_observation", item=item, polarity=p.chosen.value, date=str(fact.when))
        out.cite(observation_evidence(fact))
    return found


def _hcg(ctx: Context, out: Outcome) -> bool:
    """A positive hCG inside its window excludes; an older positive with no later negative needs a look."""
    window = ctx.m.windows.pregnancy_test
    recent = pick(ctx, "hcg", window, read_polarity(ctx, "hcg"))
    for found in recent.usable:
        if found.value == "positive":
            out.say("fail", "pregnancy.hcg", polarity="positive", date=str(found.fact.when), window=window)
            out.cite(observation_evidence(found.fact))
            return True
    if recent.chosen is not None:
        fact = recent.chosen.fact
        status: Status = "pass" if recent.chosen.value == "negative" else "review"
        out.say(status, "pregnancy.hcg", polarity=recent.chosen.value, date=str(fact.when), window=window)
        out.cite(observation_evidence(fact))
        return status == "review"
    older = pick(ctx, "hcg", PREGNANCY_MAX_DAYS, read_polarity(ctx, "hcg"))
    if older.chosen is not None and older.chosen.value == "positive":
        out.say("review", "pregnancy.hcg_old_positive", date=str(older.chosen.fact.when), window=window)
        out.cite(observation_evidence(older.chosen.fact))
        return True
    return False
