"""The run history in a real database: SQLite by default, PostgreSQL by URL; schema kept by alembic migrations."""

from __future__ import annotations

import fcntl
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import CursorResult, Engine, create_engine, event, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from matcher.errors import DatabaseError
from matcher.jobs.models import Batch, BatchCandidate, Result, Run, Target

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: statuses of a run that got through all its targets (a diff or an incremental export may build on it)
FINISHED = ("complete", "partial")
#: statuses of a run with patients still to do or to retry
RESUMABLE = ("running", "incomplete", "partial")
#: rows written per statement
_CHUNK = 1000
#: PostgreSQL advisory lock held while migrating ("trialmatch" in ASCII, folded into 63 bits)
_MIGRATION_LOCK = 0x7472_6961_6C6D_6174


def engine_for(url: str) -> Engine:
    """An engine for `url`; plain postgresql:// URLs use psycopg 3, SQLite waits for concurrent shards."""
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the shard that writes
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    return engine


def migrate(engine: Engine, url: str) -> None:
    """Bring the schema to the latest migration; shards starting together wait for each other."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _file_lock(engine, url), engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def _file_lock(engine: Engine, url: str) -> Iterator[None]:
    """SQLite: an exclusive lock on a file beside the database (PostgreSQL locks inside the transaction)."""
    if engine.dialect.name != "sqlite" or not url.startswith("sqlite:///"):
        yield
        return
    with Path(url.removeprefix("sqlite:///") + ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def now() -> datetime:
    return datetime.now(UTC)


def safe_url(url: str) -> str:
    """A database URL without its password, fit for logs and messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
    return url


class Store:
    """Runs, targets and results; every write is idempotent (an upsert), so a resumed run never duplicates."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = engine_for(url)
            migrate(self.engine, url)
        except (SQLAlchemyError, OSError) as exc:
            first = str(exc).splitlines()[0][:200] if str(exc) else ""
            raise DatabaseError(
                f"the run history database {safe_url(url)} cannot be used: {type(exc).__name__} {first}"
            ) from None
        self.session = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

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
        status: str = "running",
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
            started_at=now(),
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
                    Run.status == "running",
                )
                .values(status="incomplete")
            )
            s.add(run)
            s.flush()
            rows = [{"run_id": run.id, "patient_id": pid} for pid in sorted(set(targets or ()))]
            for i in range(0, len(rows), _CHUNK):
                s.execute(self._insert(Target).values(rows[i : i + _CHUNK]).on_conflict_do_nothing())
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

    def run(self, run_id: str) -> Run | None:
        """A run by id, or by a unique prefix of its id."""
        with self.session() as s:
            exact = s.get(Run, run_id)
            if exact is not None:
                return exact
            found = s.scalars(select(Run).where(Run.id.startswith(run_id))).all()
            return found[0] if len(found) == 1 else None

    def runs(self, limit: int = 20) -> Sequence[Run]:
        with self.session() as s:
            return s.scalars(select(Run).order_by(Run.started_at.desc()).limit(limit)).all()

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
                    Run.group_id.is_(None) if before.group_id is None else Run.group_id == before.group_id,
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
                self._insert(Batch)
                .values(batch=batch, found_at=now(), candidates=len(rows), requests=requests)
                .on_conflict_do_nothing()
            )
            if inserted.rowcount:
                for i in range(0, len(rows), _CHUNK):
                    s.execute(self._insert(BatchCandidate).values(rows[i : i + _CHUNK]).on_conflict_do_nothing())
        stored = self.batch_candidates(batch)
        assert stored is not None
        return stored

    # -- targets -----------------------------------------------------------------------------------

    def set_targets(self, run_id: str, patient_ids: Iterable[str], **run_values: Any) -> None:
        """The patients a run sets out to evaluate, and (in the same transaction) other fields of the run."""
        rows = [{"run_id": run_id, "patient_id": pid} for pid in sorted(set(patient_ids))]
        with self.session.begin() as s:
            for i in range(0, len(rows), _CHUNK):
                s.execute(self._insert(Target).values(rows[i : i + _CHUNK]).on_conflict_do_nothing())
            if run_values:
                run = s.get_one(Run, run_id)
                for key, value in run_values.items():
                    setattr(run, key, value)

    def targets(self, run_id: str) -> list[str]:
        with self.session() as s:
            return list(s.scalars(select(Target.patient_id).where(Target.run_id == run_id).order_by(Target.patient_id)))

    # -- results -----------------------------------------------------------------------------------

    def record(
        self,
        run_id: str,
        patient_id: str,
        outcome: str,
        result: dict[str, Any] | None = None,
        detail: str | None = None,
    ) -> None:
        values = {
            "run_id": run_id,
            "patient_id": patient_id,
            "outcome": outcome,
            "verdict": result.get("verdict") if result else None,
            "cohort": result.get("cohort") if result else None,
            "score": result.get("score") if result else None,
            "result": result,
            "detail": detail,
            "recorded_at": now(),
        }
        statement = self._insert(Result).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=["run_id", "patient_id"],
            set_={k: statement.excluded[k] for k in values if k not in ("run_id", "patient_id")},
        )
        with self.session.begin() as s:
            s.execute(statement)

    def finished(self, run_id: str) -> set[str]:
        """Patients this run needs not do again (anything but an error)."""
        with self.session() as s:
            return set(s.scalars(select(Result.patient_id).where(Result.run_id == run_id, Result.outcome != "error")))

    def results(self, run_ids: Iterable[str]) -> dict[str, Result]:
        """Patient id -> result, over several runs (a batch's shards); the latest recording wins."""
        with self.session() as s:
            rows = s.scalars(select(Result).where(Result.run_id.in_(list(run_ids))).order_by(Result.recorded_at))
            return {r.patient_id: r for r in rows}

    def batch_results(self, batch: str) -> dict[str, Result]:
        return self.results(r.id for r in self.batch_runs(batch))

    def targets_of(self, run_ids: Iterable[str]) -> set[str]:
        """The patients any of these runs set out to evaluate."""
        with self.session() as s:
            return set(s.scalars(select(Target.patient_id).where(Target.run_id.in_(list(run_ids)))))

    def _insert(self, table: type[Any]) -> Any:
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)
