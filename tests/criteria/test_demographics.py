"""demographics.py: age 18 to 70 on as_of (partial birth dates), and alive."""

from __future__ import annotations

import pytest

from matcher.explain import reason
from tests.support.fixturekit import PatientBuilder, ago


@pytest.mark.parametrize(
    ("birth", "status"),
    [
        ("2008-06-30", "pass"),  # 18 today
        ("2008-07-01", "fail"),  # 18 tomorrow
        ("1955-07-01", "pass"),  # 70, turns 71 tomorrow
        ("1955-06-30", "fail"),  # 71 today
        ("2008", "review"),  # 17 or 18
        ("1990-03", "pass"),
        (None, "unknown"),
    ],
)
def test_age(criterion, birth, status):
    assert criterion(PatientBuilder("age", birth=birth), "age").status == status


def test_deceased_patient_is_not_a_candidate(run):
    result = run(PatientBuilder("dead", deceased=ago(10)))
    assert result.criterion("alive").status == "fail"
    assert result.verdict == "ineligible"


@pytest.mark.parametrize(
    ("deceased", "status", "fragment"),
    [
        (None, "pass", "no death recorded"),
        (ago(10), "fail", ago(10)),
        (ago(-10), "pass", "no death recorded"),  # dies after as_of: alive on the day asked
    ],
)
def test_alive(criterion, deceased, status, fragment):
    result = criterion(PatientBuilder("alive", deceased=deceased), "alive")
    assert result.status == status
    assert fragment in reason(result)
