"""Infection serology: a positive inside the window counts, else the latest decides; every way of writing it."""

from __future__ import annotations

import pytest

from matcher.explain import reason
from tests.support.fixturekit import ICD10, LOINC, SNOMED, PatientBuilder, ago, cc

HBSAG, ANTI_HBC, HBV_DNA, ANTI_HCV, HCV_RNA = "5196-1", "13952-7", "42595-9", "13955-0", "11259-9"
HIV_AB, HIV_AG_AB, TP_AB = "7918-6", "56888-1", "24110-9"


def patient() -> PatientBuilder:
    return PatientBuilder("serology", sex="male")


@pytest.mark.parametrize(
    ("results", "status"),
    [
        ([(HBSAG, "positive", 20)], "fail"),
        ([(HBSAG, "negative", 20)], "pass"),
        ([(HBSAG, "positive", 100), (HBSAG, "negative", 10)], "fail"),  # a positive inside the window counts
        ([(HBSAG, "positive", 400), (HBSAG, "negative", 10)], "pass"),  # ... outside it does not
        ([(HBSAG, "negative", 20), (HBV_DNA, "detected", 20)], "fail"),
        ([(HBSAG, "negative", 20), (ANTI_HBC, "positive", 20)], "review"),
        ([(HBSAG, "negative", 20), (ANTI_HBC, "positive", 20), (HBV_DNA, "not detected", 20)], "pass"),
        ([(HBSAG, "negative", 400)], "unknown"),
        ([], "unknown"),
    ],
)
def test_hepatitis_b(criterion, results, status):
    p = patient()
    for code, polarity, days in results:
        p.serology(code, "test", polarity, ago(days))
    assert criterion(p, "hepatitis_b").status == status


def test_hepatitis_b_worklist_names_hbsag(criterion):
    result = criterion(patient(), "hepatitis_b")
    assert result.needs[0].params["code"] == "LOINC 5196-1"
    assert result.needs[0].params["window"] == 180


def test_chronic_hepatitis_b_condition_fails(criterion):
    p = patient().condition(ICD10, "B18.1", "Chronic viral hepatitis B", onset=ago(years=5))
    p.serology(HBSAG, "HBsAg", "negative", ago(20))
    assert criterion(p, "hepatitis_b").status == "fail"


@pytest.mark.parametrize(
    ("results", "status"),
    [
        ([(ANTI_HCV, "negative", 20)], "pass"),
        ([(ANTI_HCV, "positive", 20)], "unknown"),  # only RNA tells active from cleared
        ([(ANTI_HCV, "positive", 20), (HCV_RNA, "not detected", 10)], "pass"),
        ([(HCV_RNA, "detected", 10)], "fail"),
        ([], "unknown"),
    ],
)
def test_hepatitis_c(criterion, results, status):
    p = patient()
    for code, polarity, days in results:
        p.serology(code, "test", polarity, ago(days))
    result = criterion(p, "hepatitis_c")
    assert result.status == status
    if status == "unknown" and results:
        assert result.needs[0].params["item"] == "hcv_rna"


@pytest.mark.parametrize(
    ("results", "status"),
    [
        ([(HIV_AG_AB, "negative", 20)], "pass"),
        ([(HIV_AB, "positive", 20)], "fail"),
        ([(HIV_AB, "positive", 2000)], "fail"),  # HIV is lifelong: an old positive still counts
        ([(HIV_AB, "positive", 2000), (HIV_AB, "negative", 30)], "review"),
        ([(HIV_AG_AB, "negative", 300)], "unknown"),
    ],
)
def test_hiv(criterion, results, status):
    p = patient()
    for code, polarity, days in results:
        p.serology(code, "test", polarity, ago(days))
    assert criterion(p, "hiv").status == status


@pytest.mark.parametrize(("polarity", "status"), [("positive", "review"), ("negative", "pass")])
def test_syphilis_positive_is_for_the_investigator(criterion, polarity, status):
    p = patient().serology(TP_AB, "TP Ab", polarity, ago(20))
    result = criterion(p, "syphilis")
    assert result.status == status
    if polarity == "positive":
        assert "investigator" in reason(result)


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"answer": cc(SNOMED, "10828004")}, "fail"),
        ({"answer": cc(LOINC, "LA6576-8")}, "fail"),
        ({"text": "Reactive"}, "fail"),
        ({"text": "non-reactive"}, "pass"),
        ({"answer": {"text": "NEGATIVE"}}, "pass"),
        ({"text": "Equivocal"}, "review"),
        ({"interpretation": "POS"}, "fail"),
        ({"text": "negative", "interpretation": "POS"}, "review"),  # value and interpretation disagree
        ({"value": 3.2, "unit": "S/CO", "ucum": False, "high": 1.0, "high_unit": None}, "unknown"),  # not UCUM
        ({"value": 3.2, "unit": "{index}", "ucum": False, "high": 1.0, "high_unit": None}, "fail"),  # UCUM as text
        ({"value": 12.0, "unit": "[IU]/mL", "high": 0.05}, "fail"),
        ({"value": 0.01, "unit": "[IU]/mL", "high": 0.05}, "pass"),
        ({"text": "see comment"}, "unknown"),
    ],
)
def test_ways_of_writing_an_hbsag_result(criterion, kwargs, status):
    p = patient()
    p.obs(LOINC, HBSAG, "HBsAg", ago(10), **kwargs)
    assert criterion(p, "hepatitis_b").status == status


def test_viral_load_below_the_limit_of_quantification_is_not_settled(criterion):
    p = patient()
    p.serology(HBSAG, "HBsAg", "negative", ago(10))
    p.obs(
        LOINC,
        HBV_DNA,
        "HBV DNA",
        ago(10),
        extra={
            "valueQuantity": {
                "value": 20,
                "comparator": "<",
                "unit": "IU/mL",
                "system": "http://unitsofmeasure.org",
                "code": "[IU]/mL",
            }
        },
    )
    assert criterion(p, "hepatitis_b").status == "review"


@pytest.mark.parametrize(("interpretation", "status"), [("DET", "fail"), ("ND", "pass")])
def test_below_the_limit_of_quantification_the_laboratorys_reading_decides(criterion, interpretation, status):
    # '<15 IU/mL' alone leaves it open; with 'detected' or 'not detected' beside it, it does not
    p = patient()
    p.serology("13955-0", "HCV Ab", "positive", ago(20))
    p.obs(
        LOINC,
        "11011-4",
        "HCV RNA",
        ago(10),
        interpretation=interpretation,
        extra={
            "valueQuantity": {
                "value": 15,
                "comparator": "<",
                "unit": "IU/mL",
                "system": "http://unitsofmeasure.org",
                "code": "[IU]/mL",
            }
        },
    )
    assert criterion(p, "hepatitis_c").status == status
