"""`trialmatch nightly` killed with SIGKILL at random (seeded) points, resumed each time, ends where an
uninterrupted run ends: one result row per patient, the same candidates."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from matcher.jobs.models import Result
from matcher.jobs.store import Store
from tests.integration.conftest import fixture_bundles, load
from tests.integration.servers import flaky_proxy, sekmet, serve_app

pytestmark = pytest.mark.integration
AS_OF = "2026-06-30"
SEED = 11
KILLS = 5
TRIALMATCH = str(Path(sys.executable).parent / "trialmatch")


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with sekmet(tmp_path_factory.mktemp("kill-hospital")) as base:
        load(base, fixture_bundles())
        yield base


def environment(base: str, work: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "TRIALMATCH_FHIR_BASE_URL": base,
        "TRIALMATCH_DATABASE_URL": f"sqlite:///{work / 'runs.db'}",
        "TRIALMATCH_WORK_DIR": str(work),
        "TRIALMATCH_CACHE_TTL": "0",
        **extra,
    }


def command(*extra: str) -> list[str]:
    return [TRIALMATCH, "nightly", "--as-of", AS_OF, "--batch", "night", *extra]


def outcome(work: Path) -> tuple[dict[str, Any], int]:
    """Each patient's stored result (without when it was recorded) in the one run of `work`, and the row count."""
    store = Store(f"sqlite:///{work / 'runs.db'}")
    try:
        [run] = store.runs()
        assert run.status == "complete"
        results = store.results([run.id])
        assert set(results) == set(store.targets(run.id))
        with store.session() as s:
            rows = int(s.scalar(select(func.count()).select_from(Result)) or 0)
        return {p: (r.state, r.verdict, r.cohort, r.score, r.result) for p, r in results.items()}, rows
    finally:
        store.close()


def recorded(work: Path) -> int:
    """Result rows so far, read as a bystander (0 before the job created its tables)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{work / 'runs.db'}?mode=ro", uri=True, timeout=5)) as db:
            return int(db.execute("SELECT count(*) FROM results").fetchone()[0])
    except sqlite3.Error:
        return 0


def kill_at_random(job: subprocess.Popen[bytes], work: Path, rng: random.Random, early: bool) -> bool:
    """SIGKILL `job` at a random point: early (start-up, the funnel) or once it has recorded a new patient; False
    if it ended first."""
    if not early:
        before, deadline = recorded(work), time.monotonic() + 60
        while recorded(work) == before and job.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    try:
        job.wait(timeout=rng.uniform(0.3, 1.2) if early else rng.uniform(0.05, 1.5))
        return False
    except subprocess.TimeoutExpired:
        job.send_signal(signal.SIGKILL)
        job.wait(timeout=30)
        return True


def test_killed_at_random_points_and_resumed_it_ends_as_an_uninterrupted_run(hospital: str, tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    finished = subprocess.run(
        command(), env=environment(hospital, whole), capture_output=True, text=True, check=False, timeout=300
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    expected, expected_rows = outcome(whole)
    pieces = tmp_path / "pieces"
    rng = random.Random(SEED)
    killed = 0
    progress: list[int] = []  # result rows after each piece
    # a slow server, one patient at a time: the run lasts long enough to be killed in the middle, several times
    with serve_app(flaky_proxy(hospital, delay=0.03)) as root:
        env = environment(f"{root}/fhir", pieces, TRIALMATCH_NIGHTLY_CONCURRENCY="1")
        finished_alone = False
        for piece in range(KILLS):
            job = subprocess.Popen(command("--resume"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            was_killed = kill_at_random(job, pieces, rng, early=piece == 0)
            killed += was_killed
            progress.append(recorded(pieces))
            if not was_killed and job.returncode == 0:
                # the run ended before the kill came: another --resume would start the next night's run
                finished_alone = True
                break
        last = subprocess.CompletedProcess(["--resume"], 0, "", "")
        if not finished_alone:
            last = subprocess.run(
                command("--resume"), env=env, capture_output=True, text=True, check=False, timeout=300
            )
    assert killed >= KILLS - 1, f"the job ended before it could be killed ({progress} rows): slow the proxy down"
    # the kills after the first landed in the middle of the evaluation
    assert progress == sorted(progress) and len({n for n in progress if 0 < n < expected_rows}) >= KILLS - 2, progress
    assert last.returncode == 0, last.stderr[-2000:]
    got, rows = outcome(pieces)
    assert rows == len(got) == expected_rows  # one row per patient
    assert got == expected
    assert json.loads(last.stdout)["candidates"] == json.loads(finished.stdout)["candidates"]
