"""Units: which UCUM unit a FHIR Quantity carries, and conversion to an analyte's canonical unit."""

from __future__ import annotations

from collections.abc import Mapping

from matcher.codes.model import AnalyteDef

UCUM = "http://unitsofmeasure.org"


def resolve_unit(
    code: str | None, unit: str | None, system: str | None, aliases: Mapping[str, str], known: frozenset[str]
) -> str | None:
    """The UCUM code of a Quantity, or None when it has none that trialmatch can trust.

    The UCUM `code` is taken as written (UCUM is case-sensitive). Without one, the human `unit`
    string is accepted only when it is itself a known UCUM code or an exact alias from mappings/:
    a unit is never guessed.
    """
    if code and (system is None or system == UCUM):
        return code
    if unit:
        if unit in aliases:
            return aliases[unit]
        if unit in known:
            return unit
    return None


def convert(analyte: AnalyteDef, value: float, unit: str | None) -> float | None:
    """`value` in `unit` expressed in the analyte's canonical unit, or None when the unit is not convertible."""
    if unit is None:
        return None
    factor = analyte.factors.get(unit)
    if factor is None:
        return None
    return value * factor


def convert_between(factors: Mapping[str, float], value: float, unit: str, to_unit: str) -> float | None:
    """`value` from `unit` to `to_unit` using one analyte's factor table; None when either is unknown."""
    src, dst = factors.get(unit), factors.get(to_unit)
    if src is None or dst is None:
        return None
    return value * src / dst
