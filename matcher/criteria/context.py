"""What every criterion receives: the patient's record, the date of the question and the mappings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from matcher.codes.loader import Mappings
from matcher.outcome import Evidence
from matcher.record import ConditionFact, PartialDate, PatientRecord, ProcedureFact


@dataclass(frozen=True)
class Context:
    record: PatientRecord
    as_of: date
    m: Mappings

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

    def current_conditions(self, valueset: str) -> list[ConditionFact]:
        """Conditions in a value set that the record shows as of as_of (any clinical status)."""
        return [c for c, _, _ in self.record.conditions_in(valueset) if self.happened(c.first_known)]

    def procedures(self, valueset: str) -> list[ProcedureFact]:
        return [p for p, _, _ in self.record.procedures_in(valueset) if self.happened(p.start)]


def years_between(born: date, day: date) -> int:
    years = day.year - born.year
    if (day.month, day.day) < (born.month, born.day):
        years -= 1
    return years


def is_active(condition: ConditionFact, as_of: date) -> bool:
    """Active on as_of: not abated by then, and not resolved/inactive/remission (when no date says otherwise)."""
    if condition.abatement is not None:
        return condition.abatement.lo > as_of
    if condition.clinical_status in ("resolved", "inactive", "remission"):
        return False
    return not condition.abated


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
