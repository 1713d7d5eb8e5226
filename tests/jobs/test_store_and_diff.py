"""The run history on SQLite (PostgreSQL in tests/integration): idempotent writes, resuming, batches, diffs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from matcher.errors import RunLockedError
from matcher.jobs.diff import diff, render
from matcher.jobs.funnel import in_shard, shard_of
from matcher.jobs.models import Result, RunStatus
from matcher.jobs.nightly import batch_key
from matcher.jobs.store import Store

VERSIONS = {"matcher": "0.1.0", "mappings": "abc", "files": {"labs.toml": "1"}}


@pytest.fixture
def store(tmp_path: Path):
    s = Store(f"sqlite:///{tmp_path / 'runs.db'}")
    yield s
    s.close()


def start(store: Store, batch: str, shard: tuple[int, int] = (0, 1)):
    return store.start_run(
        batch=batch, shard=shard, mode="funnel", source="test", group=None, as_of=date(2026, 6, 30), versions=VERSIONS
    )


def result(verdict: str, cohort: str | None = "ra", **statuses: str) -> dict[str, Any]:
    return {
        "verdict": verdict,
        "cohort": cohort,
        "score": 0.9,
        "criteria": [{"id": k, "status": v} for k, v in statuses.items()],
    }


def test_recording_twice_keeps_one_row_with_the_latest_values(store):
    run = start(store, "n1")
    store.set_targets(run.id, ["p1", "p2", "p1"])
    store.record(run.id, "p1", "error", detail="server down")
    store.record(run.id, "p1", "evaluated", result("eligible"))
    rows = store.results([run.id])
    assert list(rows) == ["p1"] and rows["p1"].state == "evaluated" and rows["p1"].verdict == "eligible"
    assert store.targets(run.id) == ["p1", "p2"]
    assert store.finished(run.id) == {"p1"}


def test_an_unfinished_run_is_found_for_its_batch_and_shard(store):
    run = start(store, "n1", (1, 2))
    assert store.resumable("n1", (1, 2)).id == run.id
    assert store.resumable("n1", (0, 2)) is None
    store.update_run(run.id, status="complete")
    assert store.resumable("n1", (1, 2)) is None
    assert store.run(run.id[:8]).id == run.id


def test_the_previous_complete_batch_of_the_same_kind(store):
    first = start(store, "n1")
    store.update_run(first.id, status="complete")
    failed = start(store, "n2")
    store.update_run(failed.id, status="failed")
    third = start(store, "n3")
    assert store.previous_batch(third) == "n1"


def test_diff_names_new_changed_dropped_and_removed():
    before = {
        "stays": _row("evaluated", result("possibly_eligible", liver_function="unknown")),
        "worse": _row("evaluated", result("eligible", liver_function="pass")),
        "merged": _row("evaluated", result("eligible")),
        "same": _row("evaluated", result("ineligible")),
    }
    after = {
        "stays": _row("evaluated", result("eligible", liver_function="pass")),
        "worse": _row("evaluated", result("ineligible", liver_function="fail")),
        "merged": _row("merged", None, detail="replaced by Patient/x"),
        "same": _row("evaluated", result("ineligible")),
        "fresh": _row("evaluated", result("eligible")),
        "no-disease": _row("evaluated", result("ineligible", cohort=None)),
    }
    d = diff(before, after)
    assert [c.patient for c in d.new] == ["fresh"]
    assert [(c.patient, c.moved) for c in d.changed] == [("stays", {"liver_function": ("unknown", "pass")})]
    assert [(c.patient, c.moved) for c in d.dropped] == [("worse", {"liver_function": ("pass", "fail")})]
    assert [(c.patient, c.detail) for c in d.removed] == [("merged", "replaced by Patient/x")]
    assert d.unchanged == 2
    assert "1 new candidates, 1 changed, 1 dropped out, 1 deleted or merged" in render(d)


def _row(state: str, res: dict[str, Any] | None, detail: str | None = None) -> Result:
    """A stored result as the diff reads it (never added to a database)."""
    return Result(
        state=state,
        result=res,
        detail=detail,
        verdict=res["verdict"] if res else None,
        cohort=res["cohort"] if res else None,
    )


def test_shards_are_stable_and_cover_everyone_once():
    ids = [f"patient-{i}" for i in range(1000)]
    parts = [in_shard(ids, (k, 4)) for k in range(4)]
    assert set().union(*parts) == set(ids)
    assert sum(len(p) for p in parts) == len(ids)
    assert all(150 < len(p) < 350 for p in parts)
    # CRC32 of the id: the same on every machine and Python (unlike hash(), which is salted per process)
    assert shard_of("patient-1", 4) == 2500870048 % 4  # zlib.crc32(b"patient-1")


def test_the_first_shard_s_candidates_are_the_night_s(store):
    assert store.batch_candidates("n1") is None
    assert store.save_batch_candidates("n1", ["b", "a"], requests=3) == ["a", "b"]
    assert store.save_batch_candidates("n1", ["c"], requests=1) == ["a", "b"]  # a later shard reads, not writes


def test_a_batch_counts_as_previous_only_when_every_shard_got_through(store):
    first = start(store, "n1", (0, 2))
    store.update_run(first.id, status="complete")
    other = start(store, "n1", (1, 2))
    later = start(store, "n2", (0, 1))
    assert store.previous_batch(later) is None  # shard 1/2 of n1 is still running
    store.update_run(other.id, status="partial")  # through all its patients, some in error
    assert store.previous_batch(later) == "n1"


def test_a_candidate_that_errs_tonight_is_not_called_a_drop_out():
    before = {"p": _row("evaluated", result("eligible"))}
    after = {"p": _row("error", None, detail="timeout")}
    d = diff(before, after)
    assert not d.dropped and [c.detail for c in d.not_evaluated] == ["timeout"]


def test_an_older_unfinished_run_is_superseded_by_a_later_one(store):
    old = start(store, "n1")
    store.update_run(old.id, status="incomplete")
    newer = start(store, "n1")
    store.update_run(newer.id, status="complete")
    assert store.resumable("n1", (0, 1)) is None  # the night got through: nothing to resume


def test_patients_a_stopped_run_never_reached_are_neither_dropped_nor_unchanged(store):
    run = start(store, "n2")
    store.set_targets(run.id, ["reached", "candidate", "bystander"])
    store.record(run.id, "reached", "evaluated", result("eligible"))
    pending = store.targets_of([run.id]) - store.results([run.id]).keys()
    assert pending == {"candidate", "bystander"}
    before = {
        "reached": _row("evaluated", result("eligible")),
        "candidate": _row("evaluated", result("eligible")),
        "bystander": _row("evaluated", result("ineligible")),
        "left": _row("evaluated", result("eligible")),  # not among tonight's targets: the funnel lost it
    }
    d = diff(before, store.results([run.id]), pending)
    assert [c.patient for c in d.not_evaluated] == ["candidate"]
    assert [c.patient for c in d.dropped] == ["left"]
    assert d.unchanged == 1 and d.not_reached == 1  # every patient of before is counted once


def test_every_time_written_comes_from_the_injected_clock(tmp_path):
    # a deliberately non-UTC clock: a store that read datetime.now() itself would not write this time
    frozen = datetime(2026, 6, 30, 1, 30, tzinfo=timezone(timedelta(hours=-5)))
    store = Store(f"sqlite:///{tmp_path / 'runs.db'}", clock=lambda: frozen)
    try:
        run = start(store, "n1")
        store.record(run.id, "p1", "evaluated", result("eligible"))
        ended = store.finish_run(run.id, RunStatus.COMPLETE, summary={})
        [row] = store.results([run.id]).values()
        assert run.started_at == frozen and ended.finished_at == frozen
        assert row.recorded_at.replace(tzinfo=None) == frozen.replace(tzinfo=None)  # SQLite keeps no offset
    finally:
        store.close()


def test_a_status_is_read_back_as_a_run_status_and_stored_as_its_plain_value(store):
    run = start(store, "n1")
    store.finish_run(run.id, RunStatus.PARTIAL)
    assert store.run(run.id).status is RunStatus.PARTIAL
    with store.session() as s:
        assert s.execute(text("SELECT status FROM runs")).scalar_one() == "partial"


def test_older_runs_stay_reachable_a_page_at_a_time(store):
    ids = [start(store, f"n{i}").id for i in range(5)]
    pages, before = [], None
    while page := store.runs(2, before=before):
        pages.append([r.id for r in page])
        before = page[-1]
    assert [pid for page in pages for pid in page] == ids[::-1]
    assert [len(page) for page in pages] == [2, 2, 1]


def test_the_latest_run_of_a_status_however_old(store):
    complete = start(store, "n0")
    store.finish_run(complete.id, RunStatus.COMPLETE)
    for i in range(1, 4):
        start(store, f"n{i}")  # later runs, none of them complete
    assert store.latest_run(RunStatus.COMPLETE).id == complete.id
    assert store.latest_run(RunStatus.FAILED) is None


def test_a_finished_export_is_found_by_source_group_and_time(store):
    def bulk(group: str | None, status: RunStatus, when: str):
        run = store.start_run(
            batch=f"b-{group}-{when}", shard=(0, 1), mode="bulk", source="s", group=group, as_of=date(2026, 6, 30),
            versions=VERSIONS,
        )  # fmt: skip
        store.set_targets(run.id, [], transaction_time=when)
        return store.finish_run(run.id, status)

    done = bulk(None, RunStatus.COMPLETE, "t1")
    bulk("g", RunStatus.COMPLETE, "t2")
    bulk(None, RunStatus.FAILED, "t3")
    assert store.finished_export("s", None, "t1").id == done.id
    assert store.finished_export("s", None, "t2") is None  # another group's
    assert store.finished_export("s", None, "t3") is None  # not got through
    assert store.finished_export("other", None, "t1") is None


def test_a_batch_s_targets_and_results_span_its_shards_and_many_chunks(store):
    first, second = start(store, "n1", (0, 2)), start(store, "n1", (1, 2))
    other = start(store, "n2")
    many = [f"p{i:05d}" for i in range(2500)]  # more than one statement's worth of rows
    store.set_targets(first.id, many[:1500])
    store.set_targets(second.id, many[1500:])
    store.set_targets(other.id, ["elsewhere"])
    store.record(first.id, "p00001", "evaluated", result("eligible"))
    store.record(second.id, "p02000", "error", detail="timeout")
    store.record(other.id, "elsewhere", "evaluated", result("eligible"))
    assert store.batch_targets("n1") == set(many)
    assert {pid: r.state for pid, r in store.batch_results("n1").items()} == {"p00001": "evaluated", "p02000": "error"}


def test_a_second_run_of_the_same_shard_is_refused_while_the_first_holds_it(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    first, second = Store(url), Store(url)
    try:
        with first.shard_lock("2026-06-30/funnel/all/abc", (0, 1)):
            with (
                pytest.raises(RunLockedError, match="another trialmatch nightly is running"),
                second.shard_lock("2026-06-30/funnel/all/abc", (0, 1)),
            ):
                pass
            with second.shard_lock("2026-06-30/funnel/all/abc", (1, 2)):  # another shard runs beside it
                pass
        with second.shard_lock("2026-06-30/funnel/all/abc", (0, 1)):  # released: the next run may go
            pass
    finally:
        first.close()
        second.close()


def test_a_batch_belongs_to_its_source():
    night = date(2026, 6, 30)
    fixtures = batch_key(night, "funnel", None, "bundled fixtures (fixtures)")
    hospital = batch_key(night, "funnel", None, "https://fhir.hospital.example/r4")
    assert fixtures != hospital and fixtures.startswith("2026-06-30/funnel/all/")
    assert batch_key(night, "funnel", None, "https://fhir.hospital.example/r4") == hospital


def test_purge_deletes_old_runs_with_their_results_and_keeps_the_rest(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    when = [datetime(2026, 1, 1, tzinfo=UTC)]
    store = Store(url, clock=lambda: when[0])
    try:
        old = start(store, "2026-01-01/funnel/all/x")
        store.record(old.id, "p1", "evaluated", {"verdict": "eligible"}, person={"fhir_id": "Patient/p1", "name": "A"})
        store.finish_run(old.id, RunStatus.COMPLETE)
        store.save_batch_candidates("2026-01-01/funnel/all/x", ["p1"], 1)
        when[0] = datetime(2026, 9, 1, tzinfo=UTC)
        new = start(store, "2026-09-01/funnel/all/x")
        store.record(new.id, "p1", "evaluated", {"verdict": "eligible"})
        gone = store.purge(datetime(2026, 6, 1, tzinfo=UTC))
        assert gone == {"runs": 1, "results": 1, "batches": 1}
        assert store.run(old.id) is None and store.run(new.id) is not None  # a running run is never purged
        assert store.results([old.id]) == {} and set(store.results([new.id])) == {"p1"}
        assert store.batch_candidates("2026-01-01/funnel/all/x") is None
    finally:
        store.close()
