"""The candidate funnel: only patients with a Condition in one of the seven disease value sets are fetched.

The codes come from the same value sets the criteria read (mappings/), so the funnel and the
criteria cannot drift apart. Exact codes are searched as tokens; ICD-style prefixes (M32.1, which
must also find a clinical-edition M32.101) are either scanned (every Condition of that code system,
code and subject only, filtered here: works on any server) or searched with :below (for servers
whose terminology supports it). A Group narrows the candidates to its current members.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, Protocol

import orjson

from matcher.codes.model import Code, Mappings
from matcher.errors import InputError, Malformed
from matcher.fhir.client import Budget, FhirClient, query_chunks
from matcher.fhir.concepts import codings
from matcher.fhir.groups import current_members
from matcher.fhir.patients import LocalSource
from matcher.fhir.refs import target_id
from matcher.settings import Settings
from matcher.trial import NCT07161193

log = logging.getLogger("trialmatch.jobs")


class CandidateFinder(Protocol):
    async def candidates(self, group: str | None, as_of: date) -> tuple[set[str], int]:
        """Patient ids with one of the diseases, and the number of requests it took."""
        ...


def disease_valuesets() -> frozenset[str]:
    return frozenset(c.valueset for c in NCT07161193.cohorts)


def has_disease_code(condition: dict[str, Any], mappings: Mappings) -> bool:
    """Whether a Condition resource is coded with one of the seven diseases (any tier, any status)."""
    try:
        codes = codings(condition.get("code"))
    except Malformed:
        return False  # reading the patient's record will report the resource
    return bool(set(mappings.valuesets.lookup_any(codes)) & disease_valuesets())


@dataclass(frozen=True)
class FunnelOptions:
    """How the funnel searches: TRIALMATCH_FUNNEL_PREFIXES, _BUDGET, _DEADLINE and the FHIR page and URL sizes."""

    prefixes: Literal["scan", "below"]
    page_size: int
    max_url_length: int
    budget: int
    deadline: float  # seconds for the whole funnel

    @classmethod
    def from_settings(cls, settings: Settings) -> FunnelOptions:
        return cls(
            prefixes=settings.funnel_prefixes,
            page_size=settings.fhir_page_size,
            max_url_length=settings.fhir_max_url_length,
            budget=settings.funnel_budget,
            deadline=settings.funnel_deadline,
        )


class ServerFunnel:
    """Condition searches on a FHIR server, subject only."""

    def __init__(self, client: FhirClient, mappings: Mappings, options: FunnelOptions) -> None:
        self.client = client
        self.m = mappings
        self.options = options

    async def candidates(self, group: str | None, as_of: date) -> tuple[set[str], int]:
        budget = Budget(self.options.budget, self.client.clock() + self.options.deadline, "the candidate funnel")
        exact: list[Code] = []
        prefixes: list[Code] = []
        for vs in sorted(disease_valuesets()):
            codes, written = self.m.valuesets.members[vs]
            exact += codes
            prefixes += written
        found: set[str] = set()
        base = [("_elements", "subject"), ("_count", str(self.options.page_size))]
        for chunk in self._chunks("code", sorted({f"{c.system}|{c.code}" for c in exact}), base):
            found |= await self._subjects([("code", chunk), *base], budget)
        if self.options.prefixes == "below":
            for chunk in self._chunks("code:below", sorted({f"{c.system}|{c.code}" for c in prefixes}), base):
                found |= await self._subjects([("code:below", chunk), *base], budget)
        else:
            scan = [("_elements", "code,subject"), ("_count", str(self.options.page_size))]
            for system in sorted({c.system for c in prefixes}):
                found |= await self._subjects([("code", f"{system}|"), *scan], budget, check=True)
        if group is not None:
            found &= await self._members(group, as_of, budget)
        log.info("funnel: %d candidate patients in %d requests", len(found), budget.spent)
        return found, budget.spent

    def _chunks(self, name: str, values: list[str], others: list[tuple[str, str]]) -> list[str]:
        return query_chunks(self.client.url("Condition"), name, values, others, self.options.max_url_length)

    async def _subjects(self, params: list[tuple[str, str]], budget: Budget, *, check: bool = False) -> set[str]:
        """Patients of the Conditions a search returns (re-checked against the value sets when `check`)."""
        out: set[str] = set()
        async for entry in self.client.search("Condition", params, budget):
            resource = entry["resource"]
            if check and not has_disease_code(resource, self.m):
                continue
            pid = target_id(resource.get("subject"), "Patient")
            if pid:
                out.add(pid)
        return out

    async def _members(self, group: str, as_of: date, budget: Budget) -> set[str]:
        members = current_members(await self.client.read("Group", group, budget), group, as_of)
        if members is None:
            raise InputError(f"Group/{group} gives only its size, not its members: export it with --bulk")
        return members


class LocalFunnel:
    """The same question asked of the bundled fixtures (the embedded default)."""

    def __init__(self, source: LocalSource, mappings: Mappings) -> None:
        self.source = source
        self.m = mappings

    async def candidates(self, group: str | None, as_of: date) -> tuple[set[str], int]:
        if group is not None:
            raise InputError("--group needs a FHIR server (TRIALMATCH_FHIR_BASE_URL); the fixtures have no Groups")
        found = set()
        for pid, path in self.source.index().items():
            entries = orjson.loads(path.read_bytes()).get("entry") or []
            resources = (e.get("resource") or {} for e in entries if isinstance(e, dict))
            if any(r.get("resourceType") == "Condition" and has_disease_code(r, self.m) for r in resources):
                found.add(pid)
        return found, 0


def shard_of(patient_id: str, count: int) -> int:
    """A stable shard for a patient id (the same on every machine and run): CRC32 of the id, mod count."""
    return zlib.crc32(patient_id.encode()) % count


def in_shard(ids: Iterable[str], shard: tuple[int, int]) -> set[str]:
    index, count = shard
    return {pid for pid in ids if shard_of(pid, count) == index}
