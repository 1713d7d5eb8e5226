"""Build the patient source the settings describe: a FHIR server (pool, auth, retries, cache) or the fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from matcher.codes.model import Mappings
from matcher.errors import ConfigurationError
from matcher.fhir.auth import Auth, BearerAuth, NoAuth, SmartBackendAuth
from matcher.fhir.client import FhirClient
from matcher.fhir.fetch import FetchOptions, PatientFetcher
from matcher.fhir.patients import LocalSource, PatientSource, ServerSource, default_fixtures_dir
from matcher.fhir.retry import RetryPolicy
from matcher.settings import Settings


def make_auth(settings: Settings) -> Auth:
    mode = settings.auth_mode
    if mode == "bearer":
        if settings.fhir_token is None:
            raise ConfigurationError("TRIALMATCH_FHIR_AUTH=bearer needs TRIALMATCH_FHIR_TOKEN")
        return BearerAuth(settings.fhir_token.get_secret_value())
    if mode == "smart":
        if not settings.smart_client_id or not settings.smart_key_file or not settings.fhir_base_url:
            raise ConfigurationError(
                "SMART Backend Services needs TRIALMATCH_SMART_CLIENT_ID and TRIALMATCH_SMART_KEY_FILE"
            )
        return SmartBackendAuth.from_key_file(
            settings.smart_key_file,
            base_url=settings.fhir_base_url,
            client_id=settings.smart_client_id,
            alg=settings.smart_alg,
            kid=settings.smart_key_id,
            scope=settings.smart_scope,
            token_url=settings.smart_token_url,
        )
    return NoAuth()


def http_client(settings: Settings) -> httpx.AsyncClient:
    """One shared connection pool, with timeouts on connect and read."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.fhir_read_timeout, connect=settings.fhir_connect_timeout),
        limits=httpx.Limits(
            max_connections=settings.fhir_max_connections, max_keepalive_connections=settings.fhir_max_connections
        ),
        headers={"User-Agent": "trialmatch"},
    )


def fhir_client(settings: Settings, http: httpx.AsyncClient) -> FhirClient:
    if not settings.fhir_base_url:
        raise ConfigurationError("a FHIR client needs TRIALMATCH_FHIR_BASE_URL")
    return FhirClient(
        settings.fhir_base_url, http, auth=make_auth(settings), policy=RetryPolicy.from_settings(settings)
    )


def server_source(settings: Settings, mappings: Mappings, client: FhirClient) -> ServerSource:
    """A FHIR server as a patient source: the fetcher with the settings' limits, behind the cache."""
    fetcher = PatientFetcher(client, mappings, FetchOptions.from_settings(settings))
    return ServerSource(fetcher, ttl=settings.cache_ttl, maxsize=settings.cache_max_patients)


@asynccontextmanager
async def open_source(settings: Settings, mappings: Mappings) -> AsyncIterator[PatientSource]:
    """The configured source, open for the duration of the block (the HTTP pool is closed after it)."""
    if not settings.fhir_base_url:
        yield LocalSource(default_fixtures_dir())
        return
    async with http_client(settings) as http:
        yield server_source(settings, mappings, fhir_client(settings, http))
