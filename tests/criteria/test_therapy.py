"""Treatment history: 12 weeks of standard therapy from medication periods; prior CD19 and gene therapy, ever."""

from __future__ import annotations

import pytest
from fixturekit import ATC, ICD10, ICD10CM, RXNORM, SNOMED, PatientBuilder, ago

from matcher.criteria.therapy import Exposure, courses
from matcher.explain import reason
from matcher.record import MedicationFact, PartialDate

MTX = ("105586", "Methotrexate 10 MG Oral Tablet")
PCS = "http://www.cms.gov/Medicare/Coding/ICD10"


def ra() -> PatientBuilder:
    return PatientBuilder("therapy").condition(ICD10, "M06.9", "RA", onset=ago(years=3))


@pytest.mark.parametrize(
    ("setup", "status", "fragment"),
    [
        (lambda p: p.med_request(*MTX, ago(120)), "pass", "ongoing"),
        (lambda p: p.med_request(*MTX, ago(84)), "pass", "12 weeks"),
        (lambda p: p.med_request(*MTX, ago(28)), "fail", "reaches 12 weeks on"),
        (lambda p: p.med_request(*MTX, ago(200), status="completed", end=ago(100)), "pass", "14.3 weeks"),
        (lambda p: p.med_request(*MTX, ago(200), status="stopped", end=ago(170)), "review", "intolerance"),
        (lambda p: p.med_request(*MTX, ago(200), status="stopped"), "review", "does not say how long"),
        (lambda p: p.med_request(*MTX, ago(200), status="cancelled"), "unknown", "no standard therapy"),
        (lambda p: p.med_request(*MTX, ago(200), intent="proposal"), "unknown", "no standard therapy"),
        (lambda p: p.med_request(*MTX, ago(-10)), "unknown", "no standard therapy"),  # starts after as_of
        (lambda p: p.med_statement(*MTX, ago(300), ago(150), status="completed"), "pass", "21.4 weeks"),
        (lambda p: p.med_statement(*MTX, ago(300), status="not-taken"), "unknown", "no standard therapy"),
        (lambda p: p.med_request("8640", "prednisone", ago(300)), "unknown", "no standard therapy"),  # not RA's
        (lambda p: p.med_request("L04AK01", "leflunomide", ago(300), system=ATC), "pass", "leflunomide"),
        (lambda p: None, "unknown", "no standard therapy"),
    ],
)
def test_refractory_needs_twelve_weeks(criterion, setup, status, fragment):
    p = ra()
    setup(p)
    result = criterion(p, "refractory")
    assert result.status == status
    assert fragment in reason(result)


def test_consecutive_prescriptions_join_into_one_course(criterion):
    p = ra()
    for start in (150, 110, 70):  # three 40-day prescriptions with small gaps
        p.med_request(*MTX, ago(start), status="completed", end=ago(start - 35))
    result = criterion(p, "refractory")
    assert result.status == "pass"
    assert len(result.evidence) == 3


def test_infusions_months_apart_form_one_course(criterion):
    p = PatientBuilder("aav").condition(ICD10, "M31.7", "MPA", onset=ago(years=2))
    p.med_administration("121191", "rituximab", ago(200))
    p.med_administration("121191", "rituximab", ago(20))
    assert criterion(p, "refractory").status == "pass"


def test_courses_do_not_join_across_a_long_gap():
    def exp(start: int, end: int) -> Exposure:
        fact = MedicationFact(
            "MedicationRequest/x",
            "MedicationRequest",
            frozenset({"mtx"}),
            (),
            "mtx",
            "completed",
            "order",
            None,
            None,
            None,
            None,
        )
        day = PartialDate.parse(ago(start))
        stop = PartialDate.parse(ago(end))
        assert day and stop
        return Exposure(fact, "mtx", day.lo, stop.lo, False, 30, day.lo, stop.lo)

    joined = courses([exp(300, 260), exp(250, 200)])
    apart = courses([exp(300, 260), exp(150, 100)])
    assert [c.days for c in joined] == [100]
    assert sorted(c.days or 0 for c in apart) == [40, 50]


@pytest.mark.parametrize(
    ("setup", "cd19", "gene"),
    [
        (lambda p: p.med_administration("L01XL04", "tisagenlecleucel", ago(700), system=ATC), "fail", "fail"),
        (lambda p: p.med_administration("L01XL07", "idecabtagene vicleucel", ago(700), system=ATC), "pass", "fail"),
        (lambda p: p.med_administration("L04AG10", "inebilizumab", ago(700), system=ATC), "fail", "pass"),
        (lambda p: p.med_administration("1987402", "Yescarta", ago(700)), "fail", "fail"),  # a product RXCUI
        (
            lambda p: p.med_request("L01XL04", "tisagenlecleucel", ago(10), system=ATC, intent="plan"),
            "review",
            "review",
        ),
        (
            lambda p: p.med_request("L01XL04", "tisagenlecleucel", ago(10), system=ATC, status="cancelled"),
            "pass",
            "pass",
        ),
        (
            lambda p: p.condition(ICD10CM, "Z92.850", "Personal history of CAR-T therapy", onset=ago(900)),
            "review",
            "fail",
        ),
        (lambda p: p.procedure(SNOMED, "1156961008", "CAR-T cell therapy", ago(400)), "review", "fail"),
        (lambda p: p.procedure(PCS, "XW033J7", "Kymriah infusion", ago(400)), "review", "fail"),
        # in preparation: not given, but planned, so a person looks
        (lambda p: p.procedure(SNOMED, "1156961008", "CAR-T cell therapy", ago(5), "preparation"), "review", "review"),
        (lambda p: p.procedure(PCS, "XW033J7", "Kymriah infusion", ago(-10), "preparation"), "review", "review"),
        (lambda p: None, "pass", "pass"),
    ],
)
def test_prior_cd19_and_gene_therapy(criterion, run, setup, cd19, gene):
    p = PatientBuilder("prior", sex="male")
    setup(p)
    result = run(p)
    assert result.criterion("prior_cd19_therapy").status == cd19
    assert result.criterion("gene_therapy").status == gene


def test_rxnorm_ingredient_codes_are_drugs(mappings):
    assert "methotrexate" in mappings.drug_codes[(RXNORM, "105586")]


def test_a_medication_that_cannot_be_identified_is_not_a_pass(run, mappings):
    p = PatientBuilder("unidentified", sex="male")
    p.add(
        {
            "resourceType": "MedicationAdministration",
            "status": "completed",
            "subject": p.subject,
            "medicationReference": {"reference": "Medication/not-in-the-bundle"},
            "effectiveDateTime": ago(300),
        }
    )
    result = run(p)
    for cid in ("prior_cd19_therapy", "gene_therapy"):
        assert result.criterion(cid).status == "unknown"
        assert result.criterion(cid).needs[0].message == "need.medication"


@pytest.mark.parametrize(
    ("status", "expected"), [("completed", "pass"), ("in-progress", "pass"), ("preparation", "unknown")]
)
def test_phototherapy_counts_only_once_begun(criterion, status, expected):
    p = PatientBuilder("psoriasis").condition(ICD10, "L40.0", "Psoriasis vulgaris", onset=ago(years=3))
    p.add(
        {
            "resourceType": "Procedure",
            "status": status,
            "code": {"coding": [{"system": PCS, "code": "6A601ZZ"}], "text": "NB-UVB"},
            "subject": p.subject,
            "performedPeriod": {"start": ago(200), "end": ago(10)},
        }
    )
    assert criterion(p, "refractory").status == expected


def test_an_active_order_whose_supply_ran_out_is_not_an_ongoing_course(criterion):
    p = ra()
    p.add(
        {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": MTX[0]}], "text": MTX[1]},
            "subject": p.subject,
            "authoredOn": ago(365),
            "dispenseRequest": {"expectedSupplyDuration": {"value": 30, "unit": "days", "code": "d"}},
        }
    )
    result = criterion(p, "refractory")
    assert result.status == "review"  # 30 days supplied a year ago: stopped early, or not recorded since
    assert result.findings[0].message == "therapy.stopped_early"


def test_a_record_without_an_end_does_not_erase_a_documented_course(criterion):
    p = ra().med_statement(*MTX, ago(360), ago(10), status="completed")
    p.med_request(*MTX, ago(20), status="completed")  # no end date
    result = criterion(p, "refractory")
    assert result.status == "pass"
    assert "50 weeks" in reason(result)


def test_the_therapy_worklist_names_the_codes_a_record_would_carry(criterion, mappings):
    [need] = criterion(ra(), "refractory").needs
    assert need.message == "need.therapy"
    assert mappings.drugs["methotrexate"].codes[0] in need.codes
    assert all(mappings.drug_codes[c] & mappings.drugs_in("ra_standard") for c in need.codes)


def test_a_procedure_in_two_value_sets_is_named_once(run):
    p = PatientBuilder("prior", sex="male").procedure(PCS, "XW033J7", "Kymriah infusion", ago(400))
    p.procedure(PCS, "XW043J7", "Kymriah infusion", ago(-10), "preparation")
    findings = run(p).criterion("gene_therapy").findings
    assert [f.message for f in findings] == ["exposure.car_t_is_gene_therapy", "exposure.planned"]
