"""One patient's resources for a CDS call: the prefetch, and what it lacks read from the client's fhirServer."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qsl

from fastapi import HTTPException

from matcher.codes.model import Mappings
from matcher.errors import PatientNotFoundError
from matcher.fhir.auth import Auth, BearerAuth, NoAuth
from matcher.fhir.client import Budget, FhirClient
from matcher.fhir.connect import http_client
from matcher.fhir.refs import logical_id, target_id
from matcher.fhir.retry import RetryPolicy
from matcher.settings import Settings

from .models import CdsRequest

log = logging.getLogger("trialmatch.api.cds")

PATIENT_TOKEN = "{{context.patientId}}"  # noqa: S105  a prefetch token, not a password
_USES = ("MedicationStatement", "MedicationRequest", "MedicationAdministration")


def prefetch_templates(mappings: Mappings) -> dict[str, str]:
    """What the criteria read, as CDS Hooks prefetch templates (Observations restricted to the trial's codes)."""
    codes = ",".join(sorted({code.code for code in mappings.observation_codes}))
    templates = {
        "patient": f"Patient/{PATIENT_TOKEN}",
        "conditions": f"Condition?patient={PATIENT_TOKEN}",
        "observations": f"Observation?patient={PATIENT_TOKEN}&code={codes}",
    }
    for use in _USES:
        key = use[0].lower() + use[1:] + "s"
        templates[key] = f"{use}?patient={PATIENT_TOKEN}&_include={use}:medication"
    templates["procedures"] = f"Procedure?patient={PATIENT_TOKEN}"
    return templates


def allowed_servers(settings: Settings) -> set[str]:
    """The fhirServer base URLs a CDS call may make us read: the configured FHIR server and the listed ones."""
    listed = [s.strip() for s in settings.cds_fhir_servers.split(",") if s.strip()]
    if settings.fhir_base_url:
        listed.append(settings.fhir_base_url)
    return {s.rstrip("/") for s in listed}


class Gathered:
    """The resources for one patient and how many prefetch keys had to be read from the fhirServer."""

    def __init__(self, resources: list[dict[str, Any]], fetched: list[str], requests: int) -> None:
        self.resources = resources
        self.fetched = fetched
        self.requests = requests

    def bundle(self) -> dict[str, Any]:
        return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in self.resources]}


async def gather(request: CdsRequest, templates: dict[str, str], settings: Settings) -> Gathered:
    """The prefetch when complete; else the missing keys read from `fhirServer` with the token the client gave.

    412 when something is missing and there is no fhirServer (or one we may not call).
    """
    pid = logical_id(request.context.patientId)  # '.' or '..' would reach the server's search paths
    given = request.prefetch or {}
    found: list[dict[str, Any]] = []
    missing: list[str] = []
    for key in templates:
        resources = _resources_of(given.get(key), key, pid)
        if resources is None:
            missing.append(key)
        else:
            found.extend(resources)
    if not missing:
        return Gathered(_unique(found), [], 0)
    if not request.fhirServer:
        raise HTTPException(
            412, f"the prefetch lacks {', '.join(missing)} and no fhirServer was given to read them from"
        )
    server = request.fhirServer.rstrip("/")
    if server not in allowed_servers(settings):
        raise HTTPException(412, "the fhirServer given is not one this service may read (TRIALMATCH_CDS_FHIR_SERVERS)")
    auth: Auth = NoAuth()
    if request.fhirAuthorization is not None:  # the client's token; never the service's own credentials
        auth = BearerAuth(request.fhirAuthorization.access_token)
    async with http_client(settings) as http:
        client = FhirClient(server, http, auth=auth, policy=RetryPolicy.from_settings(settings))
        budget = Budget(settings.fhir_request_budget, client.clock() + settings.fhir_deadline, f"Patient/{pid}")
        batches = await asyncio.gather(
            *(_run(client, templates[k].replace(PATIENT_TOKEN, pid), budget) for k in missing)
        )
        for batch in batches:
            found.extend(batch)
        found = _unique(found)
        found.extend(await _missing_medications(client, found, budget))
    log.info(
        "CDS call for Patient/%s: %s read from the fhirServer in %d requests", pid, ",".join(missing), budget.spent
    )
    return Gathered(found, missing, budget.spent)


def _resources_of(value: dict[str, Any] | None, key: str, pid: str) -> list[dict[str, Any]] | None:
    """The resources of one prefetch value; None when absent or unusable (then it is read from the server)."""
    if not isinstance(value, dict):
        return None
    rtype = value.get("resourceType")
    if key == "patient":
        if rtype != "Patient":
            return None
        if value.get("id") != pid:
            raise HTTPException(400, "prefetch.patient is not the patient of context.patientId")
        return [value]
    if rtype != "Bundle":
        return None
    return [
        e["resource"] for e in value.get("entry") or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)
    ]


async def _run(client: FhirClient, query: str, budget: Budget) -> list[dict[str, Any]]:
    path, _, qs = query.partition("?")
    if not qs:
        rtype, _, rid = path.partition("/")
        resource = await client.read(rtype, rid, budget)
        if resource is None:
            raise PatientNotFoundError(rid)  # the only read among the templates is the Patient's
        return [resource]
    return [e["resource"] async for e in client.search(path, parse_qsl(qs), budget)]


async def _missing_medications(client: FhirClient, found: list[dict[str, Any]], budget: Budget) -> list[dict[str, Any]]:
    have = {r.get("id") for r in found if r.get("resourceType") == "Medication"}
    wanted = {mid for r in found if (mid := target_id(r.get("medicationReference"), "Medication"))} - have
    out = []
    for mid in sorted(wanted):
        medication = await client.read("Medication", mid, budget)
        if medication is not None:
            out.append(medication)
    return out


def _unique(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[Any, Any]] = set()
    out = []
    for r in resources:
        key = (r.get("resourceType"), r.get("id"))
        if r.get("id") is None or key not in seen:
            seen.add(key)
            out.append(r)
    return out
