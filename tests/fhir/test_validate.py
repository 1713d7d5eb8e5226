"""Validation refuses what would make it recurse: deeply nested resources are an input error, not a crash."""

from __future__ import annotations

from typing import Any

import pytest

from matcher.errors import InvalidResourceError
from matcher.fhir.validate import MAX_DEPTH, nesting_depth, validate


def nested_extension(levels: int) -> dict[str, Any]:
    ext: dict[str, Any] = {"url": "http://example.org/x", "valueString": "v"}
    for _ in range(levels):
        ext = {"url": "http://example.org/x", "extension": [ext]}
    return ext


def condition(levels: int) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": "Patient/p1"},
        "code": {"text": "SLE"},
        "extension": [nested_extension(levels)],
    }


@pytest.mark.parametrize("levels", [0, 5, 12])
def test_ordinary_nesting_validates(levels):
    validate(condition(levels), "Condition/c1")


@pytest.mark.parametrize("levels", [40, 120, 5000])
def test_deep_nesting_is_an_input_error_before_validation(levels):
    # an Extension nested about 120 levels deep (a 14 KB body) made the validator hit RecursionError: a 500
    with pytest.raises(InvalidResourceError, match=f"nested more than {MAX_DEPTH} levels deep"):
        validate(condition(levels), "Condition/c1")


def test_nesting_depth_counts_without_recursion():
    assert nesting_depth({"a": [{"b": 1}]}) == 3
    assert nesting_depth("text") == 0
    assert nesting_depth(nested_extension(100_000)) == MAX_DEPTH + 1  # stops early, no RecursionError
