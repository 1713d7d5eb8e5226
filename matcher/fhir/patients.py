"""Where patients come from: a FHIR server (with a TTL cache) or, by default, the bundled fixtures."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import orjson
from cachetools import TTLCache

from matcher.errors import PatientNotFoundError, UpstreamError
from matcher.fhir.client import Budget
from matcher.fhir.fetch import Fetched, PatientFetcher
from matcher.fhir.refs import retired

log = logging.getLogger("trialmatch.fhir")
#: seconds a readiness check waits for the FHIR server
READY_SECONDS = 5.0


class PatientSource(Protocol):
    """Anything that can hand over one patient's resources by id."""

    name: str

    @property
    def requests_sent(self) -> int:
        """Requests sent to the FHIR server so far (0 for sources that are not servers)."""
        ...

    async def fetch(self, patient_id: str) -> Fetched: ...

    async def whereabouts(self, patient_id: str) -> tuple[str, str | None]:
        """Why a patient is no longer a candidate: gone (deleted), merged (into another), or left."""
        ...

    async def check(self) -> None:
        """Raise (an UpstreamError) when the source cannot serve patients now: for readiness probes."""
        ...


class ServerSource:
    """A FHIR server behind a TTL cache of fetched patients; concurrent asks for one patient share a fetch."""

    def __init__(
        self, fetcher: PatientFetcher, *, ttl: float, maxsize: int, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self.fetcher = fetcher
        self.name = fetcher.client.base_url
        self._cache: TTLCache[str, list[dict[str, Any]]] | None = (
            TTLCache(maxsize=maxsize, ttl=ttl, timer=timer) if ttl > 0 else None
        )
        self._inflight: dict[str, asyncio.Task[Fetched]] = {}

    @property
    def requests_sent(self) -> int:
        return self.fetcher.client.sent

    async def check(self) -> None:
        """The server answers its CapabilityStatement within a few seconds, without retries."""
        client = self.fetcher.client
        response = await client.send("metadata", Budget(1, client.clock() + READY_SECONDS, "readiness"))
        if response.status_code >= 400:
            raise UpstreamError(f"the FHIR server answered {response.status_code} to /metadata")

    async def fetch(self, patient_id: str) -> Fetched:
        if self._cache is not None and (hit := self._cache.get(patient_id)) is not None:
            log.info("Patient/%s served from cache", patient_id)
            return Fetched(patient_id, hit, requests=0, cached=True)
        task = self._inflight.get(patient_id)
        if task is None:
            # a task of its own: one caller giving up (a closed connection) does not cancel the others
            task = self._inflight[patient_id] = asyncio.create_task(self._fetch(patient_id))
            task.add_done_callback(lambda _: self._inflight.pop(patient_id, None))
        return await asyncio.shield(task)

    async def _fetch(self, patient_id: str) -> Fetched:
        fetched = await self.fetcher.fetch(patient_id)
        if self._cache is not None:
            self._cache[patient_id] = fetched.resources
        log.info("Patient/%s fetched with %d requests (%s)", patient_id, fetched.requests, fetched.method)
        return fetched

    async def whereabouts(self, patient_id: str) -> tuple[str, str | None]:
        client = self.fetcher.client
        patient = await client.read("Patient", patient_id, Budget(5, what=f"Patient/{patient_id}"))
        if patient is None:
            return "gone", "deleted on the FHIR server"
        return retired(patient) or ("left", "no longer has one of the seven diseases on record")

    def forget(self, patient_id: str | None = None) -> None:
        if self._cache is not None:
            if patient_id is None:
                self._cache.clear()
            else:
                self._cache.pop(patient_id, None)


class LocalSource:
    """The bundled fixtures as a FHIR source: what `trialmatch serve` uses when no server is configured."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = f"bundled fixtures ({folder})"
        self._index: dict[str, Path] | None = None

    async def check(self) -> None:
        """The fixtures folder is there."""
        if not self.folder.is_dir():
            raise UpstreamError(f"the fixtures folder {self.folder} is missing")

    def index(self) -> dict[str, Path]:
        """Patient id -> the fixture Bundle holding that patient."""
        if self._index is None:
            index: dict[str, Path] = {}
            for path in sorted(self.folder.rglob("*.json")):
                try:
                    data = orjson.loads(path.read_bytes())
                except orjson.JSONDecodeError:
                    continue
                if isinstance(data, dict) and data.get("resourceType") == "Bundle":
                    for entry in data.get("entry", []):
                        res = entry.get("resource", {}) if isinstance(entry, dict) else {}
                        if res.get("resourceType") == "Patient" and isinstance(res.get("id"), str):
                            index[res["id"]] = path
            self._index = index
        return self._index

    async def whereabouts(self, patient_id: str) -> tuple[str, str | None]:
        if patient_id not in self.index():
            return "gone", "no longer among the bundled fixtures"
        return "left", "no longer has one of the seven diseases on record"

    @property
    def requests_sent(self) -> int:
        return 0

    def patient_ids(self) -> list[str]:
        return sorted(self.index())

    async def fetch(self, patient_id: str) -> Fetched:
        path = self.index().get(patient_id)
        if path is None:
            raise PatientNotFoundError(patient_id, source=self.name)
        bundle = orjson.loads(path.read_bytes())
        resources = [e["resource"] for e in bundle.get("entry", []) if isinstance(e, dict) and "resource" in e]
        return Fetched(patient_id, resources, requests=0, method="local", original=bundle)


def default_fixtures_dir() -> Path:
    """fixtures/ of a source checkout, else the copy packaged inside the wheel."""
    here = Path(__file__).resolve().parent.parent
    checkout = here.parent / "fixtures"
    return checkout if checkout.is_dir() else here / "_data" / "fixtures"
