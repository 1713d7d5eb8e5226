"""criterion.py and the trial's lists of criteria: each cites its protocol clause; results follow the reading order."""

from __future__ import annotations

from dataclasses import replace

import pytest

from matcher.criteria import demographics
from matcher.criteria.criterion import General, PerCohort
from matcher.evaluate import evaluate
from matcher.fhir.bundle import record_from_bundle
from matcher.trial import NCT07161193, Trial
from tests.support.fixturekit import AS_OF, SNOMED, PatientBuilder, ago

TRIAL = NCT07161193
EVERY_CRITERION: tuple[General | PerCohort, ...] = (
    *TRIAL.opening,
    *TRIAL.per_cohort,
    *TRIAL.general,
    *TRIAL.exclusions,
)


def ra() -> PatientBuilder:
    return PatientBuilder("order").condition(SNOMED, "69896004", "RA", onset=ago(years=2))


@pytest.mark.parametrize("check", EVERY_CRITERION, ids=lambda c: c.id)
def test_every_criterion_cites_its_protocol_clause(check):
    doc = check.judge.__doc__ or ""
    assert doc.startswith(("Inclusion", "Exclusion", "Not a protocol clause")), check.id
    assert len(doc.splitlines()[0]) <= 120


def test_the_result_lists_the_criteria_in_the_trials_reading_order(run):
    result = run(ra())
    assert [c.id for c in result.criteria] == [c.id for c in EVERY_CRITERION]
    assert result.criteria[0].id == "age"


@pytest.mark.parametrize(
    "trial",
    [
        replace(TRIAL, opening=(), general=(*TRIAL.general, demographics.age)),
        replace(TRIAL, opening=(demographics.alive,), general=(demographics.age, *TRIAL.general[1:])),
    ],
    ids=["age last", "alive first"],
)
def test_the_order_comes_from_the_trial_not_from_the_position_of_age(mappings, trial: Trial):
    result = evaluate(record_from_bundle(ra().bundle(), mappings), AS_OF, mappings, trial)
    expected: tuple[General | PerCohort, ...] = (*trial.opening, *trial.per_cohort, *trial.general, *trial.exclusions)
    assert [c.id for c in result.criteria] == [c.id for c in expected]
