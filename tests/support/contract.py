"""The outward contract (docs/CONTRACT.md) as assertions, kept here so the tests need nothing outside the repo."""

from __future__ import annotations

from typing import Any

VERDICTS = ("eligible", "possibly_eligible", "ineligible")
COHORTS = {"sle", "iim", "ssc", "pemphigus", "psoriasis", "ra", "aav", None}
STATUSES = {"pass", "fail", "unknown", "review"}
INCLUSIONS = {
    "age",
    "diagnosis",
    "disease_duration",
    "disease_activity",
    "organ_involvement",
    "refractory",
    "consent",
    "life_expectancy",
    "contraception",
}
EXCLUSIONS = {
    "pregnancy",
    "tuberculosis",
    "neurologic",
    "cardiac",
    "active_infection",
    "hepatitis_b",
    "hepatitis_c",
    "hiv",
    "syphilis",
    "immunodeficiency",
    "prior_cd19_therapy",
    "gene_therapy",
    "liver_function",
    "bilirubin",
    "renal_function",
}
ALWAYS_REVIEW = {"consent", "life_expectancy", "contraception"}


def contract_problems(result: Any) -> list[str]:
    """Everything in one MatchResult JSON that breaks the contract (an empty list when it keeps to it)."""
    out: list[str] = []
    for key in ("trial", "patient", "as_of", "verdict", "cohort", "score", "criteria", "missing"):
        if key not in result:
            return [f"missing key {key}"]
    if result["trial"] != "NCT07161193":
        out.append("trial")
    if not result["patient"].startswith("Patient/"):
        out.append("patient reference")
    if result["verdict"] not in VERDICTS:
        out.append("verdict value")
    if result["cohort"] not in COHORTS:
        out.append("cohort value")
    if not (isinstance(result["score"], int | float) and 0 <= result["score"] <= 1):
        out.append("score")
    seen: dict[str, dict[str, Any]] = {}
    for c in result["criteria"]:
        if c["id"] in seen:
            out.append(f"{c['id']} twice")
        seen[c["id"]] = c
        if c["status"] not in STATUSES:
            out.append(f"{c['id']} status")
        if not c.get("reason", "").strip():
            out.append(f"{c['id']} has no reason")
        for e in c["evidence"]:
            if "/" not in e.get("reference", ""):
                out.append(f"{c['id']} evidence reference")
    for cid in INCLUSIONS:
        if seen.get(cid, {}).get("kind") != "inclusion":
            out.append(f"{cid} missing or not an inclusion")
    for cid in EXCLUSIONS:
        if seen.get(cid, {}).get("kind") != "exclusion":
            out.append(f"{cid} missing or not an exclusion")
    for cid in ALWAYS_REVIEW:
        if seen.get(cid, {}).get("status") != "review" or seen[cid].get("review") != "screening":
            out.append(f"{cid} is not a screening review")
    for cid, c in seen.items():
        if c["status"] == "review" and c.get("review") not in ("screening", "chart"):
            out.append(f"{cid} is a review without its kind (screening or chart)")
        if c["status"] != "review" and "review" in c:
            out.append(f"{cid} has a review kind but is {c['status']}")
    statuses = {c["status"] for c in seen.values()}
    chart = any(c["status"] == "review" and c.get("review", "chart") == "chart" for c in seen.values())
    verdict = (
        "ineligible" if "fail" in statuses else "possibly_eligible" if "unknown" in statuses or chart else "eligible"
    )
    if result["verdict"] != verdict:
        out.append(f"verdict {result['verdict']} but statuses say {verdict}")
    covered = {m["criterion"] for m in result["missing"]}
    for cid, c in seen.items():
        if c["status"] == "unknown" and cid not in covered:
            out.append(f"{cid} is unknown without a worklist entry")
        if c["status"] == "review" and c.get("review") == "chart" and cid not in covered:
            out.append(f"{cid} is a chart review without an item to check")
    return out


def ranked_problems(candidates: list[dict[str, Any]]) -> list[str]:
    keys = [(VERDICTS.index(c["verdict"]), -c["score"]) for c in candidates]
    return [] if keys == sorted(keys) else ["candidates are not in verdict, then score, order"]
