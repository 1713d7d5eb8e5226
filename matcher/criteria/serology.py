"""Infection-serology exclusions: active hepatitis B, active hepatitis C, anti-HIV, Treponema pallidum antibody."""

from __future__ import annotations

from datetime import date

from matcher.codes.answers import Polarity
from matcher.criteria.common import code_label, explain_nothing_usable, note_passed_over
from matcher.criteria.context import Context, activity_on, condition_evidence, exclusion_status
from matcher.criteria.criterion import reads
from matcher.criteria.measure import Pick, Usable, observation_evidence, pick, read_polarity
from matcher.criteria.reads import Reads, Window
from matcher.outcome import CriterionResult, Outcome, Status
from matcher.record import ObservationFact

LATEST: dict[Polarity, Status] = {"negative": "pass", "indeterminate": "review", "positive": "fail"}


def _serology(ctx: Context, analyte: str, window: int | None = None) -> Pick[Polarity]:
    days = window if window is not None else ctx.m.windows.infection_serology
    return pick(ctx, analyte, days, read_polarity(ctx, analyte))


def _cite(out: Outcome, status: Status | None, message: str, fact: ObservationFact, polarity: str) -> None:
    out.say(status, message, item=fact.item, polarity=polarity, date=str(fact.when or "undated"))
    out.cite(observation_evidence(fact))


def _positives(ctx: Context, out: Outcome, p: Pick[Polarity], status: Status | None) -> bool:
    """Every positive inside the window counts, even when a later one is negative; an undated one needs a look."""
    hits = [u for u in p.usable if u.value == "positive"]
    for hit in hits:
        _cite(out, status, "serology.positive", hit.fact, "positive")
    _undated_positives(ctx, out, p)
    return bool(hits)


def _undated_positives(ctx: Context, out: Outcome, p: Pick[Polarity]) -> None:
    """A positive without a date cannot be placed in any window, but must not be passed over in silence."""
    read = read_polarity(ctx, p.item)
    for fact, _ in p.passed_over:
        if fact.when is None and read(fact) == "positive":
            _cite(out, "review", "serology.undated_positive", fact, "positive")


def _conditions(ctx: Context, out: Outcome, valueset: str, status: Status | None, *, lifelong: bool = False) -> bool:
    """Coded infections: current ones (or any, for lifelong infections) carry `status`, uncertain ones review."""
    found = False
    for cond in ctx.recorded(valueset):
        state = "active" if lifelong else activity_on(cond, ctx.as_of)
        when = str(cond.first_known or "undated")
        if state == "inactive":
            out.say(None, "condition.resolved", item=valueset, label=cond.label, date=when)
        else:
            firm = exclusion_status(cond, valueset) == "fail" and state == "active"
            out.say(status if firm else "review", "condition.recorded", item=valueset, label=cond.label, date=when)
            found = found or firm
        out.cite(condition_evidence(cond, item=valueset))
    return found


def _latest(out: Outcome, p: Pick[Polarity], latest: Usable[Polarity]) -> None:
    """The latest result (p.chosen) decides when nothing inside the window was positive; a newer unreadable one
    needs a look."""
    status = LATEST[latest.value]
    _cite(out, status, "serology.latest", latest.fact, latest.value)
    note_passed_over(out, p, p.item, "review" if status == "pass" else None)


@reads(
    Reads(
        valuesets=("hbv_infection",),
        analytes=dict.fromkeys(("hbsag", "hbv_dna", "anti_hbc"), Window.infection_serology),
    )
)
def hepatitis_b(ctx: Context) -> CriterionResult:
    """Exclusion (7): active hepatitis B virus infection."""
    out = Outcome("hepatitis_b", "exclusion")
    hbsag, dna, core = _serology(ctx, "hbsag"), _serology(ctx, "hbv_dna"), _serology(ctx, "anti_hbc")
    failed = _positives(ctx, out, hbsag, "fail") | _positives(ctx, out, dna, "fail")
    failed |= _conditions(ctx, out, "hbv_infection", "fail")
    if failed:
        return out.result()
    if hbsag.chosen is None:
        explain_nothing_usable(out, hbsag, "hbsag", ctx.m.analytes["hbsag"].primary_code)
    else:
        _latest(out, hbsag, hbsag.chosen)
    if dna.chosen is not None:
        _latest(out, dna, dna.chosen)
    if core.chosen is not None and core.chosen.value == "positive":
        _cite(out, None, "serology.latest", core.chosen.fact, "positive")
        if dna.chosen is None or dna.chosen.value != "negative":
            out.say("review", "hbv.core_positive")
            code = ctx.m.analytes["hbv_dna"].primary_code
            out.need("need.result", code, item="hbv_dna", code=code_label(code), window=dna.window)
    return out.result()


@reads(
    Reads(
        valuesets=("hcv_infection",),
        analytes=dict.fromkeys(("hcv_rna", "anti_hcv"), Window.infection_serology),
    )
)
def hepatitis_c(ctx: Context) -> CriterionResult:
    """Exclusion (7): active hepatitis C virus infection."""
    out = Outcome("hepatitis_c", "exclusion")
    rna, antibody = _serology(ctx, "hcv_rna"), _serology(ctx, "anti_hcv")
    failed = _positives(ctx, out, rna, "fail") | _conditions(ctx, out, "hcv_infection", "fail")
    if failed:
        return out.result()
    if rna.chosen is not None and not _newer(antibody.chosen, rna.chosen, "positive"):
        _latest(out, rna, rna.chosen)
        if antibody.chosen is not None:
            _cite(out, None, "serology.latest", antibody.chosen.fact, antibody.chosen.value)
        return out.result()
    if antibody.chosen is None:
        explain_nothing_usable(out, antibody, "anti_hcv", ctx.m.analytes["anti_hcv"].primary_code)
    elif antibody.chosen.value == "positive":
        _cite(out, None, "serology.latest", antibody.chosen.fact, "positive")
        if rna.chosen is not None:  # an RNA result older than the positive antibody clears nothing
            _cite(out, None, "hcv.rna_older", rna.chosen.fact, rna.chosen.value)
        out.say("unknown", "hcv.antibody_needs_rna")
        code = ctx.m.analytes["hcv_rna"].primary_code
        out.need("need.result", code, item="hcv_rna", code=code_label(code), window=rna.window)
    else:
        _latest(out, antibody, antibody.chosen)
    return out.result()


def _newer(first: Usable[Polarity] | None, than: Usable[Polarity], polarity: Polarity) -> bool:
    """Whether `first` has `polarity` and is dated after `than`."""
    if first is None or first.value != polarity or first.fact.when is None or than.fact.when is None:
        return False
    return first.fact.when.lo > than.fact.when.hi


@reads(
    Reads(
        valuesets=("hiv_infection",),
        # HIV infection is lifelong: a positive test is read over the whole record
        analytes=dict.fromkeys(("hiv_ab", "hiv_ag_ab"), (Window.infection_serology, Window.whole_record)),
    )
)
def hiv(ctx: Context) -> CriterionResult:
    """Exclusion (8): confirmed positive anti-HIV antibody test."""
    out = Outcome("hiv", "exclusion")
    picks = [_serology(ctx, a) for a in ("hiv_ab", "hiv_ag_ab")]
    # HIV infection is lifelong: a positive antibody test counts at any age, unless a later test is negative
    whole_life = (ctx.as_of - date.min).days - 1
    failed = _conditions(ctx, out, "hiv_infection", "fail", lifelong=True)
    for lifetime in (_serology(ctx, a, whole_life) for a in ("hiv_ab", "hiv_ag_ab")):
        _undated_positives(ctx, out, lifetime)
        for i, found in enumerate(lifetime.usable):
            if found.value != "positive":
                continue
            later_negative = any(u.value == "negative" for u in lifetime.usable[:i])
            _cite(out, "review" if later_negative else "fail", "serology.positive", found.fact, "positive")
            failed |= not later_negative
            if later_negative:
                out.say(None, "serology.later_negative", item=found.fact.item)
    if failed:
        return out.result()
    latest = [(p, p.chosen) for p in picks if p.chosen is not None]
    if not latest:
        # explain with the test that left a trace (stale or unusable); order the combined Ag/Ab test
        shown = next((p for p in picks if p.passed_over or p.stale is not None), picks[1])
        explain_nothing_usable(out, shown, shown.item, ctx.m.analytes["hiv_ag_ab"].primary_code, "hiv_ag_ab")
    for p, chosen in latest:
        _latest(out, p, chosen)
    return out.result()


@reads(Reads(valuesets=("syphilis",), analytes={"treponema_ab": Window.infection_serology}))
def syphilis(ctx: Context) -> CriterionResult:
    """Exclusion (9): positive Treponema pallidum antibody test judged clinically significant by the investigator."""
    out = Outcome("syphilis", "exclusion")
    antibody = _serology(ctx, "treponema_ab")
    # a firm positive is the investigator's call at screening (exclusion 9); an uncertain one is a chart review
    positive = _positives(ctx, out, antibody, None)
    positive |= _conditions(ctx, out, "syphilis", None)
    if positive:
        out.screening("syphilis.judgement")
        return out.result()
    if antibody.chosen is None:
        explain_nothing_usable(out, antibody, "treponema_ab", ctx.m.analytes["treponema_ab"].primary_code)
    else:
        _latest(out, antibody, antibody.chosen)
    return out.result()
