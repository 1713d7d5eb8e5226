"""The API's edge: every route but /health and CDS discovery authenticated, scopes, CORS, rate limit, OpenAPI schemes.

A gate (ASGI middleware) authenticates every request before it is routed, so a route added later is closed
unless it is named in PUBLIC; the routes then ask for what they need with the dependencies below:

    principal       who called (sub, iss, client id, scopes), for any authenticated route and the audit trail
    require_scope   a dependency that answers 403 unless the token carries the scope
    match_reader    trialmatch/match.read, and the per-client rate limit (the match routes)
    report_reader   trialmatch/report.read;  audit_reader: trialmatch/audit.read
    cds_client      a CDS Hooks client authenticated by its JWT, and the rate limit (the CDS service routes)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from matcher.api.docs import install_docs
from matcher.api.errors import FHIR_JSON, operation_outcome
from matcher.api.ratelimit import RateLimit, shared_storage
from matcher.api.tokens import AUDIT_READ, MATCH_READ, REPORT_READ, Authenticator, Principal, Refused
from matcher.settings import Settings

__all__ = [
    "AUDIT_READ",
    "MATCH_READ",
    "REPORT_READ",
    "Principal",
    "audit_reader",
    "cds_client",
    "install_security",
    "match_reader",
    "principal",
    "report_reader",
    "require_scope",
]

#: the only requests answered without authentication: the health probe and CDS Hooks discovery
PUBLIC = frozenset(
    {
        ("GET", "/health"),
        ("HEAD", "/health"),
        ("GET", "/health/ready"),  # a probe's answer names no patient: ok, or which dependency fails
        ("HEAD", "/health/ready"),
        ("GET", "/cds-services"),
        ("HEAD", "/cds-services"),
    }
)
#: below it, the CDS Hooks services: their callers are CDS clients, with JWTs of their own
CDS_PREFIX = "/cds-services/"
log = logging.getLogger("trialmatch.api.security")

_REST = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="JWT",
    description="A JWT from the configured issuer (TRIALMATCH_JWT_ISSUER) for this API's audience, carrying the "
    "route's scope (trialmatch/match.read, trialmatch/report.read, trialmatch/audit.read).",
)
_CDS = HTTPBearer(
    auto_error=False,
    scheme_name="cdsHooksJWT",
    bearerFormat="JWT",
    description="CDS Hooks 2.0: the CDS client's signed JWT (iss on TRIALMATCH_CDS_CLIENTS, aud the endpoint "
    "called, short-lived, jti used once).",
)


class AuthGate:
    """Authenticates every request but PUBLIC ones before routing; the caller lands in `request.state.principal`."""

    def __init__(self, app: ASGIApp, auth: Authenticator) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # the API has none: closed (policy violation), never let through
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http" or (scope["method"], scope["path"]) in PUBLIC:
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization")
        path: str = scope["path"]
        try:
            if path.startswith(CDS_PREFIX):
                who = await anyio.to_thread.run_sync(self.auth.cds_caller, header, path)
            else:
                who = await anyio.to_thread.run_sync(self.auth.rest_caller, header)
        except Refused as exc:
            log.info("refused %s %s: %s", scope["method"], path, exc.description)
            await refusal(exc)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = who
        await self.app(scope, receive, send)


def refusal(exc: Refused) -> Response:
    """A refusal as an OperationOutcome, with RFC 6750's WWW-Authenticate challenge on 401 and 403."""
    code = {401: "login", 403: "forbidden"}.get(exc.status, "transient")
    response = operation_outcome(exc.status, code, exc.description)
    if exc.status in (401, 403):
        response.headers["WWW-Authenticate"] = exc.challenge
    return response


def _refused(exc: Refused) -> HTTPException:
    return HTTPException(exc.status, exc.description, headers={"WWW-Authenticate": exc.challenge})


def principal(
    request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_REST)]
) -> Principal:
    """Who called this route (set by the gate); 401 when nobody did."""
    who = getattr(request.state, "principal", None)
    if not isinstance(who, Principal):
        raise _refused(Refused(401, "a bearer token is required", error=None))
    return who


def require_scope(scope: str) -> Callable[[Principal], Principal]:
    """A dependency: the caller, when their token carries `scope`; 403 (insufficient_scope) when it does not."""

    def scoped(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if scope not in who.scopes:
            raise _refused(Refused(403, f"the token lacks the scope {scope}", error="insufficient_scope", scope=scope))
        return who

    scoped.required_scope = scope  # type: ignore[attr-defined]  # read by the OpenAPI document
    scoped.__name__ = f"scope_{scope.replace('/', '_').replace('.', '_')}"
    return scoped


def match_reader(request: Request, who: Annotated[Principal, Depends(require_scope(MATCH_READ))]) -> Principal:
    """A caller allowed to evaluate patients, counted against the rate limit."""
    limit: RateLimit = request.app.state.rate_limit
    limit.hit(who.key)
    return who


def cds_client(
    request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_CDS)]
) -> Principal:
    """The CDS client calling a CDS service (its JWT checked by the gate), counted against the rate limit."""
    who = getattr(request.state, "principal", None)
    if not isinstance(who, Principal) or who.kind not in ("cds", "static"):
        raise _refused(Refused(401, "a CDS client's JWT is required", error=None))
    limit: RateLimit = request.app.state.rate_limit
    limit.hit(who.key)
    return who


report_reader = require_scope(REPORT_READ)
audit_reader = require_scope(AUDIT_READ)
match_reader.rate_limited = True  # type: ignore[attr-defined]
cds_client.rate_limited = True  # type: ignore[attr-defined]


class _Cors(CORSMiddleware):
    """Starlette's CORS, whose refused preflight is an OperationOutcome like every other error."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        answer = operation_outcome(response.status_code, "forbidden", bytes(response.body).decode())
        for name, value in response.headers.items():
            if name.lower().startswith("access-control-") or name.lower() == "vary":
                answer.headers[name] = value
        return answer


def install_security(app: FastAPI, settings: Settings) -> None:
    """The gate, CORS (closed unless origins are configured), the rate limit, /docs, and the OpenAPI schemes."""
    storage = shared_storage(settings)
    auth = Authenticator(settings, storage)
    app.state.rate_limit = RateLimit(settings, storage)
    _say_who_may_call(settings, auth)
    app.add_middleware(AuthGate, auth=auth)
    app.add_middleware(
        _Cors,
        allow_origins=[o.strip() for o in settings.cors_origins.split(",") if o.strip()],
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type", "Accept"],
        expose_headers=["Retry-After", "WWW-Authenticate", "X-Cache", "X-FHIR-Requests", "Content-Language"],
        max_age=600,
    )
    install_docs(app, enabled=settings.docs)
    _document_security(app)


def _say_who_may_call(settings: Settings, auth: Authenticator) -> None:
    if auth.static.token is not None:
        log.warning(
            "TRIALMATCH_ALLOW_STATIC_TOKEN is on: the development token TRIALMATCH_API_TOKEN is accepted with every "
            "scope. Development only: never in production"
        )
    elif settings.api_token is not None:
        log.warning(
            "TRIALMATCH_API_TOKEN is set but ignored: it is accepted only with TRIALMATCH_ALLOW_STATIC_TOKEN=true "
            "(development only)"
        )
    if auth.rest.configured:
        log.info("JWT callers: issuer %s, audience %s", settings.jwt_issuer, settings.jwt_audience)
    if settings.cds_clients:
        log.info("CDS clients trusted: %s", ", ".join(sorted(settings.cds_clients)))
    if not (auth.rest.configured or settings.cds_clients or auth.static.token):
        log.warning(
            "no JWT issuer, CDS client or development token is configured: every route but /health and "
            "GET /cds-services answers 401"
        )


def _document_security(app: FastAPI) -> None:
    """The OpenAPI document says who may call what: the schemes, each operation's scheme and scope, 401/403/429."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        spec = generate()
        components = spec.setdefault("components", {})
        schemes = components.setdefault("securitySchemes", {})
        for scheme in (_REST, _CDS):
            schemes.setdefault(scheme.scheme_name, scheme.model.model_dump(by_alias=True, exclude_none=True))
        needs = _needs(app)
        for path, operations in spec.get("paths", {}).items():
            for method, operation in operations.items():
                if (method.upper(), path) in PUBLIC:
                    operation["security"] = []
                    continue
                scopes, limited = needs.get((method.upper(), path), (set(), False))
                name = _CDS.scheme_name if path.startswith(CDS_PREFIX) else _REST.scheme_name
                operation["security"] = [{name: sorted(scopes)}]
                responses = operation.setdefault("responses", {})
                responses.setdefault("401", _error("no bearer token, or one that does not verify"))
                if scopes:
                    responses.setdefault("403", _error(f"the token lacks the scope {', '.join(sorted(scopes))}"))
                if limited:
                    responses.setdefault("429", _error("too many requests from this client: see Retry-After"))
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def _error(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/OperationOutcomeOut"}
    return {"description": description, "content": {FHIR_JSON: {"schema": schema}}}


def _needs(app: FastAPI) -> dict[tuple[str, str], tuple[set[str], bool]]:
    """(method, path) -> the scopes its dependencies require, and whether it is rate limited."""
    from fastapi import routing  # noqa: PLC0415

    # FastAPI >= 0.13x keeps included routers as such: their routes, with the router's dependencies, are listed
    # by iter_route_contexts; older versions copy them into app.routes
    contexts: Callable[[Any], Any] = getattr(routing, "iter_route_contexts", lambda routes: routes)
    found: dict[tuple[str, str], tuple[set[str], bool]] = {}
    for route in contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        if dependant is None:
            continue
        scopes: set[str] = set()
        limited = False
        stack = [dependant]
        while stack:
            current = stack.pop()
            scope = getattr(current.call, "required_scope", None)
            if isinstance(scope, str):
                scopes.add(scope)
            limited = limited or bool(getattr(current.call, "rate_limited", False))
            stack.extend(current.dependencies)
        for method in route.methods or ():
            found[(method, route.path_format)] = (scopes, limited)
    return found
