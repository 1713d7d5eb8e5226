"""MatchResult and ranked lists as the JSON of CONTRACT.md (plus structured findings, needs and provenance)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from matcher.explain import reason, render, render_need, text
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


def chart_check(c: CriterionResult) -> Need:
    """The worklist entry of a chart review that names nothing more specific to order or record: what to read
    (its text is the review findings', so other languages render it from the findings themselves)."""
    what = text("list.separator").join(render(f) for f in c.findings if f.status == "review")
    return Need("need.chart", {"what": what})


def need_json(criterion: str, need: Need) -> dict[str, Any]:
    """A worklist entry: its text, the codes to order or record, and its message id and parameters (so that a
    report renders it in another language)."""
    return {
        "criterion": criterion,
        "need": render_need(need),
        "codes": [{"system": code.system, "code": code.code} for code in need.codes],
        "message": need.message,
        "params": dict(need.params),
    }


def missing_json(criteria: Iterable[CriterionResult]) -> list[dict[str, Any]]:
    """The worklist: what would resolve each unknown, and each chart to read before the patient is called in
    (those entries carry `"review": "chart"`)."""
    out: list[dict[str, Any]] = []
    for c in criteria:
        chart = {"review": "chart"} if c.chart_review else {}
        needs = list(c.needs)
        if c.status == "unknown" and not needs:  # a criterion that forgot its worklist entry
            needs.append(Need("need.data", {"criterion": c.id}))
        if c.chart_review and not needs:
            needs.append(chart_check(c))
        out.extend(need_json(c.id, need) | chart for need in needs)
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
