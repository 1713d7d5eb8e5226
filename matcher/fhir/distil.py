"""Distillation: the facts criteria read (PatientRecord's parts), built from routed and validated FHIR resources."""

from __future__ import annotations

from collections.abc import Mapping

from matcher.codes.model import Code, Mappings, Sex
from matcher.codes.names import NameHit
from matcher.codes.units import resolve_unit
from matcher.codes.valuesets import Tier
from matcher.fhir.bilag import grades
from matcher.fhir.concepts import Json, codings, dicts_in, display, is_number, label, status_code, texts_of
from matcher.fhir.dates import age_bounds, medication_period, observation_time, onset_like
from matcher.fhir.identity import display_name, identifiers
from matcher.fhir.refs import retired
from matcher.fhir.route import ObservationItem, Router
from matcher.record import (
    ConditionFact,
    MedicationFact,
    ObservationFact,
    PartialDate,
    PatientFact,
    ProcedureFact,
    Quantity,
    RefRange,
)

CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"

#: statuses under which a resource never counts (and is dropped while reading)
_DROPPED_OBSERVATION = frozenset({"entered-in-error", "cancelled"})
_DROPPED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
_DROPPED_MEDICATION = frozenset({"entered-in-error"})
_DROPPED_PROCEDURE = frozenset({"entered-in-error", "not-done"})


class Distiller:
    """Turns routed, validated resources into facts; the router recognises the drugs a procedure names."""

    def __init__(self, mappings: Mappings, router: Router) -> None:
        self.m = mappings
        self.router = router

    def patient(self, resource: Json, ref: str) -> PatientFact:
        gender = resource.get("gender")
        sex: Sex = gender if gender in ("male", "female", "other") else "unknown"
        deceased_date = PartialDate.parse(resource.get("deceasedDateTime"))
        deceased = bool(resource.get("deceasedBoolean")) or deceased_date is not None
        birth = PartialDate.parse(resource.get("birthDate"))
        return PatientFact(
            ref, birth, sex, deceased, deceased_date, retired(resource), display_name(resource), identifiers(resource)
        )

    def condition(
        self, resource: Json, ref: str, matches: Mapping[str, tuple[Tier, Code]], birth: PartialDate | None
    ) -> ConditionFact | None:
        verification = status_code(resource.get("verificationStatus"), CONDITION_VERIFICATION)
        if verification in _DROPPED_VERIFICATION:
            return None
        abated_at = onset_like(resource, "abatement", birth)
        return ConditionFact(
            ref=ref,
            codes=codings(resource.get("code")),
            label=label(resource.get("code")),
            clinical_status=status_code(resource.get("clinicalStatus"), CONDITION_CLINICAL),
            verification_status=verification,
            onset=onset_like(resource, "onset", birth),
            recorded=PartialDate.parse(resource.get("recordedDate")),
            abated=abated_at is not None or any(k.startswith("abatement") for k in resource),
            abatement=abated_at,
            matches=matches,
        )

    def observations(self, resource: Json, ref: str, items: list[ObservationItem]) -> list[ObservationFact]:
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
                    interpretation=tuple(c for cc in dicts_in(part.get("interpretation")) for c in codings(cc)),
                    ranges=self._ranges(part),
                    absent_reason=status_code(part.get("dataAbsentReason"), DATA_ABSENT_REASON)
                    or ("absent" if "dataAbsentReason" in part else None),
                    grades=grades(part) if kind == "score" and self.m.scores[item].value == "grades" else (),
                    value_display=value_text if isinstance(value_text, str) else display(value_cc),
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
        start, end, supply = medication_period(resource)
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
        drugs = self.router.drugs_of(codes)  # a product-specific code (ICD-10-PCS XW033J7, HCPCS Q2042) names its drug
        named = None if drugs or not matches else self.router.drugs_named(texts_of(resource.get("code")))
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
        if not isinstance(raw, dict) or not is_number(raw.get("value")):
            return None
        unit = resolve_unit(raw.get("code"), raw.get("unit"), raw.get("system"), self.m.unit_aliases)
        written = raw.get("unit") or raw.get("code")
        return Quantity(float(raw["value"]), unit, written if isinstance(written, str) else None, raw.get("comparator"))

    def _value_quantity(self, part: Json) -> Quantity | None:
        if "valueQuantity" in part:
            return self._quantity(part["valueQuantity"])
        if is_number(part.get("valueInteger")):
            return Quantity(float(part["valueInteger"]), None, None)
        return None

    def _ranges(self, part: Json) -> tuple[RefRange, ...]:
        """Every referenceRange with an upper limit; which one applies is decided with the patient's sex and age."""
        out = []
        for rng in dicts_in(part.get("referenceRange")):
            if "high" in rng:
                groups = dicts_in(rng.get("appliesTo"))
                applies = frozenset(c for cc in groups for c in codings(cc))
                # a group named in words only; "" when it has neither code nor words
                texts = tuple(cc["text"] if isinstance(cc.get("text"), str) else "" for cc in groups if not codings(cc))
                age = rng.get("age")
                low, high, bad_age = age_bounds(age) if isinstance(age, dict) else (None, None, "age" in rng)
                out.append(RefRange(self._quantity(rng["high"]), applies, texts, low, high, bad_age))
        return tuple(out)
