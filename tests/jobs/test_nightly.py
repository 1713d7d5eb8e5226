"""The one run loop, given a screening of its own: statuses, summary, ranked candidates, leavers and changes."""

from __future__ import annotations

from datetime import date
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from matcher.errors import ServerDown
from matcher.jobs.models import Run, RunStatus
from matcher.jobs.nightly import Nightly, NightlyOptions, Record, ranked, run_fields
from matcher.jobs.store import Store

AS_OF = date(2026, 6, 30)


def result(pid: str, verdict: str, score: float = 0.5, cohort: str | None = "sle") -> dict[str, Any]:
    return {"patient": f"Patient/{pid}", "verdict": verdict, "cohort": cohort, "score": score, "criteria": []}


class Gone:
    """A patient source that only answers where a patient went."""

    name = "test"
    requests_sent = 0

    async def fetch(self, patient_id: str) -> Any:
        raise AssertionError("the loop fetches nothing itself")

    async def whereabouts(self, patient_id: str) -> tuple[str, str | None]:
        return "gone", "deleted on the server"

    async def check(self) -> None:
        return None


class Listed:
    """A screening of fixed patients and states; the server goes down at `down`."""

    def __init__(self, store: Store, mappings: Any, states: dict[str, tuple[str, Any]], down: str | None = None):
        self.store, self.m, self.states, self.down = store, mappings, states, down

    async def plan(self, opts: NightlyOptions) -> tuple[Run, list[str]]:
        targets = sorted(self.states)
        return self.store.start_run(**run_fields(opts, "test", self.m), targets=targets), targets

    async def evaluate_all(self, run: Run, todo: list[str], opts: NightlyOptions, record: Record) -> None:
        for pid in todo:
            if pid == self.down:
                raise ServerDown("5 patients in a row failed on the FHIR server")
            state, payload = self.states[pid]
            if state == "evaluated":
                await record(pid, state, payload)
            else:
                await record(pid, state, None, payload)


@pytest.fixture
def store(tmp_path: Path):
    s = Store(f"sqlite:///{tmp_path / 'runs.db'}")
    yield s
    s.close()


def night(store: Store, screening: Listed, batch: str) -> Any:
    ticks = count(0, 2.5)
    loop = Nightly(screening, Gone(), store, timer=lambda: next(ticks))
    return loop.run(NightlyOptions(as_of=AS_OF, out=Path("report"), batch=batch))


async def test_a_night_with_an_error_is_partial_and_ranks_what_it_evaluated(store, mappings):
    states = {
        "a": ("evaluated", result("a", "possibly_eligible", 0.9)),
        "b": ("evaluated", result("b", "eligible", 0.4)),
        "c": ("error", "timeout"),
        "d": ("evaluated", result("d", "ineligible", cohort=None)),
    }
    done = await night(store, Listed(store, mappings, states), "n1")
    assert done.run.status is RunStatus.PARTIAL and not done.complete
    assert [c["patient"] for c in done.candidates] == ["Patient/b", "Patient/a"]  # no cohort: not a candidate
    assert done.summary == {
        "screened": 4,
        "targets": 4,
        "verdicts": {"eligible": 1, "possibly_eligible": 1},
        "no_qualifying_diagnosis": 1,
        "outcomes": {"evaluated": 3, "error": 1},
        "errors": 1,
        "seconds": 2.5,
        "requests_sent": 0,
    }
    assert done.changes is None  # the first night


async def test_a_server_that_goes_down_leaves_an_incomplete_run_to_resume(store, mappings):
    states = {"a": ("evaluated", result("a", "eligible")), "b": ("evaluated", result("b", "eligible"))}
    done = await night(store, Listed(store, mappings, states, down="b"), "n1")
    assert done.run.status is RunStatus.INCOMPLETE and "in a row" in (done.run.error or "")
    assert store.resumable("n1", (0, 1)).id == done.run.id


async def test_the_next_night_records_leavers_and_says_what_changed(store, mappings):
    first = {"a": ("evaluated", result("a", "eligible")), "b": ("evaluated", result("b", "eligible"))}
    assert (await night(store, Listed(store, mappings, first), "n1")).complete
    second = {"a": ("evaluated", result("a", "ineligible"))}  # b is no longer a candidate of the funnel
    done = await night(store, Listed(store, mappings, second), "n2")
    assert done.complete and store.results([done.run.id])["b"].state == "gone"
    assert done.changes is not None
    assert [c.patient for c in done.changes.dropped] == ["a"] and [c.patient for c in done.changes.removed] == ["b"]


def test_ranked_json_follows_the_contract_s_order():
    results = [
        result("z", "possibly_eligible", 0.9),
        result("y", "eligible", 0.2),
        result("b", "eligible", 0.7),
        result("a", "eligible", 0.7),
        result("n", "ineligible", 1.0),
    ]
    assert [r["patient"] for r in ranked(results)] == [f"Patient/{p}" for p in "abyzn"]


class Counting(Gone):
    """A source that counts the requests the screening sends through it."""

    def __init__(self) -> None:
        self.requests_sent = 0


class Resuming(Listed):
    """Resumes the unfinished run of the batch, and sends 10 requests for each patient it evaluates."""

    def __init__(self, source: Counting, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.source = source

    async def plan(self, opts: NightlyOptions) -> tuple[Run, list[str]]:
        unfinished = self.store.resumable(opts.batch_key, opts.shard)
        if unfinished is None:
            return await super().plan(opts)
        return self.store.resume_run(unfinished.id), self.store.targets(unfinished.id)

    async def evaluate_all(self, run: Run, todo: list[str], opts: NightlyOptions, record: Record) -> None:
        for pid in todo:
            if pid == self.down:
                raise ServerDown("5 patients in a row failed on the FHIR server")
            self.source.requests_sent += 10
            await record(pid, "evaluated", result(pid, "eligible"))


async def test_an_incomplete_run_says_what_it_did_and_a_resumed_one_counts_every_piece(store, mappings):
    # an incomplete run said 'screened 3' when one patient was done; after a resume the summary counted
    # the last piece's requests only
    states = {p: ("evaluated", result(p, "eligible")) for p in "abc"}
    source = Counting()
    first = Resuming(source, store, mappings, states, down="b")
    opts = NightlyOptions(as_of=AS_OF, out=Path("report"), batch="n1", resume=True)
    ticks = count(0, 2.5)
    stopped = await Nightly(first, source, store, timer=lambda: next(ticks)).run(opts)
    assert stopped.run.status is RunStatus.INCOMPLETE
    assert (stopped.summary["screened"], stopped.summary["targets"], stopped.summary["requests_sent"]) == (1, 3, 10)
    again = Resuming(source, store, mappings, states)
    done = await Nightly(again, source, store, timer=lambda: next(ticks)).run(opts)
    assert done.run.id == stopped.run.id and done.complete
    assert (done.summary["screened"], done.summary["requests_sent"]) == (3, 30)
    assert done.summary["seconds"] == 5.0  # both pieces
