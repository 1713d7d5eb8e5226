"""measure.py: the most recent usable result inside the window decides; why others are passed over."""

from __future__ import annotations

from datetime import date

import pytest

from matcher.criteria.measure import fmt
from matcher.explain import reason
from tests.support.fixturekit import LOINC, PatientBuilder, ago

ALT, AST = "1742-6", "1920-8"


def male() -> PatientBuilder:
    return PatientBuilder("labs", sex="male", birth="1976-01-01")


@pytest.mark.parametrize(
    ("setup", "fragment"),
    [
        (lambda p: None, "no ALT result on record"),
        (lambda p: p.lab(ALT, "ALT", 20, "U/L", ago(120)), "older than the 90-day window"),
        (lambda p: p.lab(ALT, "ALT", 20, "", ago(5)), "it has no unit"),
        (lambda p: p.lab(ALT, "ALT", 20, "furlongs", ago(5), ucum=False), "not a known UCUM unit"),
        (lambda p: p.lab(ALT, "ALT", 20, "mg/dL", ago(5)), "cannot be converted to U/L"),
        (lambda p: p.obs(LOINC, ALT, "ALT", ago(5), absent="not-performed"), "it has no value"),
        (lambda p: p.lab(ALT, "ALT", 20, "U/L", ago(5), status="preliminary"), "its status is preliminary"),
        (lambda p: p.lab(ALT, "ALT", 20, "U/L", ago(-3)), "no ALT result on record"),  # after as_of
    ],
)
def test_missing_stale_or_unusable_alt_is_unknown(criterion, setup, fragment):
    p = male()
    setup(p)
    p.lab(AST, "AST", 20, "U/L", ago(5))
    result = criterion(p, "liver_function")
    assert result.status == "unknown"
    assert fragment in reason(result)
    assert any(n.params.get("item") == "alt" and n.params.get("code") == "LOINC 1742-6" for n in result.needs)


def test_a_result_30_days_old_is_inside_every_window(criterion):
    p = male().lab(ALT, "ALT", 20, "U/L", ago(30)).lab(AST, "AST", 20, "U/L", ago(5))
    result = criterion(p, "liver_function")
    assert result.status == "pass"


def test_most_recent_usable_result_decides(criterion):
    p = male().lab(ALT, "ALT", 300, "U/L", ago(60)).lab(AST, "AST", 20, "U/L", ago(5))
    p.lab(ALT, "ALT", 30, "U/L", ago(3))
    result = criterion(p, "liver_function")
    assert result.status == "pass"
    assert result.evidence[0].date == ago(3)


def normal_liver(p: PatientBuilder) -> PatientBuilder:
    p.lab(ALT, "ALT", 20, "U/L", ago(10))
    return p.lab(AST, "AST", 20, "U/L", ago(10))


def test_a_year_only_result_does_not_hide_a_newer_exact_one(criterion):
    p = PatientBuilder("partial", sex="male")
    p.lab(ALT, "ALT", 20, "U/L", ago()[:4])  # "2026": may be any day of the year
    p.lab(ALT, "ALT", 500, "U/L", ago(5))
    p.lab(AST, "AST", 20, "U/L", ago(5))
    assert criterion(p, "liver_function").status == "fail"


def test_a_result_dated_too_vaguely_to_place_needs_a_look(criterion):
    p = normal_liver(PatientBuilder("vague", sex="male"))
    p.lab(ALT, "ALT", 20, "U/L", "2026-06")  # asked on 2026-06-25: this month may mean after that day
    result = criterion(p, "liver_function", date(2026, 6, 25))
    assert result.status == "review"
    assert "too imprecise" in reason(result)


@pytest.mark.parametrize(
    ("value", "comparator", "status"),
    [(15, None, "fail"), (800, None, "fail"), (20, "<", "review"), (0, None, "pass")],
)
def test_detectable_viral_load_is_positive_whatever_the_printed_range(criterion, value, comparator, status):
    p = PatientBuilder("dna", sex="male").serology("5196-1", "HBsAg", "negative", ago(10))
    quantity = {"value": value, "unit": "IU/mL", "system": "http://unitsofmeasure.org", "code": "[IU]/mL"}
    if comparator:
        quantity["comparator"] = comparator
    p.obs(
        LOINC,
        "42595-9",
        "HBV DNA",
        ago(10),
        extra={"valueQuantity": quantity, "referenceRange": [{"high": {**quantity, "value": 20, "comparator": None}}]},
    )
    p.resources[-1]["referenceRange"][0]["high"].pop("comparator")
    assert criterion(p, "hepatitis_b").status == status


@pytest.mark.parametrize(
    ("code", "value", "unit"),
    [(ALT, -500, "U/L"), ("2160-0", 0, "mg/dL"), ("29463-7", 1e308, "kg"), ("8636-3", 5, "ms")],
)
def test_implausible_values_are_unusable_not_crashes(run, code, value, unit):
    p = normal_liver(PatientBuilder("bad", sex="male"))
    p.lab("2160-0", "Creatinine", 0.9, "mg/dL", ago(8))
    p.lab("29463-7", "Weight", 80, "kg", ago(8))
    p.lab(code, "x", value, unit, ago(2))
    criterion = {ALT: "liver_function", "2160-0": "renal_function", "29463-7": "renal_function", "8636-3": "cardiac"}
    assert run(p).criterion(criterion[code]).status != "pass"


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (3.0, None, "3"),
        (3.02, None, "3.02"),
        (0.12345, "mg/dL", "0.123 mg/dL"),  # at most three significant digits
        (1234.5, "U/L", "1234 U/L"),  # large numbers whole
        (2.5e6, None, "2500000"),  # never in exponent notation
    ],
)
def test_numbers_are_shown_as_a_person_writes_them(value, unit, shown):
    assert fmt(value, unit) == shown
