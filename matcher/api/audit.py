"""The audit trail of the API: every access to patient data and every decision, recorded as a FHIR R4 AuditEvent.

`install_audit(app, settings)` adds a middleware and the administrators' route `GET /audit`. The middleware
holds each audited answer until its AuditEvent is in the run database (append-only table, see
matcher/jobs/audit_store.py); an answer that cannot be audited is not given (500 OperationOutcome). It
records who asked (the principal's `sub`, `iss` and client id; without one, whether a bearer token was
presented), when, the route, the patient id, the HTTP outcome and the verdict. The patient id and the
verdict come from what a route `note`s, else from the path (`{patient_id}`) and the answer (a MatchResult's
`patient` and `verdict`, a FHIR Bundle's ResearchSubject). Names, birth dates and other values of the
record are never read into the event, nor logged.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from matcher import __version__
from matcher.api.errors import FHIR_JSON, operation_outcome
from matcher.api.schemas import OperationOutcomeOut
from matcher.api.security import AUDIT_READ, audit_reader
from matcher.settings import Settings
from matcher.trial import TRIAL_ID

log = logging.getLogger("trialmatch.api.audit")

#: routes that are not audited: they read no patient data and decide nothing
_UNAUDITED = frozenset({"/health", "/cds-services", "/openapi.json"})
_UNAUDITED_PREFIXES = ("/docs", "/redoc")
#: the largest answer read back for the patient id and the verdict (a MatchResult is a few KiB)
_READ_BACK = 8 * 1024 * 1024
_ROUTE_SYSTEM = "urn:trialmatch:route"
_CDS_SERVICES = "/cds-services/"
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-\.]{1,64}$")
_PATIENT_PATH = re.compile(r"^/patients/([A-Za-z0-9\-\.]{1,64})(?:/|$)")
#: a FHIR answer's ResearchSubject.status, as the verdict it stands for
_SUBJECT_VERDICT = {"eligible": "eligible", "candidate": "possibly_eligible", "ineligible": "ineligible"}


@dataclass
class Note:
    """What the route handling a request says about it, for its AuditEvent."""

    patient: str | None = None
    verdict: str | None = None
    details: dict[str, str] = field(default_factory=dict)
    #: the start of a CDS Hooks request's body, where its context names the patient
    asked: bytearray = field(default_factory=bytearray)


_NOTE: contextvars.ContextVar[Note | None] = contextvars.ContextVar("trialmatch_audit_note", default=None)


def note(*, patient: str | None = None, verdict: str | None = None, **details: str) -> None:
    """Tell the audit trail which patient (logical id or Patient/id) a request was about and what was decided.

    For routes whose answer is not a MatchResult (CDS Hooks cards, a MITRE searchset); a no-op outside a request.
    """
    current = _NOTE.get()
    if current is None:
        return
    if patient is not None:
        current.patient = patient
    if verdict is not None:
        current.verdict = verdict
    current.details.update(details)


Clock = Callable[[], datetime]


def install_audit(app: FastAPI, settings: Settings, *, clock: Clock | None = None) -> None:
    """Audit every request to `app` that reads patient data or decides, and serve GET /audit."""
    app.add_middleware(AuditMiddleware, database=settings.database, clock=clock or _utc_now)
    app.include_router(audit_router(settings))


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AuditMiddleware:
    """Holds an audited answer until its AuditEvent is stored (fail closed), then sends it."""

    def __init__(self, app: ASGIApp, *, database: str, clock: Clock) -> None:
        self.app = app
        self.database = database
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []
        audited = False
        noted = Note()
        token = _NOTE.set(noted)
        if scope.get("method") == "POST" and str(scope.get("path", "")).startswith(_CDS_SERVICES):
            receive = _copying(receive, noted.asked)  # a CDS request names its patient in its body (context)
        try:

            async def hold(message: Message) -> None:
                nonlocal audited
                if message["type"] == "http.response.start":
                    audited = _audited(scope, int(message["status"]))
                if not audited:
                    await send(message)
                    return
                held.append(message)
                if message["type"] == "http.response.body" and not message.get("more_body", False):
                    await self._record_then_send(scope, held, send)

            try:
                await self.app(scope, receive, hold)
            except Exception:
                # the error handler answers 500 outside this middleware; the attempt is recorded all the same
                if _audited(scope, 500) and not held:
                    await self._store(scope, 500, b"", "")
                raise
        finally:
            _NOTE.reset(token)

    async def _record_then_send(self, scope: Scope, held: list[Message], send: Send) -> None:
        start = held[0]
        body = b"".join(m.get("body", b"") for m in held[1:])
        media = _header(start, b"content-type")
        if await self._store(scope, int(start["status"]), body, media):
            for message in held:
                await send(message)
            return
        refused = operation_outcome(500, "exception", "the access could not be recorded in the audit trail")
        await refused(scope, _nothing, send)

    async def _store(self, scope: Scope, status: int, body: bytes, media: str) -> bool:
        from matcher.jobs.audit_store import audit_trail  # noqa: PLC0415  SQLAlchemy loads on the first audit

        event, route = audit_event(scope, status, body, media, self.clock())
        try:
            await run_in_threadpool(lambda: audit_trail(self.database).append(event, route=route, status=status))
        except Exception as exc:  # any failure to record refuses the answer
            log.error("audit event %s for %s not recorded: %s", event["id"], route, type(exc).__name__)
            return False
        return True


def _copying(receive: Receive, into: bytearray) -> Receive:
    """`receive`, keeping a copy of the first _READ_BACK bytes of the request body in `into`."""

    async def copy() -> Message:
        message = await receive()
        if message["type"] == "http.request" and len(into) < _READ_BACK:
            into.extend(message.get("body", b"")[: _READ_BACK - len(into)])
        return message

    return copy


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


def _audited(scope: Scope, status: int) -> bool:
    """Routed requests but the unaudited routes; unrouted ones only when refused (401/403: an attempt on the door)."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path not in _UNAUDITED and not path.startswith(_UNAUDITED_PREFIXES)
    return status in (401, 403) and scope.get("method") != "OPTIONS"


def _header(message: Message, name: bytes) -> str:
    for key, value in message.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


def audit_event(scope: Scope, status: int, body: bytes, media: str, when: datetime) -> tuple[dict[str, Any], str]:
    """The AuditEvent of one answered request (FHIR R4), and its route ("METHOD /template")."""
    method = str(scope.get("method", "GET"))
    # the route's template; a request refused before routing has only its path, which the caller chose
    template = re.sub(r"\s+", "_", str(getattr(scope.get("route"), "path", scope.get("path", ""))))[:200]
    route = f"{method} {template}"
    noted = _NOTE.get() or Note()
    patient, verdict = _about(scope, noted, status, body, media)
    details = {"route": route, **({"verdict": verdict} if verdict else {}), **noted.details}
    entities: list[dict[str, Any]] = [
        {
            "what": {"reference": f"Patient/{patient}"} if patient else {"display": "no patient identified"},
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                "code": "1",
                "display": "Person",
            },
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"},
            "detail": [{"type": key, "valueString": value} for key, value in details.items()],
        }
    ]
    params = scope.get("path_params") or {}
    if "run_id" in params:
        entities.append(
            {
                "what": {"identifier": {"system": "urn:trialmatch:run", "value": str(params["run_id"])}},
                "type": {
                    "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                    "code": "2",
                    "display": "System Object",
                },
            }
        )
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(uuid.uuid4()),
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [
            {"system": "http://hl7.org/fhir/restful-interaction", "code": "read" if method == "GET" else "operation"},
            {"system": _ROUTE_SYSTEM, "code": route},
        ],
        "action": "R" if method == "GET" else "E",
        "recorded": when.astimezone(UTC).isoformat(),
        "outcome": "0" if status < 400 else "4" if status < 500 else "8",
        "outcomeDesc": f"HTTP {status}",
        "agent": [_agent(scope)],
        "source": {
            "site": TRIAL_ID,
            "observer": {"display": f"trialmatch {__version__}"},
            "type": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                    "code": "4",
                    "display": "Application Server",
                }
            ],
        },
        "entity": entities,
    }
    return event, route


def _about(scope: Scope, noted: Note, status: int, body: bytes, media: str) -> tuple[str | None, str | None]:
    """The patient's logical id and the verdict: as noted, else from the path, else from a successful answer."""
    patient = (
        noted.patient
        or (scope.get("path_params") or {}).get("patient_id")
        or _path_patient(scope)
        or _context_patient(noted.asked)
    )
    verdict = noted.verdict
    if (patient is None or verdict is None) and status < 300 and "json" in media and len(body) <= _READ_BACK:
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            answer = None
        found_patient, found_verdict = _from_answer(answer)
        patient = patient or found_patient
        verdict = verdict or found_verdict
    if patient is not None:
        patient = str(patient).removeprefix("Patient/")
        patient = patient if _FHIR_ID.fullmatch(patient) else None  # only a logical id goes into the trail
    return patient, verdict


def _path_patient(scope: Scope) -> str | None:
    """The id in /patients/{id}/... of a request refused before it was routed."""
    found = _PATIENT_PATH.match(str(scope.get("path", "")))
    return found.group(1) if found else None


def _context_patient(asked: bytearray) -> str | None:
    """context.patientId of a CDS Hooks request."""
    if not asked:
        return None
    try:
        request = orjson.loads(asked)
    except orjson.JSONDecodeError:
        return None
    context = request.get("context") if isinstance(request, dict) else None
    found = context.get("patientId") if isinstance(context, dict) else None
    return found if isinstance(found, str) else None


def _from_answer(answer: Any) -> tuple[str | None, str | None]:
    if not isinstance(answer, dict):
        return None, None
    if isinstance(answer.get("patient"), str):
        verdict = answer.get("verdict")
        return answer["patient"], verdict if isinstance(verdict, str) else None
    if answer.get("resourceType") == "Bundle":
        for entry in answer.get("entry") or ():
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and resource.get("resourceType") == "ResearchSubject":
                reference = (resource.get("individual") or {}).get("reference")
                return (reference if isinstance(reference, str) else None), _SUBJECT_VERDICT.get(
                    str(resource.get("status"))
                )
    return None, None


def _agent(scope: Scope) -> dict[str, Any]:
    """Who asked: the principal the authentication dependency found, else what the request showed."""
    agent: dict[str, Any] = {"requestor": True}
    principal = (scope.get("state") or {}).get("principal")
    sub = _attr(principal, "sub")
    if sub:
        identifier = {"value": sub} | ({"system": iss} if (iss := _attr(principal, "iss")) else {})
        agent["who"] = {"identifier": identifier, "display": sub}
        if client := _attr(principal, "client_id"):
            agent["altId"] = client
    else:
        headers = dict(scope.get("headers") or ())
        given = headers.get(b"authorization", b"").split(b" ", 1)[0].lower() == b"bearer"
        agent["who"] = {"display": "bearer token presented" if given else "anonymous (no bearer token)"}
    client_host = (scope.get("client") or (None, None))[0]
    if client_host:
        agent["network"] = {"address": str(client_host), "type": "2"}
    return agent


def _attr(principal: Any, name: str) -> str | None:
    value = principal.get(name) if isinstance(principal, dict) else getattr(principal, name, None)
    return str(value) if value else None


def audit_router(settings: Settings) -> APIRouter:
    """GET /audit: the audit trail, newest first, a page at a time (a FHIR searchset Bundle of AuditEvents)."""
    router = APIRouter(tags=["audit"])

    @router.get(
        "/audit",
        summary=f"The audit trail, newest first (administrators: scope {AUDIT_READ})",
        response_class=Response,
        responses={
            200: {
                "content": {FHIR_JSON: {"example": _EXAMPLE}},
                "description": "a searchset Bundle of AuditEvents; link `next` is the following page",
            },
            400: {"model": OperationOutcomeOut, "description": "a bad query parameter"},
            403: {"model": OperationOutcomeOut, "description": f"the token lacks the scope {AUDIT_READ}"},
        },
        dependencies=[Depends(audit_reader)],
    )
    async def read_audit(
        limit: Annotated[int, Query(ge=1, le=500, description="events per page")] = 50,
        before: Annotated[
            int | None,
            # a BIGINT: a larger cursor would overflow the database driver (500) rather than find nothing
            Query(ge=1, le=2**63 - 1, description="events recorded before this one (a page cursor)"),
        ] = None,
        patient: Annotated[
            str | None, Query(pattern=r"^[A-Za-z0-9\-\.]{1,64}$", description="only events about this Patient id")
        ] = None,
    ) -> Response:
        from matcher.jobs.audit_store import audit_trail  # noqa: PLC0415

        rows = await run_in_threadpool(
            lambda: audit_trail(settings.database).page(limit, before=before, patient_id=patient)
        )
        query = f"limit={limit}" + (f"&patient={patient}" if patient else "")
        links = [{"relation": "self", "url": f"/audit?{query}" + (f"&before={before}" if before else "")}]
        if len(rows) == limit:
            links.append({"relation": "next", "url": f"/audit?{query}&before={rows[-1].seq}"})
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "link": links,
            "entry": [
                {"fullUrl": f"urn:uuid:{row.event_id}", "resource": row.event, "search": {"mode": "match"}}
                for row in rows
            ],
        }
        return Response(orjson.dumps(bundle), media_type=FHIR_JSON)

    return router


_EXAMPLE = {
    "resourceType": "Bundle",
    "type": "searchset",
    "link": [{"relation": "next", "url": "/audit?limit=50&before=1234"}],
    "entry": [
        {
            "fullUrl": "urn:uuid:5f0c6a52-2a55-4f38-9a52-0c5ad0b1b6d1",
            "search": {"mode": "match"},
            "resource": {
                "resourceType": "AuditEvent",
                "id": "5f0c6a52-2a55-4f38-9a52-0c5ad0b1b6d1",
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
                "subtype": [
                    {"system": "http://hl7.org/fhir/restful-interaction", "code": "read"},
                    {"system": _ROUTE_SYSTEM, "code": "GET /patients/{patient_id}/match"},
                ],
                "action": "R",
                "recorded": "2026-11-24T09:15:02.114+00:00",
                "outcome": "0",
                "outcomeDesc": "HTTP 200",
                "agent": [
                    {
                        "requestor": True,
                        "who": {"identifier": {"system": "https://idp.example.org", "value": "coordinator-7"}},
                        "network": {"address": "10.0.0.12", "type": "2"},
                    }
                ],
                "source": {"site": TRIAL_ID, "observer": {"display": f"trialmatch {__version__}"}},
                "entity": [
                    {
                        "what": {"reference": "Patient/123"},
                        "detail": [
                            {"type": "route", "valueString": "GET /patients/{patient_id}/match"},
                            {"type": "verdict", "valueString": "possibly_eligible"},
                        ],
                    }
                ],
            },
        }
    ],
}
