"""limits.py: the upper limit of normal, from the result's own reference range for the patient's sex and age."""

from __future__ import annotations

from typing import Any

import pytest

from matcher.explain import reason
from tests.support.fixturekit import LOINC, PatientBuilder, ago, cc

ALT, AST = "1742-6", "1920-8"


def test_reference_range_without_unit_falls_back_to_default(criterion):
    p = PatientBuilder("labs", sex="male", birth="1976-01-01")
    p.obs(LOINC, ALT, "ALT", ago(5), value=150, unit="U/L", extra={"referenceRange": [{"high": {"value": 100}}]})
    p.lab(AST, "AST", 20, "U/L", ago(5))
    result = criterion(p, "liver_function")
    assert result.status == "fail"  # 150 / default 40, not 150 / 100
    assert "default ULN was used" in reason(result)


def _range(high: float, **where: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"high": {"value": high, "unit": "U/L", "system": "http://unitsofmeasure.org", "code": "U/L"}}
    if "ages" in where:
        low, top = where["ages"]
        out["age"] = {
            k: {"value": v, "unit": "years", "system": "http://unitsofmeasure.org", "code": "a"}
            for k, v in (("low", low), ("high", top))
            if v is not None
        }
    if "text" in where:
        out["appliesTo"] = [{"text": where["text"]}]
    return out


def alt_with_ranges(sex: str | None, birth: str | None, value: float, *ranges: dict[str, Any]) -> PatientBuilder:
    p = PatientBuilder("labs", sex=sex, birth=birth)
    p.obs(LOINC, ALT, "ALT", ago(5), value=value, unit="U/L", extra={"referenceRange": list(ranges)})
    p.lab(AST, "AST", 20, "U/L", ago(5))
    return p


@pytest.mark.parametrize(
    ("sex", "birth", "ranges", "status", "fragment"),
    [
        # 70 U/L against the laboratory's 19 U/L is 3.7 x ULN; against the default 35/40 it would pass
        ("female", "1980-01-01", [_range(19, ages=(18, 120))], "fail", "the result's own reference range"),
        ("female", "1980-01-01", [_range(19, text="Female"), _range(33, text="Male")], "fail", "(19 U/L"),
        ("male", "1980-01-01", [_range(19, text="Female"), _range(33, text="Male")], "pass", "(33 U/L"),
        ("female", "1980-01-01", [_range(19, ages=(0, 17)), _range(40, ages=(18, None))], "pass", "(40 U/L"),
        # only a range for children: not this adult's, so the default decides
        ("female", "1980-01-01", [_range(19, ages=(0, 17))], "pass", "for other groups of patients"),
        # a group in words nobody can place: held against both readings, so a person decides
        ("female", "1980-01-01", [_range(19, text="Caucasian adults")], "review", "the most lenient is 35 U/L"),
        ("male", "1980-01-01", [_range(19, text="(Female)"), _range(33, text="Male/Men")], "pass", "(33 U/L"),
        # sex not recorded: a range for everyone does not settle it while the one for men may apply
        (None, "1980-01-01", [_range(50), _range(19, text="Male")], "review", "the most lenient is 50 U/L"),
        ("male", None, [_range(50), _range(19, ages=(40, 60))], "review", "the most lenient is 50 U/L"),
    ],
)
def test_the_results_own_range_is_placed_by_sex_and_age(criterion, sex, birth, ranges, status, fragment):
    result = criterion(alt_with_ranges(sex, birth, 70, *ranges), "liver_function")
    assert result.status == status
    assert fragment in reason(result)


def test_a_range_that_may_not_apply_still_excludes_when_every_reading_does(criterion):
    p = alt_with_ranges("female", "1980-01-01", 200, _range(19, text="Caucasian adults"))
    assert criterion(p, "liver_function").status == "fail"  # 200 U/L is above 3 x 19 and 3 x 35


def test_the_reference_range_for_the_patients_sex_is_used(criterion):
    def rng(sex: str, high: float) -> dict[str, Any]:
        return {
            "high": {"value": high, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"},
            "appliesTo": [cc("http://hl7.org/fhir/administrative-gender", sex)],
        }

    p = PatientBuilder("ranges", sex="female")
    p.obs(
        LOINC,
        "2160-0",
        "Creatinine",
        ago(5),
        value=2.5,
        unit="mg/dL",
        extra={"referenceRange": [rng("male", 1.3), rng("female", 1.1)]},
    )
    result = criterion(p, "renal_function")
    assert result.status == "fail"  # 2.27 x the female limit, not 1.9 x the male one
    assert "1.1 mg/dL, the result's own reference range" in reason(result)


def test_ranges_for_other_groups_fall_back_to_the_default(criterion):
    p = PatientBuilder("ranges", sex="male")
    p.obs(
        LOINC,
        "2160-0",
        "Creatinine",
        ago(5),
        value=2.0,
        unit="mg/dL",
        extra={
            "referenceRange": [
                {
                    "high": {"value": 5.0, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"},
                    "appliesTo": [cc("http://hl7.org/fhir/administrative-gender", "female")],
                }
            ]
        },
    )
    result = criterion(p, "renal_function")
    assert "default ULN" in reason(result)
    assert "reference ranges are for other groups" in reason(result)
