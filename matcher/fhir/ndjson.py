"""FHIR NDJSON (Bulk Data output, or one Bundle per line) to PatientRecords in one streaming pass."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from matcher.codes.model import Mappings
from matcher.errors import InputError, internal_error
from matcher.fhir.assemble import MedicationIndex, RecordAssembler
from matcher.fhir.bundle import record_from_bundle
from matcher.fhir.refs import target_id
from matcher.record import PatientRecord

log = logging.getLogger("trialmatch.fhir")

#: where each resource type names its patient
_PATIENT_FIELDS = ("subject", "patient")


@dataclass(frozen=True)
class Skipped:
    """An input that could not be evaluated: where it was, which patient if known, and why."""

    source: str
    patient: str | None
    error: str


def patient_of(resource: dict[str, Any]) -> str | None:
    """The id of the patient a resource belongs to ('Patient/123' -> '123')."""
    if resource.get("resourceType") == "Patient":
        rid = resource.get("id")
        return rid if isinstance(rid, str) else None
    for field in _PATIENT_FIELDS:
        pid = target_id(resource.get(field), "Patient")
        if pid:
            return pid
    return None


class NdjsonReader:
    """Reads NDJSON files line by line, keeping only what the criteria need, grouped by patient.

    Resources the criteria never read are dropped as they are read, and the ones they do read are
    distilled at once, so memory holds facts, not files. A line that is not JSON, or a resource
    that fails validation, is reported as a Skipped entry for its patient; the rest goes on.
    """

    def __init__(
        self, mappings: Mappings, as_of: date | None = None, watch: Callable[[str, dict[str, Any]], None] | None = None
    ) -> None:
        self.m = mappings
        self.as_of = as_of
        #: called with (patient id, resource) for every resource of a patient, before anything else
        self.watch = watch
        self.medications = MedicationIndex()
        self.patients: dict[str, RecordAssembler] = {}
        self.failed: dict[str, Skipped] = {}
        #: the file and line where each patient's first resource was read, to say where a problem is
        self.first_seen: dict[str, str] = {}
        self.bundles: list[PatientRecord | Skipped] = []
        self.problems: list[Skipped] = []

    def read(self, path: Path) -> None:
        try:
            with path.open("rb") as handle:
                for number, line in enumerate(handle, start=1):
                    if line.strip():
                        self._line(line, f"{path}:{number}")
        except OSError as exc:
            self.problems.append(Skipped(str(path), None, f"cannot read: {exc.strerror or type(exc).__name__}"))

    def _line(self, line: bytes, where: str) -> None:
        try:
            resource = orjson.loads(line)
        except orjson.JSONDecodeError:
            self.problems.append(Skipped(where, None, "not JSON"))
            return
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            self.problems.append(Skipped(where, None, "not a FHIR resource"))
            return
        rtype = resource["resourceType"]
        if rtype == "Bundle":
            self.bundles.append(_bundle(resource, self.m, where, self.as_of))
            return
        if rtype == "Medication":
            self.medications.add(resource)
            return
        pid = patient_of(resource)
        if pid is None:
            return  # Organization, Practitioner, ...: nothing a criterion reads
        try:
            if self.watch is not None:
                self.watch(pid, resource)
            if pid in self.failed:
                return
            assembler = self.patients.get(pid)
            if assembler is None:
                assembler = self.patients[pid] = RecordAssembler(self.m, self.medications, self.as_of)
                self.first_seen[pid] = where
            if rtype == "Patient":
                assembler.set_patient(resource)
            else:
                assembler.add(resource, fallback_ref=f"{rtype}/({where})")
        except InputError as exc:
            self.failed[pid] = Skipped(where, f"Patient/{pid}", str(exc))
            self.patients.pop(pid, None)
        except Exception as exc:  # a bug must cost one patient, not the whole file
            self.failed[pid] = Skipped(where, f"Patient/{pid}", internal_error(log, f"Patient/{pid} at {where}", exc))
            self.patients.pop(pid, None)

    def missing_medications(self) -> set[str]:
        """Medications the patients' medication uses point to that the files did not hold."""
        wanted = set().union(*(a.medication_references() for a in self.patients.values()))
        return {mid for mid in wanted if mid not in self.medications}

    def results(self) -> Iterator[PatientRecord | Skipped]:
        yield from self.problems
        yield from self.bundles
        yield from self.failed.values()
        for pid, assembler in self.patients.items():
            where = self.first_seen.get(pid, "ndjson")
            if assembler.patient is None:
                yield Skipped(where, f"Patient/{pid}", "resources refer to this patient, but no Patient resource")
                continue
            try:
                record = assembler.build()
            except InputError as exc:
                yield Skipped(where, f"Patient/{pid}", str(exc))
            except Exception as exc:  # a bug must cost one patient, not the whole file
                yield Skipped(where, f"Patient/{pid}", internal_error(log, f"Patient/{pid}", exc))
            else:
                yield record


def _bundle(resource: dict[str, Any], mappings: Mappings, where: str, as_of: date | None) -> PatientRecord | Skipped:
    try:
        return record_from_bundle(resource, mappings, where, as_of)
    except InputError as exc:
        return Skipped(where, None, str(exc))
    except Exception as exc:  # a bug must cost one patient, not the whole file
        return Skipped(where, None, internal_error(log, where, exc))


def read_ndjson(
    paths: Iterable[Path], mappings: Mappings, as_of: date | None = None
) -> Iterator[PatientRecord | Skipped]:
    reader = NdjsonReader(mappings, as_of)
    for path in paths:
        reader.read(path)
    yield from reader.results()
