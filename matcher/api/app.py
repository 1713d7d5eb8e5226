"""The FastAPI application: POST /match, GET /patients/{id}/match, GET /runs/{id}/report, GET /health; who may
call each is matcher/api/security.py's."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import date
from functools import partial
from typing import Annotated, Any, Literal

import orjson
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from matcher import __version__
from matcher.api.audit import install_audit
from matcher.api.body import json_body
from matcher.api.cds import cds_router
from matcher.api.errors import install_handlers
from matcher.api.fhir_out import FHIR_RESULT, match_response
from matcher.api.mitre import mitre_router
from matcher.api.params import AsOf
from matcher.api.quiet import quiet_server_logs
from matcher.api.schemas import HealthOut, MatchResultOut, OperationOutcomeOut
from matcher.api.security import cds_client, install_security, match_reader, report_reader
from matcher.errors import DatabaseError, TrialmatchError
from matcher.explain import Lang
from matcher.fhir.connect import make_auth, open_source
from matcher.fhir.patients import PatientSource
from matcher.pipeline import check_as_of, checked_mappings, match_bundle
from matcher.report.html import render_html
from matcher.report.view import build
from matcher.settings import Settings
from matcher.trial import TRIAL_ID

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": OperationOutcomeOut, "description": text}
    for code, text in {
        400: "not JSON, or a bad query parameter",
        401: "no bearer token, or one that does not verify",
        403: "the token lacks the scope trialmatch/match.read",
        429: "too many requests from this client: see Retry-After",
        413: "body too large",
        415: "not application/json or application/fhir+json",
        422: "not a one-patient Bundle, or a resource that is not valid FHIR R4",
    }.items()
}
_BUNDLE_BODY = {
    "requestBody": {
        "required": True,
        "description": "a FHIR R4 Bundle holding one Patient and that patient's resources",
        "content": {
            media: {
                "schema": {
                    "type": "object",
                    "required": ["resourceType"],
                    "properties": {"resourceType": {"const": "Bundle"}},
                }
            }
            for media in ("application/fhir+json", "application/json")
        },
    }
}
#: a FHIR logical id (R4 id datatype)
FHIR_ID = r"^[A-Za-z0-9\-\.]{1,64}$"
log = logging.getLogger("trialmatch.api")


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json", headers=headers)


READY_EXAMPLE = {"status": "ok", "checks": {"fhir": "ok", "database": "ok"}}


async def _checked(check: Awaitable[None]) -> str:
    """'ok', or what failed in one line (an error's own message names a server or a database, no patient)."""
    try:
        await check
    except TrialmatchError as exc:
        return str(exc)[:200]
    except Exception as exc:  # a readiness probe reports; it never fails itself
        return type(exc).__name__
    return "ok"


def _database_answers(url: str) -> None:
    """The run database accepts a connection and a trivial query (no migration, nothing written)."""
    from sqlalchemy import text  # noqa: PLC0415  the run database loads only when it is asked about

    from matcher.jobs.database import engine_for  # noqa: PLC0415

    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise DatabaseError(f"the run database does not answer ({type(exc).__name__})") from None
    finally:
        engine.dispose()


def create_app(
    settings: Settings | None = None,
    *,
    today: Callable[[], date] = date.today,
    source: Callable[[], AbstractAsyncContextManager[PatientSource]] | None = None,
) -> FastAPI:
    """The API; `today` and the patient `source` are injected so tests can pin the date and the server."""
    settings = settings or Settings()
    mappings = checked_mappings(settings)
    if settings.fhir_base_url:
        make_auth(settings)  # a missing key file or token is said now, in one line, not inside the server
    open_patients = source or (lambda: open_source(settings, mappings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_patients() as patients:
            app.state.patients = patients
            log.info("patients come from %s", patients.name)
            yield

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,  # served by matcher/api/docs.py, assets from a package, behind authentication
        redoc_url=None,
        title="trialmatch",
        version=__version__,
        description=f"Eligibility of FHIR R4 patients for {TRIAL_ID} (anti-CD19 CAR-T in refractory "
        "autoimmune disease): pass / fail / unknown / review per criterion, with evidence.",
    )
    install_handlers(app)
    quiet_server_logs(settings.debug)  # uvicorn's own lines: no traceback, no exception message
    install_security(app, settings)  # every route but /health and CDS discovery authenticated; CORS; /docs
    install_audit(app, settings)  # after (outside) the gate, so that refused requests are recorded too

    @app.get("/health", response_model=HealthOut, tags=["service"], summary="Liveness: the process answers")
    def health() -> Response:
        return _json({"status": "ok", "version": __version__, "mappings": mappings.provenance.digest})

    @app.get(
        "/health/ready",
        tags=["service"],
        summary="Readiness: the FHIR source and the run database answer (503 naming what does not)",
        responses={
            200: {"description": "ready", "content": {"application/json": {"example": READY_EXAMPLE}}},
            503: {"description": "not ready: the failing check says why (no patient data)"},
        },
    )
    async def ready(request: Request) -> Response:
        checks = {
            "fhir": await _checked(request.app.state.patients.check()),
            "database": await _checked(run_in_threadpool(_database_answers, settings.database)),
        }
        ok = all(v == "ok" for v in checks.values())
        return _json({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)

    @app.post(
        "/match",
        tags=["matching"],
        summary="Evaluate one patient's Bundle against every criterion",
        response_class=Response,
        responses={200: {"model": MatchResultOut, "description": "the MatchResult", **FHIR_RESULT}, **_ERRORS},
        openapi_extra=_BUNDLE_BODY,
        dependencies=[Depends(match_reader)],
    )
    async def match(
        request: Request,
        as_of: AsOf = None,
    ) -> Response:
        body = await json_body(request, settings.max_body_bytes, "the Bundle")
        # evaluation is CPU-bound: keep it off the event loop so /health and other requests stay responsive
        result = await run_in_threadpool(
            partial(match_bundle, max_entries=settings.max_bundle_entries),
            body,
            as_of or today(),
            mappings,
            "request body",
        )
        return match_response(request, result)

    @app.get(
        "/patients/{patient_id}/match",
        tags=["matching"],
        summary="Fetch a patient from the configured FHIR server and evaluate them",
        response_class=Response,
        responses={
            200: {"model": MatchResultOut, "description": "the MatchResult; X-Cache says hit or miss", **FHIR_RESULT},
            404: {"model": OperationOutcomeOut, "description": "the FHIR server has no such patient"},
            502: {"model": OperationOutcomeOut, "description": "the FHIR server failed or refused us"},
            504: {"model": OperationOutcomeOut, "description": "the FHIR server did not answer in time"},
            **_ERRORS,
        },
        dependencies=[Depends(match_reader)],
    )
    async def patient_match(
        request: Request,
        patient_id: Annotated[str, Path(pattern=FHIR_ID, description="the Patient's logical id")],
        as_of: AsOf = None,
    ) -> Response:
        patients: PatientSource = request.app.state.patients
        day = check_as_of(as_of or today())  # before the FHIR server is asked anything
        fetched = await patients.fetch(patient_id)
        result = await run_in_threadpool(match_bundle, fetched.bundle(), day, mappings, f"Patient/{patient_id}")
        headers = {"X-Cache": "hit" if fetched.cached else "miss", "X-FHIR-Requests": str(fetched.requests)}
        return match_response(request, result, headers)

    @app.get(
        "/runs/{run_id}/report",
        tags=["report"],
        summary="The coordinator report of a stored night, as one self-contained HTML page",
        response_class=HTMLResponse,
        responses={
            200: {"content": {"text/html": {}}, "description": "the report page (styles and charts inline)"},
            401: _ERRORS[401],
            404: {"model": OperationOutcomeOut, "description": "no stored run has this id"},
        },
        dependencies=[Depends(report_reader)],
    )
    async def run_report(
        run_id: Annotated[str, Path(pattern=RUN_ID, description="a run id, or a unique prefix of one")],
        lang: Annotated[Literal["en", "zh"], Query(description="English or Simplified Chinese")] = "en",
    ) -> HTMLResponse:
        page = await run_in_threadpool(_report_page, settings, run_id, lang)
        return HTMLResponse(page, headers={"Content-Language": "zh-Hans" if lang == "zh" else "en"})

    # the patient's page shows who the patient is (name, birth date): the report's scope, not match.read
    app.include_router(cds_router(settings, mappings, today=today, cds_client=cds_client, rest_auth=report_reader))
    app.include_router(mitre_router(settings, mappings, today), dependencies=[Depends(match_reader)])
    return app


#: a run id (a UUID) or a prefix of one
RUN_ID = r"^[0-9a-fA-F-]{4,36}$"


def _report_page(settings: Settings, run_id: str, lang: Lang) -> str:
    """The report page of a stored run; 404 when there is no such run."""
    from matcher.jobs.store import Store  # noqa: PLC0415  the run database loads only when a report is asked
    from matcher.report.load import report_data  # noqa: PLC0415

    store = Store(settings.database)
    try:
        run = store.run(run_id)
        if run is None:
            raise HTTPException(404, f"no stored run has the id {run_id}")
        data = report_data(store, run)
    finally:
        store.close()
    return render_html(build(data, lang))
