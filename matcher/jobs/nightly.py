"""`trialmatch nightly`: the one run loop: a screening's patients evaluated, every result stored, what changed said."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from matcher import __version__
from matcher.codes.model import Mappings
from matcher.errors import ServerDown, TrialmatchError
from matcher.fhir.patients import PatientSource
from matcher.jobs.diff import Diff, diff
from matcher.jobs.funnel import in_shard
from matcher.jobs.models import Result, Run, RunStatus
from matcher.jobs.progress import RunProgress
from matcher.jobs.store import Store
from matcher.rank import order_key

log = logging.getLogger("trialmatch.jobs")


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
    #: the identifier system of the medical record number kept beside each result (settings.mrn_system)
    mrn_system: str | None = None
    #: where the patients come from (the FHIR server's base URL, or the fixtures): part of the batch
    source: str = ""

    @property
    def batch_key(self) -> str:
        return self.batch or batch_key(self.as_of, self.mode, self.group, self.source)


@dataclass
class NightResult:
    """What one run of the night leaves: the stored run, the ranked candidates, its summary and changes."""

    run: Run
    candidates: list[dict[str, Any]]
    summary: dict[str, Any]
    changes: Diff | None
    complete: bool
    report_dir: Path


class Record(Protocol):
    """Stores one patient's state in the run (evaluated with its MatchResult, error, gone, merged, left)."""

    async def __call__(
        self,
        pid: str,
        state: str,
        result: dict[str, Any] | None = None,
        detail: str | None = None,
        person: dict[str, Any] | None = None,
    ) -> None: ...


def batch_key(as_of: date, mode: str, group: str | None, source: str) -> str:
    """'2026-11-24/funnel/all/3f9a0c1e': a night's work belongs to its source, so that a run against another
    server never reuses this one's candidates (the last part is a hash of the source)."""
    tag = hashlib.sha256(source.encode("utf-8")).hexdigest()[:8]
    return f"{as_of.isoformat()}/{mode}/{group or 'all'}/{tag}"


class Screening(Protocol):
    """Where a run's patients come from and how each is evaluated: the funnel and a fetch per patient, or the
    files of a Bulk Data export."""

    async def plan(self, opts: NightlyOptions) -> tuple[Run, list[str]]:
        """The run (resumed, or started and stored with its targets) and the patients it sets out to evaluate."""
        ...

    async def evaluate_all(self, run: Run, todo: list[str], opts: NightlyOptions, record: Record) -> None:
        """Evaluate the patients of `todo`, handing each one's state to `record`; ServerDown stops the run."""
        ...


def run_fields(opts: NightlyOptions, source: str, mappings: Mappings) -> dict[str, Any]:
    """What a new run of these options is stored with (`Store.start_run`)."""
    return {
        "batch": opts.batch_key,
        "shard": opts.shard,
        "mode": opts.mode,
        "source": source,
        "group": opts.group,
        "as_of": opts.as_of,
        "versions": versions(mappings),
        "since": opts.since,
    }


def versions(mappings: Mappings) -> dict[str, Any]:
    """What a run's results were computed with: the matcher's version and the mapping files'."""
    return {"matcher": __version__, "mappings": mappings.provenance.digest, "files": mappings.provenance.files}


class Nightly:
    """One shard of a night's work: a screening's patients, checked against one patient source, in one database."""

    def __init__(
        self,
        screening: Screening,
        source: PatientSource,
        store: Store,
        *,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.screening = screening
        self.source = source
        self.store = store
        self.timer = timer

    async def run(self, opts: NightlyOptions) -> NightResult:
        """Run (or resume) the shard, holding its lock: a second run of the same shard is refused."""
        with self.store.shard_lock(opts.batch_key, opts.shard):
            return await self._run(opts)

    async def _run(self, opts: NightlyOptions) -> NightResult:
        started, sent_before = self.timer(), self.source.requests_sent
        run, targets = await self.screening.plan(opts)
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
            with RunProgress(len(todo)) as progress:

                async def record(
                    pid: str,
                    state: str,
                    result: dict[str, Any] | None = None,
                    detail: str | None = None,
                    person: dict[str, Any] | None = None,
                ) -> None:
                    await self._record(run, pid, state, result, detail, person=person)
                    progress.advance(error=state == "error")

                await self.screening.evaluate_all(run, todo, opts, record)
            await self._leavers(run, set(targets), opts)
        except ServerDown as exc:
            error = str(exc)
            log.error("run %s stopped: %s (resume it with --resume)", run.id, exc)
        results = self.store.results([run.id])
        errors = sum(r.state == "error" for r in results.values())
        if error or not set(targets) <= set(results):
            status = RunStatus.INCOMPLETE
        else:
            status = RunStatus.PARTIAL if errors else RunStatus.COMPLETE
        requests = self.source.requests_sent - sent_before
        # a resumed run counts its earlier pieces too: the requests and seconds of the whole run
        earlier = run.summary or {}
        seconds = float(earlier.get("seconds", 0.0)) + self.timer() - started
        summary = _summary(results, targets, run.requests_sent + requests, seconds, errors)
        run = self.store.finish_run(
            run.id, status, summary=summary, error=error, requests_sent=run.requests_sent + requests
        )
        return NightResult(
            run, self._candidates(run), summary, self._changes(run, opts), status == RunStatus.COMPLETE, opts.out
        )

    async def _record(
        self,
        run: Run,
        pid: str,
        state: str,
        result: dict[str, Any] | None,
        detail: str | None,
        *,
        person: dict[str, Any] | None = None,
    ) -> None:
        """Database writes leave the event loop free for the fetches in flight."""
        await asyncio.to_thread(self.store.record, run.id, pid, state, result, detail, person=person)

    async def _leavers(self, run: Run, targets: set[str], opts: NightlyOptions) -> None:
        """Patients of the previous night (this shard) the funnel no longer finds: deleted, merged, or left."""
        previous = self.store.previous_batch(run)
        if previous is None:
            return
        before = self.store.batch_results(previous)
        missing = in_shard((pid for pid, r in before.items() if r.state == "evaluated"), opts.shard) - targets
        for pid in sorted(missing):
            try:
                state, detail = await self.source.whereabouts(pid)
            except TrialmatchError as exc:
                state, detail = "error", f"could not check whether it still exists: {exc}"
            await self._record(run, pid, state, None, detail)

    # -- what the run says -------------------------------------------------------------------------

    def _candidates(self, run: Run) -> list[dict[str, Any]]:
        """The night's candidates so far (all shards): MatchResults of patients with one of the diseases."""
        batch = self.store.batch_results(run.batch)
        return ranked(r.result for r in batch.values() if r.state == "evaluated" and r.result)

    def _changes(self, run: Run, opts: NightlyOptions) -> Diff | None:
        """This shard's changes since the previous night whose every shard got through."""
        previous = self.store.previous_batch(run)
        if previous is None:
            return None
        before = _only(self.store.batch_results(previous), opts.shard)
        tonight = self.store.results([run.id])
        return diff(before, tonight, self.store.targets_of([run.id]) - tonight.keys())


def _summary(
    results: dict[str, Result], targets: list[str], requests: int, seconds: float, errors: int
) -> dict[str, Any]:
    verdicts: dict[str, int] = {}
    states: dict[str, int] = {}
    for r in results.values():
        states[r.state] = states.get(r.state, 0) + 1
        if r.state == "evaluated" and r.cohort is not None and r.verdict:
            verdicts[r.verdict] = verdicts.get(r.verdict, 0) + 1
    no_cohort = sum(1 for r in results.values() if r.state == "evaluated" and r.cohort is None)
    return {
        "screened": len(set(targets) & results.keys()),  # what was done, not what was planned
        "targets": len(targets),
        "verdicts": verdicts,
        "no_qualifying_diagnosis": no_cohort,
        "outcomes": states,  # patients by state
        "errors": errors,
        "seconds": round(seconds, 1),
        "requests_sent": requests,
    }


def _only(results: dict[str, Result], shard: tuple[int, int]) -> dict[str, Result]:
    keep = in_shard(results, shard)
    return {pid: r for pid, r in results.items() if pid in keep}


def ranked(results: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """MatchResults (as JSON) of patients with one of the diseases, in the contract's order."""
    kept = [r for r in results if r.get("cohort") is not None]
    return sorted(kept, key=lambda r: order_key(r["verdict"], r["score"], r["patient"]))
