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
        ("labs", '[unit_aliases]\n"furlong" = "fur"\n', "which no analyte or score uses"),
        ("drugs", '[drugset.ra_standard]\ndrugs = ["unobtainium"]\n', "not defined"),
        ("valuesets", '[valueset.sle]\ninclude = [{ system = "snomed", codes = ["1"] }]\n', "not a URI"),
        ("limits", '[uln.alt]\nunit = "mg/dL"\nmale = 1.0\nfemale = 1.0\nsource = "x"\n', "cannot convert"),
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
    # a site that keeps weights in pounds only: the Cockcroft-Gault formula could not read them
    pounds = text.replace(
        'unit = "kg"\nplausible = { min = 1.0, max = 500.0 }   # kg\n'
        'units = { "kg" = 1.0, "g" = 0.001, "[lb_av]" = 0.45359237, "[oz_av]" = 0.028349523125 }',
        'unit = "[lb_av]"\nunits = { "[lb_av]" = 1.0, "[oz_av]" = 0.0625 }',
    )
    assert pounds != text
    (folder / "labs.toml").write_text(pounds, encoding="utf-8")
    with pytest.raises(MappingError, match=r"body_weight to kg"):
        NCT07161193.check_mappings(load_mappings((folder,)))
