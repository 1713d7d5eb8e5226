"""Routing and distillation: which FHIR resources a criterion reads, and their facts, read from validated JSON."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from matcher.codes.loader import Mappings
from matcher.codes.model import Code, Sex
from matcher.codes.names import NameHit
from matcher.codes.units import resolve_unit
from matcher.codes.valuesets import Tier
from matcher.record import (
    ConditionFact,
    MedicationFact,
    ObservationFact,
    PartialDate,
    PatientFact,
    ProcedureFact,
    Quantity,
    RefRange,
    parse_instant,
)

Json = dict[str, Any]

CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"

#: statuses under which a resource never counts (and is dropped while reading)
_DROPPED_OBSERVATION = frozenset({"entered-in-error", "cancelled"})
_DROPPED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
_DROPPED_MEDICATION = frozenset({"entered-in-error"})
_DROPPED_PROCEDURE = frozenset({"entered-in-error", "not-done"})

_SUPPLY_DAYS = {"d": 1.0, "day": 1.0, "days": 1.0, "wk": 7.0, "week": 7.0, "mo": 30.4375, "a": 365.25}
#: a BILAG grade: a capital A-E standing on its own ("1A", "2 B", "Renal C"), not the last letter of a word
_GRADE = re.compile(r"(?<![A-Za-z])(\d{0,3})\s*([A-E])(?![A-Za-z])")
#: BILAG-2004 grades nine organ systems; a count beyond that is a data error
BILAG_SYSTEMS = 9
#: an onset given as an age beyond this, or a supply beyond a century, is a data error
MAX_AGE_YEARS = 150
MAX_SUPPLY_DAYS = 36525.0


class Malformed(Exception):
    """A resource that cannot even be routed (its code is not a CodeableConcept): validation will say why."""


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
    for coding in _list(concept.get("coding")):
        if isinstance(coding, dict):
            shown = coding.get("display") or coding.get("code")
            if isinstance(shown, str) and shown:
                return shown
    return "(uncoded)"


def texts_of(concept: object) -> list[str]:
    """The words a CodeableConcept says: its text and every coding's display (for recognising a drug by name)."""
    if not isinstance(concept, dict):
        return []
    out = [concept["text"]] if isinstance(concept.get("text"), str) else []
    out.extend(c["display"] for c in _list(concept.get("coding")) if isinstance(c.get("display"), str))
    return out


def status_code(concept: object, system: str) -> str | None:
    """The code of a status CodeableConcept (clinicalStatus, verificationStatus, dataAbsentReason).

    A coding in the status's own HL7 code system decides, wherever it stands among the codings (a
    SNOMED CT translation may come first); failing one, the first coding with a code.
    """
    if not isinstance(concept, dict):
        return None
    coded = [c for c in _list(concept.get("coding")) if isinstance(c.get("code"), str)]
    own = [c for c in coded if c.get("system") == system]
    chosen = (own or coded)[:1]
    return str(chosen[0]["code"]) if chosen else None


def retired(patient: Json) -> tuple[str, str] | None:
    """('merged', why) for a Patient replaced by another, ('gone', why) for an inactive one, else None."""
    for link in _list(patient.get("link")):
        other = link.get("other")
        target = other.get("reference") if isinstance(other, dict) else None
        if link.get("type") == "replaced-by" and isinstance(target, str):
            return "merged", f"replaced by {target}"
    if patient.get("active") is False:
        return "gone", "marked inactive on the FHIR server"
    return None


def reference_of(resource: Json, fallback: str) -> str:
    rid = resource.get("id")
    return f"{resource['resourceType']}/{rid}" if isinstance(rid, str) and rid else fallback


class Distiller:
    """Turns routed, validated resources into facts; knows the codes of interest from mappings/."""

    def __init__(self, mappings: Mappings) -> None:
        self.m = mappings

    # -- routing (on raw JSON, before any validation) -------------------------------------------

    def valueset_matches(self, resource: Json) -> Mapping[str, tuple[Tier, Code]]:
        """The value sets a Condition's or Procedure's code falls in."""
        return self.m.valuesets.lookup_any(codings(resource.get("code")))

    def observation_items(self, resource: Json) -> list[tuple[Json, Code, tuple[str, str]]]:
        """(the part holding the value, the matched code, (kind, id)) for the Observation and its components."""
        found: list[tuple[Json, Code, tuple[str, str]]] = []
        hit = self._first_hit(resource.get("code"))
        if hit is not None:
            found.append((resource, *hit))
        components = resource.get("component") or []
        if not isinstance(components, list):
            raise Malformed
        for comp in components:
            if not isinstance(comp, dict):
                raise Malformed
            hit = self._first_hit(comp.get("code"))
            if hit is not None and not (found and found[0][2] == hit[1]):
                found.append((comp, *hit))
        return found

    def _first_hit(self, concept: object) -> tuple[Code, tuple[str, str]] | None:
        """The first coding of a CodeableConcept that mappings/ knows as an analyte or score.

        The hot path of reading a record (every Observation passes here): plain (system, code) tuples
        look up the table of Code named tuples without building any.
        """
        if concept is None:
            return None
        if not isinstance(concept, dict):
            raise Malformed
        table = self.m.observation_codes
        found = concept.get("coding") or []
        if not isinstance(found, list):
            raise Malformed
        for coding in found:
            if not isinstance(coding, dict):
                continue
            system, code = coding.get("system"), coding.get("code")
            if isinstance(system, str) and isinstance(code, str):
                hit = table.get((system, code))  # type: ignore[call-overload]
                if hit is not None:
                    return Code(system, code), hit
        return None

    def drugs_of(self, codes: tuple[Code, ...]) -> frozenset[str]:
        out: set[str] = set()
        for code in codes:
            out |= self.m.drug_codes.get(code, frozenset())
        return frozenset(out)

    def drugs_named(self, texts: list[str] | tuple[str, ...]) -> NameHit | None:
        """The drugs the texts name as whole words (mappings/ `names`): the safety net under the codes."""
        return self.m.drug_names.find(*texts)

    # -- distillation (on validated JSON) -------------------------------------------------------

    def patient(self, resource: Json, ref: str) -> PatientFact:
        gender = resource.get("gender")
        sex: Sex = gender if gender in ("male", "female", "other") else "unknown"
        deceased_date = PartialDate.parse(resource.get("deceasedDateTime"))
        deceased = bool(resource.get("deceasedBoolean")) or deceased_date is not None
        birth = PartialDate.parse(resource.get("birthDate"))
        return PatientFact(ref, birth, sex, deceased, deceased_date, retired(resource))

    def condition(
        self, resource: Json, ref: str, matches: Mapping[str, tuple[Tier, Code]], birth: PartialDate | None
    ) -> ConditionFact | None:
        verification = status_code(resource.get("verificationStatus"), CONDITION_VERIFICATION)
        if verification in _DROPPED_VERIFICATION:
            return None
        abated_at = _onset_like(resource, "abatement", birth)
        return ConditionFact(
            ref=ref,
            codes=codings(resource.get("code")),
            label=label(resource.get("code")),
            clinical_status=status_code(resource.get("clinicalStatus"), CONDITION_CLINICAL),
            verification_status=verification,
            onset=_onset_like(resource, "onset", birth),
            recorded=PartialDate.parse(resource.get("recordedDate")),
            abated=abated_at is not None or any(k.startswith("abatement") for k in resource),
            abatement=abated_at,
            matches=matches,
        )

    def observations(
        self, resource: Json, ref: str, items: list[tuple[Json, Code, tuple[str, str]]]
    ) -> list[ObservationFact]:
        status = resource.get("status")
        if status in _DROPPED_OBSERVATION:
            return []
        when, instant = observation_time(resource)
        out = []
        for part, code, (kind, item) in items:
            value_cc = part.get("valueCodeableConcept")
            value_text = part.get("valueString")
            if value_text is None and isinstance(value_cc, dict):
                value_text = value_cc.get("text")
            out.append(
                ObservationFact(
                    ref=ref,
                    kind="analyte" if kind == "analyte" else "score",
                    item=item,
                    code=code,
                    label=label(part.get("code")),
                    status=status if isinstance(status, str) else None,
                    when=when,
                    instant=instant,
                    quantity=self._value_quantity(part),
                    value_codes=codings(value_cc),
                    value_text=value_text if isinstance(value_text, str) else None,
                    interpretation=tuple(c for cc in _list(part.get("interpretation")) for c in codings(cc)),
                    ranges=self._ranges(part),
                    absent_reason=status_code(part.get("dataAbsentReason"), DATA_ABSENT_REASON)
                    or ("absent" if "dataAbsentReason" in part else None),
                    grades=_grades(part) if kind == "score" and self.m.scores[item].value == "grades" else (),
                    value_display=value_text if isinstance(value_text, str) else _display(value_cc),
                )
            )
        return out

    def medication(
        self,
        resource: Json,
        ref: str,
        codes: tuple[Code, ...],
        drugs: frozenset[str],
        name: str,
        *,
        named: NameHit | None = None,
    ) -> MedicationFact | None:
        status = resource.get("status")
        if status in _DROPPED_MEDICATION or resource.get("doNotPerform") is True:
            return None  # never given: a 'do not give' order is no exposure and no course
        rtype = resource["resourceType"]
        start, end, supply = _medication_period(resource)
        reason = resource.get("statusReason")
        if isinstance(reason, list):  # MedicationStatement/Administration: a list of CodeableConcepts
            reason = reason[0] if reason else None
        return MedicationFact(
            ref=ref,
            resource_type=rtype,
            drugs=drugs,
            codes=codes,
            label=name,
            status=status if isinstance(status, str) else None,
            intent=resource.get("intent"),
            start=start,
            end=end,
            supply_days=supply,
            status_reason=label(reason) if isinstance(reason, dict) else None,
            named=named.drugs if named else frozenset(),
            words=named.words if named else (),
        )

    def procedure(self, resource: Json, ref: str, matches: Mapping[str, tuple[Tier, Code]]) -> ProcedureFact | None:
        status = resource.get("status")
        if status in _DROPPED_PROCEDURE:
            return None
        start = PartialDate.parse(resource.get("performedDateTime"))
        end = start
        period = resource.get("performedPeriod")
        if isinstance(period, dict):
            start = PartialDate.parse(period.get("start"))
            end = PartialDate.parse(period.get("end")) or start
        codes = codings(resource.get("code"))
        drugs = self.drugs_of(codes)  # a product-specific code (ICD-10-PCS XW033J7, HCPCS Q2042) names its drug
        named = None if drugs or not matches else self.drugs_named(texts_of(resource.get("code")))
        return ProcedureFact(
            ref=ref,
            codes=codes,
            label=label(resource.get("code")),
            status=status if isinstance(status, str) else None,
            start=start,
            end=end,
            matches=matches,
            drugs=named.drugs if named else drugs,
            named=named.drugs if named else frozenset(),
            words=named.words if named else (),
        )

    # -- pieces ----------------------------------------------------------------------------------

    def _quantity(self, raw: object) -> Quantity | None:
        if not isinstance(raw, dict) or not _number(raw.get("value")):
            return None
        unit = resolve_unit(raw.get("code"), raw.get("unit"), raw.get("system"), self.m.unit_aliases)
        written = raw.get("unit") or raw.get("code")
        return Quantity(float(raw["value"]), unit, written if isinstance(written, str) else None, raw.get("comparator"))

    def _value_quantity(self, part: Json) -> Quantity | None:
        if "valueQuantity" in part:
            return self._quantity(part["valueQuantity"])
        if _number(part.get("valueInteger")):
            return Quantity(float(part["valueInteger"]), None, None)
        return None

    def _ranges(self, part: Json) -> tuple[RefRange, ...]:
        """Every referenceRange with an upper limit; which one applies is decided with the patient's sex and age."""
        out = []
        for rng in _list(part.get("referenceRange")):
            if "high" in rng:
                groups = _list(rng.get("appliesTo"))
                applies = frozenset(c for cc in groups for c in codings(cc))
                # a group named in words only; "" when it has neither code nor words
                texts = tuple(cc["text"] if isinstance(cc.get("text"), str) else "" for cc in groups if not codings(cc))
                age = rng.get("age")
                low, high, bad_age = _age_bounds(age) if isinstance(age, dict) else (None, None, "age" in rng)
                out.append(RefRange(self._quantity(rng["high"]), applies, texts, low, high, bad_age))
        return tuple(out)


#: an age of a reference range in years, by UCUM code
_AGE_YEARS = {"a": 1.0, "mo": 1 / 12, "wk": 7 / 365.25, "d": 1 / 365.25}


def _age_bounds(age: Json) -> tuple[float | None, float | None, bool]:
    """(low, high) of referenceRange.age in years, and whether a bound given could not be read."""
    out: list[float | None] = []
    unreadable = False
    for key in ("low", "high"):
        bound = age.get(key)
        if bound is None:
            out.append(None)
            continue
        per = _AGE_YEARS.get(str(bound.get("code"))) if isinstance(bound, dict) else None
        if per is None or not _number(bound.get("value")):
            unreadable = True
            out.append(None)
        else:
            out.append(float(bound["value"]) * per)
    return out[0], out[1], unreadable


def _onset_like(resource: Json, prefix: str, birth: PartialDate | None) -> PartialDate | None:
    """onset[x] / abatement[x] as calendar days: dateTime, Period, or an Age counted from the birth date."""
    if f"{prefix}DateTime" in resource:
        return PartialDate.parse(resource[f"{prefix}DateTime"])
    period = resource.get(f"{prefix}Period")
    if isinstance(period, dict):
        return PartialDate.parse(period.get("start") if prefix == "onset" else period.get("end") or period.get("start"))
    age = resource.get(f"{prefix}Age")
    if isinstance(age, dict) and _number(age.get("value")) and birth is not None:
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


def _medication_period(resource: Json) -> tuple[PartialDate | None, PartialDate | None, float | None]:
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
    for dosage in _list(resource.get("dosageInstruction")):
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
    if isinstance(duration, dict) and _number(duration.get("value")):
        per = _SUPPLY_DAYS.get(str(duration.get("code") or duration.get("unit") or "").lower())
        repeats = dispense.get("numberOfRepeatsAllowed", 0)
        if per is not None and duration["value"] >= 0 and isinstance(repeats, int) and repeats >= 0:
            supply = float(duration["value"]) * per * (1 + repeats)
            supply = supply if supply <= MAX_SUPPLY_DAYS else None  # a data error, not a prescription
    return start, end, supply


def _grades(part: Json) -> tuple[str, ...]:
    """BILAG-style grades (A-E), one per organ system from components, else from the value itself."""
    out: list[str] = []
    for comp in _list(part.get("component")):
        out.extend(_grades_in(comp))
    return tuple(out) if out else tuple(_grades_in(part))


def _grades_in(part: Json) -> Iterator[str]:
    texts: list[str] = []
    if isinstance(part.get("valueString"), str):
        texts.append(part["valueString"])
    cc = part.get("valueCodeableConcept")
    if isinstance(cc, dict):
        texts.extend(c.get("code", "") for c in _list(cc.get("coding")) if isinstance(c.get("code"), str))
        if not texts and isinstance(cc.get("text"), str):
            texts.append(cc["text"])
    for text in texts[:1]:
        for count, grade in _GRADE.findall(text):
            yield from [grade] * min(int(count) if count else 1, BILAG_SYSTEMS)


def _number(value: object) -> bool:
    """A JSON number (true and false are not numbers, though Python's bool is an int)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _display(concept: object) -> str | None:
    if not isinstance(concept, dict):
        return None
    text = label(concept)
    return None if text == "(uncoded)" else text


def _list(value: object) -> list[Json]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
