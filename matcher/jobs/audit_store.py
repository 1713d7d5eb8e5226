"""The audit trail as an append-only repository: AuditEvents are inserted and read, never changed or deleted."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from matcher.jobs.database import open_database
from matcher.jobs.models import Base, Document


class AuditRow(Base):
    """One access to patient data or one decision, as a FHIR R4 AuditEvent (`event`) with its keys beside it.

    The table refuses UPDATE and DELETE (triggers, migration 0005); this repository offers no way to ask.
    """

    __tablename__ = "audit_events"

    #: the order of recording, and the cursor of the admin route's pages
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    #: the AuditEvent's id (a UUID)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    recorded: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    #: the Patient's logical id when the request named one (never a name or a birth date)
    patient_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    #: the route template, e.g. GET /patients/{patient_id}/match
    route: Mapped[str] = mapped_column(String(200))
    status: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[str | None] = mapped_column(String(24), nullable=True)
    #: who asked: the token's subject and issuer
    agent: Mapped[str | None] = mapped_column(String(500), nullable=True)
    issuer: Mapped[str | None] = mapped_column(String(500), nullable=True)
    event: Mapped[dict[str, Any]] = mapped_column(Document)


class AuditTrail:
    """Insert and read AuditEvents in the run database (its schema migrated on opening)."""

    def __init__(self, url: str) -> None:
        self.engine = open_database(url)
        self.session = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def append(self, event: dict[str, Any], *, route: str, status: int) -> int:
        """Record one AuditEvent; answers its sequence number."""
        detail = _entity_detail(event)
        agent = event["agent"][0]["who"] if event.get("agent") else {}
        row = AuditRow(
            event_id=event["id"],
            recorded=datetime.fromisoformat(event["recorded"]),
            patient_id=_patient_id(event),
            route=route[:200],
            status=status,
            verdict=detail.get("verdict"),
            agent=(agent.get("identifier") or {}).get("value") or agent.get("display"),
            issuer=(agent.get("identifier") or {}).get("system"),
            event=event,
        )
        with self.session.begin() as s:
            s.add(row)
            s.flush()
            return row.seq

    def page(self, limit: int = 50, *, before: int | None = None, patient_id: str | None = None) -> Sequence[AuditRow]:
        """The latest `limit` events, newest first; `before`: those recorded before that sequence number."""
        query = select(AuditRow)
        if before is not None:
            query = query.where(AuditRow.seq < before)
        if patient_id is not None:
            query = query.where(AuditRow.patient_id == patient_id)
        with self.session() as s:
            return s.scalars(query.order_by(AuditRow.seq.desc()).limit(limit)).all()


def _patient_id(event: dict[str, Any]) -> str | None:
    for entity in event.get("entity", ()):
        reference = str(entity.get("what", {}).get("reference", ""))
        if reference.startswith("Patient/"):
            return reference.removeprefix("Patient/")[:64]
    return None


def _entity_detail(event: dict[str, Any]) -> dict[str, str]:
    return {
        d["type"]: d.get("valueString", "")
        for entity in event.get("entity", ())
        for d in entity.get("detail", ())
        if "type" in d
    }


_TRAILS: dict[str, AuditTrail] = {}
_LOCK = threading.Lock()


def audit_trail(url: str) -> AuditTrail:
    """The process's one AuditTrail for a database URL (opened, and migrated, on first use)."""
    with _LOCK:
        trail = _TRAILS.get(url)
        if trail is None:
            trail = _TRAILS[url] = AuditTrail(url)
        return trail
