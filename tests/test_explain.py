"""Reasons are rendered from message ids: every id the criteria use has a template in every language, none is dead."""

from __future__ import annotations

import re
from pathlib import Path

from matcher.criteria.measure import Unusable
from matcher.explain import LANGUAGES, catalogue, render
from matcher.outcome import Finding

#: catalogue entries that are not a finding, a need or a reason: names, fragments and the report's labels
LABELS = (
    "name.", "uln_source.", "sex.", "derived.", "list.", "ui.", "criterion.", "verdict.", "status.", "review.",
    "state.", "value.",
)  # fmt: skip
REASONS = {k for k in catalogue("en") if k.startswith(("unusable.", "range."))}
NEEDS = {k for k in catalogue("en") if k.startswith("need.")}
TEMPLATES = {k for k in catalogue("en") if not k.startswith(LABELS)} - REASONS - NEEDS

CRITERIA = Path(__file__).resolve().parent.parent / "matcher" / "criteria"
SAY = re.compile(r'\.say\(\s*[^,]+,\s*"([a-z_]+\.[a-z_]+)"')
LITERAL = re.compile(r'"((?:[a-z_]+)\.(?:[a-z_]+))"')


#: the worklist entry of a chart review is built where results are serialised
SERIALIZE = CRITERIA.parent / "serialize.py"


def used(pattern: re.Pattern[str]) -> set[str]:
    paths = [*CRITERIA.glob("*.py"), SERIALIZE]
    return {m for path in paths for m in pattern.findall(path.read_text(encoding="utf-8"))}


def test_every_message_a_criterion_says_has_a_template():
    ids = used(SAY) | {m for m in used(LITERAL) if m.split(".")[0] in {k.split(".")[0] for k in TEMPLATES}}
    assert ids - set(TEMPLATES) == set()


def test_every_template_is_used():
    literals = used(LITERAL)
    assert set(TEMPLATES) - literals == set()
    assert set(NEEDS) - literals == set()
    assert set(REASONS) - literals == set()


def test_every_reason_a_criterion_gives_has_a_template():
    ids = {m for m in used(LITERAL) if m.split(".")[0] in {k.split(".")[0] for k in REASONS}}
    assert ids - set(REASONS) == set()


def test_why_a_result_is_unusable_is_a_message_id_not_a_sentence():
    text = (CRITERIA / "measure.py").read_text(encoding="utf-8")
    calls = re.findall(r'Unusable\(\s*(f?"[^"]*")', text)
    assert calls
    assert [c for c in calls if not re.fullmatch(r'"unusable\.[a-z_]+"', c)] == []
    limits = (CRITERIA / "limits.py").read_text(encoding="utf-8")
    assert set(re.findall(r'"([a-z_]+\.[a-z_]+)"', limits)) <= set(REASONS)


def test_a_nested_reason_is_rendered_in_place_and_its_parameters_stay_scalars():
    why = Unusable("unusable.status", {"status": "preliminary"})
    params = {"item": "alt", "date": "2026-06-28", **why.as_params()}
    assert params == {"item": "alt", "date": "2026-06-28", "why": "unusable.status", "why_status": "preliminary"}
    assert render(Finding("result.unusable", params)) == "ALT on 2026-06-28 cannot be used: its status is preliminary"
    assert render(
        Finding("result.newer_unusable", {"item": "qtc", "date": "2026-06-01", "why": "unusable.undated"})
    ) == ("QTc on 2026-06-01 could not be used (it has no date): check it before relying on another result")
    out_of_range = Unusable("unusable.out_of_range", {"value": 120.0, "low": 0, "high": None, "title": "PDAI"})
    assert all(v is None or isinstance(v, str | int | float) for v in out_of_range.as_params().values())
    text = render(Finding("result.unusable", {"item": "pdai", "date": "2026-06-01", **out_of_range.as_params()}))
    assert text.endswith("cannot be used: 120 is outside the range of PDAI (0-inf)")
    unit = Unusable("unusable.unknown_unit", {"unit": "furlongs"}).as_params()
    assert render(Finding("result.unusable", {"item": "alt", "date": "2026-06-01", **unit})).endswith(
        "its unit 'furlongs' is not a known UCUM unit"
    )


def test_a_why_that_is_no_reason_id_is_shown_as_written():
    finding = Finding("lab.range_ignored", {"item": "alt", "why": "range.other_groups"})
    assert render(finding) == "ALT: its reference ranges are for other groups of patients, so the default ULN was used"
    assert "therapy.stopped_early" in TEMPLATES  # its `why` is the record's own words, not an id


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


PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::[^}]*)?\}")


def test_every_message_has_every_language_with_the_same_placeholders():
    english = catalogue("en")
    for lang in LANGUAGES:
        other = catalogue(lang)
        assert set(other) == set(english), lang
        for key, template in english.items():
            assert set(PLACEHOLDER.findall(other[key])) == set(PLACEHOLDER.findall(template)), (lang, key)
