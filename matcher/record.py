"""PatientRecord: the light, validated facts the criteria read, distilled from one patient's FHIR resources."""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from matcher.codes.model import Code, Sex
from matcher.codes.valuesets import Tier


@dataclass(frozen=True, slots=True, order=True)
class PartialDate:
    """A FHIR date or dateTime as the calendar days it may denote: '2020' is 2020-01-01 .. 2020-12-31."""

    lo: date
    hi: date
    text: str = field(compare=False)

    @classmethod
    def parse(cls, value: object) -> PartialDate | None:
        """Read the date part of a FHIR date/dateTime/instant as written (its local calendar day)."""
        if not isinstance(value, str) or len(value) < 4:
            return None
        try:
            year = int(value[0:4])
            if len(value) == 4:
                return cls(date(year, 1, 1), date(year, 12, 31), value)
            month = int(value[5:7])
            if len(value) == 7:
                last = calendar.monthrange(year, month)[1]
                return cls(date(year, month, 1), date(year, month, last), value)
            day = date(year, month, int(value[8:10]))
        except ValueError:
            return None
        return cls(day, day, value[:10])

    @classmethod
    def of(cls, day: date) -> PartialDate:
        return cls(day, day, day.isoformat())

    def __str__(self) -> str:
        return self.text


def parse_instant(value: object) -> datetime | None:
    """A dateTime with a time, for ordering results of one day; None for plain dates."""
    if not isinstance(value, str) or len(value) <= 10:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Quantity:
    value: float
    unit: str | None  # a UCUM code trialmatch trusts, None when there is none
    written_unit: str | None  # the unit as the source wrote it, for reasons
    comparator: str | None = None

    def __str__(self) -> str:
        unit = self.unit or self.written_unit
        num = f"{self.value:g}"
        return f"{self.comparator or ''}{num} {unit}" if unit else f"{self.comparator or ''}{num}"


@dataclass(frozen=True, slots=True)
class RefRange:
    """One referenceRange of a result: its upper limit, and whom it applies to (appliesTo, age)."""

    high: Quantity | None
    applies_to: frozenset[Code] = frozenset()
    #: appliesTo groups written as text only ("Female", "adult men"); "" for one with neither code nor text
    applies_text: tuple[str, ...] = ()
    #: the range's age bounds in years, inclusive; None where open (or when there is no age)
    age_low: float | None = None
    age_high: float | None = None
    #: an age the range gives but that cannot be read in years (no unit, an unknown unit)
    age_unreadable: bool = False

    @property
    def restricted(self) -> bool:
        """Meant for some patients only: a group or an age is named."""
        return bool(self.applies_to or self.applies_text or self.age_low is not None or self.age_high is not None) or (
            self.age_unreadable
        )


@dataclass(frozen=True, slots=True)
class PatientFact:
    ref: str
    birth_date: PartialDate | None
    sex: Sex
    deceased: bool
    deceased_date: PartialDate | None
    #: ('merged', why) or ('gone', why) when the record is replaced by another or inactive
    retired: tuple[str, str] | None = None
    #: who the patient is, for the coordinator's call list (never read by a criterion, never logged)
    name: str | None = None
    #: (system, type code, value) of each identifier
    identifiers: tuple[tuple[str | None, str | None, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ConditionFact:
    ref: str
    codes: tuple[Code, ...]
    label: str
    clinical_status: str | None
    verification_status: str | None
    onset: PartialDate | None
    recorded: PartialDate | None
    abated: bool
    abatement: PartialDate | None
    #: value set id -> (tier, the code that matched)
    matches: Mapping[str, tuple[Tier, Code]]

    @property
    def first_known(self) -> PartialDate | None:
        """When the condition is first documented: its onset, else the date it was recorded."""
        return self.onset or self.recorded


@dataclass(frozen=True, slots=True)
class ObservationFact:
    ref: str
    kind: Literal["analyte", "score"]
    item: str  # the analyte or score id from mappings/
    code: Code
    label: str
    status: str | None
    when: PartialDate | None
    instant: datetime | None
    quantity: Quantity | None
    value_codes: tuple[Code, ...]
    value_text: str | None
    interpretation: tuple[Code, ...]
    ranges: tuple[RefRange, ...]
    absent_reason: str | None
    grades: tuple[str, ...] = ()
    #: how the value reads to a person (a coded answer's display), for reasons
    value_display: str | None = None


@dataclass(frozen=True, slots=True)
class MedicationFact:
    ref: str
    resource_type: str
    drugs: frozenset[str]
    codes: tuple[Code, ...]
    label: str
    status: str | None
    intent: str | None
    start: PartialDate | None
    end: PartialDate | None
    supply_days: float | None
    status_reason: str | None
    #: drugs recognised by name only (none of the codes is in a drug list), and the words that named them
    named: frozenset[str] = frozenset()
    words: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProcedureFact:
    ref: str
    codes: tuple[Code, ...]
    label: str
    status: str | None
    start: PartialDate | None
    end: PartialDate | None
    matches: Mapping[str, tuple[Tier, Code]]
    #: drugs the procedure gave: named by its code (a product-specific CAR-T code), or, for a procedure in a
    #: value set whose code does not name the product, by its text (then also in `named`, with the words)
    drugs: frozenset[str] = frozenset()
    named: frozenset[str] = frozenset()
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class PatientRecord:
    """What the criteria need to know about one patient; nothing else is kept."""

    patient: PatientFact
    conditions: tuple[ConditionFact, ...] = ()
    #: analyte or score id -> its observations, newest first
    observations: Mapping[str, tuple[ObservationFact, ...]] = field(default_factory=dict)
    medications: tuple[MedicationFact, ...] = ()
    procedures: tuple[ProcedureFact, ...] = ()
    #: what was left out while reading (resource references and why), for the result's notes
    skipped: tuple[str, ...] = ()
    #: medication uses whose drug could not be identified (their Medication was not found)
    unidentified_medications: tuple[str, ...] = ()

    def results(self, item: str) -> tuple[ObservationFact, ...]:
        return self.observations.get(item, ())

    def conditions_in(self, valueset: str) -> list[tuple[ConditionFact, Tier, Code]]:
        return [(c, *c.matches[valueset]) for c in self.conditions if valueset in c.matches]

    def procedures_in(self, valueset: str) -> list[tuple[ProcedureFact, Tier, Code]]:
        return [(p, *p.matches[valueset]) for p in self.procedures if valueset in p.matches]
