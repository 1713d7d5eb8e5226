"""FHIR Bulk Data export: kick-off, polling that honours Retry-After, NDJSON streamed to disk, clean-up."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from matcher.errors import UpstreamError, UpstreamTimeoutError
from matcher.fhir.client import Budget, FhirClient
from matcher.fhir.groups import current_members
from matcher.fhir.validate import READ_TYPES
from matcher.settings import Settings

log = logging.getLogger("trialmatch.fhir")

#: the resource types the criteria read: nothing else is exported
EXPORT_TYPES: tuple[str, ...] = READ_TYPES
#: seconds before the first status check when the server gives no Retry-After (doubling up to poll_max)
POLL_FIRST = 1.0


@dataclass
class Manifest:
    transaction_time: str
    #: (resource type, URL) of every output file
    outputs: list[tuple[str, str]]
    requires_token: bool
    #: Bulk Data v2: files of deleted resources (Bundles of DELETE requests), when the server lists them
    deleted: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExportOptions:
    """How long an export may take and how often it is polled: the TRIALMATCH_EXPORT_* settings."""

    poll_max: float  # the longest pause between two status checks without a Retry-After
    timeout: float  # the longest an export may take
    budget: int  # requests: kick-off, polls, downloads and their retries
    poll_first: float = POLL_FIRST

    @classmethod
    def from_settings(cls, settings: Settings) -> ExportOptions:
        return cls(poll_max=settings.export_poll_max, timeout=settings.export_timeout, budget=settings.export_budget)


class BulkExporter:
    """One export against one server; Group/[id]/$export or Patient/$export, _type and _since as asked."""

    def __init__(self, client: FhirClient, options: ExportOptions) -> None:
        self.client = client
        self.options = options
        self.requests = 0
        #: the exported Group's current members, when it lists them
        self.members: set[str] | None = None

    async def export(
        self,
        folder: Path,
        *,
        group: str | None = None,
        since: str | None = None,
        types: Iterable[str] = EXPORT_TYPES,
        as_of: date,
    ) -> tuple[Manifest, list[tuple[str, Path]]]:
        """Run an export to its end and download its files into `folder`: (manifest, [(type, file)]).

        A Group is read first: one without current members (on `as_of`) is refused before anything is
        exported, and its current members are kept in `members` (servers may export former ones too).
        """
        budget = Budget(self.options.budget, self.client.clock() + self.options.timeout, "the bulk export")
        try:
            if group is not None:
                resource = await self.client.read("Group", group, budget)
                self.members = current_members(resource, group, as_of)
            status_url = await self._kickoff(group, since, list(types), budget)
            try:
                manifest = await self._wait(status_url, budget)
                files = await self._download(manifest, folder, budget)
            finally:
                await self._clean_up(status_url, budget)
            return manifest, files
        finally:
            self.requests += budget.spent

    async def _kickoff(self, group: str | None, since: str | None, types: list[str], budget: Budget) -> str:
        path = f"Group/{group}/$export" if group else "Patient/$export"
        params = [("_type", ",".join(types)), ("_outputFormat", "application/fhir+ndjson")]
        if since:
            params.append(("_since", since))
        response = await self.client.send(path, budget, params, headers={"Prefer": "respond-async"})
        if response.status_code != 202 or "content-location" not in response.headers:
            raise UpstreamError("the server did not accept the export", url=path, status=response.status_code)
        location = response.headers["content-location"]
        log.info("bulk export started: %s", location)
        return location

    async def _wait(self, status_url: str, budget: Budget) -> Manifest:
        pause = self.options.poll_first
        while True:
            response = await self.client.send(status_url, budget, headers={"Accept": "application/json"})
            if response.status_code == 200:
                try:
                    body = response.json()
                except ValueError:
                    raise UpstreamError("the export manifest is not JSON", url=status_url, status=200) from None
                return _manifest(body, status_url)
            if response.status_code != 202:
                raise UpstreamError("the export failed", url=status_url, status=response.status_code)
            wait = self.client.retry_after(response)
            wait = pause if wait is None else wait
            if self.client.clock() + wait > budget.deadline:
                raise UpstreamTimeoutError("the export did not finish in time", url=status_url)
            log.info(
                "bulk export in progress (%s); next check in %.0f s",
                response.headers.get("x-progress", "no progress reported"),
                wait,
            )
            await self.client.sleep(wait)
            pause = min(pause * 2, self.options.poll_max)

    async def _download(self, manifest: Manifest, folder: Path, budget: Budget) -> list[tuple[str, Path]]:
        """Every output file, and the files of deleted resources (as type 'deleted'), streamed to disk."""
        folder.mkdir(parents=True, exist_ok=True)
        for url in manifest.errors:
            log.warning("the export reports errors in %s", url)
        wanted = [*manifest.outputs, *(("deleted", url) for _, url in manifest.deleted)]
        files = []
        for n, (rtype, url) in enumerate(wanted):
            dest = folder / f"{rtype}.{n:04d}.ndjson"
            size = await self.client.download(url, dest, budget, authenticated=manifest.requires_token)
            log.info("downloaded %s (%d bytes)", dest.name, size)
            files.append((rtype, dest))
        return files

    async def _clean_up(self, status_url: str, budget: Budget) -> None:
        """Tell the server it may delete the export's files (best effort)."""
        try:
            await self.client.send(status_url, budget, method="DELETE")
        except UpstreamError as exc:
            log.info("the export could not be deleted on the server: %s", exc)


def _manifest(body: Any, url: str) -> Manifest:
    if not isinstance(body, dict) or not isinstance(body.get("output"), list):
        raise UpstreamError("the export manifest has no output list", url=url, status=200)
    outputs = [(o["type"], o["url"]) for o in body["output"] if isinstance(o, dict) and "type" in o and "url" in o]
    deleted = [
        (o.get("type", ""), o["url"]) for o in body.get("deleted", []) or [] if isinstance(o, dict) and "url" in o
    ]
    errors = [str(o.get("url")) for o in body.get("error", []) or [] if isinstance(o, dict)]
    return Manifest(
        str(body.get("transactionTime", "")), outputs, bool(body.get("requiresAccessToken")), deleted, errors
    )
