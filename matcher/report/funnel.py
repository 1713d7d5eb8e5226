"""The screening funnel: how many patients remain after each group of criteria, drawn server-side as SVG."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from matcher.explain import Lang, text

#: criterion groups in the protocol's reading order; a patient leaves the funnel at the first group it fails
GROUPS: tuple[tuple[str, frozenset[str]], ...] = (
    ("person", frozenset({"age", "alive"})),
    ("disease", frozenset({"diagnosis", "disease_duration"})),
    ("activity", frozenset({"disease_activity", "organ_involvement"})),
    ("therapy", frozenset({"refractory"})),
    ("prior", frozenset({"prior_cd19_therapy", "gene_therapy"})),
    ("safety", frozenset({"pregnancy", "tuberculosis", "neurologic", "cardiac", "active_infection",
                          "immunodeficiency"})),
    ("serology", frozenset({"hepatitis_b", "hepatitis_c", "hiv", "syphilis"})),
    ("organ_function", frozenset({"liver_function", "bilirubin", "renal_function"})),
)  # fmt: skip
VERDICTS = ("eligible", "possibly_eligible", "ineligible")
COLOURS = {"eligible": "#1a7f37", "possibly_eligible": "#bf8700", "ineligible": "#a0a0a0"}


@dataclass(frozen=True)
class Stage:
    key: str
    label: str
    remaining: int
    removed: int


@dataclass(frozen=True)
class Funnel:
    screened: int
    stages: tuple[Stage, ...]
    #: (criterion id, label, patients it rules out), most first
    reasons: tuple[tuple[str, str, int], ...]
    #: cohort id -> label and counts per verdict
    cohorts: tuple[tuple[str, str, dict[str, int]], ...]
    svg: str
    cohort_svg: str


def _failed(result: dict[str, Any]) -> set[str]:
    return {c["id"] for c in result.get("criteria", []) if c.get("status") == "fail"}


def funnel_of(results: Sequence[dict[str, Any]], lang: Lang) -> Funnel:
    """Attrition by criterion group, as CONSORT and ATLAS draw it; the counts are those of the stored results."""
    failed = [_failed(r) for r in results]
    stages: list[Stage] = []
    remaining = list(range(len(results)))
    for key, ids in GROUPS:
        kept = [i for i in remaining if not (failed[i] & ids)]
        stages.append(Stage(key, text(f"ui.funnel.{key}", lang), len(kept), len(remaining) - len(kept)))
        remaining = kept
    reasons = Counter(cid for fails in failed for cid in fails)
    cohorts: dict[str, Counter[str]] = {}
    for r in results:
        cohorts.setdefault(r.get("cohort") or "none", Counter())[r["verdict"]] += 1
    cohort_rows = tuple(
        (cid, text(f"ui.cohort.{cid}", lang) if cid != "none" else text("ui.no_cohort", lang), dict(counts))
        for cid, counts in sorted(cohorts.items(), key=lambda kv: (kv[0] == "none", -sum(kv[1].values()), kv[0]))
    )
    top = tuple((cid, text(f"criterion.{cid}", lang), n) for cid, n in reasons.most_common(8))
    stage_tuple = tuple(stages)
    return Funnel(
        screened=len(results),
        stages=stage_tuple,
        reasons=top,
        cohorts=cohort_rows,
        svg=_attrition_svg(len(results), stage_tuple, lang),
        cohort_svg=_cohort_svg(cohort_rows, lang),
    )


WIDTH, LABEL_W, BAR_H, GAP = 780, 330, 22, 8


def _attrition_svg(screened: int, stages: tuple[Stage, ...], lang: Lang) -> str:
    """One bar per stage, as wide as the patients who remain; the patients a stage removed are said beside it."""
    rows = [(text("ui.funnel.screened", lang), screened, 0), *((s.label, s.remaining, s.removed) for s in stages)]
    height = len(rows) * (BAR_H + GAP) + GAP
    scale = (WIDTH - LABEL_W - 140) / max(screened, 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" aria-label="{escape(text("ui.funnel.title", lang))}">'
    ]
    for i, (label, count, removed) in enumerate(rows):
        y = GAP + i * (BAR_H + GAP)
        width = max(count * scale, 1.5)
        parts.append(f'<text x="{LABEL_W - 8}" y="{y + 16}" text-anchor="end" class="lbl">{escape(label)}</text>')
        parts.append(f'<rect x="{LABEL_W}" y="{y}" width="{width:.1f}" height="{BAR_H}" rx="3" class="bar"/>')
        note = str(count) + (f"  (-{removed})" if removed else "")
        parts.append(f'<text x="{LABEL_W + width + 6:.1f}" y="{y + 16}" class="num">{escape(note)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _cohort_svg(rows: tuple[tuple[str, str, dict[str, int]], ...], lang: Lang) -> str:
    """Per cohort, one bar split into eligible, possibly eligible and ineligible (shares of the cohort), with the
    counts beside it, so that a small cohort reads as well as a large one."""
    legend_h = 26
    height = legend_h + len(rows) * (BAR_H + GAP) + GAP
    bar_w = WIDTH - LABEL_W - 150
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" aria-label="{escape(text("ui.cohorts.title", lang))}">'
    ]
    x = LABEL_W
    for verdict in VERDICTS:
        label = text(f"verdict.{verdict}", lang)
        parts.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{COLOURS[verdict]}"/>')
        parts.append(f'<text x="{x + 16}" y="15" class="num">{escape(label)}</text>')
        x += 150
    for i, (_, label, counts) in enumerate(rows):
        y = legend_h + GAP + i * (BAR_H + GAP)
        total = sum(counts.values()) or 1
        parts.append(f'<text x="{LABEL_W - 8}" y="{y + 16}" text-anchor="end" class="lbl">{escape(label)}</text>')
        x0 = float(LABEL_W)
        for verdict in VERDICTS:
            n = counts.get(verdict, 0)
            if not n:
                continue
            w = n / total * bar_w
            parts.append(f'<rect x="{x0:.1f}" y="{y}" width="{w:.1f}" height="{BAR_H}" fill="{COLOURS[verdict]}">')
            parts.append(f"<title>{escape(text(f'verdict.{verdict}', lang))}: {n}</title></rect>")
            if w > 18:
                parts.append(f'<text x="{x0 + w / 2:.1f}" y="{y + 16}" text-anchor="middle" class="in">{n}</text>')
            x0 += w
        shown = " / ".join(str(counts.get(v, 0)) for v in VERDICTS)
        parts.append(f'<text x="{LABEL_W + bar_w + 8}" y="{y + 16}" class="num">{shown}</text>')
    parts.append("</svg>")
    return "".join(parts)
