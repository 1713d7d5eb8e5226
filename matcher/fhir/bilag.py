"""BILAG grade parsing: the organ-system grades (A-E) a score Observation states in its value or components."""

from __future__ import annotations

import re
from collections.abc import Iterator

from matcher.fhir.concepts import Json, dicts_in

#: a BILAG grade: a capital A-E standing on its own ("1A", "2 B", "Renal C"), not the last letter of a word
_GRADE = re.compile(r"(?<![A-Za-z])(\d{0,3})\s*([A-E])(?![A-Za-z])")
#: BILAG-2004 grades nine organ systems; a count beyond that is a data error
BILAG_SYSTEMS = 9


def grades(part: Json) -> tuple[str, ...]:
    """BILAG-style grades (A-E), one per organ system from components, else from the value itself."""
    out: list[str] = []
    for comp in dicts_in(part.get("component")):
        out.extend(_grades_in(comp))
    return tuple(out) if out else tuple(_grades_in(part))


def _grades_in(part: Json) -> Iterator[str]:
    """The grades of one value: valueString, else the first coding's code, else the concept's text."""
    texts: list[str] = []
    if isinstance(part.get("valueString"), str):
        texts.append(part["valueString"])
    cc = part.get("valueCodeableConcept")
    if isinstance(cc, dict):
        texts.extend(c.get("code", "") for c in dicts_in(cc.get("coding")) if isinstance(c.get("code"), str))
        if not texts and isinstance(cc.get("text"), str):
            texts.append(cc["text"])
    for text in texts[:1]:
        for count, grade in _GRADE.findall(text):
            yield from [grade] * min(int(count) if count else 1, BILAG_SYSTEMS)
