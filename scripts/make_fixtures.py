"""Write fixtures/*.json (synthetic patients named after their scenario) and fixtures/expected.json.

Each scenario states, by hand, the verdict, cohort and key criterion statuses a coordinator would
expect from the protocol; tests/test_fixtures.py holds trialmatch to them. Run from the repository
root: `python scripts/make_fixtures.py` (tests check that the committed files match its output).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# run as a script from the repository root: the patient builder is a module of the tests' support package
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.fixturekit import (
    AS_OF,
    ATC,
    ICD10,
    ICD10CM,
    LOINC,
    SNOMED,
    PatientBuilder,
    ago,
    cc,
)

OUT = Path(__file__).resolve().parent.parent / "fixtures"
Scenario = Callable[[], tuple[PatientBuilder, dict[str, Any]]]
SCENARIOS: list[Scenario] = []


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS.append(fn)
    return fn


# -- building blocks ------------------------------------------------------------------------------


def screened(p: PatientBuilder, *, female: bool = True, hcg: bool = True) -> PatientBuilder:
    """Every screening result a clean candidate has: normal organ labs, negative serology, normal ECG
    (and, for a woman, a negative hCG five days ago unless `hcg` is False)."""
    p.lab("1742-6", "ALT", 22, "U/L", ago(12), high=40)
    p.lab("1920-8", "AST", 25, "U/L", ago(12), high=40)
    p.lab("1975-2", "Bilirubin total", 0.7, "mg/dL", ago(12), high=1.2)
    p.lab("2160-0", "Creatinine", 0.8, "mg/dL", ago(12), high=1.1 if female else 1.3)
    p.lab("29463-7", "Body weight", 64 if female else 78, "kg", ago(12))
    p.lab("8636-3", "QTc", 420, "ms", ago(20))
    p.serology("5196-1", "HBsAg", "negative", ago(40))
    p.serology("13955-0", "HCV Ab", "negative", ago(40))
    p.serology("56888-1", "HIV 1+2 Ab + p24 Ag", "negative", ago(40))
    p.serology("24110-9", "Treponema pallidum Ab", "negative", ago(40))
    if female and hcg:
        p.serology("2106-3", "hCG urine", "negative", ago(5))
    return p


ALL_CLEAR = {
    "age": "pass",
    "consent": "review",
    "life_expectancy": "review",
    "contraception": "review",
    "pregnancy": "pass",
    "tuberculosis": "pass",
    "neurologic": "pass",
    "cardiac": "pass",
    "active_infection": "pass",
    "hepatitis_b": "pass",
    "hepatitis_c": "pass",
    "hiv": "pass",
    "syphilis": "pass",
    "immunodeficiency": "pass",
    "prior_cd19_therapy": "pass",
    "gene_therapy": "pass",
    "liver_function": "pass",
    "bilirubin": "pass",
    "renal_function": "pass",
}
COHORT_PASS = {
    "diagnosis": "pass",
    "disease_duration": "pass",
    "disease_activity": "pass",
    "organ_involvement": "pass",
    "refractory": "pass",
}


def expect(verdict: str, cohort: str | None, **statuses: str) -> dict[str, Any]:
    return {"verdict": verdict, "cohort": cohort, "statuses": statuses}


def ra_candidate(name: str, **kw: Any) -> PatientBuilder:
    """Rheumatoid arthritis for 3 years, DAS28-CRP 5.1, methotrexate for a year: eligible unless changed."""
    p = PatientBuilder(name, **kw)
    p.condition(ICD10CM, "M05.79", "Rheumatoid arthritis with rheumatoid factor of multiple sites", onset=ago(years=3))
    p.score("das28-crp", 5.1, ago(20))
    p.med_request("105586", "Methotrexate 10 MG Oral Tablet", ago(years=1))
    return p


# -- the seven cohorts, eligible ------------------------------------------------------------------


@scenario
def sle_eligible() -> tuple[PatientBuilder, dict[str, Any]]:
    p = PatientBuilder("sle_eligible", birth="1991-02-03")
    p.condition(SNOMED, "55464009", "Systemic lupus erythematosus", onset=ago(years=4))
    p.score("selena-sledai", 12, ago(15))
    p.score("sle-pga", 1.8, ago(15))
    p.obs(
        "urn:trialmatch:disease-activity",
        "bilag-2004",
        "BILAG-2004",
        ago(15),
        components=[
            {"code": cc("urn:trialmatch:bilag-system", "renal"), "valueString": "A"},
            {"code": cc("urn:trialmatch:bilag-system", "musculoskeletal"), "valueString": "C"},
        ],
    )
    p.serology("31348-6", "dsDNA Ab", "positive", ago(200))
    p.med_statement("5521", "hydroxychloroquine", ago(years=3))
    p.med_request("68149", "mycophenolate mofetil", ago(months=8))
    screened(p)
    return p, expect("eligible", "sle", **ALL_CLEAR, **COHORT_PASS)


@scenario
def iim_dermatomyositis_eligible() -> tuple[PatientBuilder, dict[str, Any]]:
    p = PatientBuilder("iim_dermatomyositis_eligible", birth="1976-09-12")
    p.condition(ICD10, "M33.1", "Other dermatomyositis", onset=ago(years=2))
    p.score("mmt8", 112, ago(30))
    p.med_request("105586", "Methotrexate 10 MG Oral Tablet", ago(months=7))
    screened(p)
    return p, expect("eligible", "iim", **ALL_CLEAR, **COHORT_PASS)


@scenario
def ssc_with_ild_eligible() -> tuple[PatientBuilder, dict[str, Any]]:
    p = PatientBuilder("ssc_with_ild_eligible", birth="1982-01-30")
    p.condition(ICD10, "M34.0", "Progressive systemic sclerosis", onset=ago(years=5))
    p.condition(ICD10CM, "J84.10", "Pulmonary fibrosis, unspecified", onset=ago(years=2))
    p.med_statement("68149", "mycophenolate mofetil", ago(years=2))
    screened(p)
    return p, expect("eligible", "ssc", **ALL_CLEAR, **COHORT_PASS)


@scenario
def pemphigus_vulgaris_eligible() -> tuple[PatientBuilder, dict[str, Any]]:
    p = PatientBuilder("pemphigus_vulgaris_eligible", sex="male", birth="1969-07-01")
    p.condition(ICD10, "L10.0", "Pemphigus vulgaris", onset=ago(years=3))
    p.score("pdai", 24, ago(10))
    p.med_request("8640", "prednisone", ago(years=1))
    screened(p, female=False)
    return p, expect("eligible", "pemphigus", **ALL_CLEAR, **COHORT_PASS)


@scenario
def psoriasis_plaque_eligible() -> tuple[PatientBuilder, dict[str, Any]]:
    p = PatientBuilder("psoriasis_plaque_eligible", sex="male", birth="1986-11-11")
    p.condition(ICD10, "L40.0", "Psoriasis vulgaris", onset=ago(years=10))
    p.score("psoriasis-bsa", 18, ago(7), unit="%")
    p.score("pasi", 16.4, ago(7))
    p.score("spga", 4, ago(7))
    p.med_request("327361", "adalimumab", ago(years=2))
    screened(p, female=False)
    return p, expect("eligible", "psoriasis", **ALL_CLEAR, **COHORT_PASS)


@scenario
def ra_eligible_si_units() -> tuple[PatientBuilder, dict[str, Any]]:
    """Organ labs in SI units (umol/L, ukat/L) with the laboratory's own reference ranges."""
    p = ra_candidate("ra_eligible_si_units", birth="1974-04-22")
    p.lab("1742-6", "ALT", 0.5, "ukat/L", ago(9))
    p.lab("1920-8", "AST", 0.45, "ukat/L", ago(9))
    p.lab("14631-6", "Bilirubin total", 12, "umol/L", ago(9), high=21)
    p.lab("14682-9", "Creatinine", 70, "umol/L", ago(9), high=97)
    p.lab("29463-7", "Body weight", 143, "[lb_av]", ago(9))
    p.lab("8636-3", "QTc", 0.43, "s", ago(20))
    p.serology("5196-1", "HBsAg", "negative", ago(40))
    p.serology("13955-0", "HCV Ab", "negative", ago(40))
    p.serology("56888-1", "HIV 1+2 Ab + p24 Ag", "negative", ago(40))
    p.serology("24110-9", "Treponema pallidum Ab", "negative", ago(40))
    p.serology("2106-3", "hCG urine", "negative", ago(5))
    return p, expect("eligible", "ra", **ALL_CLEAR, **COHORT_PASS)


@scenario
def aav_mpo_positive_eligible() -> tuple[PatientBuilder, dict[str, Any]]:
    p = PatientBuilder("aav_mpo_positive_eligible", sex="male", birth="1963-03-09")
    p.condition(ICD10, "M31.7", "Microscopic polyangiitis", onset=ago(years=2))
    p.score("bvas", 9, ago(14))
    p.serology("29643-4", "MPO Ab", "positive", ago(300))
    for months in (10, 4):
        p.med_administration("121191", "rituximab", ago(months=months))
    p.med_request("8640", "prednisone", ago(months=10))
    screened(p, female=False)
    return p, expect("eligible", "aav", **ALL_CLEAR, **COHORT_PASS)


# -- cohort-specific inclusions -------------------------------------------------------------------


@scenario
def sle_chinese_code_m32_101_sledai_below_8() -> tuple[PatientBuilder, dict[str, Any]]:
    """A Chinese clinical-edition code (M32.101) is SLE by prefix; SLEDAI 6 is below the threshold."""
    p = PatientBuilder("sle_chinese_code_m32_101_sledai_below_8", birth="1995-12-12")
    p.condition(ICD10, "M32.101", "系统性红斑狼疮性肾炎", onset=ago(years=2))
    p.score("selena-sledai", 6, ago(15))
    p.score("sle-pga", 1, ago(15))
    p.med_statement("5521", "hydroxychloroquine", ago(years=2))
    screened(p)
    return p, expect("ineligible", "sle", diagnosis="pass", disease_activity="fail")


@scenario
def sle_pga_missing() -> tuple[PatientBuilder, dict[str, Any]]:
    p = PatientBuilder("sle_pga_missing", birth="1990-06-01")
    p.condition(ICD10CM, "M32.14", "Glomerular disease in systemic lupus erythematosus", onset=ago(years=3))
    p.score("selena-sledai", 10, ago(15))
    p.med_statement("5521", "hydroxychloroquine", ago(years=2))
    screened(p)
    return p, expect("possibly_eligible", "sle", disease_activity="unknown", diagnosis="pass")


@scenario
def sle_refuted_no_other_disease() -> tuple[PatientBuilder, dict[str, Any]]:
    """A refuted diagnosis never counts: no cohort is left."""
    p = PatientBuilder("sle_refuted_no_other_disease", birth="1988-08-08")
    p.condition(SNOMED, "55464009", "Systemic lupus erythematosus", onset=ago(years=1), verification="refuted")
    screened(p)
    return p, expect("ineligible", None, diagnosis="fail")


@scenario
def psoriasis_bsa_below_10() -> tuple[PatientBuilder, dict[str, Any]]:
    p = PatientBuilder("psoriasis_bsa_below_10", sex="male", birth="1979-02-14")
    p.condition(ICD10, "L40.0", "Psoriasis vulgaris", onset=ago(years=6))
    p.score("psoriasis-bsa", 6, ago(7), unit="%")
    p.score("pasi", 12, ago(7))
    p.score("spga", 3, ago(7))
    p.med_request("105586", "Methotrexate 10 MG Oral Tablet", ago(years=1))
    screened(p, female=False)
    return p, expect("ineligible", "psoriasis", disease_activity="fail")


@scenario
def pemphigus_pdai_not_recorded() -> tuple[PatientBuilder, dict[str, Any]]:
    p = PatientBuilder("pemphigus_pdai_not_recorded", birth="1972-10-10")
    p.condition(ICD10, "L10.2", "Pemphigus foliaceus", onset=ago(years=2))
    p.med_request("8640", "prednisone", ago(years=1))
    screened(p)
    return p, expect("possibly_eligible", "pemphigus", disease_activity="unknown")


@scenario
def ssc_without_lung_involvement() -> tuple[PatientBuilder, dict[str, Any]]:
    p = PatientBuilder("ssc_without_lung_involvement", birth="1970-03-03")
    p.condition(ICD10, "M34.9", "Systemic sclerosis, unspecified", onset=ago(years=3))
    p.med_statement("68149", "mycophenolate mofetil", ago(years=1))
    screened(p)
    return p, expect("possibly_eligible", "ssc", organ_involvement="unknown", disease_activity="pass")


@scenario
def aav_anca_negative_no_renal() -> tuple[PatientBuilder, dict[str, Any]]:
    p = PatientBuilder("aav_anca_negative_no_renal", sex="male", birth="1966-05-05")
    p.condition(ICD10, "M31.3", "Wegener granulomatosis", onset=ago(years=2))
    p.score("bvas", 0, ago(14))
    p.serology("29643-4", "MPO Ab", "negative", ago(100))
    p.serology("29644-2", "PR3 Ab", "negative", ago(100))
    p.med_request("8640", "prednisone", ago(months=10))
    screened(p, female=False)
    return p, expect("ineligible", "aav", organ_involvement="unknown", disease_activity="fail")


@scenario
def ssc_lung_disease_combined_code() -> tuple[PatientBuilder, dict[str, Any]]:
    """SSc recorded only by one pre-coordinated concept that also states the lung involvement."""
    p = PatientBuilder("ssc_lung_disease_combined_code", birth="1979-08-21")
    p.condition(SNOMED, "196133001", "Lung disease with systemic sclerosis", onset=ago(years=4))
    p.med_statement("68149", "mycophenolate mofetil", ago(years=2))
    screened(p)
    return p, expect("eligible", "ssc", **ALL_CLEAR, **COHORT_PASS)


@scenario
def aav_renal_combined_code() -> tuple[PatientBuilder, dict[str, Any]]:
    """AAV recorded only by one Chinese national code for ANCA nephritis (M31.701+N08.5*): no ANCA result, no
    biopsy; the code itself is the diagnosis and the renal involvement."""
    p = PatientBuilder("aav_renal_combined_code", sex="male", birth="1960-10-02")
    p.condition(ICD10, "M31.701+N08.5*", "ANCA相关性肾炎", onset=ago(years=2))
    p.score("bvas", 12, ago(14))
    for months in (10, 4):
        p.med_administration("121191", "rituximab", ago(months=months))
    p.med_request("8640", "prednisone", ago(months=10))
    screened(p, female=False)
    return p, expect("eligible", "aav", **ALL_CLEAR, **COHORT_PASS)


@scenario
def ra_diagnosed_three_months_ago() -> tuple[PatientBuilder, dict[str, Any]]:
    p = PatientBuilder("ra_diagnosed_three_months_ago", birth="1984-01-01")
    p.condition(ICD10, "M06.9", "Rheumatoid arthritis, unspecified", onset=ago(months=3))
    p.score("das28-esr", 5.6, ago(10))
    p.med_request("105586", "Methotrexate 10 MG Oral Tablet", ago(months=3))
    screened(p)
    return p, expect("ineligible", "ra", disease_duration="fail", refractory="pass")


@scenario
def ra_resolved_diagnosis() -> tuple[PatientBuilder, dict[str, Any]]:
    p = PatientBuilder("ra_resolved_diagnosis", sex="male", birth="1978-01-01")
    p.condition(
        SNOMED, "69896004", "Rheumatoid arthritis", onset=ago(years=8), clinical="resolved", abatement=ago(years=3)
    )
    screened(p, female=False)
    return p, expect("ineligible", "ra", diagnosis="fail")


@scenario
def ra_methotrexate_four_weeks_ongoing() -> tuple[PatientBuilder, dict[str, Any]]:
    p = PatientBuilder("ra_methotrexate_four_weeks_ongoing", birth="1980-02-02")
    p.condition(ICD10, "M06.9", "Rheumatoid arthritis, unspecified", onset=ago(years=2))
    p.score("cdai", 24, ago(10))
    p.med_request("105586", "Methotrexate 10 MG Oral Tablet", ago(28))
    screened(p)
    return p, expect("ineligible", "ra", refractory="fail", disease_activity="pass")


@scenario
def ra_no_therapy_recorded() -> tuple[PatientBuilder, dict[str, Any]]:
    p = PatientBuilder("ra_no_therapy_recorded", birth="1983-03-03")
    p.condition(ICD10, "M06.9", "Rheumatoid arthritis, unspecified", onset=ago(years=2))
    p.score("das28-esr", 4.4, ago(10))
    screened(p)
    return p, expect("possibly_eligible", "ra", refractory="unknown")


@scenario
def ra_medication_reference_contained() -> tuple[PatientBuilder, dict[str, Any]]:
    """The drug is named by a contained Medication (ATC code), not inline."""
    p = PatientBuilder("ra_medication_reference_contained", sex="male", birth="1975-07-07")
    p.condition(SNOMED, "69896004", "Rheumatoid arthritis", onset=ago(years=4))
    p.score("sdai", 30, ago(10))
    p.add(
        {
            "resourceType": "MedicationStatement",
            "status": "active",
            "contained": [{"resourceType": "Medication", "id": "lef", "code": cc(ATC, "L04AA13", "leflunomide")}],
            "medicationReference": {"reference": "#lef"},
            "subject": p.subject,
            "effectivePeriod": {"start": ago(years=1)},
        }
    )
    screened(p, female=False)
    return p, expect("eligible", "ra", refractory="pass")


@scenario
def sle_and_ra_best_cohort_is_ra() -> tuple[PatientBuilder, dict[str, Any]]:
    """Two diseases: SLE has no activity scores, RA has everything, so RA is the cohort."""
    p = ra_candidate("sle_and_ra_best_cohort_is_ra", birth="1985-05-05")
    p.condition(SNOMED, "55464009", "Systemic lupus erythematosus", onset=ago(years=1))
    screened(p)
    return p, expect("eligible", "ra", diagnosis="pass", disease_activity="pass")


@scenario
def aav_renal_biopsy_result_not_coded() -> tuple[PatientBuilder, dict[str, Any]]:
    """A kidney biopsy is recorded, but not what it showed: a person reads the report."""
    p = PatientBuilder("aav_renal_biopsy_result_not_coded", sex="male", birth="1961-01-20")
    p.condition(ICD10, "M31.3", "Wegener granulomatosis", onset=ago(years=3))
    p.procedure(SNOMED, "48426002", "Fine needle biopsy of kidney", ago(years=2))
    p.score("bvas", 14, ago(14))
    p.med_request("8640", "prednisone", ago(years=1))
    screened(p, female=False)
    return p, expect("possibly_eligible", "aav", organ_involvement="review")


@scenario
def psoriasis_unspecified_needs_review() -> tuple[PatientBuilder, dict[str, Any]]:
    """Psoriasis not said to be plaque psoriasis: the diagnosis needs a person's confirmation."""
    p = PatientBuilder("psoriasis_unspecified_needs_review", sex="male", birth="1983-08-08")
    p.condition(ICD10, "L40.9", "Psoriasis, unspecified", onset=ago(years=4))
    p.score("psoriasis-bsa", 12, ago(7), unit="%")
    p.score("pasi", 11, ago(7))
    p.score("spga", 3, ago(7))
    p.med_request("105586", "Methotrexate 10 MG Oral Tablet", ago(years=1))
    screened(p, female=False)
    return p, expect("possibly_eligible", "psoriasis", diagnosis="review", disease_activity="pass")


@scenario
def ra_methotrexate_stopped_end_not_recorded() -> tuple[PatientBuilder, dict[str, Any]]:
    """As Synthea writes it: a stopped order without an end date; how long it was taken is unknown."""
    p = PatientBuilder("ra_methotrexate_stopped_end_not_recorded", birth="1977-07-07")
    p.condition(SNOMED, "69896004", "Rheumatoid arthritis", onset=ago(years=5))
    p.score("das28-esr", 4.9, ago(20))
    p.med_request("105586", "Methotrexate 10 MG Oral Tablet", ago(years=2), status="stopped")
    screened(p)
    return p, expect("possibly_eligible", "ra", refractory="review")


# -- age and vital status -------------------------------------------------------------------------


@scenario
def age_17_too_young() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("age_17_too_young", birth=f"{AS_OF.year - 17}-01-15")
    screened(p)
    return p, expect("ineligible", "ra", age="fail")


@scenario
def age_71_too_old() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("age_71_too_old", sex="male", birth=f"{AS_OF.year - 71}-01-15")
    screened(p, female=False)
    return p, expect("ineligible", "ra", age="fail")


@scenario
def no_birth_date() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("no_birth_date", birth=None)
    screened(p)
    return p, expect("possibly_eligible", "ra", age="unknown", renal_function="unknown")


@scenario
def deceased_patient() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("deceased_patient", deceased=ago(60))
    screened(p)
    return p, expect("ineligible", "ra", alive="fail")


@scenario
def no_autoimmune_disease() -> tuple[PatientBuilder, dict[str, Any]]:
    p = PatientBuilder("no_autoimmune_disease", sex="male", birth="1970-10-10")
    p.condition(SNOMED, "38341003", "Hypertension", onset=ago(years=5))
    screened(p, female=False)
    return p, expect("ineligible", None, diagnosis="fail", refractory="unknown")


# -- organ-function labs --------------------------------------------------------------------------


@scenario
def liver_alt_above_3x_own_range() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("liver_alt_above_3x_own_range")
    screened(p)
    p.lab("1742-6", "ALT", 135, "U/L", ago(3), high=40)
    return p, expect("ineligible", "ra", liver_function="fail")


@scenario
def liver_ast_2_7x_default_uln() -> tuple[PatientBuilder, dict[str, Any]]:
    """AST 110 U/L without a reference range: 2.75 x the default male ULN of 40 U/L, so it passes."""
    p = ra_candidate("liver_ast_2_7x_default_uln", sex="male")
    screened(p, female=False)
    p.lab("1920-8", "AST", 110, "U/L", ago(3))
    return p, expect("eligible", "ra", liver_function="pass")


@scenario
def liver_alt_in_ukat_above_3x() -> tuple[PatientBuilder, dict[str, Any]]:
    """ALT 2.5 ukat/L is 150 U/L: 3.75 x the default male ULN."""
    p = ra_candidate("liver_alt_in_ukat_above_3x", sex="male")
    screened(p, female=False)
    p.lab("1742-6", "ALT", 2.5, "ukat/L", ago(3))
    return p, expect("ineligible", "ra", liver_function="fail")


@scenario
def liver_alt_entered_in_error_ignored() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("liver_alt_entered_in_error_ignored")
    screened(p)
    p.lab("1742-6", "ALT", 600, "U/L", ago(2), high=40, status="entered-in-error")
    return p, expect("eligible", "ra", liver_function="pass")


@scenario
def liver_newer_alt_preliminary() -> tuple[PatientBuilder, dict[str, Any]]:
    """A newer preliminary ALT cannot decide; the older final one passes, but a person should look."""
    p = ra_candidate("liver_newer_alt_preliminary")
    screened(p)
    p.lab("1742-6", "ALT", 300, "U/L", ago(2), high=40, status="preliminary")
    return p, expect("possibly_eligible", "ra", liver_function="review")


@scenario
def liver_alt_data_absent() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("liver_alt_data_absent")
    screened(p)
    p.resources = [r for r in p.resources if r.get("code", {}).get("coding", [{}])[0].get("code") != "1742-6"]
    p.obs(LOINC, "1742-6", "ALT", ago(4), absent="error")
    return p, expect("possibly_eligible", "ra", liver_function="unknown")


@scenario
def bilirubin_umol_above_2x() -> tuple[PatientBuilder, dict[str, Any]]:
    """Total bilirubin 50 umol/L (2.9 mg/dL) against the default 1.2 mg/dL: 2.4 x ULN."""
    p = ra_candidate("bilirubin_umol_above_2x")
    screened(p)
    p.lab("14631-6", "Bilirubin total", 50, "umol/L", ago(2))
    return p, expect("ineligible", "ra", bilirubin="fail")


@scenario
def creatinine_above_2x_own_range() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("creatinine_above_2x_own_range", sex="male")
    screened(p, female=False)
    p.lab("14682-9", "Creatinine", 300, "umol/L", ago(2), high=104)
    return p, expect("ineligible", "ra", renal_function="fail")


@scenario
def ckd_crcl_below_30() -> tuple[PatientBuilder, dict[str, Any]]:
    """Creatinine 2.0 mg/dL (1.8 x ULN) passes, but Cockcroft-Gault gives 21 mL/min (68 y, 50 kg, female)."""
    p = ra_candidate("ckd_crcl_below_30", birth=f"{AS_OF.year - 68}-01-01")
    screened(p)
    p.lab("2160-0", "Creatinine", 2.0, "mg/dL", ago(2), high=1.1)
    p.lab("29463-7", "Body weight", 50, "kg", ago(2))
    return p, expect("ineligible", "ra", renal_function="fail")


@scenario
def crcl_measured_normal() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("crcl_measured_normal", sex="male")
    screened(p, female=False)
    p.lab("2164-2", "Creatinine clearance 24h", 95, "mL/min", ago(6))
    return p, expect("eligible", "ra", renal_function="pass")


@scenario
def creatinine_without_unit() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("creatinine_without_unit")
    screened(p)
    p.resources = [r for r in p.resources if r.get("code", {}).get("coding", [{}])[0].get("code") != "2160-0"]
    p.lab("2160-0", "Creatinine", 0.9, "", ago(4))
    return p, expect("possibly_eligible", "ra", renal_function="unknown")


@scenario
def creatinine_mg_per_dl_lowercase() -> tuple[PatientBuilder, dict[str, Any]]:
    """Creatinine in `mg/dl`: valid UCUM (l is the litre too), so it is read, not refused as unknown."""
    p = ra_candidate("creatinine_mg_per_dl_lowercase")
    screened(p)
    p.resources = [r for r in p.resources if r.get("code", {}).get("coding", [{}])[0].get("code") != "2160-0"]
    p.lab("2160-0", "Creatinine", 0.9, "mg/dl", ago(4), high=1.1)
    return p, expect("eligible", "ra", renal_function="pass")


@scenario
def weight_missing_no_cockcroft_gault() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("weight_missing_no_cockcroft_gault")
    screened(p)
    p.resources = [r for r in p.resources if r.get("code", {}).get("coding", [{}])[0].get("code") != "29463-7"]
    p.lab("33914-3", "eGFR", 92, "mL/min/{1.73_m2}", ago(12))
    return p, expect("possibly_eligible", "ra", renal_function="unknown")


@scenario
def stale_labs_from_last_year() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("stale_labs_from_last_year", sex="male")
    p.lab("1742-6", "ALT", 20, "U/L", ago(400))
    p.lab("1920-8", "AST", 20, "U/L", ago(400))
    p.lab("1975-2", "Bilirubin total", 0.5, "mg/dL", ago(400))
    p.lab("2160-0", "Creatinine", 0.9, "mg/dL", ago(400))
    p.lab("8636-3", "QTc", 410, "ms", ago(400))
    p.serology("5196-1", "HBsAg", "negative", ago(400))
    return p, expect(
        "possibly_eligible",
        "ra",
        liver_function="unknown",
        bilirubin="unknown",
        renal_function="unknown",
        cardiac="unknown",
        hepatitis_b="unknown",
        hepatitis_c="unknown",
        hiv="unknown",
        syphilis="unknown",
    )


# -- ECG and cardiac history ------------------------------------------------------------------------


@scenario
def qtc_prolonged_male() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("qtc_prolonged_male", sex="male")
    screened(p, female=False)
    p.lab("8636-3", "QTc", 492, "ms", ago(3))
    return p, expect("ineligible", "ra", cardiac="fail")


@scenario
def heart_failure_history() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("heart_failure_history")
    p.condition(SNOMED, "88805009", "Chronic congestive heart failure", onset=ago(years=4))
    screened(p)
    return p, expect("ineligible", "ra", cardiac="fail")


@scenario
def atrial_fibrillation_needs_review() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("atrial_fibrillation_needs_review", sex="male")
    p.condition(SNOMED, "49436004", "Atrial fibrillation", onset=ago(years=2))
    screened(p, female=False)
    return p, expect("possibly_eligible", "ra", cardiac="review")


# -- infections and serology ------------------------------------------------------------------------


@scenario
def hbsag_positive() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("hbsag_positive")
    screened(p)
    p.serology("5196-1", "HBsAg", "positive", ago(20))
    return p, expect("ineligible", "ra", hepatitis_b="fail")


@scenario
def anti_hbc_positive_hbsag_negative() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("anti_hbc_positive_hbsag_negative")
    screened(p)
    p.serology("13952-7", "HBc Ab", "positive", ago(40))
    return p, expect("possibly_eligible", "ra", hepatitis_b="review")


@scenario
def hcv_antibody_positive_rna_pending() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("hcv_antibody_positive_rna_pending")
    screened(p)
    p.serology("13955-0", "HCV Ab", "positive", ago(20))
    return p, expect("possibly_eligible", "ra", hepatitis_c="unknown")


@scenario
def hcv_rna_detected() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("hcv_rna_detected", sex="male")
    screened(p, female=False)
    p.serology("11259-9", "HCV RNA", "detected", ago(20))
    return p, expect("ineligible", "ra", hepatitis_c="fail")


@scenario
def hiv_antibody_positive() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("hiv_antibody_positive", sex="male")
    screened(p, female=False)
    p.serology("7918-6", "HIV 1+2 Ab", "positive", ago(30))
    return p, expect("ineligible", "ra", hiv="fail")


@scenario
def syphilis_treponemal_positive() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("syphilis_treponemal_positive")
    screened(p)
    p.serology("24110-9", "Treponema pallidum Ab", "positive", ago(30))
    return p, expect("eligible", "ra", syphilis="review")


@scenario
def tuberculosis_treated_two_years_ago() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("tuberculosis_treated_two_years_ago", sex="male")
    p.condition(ICD10, "A15.0", "Tuberculosis of lung", onset=ago(years=3), clinical="resolved", abatement=ago(years=2))
    screened(p, female=False)
    return p, expect("ineligible", "ra", tuberculosis="fail")


@scenario
def tuberculosis_resolved_ten_years_ago() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("tuberculosis_resolved_ten_years_ago")
    p.condition(
        ICD10, "A15.0", "Tuberculosis of lung", onset=ago(years=11), clinical="resolved", abatement=ago(years=10)
    )
    screened(p)
    return p, expect("eligible", "ra", tuberculosis="pass")


@scenario
def pneumonia_active() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("pneumonia_active")
    p.condition(ICD10, "J18.9", "Pneumonia, unspecified", onset=ago(6))
    screened(p)
    return p, expect("ineligible", "ra", active_infection="fail")


@scenario
def uncomplicated_uti_allowed() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("uncomplicated_uti_allowed")
    p.condition(ICD10, "N39.0", "Urinary tract infection, site not specified", onset=ago(4))
    screened(p)
    return p, expect("eligible", "ra", active_infection="pass")


@scenario
def immunodeficiency_cvid() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("immunodeficiency_cvid", sex="male")
    p.condition(ICD10, "D83.9", "Common variable immunodeficiency, unspecified", onset=ago(years=6))
    screened(p, female=False)
    return p, expect("ineligible", "ra", immunodeficiency="fail")


# -- neurologic -------------------------------------------------------------------------------------


@scenario
def epilepsy_history() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("epilepsy_history", sex="male")
    p.condition(SNOMED, "84757009", "Epilepsy", onset=ago(years=20))
    screened(p, female=False)
    return p, expect("ineligible", "ra", neurologic="fail")


@scenario
def concussion_without_loss_of_consciousness() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("concussion_without_loss_of_consciousness")
    p.condition(
        SNOMED,
        "62106007",
        "Concussion with no loss of consciousness",
        onset=ago(years=6),
        clinical="resolved",
        abatement=ago(years=6),
    )
    screened(p)
    return p, expect("possibly_eligible", "ra", neurologic="review")


# -- pregnancy ----------------------------------------------------------------------------------------


@scenario
def pregnant_hcg_positive() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("pregnant_hcg_positive", birth="1993-09-09")
    screened(p)
    p.lab("2106-3", "hCG urine", 250, "m[IU]/mL", ago(3))
    return p, expect("ineligible", "ra", pregnancy="fail")


@scenario
def pregnancy_recorded_current() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("pregnancy_recorded_current", birth="1994-04-04")
    p.condition(SNOMED, "77386006", "Pregnant", onset=ago(70))
    screened(p)
    return p, expect("ineligible", "ra", pregnancy="fail")


@scenario
def breastfeeding_status_observed() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("breastfeeding_status_observed", birth="1992-02-02")
    screened(p)
    p.obs(LOINC, "63895-7", "Breastfeeding status", ago(10), answer=cc(LOINC, "LA29252-6", "Currently breastfeeding"))
    return p, expect("ineligible", "ra", pregnancy="fail")


@scenario
def hcg_positive_35_days_ago() -> tuple[PatientBuilder, dict[str, Any]]:
    """A positive hCG just outside its 30-day window and nothing since: she may still be pregnant."""
    p = ra_candidate("hcg_positive_35_days_ago", birth="1991-03-03")
    screened(p, hcg=False)
    p.lab("2106-3", "hCG serum", 250, "m[IU]/mL", ago(35))
    return p, expect("possibly_eligible", "ra", pregnancy="review")


@scenario
def hcg_positive_then_miscarriage() -> tuple[PatientBuilder, dict[str, Any]]:
    """The positive hCG is followed by a recorded miscarriage: that pregnancy has ended."""
    p = ra_candidate("hcg_positive_then_miscarriage", birth="1990-05-05")
    screened(p, hcg=False)
    p.lab("2106-3", "hCG serum", 250, "m[IU]/mL", ago(60))
    p.condition(SNOMED, "19169002", "Miscarriage in first trimester", onset=ago(45))
    return p, expect("eligible", "ra", pregnancy="pass")


@scenario
def breastfeeding_status_last_year() -> tuple[PatientBuilder, dict[str, Any]]:
    """Breastfeeding recorded 200 days ago and never recorded as ended: ask before calling her in."""
    p = ra_candidate("breastfeeding_status_last_year", birth="1992-07-07")
    screened(p)
    p.obs(LOINC, "63895-7", "Breastfeeding status", ago(200), answer=cc(LOINC, "LA29252-6", "Currently breastfeeding"))
    return p, expect("possibly_eligible", "ra", pregnancy="review")


# -- prior therapy --------------------------------------------------------------------------------------


@scenario
def prior_cd19_car_t_tisagenlecleucel() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("prior_cd19_car_t_tisagenlecleucel", sex="male")
    p.med_administration("L01XL04", "tisagenlecleucel", ago(years=2), system=ATC)
    screened(p, female=False)
    return p, expect("ineligible", "ra", prior_cd19_therapy="fail", gene_therapy="fail")


@scenario
def prior_inebilizumab() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("prior_inebilizumab")
    p.med_administration("L04AG10", "inebilizumab", ago(years=1), system=ATC)
    screened(p)
    return p, expect("ineligible", "ra", prior_cd19_therapy="fail", gene_therapy="pass")


@scenario
def prior_gene_therapy_onasemnogene() -> tuple[PatientBuilder, dict[str, Any]]:
    p = ra_candidate("prior_gene_therapy_onasemnogene", sex="male")
    p.med_administration("M09AX09", "onasemnogene abeparvovec", ago(years=5), system=ATC)
    screened(p, female=False)
    return p, expect("ineligible", "ra", gene_therapy="fail", prior_cd19_therapy="pass")


#: a hospital's own drug codes, which no mapping holds: only the words can tell what the drug was
LOCAL_DRUGS = "http://hospital.example/drugs"
PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"


@scenario
def prior_car_t_named_only() -> tuple[PatientBuilder, dict[str, Any]]:
    """A completed CAR-T whose only code is a local one: its text names tisagenlecleucel."""
    p = ra_candidate("prior_car_t_named_only", sex="male")
    p.add(
        {
            "resourceType": "MedicationStatement",
            "status": "completed",
            "medicationCodeableConcept": cc(
                LOCAL_DRUGS,
                "CT-0417",
                "Cell therapy product",
                text="Tisagenlecleucel (Kymriah) suspension for IV infusion",
            ),
            "subject": p.subject,
            "effectivePeriod": {"start": ago(years=2), "end": ago(years=2)},
        }
    )
    screened(p, female=False)
    return p, expect("ineligible", "ra", prior_cd19_therapy="fail", gene_therapy="fail")


@scenario
def prior_yescarta_request_named_only() -> tuple[PatientBuilder, dict[str, Any]]:
    """A completed order whose local code says nothing; its display says Yescarta (axicabtagene ciloleucel)."""
    p = ra_candidate("prior_yescarta_request_named_only")
    p.med_request("YC-1", "Yescarta", ago(years=3), status="completed", end=ago(years=3), system=LOCAL_DRUGS)
    screened(p)
    return p, expect("ineligible", "ra", prior_cd19_therapy="fail", gene_therapy="fail")


@scenario
def prior_car_t_chinese_name_only() -> tuple[PatientBuilder, dict[str, Any]]:
    """No coding at all: the text is the Chinese name of axicabtagene ciloleucel (阿基仑赛注射液, 奕凯达)."""
    p = ra_candidate("prior_car_t_chinese_name_only")
    p.add(
        {
            "resourceType": "MedicationAdministration",
            "status": "completed",
            "medicationCodeableConcept": {"text": "阿基仑赛注射液\uff08奕凯达\uff09"},  # full-width brackets
            "subject": p.subject,
            "effectiveDateTime": ago(years=2),
        }
    )
    screened(p)
    return p, expect("ineligible", "ra", prior_cd19_therapy="fail", gene_therapy="fail")


@scenario
def car_t_named_planned() -> tuple[PatientBuilder, dict[str, Any]]:
    """A CAR-T named in a plan, not given: a person reads the chart before the patient is called."""
    p = ra_candidate("car_t_named_planned", sex="male")
    p.add(
        {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "plan",
            "medicationCodeableConcept": {"text": "Kymriah (tisagenlecleucel) after apheresis"},
            "subject": p.subject,
            "authoredOn": ago(20),
        }
    )
    screened(p, female=False)
    return p, expect("possibly_eligible", "ra", prior_cd19_therapy="review", gene_therapy="review")


@scenario
def car_t_pcs_product_code() -> tuple[PatientBuilder, dict[str, Any]]:
    """ICD-10-PCS XW033J7 names its product: tisagenlecleucel, a CD19 CAR-T."""
    p = ra_candidate("car_t_pcs_product_code", sex="male")
    p.procedure(PCS, "XW033J7", "Introduction of tisagenlecleucel immunotherapy into peripheral vein", ago(years=2))
    screened(p, female=False)
    return p, expect("ineligible", "ra", prior_cd19_therapy="fail", gene_therapy="fail")


@scenario
def car_t_pcs_bcma_product() -> tuple[PatientBuilder, dict[str, Any]]:
    """ICD-10-PCS XW033K7 names idecabtagene vicleucel: a BCMA CAR-T, so no CD19 therapy, but a gene therapy."""
    p = ra_candidate("car_t_pcs_bcma_product", sex="male")
    p.procedure(PCS, "XW033K7", "Introduction of idecabtagene vicleucel immunotherapy into peripheral vein", ago(700))
    screened(p, female=False)
    return p, expect("ineligible", "ra", prior_cd19_therapy="pass", gene_therapy="fail")


@scenario
def hcpcs_q2042_kymriah() -> tuple[PatientBuilder, dict[str, Any]]:
    """HCPCS Q2042 (tisagenlecleucel, per therapeutic dose) billed as a procedure."""
    p = ra_candidate("hcpcs_q2042_kymriah")
    p.procedure(HCPCS, "Q2042", "Tisagenlecleucel, up to 600 million CAR-positive viable T cells", ago(years=3))
    screened(p)
    return p, expect("ineligible", "ra", prior_cd19_therapy="fail", gene_therapy="fail")


@scenario
def ra_methotrexate_named_only() -> tuple[PatientBuilder, dict[str, Any]]:
    """Methotrexate for a year, recorded in words only: it counts toward the 12 weeks like a coded record."""
    p = PatientBuilder("ra_methotrexate_named_only", birth="1979-09-09")
    p.condition(ICD10CM, "M05.79", "Rheumatoid arthritis with rheumatoid factor of multiple sites", onset=ago(years=3))
    p.score("das28-crp", 5.3, ago(15))
    p.add(
        {
            "resourceType": "MedicationStatement",
            "status": "active",
            "medicationCodeableConcept": {"text": "Methotrexate 15 mg once weekly"},
            "subject": p.subject,
            "effectivePeriod": {"start": ago(years=1)},
        }
    )
    screened(p)
    return p, expect("eligible", "ra", refractory="pass")


def write() -> int:
    OUT.mkdir(exist_ok=True)
    expected: dict[str, Any] = {"as_of": AS_OF.isoformat(), "fixtures": {}}
    for make in SCENARIOS:
        builder, outcome = make()
        name = f"{make.__name__}.json"
        (OUT / name).write_text(json.dumps(builder.bundle(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        expected["fixtures"][name] = {"patient": f"Patient/{builder.pid}", **outcome}
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(SCENARIOS)} fixtures to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(write())
