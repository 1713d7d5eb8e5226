"""`trialmatch nightly --bulk`: one Bulk Data export (or a _since delta merged into the last one), then
every patient with one of the diseases evaluated straight from the NDJSON files."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path
from typing import Any

from matcher.codes.loader import Mappings
from matcher.errors import InputError, TrialmatchError
from matcher.evaluate import evaluate
from matcher.fhir.bulk import BulkExporter
from matcher.fhir.client import FhirClient
from matcher.fhir.mirror import Mirror
from matcher.fhir.ndjson import Skipped, read_ndjson
from matcher.jobs.funnel import disease_valuesets
from matcher.jobs.models import Run
from matcher.jobs.nightly import Nightly, NightlyOptions, _Tally
from matcher.jobs.progress import RunProgress
from matcher.jobs.store import Store, now
from matcher.jobs.wiring import JobParts
from matcher.record import PatientRecord
from matcher.serialize import result_json

log = logging.getLogger("trialmatch.jobs")


class BulkNightly(Nightly):
    def __init__(self, parts: JobParts, store: Store, mappings: Mappings, work_dir: Path) -> None:
        if parts.client is None:
            raise InputError("--bulk needs a FHIR server: set TRIALMATCH_FHIR_BASE_URL")
        super().__init__(parts.source, parts.finder, store, mappings)
        self.client: FhirClient = parts.client
        self.work_dir = work_dir
        self.valuesets = set(disease_valuesets())
        self._records: dict[str, PatientRecord] = {}
        self._unreadable: dict[str, str] = {}

    def mirror(self, group: str | None) -> Mirror:
        """Where this server's (and group's) export is kept between runs."""
        server = hashlib.sha256(self.client.base_url.encode()).hexdigest()[:12]
        return Mirror(self.work_dir / "bulk" / server / (group or "all"))

    async def _plan(self, opts: NightlyOptions, tally: _Tally) -> tuple[Run, list[str]]:
        mirror = self.mirror(opts.group)
        if opts.resume:
            unfinished = self.store.resumable(opts.batch_key, opts.shard)
            if unfinished is not None and unfinished.transaction_time:
                log.info("resuming run %s from its export of %s", unfinished.id, unfinished.transaction_time)
                self._load(mirror, opts)
                return self.store.update_run(unfinished.id, status="running"), self.store.targets(unfinished.id)
        since = self._since(opts)
        run = self.store.start_run(
            batch=opts.batch_key,
            shard=opts.shard,
            mode="bulk",
            source=self.source.name,
            group=opts.group,
            as_of=opts.as_of,
            versions=self.versions(),
            since=since,
        )
        exporter = BulkExporter(self.client)
        incoming = mirror.folder / f".incoming-{run.id}"
        try:
            manifest, files = await exporter.export(incoming, group=opts.group, since=since)
            if since:
                mirror.merge(files)
            else:
                mirror.replace(files)
        except TrialmatchError as exc:
            self.store.update_run(run.id, status="failed", finished_at=now(), error=str(exc))
            raise
        finally:
            tally.requests += exporter.requests
            mirror.clear_incoming(incoming)
        self.store.update_run(run.id, transaction_time=manifest.transaction_time)
        targets = self._load(mirror, opts)
        self.store.set_targets(run.id, targets)
        return run, targets

    def _since(self, opts: NightlyOptions) -> str | None:
        if opts.since != "auto":
            return opts.since
        for run in self.store.runs(500):
            if (
                run.mode == "bulk"
                and run.status == "complete"
                and run.source == self.source.name
                and run.group_id == opts.group
                and run.transaction_time
            ):
                return run.transaction_time
        log.info("no earlier complete export: this one exports everything")
        return None

    def _load(self, mirror: Mirror, opts: NightlyOptions) -> list[str]:
        """Read the export in one pass: patients with one of the diseases, and those that cannot be read."""
        for item in read_ndjson(mirror.files(), self.m, opts.as_of):
            if isinstance(item, Skipped):
                if item.patient:
                    self._unreadable[item.patient.removeprefix("Patient/")] = item.error
                else:
                    log.warning("skipped %s: %s", item.source, item.error)
            elif any(set(c.matches) & self.valuesets for c in item.conditions):
                self._records[item.patient.ref.removeprefix("Patient/")] = item
        return sorted(set(self._records) | set(self._unreadable))

    def _match_record(self, record: PatientRecord, opts: NightlyOptions) -> dict[str, Any]:
        return result_json(evaluate(record, opts.as_of, self.m))

    async def _evaluate_all(self, run: Run, todo: list[str], opts: NightlyOptions, tally: _Tally) -> None:
        with RunProgress(len(todo)) as progress:
            for pid in todo:
                record = self._records.get(pid)
                if record is None:
                    self.store.record(run.id, pid, "error", detail=self._unreadable.get(pid, "not in the export"))
                    progress.advance(error=True)
                    continue
                result = await asyncio.to_thread(self._match_record, record, opts)
                self.store.record(run.id, pid, "evaluated", result)
                progress.advance()
