"""Small builders of FHIR R4 resources: the tests' patients and the synthetic fixtures (scripts/make_fixtures.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

#: every fixture is written to be read as of this date (it is also check_contract.py's default)
AS_OF = date(2026, 6, 30)

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"
ACTIVITY = "urn:trialmatch:disease-activity"
INTERP = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"

Json = dict[str, Any]


def ago(days: int = 0, *, months: int = 0, years: int = 0) -> str:
    """A date before AS_OF, as FHIR writes it."""
    return (AS_OF - timedelta(days=days + round(months * 30.44) + round(years * 365.25))).isoformat()


def cc(system: str, code: str, display: str | None = None, text: str | None = None) -> Json:
    coding: Json = {"system": system, "code": code}
    if display:
        coding["display"] = display
    out: Json = {"coding": [coding]}
    if text:
        out["text"] = text
    return out


@dataclass
class PatientBuilder:
    """One synthetic patient; methods add resources and return self, so scenarios read top to bottom."""

    name: str
    sex: str | None = "female"
    birth: str | None = "1980-05-17"
    deceased: str | None = None
    resources: list[Json] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"trialmatch-fixture/{self.name}"))
        self._n = 0

    def _id(self) -> str:
        self._n += 1
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"trialmatch-fixture/{self.name}/{self._n}"))

    @property
    def subject(self) -> Json:
        return {"reference": f"Patient/{self.pid}"}

    def add(self, resource: Json) -> PatientBuilder:
        resource.setdefault("id", self._id())
        self.resources.append(resource)
        return self

    # -- conditions -------------------------------------------------------------------------------

    def condition(
        self,
        system: str,
        code: str,
        display: str,
        *,
        onset: str | None = None,
        recorded: str | None = None,
        clinical: str | None = "active",
        verification: str | None = "confirmed",
        abatement: str | None = None,
    ) -> PatientBuilder:
        res: Json = {"resourceType": "Condition", "code": cc(system, code, display), "subject": self.subject}
        if clinical:
            res["clinicalStatus"] = cc("http://terminology.hl7.org/CodeSystem/condition-clinical", clinical)
        if verification:
            res["verificationStatus"] = cc("http://terminology.hl7.org/CodeSystem/condition-ver-status", verification)
        if onset:
            res["onsetDateTime"] = onset
        if recorded:
            res["recordedDate"] = recorded
        if abatement:
            res["abatementDateTime"] = abatement
        return self.add(res)

    # -- observations -----------------------------------------------------------------------------

    def obs(
        self,
        system: str,
        code: str,
        display: str,
        when: str,
        *,
        value: float | None = None,
        unit: str | None = None,
        ucum: bool = True,
        high: float | None = None,
        high_unit: str | None = None,
        answer: Json | None = None,
        text: str | None = None,
        status: str = "final",
        absent: str | None = None,
        interpretation: str | None = None,
        components: list[Json] | None = None,
        extra: Json | None = None,
    ) -> PatientBuilder:
        res: Json = {
            "resourceType": "Observation",
            "status": status,
            "code": cc(system, code, display),
            "subject": self.subject,
            "effectiveDateTime": when,
        }
        if value is not None:
            q: Json = {"value": value}
            if unit:
                q["unit"] = unit
                if ucum:
                    q.update(system=UCUM, code=unit)
            res["valueQuantity"] = q
        if answer is not None:
            res["valueCodeableConcept"] = answer
        if text is not None:
            res["valueString"] = text
        if absent:
            res["dataAbsentReason"] = cc("http://terminology.hl7.org/CodeSystem/data-absent-reason", absent)
        if interpretation:
            res["interpretation"] = [cc(INTERP, interpretation)]
        if high is not None:
            hq: Json = {"value": high}
            if high_unit or unit:
                hq.update(unit=high_unit or unit, system=UCUM, code=high_unit or unit)
            res["referenceRange"] = [{"high": hq}]
        if components:
            res["component"] = components
        if extra:
            res.update(extra)
        return self.add(res)

    def lab(self, code: str, display: str, value: float, unit: str, when: str, **kw: Any) -> PatientBuilder:
        return self.obs(LOINC, code, display, when, value=value, unit=unit, **kw)

    def score(self, score: str, value: float, when: str, unit: str = "{score}", **kw: Any) -> PatientBuilder:
        return self.obs(ACTIVITY, score, score.upper(), when, value=value, unit=unit, **kw)

    def serology(self, code: str, display: str, polarity: str, when: str) -> PatientBuilder:
        answers = {
            "positive": cc(SNOMED, "10828004", "Positive"),
            "negative": cc(SNOMED, "260385009", "Negative"),
            "detected": cc(SNOMED, "260373001", "Detected"),
            "not detected": cc(SNOMED, "260415000", "Not detected"),
        }
        return self.obs(LOINC, code, display, when, answer=answers[polarity])

    # -- medication -------------------------------------------------------------------------------

    def med_request(
        self,
        code: str,
        display: str,
        start: str,
        *,
        status: str = "active",
        intent: str = "order",
        end: str | None = None,
        system: str = RXNORM,
    ) -> PatientBuilder:
        res: Json = {
            "resourceType": "MedicationRequest",
            "status": status,
            "intent": intent,
            "medicationCodeableConcept": cc(system, code, display),
            "subject": self.subject,
            "authoredOn": start,
        }
        if end:
            res["dispenseRequest"] = {"validityPeriod": {"start": start, "end": end}}
        return self.add(res)

    def med_statement(
        self,
        code: str,
        display: str,
        start: str,
        end: str | None = None,
        *,
        status: str = "active",
        system: str = RXNORM,
    ) -> PatientBuilder:
        period: Json = {"start": start}
        if end:
            period["end"] = end
        return self.add(
            {
                "resourceType": "MedicationStatement",
                "status": status,
                "medicationCodeableConcept": cc(system, code, display),
                "subject": self.subject,
                "effectivePeriod": period,
            }
        )

    def med_administration(
        self, code: str, display: str, when: str, *, system: str = RXNORM, status: str = "completed"
    ) -> PatientBuilder:
        return self.add(
            {
                "resourceType": "MedicationAdministration",
                "status": status,
                "medicationCodeableConcept": cc(system, code, display),
                "subject": self.subject,
                "effectiveDateTime": when,
            }
        )

    def procedure(self, system: str, code: str, display: str, when: str, status: str = "completed") -> PatientBuilder:
        return self.add(
            {
                "resourceType": "Procedure",
                "status": status,
                "code": cc(system, code, display),
                "subject": self.subject,
                "performedDateTime": when,
            }
        )

    # -- output -----------------------------------------------------------------------------------

    def bundle(self) -> Json:
        patient: Json = {
            "resourceType": "Patient",
            "id": self.pid,
            "name": [{"family": "Fixture", "given": [self.name.replace("_", " ")]}],
            # the hospital's medical record number, as the coordinator report shows it
            "identifier": [
                {
                    "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                    "system": "urn:trialmatch:fixtures:mrn",
                    "value": f"{int(self.pid.replace('-', '')[:8], 16) % 10**8:08d}",
                }
            ],
        }
        if self.sex:
            patient["gender"] = self.sex
        if self.birth:
            patient["birthDate"] = self.birth
        if self.deceased:
            patient["deceasedDateTime"] = self.deceased
        entries = [patient, *self.resources]
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in entries],
        }
