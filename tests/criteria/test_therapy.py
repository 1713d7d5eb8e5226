"""Treatment history: 12 weeks of standard therapy from medication periods; prior CD19 and gene therapy, ever."""

from __future__ import annotations

import pytest

from matcher.codes.loader import default_mappings_dir, load_mappings
from matcher.criteria.refractory import Exposure, courses
from matcher.errors import MappingError
from matcher.explain import reason
from matcher.record import MedicationFact, PartialDate
from scripts import make_fixtures
from tests.support.fixturekit import ATC, ICD10, ICD10CM, RXNORM, SNOMED, PatientBuilder, ago

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
        # a product-specific code names the product: tisagenlecleucel, a CD19 CAR-T (see test_procedure_codes_...)
        (lambda p: p.procedure(PCS, "XW033J7", "Kymriah infusion", ago(400)), "fail", "fail"),
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
    p = PatientBuilder("prior", sex="male").procedure(PCS, "XW033C7", "CAR-T infusion", ago(400))
    p.procedure(PCS, "XW043C7", "CAR-T infusion", ago(-10), "preparation")
    findings = run(p).criterion("gene_therapy").findings
    assert [f.message for f in findings] == ["exposure.car_t_is_gene_therapy", "exposure.planned"]
    p = PatientBuilder("prior", sex="male").procedure(PCS, "XW033J7", "Kymriah infusion", ago(400))
    p.procedure(PCS, "XW043J7", "Kymriah infusion", ago(-10), "preparation")
    findings = run(p).criterion("gene_therapy").findings
    assert [f.message for f in findings] == ["exposure.product_code", "exposure.planned"]


# -- therapies recognised by name, procedures that name their product (issue 7) -----------------------------

LOCAL = "http://hospital.example/drugs"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
STATUSES = {
    "MedicationStatement": "completed",
    "MedicationRequest": "completed",
    "MedicationAdministration": "completed",
}


@pytest.mark.parametrize(
    ("text", "drugs"),
    [
        ("Tisagenlecleucel (Kymriah) suspension for IV infusion", {"tisagenlecleucel"}),
        ("KYMRIAH®", {"tisagenlecleucel"}),  # case
        ("Tisagénlecleucel", {"tisagenlecleucel"}),  # accents
        ("Tisagenle\u0301cleucel", {"tisagenlecleucel"}),  # an accent written as a separate mark
        ("\uff2b\uff39\uff2d\uff32\uff29\uff21\uff28", {"tisagenlecleucel"}),  # full-width KYMRIAH
        ("CTL-019", {"tisagenlecleucel"}),  # hyphens and spacing
        ("ctl 019", {"tisagenlecleucel"}),
        ("axi-cel", {"axicabtagene_ciloleucel"}),
        ("Axi Cel", {"axicabtagene_ciloleucel"}),
        ("AXICEL", {"axicabtagene_ciloleucel"}),
        ("axi\u2010cel", {"axicabtagene_ciloleucel"}),  # a Unicode hyphen
        ("KTE-C19 (axicabtagene ciloleucel)", {"axicabtagene_ciloleucel"}),
        ("Yescarta注射液", {"axicabtagene_ciloleucel"}),  # a Latin name beside Chinese characters
        ("阿基仑赛注射液", {"axicabtagene_ciloleucel"}),  # Chinese names
        ("奕凯达", {"axicabtagene_ciloleucel"}),
        ("瑞基奥仑赛注射液\uff08倍诺达\uff09", {"relmacabtagene_autoleucel"}),  # full-width brackets
        ("纳基奥仑赛注射液", {"inaticabtagene_autoleucel"}),
        ("注射用贝林妥欧单抗", {"blinatumomab"}),
        ("西达基奥仑赛", {"ciltacabtagene_autoleucel"}),
        ("Breyanzi + Abecma", {"lisocabtagene_maraleucel", "idecabtagene_vicleucel"}),
        ("Kymriahx", set()),  # no partial words
        ("preKymriah", set()),
        ("taxicel", set()),
        ("CTL0190", set()),
        ("tisa 注射 cel", set()),  # a Chinese word between is no spacing
        ("Lisinopril 10 MG Oral Tablet", set()),
        ("Methylprednisolone 4 MG Oral Tablet", {"methylprednisolone"}),  # not prednisolone
        ("Hydroxychloroquine sulfate 200 MG", {"hydroxychloroquine"}),  # not chloroquine
        ("硫酸羟氯喹片", {"hydroxychloroquine"}),
        ("醋酸泼尼松龙片", {"prednisolone"}),  # not prednisone
        ("hydrocortisone 10 MG Oral Tablet", {"hydrocortisone"}),
        ("Hydrocortisone 10 MG/ML Topical Cream", set()),  # topical products are not the systemic drug
        ("氢化可的松乳膏", set()),
        ("Prednisolone acetate 1% ophthalmic suspension", set()),
        ("Immune globulin intravenous (human) 10%", {"immune_globulin"}),
        ("Rho(D) immune globulin intravenous", set()),
        # found by a second reader: a full-width or small hyphen, invisible characters, generic CD19 CAR-T
        ("\uff2b\uff34\uff25\uff0d\uff23\uff11\uff19 CAR-T细胞", {"axicabtagene_ciloleucel"}),
        ("tisa\uff0dcel", {"tisagenlecleucel"}),
        ("Kym\u00adriah", {"tisagenlecleucel"}),
        ("Kym\u200briah", {"tisagenlecleucel"}),
        ("Anti-CD19 CAR-T cell infusion (investigational)", {"cd19_car_t_unspecified"}),
        ("CD19 CAR-T细胞回输", {"cd19_car_t_unspecified"}),
        ("CD19 CART therapy", {"cd19_car_t_unspecified"}),
        # topical and eye products written with the usual abbreviations
        ("Prednisolone acetate 1% ophth susp", set()),
        ("Hydrocortisone 2.5% top oint", set()),
        ("Tacrolimus 0.1% oint", set()),
        ("Cyclosporine 0.05% ophth emulsion (Restasis)", set()),
    ],
)
def test_drugs_are_recognised_by_name_as_whole_words(mappings, text, drugs):
    hit = mappings.drug_names.find(text)
    assert (set(hit.drugs) if hit else set()) == drugs


def test_a_name_hit_quotes_the_words_as_written(mappings):
    hit = mappings.drug_names.find("Tisagenlecleucel (Kymriah) suspension", "CAR-T product")
    assert hit is not None
    assert hit.words == ("Tisagenlecleucel", "Kymriah")


def test_every_cd19_and_gene_therapy_is_known_by_its_names(mappings):
    for drug in sorted(mappings.drugs_in("cd19_therapy") | mappings.drugs_in("gene_therapy")):
        names = mappings.drugs[drug].names
        assert names, drug
        for name in names:
            hit = mappings.drug_names.find(name)
            assert hit is not None and drug in hit.drugs, (drug, name)


def test_a_site_adds_local_names_in_a_file_of_its_own(tmp_path):
    (tmp_path / "site.toml").write_text(
        '[meta]\nkind = "drugs"\nversion = "1"\ntitle = "site names"\nsources = ["local formulary"]\n\n'
        '[drug.tisagenlecleucel]\nnames = ["Tisa-T local"]\n',
        encoding="utf-8",
    )
    m = load_mappings((default_mappings_dir(), tmp_path))
    hit = m.drug_names.find("Tisa T Local 1 bag")
    assert hit is not None and hit.drugs == {"tisagenlecleucel"}
    assert "Kymriah" in m.drugs["tisagenlecleucel"].names  # the shipped names stay


def test_a_name_too_short_to_recognise_is_refused(tmp_path):
    (tmp_path / "site.toml").write_text(
        '[meta]\nkind = "drugs"\nversion = "1"\ntitle = "site names"\nsources = ["x"]\n\n'
        '[drug.methotrexate]\nnames = ["MX"]\n',
        encoding="utf-8",
    )
    with pytest.raises(MappingError, match="too short"):
        load_mappings((default_mappings_dir(), tmp_path))


def _named_use(p: PatientBuilder, rtype: str, status: str, text: str, intent: str = "order") -> PatientBuilder:
    resource: dict[str, object] = {
        "resourceType": rtype,
        "status": status,
        "medicationCodeableConcept": {"coding": [{"system": LOCAL, "code": "X-17", "display": text}]},
        "subject": p.subject,
    }
    if rtype == "MedicationRequest":
        resource |= {"intent": intent, "authoredOn": ago(400)}
    else:
        resource["effectiveDateTime"] = ago(400)
    return p.add(resource)


@pytest.mark.parametrize(
    ("rtype", "status", "intent", "expected", "message"),
    [
        ("MedicationStatement", "completed", "order", "fail", "exposure.named"),
        ("MedicationStatement", "active", "order", "fail", "exposure.named"),
        ("MedicationStatement", "stopped", "order", "fail", "exposure.named"),
        ("MedicationStatement", "unknown", "order", "review", "exposure.named_unsure"),
        ("MedicationStatement", "intended", "order", "review", "exposure.named_unsure"),
        ("MedicationStatement", "not-taken", "order", "pass", "exposure.not_given"),
        ("MedicationStatement", "entered-in-error", "order", "pass", "exposure.none"),
        ("MedicationRequest", "completed", "order", "fail", "exposure.named"),
        ("MedicationRequest", "active", "plan", "review", "exposure.named_unsure"),
        ("MedicationRequest", "active", "proposal", "review", "exposure.named_unsure"),
        ("MedicationRequest", "draft", "order", "review", "exposure.named_unsure"),
        ("MedicationRequest", "cancelled", "order", "pass", "exposure.not_given"),
        ("MedicationRequest", "entered-in-error", "order", "pass", "exposure.none"),
        ("MedicationAdministration", "completed", "order", "fail", "exposure.named"),
        ("MedicationAdministration", "in-progress", "order", "fail", "exposure.named"),
        ("MedicationAdministration", "not-done", "order", "pass", "exposure.not_given"),
        ("MedicationAdministration", "entered-in-error", "order", "pass", "exposure.none"),
    ],
)
def test_a_therapy_named_in_words_counts_by_its_status(run, rtype, status, intent, expected, message):
    p = _named_use(PatientBuilder("named", sex="male"), rtype, status, "Kymriah suspension for IV infusion", intent)
    result = run(p)
    for cid in ("prior_cd19_therapy", "gene_therapy"):
        criterion = result.criterion(cid)
        assert criterion.status == expected, cid
        assert criterion.findings[0].message == message
    if message.startswith("exposure.named"):
        finding = result.criterion("prior_cd19_therapy").findings[0]
        assert finding.params["words"] == "Kymriah"
        assert finding.params["item"] == "tisagenlecleucel"
        assert "recognised by its name" in reason(result.criterion("prior_cd19_therapy"))


@pytest.mark.parametrize(
    "medication",
    [
        # no coding at all, only a text
        {"medicationCodeableConcept": {"text": "Tisagenlecleucel (Kymriah) suspension for IV infusion"}},
        # a contained Medication whose code names it in its text
        {
            "contained": [{"resourceType": "Medication", "id": "m", "code": {"text": "KYMRIAH suspension"}}],
            "medicationReference": {"reference": "#m"},
        },
        # a contained Medication whose ingredient names it
        {
            "contained": [
                {
                    "resourceType": "Medication",
                    "id": "m",
                    "code": {"coding": [{"system": LOCAL, "code": "CT-1", "display": "cell therapy"}]},
                    "ingredient": [{"itemCodeableConcept": {"text": "tisagenlecleucel"}}],
                }
            ],
            "medicationReference": {"reference": "#m"},
        },
        # a Medication that is not in the record, but whose reference says what it is
        {"medicationReference": {"reference": "Medication/elsewhere", "display": "Kymriah"}},
    ],
)
def test_a_named_medication_is_read_in_every_form(run, medication):
    p = PatientBuilder("named", sex="male")
    p.add(
        {
            "resourceType": "MedicationAdministration",
            "status": "completed",
            "subject": p.subject,
            "effectiveDateTime": ago(500),
            **medication,
        }
    )
    result = run(p)
    assert result.criterion("prior_cd19_therapy").status == "fail"
    assert result.criterion("gene_therapy").status == "fail"
    assert result.criterion("prior_cd19_therapy").findings[0].message == "exposure.named"


def test_a_referenced_medication_named_in_its_ingredient_is_recognised(run):
    p = PatientBuilder("named", sex="male")
    p.add(
        {
            "resourceType": "Medication",
            "id": "yk",
            "code": {"coding": [{"system": LOCAL, "code": "YK-9"}]},
            "ingredient": [
                {"itemCodeableConcept": {"coding": [{"system": LOCAL, "code": "I-3", "display": "阿基仑赛"}]}}
            ],
        }
    )
    p.add(
        {
            "resourceType": "MedicationStatement",
            "status": "completed",
            "medicationReference": {"reference": "Medication/yk"},
            "subject": p.subject,
            "effectivePeriod": {"start": ago(700), "end": ago(700)},
        }
    )
    finding = run(p).criterion("prior_cd19_therapy").findings[0]
    assert (finding.message, finding.status, finding.params["item"]) == (
        "exposure.named",
        "fail",
        "axicabtagene_ciloleucel",
    )


def test_a_standard_therapy_named_in_words_counts_toward_the_course(criterion):
    p = ra()
    p.add(
        {
            "resourceType": "MedicationStatement",
            "status": "active",
            "medicationCodeableConcept": {"text": "Methotrexate 15 mg once weekly"},
            "subject": p.subject,
            "effectivePeriod": {"start": ago(200)},
        }
    )
    result = criterion(p, "refractory")
    assert result.status == "pass"
    assert any(f.message == "therapy.named" and f.params["words"] == "Methotrexate" for f in result.findings)
    assert 'recognised by its name ("Methotrexate")' in reason(result)
    assert result.evidence[0].code is None  # no code matched: the evidence does not pretend one did


def test_a_standard_therapy_named_in_an_entered_in_error_record_never_counts(criterion):
    p = ra()
    p.add(
        {
            "resourceType": "MedicationStatement",
            "status": "entered-in-error",
            "medicationCodeableConcept": {"text": "Methotrexate 15 mg once weekly"},
            "subject": p.subject,
            "effectivePeriod": {"start": ago(200)},
        }
    )
    assert criterion(p, "refractory").status == "unknown"


@pytest.mark.parametrize(
    ("system", "code", "display", "status", "cd19", "gene"),
    [
        (PCS, "XW033J7", "Introduction of tisagenlecleucel", "completed", "fail", "fail"),
        (PCS, "XW043H7", "Introduction of axicabtagene ciloleucel", "completed", "fail", "fail"),
        (PCS, "XW033M7", "Introduction of brexucabtagene autoleucel", "completed", "fail", "fail"),
        (PCS, "XW23346", "Transfusion of brexucabtagene autoleucel", "completed", "fail", "fail"),
        (PCS, "XW043N7", "Introduction of lisocabtagene maraleucel", "completed", "fail", "fail"),
        (PCS, "XW24376", "Transfusion of lisocabtagene maraleucel", "completed", "fail", "fail"),
        (PCS, "XW033K7", "Introduction of idecabtagene vicleucel", "completed", "pass", "fail"),  # BCMA
        (PCS, "XW043A7", "Introduction of ciltacabtagene autoleucel", "completed", "pass", "fail"),  # BCMA
        (HCPCS, "Q2042", "Tisagenlecleucel", "completed", "fail", "fail"),
        (HCPCS, "Q2041", "Axicabtagene ciloleucel", "completed", "fail", "fail"),
        (HCPCS, "Q2053", "Brexucabtagene autoleucel", "completed", "fail", "fail"),
        (HCPCS, "Q2054", "Lisocabtagene maraleucel", "completed", "fail", "fail"),
        (HCPCS, "Q2055", "Idecabtagene vicleucel", "completed", "pass", "fail"),
        (HCPCS, "Q2056", "Ciltacabtagene autoleucel", "completed", "pass", "fail"),
        (PCS, "XW033C7", "Autologous CAR T-cell immunotherapy", "completed", "review", "fail"),  # product not said
        (SNOMED, "1156961008", "CAR-T cell therapy", "completed", "review", "fail"),
        (SNOMED, "1156961008", "CAR-T cell therapy (Kymriah)", "completed", "fail", "fail"),  # named in its text
        (SNOMED, "1156961008", "CAR-T cell therapy (Abecma)", "completed", "review", "fail"),  # a name is no proof
        (PCS, "XW033J7", "Introduction of tisagenlecleucel", "not-done", "pass", "pass"),
        (PCS, "XW033J7", "Introduction of tisagenlecleucel", "entered-in-error", "pass", "pass"),
        (PCS, "XW033K7", "Introduction of idecabtagene vicleucel", "preparation", "pass", "review"),
        (HCPCS, "Q2042", "Tisagenlecleucel", "preparation", "review", "review"),
    ],
)
def test_procedure_codes_that_name_their_product(run, system, code, display, status, cd19, gene):
    result = run(PatientBuilder("product", sex="male").procedure(system, code, display, ago(300), status))
    assert result.criterion("prior_cd19_therapy").status == cd19
    assert result.criterion("gene_therapy").status == gene


def test_a_product_code_is_named_in_the_reason(run):
    result = run(PatientBuilder("product", sex="male").procedure(PCS, "XW033J7", "Kymriah infusion", ago(300)))
    cd19 = result.criterion("prior_cd19_therapy")
    assert reason(cd19) == f"tisagenlecleucel: Kymriah infusion ({ago(300)}); procedure code XW033J7 names this product"
    assert cd19.evidence[0].code == f"{PCS}|XW033J7"


# -- the invariant: a recorded CD19-directed or gene therapy, in any coding, is never `eligible` ------------


def _eligible_baseline(name: str) -> PatientBuilder:
    return make_fixtures.screened(make_fixtures.ra_candidate(name, sex="male"), female=False)


def test_the_baseline_patient_is_eligible(run):
    assert run(_eligible_baseline("baseline")).verdict == "eligible"


def _recordings(mappings, drug: str) -> list[tuple[str, PatientBuilder]]:
    """One patient per way the drug may be recorded: each of its codes, each of its names."""
    out: list[tuple[str, PatientBuilder]] = []
    for code in mappings.drugs[drug].codes:
        p = _eligible_baseline(f"{drug}-{code.code}")
        if code.system in (PCS, HCPCS):
            p.procedure(code.system, code.code, "CAR-T", ago(500))
            if code.system == HCPCS:  # a HCPCS code may stand on a medication record as well
                p.med_administration(code.code, "(product)", ago(480), system=code.system)
        else:
            p.med_administration(code.code, "(product)", ago(500), system=code.system)
        out.append((str(code), p))
    for i, name in enumerate(mappings.drugs[drug].names):
        for rtype, status in STATUSES.items():
            p = _named_use(_eligible_baseline(f"{drug}-name-{i}-{rtype}"), rtype, status, f"{name} infusion")
            out.append((f"{name} ({rtype})", p))
    return out


@pytest.mark.parametrize("drugset", ["cd19_therapy", "gene_therapy"])
def test_no_patient_with_a_recorded_cd19_or_gene_therapy_is_ever_eligible(run, mappings, drugset):
    cid = "prior_cd19_therapy" if drugset == "cd19_therapy" else "gene_therapy"
    for drug in sorted(mappings.drugs_in(drugset)):
        for how, p in _recordings(mappings, drug):
            result = run(p)
            assert result.verdict != "eligible", (drug, how)
            assert result.criterion(cid).status == "fail", (drug, how)


@pytest.mark.parametrize(
    ("rtype", "status", "intent"),
    [
        ("MedicationStatement", "unknown", "order"),
        ("MedicationStatement", "intended", "order"),
        ("MedicationStatement", "on-hold", "order"),
        ("MedicationRequest", "active", "plan"),
        ("MedicationRequest", "draft", "order"),
        ("MedicationRequest", "unknown", "order"),
        ("MedicationAdministration", "unknown", "order"),
    ],
)
def test_a_named_cd19_therapy_in_an_unclear_record_is_never_eligible(run, rtype, status, intent):
    for text in ("Kymriah", "阿基仑赛", "KTE-C19", "inebilizumab"):
        p = _named_use(_eligible_baseline(f"unclear-{rtype}-{status}"), rtype, status, text, intent)
        result = run(p)
        assert result.verdict != "eligible", (text, rtype, status)
        assert result.criterion("prior_cd19_therapy").status in ("fail", "review")


def test_a_do_not_give_order_is_no_course_and_no_exposure(criterion):
    p = ra().med_request(*MTX, ago(200))
    p.resources[-1]["doNotPerform"] = True
    assert criterion(p, "refractory").status == "unknown"
    car_t = PatientBuilder("therapy").med_request("x", "Kymriah", ago(100), system="http://hospital.example/drugs")
    car_t.resources[-1]["doNotPerform"] = True
    assert criterion(car_t, "prior_cd19_therapy").status == "pass"
