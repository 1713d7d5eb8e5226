"""FHIR in and out: reading Bundles and NDJSON into PatientRecords, and talking to a FHIR server.

The package exports the readers, the patient sources (a server with its cache, or the fixtures) and what
they are built from (the client, its authentication and retry policy, the fetcher, Bulk Data export and its
local mirror). The parsing inside (routing, validation, distillation, FHIR datatypes) is used as modules.
"""

from matcher.fhir.auth import Auth, BearerAuth, NoAuth, SmartBackendAuth
from matcher.fhir.bulk import BulkExporter, ExportOptions
from matcher.fhir.bundle import parse_json, record_from_bundle
from matcher.fhir.client import Budget, FhirClient
from matcher.fhir.connect import fhir_client, http_client, make_auth, open_source
from matcher.fhir.fetch import Fetched, FetchOptions, PatientFetcher
from matcher.fhir.groups import current_members
from matcher.fhir.mirror import Mirror
from matcher.fhir.ndjson import NdjsonReader, Skipped, read_ndjson
from matcher.fhir.patients import LocalSource, PatientSource, ServerSource, default_fixtures_dir
from matcher.fhir.retry import RetryPolicy
from matcher.fhir.transaction import to_put_transaction

__all__ = [
    "Auth",
    "BearerAuth",
    "Budget",
    "BulkExporter",
    "ExportOptions",
    "FetchOptions",
    "Fetched",
    "FhirClient",
    "LocalSource",
    "Mirror",
    "NdjsonReader",
    "NoAuth",
    "PatientFetcher",
    "PatientSource",
    "RetryPolicy",
    "ServerSource",
    "Skipped",
    "SmartBackendAuth",
    "current_members",
    "default_fixtures_dir",
    "fhir_client",
    "http_client",
    "make_auth",
    "open_source",
    "parse_json",
    "read_ndjson",
    "record_from_bundle",
    "to_put_transaction",
]
