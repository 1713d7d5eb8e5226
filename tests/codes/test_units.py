"""Unit conversion per analyte (property-based): UCUM parsed, every valid spelling converts, nothing is guessed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matcher.codes.units import analyte_factor, convert, convert_between, factor, parse, resolve_unit

values = st.floats(min_value=0.001, max_value=1e5, allow_nan=False, allow_infinity=False)

#: spellings of one unit, per analyte: every one must convert, to the same value
EQUIVALENT = [
    ("creatinine", ["mg/dL", "mg/dl", "mg/(100.mL)", "10.mg/L", "g/(100.L)", "10*-2.g/L", "ug/(100.uL)"]),
    ("creatinine", ["umol/L", "umol/l", "10*-6.mol/L", "nmol/mL", "mmol/(1000.L)", "mmol/m3"]),
    ("bilirubin_total", ["umol/L", "umol/l", "10*-6.mol/L", "nmol/mL"]),
    ("bilirubin_total", ["mg/dL", "mg/dl", "mg/(100.mL)", "10.mg/L"]),
    ("alt", ["U/L", "U/l", "[IU]/L", "[IU]/l", "[iU]/L", "m[IU]/mL", "umol/min/L", "10*-3.U/mL"]),
    ("ast", ["ukat/L", "ukat/l", "umol/s/L", "60.U/L", "60.[IU]/L", "nkat/mL"]),
    ("qtc", ["ms", "10*-3.s", "us.10*3"]),
    ("qtc", ["s", "1000.ms"]),
    ("body_weight", ["[lb_av]", "16.[oz_av]", "7000.[gr]"]),
    ("body_weight", ["kg", "1000.g", "10*3.g"]),
    ("creatinine_clearance", ["mL/min", "ml/min", "cm3/min", "60.mL/h"]),
    ("creatinine_clearance", ["mL/s", "ml/s", "60.mL/min"]),
    ("egfr", ["mL/min/{1.73_m2}", "ml/min/{1.73_m2}", "mL/min", "60.mL/h/{1.73_m2}"]),
    ("hcg", ["m[IU]/mL", "[IU]/L", "m[iU]/mL"]),
    ("hbv_dna", ["[IU]/mL", "k[IU]/L", "10*3.[IU]/L"]),
    ("crp", ["mg/L", "ug/mL", "mg/l"]),
]


@given(values)
def test_creatinine_mg_dl_and_umol_l(mappings, value):
    # through creatinine's molar mass (113.12 g/mol): the conventional 88.4 umol/L per mg/dL
    creatinine = mappings.analytes["creatinine"]
    assert convert(creatinine, value * 88.4, "umol/L") == pytest.approx(value, rel=1e-4)
    assert convert_between(creatinine, value, "mg/dL", "umol/L") == pytest.approx(value * 88.4, rel=1e-4)
    assert convert(creatinine, value, "mmol/L") == pytest.approx(value * 1000 / 88.4, rel=1e-4)


@given(values)
def test_bilirubin_mg_dl_and_umol_l(mappings, value):
    # through bilirubin's molar mass (584.66 g/mol): the conventional 17.1 umol/L per mg/dL
    assert convert(mappings.analytes["bilirubin_total"], value * 17.1, "umol/L") == pytest.approx(value, rel=1e-3)


@given(values)
def test_enzyme_units_and_international_units_are_equal(mappings, value):
    for analyte in ("alt", "ast"):
        assert convert(mappings.analytes[analyte], value, "[IU]/L") == pytest.approx(value)
        assert convert(mappings.analytes[analyte], value, "U/L") == pytest.approx(value)
        assert convert(mappings.analytes[analyte], value, "ukat/L") == pytest.approx(value * 60)


@given(values)
def test_qtc_seconds_and_weight_pounds(mappings, value):
    assert convert(mappings.analytes["qtc"], value, "s") == pytest.approx(value * 1000)
    assert convert(mappings.analytes["body_weight"], value, "[lb_av]") == pytest.approx(value * 0.45359237)


@given(values, st.sampled_from(EQUIVALENT))
def test_equivalent_spellings_convert_alike(mappings, value, group):
    analyte, spellings = group
    definition = mappings.analytes[analyte]
    converted = [convert(definition, value, unit) for unit in spellings]
    assert None not in converted, dict(zip(spellings, converted, strict=True))
    assert converted == pytest.approx([converted[0]] * len(converted), rel=1e-9)


@given(values, st.sampled_from(EQUIVALENT), st.data())
def test_round_trip_through_every_spelling(mappings, value, group, data):
    analyte, spellings = group
    definition = mappings.analytes[analyte]
    unit = data.draw(st.sampled_from(spellings))
    there = convert_between(definition, value, definition.unit, unit)
    assert there is not None
    assert convert_between(definition, there, unit, definition.unit) == pytest.approx(value, rel=1e-9)
    other = data.draw(st.sampled_from(spellings))
    assert convert_between(definition, value, unit, other) == pytest.approx(value, rel=1e-9)


@pytest.mark.parametrize(
    ("analyte", "unit"),
    [
        # not valid UCUM (case-sensitive; a factor needs its operator: mg/(100.mL))
        ("creatinine", "mg/deciliter"),
        ("creatinine", "mgs"),
        ("creatinine", ""),
        ("creatinine", " mg/dL"),
        ("creatinine", "MG/DL"),
        ("creatinine", "mg/100mL"),
        ("creatinine", "µmol/L"),
        ("creatinine", "mg/dL" + ".1" * 60),  # valid, but longer than any real unit: refused unread
        ("alt", "IU/L"),
        # valid UCUM of another dimension
        ("qtc", "mg/dL"),
        ("creatinine", "U/L"),
        ("creatinine", "mL/min"),
        ("body_weight", "ms"),
        ("bilirubin_total", "[IU]/L"),
        # an arbitrary unit converts only to itself, never to a count or another arbitrary unit
        ("alt", "10*3/uL"),
        ("alt", "%"),
        ("hcg", "/mL"),
        ("hcg", "[arb'U]/mL"),
        ("hbv_dna", "{copies}/mL"),
        # a different annotation is a different unit: a clearance per 1.73 m2 is not a clearance
        ("creatinine_clearance", "mL/min/{1.73_m2}"),
        ("alt", "U{25Cel}/L"),
        # not a ratio scale
        ("qtc", "Cel"),
    ],
)
def test_invalid_ucum_and_wrong_dimensions_convert_to_nothing(mappings, analyte, unit):
    assert convert(mappings.analytes[analyte], 1.0, unit) is None


def test_molar_units_need_the_molar_mass(mappings):
    assert factor("umol/L", "mg/dL") is None
    assert factor("umol/L", "mg/dL", 113.12) == pytest.approx(0.011312)
    # an analyte without one (CRP) does not read amounts of substance
    assert convert(mappings.analytes["crp"], 1.0, "umol/L") is None


def test_parsing_and_factors_are_cached(mappings):
    creatinine = mappings.analytes["creatinine"]
    analyte_factor(creatinine, "mg/dl")
    parsed, computed = parse.cache_info().misses, factor.cache_info().misses
    for _ in range(5):
        assert analyte_factor(creatinine, "mg/dl") == 1.0
        assert parse("mg/dl") is not None
    assert (parse.cache_info().misses, factor.cache_info().misses) == (parsed, computed)


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
        (None, "mg/dl", None, "mg/dl"),  # valid UCUM (l is the litre): read as such
        (None, "Mg/Dl", None, None),  # UCUM is case-sensitive, and this spelling is no listed alias
        (None, "mg/deciliter", None, None),  # neither UCUM nor an alias
        (None, "mg/100mL", None, "mg/(100.mL)"),  # not UCUM, but an alias
        (None, "", None, None),
        (None, None, None, None),
        ("MGDL", "mg/dL", "http://hospital.example/units", "mg/dL"),  # a local code: its text may still match
        ("MGDL", None, "http://hospital.example/units", None),
    ],
)
def test_which_units_are_trusted(mappings, code, unit, system, expected):
    assert resolve_unit(code, unit, system, mappings.unit_aliases) == expected
