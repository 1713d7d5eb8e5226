"""labs.py: ALT/AST, bilirubin and creatinine against x ULN, bounds, units, creatinine clearance."""

from __future__ import annotations

from typing import Any

import pytest

from matcher.criteria.labs import cockcroft_gault
from matcher.explain import reason
from tests.support.fixturekit import LOINC, PatientBuilder, ago

ALT, AST, BILI, CREA, CREA_SI, WEIGHT = "1742-6", "1920-8", "1975-2", "2160-0", "14682-9", "29463-7"


def patient(sex: str = "male", birth: str = "1976-01-01") -> PatientBuilder:
    return PatientBuilder("labs", sex=sex, birth=birth)


def liver(p: PatientBuilder, alt: float = 20, ast: float = 20, **kw: Any) -> PatientBuilder:
    p.lab(ALT, "ALT", alt, kw.pop("unit", "U/L"), kw.pop("when", ago(5)), **kw)
    p.lab(AST, "AST", ast, "U/L", ago(5))
    return p


@pytest.mark.parametrize(
    ("sex", "alt", "extra", "status", "fragment"),
    [
        ("male", 135, {"high": 40}, "fail", "3.4 x ULN (40 U/L, the result's own reference range)"),
        ("male", 120, {"high": 40}, "pass", "3.0 x ULN"),  # exactly 3 x ULN is not above it
        ("male", 121, {}, "fail", "default ULN for a male patient"),
        ("female", 110, {}, "fail", "default ULN for a female patient"),  # 110 / 35 = 3.1
        ("male", 110, {}, "pass", "2.8 x ULN (40 U/L, default ULN"),
        ("male", 110, {"high": 50}, "pass", "2.2 x ULN (50 U/L, the result's own reference range)"),
        ("male", 2.5, {"unit": "ukat/L"}, "fail", "ALT 150 U/L"),
        ("male", 135, {"unit": "[IU]/L"}, "fail", "3.4 x ULN"),
    ],
)
def test_alt_against_uln(criterion, sex, alt, extra, status, fragment):
    result = criterion(liver(patient(sex), alt=alt, **extra), "liver_function")
    assert result.status == status
    assert fragment in reason(result)


def test_either_enzyme_above_limit_fails(criterion):
    result = criterion(liver(patient(), alt=30, ast=200), "liver_function")
    assert result.status == "fail"
    assert {e.item for e in result.evidence} == {"alt", "ast"}


def test_newer_unusable_result_turns_a_pass_into_review(criterion):
    p = liver(patient(), alt=25, when=ago(20))
    p.lab(ALT, "ALT", 400, "", ago(2))
    result = criterion(p, "liver_function")
    assert result.status == "review"
    assert "ALT on 2026-06-28 could not be used (it has no unit)" in reason(result)


def test_newer_unusable_result_does_not_soften_a_fail(criterion):
    p = liver(patient(), alt=300, when=ago(20))
    p.lab(ALT, "ALT", 20, "", ago(2))
    assert criterion(p, "liver_function").status == "fail"


@pytest.mark.parametrize(
    ("comparator", "value", "status"),
    [("<", 10, "pass"), (">", 500, "fail"), (">", 50, "unknown"), ("<", 200, "unknown")],
)
def test_a_bound_decides_only_when_it_lies_beyond_the_limit(criterion, comparator, value, status):
    p = patient()
    p.obs(
        LOINC,
        ALT,
        "ALT",
        ago(5),
        extra={
            "valueQuantity": {
                "value": value,
                "comparator": comparator,
                "unit": "U/L",
                "system": "http://unitsofmeasure.org",
                "code": "U/L",
            }
        },
    )
    p.lab(AST, "AST", 20, "U/L", ago(5))
    result = criterion(p, "liver_function")
    assert result.status == status
    if status == "unknown":
        assert result.needs[0].message == "need.exact"


@pytest.mark.parametrize(
    ("value", "unit", "high", "status"),
    [
        (2.0, "mg/dL", 1.2, "pass"),  # 1.7 x
        (2.5, "mg/dL", 1.2, "fail"),  # 2.1 x
        (50, "umol/L", None, "fail"),  # 2.92 mg/dL / 1.2 = 2.4 x
        (30, "umol/L", 21, "pass"),  # 1.4 x its own range (umol/L)
        (3, "mg/dL", None, "fail"),
    ],
)
def test_bilirubin(criterion, value, unit, high, status):
    p = patient()
    p.lab(BILI if unit == "mg/dL" else "14631-6", "Bilirubin", value, unit, ago(5), high=high)
    assert criterion(p, "bilirubin").status == status


def renal(
    p: PatientBuilder, creatinine: float, unit: str = "mg/dL", weight: float | None = 80, high: float | None = None
) -> PatientBuilder:
    p.lab(CREA if unit == "mg/dL" else CREA_SI, "Creatinine", creatinine, unit, ago(5), high=high)
    if weight is not None:
        p.lab(WEIGHT, "Body weight", weight, "kg", ago(5))
    return p


@pytest.mark.parametrize(
    ("sex", "birth", "creatinine", "unit", "weight", "status", "fragment"),
    [
        ("male", "1976-01-01", 0.9, "mg/dL", 80, "pass", "Cockcroft-Gault"),
        ("male", "1976-01-01", 2.7, "mg/dL", 80, "fail", "2.1 x ULN"),  # > 2 x 1.3
        ("male", "1976-01-01", 240, "umol/L", 80, "fail", "creatinine 2.71 mg/dL"),  # 240 / 88.4 > 2 x 1.3
        ("female", "1958-01-01", 2.0, "mg/dL", 50, "fail", "21.2 mL/min"),
        ("female", "1958-01-01", 1.0, "mg/dL", 60, "pass", "51 mL/min"),
        ("male", "1976-01-01", 1.0, "mg/dL", None, "unknown", "no usable body weight"),
    ],
)
def test_renal_function(criterion, sex, birth, creatinine, unit, weight, status, fragment):
    p = renal(patient(sex, birth), creatinine, unit, weight)
    result = criterion(p, "renal_function")
    assert result.status == status
    assert fragment in reason(result)


def test_measured_clearance_beats_the_estimate(criterion):
    p = renal(patient(), 1.0, weight=None)
    p.lab("2164-2", "Creatinine clearance", 25, "mL/min", ago(5))
    result = criterion(p, "renal_function")
    assert result.status == "fail"
    assert "creatinine clearance 25 mL/min" in reason(result)


def test_clearance_in_ml_per_second_is_converted(criterion):
    p = renal(patient(), 1.0, weight=None)
    p.lab("2164-2", "Creatinine clearance", 1.5, "mL/s", ago(5))  # 90 mL/min
    assert criterion(p, "renal_function").status == "pass"


def test_unknown_sex_uses_the_lower_estimate_and_says_review_when_it_straddles(criterion):
    # (140-60) * 40 / (72 * 1.4) = 31.7 for a man, 27.0 for a woman: the limit of 30 lies between
    p = renal(PatientBuilder("nosex", sex=None, birth="1966-01-01"), 1.4, weight=40)
    assert criterion(p, "renal_function").status == "review"


def test_egfr_is_shown_but_never_passes_for_a_clearance(criterion):
    p = renal(patient(), 0.9, weight=None)
    p.lab("33914-3", "eGFR", 95, "mL/min/{1.73_m2}", ago(5))
    result = criterion(p, "renal_function")
    assert result.status == "unknown"
    assert "an eGFR is not a creatinine clearance" in reason(result)


def test_synthea_blood_creatinine_is_creatinine(criterion):
    p = patient()
    p.lab("38483-4", "Creatinine [Mass/volume] in Blood", 3.0, "mg/dL", ago(5))
    assert criterion(p, "renal_function").status == "fail"


@pytest.mark.parametrize(
    ("age", "weight", "scr", "female", "expected"),
    [(40, 72, 1.0, False, 100.0), (40, 72, 1.0, True, 85.0), (80, 60, 2.0, False, 25.0)],
)
def test_cockcroft_gault(age, weight, scr, female, expected):
    assert cockcroft_gault(age, weight, scr, female=female) == pytest.approx(expected)


def test_a_creatinine_given_as_a_bound_asks_for_an_exact_one_for_the_estimate(criterion):
    p = patient()
    p.obs(
        LOINC,
        CREA,
        "Creatinine",
        ago(5),
        extra={
            "valueQuantity": {
                "value": 0.5,
                "comparator": "<",
                "unit": "mg/dL",
                "system": "http://unitsofmeasure.org",
                "code": "mg/dL",
            }
        },
    )
    p.lab(WEIGHT, "Body weight", 80, "kg", ago(5))
    result = criterion(p, "renal_function")
    assert result.status == "unknown"
    assert "cannot be estimated from a creatinine reported as <0.5 mg/dL" in reason(result)
    [need] = result.needs
    assert need.message == "need.exact" and need.params["item"] == "creatinine"
    assert [str(c) for c in need.codes] == [f"{LOINC}|{CREA}"]
