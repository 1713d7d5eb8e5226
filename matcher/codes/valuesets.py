"""Value-set membership for conditions and procedures: exact codes and ICD-style prefixes, with tiers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from matcher.codes.model import Code

Tier = Literal["match", "review"]


def normalise_prefix_code(code: str) -> str:
    """ICD codes are compared without dots, spaces or case: 'm32.101' and 'M32101' are the same."""
    return code.replace(".", "").replace(" ", "").upper()


@dataclass(frozen=True, slots=True)
class Membership:
    valueset: str
    tier: Tier


class ValueSetIndex:
    """Answers 'which value sets hold this code, and how firmly' in O(length of the code)."""

    def __init__(self) -> None:
        self._exact: dict[Code, list[Membership]] = {}
        self._prefix: dict[Code, list[Membership]] = {}
        self._excluded_exact: dict[Code, set[str]] = {}
        self._excluded_prefix: dict[Code, set[str]] = {}
        self._prefix_systems: set[str] = set()
        self.titles: dict[str, str] = {}
        #: value set -> (exact codes, prefixes as written), for searching a server by code
        self.members: dict[str, tuple[list[Code], list[Code]]] = {}

    def add(
        self, valueset: str, systems: Iterable[str], codes: Iterable[str], prefixes: Iterable[str], tier: Tier
    ) -> None:
        member = Membership(valueset, tier)
        codes, prefixes = list(codes), list(prefixes)
        exact, written = self.members.setdefault(valueset, ([], []))
        for system in systems:
            for code in codes:
                self._exact.setdefault(Code(system, code), []).append(member)
                exact.append(Code(system, code))
            for prefix in prefixes:
                self._prefix_systems.add(system)
                self._prefix.setdefault(Code(system, normalise_prefix_code(prefix)), []).append(member)
                written.append(Code(system, prefix))

    def exclude(self, valueset: str, systems: Iterable[str], codes: Iterable[str], prefixes: Iterable[str]) -> None:
        codes, prefixes = list(codes), list(prefixes)
        for system in systems:
            for code in codes:
                self._excluded_exact.setdefault(Code(system, code), set()).add(valueset)
            for prefix in prefixes:
                self._prefix_systems.add(system)
                self._excluded_prefix.setdefault(Code(system, normalise_prefix_code(prefix)), set()).add(valueset)

    def lookup(self, code: Code) -> list[Membership]:
        """Every value set holding `code`; a 'match' tier wins over 'review' within one value set."""
        found: dict[str, Tier] = {}
        excluded: set[str] = set(self._excluded_exact.get(code, ()))
        for member in self._exact.get(code, ()):
            _keep(found, member)
        if code.system in self._prefix_systems:
            norm = normalise_prefix_code(code.code)
            for end in range(1, len(norm) + 1):
                key = Code(code.system, norm[:end])
                for member in self._prefix.get(key, ()):
                    _keep(found, member)
                excluded |= self._excluded_prefix.get(key, set())
        return [Membership(vs, tier) for vs, tier in found.items() if vs not in excluded]

    def lookup_any(self, codes: Iterable[Code]) -> dict[str, tuple[Tier, Code]]:
        """Value sets matched by any of `codes` (a CodeableConcept), with the tier and the code that matched."""
        out: dict[str, tuple[Tier, Code]] = {}
        for code in codes:
            for member in self.lookup(code):
                if member.valueset not in out or (member.tier == "match" and out[member.valueset][0] == "review"):
                    out[member.valueset] = (member.tier, code)
        return out

    def __contains__(self, valueset: str) -> bool:
        return valueset in self.titles


def _keep(found: dict[str, Tier], member: Membership) -> None:
    if found.get(member.valueset) != "match":
        found[member.valueset] = member.tier
