"""Organ-function exclusions: ALT/AST above 3 x ULN, bilirubin above 2 x ULN, creatinine, creatinine clearance."""

from __future__ import annotations

from matcher.codes.units import convert_between
from matcher.criteria.common import code_label, explain_nothing_usable, note_passed_over
from matcher.criteria.context import Context
from matcher.criteria.criterion import reads
from matcher.criteria.limits import upper_limit
from matcher.criteria.measure import (
    Bound,
    Pick,
    Usable,
    fmt,
    observation_evidence,
    pick,
    read_exact,
    read_quantity,
)
from matcher.criteria.reads import Reads, Window
from matcher.errors import MappingError
from matcher.outcome import CriterionResult, Outcome, Status

LIVER_FACTOR = 3.0  # protocol exclusion (13): ALT/AST > 3 x ULN
BILIRUBIN_FACTOR = 2.0  # total bilirubin > 2.0 x ULN
CREATININE_FACTOR = 2.0  # serum creatinine > 2 x ULN
CRCL_MIN = 30.0  # creatinine clearance < 30 mL/min
#: the units the Cockcroft-Gault formula is written in; the trial checks at start-up that mappings/ convert to them
COCKCROFT_GAULT_UNITS = {"body_weight": "kg", "creatinine": "mg/dL"}


@reads(Reads(analytes=dict.fromkeys(("alt", "ast"), Window.organ_function), uln=("alt", "ast")))
def liver_function(ctx: Context) -> CriterionResult:
    """Exclusion (13): ALT or AST > 3 x ULN."""
    out = Outcome("liver_function", "exclusion")
    for analyte in ("alt", "ast"):
        _against_uln(ctx, out, analyte, LIVER_FACTOR)
    return out.result()


@reads(Reads(analytes={"bilirubin_total": Window.organ_function}, uln=("bilirubin_total",)))
def bilirubin(ctx: Context) -> CriterionResult:
    """Exclusion (13): total bilirubin > 2.0 x ULN."""
    out = Outcome("bilirubin", "exclusion")
    _against_uln(ctx, out, "bilirubin_total", BILIRUBIN_FACTOR)
    return out.result()


@reads(
    Reads(
        analytes={
            **dict.fromkeys(("creatinine", "creatinine_clearance", "egfr"), Window.organ_function),
            "body_weight": Window.body_weight,
        },
        uln=("creatinine",),
        units=COCKCROFT_GAULT_UNITS,
    )
)
def renal_function(ctx: Context) -> CriterionResult:
    """Exclusion (13): serum creatinine > 2 x ULN, or creatinine clearance < 30 mL/min."""
    out = Outcome("renal_function", "exclusion")
    creatinine = _against_uln(ctx, out, "creatinine", CREATININE_FACTOR)
    _clearance(ctx, out, creatinine)
    return out.result()


def _against_uln(ctx: Context, out: Outcome, analyte: str, factor: float) -> Usable[float | Bound] | None:
    """One analyte against factor x ULN; returns the deciding result."""
    definition = ctx.m.analytes[analyte]
    p: Pick[float | Bound] = pick(ctx, analyte, ctx.m.windows.organ_function, read_quantity(ctx, analyte, bounds=True))
    if p.chosen is None:
        explain_nothing_usable(out, p, analyte, definition.primary_code)
        return None
    fact, value = p.chosen.fact, p.chosen.value
    limit = upper_limit(ctx, analyte, fact)
    number = value.value if isinstance(value, Bound) else value
    ratio = number / limit.value
    status = _exceeds(value, factor * limit.value)
    # above the strictest limit that may be the patient's but not above the most lenient: a person decides
    undecided = status == "fail" and limit.loosest is not None and _exceeds(value, factor * limit.loosest) != "fail"
    out.say(
        "review" if undecided else status,
        "lab.vs_uln",
        item=analyte,
        value=f"{value.comparator if isinstance(value, Bound) else ''}{fmt(number, definition.unit)}",
        date=str(fact.when),
        ratio=ratio,
        uln=fmt(limit.value, definition.unit),
        uln_source=limit.source,
        sex=ctx.record.patient.sex,
        factor=factor,
    )
    if limit.loosest is not None:
        out.say(
            "review" if undecided else None,
            "lab.range_unsure",
            item=analyte,
            why=limit.note,
            loosest=fmt(limit.loosest, definition.unit),
            factor=factor,
        )
    elif limit.note:
        out.say(None, "lab.range_ignored", item=analyte, why=limit.note)
    out.cite(observation_evidence(fact, value=number, unit=definition.unit, limit=limit))
    if status == "unknown":
        out.need(
            "need.exact",
            definition.primary_code,
            item=analyte,
            code=code_label(definition.primary_code),
            value=str(fact.quantity),
        )
    note_passed_over(out, p, analyte, "review" if status == "pass" else None)
    return p.chosen


def _exceeds(value: float | Bound, limit: float) -> Status:
    """Exclusion 'above the limit': a bound settles it only when it lies beyond the limit on the right side."""
    if isinstance(value, Bound):
        if value.above and value.value >= limit:
            return "fail"
        if not value.above and value.value <= limit:
            return "pass"
        return "unknown"
    return "fail" if value > limit else "pass"


def _clearance(ctx: Context, out: Outcome, creatinine: Usable[float | Bound] | None) -> None:
    """Creatinine clearance: a measured one when there is one, else Cockcroft-Gault; below 30 mL/min excludes."""
    window = ctx.m.windows.organ_function
    measured: Pick[float | Bound] = pick(
        ctx, "creatinine_clearance", window, read_quantity(ctx, "creatinine_clearance", bounds=True)
    )
    if measured.chosen is not None:
        fact, value = measured.chosen.fact, measured.chosen.value
        status: Status
        if isinstance(value, Bound):
            below = not value.above and value.value <= CRCL_MIN
            above = value.above and value.value >= CRCL_MIN
            status = "fail" if below else "pass" if above else "unknown"
        else:
            status = "fail" if value < CRCL_MIN else "pass"
        out.say(status, "crcl.measured", value=str(fact.quantity), date=str(fact.when), limit=CRCL_MIN)
        number = value.value if isinstance(value, Bound) else value
        out.cite(observation_evidence(fact, value=number, unit="mL/min", limit_value=CRCL_MIN))
        if status == "unknown":
            code = ctx.m.analytes["creatinine_clearance"].primary_code
            out.need("need.exact", code, item="creatinine_clearance", code=code_label(code), value=str(fact.quantity))
        note_passed_over(out, measured, "creatinine_clearance", "review" if status == "pass" else None)
        return
    estimate = _estimate(ctx, out, creatinine)
    # a measured clearance that could not be used must not be overridden silently by the estimate
    note_passed_over(out, measured, "creatinine_clearance", "review" if estimate == "pass" else None)


def _estimate(ctx: Context, out: Outcome, creatinine: Usable[float | Bound] | None) -> Status:
    """Cockcroft-Gault from creatinine, age, sex and a recent weight; its status."""
    if creatinine is None:
        out.say("unknown", "crcl.no_creatinine")  # the creatinine finding has put it on the worklist
        return "unknown"
    if isinstance(creatinine.value, Bound):
        out.say("unknown", "crcl.creatinine_bound", value=str(creatinine.fact.quantity))
        code = ctx.m.analytes["creatinine"].primary_code
        out.need("need.exact", code, item="creatinine", code=code_label(code), value=str(creatinine.fact.quantity))
        return "unknown"
    ages = ctx.age_range()
    if ages is None:
        out.say("unknown", "crcl.no_age")
        out.need("need.birth_date")
        return "unknown"
    weight_pick = pick(ctx, "body_weight", ctx.m.windows.body_weight, read_exact(ctx, "body_weight"))
    if weight_pick.chosen is None:
        out.say("unknown", "crcl.no_weight")
        explain_nothing_usable(out, weight_pick, "body_weight", ctx.m.analytes["body_weight"].primary_code)
        _egfr_context(ctx, out)
        return "unknown"
    weight = weight_pick.chosen
    kg = _in_formula_unit(ctx, "body_weight", weight.value)
    scr = _in_formula_unit(ctx, "creatinine", creatinine.value)
    sex = ctx.record.patient.sex
    # oldest possible age and the female factor give the lowest clearance; the youngest and male the highest
    low = cockcroft_gault(ages[1], kg, scr, female=sex != "male")
    high = cockcroft_gault(ages[0], kg, scr, female=sex == "female")
    status: Status = "pass" if low >= CRCL_MIN else ("fail" if high < CRCL_MIN else "review")
    out.say(
        status,
        "crcl.cockcroft_gault",
        value=fmt(low, "mL/min") if abs(high - low) < 0.05 else f"{fmt(low)}-{fmt(high, 'mL/min')}",
        age=ages[1],
        weight=fmt(kg, "kg"),
        weight_date=str(weight.fact.when),
        creatinine=fmt(scr, "mg/dL"),
        sex=sex,
        limit=CRCL_MIN,
    )
    out.cite(observation_evidence(weight.fact, value=weight.value, unit=ctx.m.analytes["body_weight"].unit))
    note_passed_over(out, weight_pick, "body_weight", "review" if status == "pass" else None)
    return status


def _in_formula_unit(ctx: Context, analyte: str, value: float) -> float:
    definition = ctx.m.analytes[analyte]
    unit = COCKCROFT_GAULT_UNITS[analyte]
    converted = convert_between(definition, value, definition.unit or "", unit)
    if converted is None:  # Trial.check_mappings refuses such mappings/ at start-up
        raise MappingError(f"{analyte} in {definition.unit} does not convert to {unit}")
    return converted


def _egfr_context(ctx: Context, out: Outcome) -> None:
    """An eGFR is not a creatinine clearance, but a coordinator wants to see it beside the gap."""
    egfr = pick(ctx, "egfr", ctx.m.windows.organ_function, read_exact(ctx, "egfr"))
    if egfr.chosen is not None:
        fact = egfr.chosen.fact
        out.say(None, "crcl.egfr_context", value=str(fact.quantity), date=str(fact.when))
        out.cite(observation_evidence(fact, value=egfr.chosen.value, unit=ctx.m.analytes["egfr"].unit))


def cockcroft_gault(age: int, weight_kg: float, creatinine_mg_dl: float, *, female: bool) -> float:
    """Creatinine clearance in mL/min (Cockcroft & Gault, Nephron 1976)."""
    clearance = (140 - age) * weight_kg / (72 * creatinine_mg_dl)
    return clearance * 0.85 if female else clearance
