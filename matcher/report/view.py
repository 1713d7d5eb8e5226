"""The report's content in one language: call list, near misses, per-patient detail, changes; from ReportData."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from matcher.codes.model import Code
from matcher.criteria.common import code_label
from matcher.explain import Lang, catalogue, render, render_need, text
from matcher.outcome import Finding, Need
from matcher.report.data import PatientEntry, Person, ReportData
from matcher.report.funnel import Funnel, funnel_of

#: criteria whose failing value can change by the next screening (a lab that may normalise, a score)
CHANGEABLE = frozenset(
    {"liver_function", "bilirubin", "renal_function", "disease_activity", "disease_duration", "refractory"}
)


@dataclass(frozen=True)
class Item:
    """One line of what is left to do for a patient."""

    criterion: str
    text: str
    kind: str  # unknown | chart | screening | fail
    codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CriterionRow:
    id: str
    label: str
    kind: str
    status: str
    status_label: str
    review: str | None
    reason: str
    evidence: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class PatientView:
    rank: int
    patient: str  # Patient/id
    anchor: str
    person: Person | None
    display_name: str
    age: int | None
    verdict: str
    verdict_label: str
    cohort: str | None
    cohort_label: str
    score: float
    fails: tuple[Item, ...]
    todo: tuple[Item, ...]  # unknowns and chart reviews: what stands between the patient and a call
    orders: tuple[Item, ...]  # tests and records to get, with their codes (once each)
    screening: tuple[Item, ...]
    criteria: tuple[CriterionRow, ...]

    @property
    def todo_line(self) -> str:
        return "; ".join(i.text for i in self.todo)


@dataclass(frozen=True)
class ChangeView:
    section: str
    title: str
    patient: str
    display_name: str
    before: str
    after: str
    moved: str
    detail: str


@dataclass(frozen=True)
class ReportView:
    lang: Lang
    data: ReportData
    calls: tuple[PatientView, ...]  # eligible, then possibly eligible by how little is left
    near_misses: tuple[PatientView, ...]
    ineligible: tuple[PatientView, ...]
    others: tuple[PatientEntry, ...]  # not evaluated this night: errors, gone, merged
    funnel: Funnel
    changes: tuple[ChangeView, ...]
    counts: dict[str, int]

    @property
    def patients(self) -> tuple[PatientView, ...]:
        return self.calls + self.near_misses + self.ineligible


def build(data: ReportData, lang: Lang = "en") -> ReportView:
    """Everything the page, the CSV and the PDF show, rendered in `lang` from the findings' message ids."""
    evaluated = [p for p in data.patients if p.state == "evaluated" and p.result]
    views = [_patient(p, lang, data) for p in evaluated]
    eligible = sorted((v for v in views if v.verdict == "eligible"), key=lambda v: -v.score)
    possible = sorted(
        (v for v in views if v.verdict == "possibly_eligible"), key=lambda v: (len(v.todo), -v.score, v.patient)
    )
    ineligible = [v for v in views if v.verdict == "ineligible"]
    near = sorted(
        (v for v in ineligible if len(v.fails) == 1), key=lambda v: (v.fails[0].criterion not in CHANGEABLE, -v.score)
    )
    rest = sorted((v for v in ineligible if len(v.fails) != 1), key=lambda v: -v.score)
    ranked = [*eligible, *possible, *near, *rest]
    ranked = [_with_rank(v, i) for i, v in enumerate(ranked, 1)]
    n_calls = len(eligible) + len(possible)
    counts = Counter(v.verdict for v in views)
    people = {v.patient: v for v in ranked}
    return ReportView(
        lang=lang,
        data=data,
        calls=tuple(ranked[:n_calls]),
        near_misses=tuple(ranked[n_calls : n_calls + len(near)]),
        ineligible=tuple(ranked[n_calls + len(near) :]),
        others=tuple(p for p in data.patients if p.state != "evaluated" or not p.result),
        funnel=funnel_of([p.result for p in evaluated if p.result], lang),
        changes=_changes(data, people, lang),
        counts={"screened": len(views), **{k: counts.get(k, 0) for k in VERDICTS}},
    )


VERDICTS = ("eligible", "possibly_eligible", "ineligible")


def _with_rank(view: PatientView, rank: int) -> PatientView:
    return PatientView(**{**view.__dict__, "rank": rank})


def _display_name(person: Person | None, patient: str) -> str:
    if person and person.name:
        return person.name
    return patient.removeprefix("Patient/")


def _finding(raw: dict[str, Any]) -> Finding:
    return Finding(raw["message"], raw.get("params") or {}, raw.get("status"), raw.get("review"))


def _need_text(raw: dict[str, Any], lang: Lang) -> str:
    """A worklist entry in `lang` when it carries its message id, else as it was written."""
    if raw.get("message"):
        return render_need(Need(raw["message"], raw.get("params") or {}), lang)
    return str(raw.get("need", ""))


def _codes(raw: dict[str, Any]) -> tuple[str, ...]:
    """'LOINC 2106-3': each code of a worklist entry as the worklist names it."""
    return tuple(code_label(Code(c["system"], c["code"])) for c in raw.get("codes", []))


def _patient(entry: PatientEntry, lang: Lang, data: ReportData) -> PatientView:
    result = entry.result or {}
    criteria = result.get("criteria", [])
    rows: list[CriterionRow] = []
    fails: list[Item] = []
    charts: list[Item] = []
    screening: list[Item] = []
    for c in criteria:
        findings = [_finding(f) for f in c.get("findings", [])]
        texts = [render(f, lang) for f in findings]
        order = sorted(range(len(findings)), key=lambda i: _SEVERITY[findings[i].status])
        reason = text("list.separator", lang).join(texts[i] for i in order) or c.get("reason", "")
        status = c["status"]
        rows.append(
            CriterionRow(
                id=c["id"],
                label=text(f"criterion.{c['id']}", lang),
                kind=c["kind"],
                status=status,
                status_label=text(f"status.{status}", lang),
                review=c.get("review"),
                reason=reason,
                evidence=tuple(c.get("evidence", [])),
            )
        )
        if status == "fail":
            fails.append(Item(c["id"], reason, "fail"))
        elif status == "review":
            kind = c.get("review", "chart")
            said = [texts[i] for i, f in enumerate(findings) if f.status == "review"] or [reason]
            item = Item(c["id"], text("list.separator", lang).join(said), kind)
            (screening if kind == "screening" else charts).append(item)
    unknowns: list[Item] = []
    orders: dict[str, Item] = {}
    for raw in result.get("missing", []):
        if raw.get("review") == "chart" and raw.get("message") == "need.chart":
            continue  # the chart item itself is listed from the criterion's findings
        need = Item(raw["criterion"], _need_text(raw, lang), "unknown", _codes(raw))
        unknowns.append(need)
        orders.setdefault(need.text, need)
    unknown_ids = {c["id"] for c in criteria if c["status"] == "unknown"}
    todo = [i for i in unknowns if i.criterion in unknown_ids]
    seen: set[str] = set()
    todo = [i for i in todo if not (i.text in seen or seen.add(i.text))]  # type: ignore[func-returns-value]
    person = entry.person
    cohort = result.get("cohort")
    return PatientView(
        rank=0,
        patient=result["patient"],
        anchor="p-" + result["patient"].removeprefix("Patient/"),
        person=person,
        display_name=_display_name(person, result["patient"]),
        age=person.age_on(data.run.as_of) if person else None,
        verdict=result["verdict"],
        verdict_label=text(f"verdict.{result['verdict']}", lang),
        cohort=cohort,
        cohort_label=text(f"ui.cohort.{cohort}", lang) if cohort else text("ui.no_cohort", lang),
        score=float(result.get("score", 0.0)),
        fails=tuple(fails),
        todo=(*charts, *todo),
        orders=tuple(i for i in orders.values() if i.codes),
        screening=tuple(screening),
        criteria=tuple(rows),
    )


_SEVERITY = {"fail": 0, "unknown": 1, "review": 2, "pass": 3, None: 4}


def _changes(data: ReportData, people: dict[str, PatientView], lang: Lang) -> tuple[ChangeView, ...]:
    if not data.changes:
        return ()
    out: list[ChangeView] = []
    for section in ("new_candidates", "verdict_changed", "dropped_out", "deleted_or_merged", "not_evaluated"):
        for change in data.changes.get(section, []):
            patient = change["patient"]
            known = people.get(patient)
            moved = text("list.comma", lang).join(
                f"{text(f'criterion.{cid}', lang)}: {_state(b, lang)} → {_state(a, lang)}"
                for cid, (b, a) in change.get("moved", {}).items()
            )
            out.append(
                ChangeView(
                    section=section,
                    title=text(f"ui.changes.{section}", lang),
                    patient=patient,
                    display_name=known.display_name if known else patient.removeprefix("Patient/"),
                    before=_state(change.get("before"), lang),
                    after=_state(change.get("after"), lang),
                    moved=moved,
                    detail=change.get("detail") or "",
                )
            )
    return tuple(out)


def _state(value: str | None, lang: Lang) -> str:
    """A verdict, a status or how a patient left, in words; '-' for nothing."""
    if not value:
        return "-"
    for prefix in ("verdict", "status", "state"):
        key = f"{prefix}.{value}"
        if key in catalogue(lang):
            return text(key, lang)
    return value
