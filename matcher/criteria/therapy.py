"""Treatment history: 12 weeks of standard therapy (refractory), prior CD19-directed therapy, prior gene therapy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from matcher.codes.model import Code
from matcher.criteria.cohort import Cohort
from matcher.criteria.common import without_cohort
from matcher.criteria.context import PLANNED_PROCEDURE, Context, condition_evidence, procedure_evidence
from matcher.outcome import CriterionResult, Evidence, Outcome, Param, Status
from matcher.record import MedicationFact, ProcedureFact

MIN_THERAPY_DAYS = 84  # protocol: at least 12 weeks of standardized therapy before screening

#: statuses under which a medication was (or is being) taken
_TAKEN = {
    "MedicationStatement": frozenset({"active", "completed", "stopped", "on-hold", "unknown"}),
    "MedicationRequest": frozenset({"active", "completed", "stopped", "on-hold", "unknown"}),
    "MedicationAdministration": frozenset({"completed", "in-progress", "on-hold", "stopped", "unknown"}),
}
_PLANNED_STATUSES = frozenset({"intended", "draft"})
#: statuses that say, beyond doubt, that a medication was given or is being taken: a drug recognised by
#: name only counts as given under one of these; under "unknown" (or none) a person reads the chart
_SURELY_TAKEN = frozenset({"active", "completed", "stopped", "on-hold", "in-progress"})
_PLANNED_INTENTS = frozenset({"proposal", "plan", "option"})
_ONGOING = frozenset({"active", "in-progress", "on-hold"})
#: days between records of one drug that still make one course (refills); drugs given at longer
#: intervals (rituximab every six months) say so in mappings/drugs.toml (course_gap_days)
DEFAULT_GAP_DAYS = 30


def taken(fact: MedicationFact) -> bool:
    if fact.intent in _PLANNED_INTENTS:
        return False
    return fact.status is None or fact.status in _TAKEN.get(fact.resource_type, frozenset())


def planned(fact: MedicationFact) -> bool:
    return fact.status in _PLANNED_STATUSES or fact.intent in _PLANNED_INTENTS


def medication_evidence(fact: MedicationFact, drug: str | None = None) -> Evidence:
    return Evidence(
        reference=fact.ref,
        value=fact.label,
        date=str(fact.start) if fact.start else None,
        item=drug,
        code=str(fact.codes[0]) if fact.codes and not fact.named else None,  # a name, not a code, matched
        display=fact.label,
        status=fact.status,
    )


@dataclass(frozen=True)
class Exposure:
    """One record of a standard therapy as a stretch of days: its widest and its surest reading.

    A partial date ('2026-04') gives a start between the 1st and the 30th: the widest reading starts on
    the 1st and ends on the last possible day; the surest starts on the 30th and ends on the first.
    """

    source: MedicationFact | ProcedureFact
    therapy: str
    start: date
    end: date | None  # None: the record does not say
    ongoing: bool
    gap: int
    sure_start: date
    sure_end: date | None


@dataclass(frozen=True)
class Course:
    """Records of one therapy joined where they touch or nearly touch."""

    therapy: str
    exposures: tuple[Exposure, ...]
    start: date
    end: date | None  # the latest known end; None when no record of the course says when it ended
    ongoing: bool

    @property
    def open_ended(self) -> bool:
        """Some record of the course does not say when it ended: it may have gone on longer."""
        return any(e.end is None for e in self.exposures)

    @property
    def days(self) -> int | None:
        """The longest the records allow; None when that cannot be known."""
        return None if self.end is None or self.open_ended else (self.end - self.start).days

    @property
    def sure_days(self) -> int | None:
        """The shortest the records allow, from the records that say when they ended."""
        ends = [e.sure_end for e in self.exposures if e.sure_end is not None]
        if not ends:
            return None
        return max(0, (max(ends) - min(e.sure_start for e in self.exposures)).days)


def _exposures(ctx: Context, cohort: Cohort) -> list[Exposure]:
    wanted = ctx.m.drugs_in(cohort.drugset)
    out: list[Exposure] = []
    for fact in ctx.record.medications:
        drugs = sorted(fact.drugs & wanted)
        if not drugs or not taken(fact) or fact.start is None or fact.start.lo > ctx.as_of:
            continue
        start, sure_start = fact.start.lo, min(fact.start.hi, ctx.as_of)
        ongoing = fact.status in _ONGOING
        end: date | None
        sure_end: date | None
        if fact.end is not None:
            end, sure_end = min(fact.end.hi, ctx.as_of), min(fact.end.lo, ctx.as_of)
            ongoing = ongoing and fact.end.hi >= ctx.as_of
        elif fact.supply_days is not None:
            supplied_until = start + timedelta(days=fact.supply_days)
            end = min(supplied_until, ctx.as_of)
            sure_end = min(sure_start + timedelta(days=fact.supply_days), ctx.as_of)
            ongoing = ongoing and supplied_until >= ctx.as_of  # an 'active' order whose supply ran out
        else:
            end = sure_end = ctx.as_of if ongoing else None
        for drug in drugs:
            gap = ctx.m.drugs[drug].course_gap_days or DEFAULT_GAP_DAYS
            out.append(Exposure(fact, drug, start, end, ongoing, gap, sure_start, sure_end))
    for valueset in cohort.therapy_procedures:
        for proc in ctx.procedures(valueset):
            if proc.start is None:
                continue
            last = proc.end or proc.start
            out.append(
                Exposure(
                    proc,
                    valueset,
                    proc.start.lo,
                    min(last.hi, ctx.as_of),
                    False,
                    DEFAULT_GAP_DAYS,
                    min(proc.start.hi, ctx.as_of),
                    min(last.lo, ctx.as_of),
                )
            )
    return out


def courses(exposures: list[Exposure]) -> list[Course]:
    """Join each therapy's records into courses: overlapping or separated by less than the allowed gap."""
    by_therapy: dict[str, list[Exposure]] = {}
    for exp in exposures:
        by_therapy.setdefault(exp.therapy, []).append(exp)
    out: list[Course] = []
    for therapy, items in by_therapy.items():
        items.sort(key=lambda e: e.start)
        current: list[Exposure] = []
        reach = date.min  # the last day the course is known to have reached: a record's end, else its start
        for exp in items:
            if current and exp.start <= reach + timedelta(days=exp.gap):
                current.append(exp)
                reach = max(reach, exp.end or exp.start)
                continue
            if current:
                out.append(_course(therapy, current))
            current, reach = [exp], exp.end or exp.start
        if current:
            out.append(_course(therapy, current))
    return out


def _course(therapy: str, exposures: list[Exposure]) -> Course:
    ends = [e.end for e in exposures if e.end is not None]
    return Course(
        therapy, tuple(exposures), exposures[0].start, max(ends) if ends else None, any(e.ongoing for e in exposures)
    )


def refractory(ctx: Context, cohort: Cohort | None) -> CriterionResult:
    if cohort is None:
        return without_cohort("refractory")
    out = Outcome("refractory", "inclusion")
    found = courses(_exposures(ctx, cohort))
    if not found:
        out.say("unknown", "therapy.none", cohort=cohort.id)
        # the codes a record of the cohort's standard therapies would carry: each drug's first (ingredient) code
        codes = [d.codes[0] for d in (ctx.m.drugs[i] for i in ctx.m.drugsets[cohort.drugset].drugs) if d.codes]
        out.need("need.therapy", *codes, cohort=cohort.id, weeks=MIN_THERAPY_DAYS // 7)
        return out.result(cohort_specific=True)
    said: set[tuple[str, str, tuple[str, ...]]] = set()
    for course in sorted(found, key=lambda c: -(c.days or 0)):
        _judge(out, course)
        for exp in course.exposures:
            out.cite(_evidence(exp))
            source = exp.source
            if not isinstance(source, MedicationFact) or not source.named:
                continue
            if (exp.therapy, source.label, source.words) not in said:  # counted like a coded record, and said so
                said.add((exp.therapy, source.label, source.words))
                out.say(None, "therapy.named", therapy=exp.therapy, label=source.label, words=_words(source.words))
    # one course long enough settles it; an undated or stopped-early course needs a person; a short
    # ongoing course fails for now (the reason says when it will reach 12 weeks)
    status = out.first_of("pass", "review", default="fail")
    if status == "pass":  # the record shows the course; the protocol's "inadequate response" is asked in person
        out.say(None, "therapy.response_at_screening")
    return out.result(status, cohort_specific=True)


def _judge(out: Outcome, course: Course) -> None:
    weeks_needed = MIN_THERAPY_DAYS // 7
    days, sure = course.days, course.sure_days
    params: dict[str, Param] = {
        "therapy": course.therapy,
        "start": course.start.isoformat(),
        "weeks_needed": weeks_needed,
    }
    if sure is not None and sure >= MIN_THERAPY_DAYS:  # what the records surely show is enough
        weeks = round(sure / 7, 1)
        out.say("pass", "therapy.long_enough", weeks=weeks, ongoing=course.ongoing, end=_iso(course.end), **params)
        return
    if days is None or sure is None:
        out.say("review", "therapy.end_unknown", **params)
        return
    weeks = round(sure / 7, 1)
    if days >= MIN_THERAPY_DAYS:
        out.say("review", "therapy.imprecise", weeks=weeks, most=round(days / 7, 1), end=_iso(course.end), **params)
        return
    if course.ongoing:
        reaches = course.start + timedelta(days=MIN_THERAPY_DAYS)
        out.say("fail", "therapy.too_short_ongoing", weeks=weeks, reaches=reaches.isoformat(), **params)
        return
    reasons = [e.source.status_reason for e in course.exposures if isinstance(e.source, MedicationFact)]
    stated = next((r for r in reasons if r), None)
    out.say("review", "therapy.stopped_early", weeks=weeks, end=_iso(course.end), why=stated, **params)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _evidence(exp: Exposure) -> Evidence:
    if isinstance(exp.source, ProcedureFact):
        return procedure_evidence(exp.source, item=exp.therapy)
    return medication_evidence(exp.source, exp.therapy)


def _words(words: tuple[str, ...]) -> str:
    return "; ".join(words)


def _given(ctx: Context, out: Outcome, drugset: str, status: Status) -> None:
    """Any record of a drug in `drugset` ever given (planned ones need a person's look)."""
    wanted = ctx.m.drugs_in(drugset)
    for fact in ctx.record.medications:
        drugs = sorted(fact.drugs & wanted)
        if not drugs or (fact.start is not None and fact.start.lo > ctx.as_of):
            continue
        when = str(fact.start or "undated")
        if fact.named:
            _named(out, fact, drugs[0], when, status)
        elif taken(fact):
            out.say(status, "exposure.given", item=drugs[0], label=fact.label, date=when, kind=fact.resource_type)
        elif planned(fact):
            out.say("review", "exposure.planned", item=drugs[0], label=fact.label, date=when)
        else:
            out.say(None, "exposure.not_given", item=drugs[0], label=fact.label, date=when, state=fact.status)
        out.cite(medication_evidence(fact, drugs[0]))


def _named(out: Outcome, fact: MedicationFact, item: str, when: str, status: Status) -> None:
    """A drug recognised by name only: given beyond doubt counts like a code; planned or unclear, a person reads
    the chart; not taken, refused or cancelled never counts (entered-in-error was dropped while reading)."""
    params: dict[str, Param] = {"item": item, "label": fact.label, "words": _words(fact.words), "date": when}
    if taken(fact) and fact.status in _SURELY_TAKEN:
        out.say(status, "exposure.named", kind=fact.resource_type, **params)
    elif taken(fact) or planned(fact):
        state = f"intent {fact.intent}" if fact.intent in _PLANNED_INTENTS else fact.status or "no status"
        out.say("review", "exposure.named_unsure", kind=fact.resource_type, state=state, **params)
    else:
        out.say(None, "exposure.not_given", item=item, label=fact.label, date=when, state=fact.status)


def _product_code(ctx: Context, proc: ProcedureFact) -> Code | None:
    """The procedure's code that names its product (mappings/drugs.toml lists it among the drug's codes)."""
    return next((c for c in proc.codes if c in ctx.m.drug_codes), None)


def _products(ctx: Context, out: Outcome, drugset: str, status: Status, *, others_pass: bool = False) -> set[str]:
    """Procedures that name the product given, by a product-specific code (ICD-10-PCS XW033J7, HCPCS Q2042) or,
    for a CAR-T code that does not say which product, by their text: an exposure to that drug. With
    `others_pass`, a code naming a product outside `drugset` settles the procedure as a pass (an Abecma
    infusion is no CD19 therapy). Returns the procedures settled here."""
    wanted = ctx.m.drugs_in(drugset)
    settled: set[str] = set()
    for proc in ctx.record.procedures:
        if not proc.drugs or proc.status in PLANNED_PROCEDURE or not ctx.happened(proc.start):
            continue
        hit = sorted(proc.drugs & wanted)
        when = str(proc.start or "undated")
        code = _product_code(ctx, proc)
        if hit and proc.named:
            words = _words(proc.words)
            out.say(status, "exposure.named", item=hit[0], label=proc.label, words=words, date=when, kind="Procedure")
        elif hit and code is not None:
            out.say(status, "exposure.product_code", item=hit[0], code=code.code, label=proc.label, date=when)
        elif others_pass and code is not None and not proc.named:
            other = sorted(proc.drugs)[0]
            out.say("pass", "exposure.product_other", item=other, code=code.code, label=proc.label, date=when)
        else:
            continue
        settled.add(proc.ref)
        out.cite(
            Evidence(
                reference=proc.ref,
                value=proc.label,
                date=str(proc.start) if proc.start else None,
                item=hit[0] if hit else sorted(proc.drugs)[0],
                code=str(code) if code is not None else None,
                display=proc.label,
                status=proc.status,
            )
        )
    return settled


def _coded(ctx: Context, out: Outcome, status: Status, message: str, settled: set[str]) -> None:
    """CAR-T recorded as a procedure or as a history condition whose code does not say which product (its
    target is not coded); procedures already `settled` by the product they name are left out."""
    for proc in ctx.procedures("car_t_therapy"):
        if proc.ref in settled:
            continue
        out.say(status, message, label=proc.label, date=str(proc.start or "undated"))
        out.cite(procedure_evidence(proc, item="car_t_therapy"))
    for cond in ctx.recorded("car_t_history"):
        out.say(status, message, label=cond.label, date=str(cond.first_known or "undated"))
        out.cite(condition_evidence(cond, item="car_t_history"))


def _planned(ctx: Context, out: Outcome, drugset: str, *valuesets: str) -> None:
    """A procedure still in preparation has not been given, but a person should know it is planned.

    A procedure in several of the value sets (CAR-T is a gene therapy too) is named once; one whose code names
    a product outside `drugset` (an Abecma infusion, for CD19 therapy) is not this criterion's business.
    """
    wanted = ctx.m.drugs_in(drugset)
    found = [(proc, valueset) for valueset in valuesets for proc in ctx.procedures(valueset, planned=True)]
    found += [(p, "") for p in ctx.record.procedures if p.drugs & wanted and p.status in PLANNED_PROCEDURE]
    seen: set[str] = set()
    for proc, valueset in found:
        if proc.ref in seen or (proc.drugs and not proc.named and not proc.drugs & wanted):
            continue
        seen.add(proc.ref)
        item = next(iter(sorted(proc.drugs & wanted)), valueset)
        out.say("review", "exposure.planned", item=item, label=proc.label, date=str(proc.start or "undated"))
        out.cite(procedure_evidence(proc, item=item))


def _unidentified(ctx: Context, out: Outcome) -> None:
    """A medication use whose drug cannot be identified might be the therapy in question: not a pass."""
    for ref in ctx.record.unidentified_medications:
        out.say("unknown", "exposure.unidentified", reference=ref)
        out.cite(Evidence(reference=ref, value="medication not identified"))
        out.need("need.medication", reference=ref)


def prior_cd19_therapy(ctx: Context) -> CriterionResult:
    out = Outcome("prior_cd19_therapy", "exclusion")
    _given(ctx, out, "cd19_therapy", "fail")
    settled = _products(ctx, out, "cd19_therapy", "fail", others_pass=True)
    _coded(ctx, out, "review", "exposure.car_t_target_unknown", settled)
    _planned(ctx, out, "cd19_therapy", "car_t_therapy")
    _unidentified(ctx, out)
    if not any(f.status for f in out.findings):
        out.say("pass", "exposure.none", item="cd19_therapy")
    return out.result()


def gene_therapy(ctx: Context) -> CriterionResult:
    out = Outcome("gene_therapy", "exclusion")
    _given(ctx, out, "gene_therapy", "fail")
    settled = _products(ctx, out, "gene_therapy", "fail")
    _coded(ctx, out, "fail", "exposure.car_t_is_gene_therapy", settled)
    said = settled | {p.ref for p in ctx.procedures("car_t_therapy")}  # CAR-T codes are in both value sets
    for proc in ctx.procedures("gene_therapy_procedure"):
        if proc.ref not in said:
            out.say("fail", "exposure.procedure", label=proc.label, date=str(proc.start or "undated"))
            out.cite(procedure_evidence(proc, item="gene_therapy_procedure"))
    _planned(ctx, out, "gene_therapy", "car_t_therapy", "gene_therapy_procedure")
    _unidentified(ctx, out)
    if not any(f.status for f in out.findings):
        out.say("pass", "exposure.none", item="gene_therapy")
    return out.result()
