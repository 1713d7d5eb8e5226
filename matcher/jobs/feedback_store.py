"""CDS Hooks feedback as a repository: what the clinician did with each card, appended and read back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from matcher.jobs.database import open_database
from matcher.jobs.models import Base


class FeedbackRow(Base):
    """One feedback entry: a card (by uuid) accepted or overridden, with the override reason (migration 0004)."""

    __tablename__ = "cds_feedback"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    card: Mapped[str] = mapped_column(String(64), index=True)
    service: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    outcome_timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    override_system: Mapped[str | None] = mapped_column(String(255), nullable=True)
    override_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    override_display: Mapped[str | None] = mapped_column(String(255), nullable=True)
    user_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: the ids of the suggestions accepted, separated by spaces
    accepted_suggestions: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: who sent it: the CDS client's issuer, when known
    client: Mapped[str | None] = mapped_column(String(255), nullable=True)
    received: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Feedback:
    """One feedback entry as the CDS client sent it."""

    card: str
    outcome: str
    outcome_timestamp: datetime
    override_system: str | None = None
    override_code: str | None = None
    override_display: str | None = None
    user_comment: str | None = None
    accepted_suggestions: tuple[str, ...] = ()


class FeedbackStore:
    """Append and read CDS Hooks feedback in the run database (its schema migrated on opening)."""

    def __init__(self, url: str, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.clock = clock
        self.engine = open_database(url)
        self.session = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def add(self, service: str, entries: Sequence[Feedback], *, client: str | None = None) -> int:
        """Store every entry in one transaction; answers how many were stored."""
        now = self.clock()
        rows = [
            FeedbackRow(
                card=f.card,
                service=service,
                outcome=f.outcome,
                outcome_timestamp=f.outcome_timestamp,
                override_system=f.override_system,
                override_code=f.override_code,
                override_display=f.override_display,
                user_comment=f.user_comment,
                accepted_suggestions=" ".join(f.accepted_suggestions) or None,
                client=client,
                received=now,
            )
            for f in entries
        ]
        with self.session.begin() as s:
            s.add_all(rows)
        return len(rows)

    def for_card(self, card: str) -> Sequence[FeedbackRow]:
        """Every feedback entry on one card, oldest first."""
        with self.session() as s:
            return s.scalars(select(FeedbackRow).where(FeedbackRow.card == card).order_by(FeedbackRow.id)).all()
