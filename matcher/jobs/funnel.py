"""The candidate funnel: only patients with a Condition in one of the seven disease value sets are fetched.

The codes come from the same value sets the criteria read (mappings/), so the funnel and the
criteria cannot drift apart. Exact codes are searched as tokens; ICD-style prefixes (M32.1, which
must also find a clinical-edition M32.101) are either scanned (every Condition of that code system,
code and subject only, filtered here: works on any server) or searched with :below (for servers
whose terminology supports it). A Group narrows the candidates to its members.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson

from matcher.codes.loader import Mappings
from matcher.codes.model import Code
from matcher.errors import InputError
from matcher.fhir.client import Budget, FhirClient
from matcher.fhir.fetch import chunk_codes
from matcher.fhir.source import LocalSource
from matcher.trial import NCT07161193

log = logging.getLogger("trialmatch.jobs")


class CandidateFinder(Protocol):
    async def candidates(self, group: str | None) -> tuple[set[str], int]:
        """Patient ids with one of the diseases, and the number of requests it took."""
        ...


def disease_valuesets() -> list[str]:
    return [c.valueset for c in NCT07161193.cohorts]


@dataclass
class FunnelOptions:
    prefixes: Literal["scan", "below"] = "scan"
    page_size: int = 1000
    max_url_length: int = 4000
    budget: int = 100_000


class ServerFunnel:
    """Condition searches on a FHIR server, subject only."""

    def __init__(self, client: FhirClient, mappings: Mappings, options: FunnelOptions | None = None) -> None:
        self.client = client
        self.m = mappings
        self.options = options or FunnelOptions()
        self.valuesets = set(disease_valuesets())

    async def candidates(self, group: str | None) -> tuple[set[str], int]:
        budget = Budget(self.options.budget, what="the candidate funnel")
        exact: list[Code] = []
        prefixes: list[Code] = []
        for vs in sorted(self.valuesets):
            codes, written = self.m.valuesets.members[vs]
            exact += codes
            prefixes += written
        found: set[str] = set()
        tokens = sorted({f"{c.system}|{c.code}" for c in exact})
        for chunk in chunk_codes(tokens, self.options.max_url_length - 200):
            found |= await self._subjects([("code", ",".join(chunk)), ("_elements", "subject")], budget)
        if self.options.prefixes == "below":
            below = sorted({f"{c.system}|{c.code}" for c in prefixes})
            for chunk in chunk_codes(below, self.options.max_url_length - 200):
                found |= await self._subjects([("code:below", ",".join(chunk)), ("_elements", "subject")], budget)
        else:
            for system in sorted({c.system for c in prefixes}):
                found |= await self._subjects(
                    [("code", f"{system}|"), ("_elements", "code,subject")], budget, check=True
                )
        if group is not None:
            found &= await self._members(group, budget)
        log.info("funnel: %d candidate patients in %d requests", len(found), budget.spent)
        return found, budget.spent

    async def _subjects(self, params: list[tuple[str, str]], budget: Budget, *, check: bool = False) -> set[str]:
        """Patients of the Conditions a search returns (re-checked against the value sets when `check`)."""
        out: set[str] = set()
        query = [*params, ("_count", str(self.options.page_size))]
        async for entry in self.client.search("Condition", query, budget):
            resource = entry["resource"]
            if check and not self._in_valuesets(resource):
                continue
            pid = _patient_id(resource.get("subject"))
            if pid:
                out.add(pid)
        return out

    def _in_valuesets(self, condition: dict[str, Any]) -> bool:
        codings = (condition.get("code") or {}).get("coding") or []
        codes = [
            Code(c["system"], c["code"])
            for c in codings
            if isinstance(c, dict) and isinstance(c.get("system"), str) and isinstance(c.get("code"), str)
        ]
        return bool(set(self.m.valuesets.lookup_any(codes)) & self.valuesets)

    async def _members(self, group: str, budget: Budget) -> set[str]:
        resource = await self.client.read("Group", group, budget)
        if resource is None:
            raise InputError(f"Group/{group} not found on the FHIR server")
        members = group_members(resource)
        if not members:
            raise InputError(f"Group/{group} has no Patient members: refusing to match everyone instead")
        return members


def group_members(group: dict[str, Any]) -> set[str]:
    return {pid for m in group.get("member", []) or [] if (pid := _patient_id((m or {}).get("entity")))}


def _patient_id(reference: object) -> str | None:
    target = reference.get("reference") if isinstance(reference, dict) else None
    if isinstance(target, str) and "Patient/" in target:
        return target.rsplit("Patient/", 1)[1].split("/")[0]
    return None


class LocalFunnel:
    """The same question asked of the bundled fixtures (the embedded default)."""

    def __init__(self, source: LocalSource, mappings: Mappings) -> None:
        self.source = source
        self.m = mappings
        self.valuesets = set(disease_valuesets())

    async def candidates(self, group: str | None) -> tuple[set[str], int]:
        if group is not None:
            raise InputError("--group needs a FHIR server (TRIALMATCH_FHIR_BASE_URL); the fixtures have no Groups")
        found = set()
        for pid, path in self.source.index().items():
            if self._has_disease(orjson.loads(path.read_bytes())):
                found.add(pid)
        return found, 0

    def _has_disease(self, bundle: dict[str, Any]) -> bool:
        for entry in bundle.get("entry", []):
            resource = entry.get("resource") or {}
            if resource.get("resourceType") == "Condition":
                codings = (resource.get("code") or {}).get("coding") or []
                codes = [Code(c["system"], c["code"]) for c in codings if "system" in c and "code" in c]
                if set(self.m.valuesets.lookup_any(codes)) & self.valuesets:
                    return True
        return False


def shard_of(patient_id: str, count: int) -> int:
    """A stable shard for a patient id (the same on every machine and run): CRC32 of the id, mod count."""
    return zlib.crc32(patient_id.encode()) % count


def in_shard(ids: Iterable[str], shard: tuple[int, int]) -> set[str]:
    index, count = shard
    return {pid for pid in ids if shard_of(pid, count) == index}
