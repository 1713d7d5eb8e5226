"""Every synthetic fixture against the verdict, cohort and statuses its scenario states, and the contract."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from matcher.codes.model import Mappings
from matcher.evaluate import evaluate
from matcher.fhir.bundle import record_from_bundle
from matcher.pipeline import match_bundle
from matcher.serialize import result_json
from scripts import make_fixtures
from tests.support.contract import EXCLUSIONS, INCLUSIONS, contract_problems

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
AS_OF = date.fromisoformat(EXPECTED["as_of"])
NAMES = sorted(EXPECTED["fixtures"])


@pytest.fixture(scope="module")
def results(mappings: Mappings) -> dict[str, dict[str, Any]]:
    return {name: result_json(match_bundle((FIXTURES / name).read_bytes(), AS_OF, mappings, name)) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_fixture_meets_its_scenario(results, name):
    expected = EXPECTED["fixtures"][name]
    result = results[name]
    statuses = {c["id"]: c["status"] for c in result["criteria"]}
    assert result["patient"] == expected["patient"]
    assert result["verdict"] == expected["verdict"]
    assert result["cohort"] == expected["cohort"]
    assert {cid: statuses[cid] for cid in expected["statuses"]} == expected["statuses"]


@pytest.mark.parametrize("name", NAMES)
def test_fixture_result_keeps_the_contract(results, name):
    assert contract_problems(results[name]) == []


def test_fixtures_cover_every_status_a_criterion_can_take(results):
    seen: dict[str, set[str]] = defaultdict(set)
    for result in results.values():
        for c in result["criteria"]:
            seen[c["id"]].add(c["status"])
    coded_history = {
        "tuberculosis",
        "neurologic",
        "active_infection",
        "immunodeficiency",
        "prior_cd19_therapy",
        "gene_therapy",
        "pregnancy",
    }  # no entry means pass: never unknown
    # diagnosis: no disease is a fail, never unknown; organ involvement: no record is unknown, never a fail;
    # syphilis: a positive antibody is the investigator's call (review), never a fail by itself
    special = {
        "diagnosis": {"pass", "fail", "review"},
        "organ_involvement": {"pass", "unknown", "review"},
        "syphilis": {"pass", "unknown", "review"},
    }
    for cid in (INCLUSIONS | EXCLUSIONS) - {"consent", "life_expectancy", "contraception"}:
        wanted = special.get(cid) or ({"pass", "fail"} if cid in coded_history else {"pass", "fail", "unknown"})
        assert wanted <= seen[cid], f"{cid}: only {sorted(seen[cid])}"
    assert {"consent", "life_expectancy", "contraception"} <= {
        cid for cid, statuses in seen.items() if statuses == {"review"}
    }
    for cid in ("liver_function", "cardiac", "hepatitis_b", "syphilis", "neurologic", "refractory"):
        assert "review" in seen[cid], cid


def test_every_cohort_is_eligible_at_least_once(results):
    eligible = {r["cohort"] for r in results.values() if r["verdict"] == "eligible"}
    assert eligible == {"sle", "iim", "ssc", "pemphigus", "psoriasis", "ra", "aav"}


def test_committed_fixtures_match_their_generator(tmp_path, monkeypatch):
    monkeypatch.setattr(make_fixtures, "OUT", tmp_path)
    make_fixtures.write()
    for made in tmp_path.iterdir():
        assert made.read_bytes() == (FIXTURES / made.name).read_bytes(), f"{made.name}: run scripts/make_fixtures.py"


@pytest.mark.parametrize(
    "name", [*NAMES, *(f"synthea/{p.name}" for p in sorted((FIXTURES / "synthea").glob("*.json")))]
)
@pytest.mark.parametrize("as_of", [AS_OF, date(2021, 4, 1)])
def test_reading_only_what_the_criteria_read_changes_nothing(mappings, name, as_of):
    """The horizon (criteria/horizon.py) must reach as far back as every criterion looks."""
    data = (FIXTURES / name).read_bytes()
    full = evaluate(record_from_bundle(data, mappings), as_of, mappings)
    trimmed = evaluate(record_from_bundle(data, mappings, as_of=as_of), as_of, mappings)
    assert result_json(trimmed) == result_json(full)
