"""Coded-history exclusions: tuberculosis, neurologic and cardiac disorders (and QTc), infection, immunodeficiency."""

from __future__ import annotations

from matcher.criteria.common import code_label, explain_nothing_usable, note_passed_over
from matcher.criteria.context import Context, activity_on, condition_evidence, exclusion_status
from matcher.criteria.criterion import reads
from matcher.criteria.limits import in_canonical_unit
from matcher.criteria.measure import Bound, Pick, fmt, observation_evidence, pick, read_polarity, read_quantity
from matcher.criteria.reads import Reads, Window
from matcher.outcome import CriterionResult, Outcome, Status
from matcher.record import ConditionFact

TB_LOOKBACK_YEARS = 3  # protocol exclusion (3): active tuberculosis within 3 years


def _cite(out: Outcome, cond: ConditionFact, valueset: str) -> None:
    out.cite(condition_evidence(cond, code=str(cond.matches[valueset][1]), item=valueset))


def _when(cond: ConditionFact) -> str:
    return str(cond.first_known or "undated")


def _history(ctx: Context, out: Outcome, valueset: str) -> bool:
    """A history read as it stands: any recorded entry counts, whatever its clinical status."""
    found = False
    for cond in ctx.recorded(valueset):
        status = exclusion_status(cond, valueset)
        message = "history.recorded" if status == "fail" else "history.needs_review"
        out.say(status, message, item=valueset, label=cond.label, date=_when(cond))
        _cite(out, cond, valueset)
        found = True
    return found


@reads(Reads(valuesets=("neurologic",)))
def neurologic(ctx: Context) -> CriterionResult:
    """Exclusion (4): brain injury, altered consciousness, epilepsy, cerebral ischaemia or haemorrhage."""
    out = Outcome("neurologic", "exclusion")
    if not _history(ctx, out, "neurologic"):
        out.say("pass", "history.none", item="neurologic")
    return out.result()


@reads(Reads(valuesets=("immunodeficiency",)))
def immunodeficiency(ctx: Context) -> CriterionResult:
    """Exclusion (10): known or suspected congenital or acquired immunodeficiency."""
    out = Outcome("immunodeficiency", "exclusion")
    if not _history(ctx, out, "immunodeficiency"):
        out.say("pass", "history.none", item="immunodeficiency")
    return out.result()


@reads(
    Reads(
        valuesets=("tuberculosis", "tuberculosis_latent"),
        analytes={"tb_igra": Window.infection_serology},
    )
)
def tuberculosis(ctx: Context) -> CriterionResult:
    """Exclusion (3): active tuberculosis within 3 years before screening."""
    out = Outcome("tuberculosis", "exclusion")
    try:
        since = ctx.as_of.replace(year=ctx.as_of.year - TB_LOOKBACK_YEARS)
    except ValueError:  # 29 February
        since = ctx.as_of.replace(year=ctx.as_of.year - TB_LOOKBACK_YEARS, day=28)
    found = False
    for cond in ctx.recorded("tuberculosis"):
        found = True
        _cite(out, cond, "tuberculosis")
        onset, state = cond.first_known, activity_on(cond, ctx.as_of)
        firm = exclusion_status(cond, "tuberculosis")
        if firm == "review":
            out.say("review", "history.needs_review", item="tuberculosis", label=cond.label, date=_when(cond))
        elif state == "active":
            out.say("fail", "tb.active", label=cond.label, date=_when(cond))
        elif cond.abatement is not None:
            # ended within the three years (or possibly so, for an imprecise date)
            ended_recently = cond.abatement.hi >= since
            status: Status = "pass" if not ended_recently else ("fail" if cond.abatement.lo >= since else "review")
            message = {"pass": "tb.ended_long_ago", "fail": "tb.ended_recently"}.get(status, "tb.ended_maybe_recently")
            out.say(
                status,
                message,
                label=cond.label,
                date=str(cond.abatement),
                years=TB_LOOKBACK_YEARS,
                since=since.isoformat(),
            )
        elif onset is not None and onset.hi >= since:
            out.say("fail", "tb.resolved_recent_onset", label=cond.label, date=str(onset), years=TB_LOOKBACK_YEARS)
        else:
            out.say("review", "tb.resolved_undated", label=cond.label, date=_when(cond), years=TB_LOOKBACK_YEARS)
    for cond in ctx.recorded("tuberculosis_latent"):
        found = True
        _cite(out, cond, "tuberculosis_latent")
        out.say("review", "tb.latent", label=cond.label, date=_when(cond))
    igra = pick(ctx, "tb_igra", ctx.m.windows.infection_serology, read_polarity(ctx, "tb_igra"))
    if igra.chosen is not None and igra.chosen.value != "negative":
        found = True
        fact = igra.chosen.fact
        out.say("review", "tb.igra", polarity=igra.chosen.value, date=str(fact.when))
        out.cite(observation_evidence(fact))
    if not found:
        out.say("pass", "history.none", item="tuberculosis")
    return out.result()


@reads(Reads(valuesets=("infection", "infection_allowed")))
def active_infection(ctx: Context) -> CriterionResult:
    """Exclusion (6): active infection (uncomplicated urinary tract infection and bacterial pharyngitis aside)."""
    out = Outcome("active_infection", "exclusion")
    recent_from = ctx.window_start(ctx.m.windows.recent_infection)
    found = False
    for cond in ctx.recorded("infection"):
        state = activity_on(cond, ctx.as_of)
        if state == "inactive":
            continue
        found = True
        _cite(out, cond, "infection")
        onset, date = cond.first_known, _when(cond)
        allowed = cond.matches.get("infection_allowed")
        if allowed is not None and allowed[0] == "match":
            out.say("pass", "infection.allowed", label=cond.label, date=date)
        elif allowed is not None:  # may be an allowed one (pharyngitis that may be bacterial ...)
            out.say("review", "infection.maybe_allowed", label=cond.label, date=date)
        elif exclusion_status(cond, "infection") == "review":
            out.say("review", "history.needs_review", item="infection", label=cond.label, date=date)
        elif state == "unclear":
            out.say("review", "infection.maybe_over", label=cond.label, date=date, ended=str(cond.abatement))
        elif onset is not None and onset.hi < recent_from:
            out.say("review", "infection.long_open", label=cond.label, date=date, days=ctx.m.windows.recent_infection)
        else:
            out.say("fail", "infection.active", label=cond.label, date=date)
    if not found:
        out.say("pass", "infection.none")
    return out.result()


@reads(Reads(valuesets=("cardiac",), analytes={"qtc": Window.ecg}, thresholds=("qtc",)))
def cardiac(ctx: Context) -> CriterionResult:
    """Exclusion (5): prolonged QT interval, or history of severe arrhythmia or significant cardiac disorder."""
    out = Outcome("cardiac", "exclusion")
    if not _history(ctx, out, "cardiac"):
        out.say("pass", "history.none", item="cardiac")
    definition = ctx.m.analytes["qtc"]
    p: Pick[float | Bound] = pick(ctx, "qtc", ctx.m.windows.ecg, read_quantity(ctx, "qtc", bounds=True))
    if p.chosen is None:
        explain_nothing_usable(out, p, "qtc", definition.primary_code)
        return out.result()
    fact, value = p.chosen.fact, p.chosen.value
    limit = in_canonical_unit(definition, ctx.m.thresholds["qtc"], ctx.record.patient.sex)
    status = _above(value, limit)
    out.say(
        status,
        "qtc.vs_limit",
        value=str(fact.quantity),
        date=str(fact.when),
        limit=fmt(limit, "ms"),
        sex=ctx.record.patient.sex,
    )
    exact = value.value if isinstance(value, Bound) else value
    out.cite(observation_evidence(fact, value=exact, unit=definition.unit, limit_value=limit))
    if status == "unknown":
        out.need(
            "need.exact",
            definition.primary_code,
            item="qtc",
            code=code_label(definition.primary_code),
            value=str(fact.quantity),
        )
    note_passed_over(out, p, "qtc", "review" if status == "pass" else None)
    return out.result()


def _above(value: float | Bound, limit: float) -> Status:
    """Exclusion 'above the limit': fail, pass, or unknown when a bound does not settle it."""
    if isinstance(value, Bound):
        if value.above and (value.value > limit or (value.value == limit and value.comparator == ">")):
            return "fail"
        if not value.above and value.value <= limit:
            return "pass"
        return "unknown"
    return "fail" if value > limit else "pass"
