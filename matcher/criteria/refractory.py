"""Inclusion on treatment history: 12 weeks of a cohort's standard therapy, from its records joined into courses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from matcher.criteria.cohort import Cohort
from matcher.criteria.common import without_cohort
from matcher.criteria.context import Context, procedure_evidence
from matcher.criteria.criterion import reads_per_cohort
from matcher.criteria.medication import medication_evidence, taken, word_list
from matcher.criteria.reads import Reads
from matcher.outcome import CriterionResult, Evidence, Outcome, Param
from matcher.record import MedicationFact, ProcedureFact

MIN_THERAPY_DAYS = 84  # protocol: at least 12 weeks of standardized therapy before screening

_ONGOING = frozenset({"active", "in-progress", "on-hold"})
#: days between records of one drug that still make one course (refills); drugs given at longer
#: intervals (rituximab every six months) say so in mappings/drugs.toml (course_gap_days)
DEFAULT_GAP_DAYS = 30


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


def _reads(cohort: Cohort) -> Reads:
    """The cohort's standard drugs, and its non-drug therapies (procedures)."""
    return Reads(drugsets=(cohort.drugset,), valuesets=cohort.therapy_procedures)


@reads_per_cohort(_reads)
def refractory(ctx: Context, cohort: Cohort | None) -> CriterionResult:
    """Inclusions 1.10, 2.8, 3.10, 4.9, 5.9, 6.9, 7.10: at least 12 weeks of standardized therapy before screening."""
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
                out.say(None, "therapy.named", therapy=exp.therapy, label=source.label, words=word_list(source.words))
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
