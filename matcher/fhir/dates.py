"""FHIR dates, periods and ages as calendar days: onset/abatement, effective time, medication periods, range ages."""

from __future__ import annotations

from datetime import date
from typing import Any

from matcher.fhir.concepts import Json, dicts_in, is_number
from matcher.record import PartialDate, parse_instant

#: an onset given as an age beyond this, or a supply beyond a century, is a data error
MAX_AGE_YEARS = 150
MAX_SUPPLY_DAYS = 36525.0

_SUPPLY_DAYS = {"d": 1.0, "day": 1.0, "days": 1.0, "wk": 7.0, "week": 7.0, "mo": 30.4375, "a": 365.25}
#: an age of a reference range in years, by UCUM code
_AGE_YEARS = {"a": 1.0, "mo": 1 / 12, "wk": 7 / 365.25, "d": 1 / 365.25}


def onset_like(resource: Json, prefix: str, birth: PartialDate | None) -> PartialDate | None:
    """onset[x] / abatement[x] as calendar days: dateTime, Period, or an Age counted from the birth date."""
    if f"{prefix}DateTime" in resource:
        return PartialDate.parse(resource[f"{prefix}DateTime"])
    period = resource.get(f"{prefix}Period")
    if isinstance(period, dict):
        return PartialDate.parse(period.get("start") if prefix == "onset" else period.get("end") or period.get("start"))
    age = resource.get(f"{prefix}Age")
    if isinstance(age, dict) and is_number(age.get("value")) and birth is not None:
        if age.get("code", "a") != "a" or not 0 <= age["value"] <= MAX_AGE_YEARS:
            return None
        years = int(age["value"])
        lo, hi = _years_after(birth.lo, years), _years_after(birth.hi, years + 1)
        return PartialDate(lo, hi, f"age {years}") if lo and hi else None
    return None


def _years_after(day: date, years: int) -> date | None:
    """The same day `years` later (28 February for 29 February); None past the calendar's end."""
    if day.year + years > date.max.year:
        return None
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def observation_time(resource: Json) -> tuple[PartialDate | None, Any]:
    """When an Observation was made: effective[x] (a period's end), else when it was issued."""
    for key in ("effectiveDateTime", "effectiveInstant"):
        if key in resource:
            return PartialDate.parse(resource[key]), parse_instant(resource[key])
    period = resource.get("effectivePeriod")
    if isinstance(period, dict):
        value = period.get("end") or period.get("start")
        return PartialDate.parse(value), parse_instant(value)
    if "issued" in resource:
        return PartialDate.parse(resource["issued"]), parse_instant(resource["issued"])
    return None, None


def medication_period(resource: Json) -> tuple[PartialDate | None, PartialDate | None, float | None]:
    """(start, end, days of supply) of a medication use; end None when the record does not say."""
    rtype = resource["resourceType"]
    if rtype in ("MedicationStatement", "MedicationAdministration"):
        if "effectiveDateTime" in resource:
            day = PartialDate.parse(resource["effectiveDateTime"])
            return day, (day if rtype == "MedicationAdministration" else None), None
        period = resource.get("effectivePeriod")
        if isinstance(period, dict):
            return PartialDate.parse(period.get("start")), PartialDate.parse(period.get("end")), None
        return None, None, None
    # MedicationRequest
    start = end = None
    for dosage in dicts_in(resource.get("dosageInstruction")):
        bounds = ((dosage.get("timing") or {}).get("repeat") or {}).get("boundsPeriod")
        if isinstance(bounds, dict):
            start = start or PartialDate.parse(bounds.get("start"))
            end = end or PartialDate.parse(bounds.get("end"))
    dispense = resource.get("dispenseRequest") or {}
    validity = dispense.get("validityPeriod")
    if isinstance(validity, dict):
        start = start or PartialDate.parse(validity.get("start"))
        end = end or PartialDate.parse(validity.get("end"))
    start = start or PartialDate.parse(resource.get("authoredOn"))
    supply = None
    duration = dispense.get("expectedSupplyDuration")
    if isinstance(duration, dict) and is_number(duration.get("value")):
        per = _SUPPLY_DAYS.get(str(duration.get("code") or duration.get("unit") or "").lower())
        repeats = dispense.get("numberOfRepeatsAllowed", 0)
        if per is not None and duration["value"] >= 0 and isinstance(repeats, int) and repeats >= 0:
            supply = float(duration["value"]) * per * (1 + repeats)
            supply = supply if supply <= MAX_SUPPLY_DAYS else None  # a data error, not a prescription
    return start, end, supply


def age_bounds(age: Json) -> tuple[float | None, float | None, bool]:
    """(low, high) of referenceRange.age in years, and whether a bound given could not be read."""
    out: list[float | None] = []
    unreadable = False
    for key in ("low", "high"):
        bound = age.get(key)
        if bound is None:
            out.append(None)
            continue
        per = _AGE_YEARS.get(str(bound.get("code"))) if isinstance(bound, dict) else None
        if per is None or not is_number(bound.get("value")):
            unreadable = True
            out.append(None)
        else:
            out.append(float(bound["value"]) * per)
    return out[0], out[1], unreadable
