"""Routing by code, on raw JSON before any validation: which value sets, analytes, scores and drugs a resource names."""

from __future__ import annotations

from collections.abc import Mapping

from matcher.codes.model import Code, Mappings
from matcher.codes.names import NameHit
from matcher.codes.valuesets import Tier
from matcher.errors import Malformed
from matcher.fhir.concepts import Json, codings

#: (the part of an Observation holding the value, the matched code, (kind, id) of the analyte or score)
ObservationItem = tuple[Json, Code, tuple[str, str]]


class Router:
    """Knows the codes of interest from mappings/ and says which of them a resource carries."""

    def __init__(self, mappings: Mappings) -> None:
        self.m = mappings

    def valueset_matches(self, resource: Json) -> Mapping[str, tuple[Tier, Code]]:
        """The value sets a Condition's or Procedure's code falls in."""
        return self.m.valuesets.lookup_any(codings(resource.get("code")))

    def observation_items(self, resource: Json) -> list[ObservationItem]:
        """(the part holding the value, the matched code, (kind, id)) for the Observation and its components."""
        found: list[ObservationItem] = []
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
        """The drugs the codes of a medication (or of a procedure that names its product) stand for."""
        out: set[str] = set()
        for code in codes:
            out |= self.m.drug_codes.get(code, frozenset())
        return frozenset(out)

    def drugs_named(self, texts: list[str] | tuple[str, ...]) -> NameHit | None:
        """The drugs the texts name as whole words (mappings/ `names`): the safety net under the codes."""
        return self.m.drug_names.find(*texts)
