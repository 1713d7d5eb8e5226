"""Who a Patient resource names: a display name and the identifiers, for the coordinator's call list only."""

from __future__ import annotations

import unicodedata

from matcher.fhir.concepts import Json, dicts_in

#: (system, identifier type code, value) of one Patient.identifier
Identifier = tuple[str | None, str | None, str]
#: HumanName.use in the order a coordinator prefers them
_NAME_USE = ("official", "usual", None, "nickname", "temp", "anonymous", "old", "maiden")


def display_name(patient: Json) -> str | None:
    """The patient's name as a person writes it: HumanName.text, else given and family names.

    A name in Chinese characters is written family name first without spaces (王芳); others given first.
    """
    names = sorted(dicts_in(patient.get("name")), key=lambda n: _rank(n.get("use")))
    for name in names:
        text = name.get("text")
        if isinstance(text, str) and text.strip():
            return text.strip()
        raw = name.get("family")
        family = raw if isinstance(raw, str) else ""
        given = " ".join(g for g in name.get("given") or [] if isinstance(g, str))
        if not (family or given):
            continue
        if _cjk(family + given):
            return f"{family}{given.replace(' ', '')}"
        return " ".join(p for p in (given, family) if p)
    return None


def identifiers(patient: Json) -> tuple[Identifier, ...]:
    out: list[Identifier] = []
    for ident in dicts_in(patient.get("identifier")):
        value = ident.get("value")
        if not isinstance(value, str) or not value:
            continue
        kind = ident.get("type")
        codes = [c.get("code") for c in dicts_in(kind.get("coding"))] if isinstance(kind, dict) else []
        system = ident.get("system")
        out.append((system if isinstance(system, str) else None, next((c for c in codes if c), None), value))
    return tuple(out)


def medical_record_number(found: tuple[Identifier, ...], system: str | None) -> str | None:
    """The identifier the site names (TRIALMATCH_MRN_SYSTEM), else the first of type MR (HL7 v2-0203)."""
    if system:
        return next((value for s, _, value in found if s == system), None)
    return next((value for _, kind, value in found if kind == "MR"), None)


def _rank(use: object) -> int:
    return _NAME_USE.index(use) if use in _NAME_USE else len(_NAME_USE)


def _cjk(text: str) -> bool:
    return any(unicodedata.name(c, "").startswith("CJK UNIFIED") for c in text)
