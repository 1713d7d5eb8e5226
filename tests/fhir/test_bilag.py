"""BILAG grades read from a score's value or its components: one grade per organ system, never more than nine."""

from __future__ import annotations

from typing import Any

import pytest

from matcher.fhir.bilag import grades


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        ({"valueString": "1A 2B"}, ("A", "B", "B")),
        ({"valueString": "Renal C, mucocutaneous D"}, ("C", "D")),
        ({"valueString": "AB"}, ()),  # letters inside a word are no grades
        ({"valueString": "Grade"}, ()),
        ({"valueString": "12A"}, ("A",) * 9),  # a count beyond the nine organ systems is a data error
        ({"valueCodeableConcept": {"coding": [{"system": "urn:x", "code": "2E"}], "text": "A"}}, ("E", "E")),
        ({"valueCodeableConcept": {"text": "1B"}}, ("B",)),
        ({"valueString": "A", "valueCodeableConcept": {"text": "B"}}, ("A",)),  # the string decides
        ({"component": [{"valueString": "A"}, {"valueString": "C"}], "valueString": "E"}, ("A", "C")),
        ({"component": [{"valueString": "none"}], "valueString": "2D"}, ("D", "D")),
        ({}, ()),
    ],
)
def test_grades(part: dict[str, Any], expected: tuple[str, ...]) -> None:
    assert grades(part) == expected
