"""How far back the criteria read each analyte and score: results older than that are never read, so never validated."""

from __future__ import annotations

from datetime import date, timedelta

from matcher.codes.loader import Mappings
from matcher.criteria.pregnancy import PREGNANCY_MAX_DAYS

#: read over the whole record: HIV infection is lifelong (serology.hiv)
LIFELONG = frozenset({"hiv_ab", "hiv_ag_ab"})


#: mappings digest -> lookback days (the same mappings are asked for every patient)
_CACHE: dict[str, dict[str, int | None]] = {}


def lookback_days(m: Mappings) -> dict[str, int | None]:
    found = _CACHE.get(m.provenance.digest)
    if found is None:
        found = _CACHE[m.provenance.digest] = _lookback_days(m)
    return found


def _lookback_days(m: Mappings) -> dict[str, int | None]:
    """Days before as_of that any criterion reads, per analyte or score id; None means the whole record.

    Each value is the longest window any criterion applies to the item; tests hold the criteria to it
    (evaluating with and without the horizon gives the same result for every fixture).
    """
    w = m.windows
    days: dict[str, int | None] = {}
    for item in ("alt", "ast", "bilirubin_total", "creatinine", "creatinine_clearance", "egfr"):
        days[item] = w.organ_function
    days["body_weight"] = w.body_weight
    days["qtc"] = w.ecg
    for item in ("hbsag", "anti_hbc", "hbv_dna", "anti_hcv", "hcv_rna", "treponema_ab", "tb_igra"):
        days[item] = w.infection_serology
    days["hcg"] = days["pregnancy_status"] = max(w.pregnancy_test, PREGNANCY_MAX_DAYS)
    days["lactation_status"] = None  # until recorded as ended
    for score in m.scores:
        days[score] = w.disease_activity
    for item in LIFELONG:
        days[item] = None
    for item in m.analytes:
        days.setdefault(item, w.autoantibodies)  # diagnostic serology: ANA, ANCA, anti-dsDNA ...
    return days


def horizon(m: Mappings, as_of: date) -> dict[str, date | None]:
    """The earliest date each item is read from, as of `as_of` (None: from the beginning)."""
    return {item: None if d is None else as_of - timedelta(days=d) for item, d in lookback_days(m).items()}
