"""Tables of the run history: runs, the patients each run set out to evaluate, and their results."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Dialect, Float, ForeignKey, Integer, String, Text, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: JSONB on PostgreSQL, JSON text elsewhere
Document = JSON().with_variant(JSONB(), "postgresql")


class RunStatus(StrEnum):
    """Where a run stands; stored as its value."""

    RUNNING = "running"
    #: every target evaluated
    COMPLETE = "complete"
    #: every target done, some in error
    PARTIAL = "partial"
    #: stopped or killed: resume it
    INCOMPLETE = "incomplete"
    #: found no targets: the funnel or the export failed
    FAILED = "failed"


#: statuses of a run that got through all its targets (a diff or an incremental export may build on it)
FINISHED = frozenset({RunStatus.COMPLETE, RunStatus.PARTIAL})
#: statuses of a run with patients still to do or to retry
RESUMABLE = frozenset({RunStatus.RUNNING, RunStatus.INCOMPLETE, RunStatus.PARTIAL})


class StatusColumn(TypeDecorator[RunStatus]):
    """A RunStatus in a VARCHAR(16) column: the plain value is written, a RunStatus read back."""

    impl = String(16)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else RunStatus(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> RunStatus | None:
        return None if value is None else RunStatus(value)


class Base(DeclarativeBase):
    pass


class Run(Base):
    """One invocation of `trialmatch nightly` (one shard of a night's batch)."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    #: the night's work all shards share, e.g. '2026-11-24/funnel/all'
    batch: Mapped[str] = mapped_column(String(200), index=True)
    shard_index: Mapped[int] = mapped_column(Integer, default=0)
    shard_count: Mapped[int] = mapped_column(Integer, default=1)
    mode: Mapped[str] = mapped_column(String(16))  # funnel | bulk
    source: Mapped[str] = mapped_column(String(500))
    group_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    as_of: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[RunStatus] = mapped_column(StatusColumn(), index=True)
    matcher_version: Mapped[str] = mapped_column(String(32))
    mappings_digest: Mapped[str] = mapped_column(String(32))
    mappings_files: Mapped[dict[str, Any]] = mapped_column(Document)
    summary: Mapped[dict[str, Any] | None] = mapped_column(Document, nullable=True)
    requests_sent: Mapped[int] = mapped_column(Integer, default=0)
    #: Bulk Data: the export's transactionTime, and the _since it was asked with
    transaction_time: Mapped[str | None] = mapped_column(String(40), nullable=True)
    since: Mapped[str | None] = mapped_column(String(40), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class Batch(Base):
    """A night's candidate list, written by the first shard to run the funnel and read by the others."""

    __tablename__ = "batches"

    batch: Mapped[str] = mapped_column(String(200), primary_key=True)
    found_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    candidates: Mapped[int] = mapped_column(Integer)
    requests: Mapped[int] = mapped_column(Integer)


class BatchCandidate(Base):
    __tablename__ = "batch_candidates"

    batch: Mapped[str] = mapped_column(ForeignKey("batches.batch", ondelete="CASCADE"), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class Target(Base):
    """A patient a run set out to evaluate (written before evaluation starts, so a run can resume)."""

    __tablename__ = "run_targets"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class Result(Base):
    """What a run found for one patient: a MatchResult, an error, or that the patient is gone."""

    __tablename__ = "results"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: evaluated | error | gone (deleted on the server) | merged (into another patient) | left (no longer
    #: a candidate of the funnel); the column keeps its first name, outcome
    state: Mapped[str] = mapped_column("outcome", String(16), index=True)
    verdict: Mapped[str | None] = mapped_column(String(24), nullable=True)
    cohort: Mapped[str | None] = mapped_column(String(16), nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(Document, nullable=True)
    #: who the patient is, for the coordinator report: name, MRN, birth date, sex (never logged; purged
    #: with the run)
    person: Mapped[dict[str, Any] | None] = mapped_column(Document, nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
