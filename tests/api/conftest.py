"""The API tests' shared guards: the run database (and its audit trail) in a temporary folder, and no
patient's name or birth date in any log record of any API test."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.support.identities import fixture_identities, leaks


@pytest.fixture(scope="session", autouse=True)
def _work_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Apps built from the environment's settings store their audit trail here, not in the checkout's var/."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRIALMATCH_WORK_DIR", str(tmp_path_factory.mktemp("api-work")))
        patch.delenv("TRIALMATCH_DATABASE_URL", raising=False)
        patch.delenv("TRIALMATCH_DEBUG", raising=False)  # the logs are checked as a site runs them
        yield


@pytest.fixture(autouse=True)
def _no_identity_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every API test runs with logs captured at DEBUG; none may carry a fixture patient's name or birth date."""
    caplog.set_level(logging.DEBUG)
    yield
    records = [*caplog.get_records("setup"), *caplog.get_records("call")]
    found = leaks(records, fixture_identities())
    assert not found, f"patient identity in the logs: {found[:5]}"
