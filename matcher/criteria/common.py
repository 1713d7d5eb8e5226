"""Findings shared by the criteria that read results: nothing usable, stale, passed over, and the worklist."""

from __future__ import annotations

from typing import Any

from matcher.codes.model import Code
from matcher.criteria.measure import Pick, observation_evidence, shown
from matcher.outcome import CriterionResult, Outcome, Status

SYSTEM_NAMES = {
    "http://loinc.org": "LOINC",
    "http://snomed.info/sct": "SNOMED CT",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "urn:trialmatch:disease-activity": "urn:trialmatch:disease-activity",
}


def without_cohort(cid: str) -> CriterionResult:
    """A cohort-specific inclusion for a patient with none of the seven diseases: nothing to judge it by."""
    out = Outcome(cid, "inclusion").say("unknown", "cohort.none").need("need.diagnosis")
    return out.result(cohort_specific=True)


def code_label(code: Code) -> str:
    """'LOINC 5196-1': how a worklist names the code to order or record."""
    return f"{SYSTEM_NAMES.get(code.system, code.system)} {code.code}"


def explain_nothing_usable(
    out: Outcome, p: Pick[Any], item: str, code: Code, need_item: str | None = None, *, need: bool = True
) -> None:
    """Nothing inside the window decides: say why, as `unknown`, and put the test on the worklist."""
    if p.passed_over:
        for fact, why in p.passed_over[:3]:
            out.say("unknown", "result.unusable", item=item, date=str(fact.when or "undated"), **why.as_params())
            out.cite(observation_evidence(fact))
    elif p.stale is not None:
        fact = p.stale
        out.say("unknown", "result.stale", item=item, value=shown(fact), date=str(fact.when), window=p.window)
        out.cite(observation_evidence(fact))
    else:
        out.say("unknown", "result.none", item=item)
    if need:
        out.need("need.result", code, item=need_item or item, code=code_label(code), window=p.window)


def note_passed_over(out: Outcome, p: Pick[Any], item: str, status: Status | None) -> None:
    """Newer results that could not be used: a person should look before a pass stands on an older one."""
    for fact, why in p.passed_over[:3]:
        out.say(status, "result.newer_unusable", item=item, date=str(fact.when or "undated"), **why.as_params())
        out.cite(observation_evidence(fact))
