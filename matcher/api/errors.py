"""Errors as the API answers them: each exception mapped once to an HTTP status and a FHIR OperationOutcome body."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from matcher.errors import (
    InputError,
    InvalidResourceError,
    MappingError,
    NotABundleError,
    NotJSONError,
    PatientCountError,
    PatientNotFoundError,
    TooLargeError,
    TrialmatchError,
    UpstreamError,
    UpstreamTimeoutError,
)

FHIR_JSON = "application/fhir+json"

#: exception type -> (HTTP status, OperationOutcome issue code); the first match wins
_STATUS: list[tuple[type[Exception], int, str]] = [
    (PatientNotFoundError, 404, "not-found"),
    (UpstreamTimeoutError, 504, "timeout"),
    (UpstreamError, 502, "transient"),
    (NotJSONError, 400, "structure"),
    (NotABundleError, 422, "structure"),
    (PatientCountError, 422, "invalid"),
    (TooLargeError, 413, "too-costly"),
    (InvalidResourceError, 422, "invalid"),
    (InputError, 400, "invalid"),
    (MappingError, 500, "exception"),
]


def operation_outcome(
    status: int, code: str, diagnostics: str, *, severity: str = "error", expression: str | None = None
) -> Response:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    body = orjson.dumps({"resourceType": "OperationOutcome", "issue": [issue]})
    return Response(body, status_code=status, media_type=FHIR_JSON)


def _for_trialmatch(request: Request, exc: Exception) -> Response:
    for kind, status, code in _STATUS:
        if isinstance(exc, kind):
            detail = exc.detail if isinstance(exc, InputError) else str(exc)
            return operation_outcome(status, code, detail, expression=getattr(exc, "reference", None))
    return operation_outcome(500, "exception", "internal error")


def _for_validation(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):
        raise _misrouted(exc, RequestValidationError)
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()))
    return operation_outcome(400, "invalid", f"{where}: {err.get('msg', 'invalid')}")


def _for_http(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StarletteHTTPException):
        raise _misrouted(exc, StarletteHTTPException)
    code = {
        401: "login",
        403: "forbidden",
        404: "not-found",
        405: "not-supported",
        413: "too-costly",
        415: "not-supported",
        429: "throttled",
    }.get(exc.status_code, "processing")
    response = operation_outcome(exc.status_code, code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def _misrouted(exc: Exception, kind: type[Exception]) -> TypeError:
    """A handler given what it was not installed for: a bug, which the catch-all handler answers."""
    return TypeError(f"{type(exc).__name__} reached the handler of {kind.__name__}")


def _for_anything(request: Request, exc: Exception) -> Response:
    """A bug must still answer FHIR, without a traceback; the log has the exception type only."""
    return operation_outcome(500, "exception", f"internal error ({type(exc).__name__})")


def install_handlers(app: FastAPI) -> None:
    """Every error `app` raises, answered as an OperationOutcome (application/fhir+json)."""
    app.add_exception_handler(TrialmatchError, _for_trialmatch)
    app.add_exception_handler(RequestValidationError, _for_validation)
    app.add_exception_handler(StarletteHTTPException, _for_http)
    app.add_exception_handler(Exception, _for_anything)
    _document_errors_as_fhir(app)


def _document_errors_as_fhir(app: FastAPI) -> None:
    """The OpenAPI document says what is served: errors are application/fhir+json, not application/json."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = generate()
            for route in spec.get("paths", {}).values():
                for operation in route.values():
                    for status, response in operation.get("responses", {}).items():
                        content = response.get("content", {})
                        if status[:1] in ("4", "5") and "application/json" in content:
                            content[FHIR_JSON] = content.pop("application/json")
                        # an HTML route's errors take the route's media type in FastAPI's document: they are
                        # OperationOutcomes in application/fhir+json like every other error
                        html = content.get("text/html", {}).get("schema", {}).get("$ref", "")
                        if status[:1] in ("4", "5") and html.endswith("/OperationOutcomeOut"):
                            content[FHIR_JSON] = content.pop("text/html")
                    _validation_is_400(operation["responses"])
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]


def _validation_is_400(responses: dict[str, Any]) -> None:
    """A request that does not validate answers 400 with an OperationOutcome (_for_validation), never FastAPI's
    422 HTTPValidationError: say so in the document (a 422 that a route declares itself stays)."""
    outcome = {"schema": {"$ref": "#/components/schemas/OperationOutcomeOut"}}
    default = responses.get("422", {}).get("content", {}).get(FHIR_JSON, {}).get("schema", {}).get("$ref", "")
    if default.endswith("/HTTPValidationError"):
        del responses["422"]
        responses.setdefault(
            "400", {"description": "a parameter or body that does not validate", "content": {FHIR_JSON: outcome}}
        )
