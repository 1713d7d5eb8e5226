"""What a coordinator report is made from: the run, each patient's result and who the patient is. No I/O."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from matcher.fhir.identity import medical_record_number
from matcher.record import PatientFact


@dataclass(frozen=True)
class Person:
    """What a coordinator needs to reach a patient; kept beside the result in the run database, never logged."""

    fhir_id: str
    name: str | None = None
    mrn: str | None = None
    birth_date: str | None = None  # as recorded: YYYY, YYYY-MM or YYYY-MM-DD
    sex: str | None = None

    @classmethod
    def of(cls, patient: PatientFact, mrn_system: str | None = None) -> Person:
        """The person behind a record; the MRN is the identifier the site names (TRIALMATCH_MRN_SYSTEM)."""
        return cls(
            fhir_id=patient.ref,
            name=patient.name,
            mrn=medical_record_number(patient.identifiers, mrn_system),
            birth_date=str(patient.birth_date) if patient.birth_date else None,
            sex=patient.sex if patient.sex != "unknown" else None,
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Person:
        return cls(
            fhir_id=str(data["fhir_id"]),
            name=data.get("name"),
            mrn=data.get("mrn"),
            birth_date=data.get("birth_date"),
            sex=data.get("sex"),
        )

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def age_on(self, day: date) -> int | None:
        """Whole years on `day`, when the birth date is precise enough to say."""
        if not self.birth_date or len(self.birth_date) < 10:
            return None
        born = date.fromisoformat(self.birth_date[:10])
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


@dataclass(frozen=True)
class RunInfo:
    id: str
    trial: str
    as_of: date
    status: str  # running | complete | partial | incomplete | failed
    source: str
    started_at: str
    finished_at: str | None
    matcher_version: str
    mappings_digest: str
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class PatientEntry:
    """One patient of the run: a MatchResult (CONTRACT.md JSON) or why there is none."""

    patient_id: str
    state: str  # evaluated | error | gone | merged | left
    result: dict[str, Any] | None = None
    person: Person | None = None
    detail: str | None = None


@dataclass(frozen=True)
class ReportData:
    run: RunInfo
    patients: tuple[PatientEntry, ...]
    #: what changed since the previous complete night (jobs.diff.Diff.as_json), None on a first night
    changes: dict[str, Any] | None = None
    previous_run: str | None = None
