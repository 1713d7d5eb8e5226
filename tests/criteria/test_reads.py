"""reads.py: a criterion reads only what it declares; the mapping check and the horizon derive from the declarations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest

from matcher.codes.model import Mappings, Windows
from matcher.criteria import context, labs
from matcher.criteria.context import Context
from matcher.criteria.criterion import General, reads
from matcher.criteria.horizon import lookback_days
from matcher.criteria.measure import pick, read_polarity
from matcher.criteria.pregnancy import PREGNANCY_MAX_DAYS
from matcher.criteria.reads import Reads, Window
from matcher.errors import MappingError, UndeclaredRead
from matcher.evaluate import evaluate
from matcher.fhir.bundle import record_from_bundle
from matcher.outcome import CriterionResult, MatchResult
from matcher.trial import NCT07161193
from tests.support.fixturekit import AS_OF, PatientBuilder, ago

ALT, AST = "1742-6", "1920-8"


def judged_alone(check: General, mappings: Mappings, patient: PatientBuilder | None = None) -> MatchResult:
    """Evaluate a patient with `check` as the trial's only exclusion."""
    record = record_from_bundle((patient or PatientBuilder("reads")).bundle(), mappings)
    return evaluate(record, AS_OF, mappings, replace(NCT07161193, exclusions=(check,)))


@pytest.mark.parametrize(
    ("kind", "item", "read"),
    [
        ("valueset", "cardiac", lambda ctx: ctx.recorded("cardiac")),
        ("valueset", "renal_biopsy", lambda ctx: ctx.procedures("renal_biopsy")),
        ("result", "hbsag", lambda ctx: pick(ctx, "hbsag", 180, lambda fact: fact)),
        ("analyte", "hbsag", lambda ctx: pick(ctx, "hbsag", 180, read_polarity(ctx, "hbsag"))),
        ("analyte", "alt", lambda ctx: ctx.m.analytes["alt"]),
        ("analyte", "alt", lambda ctx: ctx.m.analytes.get("alt")),
        ("score", "pdai", lambda ctx: ctx.m.scores["pdai"]),
        ("uln", "alt", lambda ctx: ctx.m.uln["alt"]),
        ("threshold", "qtc", lambda ctx: "qtc" in ctx.m.thresholds),
        ("drugset", "cd19_therapy", lambda ctx: ctx.m.drugs_in("cd19_therapy")),
    ],
)
def test_reading_an_undeclared_id_fails_loudly(mappings, kind, item, read: Callable[[Context], Any]):
    @reads(Reads(valuesets=("neurologic",), analytes={"hcg": Window.pregnancy_test}))
    def careless(ctx: Context) -> CriterionResult:
        """Exclusion (0): a criterion that reads what it did not declare."""
        read(ctx)
        raise AssertionError("the read above must fail")

    with pytest.raises(UndeclaredRead, match=f"criterion careless read {kind} '{item}'") as caught:
        judged_alone(careless, mappings)
    assert (caught.value.criterion, caught.value.kind, caught.value.item) == ("careless", kind, item)


def test_a_criterion_that_forgets_a_declaration_fails_instead_of_missing_data(mappings):
    """The bug this guards against: a lab read but not declared would be dropped by the horizon, unseen."""
    forgetful = General(labs.liver_function.judge, Reads(analytes={"alt": Window.organ_function}, uln=("alt",)))
    patient = PatientBuilder("liver", sex="male").lab(ALT, "ALT", 20, "U/L", ago(5)).lab(AST, "AST", 200, "U/L", ago(5))
    assert judged_alone(labs.liver_function, mappings, patient).criterion("liver_function").status == "fail"
    with pytest.raises(UndeclaredRead, match="read analyte 'ast'"):
        judged_alone(forgetful, mappings, patient)


def test_reading_further_back_than_declared_fails(mappings):
    short = dict.fromkeys(("alt", "ast"), 30)
    hasty = General(labs.liver_function.judge, Reads(analytes=short, uln=("alt", "ast")))
    with pytest.raises(UndeclaredRead, match="read 90 days back, declared 30"):
        judged_alone(hasty, mappings)


def test_no_criterion_reaches_past_its_view_to_the_whole_of_mappings():
    modules = Path(context.__file__).parent.glob("*.py")
    assert [p.name for p in modules if p.name != "criterion.py" and ".m.mappings" in p.read_text()] == []


def test_an_id_a_criterion_declares_must_be_defined_in_mappings(mappings):
    @reads(Reads(analytes={"no_such_analyte": Window.organ_function}))
    def hopeful(ctx: Context) -> CriterionResult:
        """Exclusion (0): reads an analyte mappings/ does not define."""
        raise AssertionError("never judged")

    with pytest.raises(MappingError, match="no analyte defined for no_such_analyte"):
        replace(NCT07161193, exclusions=(hopeful,)).check_mappings(mappings)


def test_windows_are_named_by_their_key_in_windows_toml():
    assert {w.value for w in Window} - {Window.whole_record.value} <= {f.name for f in fields(Windows)}


def hand_written_lookback_days(m: Mappings) -> dict[str, int | None]:
    """The table criteria/horizon.py kept by hand before the criteria declared their reads (issue 8)."""
    w = m.windows
    days: dict[str, int | None] = {}
    for item in ("alt", "ast", "bilirubin_total", "creatinine", "creatinine_clearance", "egfr"):
        days[item] = w.organ_function
    days["body_weight"] = w.body_weight
    days["qtc"] = w.ecg
    for item in ("hbsag", "anti_hbc", "hbv_dna", "anti_hcv", "hcv_rna", "treponema_ab", "tb_igra"):
        days[item] = w.infection_serology
    days["hcg"] = days["pregnancy_status"] = max(w.pregnancy_test, PREGNANCY_MAX_DAYS)
    days["lactation_status"] = None
    for score in m.scores:
        days[score] = w.disease_activity
    for item in ("hiv_ab", "hiv_ag_ab"):
        days[item] = None
    for item in m.analytes:
        days.setdefault(item, w.autoantibodies)
    return days


def test_the_derived_horizon_equals_the_hand_written_one_for_every_item(mappings):
    derived, by_hand = lookback_days(mappings), hand_written_lookback_days(mappings)
    assert set(derived) == set(by_hand)
    for item, days in by_hand.items():
        assert derived[item] == days, item


def test_the_longest_declared_lookback_wins():
    declared = Reads(analytes={"hcg": (Window.pregnancy_test, 294)}) | Reads(analytes={"hcg": Window.whole_record})
    assert declared.analytes["hcg"] == (Window.pregnancy_test, 294, Window.whole_record)
