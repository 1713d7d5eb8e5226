"""MatchResult and ranked lists as the JSON of CONTRACT.md (plus structured findings, needs and provenance)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from matcher.explain import reason, render, render_need
from matcher.outcome import CriterionResult, Evidence, MatchResult


def criterion_json(c: CriterionResult) -> dict[str, Any]:
    texts = [render(f) for f in c.findings]
    return {
        "id": c.id,
        "kind": c.kind,
        "status": c.status,
        "reason": reason(c, texts),
        "evidence": [evidence_json(e) for e in c.evidence],
        "findings": [
            {"message": f.message, "status": f.status, "params": dict(f.params), "text": text}
            for f, text in zip(c.findings, texts, strict=True)
        ],
    }


def evidence_json(e: Evidence) -> dict[str, Any]:
    return {k: v for k, v in asdict(e).items() if v is not None}


def missing_json(criteria: Iterable[CriterionResult]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for c in criteria:
        for need in c.needs:
            out.append(
                {
                    "criterion": c.id,
                    "need": render_need(need),
                    "codes": [{"system": code.system, "code": code.code} for code in need.codes],
                }
            )
        if c.status == "unknown" and not c.needs:  # a criterion that forgot its worklist entry
            out.append({"criterion": c.id, "need": f"the data to decide {c.id}", "codes": []})
    return out


def result_json(result: MatchResult) -> dict[str, Any]:
    return {
        "trial": result.trial,
        "patient": result.patient,
        "as_of": result.as_of.isoformat(),
        "verdict": result.verdict,
        "cohort": result.cohort,
        "score": result.score,
        "criteria": [criterion_json(c) for c in result.criteria],
        "missing": missing_json(result.criteria),
        "cohorts": [{"cohort": s.cohort, "statuses": dict(s.statuses)} for s in result.cohorts],
        "notes": list(result.notes),
        "versions": dict(result.versions),
    }
