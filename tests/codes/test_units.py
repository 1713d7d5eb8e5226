"""Unit conversion per analyte (property-based) and which units are trusted at all."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matcher.codes.units import convert, convert_between, resolve_unit

values = st.floats(min_value=0.001, max_value=1e5, allow_nan=False, allow_infinity=False)


@given(values)
def test_creatinine_mg_dl_and_umol_l(mappings, value):
    creatinine = mappings.analytes["creatinine"]
    assert convert(creatinine, value * 88.4, "umol/L") == pytest.approx(value)
    assert convert_between(creatinine.factors, value, "mg/dL", "umol/L") == pytest.approx(value * 88.4)


@given(values)
def test_bilirubin_mg_dl_and_umol_l(mappings, value):
    assert convert(mappings.analytes["bilirubin_total"], value * 17.1, "umol/L") == pytest.approx(value)


@given(values)
def test_enzyme_units_and_international_units_are_equal(mappings, value):
    for analyte in ("alt", "ast"):
        assert convert(mappings.analytes[analyte], value, "[IU]/L") == pytest.approx(value)
        assert convert(mappings.analytes[analyte], value, "U/L") == pytest.approx(value)


@given(values)
def test_qtc_seconds_and_weight_pounds(mappings, value):
    assert convert(mappings.analytes["qtc"], value, "s") == pytest.approx(value * 1000)
    assert convert(mappings.analytes["body_weight"], value, "[lb_av]") == pytest.approx(value * 0.45359237)


@given(values, st.sampled_from(["creatinine", "bilirubin_total", "alt", "qtc", "body_weight"]))
def test_round_trip_through_every_unit(mappings, value, analyte):
    factors = mappings.analytes[analyte].factors
    for unit in factors:
        there = convert_between(factors, value, mappings.analytes[analyte].unit, unit)
        assert there is not None
        assert convert_between(factors, there, unit, mappings.analytes[analyte].unit) == pytest.approx(value)


def test_no_unit_or_an_unknown_unit_converts_to_nothing(mappings):
    creatinine = mappings.analytes["creatinine"]
    assert convert(creatinine, 1.0, None) is None
    assert convert(creatinine, 1.0, "U/L") is None


@pytest.mark.parametrize(
    ("code", "unit", "system", "expected"),
    [
        ("umol/L", "µmol/L", "http://unitsofmeasure.org", "umol/L"),
        (None, "µmol/L", None, "umol/L"),  # an alias listed in mappings/
        (None, "mg/dL", None, "mg/dL"),  # written exactly as a UCUM code
        (None, "Mg/Dl", None, None),  # UCUM is case-sensitive, and this spelling is no listed alias
        (None, None, None, None),
        ("MGDL", "mg/dL", "http://hospital.example/units", "mg/dL"),  # a local code: its text may still match
        ("MGDL", None, "http://hospital.example/units", None),
    ],
)
def test_which_units_are_trusted(mappings, code, unit, system, expected):
    assert resolve_unit(code, unit, system, mappings.unit_aliases, mappings.known_units) == expected
