"""FHIR dates, periods and ages read as calendar days: onset and abatement, medication periods, range ages."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from matcher.fhir.dates import age_bounds, medication_period, observation_time, onset_like
from matcher.record import PartialDate

BIRTH = PartialDate.parse("1980-02-29")


@pytest.mark.parametrize(
    ("resource", "prefix", "lo", "hi"),
    [
        ({"onsetDateTime": "2020-05"}, "onset", date(2020, 5, 1), date(2020, 5, 31)),
        ({"onsetPeriod": {"start": "2019-01-02", "end": "2019-03-04"}}, "onset", date(2019, 1, 2), date(2019, 1, 2)),
        ({"abatementPeriod": {"start": "2019-01-02", "end": "2019-03-04"}}, "abatement", date(2019, 3, 4), None),
        ({"abatementPeriod": {"start": "2019-01-02"}}, "abatement", date(2019, 1, 2), None),
        ({"onsetAge": {"value": 30, "code": "a"}}, "onset", date(2010, 2, 28), date(2011, 2, 28)),
        ({"onsetAge": {"value": 30, "code": "mo"}}, "onset", None, None),  # only years are counted
        ({"onsetAge": {"value": 151, "code": "a"}}, "onset", None, None),
        ({"onsetAge": {"value": True, "code": "a"}}, "onset", None, None),  # a boolean is no number
        ({"onsetString": "in childhood"}, "onset", None, None),
    ],
)
def test_onset_and_abatement(resource: dict[str, Any], prefix: str, lo: date | None, hi: date | None) -> None:
    found = onset_like(resource, prefix, BIRTH)
    assert (found.lo if found else None) == lo
    assert (found.hi if found else None) == (hi or lo)


def test_an_observation_is_dated_by_its_effective_time_else_when_it_was_issued() -> None:
    when, instant = observation_time({"effectivePeriod": {"start": "2020-01-01", "end": "2020-01-03T10:00:00Z"}})
    assert when == PartialDate.parse("2020-01-03") and instant is not None
    when, _ = observation_time({"issued": "2021-06-01T08:00:00+02:00"})
    assert when == PartialDate.parse("2021-06-01")
    assert observation_time({}) == (None, None)


@pytest.mark.parametrize(
    ("resource", "start", "end", "supply"),
    [
        (
            {"resourceType": "MedicationAdministration", "effectiveDateTime": "2020-01-01"},
            "2020-01-01",
            "2020-01-01",
            None,
        ),
        ({"resourceType": "MedicationStatement", "effectiveDateTime": "2020-01-01"}, "2020-01-01", None, None),
        (
            {"resourceType": "MedicationStatement", "effectivePeriod": {"start": "2020-01", "end": "2020-03"}},
            "2020-01",
            "2020-03",
            None,
        ),
        (
            {
                "resourceType": "MedicationRequest",
                "authoredOn": "2020-01-01",
                "dispenseRequest": {"expectedSupplyDuration": {"value": 30, "code": "d"}, "numberOfRepeatsAllowed": 2},
            },
            "2020-01-01",
            None,
            90.0,
        ),
        (
            {
                "resourceType": "MedicationRequest",
                "authoredOn": "2020-01-01",
                "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": "2020-02-01"}}}}],
                "dispenseRequest": {"expectedSupplyDuration": {"value": 200, "unit": "a"}},
            },
            "2020-02-01",
            None,
            None,  # two centuries of supply is a data error
        ),
    ],
)
def test_medication_period(resource: dict[str, Any], start: str, end: str | None, supply: float | None) -> None:
    assert medication_period(resource) == (PartialDate.parse(start), PartialDate.parse(end), supply)


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        ({"low": {"value": 18, "code": "a"}}, (18.0, None, False)),
        ({"low": {"value": 6, "code": "mo"}, "high": {"value": 2, "code": "a"}}, (0.5, 2.0, False)),
        ({"high": {"value": 65, "unit": "years"}}, (None, None, True)),  # no UCUM code: unreadable
    ],
)
def test_the_age_a_reference_range_applies_to(age: dict[str, Any], expected: tuple[Any, ...]) -> None:
    assert age_bounds(age) == expected
