"""Stable pseudonyms for sharing a report with the sponsor: an HMAC of the patient id under a site secret."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from typing import Any

from matcher.report.data import PatientEntry, Person, ReportData


def pseudonym(patient_id: str, secret: bytes) -> str:
    """'P-3f9a0c1e2b': the same for the same patient and secret, night after night; not reversible."""
    digest = hmac.new(secret, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"P-{digest[:10]}"


def deidentify(data: ReportData, secret: bytes) -> ReportData:
    """The same report with every name, MRN, birth date and FHIR id replaced by a pseudonym.

    Only the birth year is kept (ages over 89 are not); the results' references to other resources are
    dropped, since their ids can lead back to the patient.
    """
    if not secret:
        raise ValueError("a site secret is needed to de-identify (TRIALMATCH_REPORT_SECRET)")
    patients = tuple(_entry(p, secret) for p in data.patients)
    changes = None
    if data.changes is not None:
        changes = {
            key: [
                {**c, "patient": "Patient/" + pseudonym(c["patient"].removeprefix("Patient/"), secret)} for c in items
            ]
            if isinstance(items, list)
            else items
            for key, items in data.changes.items()
        }
    return replace(data, patients=patients, changes=changes)


#: finding parameters that hold a birth date: only its year is kept
_BIRTH = ("birth",)


def _criterion(criterion: dict[str, Any]) -> dict[str, Any]:
    """A criterion without its evidence references, and with birth dates cut to the year."""
    findings = [
        {**f, "params": {k: (str(v)[:4] if k in _BIRTH and v else v) for k, v in (f.get("params") or {}).items()}}
        for f in criterion.get("findings", [])
    ]
    return {**criterion, "evidence": [], "findings": findings, "reason": ""}


def _entry(entry: PatientEntry, secret: bytes) -> PatientEntry:
    alias = pseudonym(entry.patient_id, secret)
    result = None
    if entry.result is not None:
        result = {**entry.result, "patient": f"Patient/{alias}"}
        result["criteria"] = [_criterion(c) for c in entry.result.get("criteria", [])]
    person = entry.person
    year = person.birth_date[:4] if person and person.birth_date else None
    return replace(
        entry,
        patient_id=alias,
        result=result,
        person=Person(
            fhir_id=f"Patient/{alias}", name=alias, mrn=None, birth_date=year, sex=person.sex if person else None
        ),
        detail=None,
    )
