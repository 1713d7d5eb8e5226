"""Infection-serology exclusions: active hepatitis B, active hepatitis C, anti-HIV, Treponema pallidum antibody."""

from __future__ import annotations

from datetime import date

from matcher.codes.answers import Polarity
from matcher.criteria.common import code_label, explain_nothing_usable
from matcher.criteria.context import Context, condition_evidence, is_active
from matcher.criteria.measure import Pick, Usable, observation_evidence, pick, read_polarity
from matcher.outcome import CriterionResult, Outcome, Status


def _serology(ctx: Context, analyte: str, window: int | None = None) -> Pick[Polarity]:
    days = window if window is not None else ctx.m.windows.infection_serology
    return pick(ctx, analyte, days, read_polarity(ctx, analyte))


def _cite_result(out: Outcome, status: Status | None, message: str, found: Usable[Polarity]) -> None:
    fact = found.fact
    out.say(status, message, item=fact.item, polarity=found.value, date=str(fact.when))
    out.cite(observation_evidence(fact))


def _positives(out: Outcome, p: Pick[Polarity], status: Status) -> bool:
    """Every positive result inside the window counts, even when a later one is negative."""
    hits = [u for u in p.usable if u.value == "positive"]
    for hit in hits:
        _cite_result(out, status, "serology.positive", hit)
    return bool(hits)


def _active_conditions(ctx: Context, out: Outcome, valueset: str, status: Status, *, lifelong: bool = False) -> bool:
    """Coded infections: active ones (or any, for lifelong infections) carry `status`."""
    found = False
    for cond in ctx.current_conditions(valueset):
        if lifelong or is_active(cond, ctx.as_of):
            found = True
            out.say(
                status, "condition.recorded", item=valueset, label=cond.label, date=str(cond.first_known or "undated")
            )
        else:
            out.say(
                None, "condition.resolved", item=valueset, label=cond.label, date=str(cond.first_known or "undated")
            )
        out.cite(condition_evidence(cond, item=valueset))
    return found


def hepatitis_b(ctx: Context) -> CriterionResult:
    out = Outcome("hepatitis_b", "exclusion")
    hbsag, dna, core = _serology(ctx, "hbsag"), _serology(ctx, "hbv_dna"), _serology(ctx, "anti_hbc")
    failed = _positives(out, hbsag, "fail") | _positives(out, dna, "fail")
    failed |= _active_conditions(ctx, out, "hbv_infection", "fail")
    if failed:
        return out.result()
    if hbsag.chosen is None:
        explain_nothing_usable(out, hbsag, "hbsag", ctx.m.analytes["hbsag"].primary_code)
    else:
        _latest(out, hbsag.chosen)
    if dna.chosen is not None:
        _latest(out, dna.chosen)
    if core.chosen is not None and core.chosen.value == "positive":
        _cite_result(out, None, "serology.latest", core.chosen)
        if dna.chosen is None or dna.chosen.value != "negative":
            out.say("review", "hbv.core_positive")
            code = ctx.m.analytes["hbv_dna"].primary_code
            out.need("need.result", code, item="hbv_dna", code=code_label(code), window=dna.window)
    return out.result()


def hepatitis_c(ctx: Context) -> CriterionResult:
    out = Outcome("hepatitis_c", "exclusion")
    rna, antibody = _serology(ctx, "hcv_rna"), _serology(ctx, "anti_hcv")
    failed = _positives(out, rna, "fail") | _active_conditions(ctx, out, "hcv_infection", "fail")
    if failed:
        return out.result()
    if rna.chosen is not None:
        _latest(out, rna.chosen)
        if antibody.chosen is not None:
            _cite_result(out, None, "serology.latest", antibody.chosen)
        return out.result()
    if antibody.chosen is None:
        explain_nothing_usable(out, antibody, "anti_hcv", ctx.m.analytes["anti_hcv"].primary_code)
    elif antibody.chosen.value == "positive":
        _cite_result(out, None, "serology.latest", antibody.chosen)
        out.say("unknown", "hcv.antibody_needs_rna")
        code = ctx.m.analytes["hcv_rna"].primary_code
        out.need("need.result", code, item="hcv_rna", code=code_label(code), window=rna.window)
    else:
        _latest(out, antibody.chosen)
    return out.result()


def hiv(ctx: Context) -> CriterionResult:
    out = Outcome("hiv", "exclusion")
    picks = [_serology(ctx, a) for a in ("hiv_ab", "hiv_ag_ab")]
    # HIV infection is lifelong: a positive antibody test counts at any age, unless a later test is negative
    lifetime = [_serology(ctx, a, (ctx.as_of - date.min).days - 1) for a in ("hiv_ab", "hiv_ag_ab")]
    failed = _active_conditions(ctx, out, "hiv_infection", "fail", lifelong=True)
    for whole in lifetime:
        for i, found in enumerate(whole.usable):
            if found.value != "positive":
                continue
            later_negative = any(u.value == "negative" for u in whole.usable[:i])
            _cite_result(out, "review" if later_negative else "fail", "serology.positive", found)
            failed |= not later_negative
            if later_negative:
                out.say(None, "serology.later_negative", item=found.fact.item)
    if failed:
        return out.result()
    latest = [p.chosen for p in picks if p.chosen is not None]
    if not latest:
        # explain with the test that left a trace (stale or unusable); order the combined Ag/Ab test
        shown = next((p for p in picks if p.passed_over or p.stale is not None), picks[1])
        explain_nothing_usable(out, shown, shown.item, ctx.m.analytes["hiv_ag_ab"].primary_code, "hiv_ag_ab")
    for found in latest:
        _latest(out, found)
    return out.result()


def syphilis(ctx: Context) -> CriterionResult:
    out = Outcome("syphilis", "exclusion")
    antibody = _serology(ctx, "treponema_ab")
    positive = _positives(out, antibody, "review")
    positive |= _active_conditions(ctx, out, "syphilis", "review")
    if positive:
        out.say("review", "syphilis.judgement")
        return out.result()
    if antibody.chosen is None:
        explain_nothing_usable(out, antibody, "treponema_ab", ctx.m.analytes["treponema_ab"].primary_code)
    else:
        _latest(out, antibody.chosen)
    return out.result()


def _latest(out: Outcome, found: Usable[Polarity]) -> None:
    """The latest result of a test decides when nothing inside the window was positive."""
    statuses: dict[Polarity, Status] = {"negative": "pass", "indeterminate": "review", "positive": "fail"}
    status = statuses[found.value]
    _cite_result(out, status, "serology.latest", found)
