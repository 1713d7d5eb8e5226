"""Reading FHIR references: the id a 'Patient/123', an absolute URL or a versioned reference points to."""

from __future__ import annotations


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
