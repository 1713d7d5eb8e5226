"""POST /getClinicalTrial: trialmatch as one of the matching services of MITRE's clinical-trial-matching app
(mcode/clinical-trial-matching-service: `{"patientData": Bundle}` in, a searchset Bundle of ResearchStudy out)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from matcher.api.audit import note
from matcher.api.body import json_body
from matcher.api.fhir_out import TRIAL_PHASE, TRIAL_STATUS, checked, research_study
from matcher.api.params import AsOf
from matcher.api.schemas import OperationOutcomeOut
from matcher.codes.model import Mappings
from matcher.errors import InputError, NotJSONError
from matcher.pipeline import match_bundle
from matcher.settings import Settings

#: the phase codes a search may name that this Phase 1/Phase 2 trial answers to
_PHASES = {TRIAL_PHASE, "phase-1", "phase-2"}
#: the parameters read, by their name in MITRE's Parameters resource
_NAMES = {"zipCode": "zip_code", "phase": "phase", "recruitmentStatus": "recruitment_status"}
#: the recruitment statuses it answers to: R4's `approved` is ClinicalTrials.gov's NOT_YET_RECRUITING
_STATUSES = {TRIAL_STATUS, "not-yet-recruiting"}

EXAMPLE_REQUEST = {
    "patientData": {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Parameters", "parameter": [{"name": "zipCode", "valueString": "01730"}]}},
            {"resource": {"resourceType": "Patient", "id": "123", "gender": "female", "birthDate": "1971-03-02"}},
        ],
    }
}
EXAMPLE_ANSWER = {
    "resourceType": "Bundle",
    "type": "searchset",
    "total": 1,
    "entry": [{"resource": research_study(), "search": {"mode": "match", "score": 0.97}}],
}


@dataclass(frozen=True)
class QueryParameters:
    """The search parameters MITRE's app puts in a Parameters resource inside the patient Bundle."""

    zip_code: str | None = None
    travel_radius: float | None = None
    phase: str | None = None
    recruitment_status: str | None = None


def query_parameters(bundle: dict[str, Any]) -> QueryParameters:
    """zipCode, travelRadius, phase and recruitmentStatus, read as MITRE's parseQueryParameters reads them."""
    found: dict[str, Any] = {}
    for entry in bundle.get("entry") or ():
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != "Parameters":
            continue
        for p in resource.get("parameter") or ():
            if not isinstance(p, dict):
                continue
            name, text = p.get("name"), p.get("valueString")
            if name == "travelRadius":
                number = p.get("valueDecimal", text)
                try:
                    found["travel_radius"] = float(number) if number is not None else None
                except (TypeError, ValueError):
                    raise InputError("travelRadius is not a number") from None
            elif isinstance(name, str) and name in _NAMES and isinstance(text, str):
                found[_NAMES[name]] = text
    return QueryParameters(**found)


def _codes(text: str) -> set[str]:
    return {part.strip().lower().replace("_", "-") for part in text.split(",") if part.strip()}


def study_fits(params: QueryParameters) -> bool:
    """Whether the trial itself is what the search asks for: its phase and recruitment status, when named.
    zipCode and travelRadius are not applied: trialmatch knows no study sites."""
    if params.phase and not _codes(params.phase) & _PHASES:
        return False
    return not (params.recruitment_status and not _codes(params.recruitment_status) & _STATUSES)


def patient_bundle(body: bytes) -> dict[str, Any]:
    """The patient Bundle of a request body: `patientData`, a Bundle or (deprecated) a string holding one."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise NotJSONError("the request body is not JSON") from None
    if not isinstance(payload, dict) or "patientData" not in payload:
        raise InputError("the request body has no patientData")
    data = payload["patientData"]
    if isinstance(data, str):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise InputError("patientData is a string that is not JSON") from None
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise InputError("patientData is not a FHIR Bundle")
    return data


def search_score(verdict: str, score: float) -> float:
    """The entry's search.score in [0, 1]: eligible patients in the upper half and possibly eligible ones in the
    lower, each ordered by the MatchResult's score, so that an app ranking by it keeps trialmatch's order."""
    score = min(1.0, max(0.0, score))
    return round((1 + score) / 2 if verdict == "eligible" else score / 2, 4)


def searchset(score: float | None) -> dict[str, Any]:
    """MITRE's answer: a searchset Bundle, with the trial as a `match` entry scored in [0, 1], or no entry."""
    entry = []
    if score is not None:
        entry.append({"resource": research_study(), "search": {"mode": "match", "score": min(1.0, max(0.0, score))}})
    return checked({"resourceType": "Bundle", "type": "searchset", "total": len(entry), "entry": entry})


def mitre_router(settings: Settings, mappings: Mappings, today: Callable[[], date]) -> APIRouter:
    """The route MITRE's clinical-trial-matching app calls on each of its matching services."""
    router = APIRouter(tags=["MITRE compatibility"])

    @router.post(
        "/getClinicalTrial",
        summary="MITRE clinical-trial-matching-service: a patient Bundle in, a searchset of ResearchStudy out",
        description='The body is `{"patientData": Bundle}` (a Bundle, or a string holding one) as MITRE\'s '
        "clinical-trial-matching app sends it; a Parameters resource in the Bundle may name zipCode, "
        "travelRadius (not applied: no study sites are known), phase and recruitmentStatus (applied to this "
        "trial). The answer is a searchset Bundle holding this trial's ResearchStudy with `search.mode` "
        "`match` and `search.score` (eligible patients in [0.5, 1], possibly eligible ones in [0, 0.5], each "
        "by the MatchResult's score) when the patient is eligible or possibly eligible, and no entry when the "
        "patient is ineligible or the trial is not what was asked for.",
        response_class=Response,
        responses={
            200: {
                "description": "a searchset Bundle of ResearchStudy",
                "content": {"application/json": {"example": EXAMPLE_ANSWER}},
            },
            **{
                status: {"model": OperationOutcomeOut, "description": text}
                for status, text in {
                    400: "not JSON, no patientData, or patientData is not a Bundle",
                    401: "missing or wrong bearer token",
                    413: "body too large",
                    415: "not application/json",
                    422: "not a one-patient Bundle, or a resource that is not valid FHIR R4",
                }.items()
            },
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["patientData"],
                            "properties": {"patientData": {"oneOf": [{"type": "object"}, {"type": "string"}]}},
                        },
                        "example": EXAMPLE_REQUEST,
                    }
                },
            }
        },
    )
    async def get_clinical_trial(
        request: Request,
        as_of: AsOf = None,
    ) -> Response:
        body = await json_body(request, settings.max_body_bytes, "the request")
        bundle = patient_bundle(body)
        params = query_parameters(bundle)
        result = await run_in_threadpool(
            partial(match_bundle, max_entries=settings.max_bundle_entries),
            bundle,
            as_of or today(),
            mappings,
            "patientData",
        )
        note(patient=result.patient, verdict=result.verdict)
        fits = result.verdict != "ineligible" and study_fits(params)
        score = search_score(result.verdict, result.score) if fits else None
        return Response(orjson.dumps(searchset(score)), media_type="application/json")

    return router
