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
from matcher.errors import (
    BudgetExceededError,
    InputError,
    PatientNotFoundError,
    TrialmatchError,
    UpstreamError,
    internal_error,
)
from matcher.fhir.distil import retired
from matcher.fhir.source import PatientSource
from matcher.jobs.diff import Diff, diff
from matcher.jobs.funnel import CandidateFinder, in_shard
from matcher.jobs.models import Result, Run
from matcher.jobs.progress import RunProgress
from matcher.jobs.store import Store, now
from matcher.pipeline import match_bundle
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
    failures_in_a_row: int = 0
    extra: dict[str, int] = field(default_factory=dict)


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
        started, sent_before = time.monotonic(), self.source.requests_sent
        tally = _Tally()
        run, targets = await self._plan(opts)
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
            await self._leavers(run, set(targets), opts)
        except ServerDown as exc:
            error = str(exc)
            log.error("run %s stopped: %s (resume it with --resume)", run.id, exc)
        results = self.store.results([run.id])
        errors = sum(r.outcome == "error" for r in results.values())
        status = "incomplete" if error or not set(targets) <= set(results) else ("partial" if errors else "complete")
        requests = self.source.requests_sent - sent_before
        summary = self._summary(results, targets, requests, time.monotonic() - started, errors)
        run = self.store.update_run(
            run.id,
            status=status,
            finished_at=now(),
            summary=summary,
            error=error,
            requests_sent=run.requests_sent + requests,
        )
        return NightlyOutcome(
            run, self._candidates(run), summary, self._changes(run, opts), status == "complete", opts.out
        )

    # -- planning --------------------------------------------------------------------------------

    async def _plan(self, opts: NightlyOptions) -> tuple[Run, list[str]]:
        """Resume the unfinished run of this batch and shard, or find the candidates and start one."""
        if opts.resume:
            unfinished = self.store.resumable(opts.batch_key, opts.shard)
            if unfinished is not None:
                log.info("resuming run %s", unfinished.id)
                return self.store.update_run(unfinished.id, status="running"), self.store.targets(unfinished.id)
            log.info("nothing to resume in %s (shard %d/%d): starting a new run", opts.batch_key, *opts.shard)
        try:
            candidates = await self._batch_candidates(opts)
        except TrialmatchError as exc:
            self.store.start_run(**self._run_fields(opts), status="failed")
            log.error("no run: %s", exc)
            raise
        targets = sorted(in_shard(candidates, opts.shard))
        # the run and its targets are written together: a run that exists always knows what it is for
        return self.store.start_run(**self._run_fields(opts), targets=targets), targets

    async def _batch_candidates(self, opts: NightlyOptions) -> list[str]:
        """The night's candidates: found by the first shard to get here, read by the others."""
        stored = self.store.batch_candidates(opts.batch_key)
        if stored is not None:
            log.info("%d candidates of %s found earlier tonight", len(stored), opts.batch_key)
            return stored
        found, requests = await self.finder.candidates(opts.group, opts.as_of)
        return self.store.save_batch_candidates(opts.batch_key, found, requests)

    def _run_fields(self, opts: NightlyOptions) -> dict[str, Any]:
        return {
            "batch": opts.batch_key,
            "shard": opts.shard,
            "mode": opts.mode,
            "source": self.source.name,
            "group": opts.group,
            "as_of": opts.as_of,
            "versions": self.versions(),
            "since": opts.since,
        }

    # -- evaluating ------------------------------------------------------------------------------

    async def _evaluate_all(self, run: Run, todo: list[str], opts: NightlyOptions, tally: _Tally) -> None:
        """A few workers pull patients from a queue: at most `concurrency` patients in flight."""
        queue: asyncio.Queue[str] = asyncio.Queue()
        for pid in todo:
            queue.put_nowait(pid)
        with RunProgress(len(todo)) as progress:

            async def worker() -> None:
                while not queue.empty():
                    pid = queue.get_nowait()
                    progress.advance(error=await self._evaluate(run, pid, opts, tally))

            workers = [asyncio.create_task(worker()) for _ in range(min(opts.concurrency, len(todo)))]
            try:
                await asyncio.gather(*workers)
            except ServerDown:
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                raise

    async def _evaluate(self, run: Run, pid: str, opts: NightlyOptions, tally: _Tally) -> bool:
        """Fetch, evaluate and store one patient; True when it ended in an error."""
        outcome, result, detail = "evaluated", None, None
        try:
            fetched = await self.source.fetch(pid)
            patient = fetched.patient()
            left = retired(patient) if patient is not None else None
            if left is not None:  # merged into another record, or inactive: not a candidate of its own
                outcome, detail = left
            else:
                result = await asyncio.to_thread(self._match, fetched.bundle(), pid, opts.as_of)
        except PatientNotFoundError:
            outcome, detail = "gone", "not found on the FHIR server"
        except (InputError, BudgetExceededError) as exc:  # about this patient, not the server
            log.warning("Patient/%s skipped: %s", pid, exc)
            outcome, detail = "error", str(exc)
        except UpstreamError as exc:
            outcome, detail = "error", str(exc)
            tally.failures_in_a_row += 1
            if tally.failures_in_a_row >= opts.max_failures_in_a_row:
                await self._record(run, pid, outcome, None, detail)
                raise ServerDown(
                    f"{tally.failures_in_a_row} patients in a row failed on the FHIR server: {exc}"
                ) from exc
        except Exception as exc:  # a bug: this patient is recorded as an error, the night goes on
            outcome, detail = "error", internal_error(log, f"Patient/{pid}", exc)
        else:
            tally.failures_in_a_row = 0
        await self._record(run, pid, outcome, result, detail)
        return outcome == "error"

    def _match(self, bundle: dict[str, Any], pid: str, as_of: date) -> dict[str, Any]:
        return result_json(match_bundle(bundle, as_of, self.m, f"Patient/{pid}"))

    async def _record(
        self, run: Run, pid: str, outcome: str, result: dict[str, Any] | None, detail: str | None
    ) -> None:
        """Database writes leave the event loop free for the fetches in flight."""
        await asyncio.to_thread(self.store.record, run.id, pid, outcome, result, detail)

    async def _leavers(self, run: Run, targets: set[str], opts: NightlyOptions) -> None:
        """Patients of the previous night (this shard) the funnel no longer finds: deleted, merged, or left."""
        previous = self.store.previous_batch(run)
        if previous is None:
            return
        before = self.store.batch_results(previous)
        missing = in_shard((pid for pid, r in before.items() if r.outcome == "evaluated"), opts.shard) - targets
        for pid in sorted(missing):
            try:
                outcome, detail = await self.source.whereabouts(pid)
            except TrialmatchError as exc:
                outcome, detail = "error", f"could not check whether it still exists: {exc}"
            await self._record(run, pid, outcome, None, detail)

    # -- what the run says -------------------------------------------------------------------------

    def _candidates(self, run: Run) -> list[dict[str, Any]]:
        """The night's candidates so far (all shards): MatchResults of patients with one of the diseases."""
        batch = self.store.batch_results(run.batch)
        return ranked(r.result for r in batch.values() if r.outcome == "evaluated" and r.result)

    def _changes(self, run: Run, opts: NightlyOptions) -> Diff | None:
        """This shard's changes since the previous night whose every shard got through."""
        previous = self.store.previous_batch(run)
        if previous is None:
            return None
        before = _only(self.store.batch_results(previous), opts.shard)
        tonight = self.store.results([run.id])
        return diff(before, tonight, self.store.targets_of([run.id]) - tonight.keys())

    @staticmethod
    def _summary(
        results: dict[str, Result], targets: list[str], requests: int, seconds: float, errors: int
    ) -> dict[str, Any]:
        verdicts: dict[str, int] = {}
        outcomes: dict[str, int] = {}
        for r in results.values():
            outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
            if r.outcome == "evaluated" and r.cohort is not None and r.verdict:
                verdicts[r.verdict] = verdicts.get(r.verdict, 0) + 1
        no_cohort = sum(1 for r in results.values() if r.outcome == "evaluated" and r.cohort is None)
        return {
            "screened": len(targets),
            "verdicts": verdicts,
            "no_qualifying_diagnosis": no_cohort,
            "outcomes": outcomes,
            "errors": errors,
            "seconds": round(seconds, 1),
            "requests_sent": requests,
        }


def _only(results: dict[str, Result], shard: tuple[int, int]) -> dict[str, Result]:
    keep = in_shard(results, shard)
    return {pid: r for pid, r in results.items() if pid in keep}


def ranked(results: Any) -> list[dict[str, Any]]:
    """MatchResults of patients with one of the diseases, in the contract's order."""
    kept = [r for r in results if r.get("cohort") is not None]
    return sorted(kept, key=lambda r: (VERDICT_ORDER[r["verdict"]], -r["score"], r["patient"]))
