"""Reading one patient's Bundle: clear errors for bad input, routing by type and code, references resolved."""

from __future__ import annotations

import json
from typing import Any

import pytest

from matcher.errors import InvalidResourceError, NotABundleError, NotJSONError, PatientCountError, TooLargeError
from matcher.fhir.bundle import record_from_bundle
from tests.support.fixturekit import ATC, LOINC, RXNORM, SNOMED, PatientBuilder, ago, cc


def bundle(*resources: object) -> dict[str, Any]:
    """A collection Bundle of `resources`, which may be anything, to test what the reader refuses."""
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-01-01"}


def condition(code: str, display: str, **fields: Any) -> dict[str, Any]:
    """Condition c1 of Patient/p1, coded in SNOMED CT."""
    return {
        "resourceType": "Condition",
        "id": "c1",
        "code": cc(SNOMED, code, display),
        "subject": {"reference": "Patient/p1"},
        **fields,
    }


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"{not json", NotJSONError, "not JSON"),
        (b"[1, 2]", NotABundleError, "not a FHIR resource"),
        (json.dumps(PATIENT).encode(), NotABundleError, "a Patient resource, not a Bundle"),
        (json.dumps(bundle()).encode(), PatientCountError, "holds no Patient"),
        (json.dumps(bundle(PATIENT, {**PATIENT, "id": "p2"})).encode(), PatientCountError, "holds 2 Patients"),
        (json.dumps({"resourceType": "Bundle", "entry": {"x": 1}}).encode(), NotABundleError, "not a list"),
        (json.dumps(bundle(PATIENT, "text")).encode(), NotABundleError, r"entry\[1\]\.resource"),
    ],
)
def test_bad_input_is_refused_with_one_clear_message(mappings, data, error, message):
    with pytest.raises(error, match=message) as caught:
        record_from_bundle(data, mappings, "in.json")
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("in.json: ")


@pytest.mark.parametrize(
    "resource",
    [
        {**PATIENT, "birthDate": 1980},
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "code": cc(LOINC, "1742-6"),
            "valueQuantity": {"value": "lots", "unit": "U/L"},
        },
        {"resourceType": "Condition", "id": "c1", "code": {"coding": "M32.1"}},
        {
            "resourceType": "MedicationRequest",
            "id": "m1",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": cc(RXNORM, "105586"),
            "subject": {"reference": "Patient/p1"},
            "authoredOn": ["yesterday"],
        },
    ],
)
def test_wrong_types_inside_a_resource_criteria_read_are_refused(mappings, resource):
    resources = [resource] if resource["resourceType"] == "Patient" else [PATIENT, resource]
    with pytest.raises(InvalidResourceError) as caught:
        record_from_bundle(bundle(*resources), mappings)
    assert caught.value.reference == f"{resource['resourceType']}/{resource['id']}"
    assert "lots" not in str(caught.value)  # values are never echoed: they may be patient data


def test_resources_no_criterion_reads_are_never_validated(mappings):
    claim = {"resourceType": "Claim", "id": "x", "total": "not a Money"}
    vitals = {
        "resourceType": "Observation",
        "id": "bp",
        "status": "final",
        "code": cc(LOINC, "55284-4"),
        "valueQuantity": {"value": "high"},
    }
    record = record_from_bundle(bundle(PATIENT, claim, vitals), mappings)
    assert record.observations == {}


def test_only_relevant_resources_are_kept(mappings):
    p = PatientBuilder("routing")
    p.lab("1742-6", "ALT", 20, "U/L", ago(3))
    p.lab("8302-2", "Body height", 170, "cm", ago(3))
    p.condition(SNOMED, "38341003", "Hypertension", onset=ago(years=2))
    p.condition(SNOMED, "69896004", "Rheumatoid arthritis", onset=ago(years=2))
    p.med_request("316672", "Simvastatin 10 MG", ago(100))
    p.med_request("105586", "Methotrexate 10 MG Oral Tablet", ago(100))
    record = record_from_bundle(p.bundle(), mappings)
    assert set(record.observations) == {"alt"}
    assert [c.label for c in record.conditions] == ["Rheumatoid arthritis"]
    assert [m.drugs for m in record.medications] == [frozenset({"methotrexate"})]


def test_entered_in_error_and_refuted_never_count(mappings):
    p = PatientBuilder("errors")
    p.lab("1742-6", "ALT", 900, "U/L", ago(3), status="entered-in-error")
    p.lab("1742-6", "ALT", 900, "U/L", ago(3), status="cancelled")
    p.condition(SNOMED, "69896004", "RA", verification="refuted")
    p.condition(SNOMED, "69896004", "RA", verification="entered-in-error")
    p.med_request("105586", "Methotrexate", ago(100), status="entered-in-error")
    record = record_from_bundle(p.bundle(), mappings)
    assert record.observations == {} and record.conditions == () and record.medications == ()


def test_medication_reference_to_a_bundle_entry_and_by_absolute_url(mappings):
    med = {"resourceType": "Medication", "id": "med1", "code": cc(ATC, "L04AX03", "methotrexate")}
    req = {
        "resourceType": "MedicationRequest",
        "id": "r1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2025-01-01",
    }
    for target in ("Medication/med1", "https://fhir.example/r4/Medication/med1", "Medication/med1/_history/2"):
        record = record_from_bundle(
            bundle(PATIENT, {**req, "medicationReference": {"reference": target}}, med), mappings
        )
        assert record.medications[0].drugs == frozenset({"methotrexate"})


def test_medication_ingredient_codes_are_read(mappings):
    med = {
        "resourceType": "Medication",
        "id": "med1",
        "code": {"text": "Trexall"},
        "ingredient": [{"itemCodeableConcept": cc(RXNORM, "6851", "methotrexate")}],
    }
    req = {
        "resourceType": "MedicationStatement",
        "id": "s1",
        "status": "active",
        "medicationReference": {"reference": "Medication/med1"},
        "subject": {"reference": "Patient/p1"},
    }
    record = record_from_bundle(bundle(PATIENT, req, med), mappings)
    assert record.medications[0].drugs == frozenset({"methotrexate"})


def test_a_missing_medication_is_noted_not_fatal(mappings):
    req = {
        "resourceType": "MedicationRequest",
        "id": "r1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationReference": {"reference": "Medication/gone"},
    }
    record = record_from_bundle(bundle(PATIENT, req), mappings)
    assert record.medications == ()
    assert record.skipped == ("MedicationRequest/r1: medication Medication/gone not found",)


def test_resources_of_another_patient_are_left_out(mappings):
    alt = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": cc(LOINC, "1742-6"),
        "subject": {"reference": "Patient/someone-else"},
        "effectiveDateTime": "2026-06-01",
        "valueQuantity": {"value": 900, "unit": "U/L", "system": "http://unitsofmeasure.org", "code": "U/L"},
    }
    record = record_from_bundle(bundle(PATIENT, alt), mappings)
    assert record.observations == {}
    assert record.skipped == ("Observation/o1: refers to another subject",)


def test_a_versioned_subject_reference_is_the_patient(mappings):
    ra = condition("69896004", "Rheumatoid arthritis", subject={"reference": "Patient/p1/_history/3"})
    record = record_from_bundle(bundle(PATIENT, ra), mappings)
    assert [c.ref for c in record.conditions] == ["Condition/c1"] and record.skipped == ()


MED_USE = {
    "resourceType": "MedicationStatement",
    "id": "ms1",
    "status": "active",
    "subject": {"reference": "Patient/p1"},
    "effectiveDateTime": "2025-01-01",
}


@pytest.mark.parametrize(
    ("resources", "reference", "element"),
    [
        (
            [{**MED_USE, "medicationReference": {"reference": "#m"}, "contained": 5}],
            "MedicationStatement/ms1",
            "contained",
        ),
        (
            [
                {**MED_USE, "medicationReference": {"reference": "Medication/m1"}},
                {"resourceType": "Medication", "id": "m1", "ingredient": 5},
            ],
            "Medication/m1",
            "ingredient",
        ),
    ],
)
def test_a_malformed_medication_is_refused_naming_the_element(mappings, resources, reference, element):
    with pytest.raises(InvalidResourceError, match=element) as caught:
        record_from_bundle(bundle(PATIENT, *resources), mappings)
    assert caught.value.reference == reference


def test_an_onset_age_past_the_calendar_leaves_the_onset_unknown(mappings):
    ra = condition(
        "69896004",
        "Rheumatoid arthritis",
        onsetAge={"value": 5, "unit": "years", "system": "http://unitsofmeasure.org", "code": "a"},
    )
    record = record_from_bundle(bundle({**PATIENT, "birthDate": "9999-01-01"}, ra), mappings)
    assert record.conditions[0].onset is None


def test_a_bilag_value_of_endless_digits_is_read_without_failing(mappings):
    bilag = {
        "resourceType": "Observation",
        "id": "b1",
        "status": "final",
        "code": cc("urn:trialmatch:disease-activity", "bilag-2004", "BILAG"),
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-06-01",
        "valueString": "9" * 5000 + "A",
    }
    record = record_from_bundle(bundle(PATIENT, bilag), mappings)
    [fact] = record.observations["bilag-2004"]
    assert fact.grades == ("A",) * 9  # never more grades than BILAG has organ systems


def test_a_status_is_read_from_its_own_code_system_wherever_it_stands(mappings):
    sle = condition(
        "55464009",
        "Systemic lupus erythematosus",
        onsetDateTime="2020-01-01",
        verificationStatus={
            "coding": [
                {"system": SNOMED, "code": "410594000", "display": "Definitely NOT present"},
                {"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "refuted"},
            ]
        },
    )
    assert record_from_bundle(bundle(PATIENT, sle), mappings).conditions == ()


@pytest.mark.parametrize(
    ("fields", "retired"),
    [
        ({}, None),
        ({"active": False}, ("gone", "marked inactive on the FHIR server")),
        (
            {"link": [{"type": "replaced-by", "other": {"reference": "Patient/p2"}}]},
            ("merged", "replaced by Patient/p2"),
        ),
        ({"link": [{"type": "seealso", "other": {"reference": "Patient/p2"}}]}, None),
    ],
)
def test_a_patient_record_says_when_it_was_merged_or_retired(mappings, fields, retired):
    assert record_from_bundle(bundle({**PATIENT, **fields}), mappings).patient.retired == retired


def test_a_bundle_larger_than_allowed_is_refused_before_its_entries_are_read(mappings):
    # a Bundle of 200,000 Observations pinned a core for 22 s in one request
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", "id": "p"}}] + [{"resource": observation}] * 30,
    }
    with pytest.raises(TooLargeError, match="31 entries; at most 30"):
        record_from_bundle(bundle, mappings, max_entries=30)
    assert record_from_bundle(bundle, mappings, max_entries=31).patient.ref == "Patient/p"
