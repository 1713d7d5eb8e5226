"""mappings/: every file loads, carries provenance, and bad or conflicting files are refused with a clear error."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from matcher.codes.loader import default_mappings_dir, load_mappings
from matcher.codes.model import Code
from matcher.errors import MappingError
from matcher.trial import NCT07161193

MAPPINGS = default_mappings_dir()
FILES = sorted(MAPPINGS.rglob("*.toml"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_file_declares_kind_version_and_sources(path: Path):
    meta = tomllib.loads(path.read_text(encoding="utf-8"))["meta"]
    assert meta["kind"] in {"valuesets", "labs", "scores", "drugs", "answers", "limits", "windows"}
    assert meta["version"]
    assert meta["sources"] and all(s.strip() for s in meta["sources"])


def test_the_mappings_define_everything_the_trial_reads(mappings):
    NCT07161193.check_mappings(mappings)
    assert set(mappings.provenance.files) == {p.name for p in FILES}
    assert len(mappings.provenance.digest) == 16


def test_contract_score_codes_are_all_recognised(mappings):
    for code in (
        "selena-sledai",
        "sledai-2k",
        "sle-pga",
        "bilag-2004",
        "pdai",
        "pasi",
        "psoriasis-bsa",
        "spga",
        "das28-esr",
        "das28-crp",
        "cdai",
        "sdai",
        "bvas",
        "mrss",
        "mmt8",
        "imacs-mdga",
    ):
        assert mappings.observation_codes[Code("urn:trialmatch:disease-activity", code)] == ("score", code)


@pytest.mark.parametrize(
    ("system", "code", "valueset", "tier"),
    [
        ("http://hl7.org/fhir/sid/icd-10", "M32.101", "sle", "match"),
        ("http://hl7.org/fhir/sid/icd-10", "m32.1", "sle", "match"),
        ("http://hl7.org/fhir/sid/icd-10-cm", "M05.79", "ra", "match"),
        ("http://snomed.info/sct", "69896004", "ra", "match"),
        ("http://snomed.info/sct", "200936003", "sle", "review"),
        ("http://hl7.org/fhir/sid/icd-10", "B91", "infection", None),  # sequelae are carved out
        ("http://hl7.org/fhir/sid/icd-10", "M32.0", "sle", None),
        ("urn:oid:local", "M32.1", "sle", None),  # prefixes hold only for the systems named
    ],
)
def test_value_set_membership(mappings, system, code, valueset, tier):
    found = {m.valueset: m.tier for m in mappings.valuesets.lookup(Code(system, code))}
    assert found.get(valueset) == tier


@pytest.mark.parametrize(
    ("system", "code", "disease", "organ"),
    [
        ("http://snomed.info/sct", "196133001", "ssc", "ild"),  # Lung disease with systemic sclerosis
        ("http://hl7.org/fhir/sid/icd-10-cm", "M34.81", "ssc", "ild"),
        ("http://hl7.org/fhir/sid/icd-10", "M34.801+J99.1*", "ssc", "ild"),  # Chinese national extension
        ("http://hl7.org/fhir/sid/icd-10", "M34.800x001", "ssc", "ild"),
        ("http://hl7.org/fhir/sid/icd-10-cm", "M31.31", "aav", "renal_vasculitis"),
        ("http://hl7.org/fhir/sid/icd-10", "M31.701+N08.5*", "aav", "renal_vasculitis"),
        ("http://hl7.org/fhir/sid/icd-10", "M31.305", "aav", "renal_vasculitis"),
        ("http://snomed.info/sct", "427555000", "aav", "renal_vasculitis"),
    ],
)
def test_a_pre_coordinated_code_is_both_the_disease_and_its_organ_involvement(mappings, system, code, disease, organ):
    found = {m.valueset: m.tier for m in mappings.valuesets.lookup(Code(system, code))}
    assert found.get(disease) == "match"
    assert found.get(organ) == "match"


def test_other_systemic_sclerosis_is_not_lung_involvement_by_itself(mappings):
    """WHO M34.8 is SSc with lung involvement OR myopathy; only J99.1* or a lung extension code says lung."""
    for code in ("M34.8", "M34.800", "M34.800x002+G73.7*"):
        found = {m.valueset for m in mappings.valuesets.lookup(Code("http://hl7.org/fhir/sid/icd-10", code))}
        assert "ssc" in found and "ild" not in found


def copy_of_mappings(tmp_path: Path) -> Path:
    target = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, target)
    return target


def write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


META = '[meta]\nkind = "{kind}"\nversion = "1"\ntitle = "site"\nsources = ["site test"]\n{extra}\n'


def test_a_site_file_adds_a_local_score_code(tmp_path):
    site = tmp_path / "site"
    write(
        site,
        "scores.toml",
        META.format(kind="scores", extra="")
        + '[score.pdai]\ncodes = [{ system = "http://hospital.example/scores", code = "PDAI-LOCAL" }]\n',
    )
    m = load_mappings((MAPPINGS, site))
    assert m.observation_codes[Code("http://hospital.example/scores", "PDAI-LOCAL")] == ("score", "pdai")
    assert m.observation_codes[Code("urn:trialmatch:disease-activity", "pdai")] == ("score", "pdai")


def test_a_site_file_may_override_a_default_only_when_it_says_so(tmp_path):
    site = tmp_path / "site"
    write(site, "w.toml", META.format(kind="windows", extra="") + "[windows]\norgan_function = 60\n")
    with pytest.raises(MappingError, match="override = true"):
        load_mappings((MAPPINGS, site))
    write(site, "w.toml", META.format(kind="windows", extra="override = true") + "[windows]\norgan_function = 60\n")
    assert load_mappings((MAPPINGS, site)).windows.organ_function == 60


@pytest.mark.parametrize(
    ("kind", "body", "message"),
    [
        ("windows", "[windows]\norgan_function = 400\n", "more than 365 days"),
        ("windows", "[windows]\norgan_function = 7\n", "at least 30 days"),
        ("windows", "[windows]\norganic = 90\n", "unknown look-back windows"),
        ("labs", '[analyte.alt]\ncolour = "red"\n', "Extra inputs are not permitted"),
        ("labs", '[unit_aliases]\n"furlong" = "fur"\n', "not a valid UCUM unit"),
        ("labs", '[unit_aliases]\n"mg" = "kg"\n', "is itself a UCUM unit"),
        (
            "labs",
            '[analyte.x]\nresult = "quantity"\nunit = "mm/hr"\ncodes = [{ system = "urn:x", code = "1" }]\n',
            "not a valid UCUM unit",
        ),
        ("labs", '[analyte.alt]\nequivalents = { "ukat/L" = 60.0 }\n', "converts to 'U/L' by UCUM"),
        ("labs", '[analyte.crp]\nmolar_mass = { value = 1.0, unit = "kg", source = "x" }\n', "not a unit of g/mol"),
        ("drugs", '[drugset.ra_standard]\ndrugs = ["unobtainium"]\n', "not defined"),
        ("valuesets", '[valueset.sle]\ninclude = [{ system = "snomed", codes = ["1"] }]\n', "not a URI"),
        ("limits", '[uln.alt]\nunit = "mg/dL"\nmale = 1.0\nfemale = 1.0\nsource = "x"\n', "cannot convert"),
        ("limits", '[uln.gold]\nunit = "mg/dL"\nmale = 1.0\nfemale = 1.0\nsource = "x"\n', "not an analyte"),
        ("labs", '[analyte.x]\ncodes = [{ system = "urn:x", code = "1" }]\n', "does not say whether its result"),
        ("labs", '[analyte.x]\nresult = "quantity"\nunit = "mg"\n', "has no codes"),
        ("valuesets", '[valueset.x]\nexclude = [{ system = "urn:x", codes = ["1"] }]\n', "includes no codes"),
        ("valuesets", '[valueset.sle]\ninclude = [{ system = "urn:x" }]\n', "neither codes nor prefixes"),
        ("scores", '[score.x]\nmin = 10.0\nmax = 1.0\ncodes = [{ system = "urn:x", code = "1" }]\n', "above max"),
        ("scores", '[score.x]\ncodes = [{ system = "http://loinc.org", code = "1742-6" }]\n', "to both alt and x"),
        ("answers", '[answer.negative]\nwords = ["Weakly  Positive"]\n', "is both positive and negative"),
    ],
)
def test_bad_site_files_are_refused(tmp_path, kind, body, message):
    site = tmp_path / "site"
    override = "override = true" if kind in ("windows", "limits") else ""
    write(site, "bad.toml", META.format(kind=kind, extra=override) + body)
    with pytest.raises(MappingError, match=message):
        load_mappings((MAPPINGS, site))


def test_not_toml_is_refused_with_the_file_name(tmp_path):
    site = tmp_path / "site"
    write(site, "broken.toml", "[meta\n")
    with pytest.raises(MappingError, match=r"broken\.toml: not valid TOML"):
        load_mappings((MAPPINGS, site))


def test_a_missing_id_is_caught_at_start_up(tmp_path):
    folder = copy_of_mappings(tmp_path)
    text = (folder / "drugs.toml").read_text(encoding="utf-8")
    (folder / "drugs.toml").write_text(
        text.replace("[drugset.cd19_therapy]", "[drugset.cd19_therapy_renamed]"), encoding="utf-8"
    )
    with pytest.raises(MappingError, match=r"cd19_therapy"):
        NCT07161193.check_mappings(load_mappings((folder,)))


def test_a_formula_unit_that_does_not_convert_is_caught_at_start_up(tmp_path):
    folder = copy_of_mappings(tmp_path)
    text = (folder / "labs.toml").read_text(encoding="utf-8")
    # a site that keeps creatinine in umol/L without its molar mass: the Cockcroft-Gault formula,
    # written in mg/dL, could not read it
    molar = text.replace(
        'unit = "mg/dL"\nplausible = { min = 0.05, max = 40.0 }',
        'unit = "umol/L"\nplausible = { min = 4.0, max = 3500.0 }',
    )
    molar = "\n".join(line for line in molar.splitlines() if not line.startswith("molar_mass = { value = 113.12"))
    assert "113.12" not in molar
    (folder / "labs.toml").write_text(molar, encoding="utf-8")
    limits = (folder / "limits.toml").read_text(encoding="utf-8")
    limits = limits.replace(
        '[uln.creatinine]\nunit = "mg/dL"\nmale = 1.3\nfemale = 1.1',
        '[uln.creatinine]\nunit = "umol/L"\nmale = 115.0\nfemale = 97.0',
    )
    assert "male = 115.0" in limits
    (folder / "limits.toml").write_text(limits, encoding="utf-8")
    with pytest.raises(MappingError, match=r"creatinine to mg/dL"):
        NCT07161193.check_mappings(load_mappings((folder,)))


def test_pounds_as_the_canonical_weight_still_convert_for_the_formula(tmp_path):
    folder = copy_of_mappings(tmp_path)
    text = (folder / "labs.toml").read_text(encoding="utf-8")
    pounds = text.replace('unit = "kg"\nplausible = { min = 1.0, max = 500.0 }', 'unit = "[lb_av]"')
    assert pounds != text
    (folder / "labs.toml").write_text(pounds, encoding="utf-8")
    NCT07161193.check_mappings(load_mappings((folder,)))
