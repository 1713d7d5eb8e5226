"""`trialmatch nightly --bulk`: one Bulk Data export (or a _since delta merged in), evaluated from its NDJSON files."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from matcher.codes.model import Mappings
from matcher.errors import InputError, TrialmatchError, internal_error
from matcher.evaluate import evaluate
from matcher.fhir.bulk import BulkExporter, ExportOptions
from matcher.fhir.client import Budget, FhirClient, query_chunks
from matcher.fhir.mirror import Mirror
from matcher.fhir.ndjson import NdjsonReader, Skipped
from matcher.jobs.funnel import has_disease_code
from matcher.jobs.models import Run, RunStatus
from matcher.jobs.nightly import NightlyOptions, Record, run_fields
from matcher.jobs.store import Store
from matcher.jobs.wiring import JobParts
from matcher.record import PatientRecord
from matcher.report.data import Person
from matcher.serialize import result_json
from matcher.settings import Settings

log = logging.getLogger("trialmatch.jobs")


class BulkScreening:
    """The patients of one export kept in the work folder: those with a disease Condition, read from the files."""

    def __init__(self, parts: JobParts, store: Store, mappings: Mappings, settings: Settings) -> None:
        if parts.client is None:
            raise InputError("--bulk needs a FHIR server: set TRIALMATCH_FHIR_BASE_URL")
        self.client: FhirClient = parts.client
        self.source_name = parts.source.name
        self.store = store
        self.m = mappings
        self.settings = settings
        self._records: dict[str, PatientRecord] = {}
        self._unreadable: dict[str, str] = {}
        self._diseased: set[str] = set()

    def mirror(self, group: str | None) -> Mirror:
        """Where this server's (and group's) export is kept between runs."""
        server = hashlib.sha256(self.client.base_url.encode()).hexdigest()[:12]
        return Mirror(self.settings.work_dir / "bulk" / server / (group or "all"))

    async def plan(self, opts: NightlyOptions) -> tuple[Run, list[str]]:
        """Resume a run whose export is the one on disk, or export (all, or a delta) and start a new run."""
        mirror = self.mirror(opts.group)
        if opts.resume:
            unfinished = self.store.resumable(opts.batch_key, opts.shard)
            # only a run that got as far as its targets (written with its export's time) can go on
            if (
                unfinished is not None
                and unfinished.transaction_time is not None
                and unfinished.transaction_time == mirror.transaction_time()
            ):
                log.info("resuming run %s from its export of %s", unfinished.id, unfinished.transaction_time)
                await self._load(mirror, opts)
                return self.store.resume_run(unfinished.id), self.store.targets(unfinished.id)
            if unfinished is not None:
                log.info("run %s stopped before its export was read: starting a new one", unfinished.id)
        since = self._since(opts, mirror)
        run = self.store.start_run(**{**run_fields(opts, self.source_name, self.m), "since": since})
        exporter = BulkExporter(self.client, ExportOptions.from_settings(self.settings))
        incoming = mirror.folder / f".incoming-{run.id}"
        try:
            manifest, files = await exporter.export(incoming, group=opts.group, since=since, as_of=opts.as_of)
            if since:
                mirror.merge(files, manifest.transaction_time)
            else:
                mirror.replace(files, manifest.transaction_time)
        except TrialmatchError as exc:
            self.store.finish_run(run.id, RunStatus.FAILED, error=str(exc))
            raise
        finally:
            Mirror.discard(incoming)
        targets = await self._load(mirror, opts)
        if exporter.members is not None:  # a server may export former members too
            targets = sorted(set(targets) & exporter.members)
        # the export's time and the targets together: a run with an export time knows what it is for
        self.store.set_targets(run.id, targets, transaction_time=manifest.transaction_time)
        return run, targets

    def _since(self, opts: NightlyOptions, mirror: Mirror) -> str | None:
        """--since auto: the last export whose copy is the one on disk, so a delta has something to merge into."""
        if opts.since != "auto":
            if opts.since and mirror.transaction_time() is None:
                raise InputError("--since needs the copy of an earlier export in the work folder; run a full --bulk")
            return opts.since
        kept = mirror.transaction_time()
        if kept and self.store.finished_export(self.source_name, opts.group, kept) is not None:
            return kept
        log.info("no earlier export to build on in %s: this one exports everything", mirror.folder)
        return None

    async def _load(self, mirror: Mirror, opts: NightlyOptions) -> list[str]:
        """Read the export in one pass; fetch the Medications it lacked; keep the patients with a disease."""
        reader = NdjsonReader(self.m, opts.as_of, watch=self._watch)
        for path in mirror.files():
            reader.read(path)
        for medication in await self._medications(reader.missing_medications()):
            reader.medications.add(medication)
        for item in reader.results():
            if isinstance(item, Skipped):
                if item.patient:
                    self._unreadable[item.patient.removeprefix("Patient/")] = item.error
                else:
                    log.warning("skipped %s: %s", item.source, item.error)
            else:
                self._records[item.patient.ref.removeprefix("Patient/")] = item
        # an unreadable patient is a target (recorded as an error) only if a disease Condition was seen
        return sorted((set(self._records) | set(self._unreadable)) & self._diseased)

    def _watch(self, pid: str, resource: dict[str, Any]) -> None:
        if resource.get("resourceType") == "Condition" and has_disease_code(resource, self.m):
            self._diseased.add(pid)

    async def _medications(self, ids: set[str]) -> list[dict[str, Any]]:
        """Medication is outside the Patient compartment: an export may leave out what the uses refer to."""
        if not ids:
            return []
        settings = self.settings
        budget = Budget(
            settings.export_medications_budget,
            self.client.clock() + settings.export_medications_deadline,
            "the Medications the export lacked",
        )
        page = [("_count", str(settings.fhir_page_size))]
        url = self.client.url("Medication")
        found = []
        for chunk in query_chunks(url, "_id", sorted(ids), page, settings.fhir_max_url_length):
            async for entry in self.client.search("Medication", [("_id", chunk), *page], budget):
                found.append(entry["resource"])
        log.info("read %d of %d Medications the export did not hold", len(found), len(ids))
        return found

    def _match_record(self, record: PatientRecord, opts: NightlyOptions) -> dict[str, Any]:
        return result_json(evaluate(record, opts.as_of, self.m))

    async def evaluate_all(self, run: Run, todo: list[str], opts: NightlyOptions, record: Record) -> None:
        """Each patient's record was read with the export: only the evaluation is left (in a thread)."""
        for pid in todo:
            patient_record = self._records.get(pid)
            if patient_record is None:
                await record(pid, "error", None, self._unreadable.get(pid, "not in the export"))
            elif patient_record.patient.retired is not None:  # merged into another record, or inactive
                state, detail = patient_record.patient.retired
                await record(pid, state, None, detail)
            else:
                try:
                    result = await asyncio.to_thread(self._match_record, patient_record, opts)
                except Exception as exc:  # a bug: this patient is recorded as an error, the night goes on
                    await record(pid, "error", None, internal_error(log, f"Patient/{pid}", exc))
                else:
                    person = Person.of(patient_record.patient, opts.mrn_system).as_json()
                    await record(pid, "evaluated", result, None, person)
