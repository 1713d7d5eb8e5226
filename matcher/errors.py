"""The exception hierarchy and the CLI exit codes; each error carries the context a user needs to act.

    TrialmatchError                      anything trialmatch raises on purpose
    ├── MappingError                     a file in mappings/ is malformed or inconsistent   exit 3
    ├── InputError                       the input is not a usable patient record           exit 2
    │   ├── NotJSONError                 the bytes are not JSON (or not NDJSON)
    │   ├── NotABundleError              JSON, but not a FHIR Bundle
    │   ├── PatientCountError            a Bundle without exactly one Patient
    │   ├── TooLargeError                more entries than one patient's Bundle may hold
    │   ├── InvalidResourceError         a resource a criterion reads fails FHIR validation
    │   └── PatientNotFoundError         the FHIR source has no such patient (HTTP 404)
    ├── ConfigurationError               a setting is missing or wrong (a key file ...)     exit 2
    ├── DatabaseError                    the run history database failed                     exit 1
    ├── RunLockedError                   another run of the same batch and shard is running exit 6
    ├── ServerDown                       patients failed in a row: the nightly run stops    (run: exit 5)
    ├── Malformed                        a resource cannot be routed; caught in fhir/, where it
    │                                    becomes an InvalidResourceError saying why
    ├── UndeclaredRead                   a criterion read an id it did not declare (a bug)   exit 1
    └── UpstreamError                    the FHIR server failed us (HTTP 502)               exit 4
        ├── UpstreamTimeoutError         ... or did not answer in time (HTTP 504)
        ├── BudgetExceededError          ... or one patient needed more requests than allowed
        └── AuthorizationError           ... or its token endpoint refused our credentials

Errors are translated once: the CLI maps them to exit codes (cli.py), the API to an OperationOutcome
with a 4xx status (api/errors.py). Messages hold resource ids, never patient data.
"""

from __future__ import annotations

import logging
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    BAD_INPUT = 2
    BAD_MAPPINGS = 3
    UPSTREAM = 4
    INCOMPLETE = 5  # a nightly run that did not finish every patient (resume it with --resume)
    BUSY = 6  # another run of the same batch and shard is running


class TrialmatchError(Exception):
    """Base class: `str(error)` is one line fit for a user."""

    exit_code: ExitCode = ExitCode.FAILURE


class MappingError(TrialmatchError):
    """A mappings/ file is malformed, has unknown keys, or refers to something that does not exist."""

    exit_code = ExitCode.BAD_MAPPINGS

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class InputError(TrialmatchError):
    """The input cannot be read as one patient's FHIR data."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        self.detail = message
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.source}: {self.detail}" if self.source else self.detail


class NotJSONError(InputError):
    """The bytes are not JSON."""


class NotABundleError(InputError):
    """The JSON is not a FHIR Bundle (or not a resource at all)."""


class TooLargeError(InputError):
    """More entries than one request or file may hold (a bound on the work of one patient)."""


class PatientCountError(InputError):
    """A Bundle must hold exactly one Patient."""


class InvalidResourceError(InputError):
    """A resource that a criterion reads does not validate as FHIR R4."""

    def __init__(self, message: str, *, reference: str, source: str | None = None) -> None:
        self.reference = reference
        super().__init__(f"{reference} is not valid FHIR R4: {message}", source=source)


class PatientNotFoundError(InputError):
    """The FHIR source holds no Patient with this id."""

    def __init__(self, patient_id: str, *, source: str | None = None) -> None:
        self.patient_id = patient_id
        super().__init__(f"Patient/{patient_id} not found", source=source)


class UpstreamError(TrialmatchError):
    """The hospital's FHIR server (or its token endpoint) failed; carries the URL and status it answered."""

    exit_code = ExitCode.UPSTREAM

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        self.url, self.status = url, status
        where = f" ({status} from {url})" if status and url else f" ({url})" if url else ""
        super().__init__(message + where)


class UpstreamTimeoutError(UpstreamError):
    """The FHIR server did not answer within the configured timeout (or retries ran out on timeouts)."""


class BudgetExceededError(UpstreamError):
    """One piece of work (a patient) needed more requests than its budget: about it, not the server."""


class AuthorizationError(UpstreamError):
    """The token endpoint refused the client credentials, or the server kept refusing the token."""


class ConfigurationError(TrialmatchError):
    """A setting is missing or points at something unusable (a key file, a database URL)."""

    exit_code = ExitCode.BAD_INPUT


class DatabaseError(TrialmatchError):
    """The run history database could not be opened, migrated or written."""


class RunLockedError(TrialmatchError):
    """Another run of the same batch and shard holds its lock: this one would repeat its work."""

    exit_code = ExitCode.BUSY


class ServerDown(TrialmatchError):
    """Too many patients in a row failed on the FHIR server: the nightly run stops and can be resumed."""


class Malformed(TrialmatchError):
    """A resource that cannot even be routed (its code is not a CodeableConcept): validation will say why.

    Internal to reading FHIR (matcher/fhir/): it is always caught there and turned into an
    InvalidResourceError naming the element at fault.
    """


class UndeclaredRead(TrialmatchError):
    """A criterion read an id (or a look-back) it did not declare (criteria/reads.py): a bug, never data."""

    def __init__(self, criterion: str, kind: str, item: str, detail: str = "not declared") -> None:
        self.criterion, self.kind, self.item = criterion, kind, item
        super().__init__(f"criterion {criterion} read {kind} {item!r}: {detail}")


def internal_error(log: logging.Logger, what: str, exc: BaseException) -> str:
    """Log a bug met while handling `what` (an id or a place), and return the one line a user sees.

    Only the exception's type is logged at ERROR: its message and traceback can quote the values of a
    patient's record, so they go to DEBUG (TRIALMATCH_DEBUG=1).
    """
    line = f"internal error ({type(exc).__name__})"
    log.error("%s: %s", what, line)
    log.debug("%s: traceback of the internal error", what, exc_info=exc)
    return line
