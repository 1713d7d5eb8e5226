"""Reasons are rendered from message ids: every id the criteria use has an English template, and no template is dead."""

from __future__ import annotations

import re
from pathlib import Path

from matcher.explain import NEEDS, TEMPLATES, render
from matcher.outcome import Finding

CRITERIA = Path(__file__).resolve().parent.parent / "matcher" / "criteria"
SAY = re.compile(r'\.say\(\s*[^,]+,\s*"([a-z_]+\.[a-z_]+)"')
LITERAL = re.compile(r'"((?:[a-z_]+)\.(?:[a-z_]+))"')


def used(pattern: re.Pattern[str]) -> set[str]:
    return {m for path in CRITERIA.glob("*.py") for m in pattern.findall(path.read_text(encoding="utf-8"))}


def test_every_message_a_criterion_says_has_a_template():
    ids = used(SAY) | {m for m in used(LITERAL) if m.split(".")[0] in {k.split(".")[0] for k in TEMPLATES}}
    assert ids - set(TEMPLATES) == set()


def test_every_template_is_used():
    literals = used(LITERAL)
    assert set(TEMPLATES) - literals == set()
    assert set(NEEDS) - literals == set()


def test_reason_names_the_values_compared():
    finding = Finding(
        "lab.vs_uln",
        {
            "item": "alt",
            "value": "135 U/L",
            "date": "2026-10-02",
            "ratio": 3.375,
            "uln": "40 U/L",
            "uln_source": "reference_range",
            "sex": "male",
            "factor": 3.0,
        },
    )
    assert render(finding) == (
        "ALT 135 U/L on 2026-10-02 is 3.4 x ULN (40 U/L, the result's own reference range); limit is 3 x ULN"
    )
