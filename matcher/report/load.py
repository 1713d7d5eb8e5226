"""A stored night as ReportData: every shard's results, who each patient is, and what changed since the last night."""

from __future__ import annotations

from matcher.errors import InputError
from matcher.jobs.diff import diff
from matcher.jobs.models import Run, RunStatus
from matcher.jobs.store import Store
from matcher.report.data import PatientEntry, Person, ReportData, RunInfo
from matcher.trial import TRIAL_ID


def find_run(store: Store, ref: str | None) -> Run:
    """The run named by id (or a unique prefix of it), else the latest complete night."""
    run = store.run(ref) if ref else store.latest_run(RunStatus.COMPLETE)
    if run is None:
        raise InputError(f"no such run: {ref}" if ref else "no complete night is stored yet: run trialmatch nightly")
    return run


def report_data(store: Store, run: Run) -> ReportData:
    """The whole night the run belongs to (all its shards), as the report shows it."""
    results = store.batch_results(run.batch)
    previous = store.previous_batch(run)
    changes = None
    if previous is not None:
        pending = store.batch_targets(run.batch) - results.keys()
        changes = diff(store.batch_results(previous), results, pending).as_json()
    patients = tuple(
        PatientEntry(
            patient_id=pid,
            state=r.state,
            result=r.result,
            person=Person.from_json(r.person) if r.person else None,
            detail=r.detail,
        )
        for pid, r in sorted(results.items())
    )
    info = RunInfo(
        id=run.id,
        trial=TRIAL_ID,
        as_of=run.as_of,
        status=str(run.status),
        source=run.source,
        started_at=run.started_at.isoformat(timespec="seconds"),
        finished_at=run.finished_at.isoformat(timespec="seconds") if run.finished_at else None,
        matcher_version=run.matcher_version,
        mappings_digest=run.mappings_digest,
        summary=dict(run.summary or {}),
        error=run.error,
    )
    return ReportData(info, patients, changes, previous)
