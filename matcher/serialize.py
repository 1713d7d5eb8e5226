"""MatchResult and ranked lists as the JSON of CONTRACT.md (plus structured findings, needs and provenance)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from matcher.explain import reason, render, render_need
from matcher.outcome import CriterionResult, Evidence, MatchResult, Need


def criterion_json(c: CriterionResult) -> dict[str, Any]:
    texts = [render(f) for f in c.findings]
    out: dict[str, Any] = {"id": c.id, "kind": c.kind, "status": c.status}
    if c.review is not None:
        out["review"] = c.review
    out["reason"] = reason(c, texts)
    out["evidence"] = [evidence_json(e) for e in c.evidence]
    out["findings"] = [
        {"message": f.message, "status": f.status, "params": dict(f.params), "text": text}
        | ({"review": f.review} if f.review else {})
        for f, text in zip(c.findings, texts, strict=True)
    ]
    return out


def evidence_json(e: Evidence) -> dict[str, Any]:
    return {k: v for k, v in asdict(e).items() if v is not None}


def chart_check(c: CriterionResult) -> str:
    """The worklist entry of a chart review that names nothing more specific to order or record: what to read."""
    what = "; ".join(render(f) for f in c.findings if f.status == "review")
    return render_need(Need("need.chart", {"what": what}))


def missing_json(criteria: Iterable[CriterionResult]) -> list[dict[str, Any]]:
    """The worklist: what would resolve each unknown, and each chart to read before the patient is called in
    (those entries carry `"review": "chart"`)."""
    out: list[dict[str, Any]] = []
    for c in criteria:
        chart = {"review": "chart"} if c.chart_review else {}
        for need in c.needs:
            codes = [{"system": code.system, "code": code.code} for code in need.codes]
            out.append({"criterion": c.id, "need": render_need(need), "codes": codes} | chart)
        if c.status == "unknown" and not c.needs:  # a criterion that forgot its worklist entry
            out.append({"criterion": c.id, "need": f"the data to decide {c.id}", "codes": []})
        if c.chart_review and not c.needs:
            out.append({"criterion": c.id, "need": chart_check(c), "codes": []} | chart)
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
