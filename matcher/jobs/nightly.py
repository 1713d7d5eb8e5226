"""`trialmatch nightly`: find the candidates, evaluate them politely, store every result, say what changed."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from matcher import __version__
from matcher.codes.loader import Mappings
from matcher.errors import InputError, PatientNotFoundError, TrialmatchError, UpstreamError
from matcher.evaluate import evaluate
from matcher.fhir.bundle import record_from_bundle
from matcher.fhir.fetch import Fetched
from matcher.fhir.source import PatientSource
from matcher.jobs.diff import Diff, diff
from matcher.jobs.funnel import CandidateFinder, in_shard
from matcher.jobs.models import Run
from matcher.jobs.progress import RunProgress
from matcher.jobs.store import Store, now
from matcher.rank import VERDICT_ORDER
from matcher.serialize import result_json

log = logging.getLogger("trialmatch.jobs")


class ServerDown(TrialmatchError):
    """Too many patients in a row failed on the FHIR server: the run stops and can be resumed."""


@dataclass
class NightlyOptions:
    as_of: date
    out: Path
    group: str | None = None
    shard: tuple[int, int] = (0, 1)
    resume: bool = False
    batch: str | None = None
    concurrency: int = 4
    #: patients failing in a row on the server before the run stops (it is down, not this patient)
    max_failures_in_a_row: int = 5
    mode: str = "funnel"
    since: str | None = None

    @property
    def batch_key(self) -> str:
        return self.batch or f"{self.as_of.isoformat()}/{self.mode}/{self.group or 'all'}"


@dataclass
class NightlyOutcome:
    run: Run
    candidates: list[dict[str, Any]]
    summary: dict[str, Any]
    changes: Diff | None
    complete: bool
    report_dir: Path


@dataclass
class _Tally:
    requests: int = 0
    failures_in_a_row: int = 0
    counts: dict[str, int] = field(default_factory=dict)


class Nightly:
    """One shard of a night's work against one patient source, stored in one database."""

    def __init__(self, source: PatientSource, finder: CandidateFinder, store: Store, mappings: Mappings) -> None:
        self.source = source
        self.finder = finder
        self.store = store
        self.m = mappings

    def versions(self) -> dict[str, Any]:
        return {"matcher": __version__, "mappings": self.m.provenance.digest, "files": self.m.provenance.files}

    async def run(self, opts: NightlyOptions) -> NightlyOutcome:
        started = time.monotonic()
        tally = _Tally()
        run, targets = await self._plan(opts, tally)
        todo = sorted(set(targets) - self.store.finished(run.id))
        log.info(
            "run %s (%s, shard %d/%d): %d patients, %d still to do",
            run.id,
            run.batch,
            *opts.shard,
            len(targets),
            len(todo),
        )
        error: str | None = None
        try:
            await self._evaluate_all(run, todo, opts, tally)
            await self._leavers(run, set(targets), opts, tally)
        except ServerDown as exc:
            error = str(exc)
            log.error("run %s stopped: %s (resume it with --resume)", run.id, exc)
        results = self.store.results([run.id])
        errors = sum(r.outcome == "error" for r in results.values())
        complete = error is None and errors == 0 and set(targets) <= set(results)
        summary = self._summary(results, targets, tally, time.monotonic() - started, errors)
        run = self.store.update_run(
            run.id,
            status="complete" if complete else "incomplete",
            finished_at=now(),
            summary=summary,
            requests_sent=run.requests_sent + tally.requests,
            error=error,
        )
        batch = self.store.batch_results(run.batch)
        previous = self.store.previous_batch(run)
        changes = diff(self.store.batch_results(previous), batch) if previous else None
        candidates = ranked(r.result for r in batch.values() if r.outcome == "evaluated" and r.result)
        return NightlyOutcome(run, candidates, summary, changes, complete, opts.out)

    async def _plan(self, opts: NightlyOptions, tally: _Tally) -> tuple[Run, list[str]]:
        """Resume the unfinished run of this batch and shard, or start one and write down its targets."""
        if opts.resume:
            unfinished = self.store.resumable(opts.batch_key, opts.shard)
            if unfinished is not None:
                log.info("resuming run %s", unfinished.id)
                return self.store.update_run(unfinished.id, status="running"), self.store.targets(unfinished.id)
            log.info("nothing to resume in %s (shard %d/%d): starting a new run", opts.batch_key, *opts.shard)
        run = self.store.start_run(
            batch=opts.batch_key,
            shard=opts.shard,
            mode=opts.mode,
            source=self.source.name,
            group=opts.group,
            as_of=opts.as_of,
            versions=self.versions(),
            since=opts.since,
        )
        try:
            found, requests = await self.finder.candidates(opts.group)
        except TrialmatchError as exc:
            self.store.update_run(run.id, status="failed", finished_at=now(), error=str(exc))
            raise
        tally.requests += requests
        targets = sorted(in_shard(found, opts.shard))
        self.store.set_targets(run.id, targets)
        return run, targets

    async def _evaluate_all(self, run: Run, todo: list[str], opts: NightlyOptions, tally: _Tally) -> None:
        gate = asyncio.Semaphore(opts.concurrency)
        with RunProgress(len(todo)) as progress:

            async def one(pid: str) -> None:
                async with gate:
                    error = await self._evaluate(run, pid, opts, tally)
                progress.advance(error=error)

            tasks = [asyncio.create_task(one(pid)) for pid in todo]
            try:
                await asyncio.gather(*tasks)
            except ServerDown:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise

    async def _evaluate(self, run: Run, pid: str, opts: NightlyOptions, tally: _Tally) -> bool:
        """Fetch, evaluate and store one patient; True when it ended in an error."""
        try:
            fetched = await self.source.fetch(pid)
            tally.requests += fetched.requests
            result = await asyncio.to_thread(self._match, fetched, opts.as_of)
        except PatientNotFoundError:
            self.store.record(run.id, pid, "gone", detail="not found on the FHIR server")
            return False
        except InputError as exc:
            log.warning("Patient/%s skipped: %s", pid, exc)
            self.store.record(run.id, pid, "error", detail=str(exc))
            return True
        except UpstreamError as exc:
            tally.failures_in_a_row += 1
            self.store.record(run.id, pid, "error", detail=str(exc))
            if tally.failures_in_a_row >= opts.max_failures_in_a_row:
                raise ServerDown(
                    f"{tally.failures_in_a_row} patients in a row failed on the FHIR server: {exc}"
                ) from exc
            return True
        tally.failures_in_a_row = 0
        self.store.record(run.id, pid, "evaluated", result)
        return False

    def _match(self, fetched: Fetched, as_of: date) -> dict[str, Any]:
        record = record_from_bundle(fetched.bundle(), self.m, f"Patient/{fetched.patient_id}", as_of)
        return result_json(evaluate(record, as_of, self.m))

    async def _leavers(self, run: Run, targets: set[str], opts: NightlyOptions, tally: _Tally) -> None:
        """Patients of the previous run (this shard) the funnel no longer finds: deleted, merged, or left."""
        previous = self.store.previous_batch(run)
        if previous is None:
            return
        before = self.store.batch_results(previous)
        missing = in_shard((pid for pid, r in before.items() if r.outcome == "evaluated"), opts.shard) - targets
        for pid in sorted(missing):
            outcome, detail = await self.source.whereabouts(pid)
            tally.requests += 1
            self.store.record(run.id, pid, outcome, detail=detail)

    @staticmethod
    def _summary(
        results: dict[str, Any], targets: list[str], tally: _Tally, seconds: float, errors: int
    ) -> dict[str, Any]:
        verdicts: dict[str, int] = {}
        outcomes: dict[str, int] = {}
        for r in results.values():
            outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
            if r.outcome == "evaluated" and r.cohort is not None:
                verdicts[r.verdict] = verdicts.get(r.verdict, 0) + 1
        no_cohort = sum(1 for r in results.values() if r.outcome == "evaluated" and r.cohort is None)
        return {
            "screened": len(targets),
            "verdicts": verdicts,
            "no_qualifying_diagnosis": no_cohort,
            "outcomes": outcomes,
            "errors": errors,
            "seconds": round(seconds, 1),
            "requests_sent": tally.requests,
        }


def ranked(results: Any) -> list[dict[str, Any]]:
    """MatchResults of patients with one of the diseases, in the contract's order."""
    kept = [r for r in results if r.get("cohort") is not None]
    return sorted(kept, key=lambda r: (VERDICT_ORDER[r["verdict"]], -r["score"], r["patient"]))
