"""RecordAssembler: gathers one patient's resources, routes, validates and distils them into a PatientRecord."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time

from matcher.codes.model import Code, Mappings
from matcher.codes.valuesets import Tier
from matcher.criteria.horizon import horizon
from matcher.errors import InvalidResourceError, Malformed
from matcher.fhir.concepts import Json, codings, label, texts_of
from matcher.fhir.dates import observation_time
from matcher.fhir.distil import Distiller
from matcher.fhir.refs import reference_of, target_id
from matcher.fhir.route import ObservationItem, Router
from matcher.fhir.validate import validate
from matcher.record import (
    ConditionFact,
    MedicationFact,
    ObservationFact,
    PatientRecord,
    ProcedureFact,
)

_MEDICATION_USES = ("MedicationStatement", "MedicationRequest", "MedicationAdministration")
#: the resource types routed to criteria; each names its patient in `subject`
_ROUTED = frozenset({*_MEDICATION_USES, "Condition", "Observation", "Procedure"})


class MedicationIndex:
    """Medication resources by every key a reference may use: 'Medication/id' and fullUrl."""

    def __init__(self) -> None:
        self._by_key: dict[str, Json] = {}

    def add(self, resource: Json, full_url: str | None = None) -> None:
        rid = resource.get("id")
        if isinstance(rid, str):
            self._by_key[f"Medication/{rid}"] = resource
        if full_url:
            self._by_key[full_url] = resource

    def __contains__(self, medication_id: str) -> bool:
        return f"Medication/{medication_id}" in self._by_key

    def get(self, reference: str) -> Json | None:
        found = self._by_key.get(reference)
        if found is None:  # an absolute URL or a versioned reference
            mid = target_id(reference, "Medication")
            found = self._by_key.get(f"Medication/{mid}") if mid else None
        return found


class RecordAssembler:
    """Collects the resources of one patient; `build()` returns the PatientRecord.

    Routing happens on the raw JSON, so the bulk of a real record (claims, encounters, immunisations,
    vital signs nobody asks about) is dropped without being validated. What is kept is validated with
    fhir.resources: an invalid resource that a criterion would read raises InvalidResourceError.

    Given `as_of`, results no criterion reads on that day are not kept either: those dated after it,
    and those older than the longest window their criterion looks back (only the newest of them is
    kept, so a reason can still say "the latest ALT is older than the window").
    """

    def __init__(
        self, mappings: Mappings, medications: MedicationIndex | None = None, as_of: date | None = None
    ) -> None:
        self.as_of = as_of
        self._since = horizon(mappings, as_of) if as_of is not None else {}
        self._stale: dict[str, tuple[date, Json, str, ObservationItem]] = {}
        self.router = Router(mappings)
        self.distiller = Distiller(mappings, self.router)
        self.medications = medications or MedicationIndex()
        self.patient: Json | None = None
        self.patient_ref = ""
        self._identities: set[str] = set()
        self._conditions: list[tuple[Json, str, Mapping[str, tuple[Tier, Code]]]] = []
        self._observations: list[ObservationFact] = []
        self._med_uses: list[tuple[Json, str]] = []
        self._procedures: list[tuple[Json, str, Mapping[str, tuple[Tier, Code]]]] = []
        self._skipped: list[str] = []
        self._unidentified: list[str] = []

    def set_patient(self, resource: Json, full_url: str | None = None) -> None:
        ref = reference_of(resource, full_url or "Patient/(no id)")
        validate(resource, ref)
        self.patient, self.patient_ref = resource, ref
        self._identities = {ref}
        if full_url:
            self._identities.add(full_url)

    def add(self, resource: Json, full_url: str | None = None, fallback_ref: str = "") -> None:
        """Route one resource of this patient (anything but Patient and Medication)."""
        rtype = resource.get("resourceType")
        if rtype not in _ROUTED:
            return
        ref = reference_of(resource, full_url if full_url and "/" in full_url else fallback_ref or f"{rtype}/(no id)")
        if not self._belongs(resource, ref):
            return
        try:
            self._route(resource, rtype, ref)
        except Malformed:
            validate(resource, ref)  # raises with the precise element; if it passes, routing found nothing
            raise InvalidResourceError("unreadable code", reference=ref) from None

    def _route(self, resource: Json, rtype: str, ref: str) -> None:
        if rtype == "Condition":
            matches = self.router.valueset_matches(resource)
            if matches:
                validate(resource, ref)
                self._conditions.append((resource, ref, matches))
        elif rtype == "Observation":
            items = self._read_today(resource, ref, self.router.observation_items(resource))
            if items:
                validate(resource, ref)
                self._observations.extend(self.distiller.observations(resource, ref, items))
        elif rtype == "Procedure":
            matches = self.router.valueset_matches(resource)
            # a code that names a drug (a CAR-T product) is kept too, whether or not a value set holds it
            if matches or self.router.drugs_of(codings(resource.get("code"))):
                validate(resource, ref)
                self._procedures.append((resource, ref, matches))
        elif rtype in _MEDICATION_USES:
            # the Medication it points to may come later in the stream: decided in build()
            self._med_uses.append((resource, ref))

    def _read_today(self, resource: Json, ref: str, items: list[ObservationItem]) -> list[ObservationItem]:
        """The items of an Observation some criterion reads as of as_of; the newest older one is set aside."""
        if self.as_of is None or not items:
            return items
        when, _ = observation_time(resource)
        if when is None:
            return items  # undated: read, so that the reason can say it has no date
        if when.lo > self.as_of:
            return []
        kept = []
        for item in items:
            since = self._since.get(item[2][1])
            if since is None or when.lo >= since:
                kept.append(item)
            elif item[2][1] not in self._stale or self._stale[item[2][1]][0] < when.lo:
                self._stale[item[2][1]] = (when.lo, resource, ref, item)
        return kept

    def _belongs(self, resource: Json, ref: str) -> bool:
        """False (and noted) for a resource about someone else; streams group by subject before this."""
        subject = resource.get("subject")
        target = subject.get("reference") if isinstance(subject, dict) else None
        if not isinstance(target, str) or not self._identities:
            return True
        pid = self.patient.get("id") if self.patient else None
        if target in self._identities or (
            isinstance(pid, str) and (target_id(target, "Patient") == pid or target == f"urn:uuid:{pid}")
        ):
            return True
        self._skipped.append(f"{ref}: refers to another subject")
        return False

    def medication_references(self) -> set[str]:
        """Ids of the Medication resources this patient's medication uses point to (contained ones aside)."""
        out = set()
        for resource, _ in self._med_uses:
            mid = target_id(resource.get("medicationReference"), "Medication")
            if mid:
                out.add(mid)
        return out

    def build(self) -> PatientRecord:
        if self.patient is None:
            raise InvalidResourceError("no Patient resource", reference="Patient/(missing)")
        patient = self.distiller.patient(self.patient, self.patient_ref)
        conditions: list[ConditionFact] = []
        for resource, ref, matches in self._conditions:
            fact = self.distiller.condition(resource, ref, matches, patient.birth_date)
            if fact is not None:
                conditions.append(fact)
        procedures: list[ProcedureFact] = []
        for resource, ref, matches in self._procedures:
            proc = self.distiller.procedure(resource, ref, matches)
            if proc is not None:
                procedures.append(proc)
        for _, resource, ref, item in self._stale.values():
            validate(resource, ref)
            self._observations.extend(self.distiller.observations(resource, ref, [item]))
        self._stale.clear()
        observations: dict[str, list[ObservationFact]] = {}
        for obs in self._observations:
            observations.setdefault(obs.item, []).append(obs)
        return PatientRecord(
            patient=patient,
            conditions=tuple(conditions),
            observations={k: tuple(sorted(v, key=_newest_first)) for k, v in observations.items()},
            medications=tuple(self._medications()),
            procedures=tuple(procedures),
            skipped=tuple(self._skipped),
            unidentified_medications=tuple(self._unidentified),
        )

    def _medications(self) -> list[MedicationFact]:
        out: list[MedicationFact] = []
        checked: set[int] = set()  # a Medication many uses share is validated once
        for resource, ref in self._med_uses:
            codes, name, medication, texts = self._medication_codes(resource, ref)
            drugs = self.router.drugs_of(codes)
            named = None
            if not drugs:  # no code is known: the safety net, a drug named in the text
                named = self.router.drugs_named(texts)
                if named is None:
                    continue
                drugs = named.drugs
            validate(resource, ref)
            if medication is not None and id(medication) not in checked:
                validate(medication, reference_of(medication, f"{ref}#medication"))
                checked.add(id(medication))
            fact = self.distiller.medication(resource, ref, codes, drugs, name, named=named)
            if fact is not None:
                out.append(fact)
        return out

    def _medication_codes(self, resource: Json, ref: str) -> tuple[tuple[Code, ...], str, Json | None, list[str]]:
        """Codes of the drug a medication use names: inline, or from the Medication it references; and the
        words that name it (texts, displays, ingredient names), for when no code is known."""
        medication: Json | None = None
        try:
            if "medicationCodeableConcept" in resource:
                concept = resource["medicationCodeableConcept"]
                return codings(concept), label(concept), None, texts_of(concept)
            reference = resource.get("medicationReference") or {}
            target = reference.get("reference")
            shown = reference.get("display")
            texts = [shown] if isinstance(shown, str) else []
            medication = self._resolve(resource, target) if isinstance(target, str) else None
            if medication is None:
                if isinstance(target, str) and self.router.drugs_named(texts) is None:
                    validate(resource, ref)  # the criteria will read it as an unidentified medication
                    self._skipped.append(f"{ref}: medication {target} not found")
                    self._unidentified.append(ref)
                return (), shown if isinstance(shown, str) and shown else "(unknown medication)", None, texts
            codes = list(codings(medication.get("code")))
            texts.extend(texts_of(medication.get("code")))
            for ingredient in medication.get("ingredient", []) or []:
                if isinstance(ingredient, dict):
                    codes.extend(codings(ingredient.get("itemCodeableConcept")))
                    texts.extend(texts_of(ingredient.get("itemCodeableConcept")))
                    item = ingredient.get("itemReference")
                    if isinstance(item, dict) and isinstance(item.get("display"), str):
                        texts.append(item["display"])
            name = label(medication.get("code"))
            if name == "(uncoded)" and isinstance(shown, str) and shown:
                name = shown
            return tuple(dict.fromkeys(codes)), name, medication, texts
        except (Malformed, AttributeError, TypeError):
            validate(resource, ref)
            if medication is not None:
                validate(medication, reference_of(medication, f"{ref}#medication"))
            raise InvalidResourceError("unreadable medication", reference=ref) from None

    def _resolve(self, resource: Json, target: str) -> Json | None:
        if target.startswith("#"):
            found = resource.get("contained")
            for contained in found if isinstance(found, list) else ():
                if (
                    isinstance(contained, dict)
                    and contained.get("resourceType") == "Medication"
                    and contained.get("id") == target[1:]
                ):
                    return contained
            return None
        return self.medications.get(target)


def _newest_first(obs: ObservationFact) -> tuple[int, float]:
    """Newest first, by the instant when there is one (time zones included), else by the latest possible day."""
    if obs.when is None:
        return (1, 0.0)
    if obs.instant is not None and obs.instant.tzinfo is not None:
        return (0, -obs.instant.timestamp())
    return (0, -datetime.combine(obs.when.hi, time(12), tzinfo=UTC).timestamp())
