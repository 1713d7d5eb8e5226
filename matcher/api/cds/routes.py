"""The CDS Hooks 2.0 routes: discovery, patient-view, feedback; and the patient's page the cards link to."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from matcher.api.audit import note
from matcher.api.params import AsOf
from matcher.api.schemas import OperationOutcomeOut
from matcher.codes.model import Mappings
from matcher.evaluate import evaluate
from matcher.fhir.bundle import record_from_bundle
from matcher.fhir.patients import PatientSource
from matcher.jobs.feedback_store import Feedback, FeedbackStore
from matcher.pipeline import check_as_of, match_bundle
from matcher.report.data import Person
from matcher.report.html import render_html
from matcher.report.view import build
from matcher.serialize import result_json
from matcher.settings import Settings
from matcher.trial import TRIAL_ID

from .cards import cards, report_data
from .gather import gather, prefetch_templates
from .models import FHIR_ID, CardsOut, CdsRequest, DiscoveryOut, FeedbackRequest, FeedbackStored

SERVICE_ID = "trialmatch-nct07161193"
HOOK = "patient-view"
log = logging.getLogger("trialmatch.api.cds")

Dependency = Callable[..., Any]


def _oo(text: str) -> dict[str, Any]:
    return {"model": OperationOutcomeOut, "description": text}


def cds_router(
    settings: Settings,
    mappings: Mappings,
    *,
    today: Callable[[], date],
    cds_client: Dependency,
    rest_auth: Dependency,
) -> APIRouter:
    """The CDS routes. `cds_client` authenticates CDS clients (the CDS Hooks JWT); `rest_auth` guards the page."""
    router = APIRouter()
    templates = prefetch_templates(mappings)
    digest = mappings.provenance.digest
    service = {
        "hook": HOOK,
        "title": f"trialmatch: {TRIAL_ID} candidates",
        "description": f"Says whether the patient may fit {TRIAL_ID} (anti-CD19 CAR-T cells for refractory "
        "autoimmune disease), what is still unknown or needs a chart review, and which tests to order.",
        "id": SERVICE_ID,
        "prefetch": templates,
        "usageRequirements": "Send the prefetch, or fhirServer with fhirAuthorization (read access to the "
        "patient's Patient, Condition, Observation, Medication*, Procedure) and a CDS Hooks JWT.",
    }

    @router.get(
        "/cds-services",
        tags=["cds-hooks"],
        summary="CDS Hooks 2.0 discovery",
        response_model=DiscoveryOut,
        responses={200: {"content": {"application/json": {"example": {"services": [service]}}}}},
    )
    def discovery() -> Response:
        return _json({"services": [service]})

    @router.post(
        f"/cds-services/{SERVICE_ID}",
        tags=["cds-hooks"],
        summary="CDS Hooks 2.0 patient-view: a card when the patient may fit the trial",
        response_model=CardsOut,
        responses={
            400: _oo("not a patient-view request (CDS Hooks 2.0)"),
            401: _oo("no valid CDS Hooks JWT"),
            412: _oo("the prefetch is incomplete and there is no fhirServer to read the rest from"),
            502: _oo("the fhirServer failed or refused the token"),
            504: _oo("the fhirServer did not answer in time"),
        },
    )
    async def patient_view(request: Request, body: CdsRequest, client: Any = Depends(cds_client)) -> Response:  # noqa: B008
        day = check_as_of(today())
        gathered = await gather(body, templates, settings)
        pid = body.context.patientId
        result = await run_in_threadpool(match_bundle, gathered.bundle(), day, mappings, f"Patient/{pid}")
        verdict = result.verdict
        page = f"{_base(settings, request)}/patients/{pid}/page?as_of={day.isoformat()}"
        out = cards(result_json(result), day, page)
        note(patient=pid, verdict=verdict, cards=str(len(out)), fetched=",".join(gathered.fetched) or "none")
        log.info("CDS patient-view for Patient/%s: %s, %d card(s)", pid, verdict, len(out))
        return _json({"cards": out})

    @router.post(
        f"/cds-services/{SERVICE_ID}/feedback",
        tags=["cds-hooks"],
        summary="CDS Hooks 2.0 feedback: a card accepted or overridden (with the reason), stored per card uuid",
        response_model=FeedbackStored,
        responses={400: _oo("not a CDS Hooks 2.0 feedback body"), 401: _oo("no valid CDS Hooks JWT")},
    )
    async def feedback(body: FeedbackRequest, client: Any = Depends(cds_client)) -> Response:  # noqa: B008
        entries = [
            Feedback(
                card=str(f.card),
                outcome=f.outcome,
                outcome_timestamp=f.outcomeTimestamp,
                override_system=f.overrideReason.reason.system
                if f.overrideReason and f.overrideReason.reason
                else None,
                override_code=f.overrideReason.reason.code if f.overrideReason and f.overrideReason.reason else None,
                override_display=(
                    f.overrideReason.reason.display if f.overrideReason and f.overrideReason.reason else None
                ),
                user_comment=f.overrideReason.userComment if f.overrideReason else None,
                accepted_suggestions=tuple(str(s.id) for s in f.acceptedSuggestions or ()),
            )
            for f in body.feedback
        ]
        stored = await run_in_threadpool(_store, settings, entries, _issuer(client))
        note(outcomes=",".join(sorted({f.outcome for f in entries})))
        log.info("CDS feedback: %d entr%s stored", stored, "y" if stored == 1 else "ies")
        return _json({"stored": stored})

    @router.get(
        "/patients/{patient_id}/page",
        tags=["report"],
        summary="One patient's eligibility, criterion by criterion, as the report's HTML (a live evaluation)",
        response_class=HTMLResponse,
        responses={
            200: {"content": {"text/html": {}}, "description": "the report page for this one patient"},
            401: _oo("missing or wrong bearer token"),
            404: _oo("the FHIR server has no such patient"),
            502: _oo("the FHIR server failed or refused us"),
        },
        dependencies=[Depends(rest_auth)],
    )
    async def patient_page(
        request: Request,
        patient_id: Annotated[str, Path(pattern=FHIR_ID, description="the Patient's logical id")],
        as_of: AsOf = None,
        lang: Annotated[Literal["en", "zh"], Query(description="English or Simplified Chinese")] = "en",
    ) -> HTMLResponse:
        patients: PatientSource = request.app.state.patients
        day = check_as_of(as_of or today())
        fetched = await patients.fetch(patient_id)

        def render() -> tuple[str, str]:
            record = record_from_bundle(fetched.bundle(), mappings, f"Patient/{patient_id}", day)
            person = Person.of(record.patient, settings.mrn_system)
            result = result_json(evaluate(record, day, mappings))
            return render_html(build(report_data(result, day, patients.name, digest, person), lang)), result["verdict"]

        page, verdict = await run_in_threadpool(render)
        note(patient=patient_id, verdict=verdict)
        return HTMLResponse(page, headers={"Content-Language": "zh-Hans" if lang == "zh" else "en"})

    return router


def _json(payload: Any) -> Response:
    return Response(orjson.dumps(payload), media_type="application/json")


def _base(settings: Settings, request: Request) -> str:
    """Where EHR users reach this API: TRIALMATCH_PUBLIC_URL, else the URL the request came to."""
    return (settings.public_url or str(request.base_url)).rstrip("/")


def _issuer(client: Any) -> str | None:
    """Who sent the feedback, when the CDS client dependency says (its token's issuer)."""
    for name in ("iss", "issuer"):
        value = getattr(client, name, None) or (client.get(name) if isinstance(client, dict) else None)
        if isinstance(value, str):
            return value[:255]
    return None


def _store(settings: Settings, entries: list[Feedback], client: str | None) -> int:
    store = FeedbackStore(settings.database)
    try:
        return store.add(SERVICE_ID, entries, client=client)
    finally:
        store.close()


__all__ = ["HOOK", "SERVICE_ID", "cds_router"]
