"""Shared test fixtures: the real mappings, a builder for patients, and evaluation helpers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from matcher.codes.loader import load_mappings
from matcher.codes.model import Mappings
from matcher.evaluate import evaluate
from matcher.fhir.bundle import record_from_bundle
from matcher.outcome import CriterionResult, MatchResult
from matcher.trial import NCT07161193
from tests.support.fixturekit import AS_OF, PatientBuilder


@pytest.fixture(scope="session")
def mappings() -> Mappings:
    m = load_mappings()
    NCT07161193.check_mappings(m)
    return m


@pytest.fixture
def as_of() -> date:
    return AS_OF


Evaluator = Callable[..., MatchResult]


@pytest.fixture
def run(mappings: Mappings) -> Evaluator:
    """Evaluate a PatientBuilder (as of the fixtures' date unless told otherwise)."""

    def _run(builder: PatientBuilder, as_of: date = AS_OF) -> MatchResult:
        return evaluate(record_from_bundle(builder.bundle(), mappings), as_of, mappings)

    return _run


@pytest.fixture
def criterion(run: Evaluator) -> Callable[..., CriterionResult]:
    """One criterion's result for a PatientBuilder."""

    def _criterion(builder: PatientBuilder, cid: str, as_of: date = AS_OF) -> CriterionResult:
        return run(builder, as_of).criterion(cid)

    return _criterion
