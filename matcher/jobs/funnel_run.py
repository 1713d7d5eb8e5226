"""`trialmatch nightly` without --bulk: the funnel's candidates, fetched and evaluated a few patients at a time."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from matcher.codes.model import Mappings
from matcher.errors import (
    BudgetExceededError,
    InputError,
    PatientNotFoundError,
    ServerDown,
    TrialmatchError,
    UpstreamError,
    internal_error,
)
from matcher.evaluate import evaluate
from matcher.fhir.bundle import record_from_bundle
from matcher.fhir.patients import PatientSource
from matcher.fhir.refs import retired
from matcher.jobs.funnel import CandidateFinder, in_shard
from matcher.jobs.models import Run, RunStatus
from matcher.jobs.nightly import NightlyOptions, Record, run_fields
from matcher.jobs.store import Store
from matcher.pipeline import check_as_of
from matcher.report.data import Person
from matcher.serialize import result_json

log = logging.getLogger("trialmatch.jobs")


class FunnelScreening:
    """The night's candidates from a CandidateFinder (found once per batch), fetched one by one from `source`."""

    def __init__(self, source: PatientSource, finder: CandidateFinder, store: Store, mappings: Mappings) -> None:
        self.source = source
        self.finder = finder
        self.store = store
        self.m = mappings
        self._failures_in_a_row = 0

    # -- planning --------------------------------------------------------------------------------

    async def plan(self, opts: NightlyOptions) -> tuple[Run, list[str]]:
        """Resume the unfinished run of this batch and shard, or find the candidates and start one."""
        if opts.resume:
            unfinished = self.store.resumable(opts.batch_key, opts.shard)
            if unfinished is not None:
                log.info("resuming run %s", unfinished.id)
                return self.store.resume_run(unfinished.id), self.store.targets(unfinished.id)
            log.info("nothing to resume in %s (shard %d/%d): starting a new run", opts.batch_key, *opts.shard)
        fields = run_fields(opts, self.source.name, self.m)
        try:
            candidates = await self._batch_candidates(opts)
        except TrialmatchError as exc:
            self.store.start_run(**fields, status=RunStatus.FAILED)
            log.error("no run: %s", exc)
            raise
        targets = sorted(in_shard(candidates, opts.shard))
        # the run and its targets are written together: a run that exists always knows what it is for
        return self.store.start_run(**fields, targets=targets), targets

    async def _batch_candidates(self, opts: NightlyOptions) -> list[str]:
        """The night's candidates: found by the first shard to get here, read by the others."""
        stored = self.store.batch_candidates(opts.batch_key)
        if stored is not None:
            log.info("%d candidates of %s found earlier tonight", len(stored), opts.batch_key)
            return stored
        found, requests = await self.finder.candidates(opts.group, opts.as_of)
        return self.store.save_batch_candidates(opts.batch_key, found, requests)

    # -- evaluating ------------------------------------------------------------------------------

    async def evaluate_all(self, run: Run, todo: list[str], opts: NightlyOptions, record: Record) -> None:
        """A few workers pull patients from a queue: at most `concurrency` patients in flight."""
        self._failures_in_a_row = 0
        queue: asyncio.Queue[str] = asyncio.Queue()
        for pid in todo:
            queue.put_nowait(pid)

        async def worker() -> None:
            while not queue.empty():
                await self._evaluate(queue.get_nowait(), opts, record)

        workers = [asyncio.create_task(worker()) for _ in range(min(opts.concurrency, len(todo)))]
        try:
            await asyncio.gather(*workers)
        except ServerDown:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise

    async def _evaluate(self, pid: str, opts: NightlyOptions, record: Record) -> None:
        """Fetch, evaluate and record one patient."""
        state, result, detail, person = "evaluated", None, None, None
        try:
            fetched = await self.source.fetch(pid)
            patient = fetched.patient()
            left = retired(patient) if patient is not None else None
            if left is not None:  # merged into another record, or inactive: not a candidate of its own
                state, detail = left
            else:
                result, person = await asyncio.to_thread(self._match, fetched.bundle(), pid, opts)
        except PatientNotFoundError:
            state, detail = "gone", "not found on the FHIR server"
        except (InputError, BudgetExceededError) as exc:  # about this patient, not the server
            log.warning("Patient/%s skipped: %s", pid, exc)
            state, detail = "error", str(exc)
        except UpstreamError as exc:
            state, detail = "error", str(exc)
            self._failures_in_a_row += 1
            if self._failures_in_a_row >= opts.max_failures_in_a_row:
                await record(pid, state, None, detail)
                raise ServerDown(
                    f"{self._failures_in_a_row} patients in a row failed on the FHIR server: {exc}"
                ) from exc
        except Exception as exc:  # a bug: this patient is recorded as an error, the night goes on
            state, detail = "error", internal_error(log, f"Patient/{pid}", exc)
        else:
            self._failures_in_a_row = 0
        await record(pid, state, result, detail, person)

    def _match(self, bundle: dict[str, Any], pid: str, opts: NightlyOptions) -> tuple[dict[str, Any], dict[str, Any]]:
        """The MatchResult, and who the patient is (for the report)."""
        check_as_of(opts.as_of)
        record = record_from_bundle(bundle, self.m, f"Patient/{pid}", opts.as_of)
        person = Person.of(record.patient, opts.mrn_system).as_json()
        return result_json(evaluate(record, opts.as_of, self.m)), person
