"""What a nightly run talks to, built from the settings: a FHIR server (or the fixtures) and its funnel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from matcher.codes.model import Mappings
from matcher.fhir.client import FhirClient
from matcher.fhir.connect import fhir_client, http_client, server_source
from matcher.fhir.patients import LocalSource, PatientSource, default_fixtures_dir
from matcher.jobs.funnel import CandidateFinder, FunnelOptions, LocalFunnel, ServerFunnel
from matcher.settings import Settings


@dataclass
class JobParts:
    source: PatientSource
    finder: CandidateFinder
    client: FhirClient | None  # None for the bundled fixtures


@asynccontextmanager
async def open_job(settings: Settings, mappings: Mappings) -> AsyncIterator[JobParts]:
    if not settings.fhir_base_url:
        local = LocalSource(default_fixtures_dir())
        yield JobParts(local, LocalFunnel(local, mappings), None)
        return
    async with http_client(settings) as http:
        client = fhir_client(settings, http)
        options = FunnelOptions.from_settings(settings)
        yield JobParts(server_source(settings, mappings, client), ServerFunnel(client, mappings, options), client)
