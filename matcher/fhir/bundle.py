"""Read one patient's FHIR Bundle (bytes or parsed JSON) into a PatientRecord, with clear errors for bad input."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import orjson

from matcher.codes.model import Mappings
from matcher.errors import InvalidResourceError, NotABundleError, NotJSONError, PatientCountError, TooLargeError
from matcher.fhir.assemble import MedicationIndex, RecordAssembler
from matcher.record import PatientRecord

_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]{1,63}")


def parse_json(data: bytes | str, source: str | None = None) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise NotJSONError(f"not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})", source=source) from None


def record_from_bundle(
    data: bytes | str | dict[str, Any],
    mappings: Mappings,
    source: str | None = None,
    as_of: date | None = None,
    *,
    max_entries: int | None = None,
) -> PatientRecord:
    """The PatientRecord of a Bundle holding exactly one Patient and that patient's resources.

    With `as_of`, only what the criteria read on that day is kept (see RecordAssembler). With
    `max_entries`, a larger Bundle is refused before any work is done on its entries.
    """
    bundle = data if isinstance(data, dict) else parse_json(data, source)
    if not isinstance(bundle, dict) or "resourceType" not in bundle:
        raise NotABundleError("not a FHIR resource (no resourceType)", source=source)
    rtype = bundle["resourceType"]
    if rtype != "Bundle":
        # named only when it looks like a FHIR type: an arbitrary string could be someone's data
        what = f"a {rtype} resource" if isinstance(rtype, str) and _TYPE_NAME.fullmatch(rtype) else "a resource"
        raise NotABundleError(f"{what}, not a Bundle", source=source)
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise NotABundleError("Bundle.entry is not a list", source=source)
    if max_entries is not None and len(entries) > max_entries:
        raise TooLargeError(f"the Bundle holds {len(entries)} entries; at most {max_entries} are read", source=source)

    resources: list[tuple[dict[str, Any], str | None, str]] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise NotABundleError(f"Bundle.entry[{i}] is not an object", source=source)
        resource = entry.get("resource")
        if resource is None:
            continue
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise NotABundleError(f"Bundle.entry[{i}].resource is not a FHIR resource", source=source)
        full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
        resources.append((resource, full_url, f"{resource['resourceType']}/(entry {i})"))

    patients = [r for r in resources if r[0]["resourceType"] == "Patient"]
    if len(patients) != 1:
        what = "no Patient" if not patients else f"{len(patients)} Patients"
        raise PatientCountError(f"the Bundle holds {what}; it must hold exactly one", source=source)

    medications = MedicationIndex()
    for resource, full_url, _ in resources:
        if resource["resourceType"] == "Medication":
            medications.add(resource, full_url)
    assembler = RecordAssembler(mappings, medications, as_of)
    try:
        assembler.set_patient(patients[0][0], patients[0][1])
        for resource, full_url, fallback in resources:
            if resource["resourceType"] not in ("Patient", "Medication"):
                assembler.add(resource, full_url, fallback)
        return assembler.build()
    except InvalidResourceError as exc:
        exc.source = source
        raise
