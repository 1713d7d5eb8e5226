"""Everything the criteria read about one patient, from a FHIR server, in as few requests as the server allows."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Literal

from matcher.codes.model import Mappings
from matcher.errors import PatientNotFoundError, UpstreamError
from matcher.fhir.client import Budget, FhirClient, query_chunks
from matcher.fhir.refs import logical_id, target_id
from matcher.fhir.validate import READ_TYPES
from matcher.settings import Settings

log = logging.getLogger("trialmatch.fhir")

#: the searches the criteria need, besides Patient itself; medication uses bring their Medication along
SEARCHES: tuple[tuple[str, str | None], ...] = (
    ("Condition", None),
    ("Observation", None),
    ("MedicationStatement", "MedicationStatement:medication"),
    ("MedicationRequest", "MedicationRequest:medication"),
    ("MedicationAdministration", "MedicationAdministration:medication"),
    ("Procedure", None),
)


@dataclass
class Fetched:
    """One patient's resources as the server gave them, and what it cost."""

    patient_id: str
    resources: list[dict[str, Any]]
    requests: int
    cached: bool = False
    method: Literal["everything", "search", "local"] = "search"
    #: the Bundle as stored, when the source holds one (keeps its fullUrls for urn:uuid references)
    original: dict[str, Any] | None = None

    def patient(self) -> dict[str, Any] | None:
        """The Patient resource among the resources (the first, if a server sent several)."""
        return next((r for r in self.resources if isinstance(r, dict) and r.get("resourceType") == "Patient"), None)

    def bundle(self) -> dict[str, Any]:
        if self.original is not None:
            return self.original
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in self.resources],
        }


@dataclass(frozen=True)
class FetchOptions:
    """How one patient is fetched: the TRIALMATCH_FHIR_* settings of the same names say what each means."""

    concurrency: int
    page_size: int
    everything: Literal["auto", "always", "never"]
    max_url_length: int
    budget: int
    deadline: float  # seconds for one patient, retries included

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchOptions:
        return cls(
            concurrency=settings.fhir_concurrency,
            page_size=settings.fhir_page_size,
            everything=settings.fhir_everything,
            max_url_length=settings.fhir_max_url_length,
            budget=settings.fhir_request_budget,
            deadline=settings.fhir_deadline,
        )


class PatientFetcher:
    """Fetches one patient: Patient/$everything when offered, else a handful of parallel searches."""

    def __init__(self, client: FhirClient, mappings: Mappings, options: FetchOptions) -> None:
        self.client = client
        self.options = options
        self.observation_codes = sorted({code.code for code in mappings.observation_codes})
        #: 'patient=123' or 'patient=Patient/123': learnt from the first search the server refuses
        self.patient_style: Literal["id", "reference"] = "id"

    async def fetch(self, patient_id: str) -> Fetched:
        logical_id(patient_id)  # before anything is sent: an id such as '..' would change the URL's path
        budget = Budget(self.options.budget, self.client.clock() + self.options.deadline, f"Patient/{patient_id}")
        caps = await self.client.capabilities(budget)
        if self._use_everything(caps):
            try:
                resources = await self._everything(patient_id, budget)
                seen = {(r.get("resourceType"), r.get("id")) for r in resources}
                resources += await self._missing_medications(resources, seen, budget)
                return Fetched(patient_id, resources, budget.spent, method="everything")
            except UpstreamError as exc:
                if self.options.everything == "always" or exc.status not in (400, 403, 405, 501):
                    raise
                log.info("Patient/$everything refused (%s); falling back to searches", exc.status)
        resources = await self._searches(patient_id, budget, caps)
        return Fetched(patient_id, resources, budget.spent, method="search")

    def _use_everything(self, caps: dict[str, Any]) -> bool:
        if self.options.everything != "auto":
            return self.options.everything == "always"
        return "everything" in _operations(caps, "Patient")

    async def _everything(self, patient_id: str, budget: Budget) -> list[dict[str, Any]]:
        path = f"Patient/{patient_id}/$everything"
        try:
            # only the types the criteria read (servers that ignore _type send more; it is dropped on reading)
            query = {"_count": str(self.options.page_size), "_type": ",".join(READ_TYPES)}
            resources = [e["resource"] async for e in self.client.search(path, query, budget)]
        except UpstreamError as exc:
            if exc.status in (404, 410):
                raise PatientNotFoundError(patient_id) from None
            raise
        # $everything may bring other patients (links); only this one's Patient is kept
        kept = [r for r in resources if r.get("resourceType") != "Patient" or r.get("id") == patient_id]
        if not any(r.get("resourceType") == "Patient" for r in kept):
            raise PatientNotFoundError(patient_id)
        return kept

    async def _searches(self, patient_id: str, budget: Budget, caps: dict[str, Any]) -> list[dict[str, Any]]:
        patient = await self.client.read("Patient", patient_id, budget)
        if patient is None:
            raise PatientNotFoundError(patient_id)
        supported = _resource_types(caps)
        gate = asyncio.Semaphore(self.options.concurrency)
        jobs = [
            self._search(rtype, params, patient_id, budget, gate)
            for rtype, include in SEARCHES
            if supported is None or rtype in supported
            for params in self._queries(rtype, include, caps)
        ]
        found: list[dict[str, Any]] = [patient]
        seen: set[tuple[Any, Any]] = {("Patient", patient_id)}
        for batch in await asyncio.gather(*jobs):
            for resource in batch:
                key = (resource.get("resourceType"), resource.get("id"))
                if key not in seen:
                    seen.add(key)
                    found.append(resource)
        found.extend(await self._missing_medications(found, seen, budget))
        return found

    def _queries(self, rtype: str, include: str | None, caps: dict[str, Any]) -> list[list[tuple[str, str]]]:
        base = [("_count", str(self.options.page_size))]
        if include and include in _includes(caps, rtype, default=include):
            base.append(("_include", include))
        if rtype != "Observation":
            return [base]
        # only the codes the criteria read: by code alone (every system), filtered exactly on our side.
        # combo-code also finds a QTc inside an ECG panel's components; without it, a second search
        # by component-code does
        supported = _search_params(caps, "Observation")
        params = ["combo-code"] if "combo-code" in supported else ["code", "component-code"]
        # the patient parameter is added per search: leave room for it
        others = [*base, ("patient", "Patient/" + "x" * 64)]
        return [
            [*base, (param, chunk)]
            for param in params
            for chunk in query_chunks(
                self.client.url("Observation"), param, self.observation_codes, others, self.options.max_url_length
            )
        ]

    async def _search(
        self, rtype: str, params: list[tuple[str, str]], patient_id: str, budget: Budget, gate: asyncio.Semaphore
    ) -> list[dict[str, Any]]:
        async with gate:
            style = self.patient_style
            try:
                return await self._collect(rtype, params, patient_id, style, budget)
            except UpstreamError as exc:
                if exc.status != 400 or style == "reference":
                    raise
                log.info("%s search refused patient=<id>; trying patient=Patient/<id>", rtype)
                found = await self._collect(rtype, params, patient_id, "reference", budget)
                self.patient_style = "reference"  # learnt only once the other form has worked
                return found

    async def _collect(
        self,
        rtype: str,
        params: list[tuple[str, str]],
        patient_id: str,
        style: Literal["id", "reference"],
        budget: Budget,
    ) -> list[dict[str, Any]]:
        target = patient_id if style == "id" else f"Patient/{patient_id}"
        return [e["resource"] async for e in self.client.search(rtype, [("patient", target), *params], budget)]

    async def _missing_medications(
        self, found: list[dict[str, Any]], seen: set[tuple[Any, Any]], budget: Budget
    ) -> list[dict[str, Any]]:
        """Medications a use refers to that the server did not include: read them one by one."""
        wanted = {mid for r in found if (mid := target_id(r.get("medicationReference"), "Medication"))}
        out = []
        for mid in sorted(wanted):
            if ("Medication", mid) not in seen:
                medication = await self.client.read("Medication", mid, budget)
                if medication is not None:
                    out.append(medication)
        return out


def _rest(caps: dict[str, Any]) -> dict[str, Any]:
    for rest in caps.get("rest", []) or []:
        if isinstance(rest, dict) and rest.get("mode", "server") == "server":
            return rest
    return {}


def _resource_entry(caps: dict[str, Any], rtype: str) -> dict[str, Any]:
    for res in _rest(caps).get("resource", []) or []:
        if isinstance(res, dict) and res.get("type") == rtype:
            return res
    return {}


def _resource_types(caps: dict[str, Any]) -> set[str] | None:
    """Types the server says it serves; None when it does not say (then all are tried)."""
    listed = {r.get("type") for r in _rest(caps).get("resource", []) or [] if isinstance(r, dict)}
    return {t for t in listed if isinstance(t, str)} or None


def _operations(caps: dict[str, Any], rtype: str) -> set[str]:
    ops = [*(_resource_entry(caps, rtype).get("operation") or []), *(_rest(caps).get("operation") or [])]
    return {str(op.get("name", "")).lstrip("$") for op in ops if isinstance(op, dict)}


def _search_params(caps: dict[str, Any], rtype: str) -> set[str]:
    params = _resource_entry(caps, rtype).get("searchParam", []) or []
    return {str(p.get("name")) for p in params if isinstance(p, dict)}


def _includes(caps: dict[str, Any], rtype: str, default: str) -> set[str]:
    entry = _resource_entry(caps, rtype)
    if not entry:
        return {default}  # the server does not say: ask, and read what is missing afterwards
    listed = set(entry.get("searchInclude") or [])
    return {default} if "*" in listed else listed
