"""Inclusion on organ involvement: SSc needs lung involvement; AAV renal involvement, or MPO/PR3-ANCA positivity."""

from __future__ import annotations

from matcher.criteria.cohort import Cohort
from matcher.criteria.common import code_label, without_cohort
from matcher.criteria.context import UNCONFIRMED, Context, activity_on, condition_evidence, procedure_evidence
from matcher.criteria.criterion import reads_per_cohort
from matcher.criteria.measure import observation_evidence, pick, read_polarity
from matcher.criteria.reads import NOTHING, Reads, Window
from matcher.outcome import CriterionResult, Outcome, Status


def _reads(cohort: Cohort) -> Reads:
    """The cohort's organ rule: conditions and procedures that show the involvement, and its antibodies."""
    rule = cohort.organ
    if rule is None:
        return NOTHING
    return Reads(
        valuesets=(*rule.valuesets, *rule.procedures),
        analytes=dict.fromkeys(rule.antibodies, Window.autoantibodies),
    )


@reads_per_cohort(_reads)
def organ_involvement(ctx: Context, cohort: Cohort | None) -> CriterionResult:
    """Inclusions 3.7 (SSc: pulmonary involvement) and 7.8 (AAV: renal involvement, or MPO/PR3 antibodies)."""
    if cohort is None:
        return without_cohort("organ_involvement")
    out = Outcome("organ_involvement", "inclusion")
    rule = cohort.organ
    if rule is None:
        return out.say("pass", "organ.not_required", cohort=cohort.id).result(cohort_specific=True)
    for valueset in rule.valuesets:
        for cond in ctx.recorded(valueset):
            tier, code = cond.matches[valueset]
            params = {"item": valueset, "label": cond.label, "date": str(cond.first_known or "undated")}
            if cond.verification_status in UNCONFIRMED:
                out.say("review", "organ.unconfirmed", verification=cond.verification_status, **params)
            elif activity_on(cond, ctx.as_of) != "active":
                out.say("review", "organ.not_current", clinical=cond.clinical_status or "abated", **params)
            else:
                out.say("pass" if tier == "match" else "review", "organ.condition", **params)
            out.cite(condition_evidence(cond, code=str(code), item=valueset))
    for analyte in rule.antibodies:
        p = pick(ctx, analyte, ctx.m.windows.autoantibodies, read_polarity(ctx, analyte))
        if p.chosen is None:
            continue
        fact, polarity = p.chosen.fact, p.chosen.value
        shown: dict[str, Status | None] = {"positive": "pass", "indeterminate": "review", "negative": None}
        out.say(
            shown[polarity], "organ.antibody", item=analyte, polarity=polarity, date=str(fact.when), cohort=cohort.id
        )
        out.cite(observation_evidence(fact))
    for valueset in rule.procedures:
        for proc in ctx.procedures(valueset):
            out.say("review", "organ.procedure", item=valueset, label=proc.label, date=str(proc.start or "undated"))
            out.cite(procedure_evidence(proc, item=valueset))
    settled = out.first_of("pass", "review", default="unknown")
    if settled != "unknown":
        return out.result(settled, cohort_specific=True)
    out.say("unknown", "organ.not_documented", cohort=cohort.id)
    for valueset in rule.valuesets:
        out.need("need.condition", item=valueset)
    for analyte in rule.antibodies:
        code = ctx.m.analytes[analyte].primary_code
        out.need("need.result", code, item=analyte, code=code_label(code), window=ctx.m.windows.autoantibodies)
    return out.result("unknown", cohort_specific=True)
