"""Reading FHIR references: the id a reference points to, a resource's own reference, a Patient replaced by another."""

from __future__ import annotations

import re

from matcher.errors import InputError
from matcher.fhir.concepts import Json, dicts_in

#: a FHIR logical id (R4 `id` datatype); '.' and '..' match it but are path segments, not ids
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def logical_id(rid: str) -> str:
    """`rid` when it can stand in a URL path as one resource id, else InputError: a caller-supplied id
    must never change the path it is put in ('.' and '..' would be collapsed by any URL library)."""
    if not _ID.fullmatch(rid) or set(rid) == {"."}:
        raise InputError(f"not a FHIR resource id: {rid[:64]!r}")
    return rid


def target_id(reference: object, rtype: str) -> str | None:
    """The id of the `rtype` a reference string (or Reference object) points to; None when it points elsewhere.

    'Patient/123', 'https://fhir.example/r4/Patient/123' and 'Patient/123/_history/2' all give '123'.
    """
    if isinstance(reference, dict):
        reference = reference.get("reference")
    if not isinstance(reference, str) or f"{rtype}/" not in reference:
        return None
    tail = reference.rsplit(f"{rtype}/", 1)[1]
    rid = tail.split("/_history/", 1)[0].split("/", 1)[0]
    return rid or None


def reference_of(resource: Json, fallback: str) -> str:
    """'Type/id' of a resource; `fallback` (its fullUrl, or a placeholder) when it has no id."""
    rid = resource.get("id")
    return f"{resource['resourceType']}/{rid}" if isinstance(rid, str) and rid else fallback


def retired(patient: Json) -> tuple[str, str] | None:
    """('merged', why) for a Patient replaced by another, ('gone', why) for an inactive one, else None."""
    for link in dicts_in(patient.get("link")):
        other = link.get("other")
        target = other.get("reference") if isinstance(other, dict) else None
        if link.get("type") == "replaced-by" and isinstance(target, str):
            return "merged", f"replaced by {target}"
    if patient.get("active") is False:
        return "gone", "marked inactive on the FHIR server"
    return None
