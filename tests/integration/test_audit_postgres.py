"""The audit trail on PostgreSQL: events are appended and read back; UPDATE, DELETE and TRUNCATE are refused."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from matcher.jobs.audit_store import AuditTrail
from tests.integration.servers import create_database, postgres

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trail() -> Iterator[AuditTrail]:
    folder = Path(tempfile.mkdtemp(prefix="trialmatch-pg-audit-"))  # not under pytest's folder: closed to postgres
    try:
        with postgres(folder) as server:
            store = AuditTrail(create_database(server, f"audit_{uuid.uuid4().hex[:8]}"))
            try:
                yield store
            finally:
                store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def event(patient: str) -> dict[str, object]:
    return {
        "resourceType": "AuditEvent",
        "id": str(uuid.uuid4()),
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
        "action": "R",
        "recorded": datetime(2026, 11, 24, 9, 15, tzinfo=UTC).isoformat(),
        "outcome": "0",
        "agent": [{"requestor": True, "who": {"identifier": {"system": "https://idp", "value": "nurse-1"}}}],
        "source": {"observer": {"display": "trialmatch"}},
        "entity": [
            {"what": {"reference": f"Patient/{patient}"}, "detail": [{"type": "verdict", "valueString": "eligible"}]}
        ],
    }


def test_events_are_appended_and_read_back_newest_first(trail: AuditTrail) -> None:
    for n in range(3):
        trail.append(event(f"pg-{n}"), route="GET /patients/{patient_id}/match", status=200)
    rows = trail.page(2)
    assert [r.patient_id for r in rows] == ["pg-2", "pg-1"]
    assert (rows[0].agent, rows[0].issuer, rows[0].verdict) == ("nurse-1", "https://idp", "eligible")
    assert rows[0].event["entity"][0]["what"] == {"reference": "Patient/pg-2"}
    assert [r.patient_id for r in trail.page(5, before=rows[-1].seq)] == ["pg-0"]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET verdict = 'ineligible'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ],
)
def test_the_table_refuses_to_change_or_lose_an_event(trail: AuditTrail, statement: str) -> None:
    trail.append(event("pg-x"), route="POST /match", status=200)
    before = len(trail.page(500))
    with trail.engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
        connection.execute(text(statement))
    assert len(trail.page(500)) == before
