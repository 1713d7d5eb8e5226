"""Organ-function exclusions: ALT/AST above 3 x ULN, bilirubin above 2 x ULN, creatinine, creatinine clearance."""

from __future__ import annotations

from matcher.codes.units import convert
from matcher.criteria.common import explain_nothing_usable, note_passed_over
from matcher.criteria.context import Context
from matcher.criteria.measure import Usable, fmt, observation_evidence, pick, read_quantity, upper_limit
from matcher.outcome import CriterionResult, Outcome, Status

LIVER_FACTOR = 3.0  # protocol exclusion (13): ALT/AST > 3 x ULN
BILIRUBIN_FACTOR = 2.0  # total bilirubin > 2.0 x ULN
CREATININE_FACTOR = 2.0  # serum creatinine > 2 x ULN
CRCL_MIN = 30.0  # creatinine clearance < 30 mL/min


def liver_function(ctx: Context) -> CriterionResult:
    out = Outcome("liver_function", "exclusion")
    for analyte in ("alt", "ast"):
        _against_uln(ctx, out, analyte, LIVER_FACTOR)
    return out.result()


def bilirubin(ctx: Context) -> CriterionResult:
    out = Outcome("bilirubin", "exclusion")
    _against_uln(ctx, out, "bilirubin_total", BILIRUBIN_FACTOR)
    return out.result()


def renal_function(ctx: Context) -> CriterionResult:
    out = Outcome("renal_function", "exclusion")
    creatinine = _against_uln(ctx, out, "creatinine", CREATININE_FACTOR)
    _clearance(ctx, out, creatinine)
    return out.result()


def _against_uln(ctx: Context, out: Outcome, analyte: str, factor: float) -> Usable[float] | None:
    """One analyte against factor x ULN; returns the deciding result (canonical unit) if there is one."""
    definition = ctx.m.analytes[analyte]
    p = pick(ctx, analyte, ctx.m.windows.organ_function, read_quantity(ctx, analyte))
    if p.chosen is None:
        explain_nothing_usable(out, p, analyte, definition.primary_code)
        return None
    fact, value = p.chosen.fact, p.chosen.value
    limit = upper_limit(ctx, analyte, fact)
    ratio = value / limit.value
    status: Status = "fail" if ratio > factor else "pass"
    out.say(
        status,
        "lab.vs_uln",
        item=analyte,
        value=fmt(value, definition.unit),
        written=str(fact.quantity),
        date=str(fact.when),
        ratio=ratio,
        uln=fmt(limit.value, definition.unit),
        uln_source=limit.source,
        sex=ctx.record.patient.sex,
        factor=factor,
    )
    if limit.note:
        out.say(None, "lab.range_ignored", item=analyte, why=limit.note)
    out.cite(observation_evidence(fact, value=value, unit=definition.unit, limit=limit))
    note_passed_over(out, p, analyte, "review" if status == "pass" else None)
    return p.chosen


def _clearance(ctx: Context, out: Outcome, creatinine: Usable[float] | None) -> None:
    """Creatinine clearance: measured when there is one, else Cockcroft-Gault; below 30 mL/min excludes."""
    window = ctx.m.windows.organ_function
    measured = pick(ctx, "creatinine_clearance", window, read_quantity(ctx, "creatinine_clearance"))
    if measured.chosen is not None:
        fact, value = measured.chosen.fact, measured.chosen.value
        status: Status = "fail" if value < CRCL_MIN else "pass"
        out.say(status, "crcl.measured", value=fmt(value, "mL/min"), date=str(fact.when), limit=CRCL_MIN)
        out.cite(observation_evidence(fact, value=value, unit="mL/min", limit_value=CRCL_MIN))
        note_passed_over(out, measured, "creatinine_clearance", "review" if status == "pass" else None)
        return
    if creatinine is None:
        out.say("unknown", "crcl.no_creatinine")
        return
    ages = ctx.age_range()
    if ages is None:
        out.say("unknown", "crcl.no_age")
        out.need("need.birth_date")
        return
    weight_pick = pick(ctx, "body_weight", ctx.m.windows.body_weight, read_quantity(ctx, "body_weight"))
    if weight_pick.chosen is None:
        out.say("unknown", "crcl.no_weight")
        explain_nothing_usable(out, weight_pick, "body_weight", ctx.m.analytes["body_weight"].primary_code)
        _egfr_context(ctx, out)
        return
    weight = weight_pick.chosen
    scr = convert(ctx.m.analytes["creatinine"], creatinine.value, ctx.m.analytes["creatinine"].unit)
    assert scr is not None
    sex = ctx.record.patient.sex
    # oldest possible age and the female factor give the lowest clearance; the youngest and male the highest
    low = cockcroft_gault(ages[1], weight.value, scr, female=sex != "male")
    high = cockcroft_gault(ages[0], weight.value, scr, female=sex == "female")
    if low >= CRCL_MIN:
        status = "pass"
    elif high < CRCL_MIN:
        status = "fail"
    else:
        status = "review"
    out.say(
        status,
        "crcl.cockcroft_gault",
        value=fmt(low, "mL/min"),
        high=fmt(high, "mL/min"),
        age=ages[1],
        weight=fmt(weight.value, "kg"),
        weight_date=str(weight.fact.when),
        creatinine=fmt(scr, "mg/dL"),
        sex=sex,
        limit=CRCL_MIN,
    )
    out.cite(observation_evidence(weight.fact, value=weight.value, unit="kg"))
    note_passed_over(out, weight_pick, "body_weight", "review" if status == "pass" else None)


def _egfr_context(ctx: Context, out: Outcome) -> None:
    """An eGFR is not a creatinine clearance, but a coordinator wants to see it beside the gap."""
    egfr = pick(ctx, "egfr", ctx.m.windows.organ_function, read_quantity(ctx, "egfr"))
    if egfr.chosen is not None:
        fact = egfr.chosen.fact
        out.say(None, "crcl.egfr_context", value=str(fact.quantity), date=str(fact.when))
        out.cite(observation_evidence(fact, value=egfr.chosen.value, unit=ctx.m.analytes["egfr"].unit))


def cockcroft_gault(age: int, weight_kg: float, creatinine_mg_dl: float, *, female: bool) -> float:
    """Creatinine clearance in mL/min (Cockcroft & Gault, Nephron 1976)."""
    clearance = (140 - age) * weight_kg / (72 * creatinine_mg_dl)
    return clearance * 0.85 if female else clearance
