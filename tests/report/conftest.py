"""A stored run made from the fixtures (two nights, so that something changed), and its report data."""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from matcher.cli import main
from matcher.jobs.store import Store
from matcher.report.data import ReportData
from matcher.report.load import find_run, report_data


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """main() writes JSON to stdout's buffer: keep it out of the test output."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        yield
    assert sys.stdout is not out


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Two nights of the bundled fixtures: 2026-06-30, then 2026-09-30 when some results have gone stale."""
    folder = tmp_path_factory.mktemp("nights")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRIALMATCH_WORK_DIR", str(folder))
        mp.delenv("TRIALMATCH_FHIR_BASE_URL", raising=False)
        mp.delenv("TRIALMATCH_DATABASE_URL", raising=False)
        for day in ("2026-06-30", "2026-09-30"):
            with _quiet():
                assert main(["nightly", "--as-of", day, "--out", str(folder / day)]) == 0
        yield folder


@pytest.fixture(scope="session")
def night(work_dir: Path) -> ReportData:
    """The second night, read back from the run database as the report reads it."""
    store = Store(f"sqlite:///{work_dir / 'trialmatch.db'}")
    try:
        return report_data(store, find_run(store, None))
    finally:
        store.close()
