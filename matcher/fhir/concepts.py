"""Reading the JSON of FHIR datatypes: CodeableConcepts (codes, labels, status codes), lists and numbers."""

from __future__ import annotations

from typing import Any

from matcher.codes.model import Code
from matcher.errors import Malformed

Json = dict[str, Any]


def codings(concept: object) -> tuple[Code, ...]:
    """The (system, code) pairs of a CodeableConcept; codings without both parts are skipped."""
    if concept is None:
        return ()
    if not isinstance(concept, dict):
        raise Malformed
    found = concept.get("coding") or []
    if not isinstance(found, list):
        raise Malformed
    return tuple(
        Code(c["system"], c["code"])
        for c in found
        if isinstance(c, dict) and isinstance(c.get("system"), str) and isinstance(c.get("code"), str)
    )


def label(concept: object) -> str:
    """A human name for a CodeableConcept: its text, else the first display, else the first code."""
    if not isinstance(concept, dict):
        return "(uncoded)"
    text = concept.get("text")
    if isinstance(text, str) and text.strip():
        return text.strip()
    for coding in dicts_in(concept.get("coding")):
        if isinstance(coding, dict):
            shown = coding.get("display") or coding.get("code")
            if isinstance(shown, str) and shown:
                return shown
    return "(uncoded)"


def display(concept: object) -> str | None:
    """The label of a CodeableConcept, None when it has no words or codes at all."""
    if not isinstance(concept, dict):
        return None
    text = label(concept)
    return None if text == "(uncoded)" else text


def texts_of(concept: object) -> list[str]:
    """The words a CodeableConcept says: its text and every coding's display (for recognising a drug by name)."""
    if not isinstance(concept, dict):
        return []
    out = [concept["text"]] if isinstance(concept.get("text"), str) else []
    out.extend(c["display"] for c in dicts_in(concept.get("coding")) if isinstance(c.get("display"), str))
    return out


def status_code(concept: object, system: str) -> str | None:
    """The code of a status CodeableConcept (clinicalStatus, verificationStatus, dataAbsentReason).

    A coding in the status's own HL7 code system decides, wherever it stands among the codings (a
    SNOMED CT translation may come first); failing one, the first coding with a code.
    """
    if not isinstance(concept, dict):
        return None
    coded = [c for c in dicts_in(concept.get("coding")) if isinstance(c.get("code"), str)]
    own = [c for c in coded if c.get("system") == system]
    chosen = (own or coded)[:1]
    return str(chosen[0]["code"]) if chosen else None


def is_number(value: object) -> bool:
    """A JSON number (true and false are not numbers, though Python's bool is an int)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def dicts_in(value: object) -> list[Json]:
    """The objects of a JSON array (anything else in it, or a value that is no array, gives nothing)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
