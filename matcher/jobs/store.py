"""The run history as a repository: runs, the patients each set out to evaluate, their results, a night's candidates."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from matcher.errors import DatabaseError, RunLockedError
from matcher.jobs.database import exclusive, insert, open_database
from matcher.jobs.models import FINISHED, RESUMABLE, Batch, BatchCandidate, Result, Run, RunStatus, Target

#: rows written per statement
_CHUNK = 1000


def utc_now() -> datetime:
    """The clock a Store reads unless it is given another."""
    return datetime.now(UTC)


class Store:
    """Runs, targets and results; every write is idempotent (an upsert), so a resumed run never duplicates.

    Times written (a run's start and end, when a result was recorded) are read from `clock`.
    """

    def __init__(self, url: str, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.url = url
        self.clock = clock
        self.engine = open_database(url)
        self.session = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def shard_lock(self, batch: str, shard: tuple[int, int]) -> Iterator[None]:
        """One run at a time for a batch's shard: a second run (or --resume) of it is refused, not run twice."""
        with exclusive(self.engine, self.url, f"run {batch} {shard[0]}/{shard[1]}") as held:
            if not held:
                raise RunLockedError(
                    f"another trialmatch nightly is running batch {batch}, shard {shard[0]}/{shard[1]}, on this "
                    "database: wait for it to end (or --resume after it stops)"
                )
            yield

    # -- runs --------------------------------------------------------------------------------------

    def start_run(
        self,
        *,
        batch: str,
        shard: tuple[int, int],
        mode: str,
        source: str,
        group: str | None,
        as_of: date,
        versions: dict[str, Any],
        since: str | None = None,
        targets: Iterable[str] | None = None,
        status: RunStatus = RunStatus.RUNNING,
    ) -> Run:
        """A new run, and (in the same transaction) the patients it sets out to evaluate."""
        run = Run(
            id=str(uuid.uuid4()),
            batch=batch,
            shard_index=shard[0],
            shard_count=shard[1],
            mode=mode,
            source=source,
            group_id=group,
            as_of=as_of,
            started_at=self.clock(),
            status=status,
            matcher_version=versions["matcher"],
            mappings_digest=versions["mappings"],
            mappings_files=versions.get("files", {}),
            requests_sent=0,
            since=since,
        )
        with self.session.begin() as s:
            # an older run of this batch and shard that never finished (killed, not resumed) is not running
            s.execute(
                update(Run)
                .where(
                    Run.batch == batch,
                    Run.shard_index == shard[0],
                    Run.shard_count == shard[1],
                    Run.status == RunStatus.RUNNING,
                )
                .values(status=RunStatus.INCOMPLETE)
            )
            s.add(run)
            s.flush()
            self._add_targets(s, run.id, targets or ())
        return run

    def resumable(self, batch: str, shard: tuple[int, int]) -> Run | None:
        """The latest run of this batch and shard, when it has patients still to do (or to retry).

        Only the latest: an older run left unfinished is superseded by any run started after it.
        """
        with self.session() as s:
            latest = s.scalars(
                select(Run)
                .where(Run.batch == batch, Run.shard_index == shard[0], Run.shard_count == shard[1])
                .order_by(Run.started_at.desc())
            ).first()
        return latest if latest is not None and latest.status in RESUMABLE else None

    def update_run(self, run_id: str, **values: Any) -> Run:
        with self.session.begin() as s:
            run = s.get_one(Run, run_id)
            for key, value in values.items():
                setattr(run, key, value)
        return run

    def purge(self, before: datetime) -> dict[str, int]:
        """Delete the runs started before `before`, with their results (and who each patient was), targets
        and the candidate lists of their batches; the runs still running are kept. Returns what went."""
        with self.session.begin() as s:
            old = select(Run.id).where(Run.started_at < before, Run.status != RunStatus.RUNNING)
            ids = list(s.scalars(old))
            batches = set(s.scalars(select(Run.batch).where(Run.id.in_(ids))))
            results = s.execute(delete(Result).where(Result.run_id.in_(ids)))
            s.execute(delete(Target).where(Target.run_id.in_(ids)))
            s.execute(delete(Run).where(Run.id.in_(ids)))
            # a batch's candidate list goes with its last run
            kept = set(s.scalars(select(Run.batch).where(Run.batch.in_(batches))))
            gone = sorted(batches - kept)
            s.execute(delete(BatchCandidate).where(BatchCandidate.batch.in_(gone)))
            s.execute(delete(Batch).where(Batch.batch.in_(gone)))
        return {"runs": len(ids), "results": _rowcount(results), "batches": len(gone)}

    def resume_run(self, run_id: str) -> Run:
        return self.update_run(run_id, status=RunStatus.RUNNING)

    def finish_run(self, run_id: str, status: RunStatus, **values: Any) -> Run:
        """The run's end: its status, the time it ended, and other fields (summary, error, requests_sent)."""
        return self.update_run(run_id, status=status, finished_at=self.clock(), **values)

    def run(self, run_id: str) -> Run | None:
        """A run by id, or by a unique prefix of its id."""
        with self.session() as s:
            exact = s.get(Run, run_id)
            if exact is not None:
                return exact
            found = s.scalars(select(Run).where(Run.id.startswith(run_id))).all()
            return found[0] if len(found) == 1 else None

    def runs(self, limit: int = 20, *, before: Run | None = None) -> Sequence[Run]:
        """The latest `limit` runs, newest first; with `before`, those started before that run (the next page)."""
        query = select(Run)
        if before is not None:
            query = query.where(
                or_(
                    Run.started_at < before.started_at,
                    (Run.started_at == before.started_at) & (Run.id < before.id),
                )
            )
        with self.session() as s:
            return s.scalars(query.order_by(Run.started_at.desc(), Run.id.desc()).limit(limit)).all()

    def latest_run(self, status: RunStatus) -> Run | None:
        """The run started last among those with this status."""
        with self.session() as s:
            return s.scalars(select(Run).where(Run.status == status).order_by(Run.started_at.desc()).limit(1)).first()

    def batch_runs(self, batch: str) -> Sequence[Run]:
        with self.session() as s:
            return s.scalars(select(Run).where(Run.batch == batch).order_by(Run.started_at)).all()

    def previous_batch(self, before: Run) -> str | None:
        """The latest earlier batch of the same kind (mode, group, source) whose every shard got through."""
        with self.session() as s:
            runs = s.scalars(
                select(Run)
                .where(
                    Run.batch != before.batch,
                    Run.mode == before.mode,
                    Run.source == before.source,
                    _of_group(before.group_id),
                    Run.started_at < before.started_at,
                )
                .order_by(Run.started_at.desc())
            ).all()
        for batch in dict.fromkeys(r.batch for r in runs):
            shards = [r for r in runs if r.batch == batch]
            done = {r.shard_index for r in shards if r.status in FINISHED}
            if done == set(range(shards[0].shard_count)):
                return batch
        return None

    def finished_export(self, source: str, group: str | None, transaction_time: str) -> Run | None:
        """The latest bulk run of this source and group that got through an export of `transaction_time`."""
        with self.session() as s:
            return s.scalars(
                select(Run)
                .where(
                    Run.mode == "bulk",
                    Run.status.in_(FINISHED),
                    Run.source == source,
                    _of_group(group),
                    Run.transaction_time == transaction_time,
                )
                .order_by(Run.started_at.desc())
                .limit(1)
            ).first()

    # -- a night's candidates, found once and shared by its shards -----------------------------------

    def batch_candidates(self, batch: str) -> list[str] | None:
        with self.session() as s:
            if s.get(Batch, batch) is None:
                return None
            return sorted(s.scalars(select(BatchCandidate.patient_id).where(BatchCandidate.batch == batch)))

    def save_batch_candidates(self, batch: str, ids: Iterable[str], requests: int) -> list[str]:
        """Store the funnel's answer unless another shard got there first; the stored list is returned."""
        rows = [{"batch": batch, "patient_id": pid} for pid in sorted(set(ids))]
        with self.session.begin() as s:
            inserted: CursorResult[Any] = s.execute(  # type: ignore[assignment]
                insert(self.engine, Batch)
                .values(batch=batch, found_at=self.clock(), candidates=len(rows), requests=requests)
                .on_conflict_do_nothing()
            )
            if inserted.rowcount:
                self._insert_new(s, BatchCandidate, rows)
        stored = self.batch_candidates(batch)
        if stored is None:
            raise DatabaseError(f"the candidates of {batch} were written but cannot be read back")
        return stored

    # -- targets -----------------------------------------------------------------------------------

    def set_targets(self, run_id: str, patient_ids: Iterable[str], **run_values: Any) -> None:
        """The patients a run sets out to evaluate, and (in the same transaction) other fields of the run."""
        with self.session.begin() as s:
            self._add_targets(s, run_id, patient_ids)
            if run_values:
                run = s.get_one(Run, run_id)
                for key, value in run_values.items():
                    setattr(run, key, value)

    def targets(self, run_id: str) -> list[str]:
        with self.session() as s:
            return list(s.scalars(select(Target.patient_id).where(Target.run_id == run_id).order_by(Target.patient_id)))

    def targets_of(self, run_ids: Iterable[str]) -> set[str]:
        """The patients any of these runs set out to evaluate."""
        with self.session() as s:
            return set(s.scalars(select(Target.patient_id).where(Target.run_id.in_(list(run_ids)))))

    def batch_targets(self, batch: str) -> set[str]:
        """The patients any run (shard) of a batch set out to evaluate."""
        with self.session() as s:
            return set(s.scalars(select(Target.patient_id).join(Run).where(Run.batch == batch)))

    # -- results -----------------------------------------------------------------------------------

    def record(
        self,
        run_id: str,
        patient_id: str,
        state: str,
        result: dict[str, Any] | None = None,
        detail: str | None = None,
        *,
        person: dict[str, Any] | None = None,
    ) -> None:
        """One patient's state in a run (evaluated, with its MatchResult and who the patient is; error, gone,
        merged or left)."""
        values = {
            "run_id": run_id,
            "patient_id": patient_id,
            "outcome": state,
            "verdict": result.get("verdict") if result else None,
            "cohort": result.get("cohort") if result else None,
            "score": result.get("score") if result else None,
            "result": result,
            "person": person,
            "detail": detail,
            "recorded_at": self.clock(),
        }
        statement = insert(self.engine, Result).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=["run_id", "patient_id"],
            set_={k: statement.excluded[k] for k in values if k not in ("run_id", "patient_id")},
        )
        with self.session.begin() as s:
            s.execute(statement)

    def finished(self, run_id: str) -> set[str]:
        """Patients this run needs not do again (anything but an error)."""
        with self.session() as s:
            return set(s.scalars(select(Result.patient_id).where(Result.run_id == run_id, Result.state != "error")))

    def results(self, run_ids: Iterable[str]) -> dict[str, Result]:
        """Patient id -> result, over several runs; the latest recording wins."""
        with self.session() as s:
            rows = s.scalars(select(Result).where(Result.run_id.in_(list(run_ids))).order_by(Result.recorded_at))
            return {r.patient_id: r for r in rows}

    def batch_results(self, batch: str) -> dict[str, Result]:
        """Patient id -> result over every run (shard) of a batch; the latest recording wins."""
        with self.session() as s:
            rows = s.scalars(select(Result).join(Run).where(Run.batch == batch).order_by(Result.recorded_at))
            return {r.patient_id: r for r in rows}

    # -- writing many rows ---------------------------------------------------------------------------

    def _add_targets(self, s: Session, run_id: str, patient_ids: Iterable[str]) -> None:
        self._insert_new(s, Target, [{"run_id": run_id, "patient_id": pid} for pid in sorted(set(patient_ids))])

    def _insert_new(self, s: Session, table: type[Any], rows: list[dict[str, Any]]) -> None:
        """Rows that are not there yet, `_CHUNK` to a statement."""
        for i in range(0, len(rows), _CHUNK):
            s.execute(insert(self.engine, table).values(rows[i : i + _CHUNK]).on_conflict_do_nothing())


def _of_group(group: str | None) -> ColumnElement[bool]:
    """Runs of this Group (or of no Group: the whole hospital)."""
    return Run.group_id.is_(None) if group is None else Run.group_id == group


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
