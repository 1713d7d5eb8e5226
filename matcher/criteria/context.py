"""What every criterion receives: the patient's record, the date of the question and the mappings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from matcher.criteria.reads import DeclaredMappings
from matcher.outcome import Evidence, Status
from matcher.record import ConditionFact, ObservationFact, PartialDate, PatientRecord, ProcedureFact


@dataclass(frozen=True, slots=True)
class Context:
    """One criterion's question: the record, the date, and mappings/ as far as the criterion declared it reads.

    Reading a value set, a result or a mapping id the criterion did not declare raises UndeclaredRead.
    """

    record: PatientRecord
    as_of: date
    m: DeclaredMappings

    @property
    def sex(self) -> str:
        return self.record.patient.sex

    def age_range(self) -> tuple[int, int] | None:
        """The patient's age in whole years on as_of: (youngest possible, oldest possible)."""
        birth = self.record.patient.birth_date
        if birth is None:
            return None
        return years_between(birth.hi, self.as_of), years_between(birth.lo, self.as_of)

    def window_start(self, days: int) -> date:
        return self.as_of - timedelta(days=days)

    def happened(self, when: PartialDate | None) -> bool:
        """Known as of as_of: undated, or dated on or before it (records from after as_of are not seen)."""
        return when is None or when.lo <= self.as_of

    def results(self, item: str, window: int) -> tuple[ObservationFact, ...]:
        """The results of an analyte or score, newest first, for reading `window` days back (measure.pick)."""
        self.m.check_results(item, window)
        return self.record.results(item)

    def recorded(self, valueset: str) -> list[ConditionFact]:
        """Conditions in a value set recorded by as_of, whatever their clinical status."""
        self.m.check_valueset(valueset)
        return [c for c, _, _ in self.record.conditions_in(valueset) if self.happened(c.first_known)]

    def procedures(self, valueset: str, *, planned: bool = False) -> list[ProcedureFact]:
        """Procedures in a value set done (or begun) by as_of; with `planned`, those still in preparation,
        whatever their date (a planned procedure is usually dated when it is to be done)."""
        self.m.check_valueset(valueset)
        return [
            p
            for p, _, _ in self.record.procedures_in(valueset)
            if (p.status in PLANNED_PROCEDURE) == planned and (planned or self.happened(p.start))
        ]


def years_between(born: date, day: date) -> int:
    years = day.year - born.year
    if (day.month, day.day) < (born.month, born.day):
        years -= 1
    return years


Activity = Literal["active", "inactive", "unclear"]
#: verification statuses that leave the diagnosis open
UNCONFIRMED = frozenset({"unconfirmed", "provisional", "differential"})
#: Procedure statuses of something not yet begun (not-done and entered-in-error are dropped while reading)
PLANNED_PROCEDURE = frozenset({"preparation"})


def activity_on(condition: ConditionFact, as_of: date) -> Activity:
    """Whether a condition was current on as_of: its abatement date decides, else its clinical status.

    'unclear' when an imprecise abatement date ('2026-06') straddles as_of.
    """
    ended = condition.abatement
    if ended is not None:
        if ended.hi <= as_of:
            return "inactive"
        return "active" if ended.lo > as_of else "unclear"
    if condition.clinical_status in ("resolved", "inactive", "remission") or condition.abated:
        return "inactive"
    return "active"


def exclusion_status(condition: ConditionFact, valueset: str) -> Status:
    """A recorded exclusion fails when firmly coded and confirmed; an uncertain code or diagnosis needs review."""
    tier = condition.matches[valueset][0]
    return "fail" if tier == "match" and condition.verification_status not in UNCONFIRMED else "review"


def condition_evidence(condition: ConditionFact, code: str | None = None, item: str | None = None) -> Evidence:
    when = condition.first_known
    status = "/".join(s for s in (condition.clinical_status, condition.verification_status) if s) or None
    return Evidence(
        reference=condition.ref,
        value=condition.label,
        date=str(when) if when else None,
        item=item,
        code=code,
        display=condition.label,
        status=status,
    )


def procedure_evidence(procedure: ProcedureFact, item: str | None = None) -> Evidence:
    return Evidence(
        reference=procedure.ref,
        value=procedure.label,
        date=str(procedure.start) if procedure.start else None,
        item=item,
        display=procedure.label,
        status=procedure.status,
    )
